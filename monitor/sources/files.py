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
import glob
import gzip
import io
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import BinaryIO

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


def _walk(directory: str, binary: Callable[[str], bool]) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or os.path.splitext(name)[1].lower() in NOT_LOG_SUFFIXES:
                continue
            path = os.path.join(root, name)
            if os.path.isfile(path) and not binary(path):
                found.append(path)
    return sorted(found, key=_natural_key)


def looks_binary(path: str) -> bool:
    """A file whose first bytes hold NULs and is not compressed is not a log."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(BINARY_SNIFF_BYTES)
    except OSError:
        return False  # let the reader report why it cannot be read
    if head.startswith(GZIP_MAGIC) or head.startswith(ZSTD_MAGIC):
        return False
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
    readable (missing, empty glob, directory without logs).
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
        if path == STDIN:
            sources.append(Source(name="<stdin>", path=None))
        elif os.path.isdir(path):
            files = _walk(path, binary)
            if not files:
                errors.append(SourceError(path, "directory holds no log files"))
            for file in files:
                add(file)
        elif os.path.exists(path) or os.path.islink(path):
            add(path)
        elif glob.has_magic(path):
            matches = sorted(glob.glob(path, recursive=True), key=_natural_key)
            files = [m for m in matches if os.path.isfile(m)]
            for directory in (m for m in matches if os.path.isdir(m)):
                files.extend(_walk(directory, binary))
            if not files:
                errors.append(SourceError(path, "no files match this pattern"))
            for file in files:
                add(file)
        else:
            errors.append(SourceError(path, "no such file or directory"))
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
