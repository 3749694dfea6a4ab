"""A rolling robust baseline: median level and noise of the last few values, in log space.

Training metrics are noisy and heavy-tailed (an eval step, a bad batch), so
the baseline is the median of a window and the noise the median absolute
difference between consecutive values, scaled to a standard deviation
(1.4826 x MAD for Gaussian noise, divided by sqrt(2) because a difference
of two values carries the noise of both). Differences, not deviations from
the median, so a steadily falling loss curve does not look noisy.
"""

from __future__ import annotations

import collections
import math
import statistics
from collections.abc import Iterable, Sequence

import numpy as np

_MAD_TO_SIGMA = 1.4826 / math.sqrt(2.0)


_SPREAD_MULTIPLE = {2: 2.25, 3: 1.5}
"""Before a noise estimate: a value must stand this many times the range of the few values held above
their level (three losses that already range over 1.7x do not make a 2x value a spike). The range of
two values is narrower for the same noise (the expected range of n draws is 1.13 standard deviations
for two, 1.69 for three): two ask for 1.5 x 1.69 / 1.13 times theirs, the same bar in noise. Two
count only where asked (`pairs`): a loss is noisy from its first values, while step times are steady,
and two that differ are more often the start of a creep than noise."""


def spread_of(held: Iterable[float]) -> float | None:
    """The robust standard deviation of one value of `held`, or None with fewer than three (`noise_of`
    for the values themselves: a loss that goes negative has no logs)."""
    values = list(held)
    if len(values) < 3:
        return None
    return _MAD_TO_SIGMA * statistics.median(abs(b - a) for a, b in zip(values, values[1:]))


def noise_of(held: Iterable[float]) -> float | None:
    """The robust standard deviation of one log value of `held`, or None with fewer than three."""
    return spread_of(math.log(v) for v in held if v > 0)


def threshold_of(
    held: Sequence[float], z: float, min_ratio: float, short_ratio: float, noise_records: int, pairs: bool = False
) -> float:
    """How far above the level of `held` (in log units) a value must be to stand out."""
    noise = noise_of(held) if len(held) >= noise_records else None
    if noise is None:
        positive = [v for v in held if v > 0]
        spread = math.log(max(positive) / min(positive)) if len(positive) >= (2 if pairs else 3) else 0.0
        multiple = _SPREAD_MULTIPLE[min(len(positive), 3)] if spread else 0.0
        return max(math.log(short_ratio), multiple * spread)  # a few records: as far as they already range
    return max(math.log(min_ratio), z * noise)


class Baseline:
    """The last `size` accepted positive values (O(size) memory), judged in log space.

    The median is recomputed whenever a value arrives from a new block of
    `BLOCK_LINES` log lines, and with it a `gate`: a value at or below the
    gate cannot stand out, so the common case costs one comparison and one
    append per progress line; only a value above the gate pays for the exact
    median and the noise estimate. Refreshing by line number, not by count,
    keeps the state a function of the log alone, so a scan split into ranges
    reaches exactly the state of a serial one.
    """

    BLOCK_SHIFT = 4  # blocks of 16 lines

    def __init__(self, size: int, gate_ratio: float) -> None:
        self.values: collections.deque[float] = collections.deque(maxlen=max(1, size))
        self.gate_ratio = gate_ratio
        self.gate = -math.inf  # nothing passes before the first median
        self._median = 0.0
        self._block = -1

    def add(self, value: float, line: int | None) -> bool:
        """Keep `value` (printed at `line`); True when the median was refreshed."""
        self.values.append(value)
        block = (line or 0) >> self.BLOCK_SHIFT
        if block != self._block:
            self._block = block
            self.exact_level()
            return True
        return False

    def refreshes(self, values: Sequence[float], lines: Sequence[int | None]) -> tuple[list[int], list[float]]:
        """Where `extend(values, lines)` would refresh the median (indexes into `values`), and the
        medians it would take there; nothing changes."""
        if not values:
            return [], []
        blocks = np.asarray([line or 0 for line in lines], dtype=np.int64) >> self.BLOCK_SHIFT
        starts: list[int] = np.flatnonzero(np.diff(blocks, prepend=self._block) != 0).tolist()
        size = self.values.maxlen or 1
        held = list(self.values)[-size:]
        if len(held) == size and len(starts) > 8:  # every window is full: take the medians as arrays
            series = np.concatenate((np.asarray(held[1:], dtype=np.float64), np.asarray(values, dtype=np.float64)))
            windows = np.lib.stride_tricks.sliding_window_view(series, size)[starts]
            return starts, np.median(windows, axis=1).tolist()
        medians = []
        for i in starts:
            window = list(values[max(0, i + 1 - size):i + 1])
            if len(window) < size and held:
                window = held[-(size - len(window)):] + window
            medians.append(statistics.median(window))
        return starts, medians

    def extend(self, values: Sequence[float], lines: Sequence[int | None],
               refreshed: tuple[list[int], list[float]] | None = None) -> list[float]:
        """`add` each value in turn (printed at the same index of `lines`), at the cost of one
        median per refresh (`refreshed`: what `refreshes` said of them); the medians taken at the
        refreshes, in order."""
        if not values:
            return []
        _starts, medians = refreshed if refreshed is not None else self.refreshes(values, lines)
        self.values.extend(values)
        self._block = (lines[-1] or 0) >> self.BLOCK_SHIFT
        if medians:
            self._median = medians[-1]
            self.gate = self._median * self.gate_ratio
        return medians

    @property
    def median(self) -> float:
        """The (possibly slightly stale) median itself."""
        return self._median

    def level(self) -> float:
        """The log of the (possibly slightly stale) median."""
        return math.log(self._median) if self._median > 0 else -math.inf

    def exact_level(self) -> float:
        """The log of the median of the values now held."""
        self._median = statistics.median(self.values)
        self.gate = self._median * self.gate_ratio
        return self.level()

    def noise(self) -> float | None:
        """The robust standard deviation of one log value, or None with fewer than three values."""
        return noise_of(self.values)

    def threshold(
        self, z: float, min_ratio: float, short_ratio: float, noise_records: int, pairs: bool = False
    ) -> float:
        """How far above the level (in log units) a value must be to stand out."""
        return threshold_of(self.values, z, min_ratio, short_ratio, noise_records, pairs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Baseline) and list(self.values) == list(other.values) and (
            self._median, self._block) == (other._median, other._block)

    def __repr__(self) -> str:
        return f"Baseline({list(self.values)!r})"
