"""A symlink re-pointed to another file is a rotation: identity is the resolved target's."""

from __future__ import annotations

import os

from tests.follow.harness import Clock, append, follow, named


def point(link, target) -> None:
    """Re-point `link` atomically, as launchers do for `latest.log`."""
    tmp = link.with_name(link.name + ".tmp")
    tmp.symlink_to(target)
    os.replace(tmp, link)


def test_retargeted_link_drains_the_old_target_then_reads_the_new_one(tmp_path) -> None:
    a, b, link = tmp_path / "attempt1.log", tmp_path / "attempt2.log", tmp_path / "latest.log"
    a.write_text("")
    b.write_text("b1\nb2\n")
    point(link, a)
    follower = follow([link], Clock())
    append(a, "a1\n")
    assert named(follower.poll()) == [("latest.log", 1, "a1")]
    append(a, "a2\n")
    point(link, b)
    assert named(follower.poll()) == [("latest.log", 2, "a2"), ("latest.log", 1, "b1"), ("latest.log", 2, "b2")]
    assert follower.counters[str(link)].rotations == 1
    assert follower.notices() == [
        f"{link}: rotated; reading the old file until it is quiet for 30 s, following the new one"
    ]
    append(b, "b3\n")
    assert named(follower.poll()) == [("latest.log", 3, "b3")]


def test_pointing_back_to_a_file_read_before_continues_where_it_stopped(tmp_path) -> None:
    a, b, link = tmp_path / "a.log", tmp_path / "b.log", tmp_path / "latest.log"
    a.write_text("")
    b.write_text("")
    point(link, a)
    follower = follow([link], Clock())
    append(a, "a1\n")
    assert named(follower.poll()) == [("latest.log", 1, "a1")]
    point(link, b)
    append(b, "b1\n")
    assert named(follower.poll()) == [("latest.log", 1, "b1")]
    append(a, "a2\n")
    point(link, a)
    assert named(follower.poll()) == [("latest.log", 2, "a2")]


def test_a_dangling_link_waits_for_its_target(tmp_path) -> None:
    a, link = tmp_path / "a.log", tmp_path / "latest.log"
    a.write_text("")
    point(link, a)
    clock = Clock()
    follower = follow([link], clock)
    append(a, "a1\n")
    point(link, tmp_path / "b.log")  # not there yet
    assert named(follower.poll()) == [("latest.log", 1, "a1")]
    assert follower.followed == [str(link)] and follower.open_files == 1  # the old target, read until quiet
    (tmp_path / "b.log").write_text("b1\n")
    clock.advance()
    assert named(follower.poll()) == [("latest.log", 1, "b1")]


def test_in_a_followed_directory_the_link_and_its_targets_are_read_once(tmp_path) -> None:
    run1, run2, link = tmp_path / "run1.log", tmp_path / "run2.log", tmp_path / "current.log"
    run1.write_text("")
    point(link, run1)
    clock = Clock()
    follower = follow([tmp_path], clock)
    append(run1, "1a\n")
    assert named(follower.poll()) == [("current.log", 1, "1a")]
    run2.write_text("2a\n")
    append(run1, "1b\n")
    point(link, run2)
    clock.advance()
    got = named(follower.poll())
    clock.advance()
    append(run1, "1c\n")
    append(run2, "2b\n")
    got += named(follower.poll())
    clock.advance()
    got += named(follower.poll())
    assert sorted((n, text) for _, n, text in got) == [(1, "2a"), (2, "1b"), (2, "2b"), (3, "1c")]
