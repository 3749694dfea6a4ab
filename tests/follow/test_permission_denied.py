"""A file that cannot be opened is a notice and a counted error, retried at every rescan; never an exception.

Root opens anything, so as root the refusal is simulated by making the
follower's `open` raise PermissionError for that one path.
"""

from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path

import pytest

from monitor.sources import follow as follow_module
from tests.follow.harness import Clock, append, follow, lines


class Lock:
    """Deny and then allow reading one file: chmod, or a patched `open` when running as root."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path, self.monkeypatch = path, monkeypatch

    def deny(self) -> None:
        if os.geteuid() != 0:
            os.chmod(self.path, 0o200)  # write-only: the test can still append
            return
        denied = str(self.path)

        def refusing_open(file, *args, **kwargs):
            if os.fspath(file) == denied:
                raise PermissionError(errno.EACCES, "Permission denied", denied)
            return builtins.open(file, *args, **kwargs)

        self.monkeypatch.setattr(follow_module, "open", refusing_open, raising=False)

    def allow(self) -> None:
        if os.geteuid() != 0:
            os.chmod(self.path, 0o644)
        else:
            self.monkeypatch.undo()


def test_unreadable_at_start_is_told_once_and_read_once_allowed(tmp_path, monkeypatch) -> None:
    log = tmp_path / "train.log"
    log.write_text("before start\n")
    lock = Lock(log, monkeypatch)
    lock.deny()
    clock = Clock()
    follower = follow([log], clock)
    assert follower.notices() == [f"{log}: cannot open (permission denied); will retry"]
    append(log, "while denied\n")
    for _ in range(3):
        clock.advance()
        assert follower.poll() == []
    assert follower.notices() == []
    assert follower.counters[str(log)].read_errors == 4  # one per attempt: at start and at each rescan
    lock.allow()
    clock.advance()
    # present at start: it begins where its end was then, so nothing written since is lost
    assert lines(follower.poll()) == [(2, "while denied")]
    assert follower.notices() == [f"{log}: readable now; following it"]


def test_unreadable_new_file_is_read_from_its_start_once_allowed(tmp_path, monkeypatch) -> None:
    clock = Clock()
    follower = follow([tmp_path / "*.log"], clock)
    follower.notices()
    log = tmp_path / "rank1.log"
    log.write_text("r1 a\n")
    lock = Lock(log, monkeypatch)
    lock.deny()
    clock.advance()
    assert follower.poll() == []
    assert follower.notices() == [f"{log}: cannot open (permission denied); will retry"]
    append(log, "r1 b\n")
    lock.allow()
    clock.advance()
    assert lines(follower.poll()) == [(1, "r1 a"), (2, "r1 b")]


def test_other_files_go_on_while_one_is_refused(tmp_path, monkeypatch) -> None:
    ok, refused = tmp_path / "rank0.log", tmp_path / "rank1.log"
    ok.write_text("")
    refused.write_text("")
    Lock(refused, monkeypatch).deny()
    follower = follow([tmp_path], Clock())
    append(ok, "fine\n")
    assert lines(follower.poll()) == [(1, "fine")]
    assert follower.followed == [str(ok)]
