"""The axes of the report's charts: where the ticks go and how their labels read.

One rule for every number on every axis (x or y, linear or log): below 10,000
a plain number with thousands separators (`1,500`), from 10,000 up an SI suffix
(`15k`, `2.5M`, `1G`), under 0.001 scientific notation (`2.5e-4`); just as many
decimals as it takes to tell the ticks apart. A time axis (x values in Unix
seconds) ticks at round clock times and reads `HH:MM` in UTC (`HH:MM:SS` for
spans of a few minutes), with the date (`Mar 04`) where a day starts and on
their own once the span is long.

It deliberately does not do local time zones or calendar months (a 30-day step
is the longest).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence

SI_FROM = 1e4
SI_SUFFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
# round steps of a time axis, in seconds: 1 s ... 30 days
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
              86400, 172800, 604800, 1209600, 2592000)


@dataclasses.dataclass(frozen=True, slots=True)
class Axis:
    """A linear map from data values `lo..hi` to pixels `start..end`, with its ticks and their labels."""

    lo: float
    hi: float
    start: float
    end: float
    ticks: tuple[float, ...]
    step: float
    labels: tuple[str, ...] = ()

    def at(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def linear_axis(values: Sequence[float], start: float, end: float) -> Axis:
    """Four to six round ticks covering the values; the axis runs from the first tick to the last."""
    lo, hi = min(values), max(values)
    if hi - lo <= abs(hi) * 1e-12:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    lo, hi, ticks, step = round_ticks(lo, hi)
    return Axis(lo, hi, start, end, ticks, step, tuple(tick_labels(ticks, step)))


def log_axis(values: Sequence[float], start: float, end: float) -> Axis:
    """A log10 axis (values are already log10): ticks at 1-10-100, else 1-3-10 or 1-2-5, else at
    round linear values when the range is under a decade or so."""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.15, hi + 0.15
    for mantissas in ((1,), (1, 3), (1, 2, 5)):
        marks = [math.log10(m) + e for e in range(math.floor(lo) - 1, math.ceil(hi) + 2) for m in mantissas]
        below = max(t for t in marks if t <= lo + 1e-9)
        above = min(t for t in marks if t >= hi - 1e-9)
        ticks = tuple(t for t in marks if below <= t <= above)
        if len(ticks) > 6 and mantissas == (1,):
            stride = math.ceil((len(ticks) - 1) / 4)
            first, last = math.floor(below / stride) * stride, math.ceil(above / stride) * stride
            ticks = tuple(float(e) for e in range(first, last + 1, stride))
        if 4 <= len(ticks) <= 6:
            return Axis(ticks[0], ticks[-1], start, end, ticks, 1.0, tuple(tick_labels(ticks, 1.0, log=True)))
    _, _, linear, step = round_ticks(10.0**lo, 10.0**hi)
    kept = [t for t in linear if t > 0]
    ticks = tuple(math.log10(t) for t in kept)
    return Axis(min(ticks[0], lo), ticks[-1], start, end, ticks, step, tuple(tick_labels(kept, step)))


def time_axis(values: Sequence[float], start: float, end: float) -> Axis:
    """An axis over Unix seconds from the first value to the last, ticked at round UTC clock times."""
    lo, hi = min(values), max(values)
    if hi - lo < 1.0:
        lo, hi = lo - 30.0, hi + 30.0
    step = next((s for s in TIME_STEPS if len(_clock_ticks(lo, hi, s)) <= 6), TIME_STEPS[-1])
    ticks = _clock_ticks(lo, hi, step)
    return Axis(lo, hi, start, end, ticks, float(step), tuple(time_labels(ticks, step)))


def _clock_ticks(lo: float, hi: float, step: int) -> tuple[float, ...]:
    """The multiples of `step` seconds from lo to hi (whole days start at midnight UTC)."""
    return tuple(float(t) for t in range(math.ceil(lo / step) * step, math.floor(hi / step) * step + 1, step))


def round_ticks(lo: float, hi: float) -> tuple[float, float, tuple[float, ...], float]:
    """Round tick values (four to six) covering lo..hi: the tightest such axis."""
    raw = (hi - lo) / 4
    best = None
    for exponent in range(math.floor(math.log10(raw)) - 1, math.floor(math.log10(raw)) + 2):
        for mantissa in (1, 2, 2.5, 5):
            step = mantissa * 10.0**exponent
            first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
            count = last - first + 1
            if 4 <= count <= 6:
                key = ((last - first) * step, abs(count - 5))
                if best is None or key < best[0]:
                    best = (key, first, count, step)
    if best is None:
        return lo, hi, tuple(lo + i * (hi - lo) / 4 for i in range(5)), (hi - lo) / 4
    _, first, count, step = best
    ticks = tuple((first + i) * step for i in range(count))
    return ticks[0], ticks[-1], ticks, step


def tick_labels(ticks: Sequence[float], step: float, log: bool = False) -> list[str]:
    """Labels for linear ticks `step` apart (one scale for the axis), or for log10 ticks (`log`: each
    tick its own scale, as the values span decades)."""
    if log:
        return [number_label([10.0**t], abs(10.0**t) * 1e-3)[0] for t in ticks]
    return number_label(ticks, step)


def number_label(values: Sequence[float], step: float) -> list[str]:
    """Values shown by the module's one rule, with the fewest decimals that keep each within
    a millionth of `step` of its value."""
    top = max((abs(v) for v in values), default=0.0)
    if top == 0:
        return ["0" for _ in values]
    if top < 1e-3:
        return [_scientific(v, step) for v in values]
    scale, suffix = next(((s, x) for s, x in SI_SUFFIXES if top >= SI_FROM and top >= s), (1.0, ""))
    tolerance = abs(step) * 1e-6 or top * 1e-9
    labels = [f"{v / scale:,.6f}" for v in values]
    for digits in range(7):
        labels = [f"{v / scale:,.{digits}f}" for v in values]
        if all(abs(float(label.replace(",", "")) * scale - v) <= tolerance for label, v in zip(labels, values)):
            break
    return [_trim(label) + suffix if float(label.replace(",", "")) else "0" for label in labels]


def _scientific(value: float, step: float) -> str:
    """'2.5e-4', '1e-5': the mantissa trimmed, the exponent without padding."""
    if value == 0:
        return "0"
    for digits in range(6):
        text = f"{value:.{digits}e}"
        if abs(float(text) - value) <= abs(step) * 1e-6:
            break
    mantissa, _, exponent = text.partition("e")
    return f"{_trim(mantissa)}e{int(exponent)}"


def _trim(label: str) -> str:
    """'2.50' -> '2.5', '10.0' -> '10'."""
    return label.rstrip("0").rstrip(".") if "." in label else label


def time_labels(ticks: Sequence[float], step: float) -> list[str]:
    """`HH:MM` (`HH:MM:SS` under a minute's step) in UTC; `Mar 04` for daily steps; the date
    before the time on the first tick of each day when the axis spans more than one day."""
    stamps = [dt.datetime.fromtimestamp(t, dt.timezone.utc) for t in ticks]
    if step >= 86400:
        return [s.strftime("%b %d") for s in stamps]
    clock = "%H:%M:%S" if step < 60 else "%H:%M"
    days = {s.date() for s in stamps}
    out, seen = [], set()
    for s in stamps:
        dated = len(days) > 1 and s.date() not in seen
        seen.add(s.date())
        out.append(s.strftime(("%b %d " if dated else "") + clock))
    return out


def time_text(value: float | None, seconds: bool = True) -> str:
    """A Unix time as `YYYY-MM-DD HH:MM:SS UTC` ('?' when unknown), for tooltips and axis titles."""
    if value is None or not math.isfinite(value):
        return "?"
    stamp = dt.datetime.fromtimestamp(value, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d")
