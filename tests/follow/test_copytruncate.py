"""logrotate's copytruncate: same inode, size drops below our offset, reading restarts at line 1."""

from __future__ import annotations

import os
import shutil

from tests.follow.harness import Clock, follow, lines


def test_copy_then_truncate_restarts_at_line_one(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    with open(log, "a") as writer:  # O_APPEND: after the truncation it writes at the new end
        writer.write("a\nb\nc\n")
        writer.flush()
        assert lines(follower.poll()) == [(1, "a"), (2, "b"), (3, "c")]
        shutil.copyfile(log, tmp_path / "train.log.1")
        os.truncate(log, 0)
        writer.write("d\n")
    assert lines(follower.poll()) == [(1, "d")]
    assert follower.counters[str(log)].truncations == 1
    assert follower.counters[str(log)].rotations == 0
    assert follower.notices() == [f"{log}: truncated to 2 bytes (we had read 6); reading again from the start"]


def test_lines_written_between_the_last_poll_and_the_truncation_are_lost(tmp_path) -> None:
    """The documented loss: copytruncate moves them to the copy, which the pattern does not match."""
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    with open(log, "a") as writer:
        writer.write("a\nb\n")
        writer.flush()
        assert lines(follower.poll()) == [(1, "a"), (2, "b")]
        writer.write("c\n")
        writer.flush()
        shutil.copyfile(log, tmp_path / "train.log.1")
        os.truncate(log, 0)
        writer.write("d\n")
    assert lines(follower.poll()) == [(1, "d")]  # "c" is only in the copy
