"""A progress bar on stderr for long scans: the input's bytes read so far, of their total.

Drawn only on a terminal (a pipe, a file or a CI log gets nothing, so batch jobs' logs stay clean) and only
for inputs big enough to take a while; it is erased when the scan ends. It draws and does not count: the
caller reports bytes as it learns of them, with `advance` (bytes just read) or `update` (bytes read in
all, the shape of an `on_progress(bytes_done)` callback). Until the first count it pulses.
"""

from __future__ import annotations

from typing import TextIO

PROGRESS_MIN_BYTES = 32 * 1024 * 1024
"""Inputs smaller than this are scanned in about a second at the measured scan speed: no bar for them."""


class NoProgress:
    """Stands in for the bar when none is drawn, so the scan loop never asks whether there is one."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, bytes_read: int) -> None:
        """Nothing to draw."""

    def update(self, bytes_done: int) -> None:
        """Nothing to draw."""


class ScanProgress(NoProgress):
    """A rich progress bar for `files` inputs of `total_bytes` bytes, drawn on `stream`.

    It pulses until the first count arrives (the scan of one big file may report nothing before its end),
    then fills, with the share done.

    Args:
        total_bytes: the inputs' size on disk (compressed files count as stored).
        files: how many inputs, for the label.
        stream: the terminal to draw on (stderr).
    """

    def __init__(self, total_bytes: int, files: int, stream: TextIO) -> None:
        from rich.console import Console
        from rich.filesize import decimal
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.total_bytes, self.files = total_bytes, files
        label = TextColumn(f"scanning {files} file(s), {decimal(total_bytes)}")
        columns = [label, BarColumn(), TextColumn("{task.fields[share]}"), TimeElapsedColumn()]
        self._progress = Progress(*columns, console=Console(file=stream), transient=True)
        self._task = self._progress.add_task("scan", total=None, share="")
        self._done = 0

    def __repr__(self) -> str:
        return f"ScanProgress(total_bytes={self.total_bytes}, files={self.files})"

    def __enter__(self) -> ScanProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, bytes_read: int) -> None:
        self.update(self._done + bytes_read)

    def update(self, bytes_done: int) -> None:
        self._done = bytes_done
        share = f"{100 * bytes_done / self.total_bytes:3.0f}%" if self.total_bytes else ""
        self._progress.update(self._task, total=self.total_bytes or None, completed=bytes_done, share=share)


def progress_bar(total_bytes: int, files: int, stream: TextIO, min_bytes: int = PROGRESS_MIN_BYTES) -> NoProgress:
    """A bar on `stream` when it is a terminal and the input is at least `min_bytes`; else a stand-in."""
    if total_bytes < min_bytes or not is_terminal(stream):
        return NoProgress()
    return ScanProgress(total_bytes, files, stream)


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal (False for a pipe, a file, or a closed stream)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


if __name__ == "__main__":  # look at it by hand: python -m monitor.sinks.progress
    import sys
    import time

    with progress_bar(200 * 1024 * 1024, 3, sys.stderr) as bar:
        for _ in range(100):
            time.sleep(0.02)
            bar.advance(2 * 1024 * 1024)
