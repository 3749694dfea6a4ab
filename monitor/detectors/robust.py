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

_MAD_TO_SIGMA = 1.4826 / math.sqrt(2.0)


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
        values = [math.log(v) for v in self.values if v > 0]
        if len(values) < 3:
            return None
        diffs = [abs(b - a) for a, b in zip(values, values[1:])]
        return _MAD_TO_SIGMA * statistics.median(diffs)

    def threshold(self, z: float, min_ratio: float, short_ratio: float, noise_records: int) -> float:
        """How far above the level (in log units) a value must be to stand out."""
        noise = self.noise() if len(self.values) >= noise_records else None
        if noise is None:
            return math.log(short_ratio)
        return max(math.log(min_ratio), z * noise)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Baseline) and list(self.values) == list(other.values) and (
            self._median, self._block) == (other._median, other._block)

    def __repr__(self) -> str:
        return f"Baseline({list(self.values)!r})"
