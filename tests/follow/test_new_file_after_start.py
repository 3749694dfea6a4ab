"""Files that appear after start (new ranks, a new attempt) are found at a rescan and read from line 1."""

from __future__ import annotations

from tests.follow.harness import Clock, append, follow, named


def test_glob_picks_up_a_new_rank_at_the_next_rescan(tmp_path) -> None:
    (tmp_path / "rank0.log").write_text("old\n")
    clock = Clock()
    follower = follow([tmp_path / "rank*.log"], clock)
    (tmp_path / "rank1.log").write_text("r1 a\nr1 b\n")
    append(tmp_path / "rank0.log", "r0 new\n")
    assert named(follower.poll()) == [("rank0.log", 2, "r0 new")]  # no rescan yet
    clock.advance(0.5)
    assert follower.poll() == []
    clock.advance(0.5)
    assert named(follower.poll()) == [("rank1.log", 1, "r1 a"), ("rank1.log", 2, "r1 b")]
    assert follower.followed == [str(tmp_path / "rank0.log"), str(tmp_path / "rank1.log")]


def test_directory_picks_up_a_new_attempt_and_skips_what_is_not_a_log(tmp_path) -> None:
    (tmp_path / "attempt1").mkdir()
    (tmp_path / "attempt1" / "rank0.log").write_text("first attempt\n")
    clock = Clock()
    follower = follow([tmp_path], clock)
    (tmp_path / "attempt2").mkdir()
    (tmp_path / "attempt2" / "rank0.log").write_text("second attempt\n")
    (tmp_path / "attempt2" / "model.pt").write_bytes(b"weights\n")
    (tmp_path / "attempt2" / "core").write_bytes(b"\x7fELF\x00\x00\n")
    (tmp_path / "attempt2" / ".hidden.log").write_text("hidden\n")
    clock.advance()
    assert named(follower.poll()) == [("rank0.log", 1, "second attempt")]
    assert len(follower.followed) == 2


def test_a_pattern_matching_nothing_yet_waits_for_its_file(tmp_path) -> None:
    clock = Clock()
    follower = follow([tmp_path / "run" / "*.log"], clock)
    assert follower.notices() == [f"{tmp_path}/run/*.log: no files match this pattern yet; waiting for files"]
    clock.advance()
    assert follower.poll() == [] and follower.notices() == []  # told once
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "train.log").write_text("hello\n")
    clock.advance()
    assert named(follower.poll()) == [("train.log", 1, "hello")]


def test_a_file_found_twice_is_followed_once(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    (tmp_path / "link.log").symlink_to(log)
    clock = Clock()
    follower = follow([tmp_path / "*.log", log], clock)
    append(log, "once\n")
    clock.advance()
    assert [text for _, _, text in named(follower.poll())] == ["once"]
    assert len(follower.followed) == 1
