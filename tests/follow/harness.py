"""What the follow scenarios share: an injected clock, file writes, and the delivered lines."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from monitor.sources.follow import FollowedBatch, Follower


class Clock:
    """Monotonic time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = 1.0) -> None:
        self.now += seconds


def follow(patterns: Iterable[Path | str], clock: Clock, **kwargs: object) -> Follower:
    """A follower on `patterns` that rescans once a second of `clock`."""
    return Follower([str(p) for p in patterns], clock=clock, rescan_every=1.0, **kwargs)  # type: ignore[arg-type]


def append(path: Path, data: bytes | str) -> None:
    with open(path, "ab") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def lines(batches: list[FollowedBatch]) -> list[tuple[int, str]]:
    """(line number, text) of every delivered line, in order."""
    return [pair for followed in batches for pair in followed.batch.numbered()]


def named(batches: list[FollowedBatch]) -> list[tuple[str, int, str]]:
    """(file name, line number, text) of every delivered line, in order."""
    return [(os.path.basename(f.name), n, text) for f in batches for n, text in f.batch.numbered()]


class Writer(threading.Thread):
    """A training process logging fast: numbered marker lines at about `rate` lines a second.

    Lines go out in bursts of `burst` (one write and flush each), then the thread sleeps, so
    the follower polling in the test's thread gets its turn. `reopen()` makes it close its
    descriptor and open the path again (what a logger does after a rotation); `late` bursts
    are still written to the old descriptor first.
    """

    def __init__(self, path: Path, rate: float = 5000.0, burst: int = 50, prefix: str = "marker",
                 total: int | None = None) -> None:
        super().__init__(daemon=True)
        self.path, self.rate, self.burst, self.prefix, self.total = path, rate, burst, prefix, total
        self.written = 0
        self._halt = threading.Event()
        self._reopen: int | None = None  # bursts to write to the old descriptor before reopening
        self._truncate = False
        self._lock = threading.RLock()

    def line(self, n: int) -> str:
        return f"{self.prefix} {n} " + "x" * (n % 7) + "\n"  # lengths vary: no line boundary repeats by chance

    def run(self) -> None:
        handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - reopened on request
        try:
            while not self._halt.is_set() and (self.total is None or self.written < self.total):
                with self._lock:
                    count = self.burst if self.total is None else min(self.burst, self.total - self.written)
                    handle.write("".join(self.line(n) for n in range(self.written, self.written + count)))
                    handle.flush()
                    self.written += count
                    if self._reopen is not None:
                        self._reopen -= 1
                        if self._reopen < 0:
                            handle.close()
                            handle = open(self.path, "w" if self._truncate else "a", encoding="utf-8")  # noqa: SIM115
                            self._reopen = None
                time.sleep(self.burst / self.rate)
        finally:
            handle.close()

    def reopen(self, late: int = 0, truncate: bool = False) -> None:
        """After `late` more bursts to the open descriptor, open the path again (`truncate`: emptied,
        as `>` in a shell or a restarted process opening its log with "w" does)."""
        with self._lock:
            self._reopen, self._truncate = late, truncate

    def at(self) -> int:
        """Markers written so far (the writer is between bursts while this holds its lock)."""
        with self._lock:
            return self.written

    def paused(self) -> threading.RLock:
        """Hold this to keep the writer between two bursts."""
        return self._lock

    def finish(self) -> int:
        self._halt.set()
        self.join(timeout=30)
        return self.written


def markers(batches: list[FollowedBatch], prefix: str = "marker") -> list[int]:
    """The marker numbers delivered, in order."""
    return [int(text.split()[1]) for _, text in lines(batches) if text.startswith(prefix + " ")]


def tally(delivered: list[int], written: int) -> tuple[list[int], int]:
    """(markers lost, markers delivered more than once)."""
    seen = set(delivered)
    return [n for n in range(written) if n not in seen], len(delivered) - len(seen)


def fast_writer(tmp_path: Path, total: int, **kwargs: object) -> tuple[Path, Clock, Follower, Writer]:
    """An empty `train.log` followed from the start, and a writer already filling it with `total` markers."""
    log = tmp_path / "train.log"
    log.write_text("")
    clock = Clock()
    follower = follow([log], clock, **kwargs)
    writer = Writer(log, total=total)
    writer.start()
    return log, clock, follower, writer


def poll_until(follower: Follower, writer: Writer, written: int) -> list[FollowedBatch]:
    """Poll as fast as a busy agent would until the writer has written `written` lines."""
    out: list[FollowedBatch] = []
    while writer.at() < written:
        out += follower.poll()
        time.sleep(0.001)
    return out


def drain_while(follower: Follower, clock: Clock, running: Callable[[], bool], step: float = 0.01,
                rest: float = 60.0) -> list[FollowedBatch]:
    """Poll while `running()` (moving `clock` by `step` a poll), then for `rest` more seconds of it."""
    out: list[FollowedBatch] = []
    while running():
        out += follower.poll()
        clock.advance(step)
        time.sleep(0.001)
    for _ in range(int(rest / 1.0)):
        out += follower.poll()
        clock.advance(1.0)
    return out
