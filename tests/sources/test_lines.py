"""Splitting byte streams into lines: encodings, carriage returns, colours, long lines, failures."""

from __future__ import annotations

import gzip
import io
import os

import pytest

from monitor.sources.files import Source, SourceError, open_source
from monitor.sources.lines import ReadStats, read_batches


def read_all(data: bytes, **kwargs: int) -> tuple[list[tuple[int, str]], ReadStats]:
    stats = ReadStats()
    pairs = [pair for batch in read_batches(io.BytesIO(data), "t.log", stats, **kwargs) for pair in batch.numbered()]
    return pairs, stats


def test_lines_are_numbered_across_chunks() -> None:
    data = b"".join(b"line %d\n" % i for i in range(1, 1001))
    pairs, stats = read_all(data, chunk_bytes=64)
    assert pairs == [(i, f"line {i}") for i in range(1, 1001)]
    assert stats.lines == 1000 and stats.bytes_read == len(data)


def test_last_line_without_newline_is_kept() -> None:
    pairs, _ = read_all(b"a\nb", chunk_bytes=1)
    assert pairs == [(1, "a"), (2, "b")]


def test_invalid_utf8_is_replaced_and_counted() -> None:
    pairs, stats = read_all(b"ok \xff\xfe loss\n\xc3\xa9t\xc3\xa9\n")
    assert pairs == [(1, "ok \ufffd\ufffd loss"), (2, "été")]
    assert stats.replaced_chars == 2


def test_multibyte_character_split_by_a_chunk_boundary_survives() -> None:
    data = "é" * 50 + "\n"
    pairs, stats = read_all(data.encode(), chunk_bytes=3)
    assert pairs == [(1, "é" * 50)] and stats.replaced_chars == 0


def test_crlf_and_tqdm_carriage_returns_keep_physical_line_numbers() -> None:
    data = b"first\r\n 10%|#  | 1/10 [00:01<00:09]\r 20%|##  | 2/10 [00:02<00:08]\r\nthird\n"
    pairs, _ = read_all(data)
    assert pairs == [
        (1, "first"),
        (2, " 10%|#  | 1/10 [00:01<00:09]"),
        (2, " 20%|##  | 2/10 [00:02<00:08]"),
        (3, "third"),
    ]


def test_ansi_colour_codes_are_stripped() -> None:
    pairs, _ = read_all(b"\x1b[32mstep:  1\x1b[39m  \x1b[33mloss:  2.5\x1b[0m\n\x1b]0;title\x07plain\n")
    assert pairs == [(1, "step:  1  loss:  2.5"), (2, "plain")]


def test_ten_megabyte_line_is_cut_and_the_next_line_read() -> None:
    data = b"before\n" + b"x" * (10 << 20) + b"\nafter\n"
    pairs, stats = read_all(data, chunk_bytes=1 << 16, max_line_chars=1 << 16)
    assert [n for n, _ in pairs] == [1, 2, 3]
    assert pairs[0][1] == "before" and pairs[2][1] == "after"
    assert len(pairs[1][1]) == 1 << 16
    assert (stats.long_lines, stats.first_long_line) == (1, 2)


def test_long_line_inside_one_chunk_is_cut_too() -> None:
    pairs, stats = read_all(b"a" * 5000 + b"\nb\n", chunk_bytes=1 << 16, max_line_chars=100)
    assert pairs == [(1, "a" * 100), (2, "b")] and stats.long_lines == 1


def test_empty_stream_gives_nothing() -> None:
    assert read_all(b"") == ([], ReadStats())


def test_binary_junk_does_not_raise() -> None:
    junk = bytes(range(256)) * 4096
    pairs, stats = read_all(junk, chunk_bytes=4096)
    assert stats.bytes_read == len(junk) and pairs  # read, replaced, nothing thrown
    assert stats.replaced_chars > 0


def test_byte_range_of_a_file(tmp_path: pytest.TempPathFactory) -> None:
    data = b"one\ntwo\nthree\nfour\n"
    stream = io.BytesIO(data)
    stream.seek(4)
    stats = ReadStats()
    pairs = [p for b in read_batches(stream, "t", stats, first_line=2, limit_bytes=10) for p in b.numbered()]
    assert pairs == [(2, "two"), (3, "three")]


def test_truncated_gzip_yields_what_was_readable_then_raises(tmp_path) -> None:
    path = tmp_path / "cut.log.gz"
    payload = b"".join(b"iteration line %d\n" % i for i in range(20000))
    compressed = gzip.compress(payload)
    path.write_bytes(compressed[: len(compressed) // 2])
    stats = ReadStats()
    seen: list[tuple[int, str]] = []
    with pytest.raises(SourceError, match="truncated"):
        stream = open_source(Source(str(path), str(path)))
        for batch in read_batches(stream, str(path), stats, chunk_bytes=4096):
            seen.extend(batch.numbered())
    assert len(seen) > 1000
    assert seen[:2] == [(1, "iteration line 0"), (2, "iteration line 1")]


def test_file_renamed_mid_read_is_read_to_its_end(tmp_path) -> None:
    """Rotation by rename+create: the open descriptor still reads the old file whole."""
    path = tmp_path / "rank0.log"
    path.write_bytes(b"".join(b"old %d\n" % i for i in range(5000)))
    stream = open_source(Source(str(path), str(path)))
    batches = read_batches(stream, str(path), ReadStats(), chunk_bytes=1024)
    first = next(batches)
    os.rename(path, tmp_path / "rank0.log.1")
    path.write_bytes(b"new 0\n")
    rest = [p for b in batches for p in b.numbered()]
    lines = [text for _, text in [*first.numbered(), *rest]]
    assert lines == [f"old {i}" for i in range(5000)]


def test_file_truncated_mid_read_keeps_what_was_read(tmp_path) -> None:
    """copytruncate while reading: reading stops early, nothing already read is lost."""
    path = tmp_path / "rank0.log"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(5000)))
    stream = open_source(Source(str(path), str(path)))
    batches = read_batches(stream, str(path), ReadStats(), chunk_bytes=1024)
    first = list(next(batches).numbered())
    os.truncate(path, 0)
    rest = [p for b in batches for p in b.numbered()]
    assert first[0] == (1, "line 0")
    assert [n for n, _ in first + rest] == list(range(1, len(first + rest) + 1))


def test_a_batch_carries_its_lines_joined_when_they_are_the_block_as_read() -> None:
    """The bulk reading searches a batch's text instead of joining its lines again: that text must
    be exactly the lines joined by newlines, terminal escapes stripped and all; a batch whose
    first line was cut (over-long) or whose lines were split at carriage returns has none."""
    data = b"plain line\n\x1b[31mred\x1b[0m line\n" + b"x" * 50 + b"\n" + "caf\u00e9 \n".encode() + b"\xff\n"
    for chunk in (7, 16, 64, 4096):
        for batch in read_batches(io.BytesIO(data), "t", ReadStats(), chunk_bytes=chunk, max_line_chars=40):
            if batch.text is not None:
                assert batch.text == "\n".join(batch.lines)
                assert batch.numbers is None
    batches = list(read_batches(io.BytesIO(b"a\rb\nc\n"), "t", ReadStats()))
    assert all(b.text is None for b in batches if b.numbers is not None)
    cut = list(read_batches(io.BytesIO(b"y" * 100 + b"\nz\n"), "t", ReadStats(), chunk_bytes=4096, max_line_chars=40))
    assert cut[0].lines[0] == "y" * 40 and cut[0].text is None
