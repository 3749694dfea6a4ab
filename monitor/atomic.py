"""Write a file so that a reader sees the old one or the new one, never half of one.

Used for everything the monitor writes for others to read while it runs: the
`tail --state` file, reports, parquet event files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[str]:
    """A temporary path beside `path`, renamed over it when the block ends without an error
    and removed when it raises (the old file is then left as it was)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
