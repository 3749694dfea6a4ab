"""Turn the paths a user names into readable log sources.

A path may be a file, a directory (walked recursively), a glob, or `-` for
standard input; `.gz` and `.zst` files are decompressed on the fly (detected
by their magic bytes, so a misnamed file still works). What cannot be read is
reported as a `SourceError` that names the path and the reason; it never
stops the other sources.

Deliberately not here: splitting bytes into lines (`lines.py`) and following
files that grow (the live tailer).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import gzip
import io
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import BinaryIO

from monitor.sources.tfrecord import is_event_file

STDIN = "-"

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

# Files a directory walk never offers as logs: checkpoints, tensors, images,
# archives. Named files are always read, whatever their suffix.
NOT_LOG_SUFFIXES = frozenset((
    ".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz", ".npy", ".pkl", ".pickle", ".h5", ".onnx", ".so",
    ".o", ".a", ".pyc", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".zip", ".tar", ".tgz", ".whl",
    ".parquet", ".arrow", ".db", ".sqlite",
))
BINARY_SNIFF_BYTES = 8192
MAX_WALK_ENTRIES = 100_000
"""Directories and files one path or pattern may visit; past it the walk stops, with a `SourceError`
that says so (what was found is still read). A node's logs are far fewer; a symlinked tree or a
pattern rooted at `/` is not."""


class SourceError(Exception):
    """An input that could not be read (or read completely): which, and why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """One log to read: a path on disk or standard input."""

    name: str
    path: str | None  # None for standard input

    @property
    def is_stdin(self) -> bool:
        return self.path is None


def _natural_key(text: str) -> list[int | str]:
    """Sort `rank_2.log` before `rank_10.log`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


class _Walk:
    """One bounded walk: directories already entered (by device and inode, so a symlinked directory
    that leads back up the tree is entered once) and a count of what was visited."""

    def __init__(self, limit: int = MAX_WALK_ENTRIES) -> None:
        self.entered: set[tuple[int, int, int]] = set()
        self.left = limit
        self.stopped = False

    def enter(self, directory: str, position: int = 0) -> bool:
        """Whether to list `directory` for the pattern part at `position`: not listed for it before on
        this walk, and the budget not spent."""
        try:
            info = os.stat(directory)
        except OSError:
            return False
        key = (info.st_dev, info.st_ino, position)
        if key in self.entered or not self.spend():
            return False
        self.entered.add(key)
        return True

    def spend(self) -> bool:
        self.left -= 1
        if self.left < 0:
            self.stopped = True
        return not self.stopped

    @staticmethod
    def listdir(directory: str) -> list[str]:
        try:
            return sorted(os.listdir(directory))
        except OSError:
            return []


def _walk(directory: str, binary: Callable[[str], bool], walk: _Walk | None = None) -> list[str]:
    """Log files under `directory`, recursively; symlinked directories are not followed (os.walk)."""
    walk = walk or _Walk()
    found = []
    for root, dirs, files in os.walk(directory, onerror=None):
        if not walk.spend():
            break
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or os.path.splitext(name)[1].lower() in NOT_LOG_SUFFIXES:
                continue
            if not walk.spend():
                break
            path = os.path.join(root, name)
            if os.path.isfile(path) and not binary(path):
                found.append(path)
    return sorted(found, key=_natural_key)


def _glob(pattern: str, walk: _Walk) -> list[str]:
    """`glob.glob(pattern, recursive=True)`, but each directory a `**` descends into is entered once
    (a symlink loop under `**` ends) and the walk is bounded by `walk`'s budget."""
    if "**" not in pattern.split(os.sep):
        return glob.glob(pattern, recursive=True)
    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = os.sep.join(parts[:first]) or (os.sep if pattern.startswith(os.sep) else "")
    found: list[str] = []
    _match(root, [p for p in parts[first:] if p], walk, found)
    return found


def _match(directory: str, parts: list[str], walk: _Walk, found: list[str]) -> None:
    """Paths under `directory` (a prefix, "" for the current one) that match the pattern `parts`."""
    if not parts:
        if directory:
            found.append(directory)
        return
    here = directory or os.curdir
    part, rest = parts[0], parts[1:]
    if part == "**":
        if not walk.enter(here, len(parts)):
            return  # reached again through a symlink: listed once already
        _match(directory, rest, walk, found)  # `**` matches no directory at all, too
        for name in walk.listdir(here):
            path = os.path.join(directory, name)
            if name.startswith(".") or not os.path.isdir(path):
                if not rest and not name.startswith(".") and walk.spend():
                    found.append(path)  # a trailing `**` matches files too
                continue
            _match(path, parts, walk, found)
        return
    if not glob.has_magic(part):
        path = os.path.join(directory, part)
        if (os.path.isdir(path) if rest else os.path.lexists(path)) and walk.spend():
            _match(path, rest, walk, found)
        return
    for name in walk.listdir(here):
        if (name.startswith(".") and not part.startswith(".")) or not fnmatch.fnmatch(name, part):
            continue
        path = os.path.join(directory, name)
        if (not rest or os.path.isdir(path)) and walk.spend():
            _match(path, rest, walk, found)


def looks_binary(path: str) -> bool:
    """A file whose first bytes hold NULs and is not compressed is not a log."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(BINARY_SNIFF_BYTES)
    except OSError:
        return False  # let the reader report why it cannot be read
    if head.startswith(GZIP_MAGIC) or head.startswith(ZSTD_MAGIC) or is_event_file(head):
        return False  # compressed, or a TensorBoard event file: read, not skipped
    return b"\x00" in head


def expand_paths(
    paths: Iterable[str], *, binary: Callable[[str], bool] = looks_binary
) -> tuple[list[Source], list[SourceError]]:
    """Resolve user paths into sources, in a stable natural order.

    Args:
        paths: files, directories, globs, or `-`.
        binary: tells a binary file found in a directory from a log (the
            follower, which expands every second, passes one that remembers).

    Returns the sources and one `SourceError` per path that named nothing
    readable (missing, empty glob, directory without logs) or whose walk
    stopped at `MAX_WALK_ENTRIES` (its files found so far are still given).
    Directories are walked without following symlinked directories; under a
    `**` glob, which follows them, each directory is entered once (by device
    and inode), so a symlink loop ends.
    """
    sources: list[Source] = []
    errors: list[SourceError] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            sources.append(Source(name=path, path=path))

    for path in paths:
        walk = _Walk()
        if path == STDIN:
            sources.append(Source(name="<stdin>", path=None))
        elif os.path.isdir(path):
            files = _walk(path, binary, walk)
            if not files:
                errors.append(SourceError(path, "directory holds no log files"))
            for file in files:
                add(file)
        elif os.path.exists(path) or os.path.islink(path):
            add(path)
        elif glob.has_magic(path):
            matches = sorted(_glob(path, walk), key=_natural_key)
            files = [m for m in matches if os.path.isfile(m)]
            for directory in (m for m in matches if os.path.isdir(m)):
                files.extend(_walk(directory, binary, walk))
            if not files:
                errors.append(SourceError(path, "no files match this pattern"))
            for file in files:
                add(file)
        else:
            errors.append(SourceError(path, "no such file or directory"))
        if walk.stopped:
            errors.append(SourceError(path, f"more than {MAX_WALK_ENTRIES} directories and files to look "
                                            "through; stopped there (name the logs more narrowly)"))
    return sources, errors


def _zstd_reader(raw: BinaryIO, name: str) -> BinaryIO:
    try:
        import zstandard
    except ImportError:
        raw.close()
        raise SourceError(
            name, "zstd-compressed; install the 'zstd' extra (pip install 'training-monitor[zstd]')"
        ) from None
    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)


def open_source(source: Source) -> BinaryIO:
    """Open a source for binary reading, decompressing by magic bytes.

    Raises:
        SourceError: the file is missing, unreadable, or compressed with a
            codec that is not installed.
    """
    if source.is_stdin:
        return sys.stdin.buffer
    assert source.path is not None
    try:
        raw: BinaryIO = open(source.path, "rb")  # noqa: SIM115 - closed by the caller
    except IsADirectoryError:
        raise SourceError(source.name, "is a directory") from None
    except OSError as err:
        raise SourceError(source.name, err.strerror or str(err)) from None
    try:
        magic = raw.peek(4)[:4] if isinstance(raw, io.BufferedReader) else b""
    except OSError as err:
        raw.close()
        raise SourceError(source.name, err.strerror or str(err)) from None
    if magic.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic.startswith(ZSTD_MAGIC):
        return _zstd_reader(raw, source.name)
    return raw


def is_plain_file(source: Source) -> bool:
    """True when the source can be read from any byte offset (not stdin, not compressed)."""
    if source.is_stdin or source.path is None:
        return False
    try:
        with open(source.path, "rb") as handle:
            magic = handle.read(4)
        return os.path.isfile(source.path) and not (
            magic.startswith(GZIP_MAGIC) or magic.startswith(ZSTD_MAGIC)
        )
    except OSError:
        return False
