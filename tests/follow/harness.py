"""What the follow scenarios share: an injected clock, file writes, and the delivered lines."""

from __future__ import annotations

import os
from collections.abc import Iterable
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
