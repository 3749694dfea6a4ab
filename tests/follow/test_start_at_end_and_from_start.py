"""Files present at start: begin after their last complete line, or at their first with from_start."""

from __future__ import annotations

from monitor.sources.lines import CHUNK_BYTES
from tests.follow.harness import Clock, append, follow, lines


def test_existing_lines_are_skipped_and_new_ones_numbered_after_them(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("a\nb\nc\n")
    follower = follow([log], Clock())
    assert follower.poll() == []
    append(log, "d\ne\n")
    assert lines(follower.poll()) == [(4, "d"), (5, "e")]
    assert follower.poll() == []


def test_from_start_reads_what_is_there_then_what_comes(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("a\nb\nc\n")
    follower = follow([log], Clock(), from_start=True)
    assert lines(follower.poll()) == [(1, "a"), (2, "b"), (3, "c")]
    append(log, "d\n")
    assert lines(follower.poll()) == [(4, "d")]


def test_an_unfinished_last_line_at_start_is_delivered_whole_when_it_ends(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("a\nb\nstep 3 lo")
    follower = follow([log], Clock())
    assert follower.poll() == []
    append(log, "ss 2.5\n")
    assert lines(follower.poll()) == [(3, "step 3 loss 2.5")]


def test_line_numbers_stay_true_in_a_file_larger_than_one_chunk(tmp_path) -> None:
    log = tmp_path / "train.log"
    count = CHUNK_BYTES // 10 * 3  # three chunks and more
    log.write_bytes(b"".join(b"line %05d\n" % (i % 100000) for i in range(count)))
    follower = follow([log], Clock())
    append(log, "after\n")
    assert lines(follower.poll()) == [(count + 1, "after")]
    assert follower.counters[str(log)].bytes_read == len("after\n")


def test_a_progress_bar_running_at_start_goes_on_from_its_last_piece(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("epoch 1\n 10%|#\r 20%|##")
    follower = follow([log], Clock())
    assert follower.poll() == []
    append(log, "\r 30%|###\n")
    assert lines(follower.poll()) == [(2, " 20%|##"), (2, " 30%|###")]
