"""A restart with the saved state resumes exactly: no line lost, none repeated."""

from __future__ import annotations

import json
import os

from monitor.sources.follow import Follower, load_state, save_state
from tests.follow.harness import Clock, append, follow, lines, named

BANNER = "".join(f"[rank?] config {i:04d}: identical on every rank\n" for i in range(40))  # > 1 KiB


def restart(follower: Follower, patterns, clock: Clock, tmp_path) -> Follower:
    """Save the state to disk, stop, and start again from the file."""
    save_state(str(tmp_path / "state.json"), follower.snapshot(), {"detectors": "opaque"})
    follower.close()
    state, extra = load_state(str(tmp_path / "state.json"))
    assert extra == {"detectors": "opaque"}
    return follow(patterns, clock, state=state)


def test_lines_written_while_stopped_are_read_once(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    clock = Clock()
    follower = follow([log], clock)
    append(log, "a\nb\nc unfin")
    assert lines(follower.poll()) == [(1, "a"), (2, "b")]
    follower = restart(follower, [log], clock, tmp_path)
    append(log, "ished\nd\n")
    assert lines(follower.poll()) == [(3, "c unfinished"), (4, "d")]
    assert follower.notices() == []


def test_a_file_rotated_while_stopped_is_finished_and_its_successor_read_from_the_start(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    clock = Clock()
    follower = follow([tmp_path], clock)
    append(log, "a\nb\n")
    assert lines(follower.poll()) == [(1, "a"), (2, "b")]
    snapshot = follower.snapshot()
    follower.close()
    append(log, "c\n")  # written after the last save
    os.rename(log, tmp_path / "train.log.1")
    log.write_text("new 1\n")
    follower = follow([tmp_path], clock, state=snapshot)
    assert named(follower.poll()) == [("train.log", 1, "new 1"), ("train.log.1", 3, "c")]
    assert follower.notices() == [f"{log}: rotated while the monitor was stopped; reading the new file from the start"]


def test_rotated_while_stopped_out_of_the_pattern(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("a\n")
    clock = Clock()
    follower = follow([log], clock, from_start=True)
    assert lines(follower.poll()) == [(1, "a")]
    snapshot = follower.snapshot()
    follower.close()
    os.rename(log, tmp_path / "train.log.1")
    log.write_text("new 1\n")
    follower = follow([log], clock, state=snapshot)
    assert lines(follower.poll()) == [(1, "new 1")]
    assert follower.counters[str(log)].rotations == 1


def test_identical_banners_do_not_confuse_two_ranks(tmp_path) -> None:
    rank0, rank1 = tmp_path / "rank0.log", tmp_path / "rank1.log"
    rank0.write_text(BANNER + "r0 step 1\nr0 step 2\n")
    rank1.write_text(BANNER + "r1 step 1\n")
    clock = Clock()
    follower = follow([tmp_path], clock, from_start=True)
    assert len(lines(follower.poll())) == 83
    snapshot = follower.snapshot()
    follower.close()
    assert snapshot["files"][str(rank0)]["fingerprint"] == snapshot["files"][str(rank1)]["fingerprint"]
    append(rank0, "r0 step 3\n")
    # rank1 is restarted while we are stopped: a new file with the same banner (created before the
    # old one goes, so it cannot reuse the old inode)
    fresh = tmp_path / "rank1.tmp"
    fresh.write_text(BANNER + "r1 again 1\n")
    os.replace(fresh, rank1)
    follower = follow([tmp_path], clock, state=snapshot)
    got = named(follower.poll())
    assert got[0] == ("rank0.log", 43, "r0 step 3")
    assert got[1:] == [("rank1.log", n, text) for n, text in enumerate((BANNER + "r1 again 1").split("\n"), 1)]


def test_identical_banners_swapped_names_each_resume_at_their_own_offset(tmp_path) -> None:
    rank0, rank1 = tmp_path / "rank0.log", tmp_path / "rank1.log"
    rank0.write_text(BANNER + "r0 step 1\nr0 step 2\n")
    rank1.write_text(BANNER + "r1 step 1\n")
    clock = Clock()
    follower = follow([tmp_path], clock)
    snapshot = follower.snapshot()
    follower.close()
    os.rename(rank0, tmp_path / "tmp")
    os.rename(rank1, rank0)
    os.rename(tmp_path / "tmp", rank1)
    append(rank0, "was r1\n")
    append(rank1, "was r0\n")
    follower = follow([tmp_path], clock, state=snapshot)
    assert named(follower.poll()) == [("rank0.log", 42, "was r1"), ("rank1.log", 43, "was r0")]


def test_truncated_while_stopped_is_read_from_zero(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("a\nb\nc\n")
    clock = Clock()
    follower = follow([log], clock)
    snapshot = follower.snapshot()
    follower.close()
    log.write_text("x\n")
    follower = follow([log], clock, state=snapshot)
    assert lines(follower.poll()) == [(1, "x")]
    assert follower.counters[str(log)].truncations == 1
    assert follower.notices() == [
        f"{log}: truncated or rewritten while the monitor was stopped (the saved offset is not trusted); "
        "reading from the start"
    ]


def test_a_file_new_since_the_state_was_saved_is_read_from_its_start(tmp_path) -> None:
    (tmp_path / "rank0.log").write_text("r0\n")
    clock = Clock()
    follower = follow([tmp_path], clock)
    snapshot = follower.snapshot()
    follower.close()
    (tmp_path / "rank1.log").write_text("r1 a\nr1 b\n")
    follower = follow([tmp_path], clock, state=snapshot)
    assert named(follower.poll()) == [("rank1.log", 1, "r1 a"), ("rank1.log", 2, "r1 b")]


def test_a_progress_bar_and_a_cut_line_resume_mid_line(tmp_path) -> None:
    bar, long = tmp_path / "bar.log", tmp_path / "long.log"
    bar.write_text("")
    long.write_text("")
    clock = Clock()
    follower = follow([bar, long], clock, max_line_chars=8)
    append(bar, "\r 10%\r 20%")
    append(long, "0123456789abc")
    assert named(follower.poll()) == [("bar.log", 1, " 10%"), ("long.log", 1, "01234567")]
    follower = restart(follower, [bar, long], clock, tmp_path)
    append(bar, "\r 30%\nnext\n")
    append(long, "def\nnext\n")
    assert named(follower.poll()) == [
        ("bar.log", 1, " 20%"), ("bar.log", 1, " 30%"), ("bar.log", 2, "next"), ("long.log", 2, "next")
    ]


def test_state_file_is_written_atomically_and_bad_files_are_tolerated(tmp_path) -> None:
    path = tmp_path / "state.json"
    notices: list[str] = []
    assert load_state(str(path), notices) == (None, None)
    assert notices == [f"{path}: no saved state yet; starting afresh"]
    save_state(str(path), {"version": 1, "files": {}, "rotated": []}, {"k": [1, 2]})
    assert os.listdir(tmp_path) == ["state.json"]  # no temporary file left behind
    assert load_state(str(path)) == ({"version": 1, "files": {}, "rotated": []}, {"k": [1, 2]})
    path.write_text('{"version": 1, "follow": {"files"')
    notices.clear()
    assert load_state(str(path), notices) == (None, None)
    assert len(notices) == 1 and notices[0].startswith(f"{path}: cannot read the saved state (")
    path.write_text(json.dumps({"version": 99}))
    notices.clear()
    assert load_state(str(path), notices) == (None, None)
    assert notices == [f"{path}: not a saved state of this version; starting afresh"]


def test_a_malformed_state_is_noticed_not_raised(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("a\n")
    state = {"version": 1, "files": {str(log): {"dev": "x"}}, "rotated": ["junk"]}
    follower = follow([log], Clock(), state=state)
    assert follower.notices() == ["ignoring 2 malformed entries of the saved follow state"]
    assert lines(follower.poll()) == [(1, "a")]  # unknown to the state: read from its start
    follower = follow([log], Clock(), state={"something": "else"})
    assert follower.notices() == ["ignoring the saved follow state (not this version's); starting as if fresh"]
    assert follower.poll() == []
