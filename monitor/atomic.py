"""Write a file so that a reader sees the old one or the new one, never half of one.

Used for everything the monitor writes for others to read while it runs: the
`tail --state` file, reports, parquet event files. The new file gets the
permissions any other program's new file would get (`0666` less the umask),
unless the caller asks for others (the state file is private, `0600`); the
temporary file is private while it is written. After the rename the directory
is synced as well, so the new name survives a power loss, not only the data
(fsync(2): syncing a file does not sync the directory entry that names it).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc), else by setting it back."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # no atomic read elsewhere: set and restore at once
    os.umask(mask)
    return mask


def sync_directory(directory: str) -> None:
    """fsync a directory, so a rename in it is durable; file systems that cannot are left as they are."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def replacing(path: str | Path, mode: int | None = None) -> Iterator[str]:
    """A temporary path beside `path`, renamed over it when the block ends without an error
    and removed when it raises (the old file is then left as it was).

    Args:
        path: the file to write.
        mode: its permission bits; None gives `0o666 & ~umask`, as `open()` would.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, (0o666 & ~umask()) if mode is None else mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    sync_directory(directory)
