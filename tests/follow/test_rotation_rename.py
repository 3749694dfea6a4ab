"""Rotation by rename and create: the old file is read to its end first, then the new one from line 1;
the old one is still read until it has been quiet for `rotated_quiet_seconds`."""

from __future__ import annotations

import os

from tests.follow.harness import Clock, append, follow, lines, named


def test_old_file_is_drained_then_the_new_one_read_from_its_start(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    clock = Clock()
    follower = follow([log], clock, rotated_quiet_seconds=30.0)
    with open(log, "a") as writer:  # the training process keeps its descriptor across the rename
        writer.write("old 1\nold 2\n")
        writer.flush()
        assert lines(follower.poll()) == [(1, "old 1"), (2, "old 2")]
        writer.write("old 3\n")
        writer.flush()
        os.rename(log, tmp_path / "train.log.1")
        writer.write("old 4\nold 5 unfin")  # written after the rename, before the writer reopens
        writer.flush()
        append(log, "new 1\nnew 2\n")
        assert lines(follower.poll()) == [(3, "old 3"), (4, "old 4"), (1, "new 1"), (2, "new 2")]
        assert follower.counters[str(log)].rotations == 1
        assert follower.notices() == [
            f"{log}: rotated; reading the old file until it is quiet for 30 s, following the new one"
        ]
        clock.advance(20.0)
        writer.write("ished\nold 6\n")  # still written to the old file: read, before the new file's lines
        writer.flush()
        append(log, "new 3\n")
        assert lines(follower.poll()) == [(5, "old 5 unfinished"), (6, "old 6"), (3, "new 3")]
        writer.write("old 7 never ended")
        writer.flush()
        assert lines(follower.poll()) == []
    clock.advance(29.0)
    assert follower.poll() == []  # not quiet for 30 s yet
    assert follower.open_files == 2
    clock.advance(1.0)
    assert lines(follower.poll()) == [(7, "old 7 never ended")]  # quiet: the held line flushed, the file let go
    assert follower.open_files == 1


def test_rename_seen_before_the_new_file_exists(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    clock = Clock()
    follower = follow([log], clock, rotated_quiet_seconds=1.0)
    append(log, "old 1\n")
    os.rename(log, tmp_path / "train.log.1")
    append(tmp_path / "train.log.1", "old 2\n")
    assert lines(follower.poll()) == [(1, "old 1"), (2, "old 2")]
    assert follower.notices() == [
        f"{log}: moved away; reading it until it is quiet for 1 s, waiting for a new file under this name"
    ]
    assert follower.followed == [str(log)] and follower.open_files == 1  # the old file, read until quiet
    append(log, "new 1\n")
    assert follower.poll() == []  # found at the next rescan
    clock.advance()
    assert lines(follower.poll()) == [(1, "new 1")]
    assert follower.counters[str(log)].rotations == 1


def test_a_rotated_file_that_the_pattern_also_matches_is_not_read_again(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    clock = Clock()
    follower = follow([tmp_path], clock)
    append(log, "a\nb\n")
    assert named(follower.poll()) == [("train.log", 1, "a"), ("train.log", 2, "b")]
    os.rename(log, tmp_path / "train.log.1")
    log.write_text("c\n")
    assert named(follower.poll()) == [("train.log", 1, "c")]
    append(tmp_path / "train.log.1", "late\n")  # the writer had not reopened yet
    clock.advance()
    assert named(follower.poll()) == [("train.log.1", 3, "late")]
