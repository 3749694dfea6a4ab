"""Bad bytes are data: replaced, cut or skipped, never an exception; odd file objects are told about."""

from __future__ import annotations

import gzip
import os

from monitor.sources.lines import MAX_LINE_CHARS
from tests.follow.harness import Clock, append, follow, lines, named


def test_invalid_utf8_is_replaced(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, b"loss \xff\xfe 2.5\n\xc3\xa9t\xc3\xa9\n\xe2\x82\n")
    assert lines(follower.poll()) == [(1, "loss \ufffd\ufffd 2.5"), (2, "été"), (3, "\ufffd")]


def test_a_3mb_line_is_cut_to_the_cap_in_one_write(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, b"x" * 3_000_000 + b"\nnext\n")
    assert lines(follower.poll()) == [(1, "x" * MAX_LINE_CHARS), (2, "next")]
    assert follower.counters[str(log)].long_lines == 1


def test_a_3mb_line_arriving_over_many_polls_is_cut_once_and_memory_stays_bounded(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    got = []
    for _ in range(30):
        append(log, b"y" * 100_000)
        got += lines(follower.poll())
    append(log, b"\nnext\n")
    got += lines(follower.poll())
    assert got == [(1, "y" * MAX_LINE_CHARS), (2, "next")]
    assert follower.counters[str(log)].long_lines == 1


def test_binary_junk_in_a_named_file_is_read_as_text(tmp_path) -> None:
    log = tmp_path / "core.out"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, b"\x00\x01\x7fELF\xff\n\x1b[31mred\x1b[0m\n")
    assert lines(follower.poll()) == [(1, "\x00\x01\x7fELF\ufffd"), (2, "red")]


def test_file_replaced_by_a_directory(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    clock = Clock()
    follower = follow([log], clock)
    append(log, "a\nb unfinished")
    os.unlink(log)
    log.mkdir()
    assert lines(follower.poll()) == [(1, "a"), (2, "b unfinished")]
    assert follower.notices() == [f"{log}: replaced by a directory; read the old file to its end, no longer followed"]
    (log / "rank0.log").write_text("inside\n")
    clock.advance()
    assert named(follower.poll()) == [("rank0.log", 1, "inside")]


def test_compressed_file_and_pipe_are_told_about_and_not_followed(tmp_path) -> None:
    packed, pipe, log = tmp_path / "old.log.gz", tmp_path / "pipe.log", tmp_path / "train.log"
    packed.write_bytes(gzip.compress(b"old\n"))
    os.mkfifo(pipe)
    log.write_text("")
    clock = Clock()
    follower = follow([packed, pipe, log], clock)
    assert follower.notices() == [
        f"{packed}: compressed; not followed (monitor scan reads it)",
        f"{pipe}: not a regular file (a pipe or a device); not followed",
    ]
    append(log, "ok\n")
    clock.advance()
    assert named(follower.poll()) == [("train.log", 1, "ok")]  # the pipe never blocks a poll
    assert follower.notices() == []


def test_a_poll_reads_at_most_its_budget_and_says_it_is_behind(tmp_path) -> None:
    big, small = tmp_path / "a.log", tmp_path / "b.log"
    big.write_bytes(b"".join(b"%09d\n" % i for i in range(1000)))  # 10 kB
    small.write_text("s\n")
    follower = follow([big, small], Clock(), from_start=True, max_bytes_per_poll=4000)
    got = named(follower.poll())
    assert follower.behind and len(got) == 400
    got += named(follower.poll())  # the next poll starts with the file left waiting
    assert got[400] == ("b.log", 1, "s")
    while follower.behind:
        got += named(follower.poll())
    assert [(n, text) for name, n, text in got if name == "a.log"] == [(i + 1, f"{i:09d}") for i in range(1000)]
