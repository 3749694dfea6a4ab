"""Follow growing log files: one path, one never-ending stream of lines (`monitor tail`).

The promise: each followed path reads as one endless source of complete
lines, even when the file behind it is rotated, truncated, deleted or
re-pointed, the way `tail -F` and mtail's logstream behave. Lines are decoded
exactly as `monitor scan` decodes them (`lines.read_batches`: UTF-8 with
replacement, ANSI codes stripped, carriage returns split, long lines cut),
and numbered with their physical line number in the current file.

Polling, no inotify: the caller calls `Follower.poll()` every 0.1-0.25 s. A
poll with nothing new costs one `stat` of each path and one `fstat` of its
open descriptor. Patterns (files, directories walked recursively, globs,
expanded by the same rules as `files.expand_paths`) are expanded again every
`rescan_every` seconds of the injected clock, so files that appear later (new
ranks, a new attempt) are picked up and read from their first line. Files
present at start begin after their last complete line unless `from_start`.

Rules, checked in this order (the checks on the path run only once the open
descriptor has been read to its end):

- Truncation: the file is now smaller than what we have read, same inode
  (truncated in place, or logrotate's copytruncate). The held partial line
  is flushed, then reading restarts at byte 0 and line 1. This is lossy:
  lines written after our last read and before the truncation are lost, and
  a file truncated and refilled past our offset between two polls is not
  noticed at all (reading goes on from the old offset, mid-line). A copy
  that logrotate makes and that a pattern also matches is a new file to us
  and is read in full.
- Deletion: the path is gone and the open file has no links left. What
  remains on the descriptor is read, the partial line flushed, and the file
  dropped; a file created later under that name is a new file.
- Rotation: the path names another file (rename and create, or a symlink
  re-pointed: identity is the resolved target's device and inode). The old
  descriptor is read to its end, then the new file is read from its start,
  line numbers restarting at 1. The old file is still read (its lines under
  the old name, before the new file's in each poll) until it has been quiet
  for `rotated_quiet_seconds`: a writer that has not reopened yet goes on
  writing to it. Then its partial line is flushed and it is closed. A file
  moved away with nothing in its place yet is the first half of a rotation.
  If a pattern also matches the old file's new name (`train.log.1` in a
  followed directory) reading continues there instead of starting over.
- Partial lines: a last line without its newline is held until the newline
  arrives, then delivered once and whole; it is flushed as a line before a
  truncation, rotation or deletion discards it. Pieces already ended by a
  carriage return are delivered as they arrive (tqdm redraws a bar with `\\r`
  and writes the newline only when the bar ends), numbered with their
  physical line, as `scan` numbers them; only the piece after the last `\\r`
  is held.
- Open files: at most `max_open_files` descriptors (lowered to fit the
  process's `RLIMIT_NOFILE`, with a notice). Beyond it the longest idle file
  is closed and its offset kept; it is reopened, by path, when a rescan sees
  it change size, and resumes only if it is still the same file (below).
  A closed file is looked at once per rescan, so its new lines arrive up to
  `rescan_every` seconds later; one rotated or deleted while closed is let go
  (it had been idle; renamed into a pattern, it is read from its start).
- Errors: a path that cannot be opened (permission denied, ...) or read is
  a notice (told once, until it changes) and a counted error, never an
  exception; opening is retried at every rescan. Pipes, devices and
  compressed files are not followed (a notice says so).

Restarts: `snapshot()` gives JSON-ready state (per file its identity, the
offset after the last delivered line and the next line number); given back
through `state=`, a file whose device, inode, size (at least the offset),
first bytes (up to 1 KiB) and the bytes just before the offset (up to 1 KiB)
still match resumes at the saved offset, so no line is lost or repeated.
Every rank's log starts with the same banner, so the first bytes alone prove
nothing, and a deleted file's inode is reused by the next file created; the
bytes before the offset (the last lines read, with their steps and times)
tell such a file from the old one. An offset not trusted is a notice, and
the file is read from its start. While following, a file that grew is also
checked to still hold, just before our offset, the byte we read there: a
file truncated and refilled past our offset between two polls is then seen
as truncated (unless that byte happens to match). With a state, files it does not know appeared while we were stopped
and are read from their start. `save_state`/`load_state` keep it on disk.

Memory does not grow with file size: files are read in chunks, and at most
`max_bytes_per_poll` bytes per poll (`behind` tells the caller to poll again
at once); an endless line is cut at `max_line_chars` and the rest skipped.

Memory stays flat under churn: everything kept about a path (counters,
offsets, judgements) goes when the file is deleted, and `gone()` names such
files so the caller lets go of them too.

Deliberately not here: standard input and pipes (read them as a stream),
compressed files, inotify, and what the lines mean.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import resource
import stat
import time
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from monitor.atomic import replacing
from monitor.sources.files import GZIP_MAGIC, STDIN, ZSTD_MAGIC, expand_paths, looks_binary
from monitor.sources.lines import CHUNK_BYTES, MAX_LINE_CHARS, Batch, ReadStats, read_batches

FINGERPRINT_BYTES = 1024
MAX_BYTES_PER_POLL = 16 << 20
STATE_VERSION = 1
ROTATED_KEPT = 1024  # files rotated away whose offsets we remember
MAX_OPEN_FILES = 512
ROTATED_QUIET_SECONDS = 30.0
RESERVED_DESCRIPTORS = 64  # for the metrics server, the state file, the webhook, Python itself

Identity = tuple[int, int]  # (st_dev, st_ino)


@dataclasses.dataclass(frozen=True, slots=True)
class FollowedBatch:
    """Lines from one followed file: `name` as the pattern found it, `path` absolute."""

    name: str
    path: str
    batch: Batch


@dataclasses.dataclass(slots=True)
class FileCounters:
    """What happened to one path since the follower started, for self-metrics."""

    lines: int = 0  # physical lines delivered
    bytes_read: int = 0
    rotations: int = 0
    truncations: int = 0
    deletions: int = 0
    read_errors: int = 0  # failed opens and reads
    long_lines: int = 0  # lines cut at max_line_chars


@dataclasses.dataclass(slots=True)
class _Mark:
    """Where reading stopped in one file: what a snapshot saves and a restart resumes from."""

    path: str
    identity: Identity
    fingerprint: str  # of the first min(offset, FINGERPRINT_BYTES) bytes
    offset: int
    line: int
    mid_line: bool = False
    skipping: bool = False
    saved: bool = False  # came from a saved state (not from a rotation seen live)
    last: str = ""  # of the FINGERPRINT_BYTES before the offset, when the offset is beyond them
    name: str = ""  # the name the pattern found the file by (a file closed while idle)
    size: int = 0  # the bytes read from it when it was closed

    def to_json(self) -> dict[str, Any]:
        return {
            "dev": self.identity[0], "ino": self.identity[1], "fingerprint": self.fingerprint, "last": self.last,
            "offset": self.offset, "line": self.line, "mid_line": self.mid_line, "skipping": self.skipping,
        }

    @classmethod
    def from_json(cls, path: Any, data: Any) -> _Mark | None:
        if not isinstance(path, str) or not isinstance(data, dict):
            return None
        ints = [data.get(key) for key in ("dev", "ino", "offset", "line")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
            return None
        if not isinstance(data.get("fingerprint"), str) or ints[3] < 1:
            return None
        dev, ino, offset, line = ints
        flags = bool(data.get("mid_line")), bool(data.get("skipping"))
        last = data.get("last") if isinstance(data.get("last"), str) else ""
        return cls(path, (dev, ino), data["fingerprint"], offset, line, *flags, saved=True, last=last)


@dataclasses.dataclass(eq=False, slots=True)
class _Stream:
    """One open file. Invariant: `offset + len(partial) == pos` (unless skipping: `offset == pos`)."""

    name: str
    path: str
    file: BinaryIO
    identity: Identity
    counters: FileCounters
    stats: ReadStats
    pos: int = 0  # bytes read from the file
    offset: int = 0  # first byte not yet delivered
    line: int = 1  # physical line number of the line at `offset`
    partial: bytes = b""  # read but not delivered: the line that has no newline yet
    mid_line: bool = False  # pieces of this line ended by `\r` were delivered already
    skipping: bool = False  # this line was cut at max_line_chars; its rest is dropped
    fingerprint: tuple[int, str] | None = None  # (bytes hashed, digest), cached
    last: tuple[int, str] | None = None  # (offset, digest of the bytes before it), cached
    size: int = 0  # the file's size when it was last looked at
    active_at: float = 0.0  # the clock when it last grew (or was opened)
    last_byte: bytes = b""  # the byte at pos - 1, to see a truncation refilled past pos


def _fingerprint(file: BinaryIO, length: int, end: int | None = None) -> str:
    """A digest of `length` bytes: the first ones, or those that end at `end`."""
    data = os.pread(file.fileno(), length, 0 if end is None else end - length)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _last_digest(file: BinaryIO, offset: int) -> str:
    """The digest of the bytes before `offset`, or "" when the first bytes' digest covers them."""
    return _fingerprint(file, FINGERPRINT_BYTES, offset) if offset > FINGERPRINT_BYTES else ""


def descriptor_limit() -> int | None:
    """The process's soft limit on open descriptors (`ulimit -n`), None when unlimited or unknown."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def _reason(err: OSError) -> str:
    return (err.strerror or str(err) or type(err).__name__).lower()


def _end_of_lines(file: BinaryIO, limit: int) -> tuple[int, int, bool]:
    """Where reading starts in a file present at start: (offset, line number, mid line).

    Counts the newlines in the first `limit` bytes, a chunk at a time, so line
    numbers stay true. Starts after the last newline (the unfinished line is
    held and delivered when it ends) or, in a progress bar's line, after its
    last carriage return.
    """
    newlines, last_newline, last_return, done = 0, -1, -1, 0
    file.seek(0)
    while done < limit:
        chunk = file.read(min(CHUNK_BYTES, limit - done))
        if not chunk:
            break
        count = chunk.count(b"\n")
        if count:
            newlines += count
            last_newline = done + chunk.rfind(b"\n")
        ret = chunk.rfind(b"\r")
        if ret >= 0:
            last_return = done + ret
        done += len(chunk)
    if last_return > last_newline:
        return last_return + 1, newlines + 1, True
    return last_newline + 1, newlines + 1, False


class Follower:
    """Follow every file the patterns name, now and later, as `tail -F` does.

    Args:
        patterns: files, directories and globs (not `-`).
        from_start: read files present at start from their beginning.
        state: a `snapshot()` from an earlier run, to resume where it stopped.
        max_line_chars: longer lines are cut to this length.
        rescan_every: seconds of `clock` between two expansions of the patterns.
        clock: monotonic seconds; injected so tests trigger rescans without sleeping.
        max_bytes_per_poll: most bytes one poll reads, over all files.
        max_open_files: most files held open at once (lowered to fit `ulimit -n`).
        rotated_quiet_seconds: how long a file renamed away must be quiet before it is let go.

    Raises:
        ValueError: no patterns, `-` among them, or a limit below 1.
    """

    def __init__(
        self,
        patterns: Sequence[str],
        *,
        from_start: bool = False,
        state: dict[str, Any] | None = None,
        max_line_chars: int = MAX_LINE_CHARS,
        rescan_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_bytes_per_poll: int = MAX_BYTES_PER_POLL,
        max_open_files: int = MAX_OPEN_FILES,
        rotated_quiet_seconds: float = ROTATED_QUIET_SECONDS,
    ) -> None:
        if isinstance(patterns, str) or not patterns:
            raise ValueError(f"patterns must be a non-empty list of paths, got {patterns!r}")
        if STDIN in patterns:
            raise ValueError("'-' (standard input) cannot be followed by path; read it as a stream")
        if min(max_line_chars, max_bytes_per_poll, max_open_files) < 1 or min(rescan_every,
                                                                               rotated_quiet_seconds) < 0:
            raise ValueError(
                f"max_line_chars, max_bytes_per_poll and max_open_files must be >= 1 and rescan_every and "
                f"rotated_quiet_seconds >= 0, got {max_line_chars}, {max_bytes_per_poll}, {max_open_files}, "
                f"{rescan_every}, {rotated_quiet_seconds}"
            )
        self._patterns = list(patterns)
        self._from_start = from_start
        self._max_line_chars = max_line_chars
        self._rescan_every = rescan_every
        self._clock = clock
        self._max_bytes = max_bytes_per_poll
        self._streams: dict[str, _Stream] = {}  # by absolute path
        self._identities: dict[Identity, str] = {}  # followed files, to follow each once
        self._counters: dict[str, FileCounters] = {}
        self._stats: dict[str, ReadStats] = {}
        self._notices: list[str] = []
        self._problems: dict[str, str] = {}  # path or pattern -> the problem last told
        self._seen_at_start: dict[str, tuple[Identity, int]] = {}
        self._marks: collections.OrderedDict[Identity, _Mark] = collections.OrderedDict()
        self._saved_paths: dict[str, _Mark] = {}
        self._sniffed: dict[str, tuple[Identity, bool]] = {}
        self._skipped: dict[str, Identity] = {}  # compressed or not regular: told once
        self._has_state = False
        self._cursor = 0
        self._quiet_s = rotated_quiet_seconds
        self._draining: dict[Identity, _Stream] = {}  # renamed away, read until quiet
        self._dormant: dict[str, _Mark] = {}  # closed while idle (the open-file cap), by path
        self._gone: list[str] = []
        self._seen_now: set[str] = set()
        self._max_open = self._fit_descriptors(max_open_files)
        self.behind = False
        """True when the last poll stopped at `max_bytes_per_poll`: poll again without waiting."""
        self._load(state)
        self._starting = True
        self._rescan()
        self._starting = False
        self._next_rescan = clock() + rescan_every

    # -- the caller's side -------------------------------------------------

    def poll(self) -> list[FollowedBatch]:
        """Read what every followed file gained since the last poll; never blocks or raises.

        Returns batches of complete lines, file by file, a rotated file's
        last lines before its successor's first.
        """
        now = self._clock()
        if now >= self._next_rescan:
            self._rescan()
            self._next_rescan = now + self._rescan_every
        out: list[FollowedBatch] = []
        budget = self._max_bytes
        self.behind = False
        for s in list(self._draining.values()):  # older lines than the new files' (rotated away)
            budget -= self._drain(s, out, budget, now)
        streams = list(self._streams.values())
        for i in range(len(streams)):
            index = (self._cursor + i) % len(streams)
            budget -= self._visit(streams[index], out, budget)
            if budget <= 0:
                self.behind = True
                self._cursor = index + 1  # the next poll starts after the file that used the budget up
                break
        return out

    def gone(self) -> list[str]:
        """Names of the files deleted since the last call (all their state here is dropped); drained."""
        gone, self._gone = self._gone, []
        return gone

    def notices(self) -> list[str]:
        """Messages for people (rotated, truncated, deleted, cannot read), each once; drained."""
        notices, self._notices = self._notices, []
        return notices

    @property
    def counters(self) -> dict[str, FileCounters]:
        """Counters per absolute path, kept after a file is dropped."""
        return dict(self._counters)

    def offsets(self) -> dict[str, int]:
        """Bytes read so far from each file open now, by absolute path."""
        return {path: s.pos for path, s in self._streams.items()}

    def sizes(self) -> dict[str, int]:
        """The size of each file open now, by absolute path, as the last poll saw it (no system call)."""
        return {path: s.size for path, s in self._streams.items()}

    @property
    def followed(self) -> list[str]:
        """Names of the files followed now (open, closed while idle, or renamed away and still read)."""
        return [s.name for s in [*self._streams.values(), *self._draining.values()]] + [
            m.name for m in self._dormant.values()]

    @property
    def open_files(self) -> int:
        """Descriptors held now: followed files and files renamed away still read."""
        return len(self._streams) + len(self._draining)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state to resume from: see the module docstring."""
        files = {path: self._mark(s).to_json() for path, s in self._streams.items()}
        files.update((path, mark.to_json()) for path, mark in self._dormant.items())
        rotated = [dict(self._mark(s).to_json(), path=s.path) for s in self._draining.values()]
        rotated += [dict(mark.to_json(), path=mark.path) for mark in self._marks.values()]
        return {"version": STATE_VERSION, "files": files, "rotated": rotated}

    def close(self) -> None:
        """Close every open file."""
        for s in [*self._streams.values(), *self._draining.values()]:
            self._close(s)
        self._draining.clear()

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- finding files -----------------------------------------------------

    def _fit_descriptors(self, wanted: int) -> int:
        """`wanted`, or less when `ulimit -n` leaves too few descriptors (with a notice)."""
        limit = descriptor_limit()
        if limit is None or wanted + RESERVED_DESCRIPTORS <= limit:
            return wanted
        fitted = max(1, limit - RESERVED_DESCRIPTORS)
        self._notice(f"ulimit -n is {limit}: holding at most {fitted} followed files open at once, not {wanted} "
                     "(tail_max_open_files); the others are closed while idle and looked at once per rescan. "
                     f"Raise the limit (ulimit -n {wanted + RESERVED_DESCRIPTORS}) to hold them all")
        return fitted

    def _rescan(self) -> None:
        self._seen_now = set()
        self._wake_dormant()
        for pattern in self._patterns:
            sources, errors = expand_paths([pattern], binary=self._binary)
            if errors and not sources:
                self._problem("pattern " + pattern, f"{pattern}: {errors[0].reason} yet; waiting for files")
            elif errors:  # the walk stopped at its bound: what it found is followed
                self._problem("pattern " + pattern, f"{pattern}: {errors[0].reason}")
            else:
                self._problems.pop("pattern " + pattern, None)
            for source in sources:
                assert source.path is not None
                path = os.path.abspath(source.path)
                self._seen_now.add(path)
                if path not in self._streams and path not in self._dormant:
                    self._open(path, source.name)
        for judged in (self._sniffed, self._skipped):  # files no pattern names any more: let go
            for path in [path for path in judged if path not in self._seen_now]:
                del judged[path]

    def _wake_dormant(self) -> None:
        """Reopen the files closed while idle that changed size; drop those deleted or replaced."""
        for path, mark in list(self._dormant.items()):
            try:
                st = os.stat(path)
            except OSError:
                st = None
            if st is not None and (st.st_dev, st.st_ino) == mark.identity and st.st_size == mark.size:
                continue  # still idle: the size it had when all of it was read
            del self._dormant[path]
            if st is not None:  # where the reopen resumes (a file gone may be deleted: its inode is reused)
                self._marks[mark.identity] = mark
                self._marks.move_to_end(mark.identity)
            if st is None or (self._open(path, mark.name) is None and not os.path.exists(path)):
                self._forget(path, mark.name, f"{mark.name}: gone while closed for being idle; no longer followed")

    def _binary(self, name: str) -> bool:
        """`files.looks_binary`, remembered per file, so a rescan reads no file it has judged."""
        path = os.path.abspath(name)
        self._seen_now.add(path)
        if path in self._streams or path in self._dormant:
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        identity = (st.st_dev, st.st_ino)
        known = self._sniffed.get(path)
        if known is None or known[0] != identity:
            known = self._sniffed[path] = (identity, looks_binary(path))
        return known[1]

    def _open(self, path: str, name: str) -> _Stream | None:
        """Start following one file, placed where reading should start; None if it cannot be."""
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            self._open_failed(path, name, err)
            return None
        identity = (st.st_dev, st.st_ino)
        if self._starting:
            self._seen_at_start.setdefault(path, (identity, st.st_size))
        if stat.S_ISDIR(st.st_mode) or identity in self._identities or self._skipped.get(path) == identity:
            return None
        if identity in self._draining:  # renamed away, and a pattern names its new name: follow it there
            return self._adopt(self._draining.pop(identity), path, name)
        if not stat.S_ISREG(st.st_mode):
            self._skip(path, name, identity, "not a regular file (a pipe or a device); not followed")
            return None
        if not self._make_room():
            return None
        try:
            file = open(path, "rb", buffering=0)  # noqa: SIM115 - kept open while followed
        except OSError as err:
            self._open_failed(path, name, err)
            return None
        try:
            fst = os.fstat(file.fileno())
            magic = file.read(4)
        except OSError as err:
            file.close()
            self._open_failed(path, name, err)
            return None
        if magic.startswith(GZIP_MAGIC) or magic.startswith(ZSTD_MAGIC):
            file.close()
            self._skip(path, name, identity, "compressed; not followed (monitor scan reads it)")
            return None
        if self._problems.pop(path, None) is not None:
            self._notice(f"{name}: readable now; following it")
        counters = self._counters.setdefault(path, FileCounters())
        stats = self._stats.setdefault(path, ReadStats())
        s = _Stream(name, path, file, (fst.st_dev, fst.st_ino), counters, stats, size=fst.st_size,
                    active_at=self._clock())
        try:
            self._place(s, fst.st_size)
        except OSError as err:  # reading the existing lines to count them failed
            file.close()
            self._open_failed(path, name, err)
            return None
        self._streams[path] = s
        self._identities[s.identity] = path
        return s

    def _adopt(self, s: _Stream, path: str, name: str) -> _Stream:
        """Follow a file renamed away, still open, under the new name a pattern found it by."""
        s.path, s.name = path, name
        s.counters = self._counters.setdefault(path, FileCounters())
        s.stats = self._stats.setdefault(path, ReadStats())
        self._streams[path] = s
        self._identities[s.identity] = path
        return s

    def _make_room(self) -> bool:
        """Below the open-file cap, closing the longest idle followed file if need be."""
        if self.open_files < self._max_open:
            return True
        self._problem("open files", f"{self._max_open} followed files are open, the most allowed "
                      "(tail_max_open_files, ulimit -n); the longest idle are closed and reopened when they grow")
        if not self._streams:
            return False
        idle = min(self._streams.values(), key=lambda s: s.active_at)
        mark = self._mark(idle)
        mark.name, mark.size = idle.name, idle.pos  # a file with unread bytes wakes at the next rescan
        self._close(idle)
        self._dormant[idle.path] = mark
        return True

    def _forget(self, path: str, name: str, notice: str) -> None:
        """Drop what is kept about a deleted file and tell the caller (`gone`)."""
        self._notice(notice)
        for kept in (self._counters, self._stats, self._sniffed, self._skipped, self._problems, self._seen_at_start):
            kept.pop(path, None)  # type: ignore[attr-defined]
        self._gone.append(name)

    def _place(self, s: _Stream, size: int) -> None:
        """Choose where reading starts: a saved or remembered offset, the end, or the start."""
        mark = self._marks.pop(s.identity, None)
        if mark is not None and self._saved_paths.get(mark.path) is mark:
            del self._saved_paths[mark.path]
        if mark is not None:
            if self._resumable(s, mark, size):
                s.pos = s.offset = mark.offset
                s.line, s.mid_line, s.skipping = mark.line, mark.mid_line, mark.skipping
            elif mark.saved and mark.path == s.path:
                s.counters.truncations += 1
                self._notice(f"{s.name}: truncated or rewritten while the monitor was stopped (the saved offset "
                             "is not trusted); reading from the start")
            elif mark.path == s.path:
                s.counters.truncations += 1
                self._notice(f"{s.name}: truncated or replaced while closed for being idle (the offset is not "
                             "trusted); reading from the start")
        elif self._saved_paths.pop(s.path, None) is not None:
            s.counters.rotations += 1
            self._notice(f"{s.name}: rotated while the monitor was stopped; reading the new file from the start")
        else:
            seen = self._seen_at_start.pop(s.path, None)
            if seen is not None and seen[0] == s.identity and not (self._from_start or self._has_state):
                s.pos, s.line, s.mid_line = _end_of_lines(s.file, seen[1])
                s.offset = s.pos
        self._seen_at_start.pop(s.path, None)
        s.file.seek(s.pos)

    def _resumable(self, s: _Stream, mark: _Mark, size: int) -> bool:
        """Whether `s` is the file `mark` was taken of: size, first bytes and the bytes before the offset."""
        if size < mark.offset:
            return False
        try:
            if _fingerprint(s.file, min(mark.offset, FINGERPRINT_BYTES)) != mark.fingerprint:
                return False
            return not mark.last or _last_digest(s.file, mark.offset) == mark.last
        except OSError:
            return False

    # -- reading -----------------------------------------------------------

    def _visit(self, s: _Stream, out: list[FollowedBatch], budget: int) -> int:
        """Read one file's news, then check its path; returns the bytes read."""
        try:
            size = os.fstat(s.file.fileno()).st_size
        except OSError as err:
            self._read_failed(s, err)
            return 0
        s.size = size
        if size < s.pos or (size > s.pos and not self._same_byte(s)):
            self._truncated(s, out, size)
        used = 0
        if size > s.pos:
            used, done = self._read(s, out, budget)
            if not done:
                return used
        return used + self._check_path(s, out, budget - used)

    def _same_byte(self, s: _Stream) -> bool:
        """Whether the byte before our read position is still the one we read (not truncated and refilled)."""
        if not s.last_byte:
            return True
        try:
            return os.pread(s.file.fileno(), 1, s.pos - 1) == s.last_byte
        except OSError:
            return True  # a read error is told when reading

    def _drain(self, s: _Stream, out: list[FollowedBatch], budget: int, now: float) -> int:
        """Read a file renamed away; let it go once it has been quiet long enough or is deleted."""
        try:
            info = os.fstat(s.file.fileno())
        except OSError:
            info = None
        used, done = (0, True)
        if info is not None and info.st_size > s.pos:
            used, done = self._read(s, out, budget)
        if not done or (info is not None and info.st_nlink and now - s.active_at < self._quiet_s):
            return used
        self._flush(s, out)
        if info is not None and info.st_nlink:
            self._remember(s)
        del self._draining[s.identity]
        self._close(s)
        return used

    def _check_path(self, s: _Stream, out: list[FollowedBatch], budget: int) -> int:
        """Deletion, rotation or a re-pointed symlink, seen from the path (one stat)."""
        try:
            st: os.stat_result | None = os.stat(s.path)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        except OSError as err:
            self._read_failed(s, err)
            return 0
        if st is not None and (st.st_dev, st.st_ino) == s.identity:
            return 0
        used, done = self._read(s, out, budget)  # what was written before the switch
        if not done:
            return used
        try:
            links = os.fstat(s.file.fileno()).st_nlink
        except OSError:
            links = 0
        self._detach(s)
        if st is None and not links:
            self._flush(s, out)
            self._close(s)
            s.counters.deletions += 1
            self._forget(s.path, s.name, f"{s.name}: deleted; read what was left, no longer followed")
            return used
        s.counters.rotations += 1
        if links:  # still open: read on while its writer may not have reopened yet
            s.active_at = self._clock()
            self._draining[s.identity] = s
        else:
            self._flush(s, out)
            self._close(s)
        rest = f"reading it until it is quiet for {self._quiet_s:g} s" if links else "read it to its end"
        if st is None:
            self._notice(f"{s.name}: moved away; {rest}, waiting for a new file under this name")
        elif stat.S_ISREG(st.st_mode):
            self._notice(f"{s.name}: rotated; {rest.replace('it', 'the old file', 1)}, following the new one")
            new = self._open(s.path, s.name)
            if new is not None:
                used += self._visit(new, out, budget - used)
        else:
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "something that is not a regular file"
            self._notice(f"{s.name}: replaced by {kind}; {rest.replace('it', 'the old file', 1)}, no longer followed")
        return used

    def _truncated(self, s: _Stream, out: list[FollowedBatch], size: int) -> None:
        self._flush(s, out)
        s.counters.truncations += 1
        self._notice(f"{s.name}: truncated to {size} bytes (we had read {s.pos}); reading again from the start")
        s.pos = s.offset = 0
        s.line, s.fingerprint, s.last, s.last_byte = 1, None, None, b""
        s.file.seek(0)

    def _read(self, s: _Stream, out: list[FollowedBatch], budget: int) -> tuple[int, bool]:
        """Read up to `budget` bytes; returns the bytes read and whether the end was reached."""
        used = 0
        while used < budget:
            want = min(CHUNK_BYTES, budget - used)
            try:
                data = s.file.read(want)
            except OSError as err:
                self._read_failed(s, err)
                return used, True
            if not data:
                return used, True
            if self._problems:
                self._problems.pop(s.path, None)  # reading works again: tell the next failure
            used += len(data)
            s.pos += len(data)
            s.last_byte = data[-1:]
            s.active_at = self._clock()
            s.counters.bytes_read += len(data)
            self._consume(s, data, out)
            if len(data) < want:
                return used, True
        return used, False

    def _consume(self, s: _Stream, data: bytes, out: list[FollowedBatch]) -> None:
        """Deliver the lines that `data`, the bytes after those read before, completes."""
        if s.skipping:
            newline = data.find(b"\n")
            if newline < 0:
                s.offset += len(data)
                return
            s.offset += newline + 1
            data = data[newline + 1 :]
            s.skipping = False
            self._ended(s, 1)
        if s.mid_line and b"\n" in data:
            # the end of a line whose `\r` pieces went out already; a leading `\r`
            # makes read_batches treat it as such a line (blank pieces dropped)
            newline = data.index(b"\n")
            rest = s.partial + data[:newline]
            self._emit(s, b"\r" + rest, out)
            s.offset += len(rest) + 1
            s.partial, s.mid_line = b"", False
            self._ended(s, 1)
            data = data[newline + 1 :]
        cut = data.rfind(b"\n")
        if cut >= 0:
            block = s.partial + data[: cut + 1]
            self._emit(s, block, out)
            s.offset += len(block)
            self._ended(s, block.count(b"\n"))
            s.partial = data[cut + 1 :]
        else:
            s.partial += data
        self._hold(s, out)

    def _hold(self, s: _Stream, out: list[FollowedBatch]) -> None:
        """Deliver the held line's pieces ended by `\\r`, and cut it if it grew too long."""
        ret = s.partial.rfind(b"\r")
        if ret >= 0:
            pieces = s.partial[: ret + 1]
            self._emit(s, pieces, out)
            s.offset += len(pieces)
            s.partial, s.mid_line = s.partial[ret + 1 :], True
        if len(s.partial) > self._max_line_chars:  # as read_batches does: bytes beyond the cap are dropped
            self._emit(s, s.partial[: self._max_line_chars], out)
            s.stats.long_lines += 1
            s.counters.long_lines += 1
            s.offset += len(s.partial)
            s.partial, s.mid_line, s.skipping = b"", False, True

    def _flush(self, s: _Stream, out: list[FollowedBatch]) -> None:
        """Deliver the held line as a line: its file is about to be left or rewound."""
        if s.partial:
            self._emit(s, b"\r" + s.partial if s.mid_line else s.partial, out)
        if s.partial or s.mid_line or s.skipping:
            self._ended(s, 1)
        s.offset = s.pos
        s.partial, s.mid_line, s.skipping = b"", False, False

    def _ended(self, s: _Stream, lines: int) -> None:
        s.line += lines
        s.counters.lines += lines

    def _emit(self, s: _Stream, data: bytes, out: list[FollowedBatch]) -> None:
        long_lines = s.stats.long_lines
        for batch in read_batches(
            io.BytesIO(data), s.name, s.stats, first_line=s.line, max_line_chars=self._max_line_chars
        ):
            if batch.lines:
                out.append(FollowedBatch(s.name, s.path, batch))
        s.counters.long_lines += s.stats.long_lines - long_lines

    # -- bookkeeping -------------------------------------------------------

    def _mark(self, s: _Stream) -> _Mark:
        length = min(s.offset, FINGERPRINT_BYTES)
        try:
            if s.fingerprint is None or s.fingerprint[0] != length:
                s.fingerprint = (length, _fingerprint(s.file, length))
            if s.last is None or s.last[0] != s.offset:
                s.last = (s.offset, _last_digest(s.file, s.offset))
        except OSError:
            s.fingerprint, s.last = (length, ""), (s.offset, "")
        return _Mark(s.path, s.identity, s.fingerprint[1], s.offset, s.line, s.mid_line, s.skipping, last=s.last[1])

    def _remember(self, s: _Stream) -> None:
        """Keep the offset of a file rotated away, in case a pattern finds it under its new name."""
        self._marks[s.identity] = self._mark(s)
        self._marks.move_to_end(s.identity)
        while len(self._marks) > ROTATED_KEPT + len(self._saved_paths):
            self._marks.popitem(last=False)

    def _detach(self, s: _Stream) -> None:
        """No longer the file its path names (it stays open)."""
        if self._streams.get(s.path) is s:
            del self._streams[s.path]
        if self._identities.get(s.identity) == s.path:
            del self._identities[s.identity]

    def _close(self, s: _Stream) -> None:
        self._detach(s)
        with contextlib.suppress(OSError):
            s.file.close()

    def _load(self, state: dict[str, Any] | None) -> None:
        if state is None:
            return
        files = state.get("files") if isinstance(state, dict) else None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION or not isinstance(files, dict):
            self._notice("ignoring the saved follow state (not this version's); starting as if fresh")
            return
        self._has_state = True
        rotated = state.get("rotated") if isinstance(state.get("rotated"), list) else []
        entries = [(d.get("path"), d, False) for d in rotated if isinstance(d, dict)]
        bad = len(rotated) - len(entries)
        for path, data, followed in entries + [(path, data, True) for path, data in files.items()]:
            mark = _Mark.from_json(path, data)
            if mark is None:
                bad += 1
                continue
            self._marks[mark.identity] = mark
            if followed:  # the file this path named when the state was saved
                self._saved_paths[path] = mark
        if bad:
            self._notice(f"ignoring {bad} malformed entries of the saved follow state")

    def _notice(self, message: str) -> None:
        self._notices.append(message)

    def _problem(self, key: str, message: str) -> None:
        """A notice for a lasting problem, told again only when it changes."""
        if self._problems.get(key) != message:
            self._problems[key] = message
            self._notice(message)

    def _open_failed(self, path: str, name: str, err: OSError) -> None:
        self._counters.setdefault(path, FileCounters()).read_errors += 1
        self._problem(path, f"{name}: cannot open ({_reason(err)}); will retry")

    def _read_failed(self, s: _Stream, err: OSError) -> None:
        s.counters.read_errors += 1
        self._problem(s.path, f"{s.name}: cannot read ({_reason(err)}); will retry")

    def _skip(self, path: str, name: str, identity: Identity, why: str) -> None:
        self._skipped[path] = identity
        self._notice(f"{name}: {why}")


MAX_STATE_BYTES = 64 << 20
"""A state file larger than this is not read (a fresh start); the state of a node's runs is far smaller."""


class StateRefused(OSError):
    """The state file is not safe to load: another user owns it, or others may write it."""


def save_state(path: str, snapshot: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Write a follower's snapshot and the caller's own state as JSON, atomically.

    A temporary file in the same directory is written, synced and renamed over
    `path`, so a crash leaves the old state or the new one, never half of one.
    The file is private (mode 0600, whatever the umask), as `load_state` wants it.

    Raises:
        OSError: it could not be written (the previous file is left as it was).
        TypeError, ValueError: `extra` holds something strict JSON cannot encode.
    """
    with replacing(path, mode=0o600) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        json.dump({"version": STATE_VERSION, "follow": snapshot, "extra": extra}, stream, allow_nan=False)
        stream.flush()
        os.fsync(stream.fileno())


def _unsafe(info: os.stat_result) -> str | None:
    """Why a state file with this `fstat` must not be loaded, else None."""
    if info.st_uid != os.geteuid():
        return f"it is owned by user id {info.st_uid}, not by this user ({os.geteuid()})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"others may write it (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def _read_state(path: str) -> bytes:
    """The state file's bytes, checked on the open descriptor (no race with a swapped path).

    Raises:
        StateRefused: another user owns it, or group or others may write it.
        FileNotFoundError, OSError: it cannot be read.
        ValueError: it is not a regular file, or is larger than `MAX_STATE_BYTES`.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))  # a FIFO must not block us
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        unsafe = _unsafe(info)
        if unsafe is not None:
            raise StateRefused(f"refusing the state file {path}: {unsafe}; a state file is loaded only when it "
                               "is this user's and no one else may write it (chmod 600 it, or choose another "
                               "--state path)")
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        data = stream.read(MAX_STATE_BYTES + 1)
    if len(data) > MAX_STATE_BYTES:
        raise ValueError(f"larger than {MAX_STATE_BYTES >> 20} MiB")
    return data


def load_state(path: str, notices: list[str] | None = None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Read what `save_state` wrote: (follower state, extra).

    A missing, unreadable, oversized or corrupt file (bad JSON, JSON nested
    too deep, the wrong shape) gives (None, None) and a message appended to
    `notices`: a fresh start.

    Raises:
        StateRefused: the file belongs to another user or others may write it.
            Loading it would let them choose what this monitor believes (and
            skip lines), so the caller stops with the message rather than
            start afresh and overwrite someone else's file.
    """
    try:
        data = json.loads(_read_state(path))
    except FileNotFoundError:
        data, why = None, "no saved state yet"
    except StateRefused:
        raise
    except (OSError, ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        reason = _reason(err) if isinstance(err, OSError) else "nested too deep" if isinstance(
            err, RecursionError) else str(err)[:200]
        data, why = None, f"cannot read the saved state ({reason})"
    else:
        why = "not a saved state of this version"
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        if notices is not None:
            notices.append(f"{path}: {why}; starting afresh")
        return None, None
    follow, extra = data.get("follow"), data.get("extra")
    return (follow if isinstance(follow, dict) else None), (extra if isinstance(extra, dict) else None)
