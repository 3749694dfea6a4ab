"""Deletion: what is left on the open descriptor is read, the partial line flushed, the file dropped."""

from __future__ import annotations

import os

from tests.follow.harness import Clock, append, follow, lines


def test_deleted_file_is_drained_then_dropped(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    clock = Clock()
    follower = follow([log], clock)
    append(log, "a\n")
    assert lines(follower.poll()) == [(1, "a")]
    append(log, "b\nc unfinished")
    os.unlink(log)
    assert lines(follower.poll()) == [(2, "b"), (3, "c unfinished")]
    assert follower.followed == []
    assert follower.notices() == [f"{log}: deleted; read what was left, no longer followed"]
    assert follower.gone() == [str(log)]  # the caller lets go of it too
    assert str(log) not in follower.counters  # nothing about a deleted file is kept: memory stays flat
    clock.advance()
    assert follower.poll() == []
    assert follower.notices() == [f"{log}: no such file or directory yet; waiting for files"]


def test_a_file_created_again_under_the_name_is_a_new_file(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    clock = Clock()
    follower = follow([log], clock)
    append(log, "a\nb\n")
    assert lines(follower.poll()) == [(1, "a"), (2, "b")]
    os.unlink(log)
    assert follower.poll() == []
    log.write_text("again 1\n")
    clock.advance()
    assert lines(follower.poll()) == [(1, "again 1")]


def test_deleted_while_a_writer_still_holds_it(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    follower = follow([log], Clock())
    with open(log, "a") as writer:
        writer.write("a\n")
        writer.flush()
        os.unlink(log)
        writer.write("b\n")
        writer.flush()
        assert lines(follower.poll()) == [(1, "a"), (2, "b")]
        writer.write("c\n")  # nobody can read this any more: the file was dropped
    assert follower.poll() == []
