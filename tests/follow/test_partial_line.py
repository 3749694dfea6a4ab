"""A line is delivered once and whole, however its bytes arrive; exactly as `scan` reads the same bytes."""

from __future__ import annotations

import io

from monitor.sources.lines import ReadStats, read_batches
from tests.follow.harness import Clock, append, follow, lines


def test_half_a_line_then_the_rest(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, "iteration 10 | lm lo")
    assert follower.poll() == []
    assert follower.poll() == []
    append(log, "ss: 2.5\nnext")
    assert lines(follower.poll()) == [(1, "iteration 10 | lm loss: 2.5")]
    append(log, "\n")
    assert lines(follower.poll()) == [(2, "next")]
    assert follower.poll() == []


def test_a_character_split_between_two_writes_is_not_replaced(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    data = "loss é\n".encode()
    append(log, data[:-2])
    assert follower.poll() == []
    append(log, data[-2:])
    assert lines(follower.poll()) == [(1, "loss é")]


def test_progress_bar_pieces_arrive_while_the_bar_runs(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, "\r 10%|#")
    assert follower.poll() == []
    append(log, "\r 20%|##")
    assert lines(follower.poll()) == [(1, " 10%|#")]
    append(log, "\r100%|###\ndone\n")
    assert lines(follower.poll()) == [(1, " 20%|##"), (1, "100%|###"), (2, "done")]


TRICKY = (
    "alpha\n\xe9t\xe9 \x1b[31mred\x1b[0m\n 10%\r 20%\r 30%\nwindows\r\n\r\n   \n\rlead\nend \xff\n".encode(
        "utf-8", "surrogateescape"
    )
    + b"bad \xff\xfe\nlast"
)


def scanned(data: bytes) -> list[tuple[int, str]]:
    stats = ReadStats()
    return [pair for batch in read_batches(io.BytesIO(data), "t", stats) for pair in batch.numbered()]


def test_every_way_of_cutting_the_bytes_in_two_delivers_what_scan_delivers(tmp_path) -> None:
    expected = scanned(TRICKY)
    for cut in range(len(TRICKY) + 1):
        log = tmp_path / f"cut{cut}.log"
        log.write_text("")
        follower = follow([log], Clock())
        append(log, TRICKY[:cut])
        got = lines(follower.poll())
        append(log, TRICKY[cut:] + b"\n")
        got += lines(follower.poll())
        assert got == expected, cut
        follower.close()


def test_byte_by_byte_delivers_what_scan_delivers(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    got = []
    for i in range(len(TRICKY)):
        append(log, TRICKY[i : i + 1])
        got += lines(follower.poll())
    append(log, "\n")
    got += lines(follower.poll())
    assert got == scanned(TRICKY)
