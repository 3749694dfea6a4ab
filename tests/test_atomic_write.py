"""Files the monitor writes for others (reports, parquet event files) get the permissions any new
file would get, `0666` less the umask (a temporary file from mkstemp is always 0600); the state file
stays private; the directory is synced after the rename so the new name is durable (fsync(2))."""

from __future__ import annotations

import os
import stat

import pytest

from monitor import atomic
from monitor.sources.follow import save_state


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_written_file_gets_0666_less_the_umask(tmp_path, mask: int, mode: int) -> None:
    old = os.umask(mask)
    try:
        with atomic.replacing(tmp_path / "report.html") as temporary:
            (tmp_path / temporary).write_text("<html></html>")
        assert atomic.umask() == mask  # read without changing it
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == mode
    assert os.listdir(tmp_path) == ["report.html"]


def test_the_state_file_stays_private_whatever_the_umask(tmp_path) -> None:
    old = os.umask(0o000)
    try:
        save_state(str(tmp_path / "state.json"), {"version": 1, "files": {}, "rotated": []})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600


def test_the_directory_is_synced_after_the_rename(tmp_path, monkeypatch) -> None:
    synced: list[tuple[bool, bool]] = []  # (a directory, the file already renamed)
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), (tmp_path / "out.md").exists()))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with atomic.replacing(tmp_path / "out.md") as temporary:
        (tmp_path / temporary).write_text("# report\n")
    assert synced == [(True, True)]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    (tmp_path / "out.md").write_text("old")
    with pytest.raises(RuntimeError), atomic.replacing(tmp_path / "out.md") as temporary:
        (tmp_path / temporary).write_text("half")
        raise RuntimeError("disk full")
    assert (tmp_path / "out.md").read_text() == "old" and os.listdir(tmp_path) == ["out.md"]
