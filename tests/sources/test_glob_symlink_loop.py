"""Issue 15, item 5: a `**` glob over symlinked directories that loop ends, each file found once
under its shortest name, and a walk is bounded (stopped with a message, what it found kept)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from monitor.sources import files
from monitor.sources.files import expand_paths
from tests.follow.harness import Clock, append, follow, named


def looping_tree(tmp_path: Path) -> Path:
    """logs/{a.log, sub/b.log}, with sub/up -> .. and sub/top -> ../.. (two loops, branching)."""
    logs = tmp_path / "logs"
    (logs / "sub").mkdir(parents=True)
    (logs / "a.log").write_text("a\n")
    (logs / "sub" / "b.log").write_text("b\n")
    os.symlink("..", logs / "sub" / "up")
    os.symlink("../..", logs / "sub" / "top")
    os.symlink(".", logs / "sub" / "self")
    return logs


def finishes(call, seconds: float = 10.0):
    """`call()`'s result, or a failure when it runs past `seconds` (the bug never returned)."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert result, f"did not finish within {seconds} s"
    return result[0]


def test_issue_15_scan_expands_a_double_star_glob_over_a_symlink_loop(tmp_path: Path) -> None:
    logs = looping_tree(tmp_path)
    sources, errors = finishes(lambda: expand_paths([f"{logs}/**/*.log"]))
    assert errors == []
    assert [s.name for s in sources] == [f"{logs}/a.log", f"{logs}/sub/b.log"]
    sources, errors = finishes(lambda: expand_paths([f"{logs}/**"]))
    assert sorted(s.name for s in sources) == [f"{logs}/a.log", f"{logs}/sub/b.log"]


def test_issue_15_tail_rescans_a_double_star_glob_over_a_symlink_loop(tmp_path: Path) -> None:
    logs = looping_tree(tmp_path)
    clock = Clock()
    follower = finishes(lambda: follow([f"{logs}/**/*.log"], clock, from_start=True))
    assert sorted(named(finishes(follower.poll))) == [("a.log", 1, "a"), ("b.log", 1, "b")]
    (logs / "sub" / "c.log").write_text("")
    clock.advance(10)
    finishes(follower.poll)
    append(logs / "sub" / "c.log", "c\n")
    clock.advance(10)
    assert named(finishes(follower.poll)) == [("c.log", 1, "c")]
    follower.close()


def test_issue_15_a_glob_stops_at_its_bound_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(30):
        (tmp_path / f"d{i:02d}").mkdir()
        (tmp_path / f"d{i:02d}" / "x.log").write_text("x\n")
    monkeypatch.setattr(files, "MAX_WALK_ENTRIES", 20)
    monkeypatch.setattr(files._Walk.__init__, "__defaults__", (20,))
    for pattern in (f"{tmp_path}/**/*.log", str(tmp_path)):
        sources, errors = expand_paths([pattern])
        assert 0 < len(sources) < 30
        assert [e.reason for e in errors] == ["more than 20 directories and files to look through; stopped there "
                                              "(name the logs more narrowly)"]
    clock = Clock()
    follower = follow([f"{tmp_path}/**/*.log"], clock)
    assert any("stopped there" in notice for notice in follower.notices())
    follower.close()
