"""Truncation in place: the held partial line is flushed, then reading restarts at byte 0 and line 1."""

from __future__ import annotations

import os

from tests.follow.harness import Clock, append, follow, lines


def test_truncated_and_rewritten_file_is_read_from_its_start(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, "one\ntwo\nthree\n")
    assert lines(follower.poll()) == [(1, "one"), (2, "two"), (3, "three")]
    log.write_text("uno\n")  # open with O_TRUNC, write less than before
    assert lines(follower.poll()) == [(1, "uno")]
    append(log, "dos\n")
    assert lines(follower.poll()) == [(2, "dos")]
    assert follower.counters[str(log)].truncations == 1


def test_a_held_partial_line_is_flushed_before_the_truncation(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, "a\nb unfinished")
    assert lines(follower.poll()) == [(1, "a")]
    os.truncate(log, 0)
    append(log, "c\n")
    assert lines(follower.poll()) == [(2, "b unfinished"), (1, "c")]
    assert follower.counters[str(log)].lines == 3


def test_truncation_to_a_smaller_size_restarts_at_zero_not_at_the_new_end(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, "aaaa\nbbbb\n")
    assert lines(follower.poll()) == [(1, "aaaa"), (2, "bbbb")]
    os.truncate(log, 5)
    assert lines(follower.poll()) == [(1, "aaaa")]


def test_refilled_past_our_offset_between_two_polls_is_seen_by_the_byte_before_it(tmp_path) -> None:
    """Truncated and refilled past our offset between two polls: the byte before the offset is no
    longer the newline we read there, so it is a truncation, read again from the start."""
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, "a\n")
    assert lines(follower.poll()) == [(1, "a")]
    log.write_text("xyz\nnext\n")
    assert lines(follower.poll()) == [(1, "xyz"), (2, "next")]
    assert follower.counters[str(log)].truncations == 1


def test_refilled_with_the_same_byte_before_our_offset_is_the_blind_spot(tmp_path) -> None:
    """The documented blind spot of polling: when that byte happens to match, reading goes on from
    the old offset, mid-line."""
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    append(log, "a\n")
    assert lines(follower.poll()) == [(1, "a")]
    log.write_text("x\nyz\n")
    assert lines(follower.poll()) == [(2, "yz")]
    assert follower.counters[str(log)].truncations == 0
