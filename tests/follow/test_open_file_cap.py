"""At most `max_open_files` followed files are open: the longest idle is closed with its offset
kept, reopened by path when a rescan sees it grow, and resumed only if it is still the same file.
Hitting the cap, and a `ulimit -n` too low for it, are told once."""

from __future__ import annotations

import os

from monitor.sources import follow as follow_module
from tests.follow.harness import Clock, append, follow, named


def test_the_longest_idle_file_is_closed_and_reopened_when_it_grows(tmp_path) -> None:
    for name in ("a.log", "b.log", "c.log"):
        (tmp_path / name).write_text("")
    clock = Clock()
    follower = follow([tmp_path / "a.log", tmp_path / "b.log"], clock, max_open_files=2)
    append(tmp_path / "a.log", "a1\nunfinished a")
    clock.advance()
    append(tmp_path / "b.log", "b1\n")
    assert named(follower.poll()) == [("a.log", 1, "a1"), ("b.log", 1, "b1")]
    follower._patterns.append(str(tmp_path / "c.log"))  # a third file appears under the patterns
    append(tmp_path / "c.log", "c1\n")
    clock.advance()
    assert named(follower.poll()) == [("c.log", 1, "c1")]
    assert follower.open_files == 2
    assert sorted(os.path.basename(n) for n in follower.followed) == ["a.log", "b.log", "c.log"]
    assert follower.notices() == [
        "2 followed files are open, the most allowed (tail_max_open_files, ulimit -n); the longest idle are "
        "closed and reopened when they grow"
    ]
    append(tmp_path / "a.log", " now ended\na2\n")  # a.log was the longest idle: closed, its held line re-read
    assert follower.poll() == []  # a closed file is looked at once per rescan
    clock.advance()
    assert named(follower.poll()) == [("a.log", 2, "unfinished a now ended"), ("a.log", 3, "a2")]
    assert follower.open_files == 2


def test_a_closed_file_replaced_under_the_same_identity_is_not_trusted(tmp_path) -> None:
    """A closed file can be deleted and its inode given to a new file: same device, inode and banner,
    but not the bytes before our offset."""
    banner = "".join(f"config {i:04d}: the same on every rank\n" for i in range(40))
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(banner + "old step 1\nold step 2\n")
    b.write_text("")
    clock = Clock()
    follower = follow([a, b], clock, max_open_files=1, from_start=True)
    read = named(follower.poll())
    clock.advance()
    read += named(follower.poll())  # a, closed at start to open b, is woken: it has unread lines
    assert len(read) == 42
    append(b, "b1\n")
    clock.advance()
    assert named(follower.poll()) == [("b.log", 1, "b1")]  # b woken; a, now the longest idle, closed
    mark = follower._dormant[str(a)]
    a.write_text(banner + "new step 1\nnew step 2\nnew step 3\n")  # rewritten in place: identity kept
    clock.advance()
    got = named(follower.poll())
    assert got[40:] == [("a.log", 41, "new step 1"), ("a.log", 42, "new step 2"), ("a.log", 43, "new step 3")]
    assert len(got) == 43
    assert f"{a}: truncated or replaced while closed for being idle (the offset is not trusted); reading from the " \
           "start" in follower.notices()
    assert mark.last != ""


def test_a_file_deleted_while_closed_is_let_go(tmp_path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("a1\n")
    b.write_text("b1\n")
    clock = Clock()
    follower = follow([tmp_path], clock, max_open_files=1, from_start=True)
    follower.poll()
    [closed] = [path for path in (str(a), str(b)) if path in follower._dormant]
    os.unlink(closed)
    clock.advance()
    follower.poll()
    assert follower.gone() == [closed] and closed not in follower.counters
    assert f"{closed}: gone while closed for being idle; no longer followed" in follower.notices()


def test_a_low_ulimit_lowers_the_cap_and_says_how_to_raise_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(follow_module, "descriptor_limit", lambda: 256)
    (tmp_path / "a.log").write_text("")
    follower = follow([tmp_path], Clock(), max_open_files=512)
    assert follower._max_open == 256 - follow_module.RESERVED_DESCRIPTORS
    assert follower.notices() == [
        "ulimit -n is 256: holding at most 192 followed files open at once, not 512 (tail_max_open_files); the "
        "others are closed while idle and looked at once per rescan. Raise the limit (ulimit -n 576) to hold "
        "them all"
    ]
    monkeypatch.setattr(follow_module, "descriptor_limit", lambda: None)  # unlimited
    assert follow([tmp_path], Clock(), max_open_files=512).notices() == []
