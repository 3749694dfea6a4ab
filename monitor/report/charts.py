"""Tiny inline SVG line charts for the HTML report, with no dependency.

`line_chart` draws one `<svg>` element: axes with four to six tick labels, one
polyline per series with a legend, dashed vertical lines (restarts), small
circles with a tooltip (markers), and non-finite values as gaps with a red tick
at the top. Colours come from CSS classes (`CHART_CSS`, which the page includes
once) with `currentColor` fallbacks, so a chart follows the page's light or dark
theme. The element carries no `xmlns`: it is meant to sit inside an HTML page.

It deliberately does not do interaction, dates on the x axis or a second y axis.
Lossy on purpose: a series of more than `MAX_POINTS` points is thinned to the
lowest and highest value of each of `BUCKETS` runs of consecutive points, so the
shape, the spikes and at least one gap per run survive, but not every point.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from html import escape

MAX_POINTS = 2000
BUCKETS = 1000
TOP, RIGHT, BOTTOM, LEFT = 30, 30, 42, 64
SERIES_CLASSES = 6

CHART_CSS = """
.chart { --s0: #2563eb; --s1: #d97706; --s2: #059669; --s3: #9333ea; --s4: #db2777; --s5: #0891b2;
  --bad: #dc2626; --mark: #ea580c; max-width: 100%; height: auto; font: 12px system-ui, sans-serif; }
.chart text { fill: currentColor; stroke: none; }
.chart .title { font-weight: 600; font-size: 13px; }
.chart .muted { fill-opacity: .7; }
.chart .axis { stroke: currentColor; stroke-opacity: .55; }
.chart .grid { stroke: currentColor; stroke-opacity: .12; }
.chart .s0 { stroke: var(--s0); fill: var(--s0); } .chart .s1 { stroke: var(--s1); fill: var(--s1); }
.chart .s2 { stroke: var(--s2); fill: var(--s2); } .chart .s3 { stroke: var(--s3); fill: var(--s3); }
.chart .s4 { stroke: var(--s4); fill: var(--s4); } .chart .s5 { stroke: var(--s5); fill: var(--s5); }
.chart polyline.line, .chart line.key { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
.chart .restart { stroke: currentColor; stroke-opacity: .6; stroke-dasharray: 5 4; }
.chart .nonfinite { stroke: var(--bad); stroke-width: 2; }
.chart .marker { fill: var(--mark); stroke: Canvas; stroke-width: 1; }
.chart .marker-nan { fill: var(--bad); } .chart .marker-divergence { fill: var(--s3); }
@media (prefers-color-scheme: dark) {
  .chart { --s0: #60a5fa; --s1: #fbbf24; --s2: #34d399; --s3: #c084fc; --s4: #f472b6; --s5: #22d3ee;
    --bad: #f87171; --mark: #fb923c; }
}
"""


@dataclasses.dataclass(frozen=True, slots=True)
class _Axis:
    """A linear map from data values `lo..hi` to pixels `start..end`, with its ticks."""

    lo: float
    hi: float
    start: float
    end: float
    ticks: tuple[float, ...]
    step: float

    def at(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def line_chart(
    series: dict[str, list[list[float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    log_y: bool = False,
    vlines: Sequence[float] = (),
    markers: Sequence[tuple] = (),
    width: int = 900,
    height: int = 260,
) -> str:
    """One SVG line chart as a string.

    Args:
        series: name -> [[x, y], ...] in drawing order; y may be nan/inf (or the strings
            "nan", "inf"), drawn as a gap with a red tick at the top. A step back in x
            (a restart) also starts a new line. Pairs that are not two numbers are skipped.
        title, x_label, y_label: plain text (escaped here).
        log_y: a log10 y axis; values <= 0 are left out.
        vlines: x positions of dashed vertical lines (restarts).
        markers: (x, y, tooltip) or (x, y, tooltip, kind) tuples; y nan/None puts the
            marker at the top; kind becomes the CSS class `marker-<kind>`.
        width, height: the viewBox in pixels (the page may scale it down).

    Returns:
        One `<svg>` element; "no data" in the frame when there is nothing to draw.
    """
    lines = {name: _thin(_points(pairs, log_y)) for name, pairs in series.items()}
    spots = [_marker(m, log_y) for m in markers]
    xs = [x for pts in lines.values() for x, _ in pts] + [_num(v) for v in vlines] + [m[0] for m in spots]
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    ys = [y for pts in lines.values() for _, y in pts] + [m[1] for m in spots]
    ys = [y for y in ys if math.isfinite(y)]
    head = _head(title, width, height) + _legend(list(lines), width)
    if not xs:
        return head + _no_data(width, height) + "</svg>"
    x_axis = _axis(xs, LEFT, width - RIGHT)
    y_axis = (_log_axis if log_y else _axis)(ys or [0.0, 1.0], height - BOTTOM, TOP)
    body = [
        _grid_and_ticks(x_axis, y_axis, log_y),
        _labels(x_label, y_label, width, height),
        *(_vline(x_axis, y_axis, v) for v in vlines),
        *(_series(i, pts, x_axis, y_axis) for i, pts in enumerate(lines.values())),
        _nonfinite_ticks([x for pts in lines.values() for x, y in pts if not math.isfinite(y)], x_axis, y_axis),
        *(_marker_dot(m, x_axis, y_axis) for m in spots),
    ]
    return head + "".join(body) + "</svg>"


def _num(value: object) -> float | None:
    """A float from a number or a numeric string ("nan", "inf"); None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _points(pairs: Iterable, log_y: bool) -> list[tuple[float, float]]:
    """Clean (x, y) pairs: x finite, y finite or nan (a gap); log10(y) on a log axis."""
    out = []
    for pair in pairs or ():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        x, y = _num(pair[0]), _num(pair[1])
        if x is None or y is None or not math.isfinite(x):
            continue
        if not math.isfinite(y):
            out.append((x, math.nan))
        elif not log_y:
            out.append((x, y))
        elif y > 0:
            out.append((x, math.log10(y)))
    return out


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """At most about 2 * BUCKETS points: per run of consecutive points, the lowest and highest
    finite value and the first non-finite one, in their original order."""
    if len(points) <= MAX_POINTS:
        return points
    size = math.ceil(len(points) / BUCKETS)
    out = []
    for start in range(0, len(points), size):
        chunk = list(enumerate(points[start:start + size]))
        finite = [(i, p) for i, p in chunk if math.isfinite(p[1])]
        gaps = [(i, p) for i, p in chunk if not math.isfinite(p[1])]
        keep = dict(gaps[:1])
        if finite:
            keep.update([min(finite, key=lambda ip: ip[1][1]), max(finite, key=lambda ip: ip[1][1])])
        out.extend(p for _, p in sorted(keep.items()))
    return out


def _marker(marker: tuple, log_y: bool) -> tuple[float, float, str, str]:
    """(x, y, tooltip, kind) with y nan when unknown or not drawable on the axis."""
    x = _num(marker[0]) if len(marker) > 0 else None
    y = _num(marker[1]) if len(marker) > 1 else None
    if y is not None and log_y:
        y = math.log10(y) if math.isfinite(y) and y > 0 else None
    text = str(marker[2]) if len(marker) > 2 else ""
    kind = str(marker[3]) if len(marker) > 3 else ""
    return (math.nan if x is None else x, math.nan if y is None else y, text, kind)


def _axis(values: list[float], start: float, end: float) -> _Axis:
    lo, hi = min(values), max(values)
    if hi - lo <= abs(hi) * 1e-12:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    lo, hi, ticks, step = _ticks(lo, hi)
    return _Axis(lo, hi, start, end, ticks, step)


def _log_axis(values: list[float], start: float, end: float) -> _Axis:
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
            return _Axis(ticks[0], ticks[-1], start, end, ticks, 1.0)
    first, last, linear, step = _ticks(10.0**lo, 10.0**hi)
    ticks = tuple(math.log10(t) for t in linear if t > 0)
    return _Axis(min(ticks[0], lo), ticks[-1], start, end, ticks, step)


def _ticks(lo: float, hi: float) -> tuple[float, float, tuple[float, ...], float]:
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


def _tick_labels(ticks: Sequence[float], step: float, log_y: bool = False) -> list[str]:
    """Short labels, just precise enough to tell the ticks apart (k, M, G for big values)."""
    if log_y:
        return [_short(10.0**t) for t in ticks]
    top = max(abs(t) for t in ticks)
    if 0 < top < 1e-3:
        return [f"{t:.1e}" for t in ticks]
    suffixes = ((1e9, "G"), (1e6, "M"), (1e3, "k"))
    scale, suffix = next(((s, x) for s, x in suffixes if top >= 2 * s and step * 10 >= s), (1.0, ""))
    for digits in range(7):
        labels = [f"{t / scale:,.{digits}f}" for t in ticks]
        if all(abs(float(label.replace(",", "")) * scale - t) <= step * 1e-6 for label, t in zip(labels, ticks)):
            break
    return [_trim(label) + suffix if float(label.replace(",", "")) else "0" for label in labels]


def _trim(label: str) -> str:
    """'2.50' -> '2.5', '10.0' -> '10'."""
    return label.rstrip("0").rstrip(".") if "." in label else label


def _short(value: float) -> str:
    """A number in three significant digits with a k/M/G suffix."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.2g}" if 0 < abs(value) < 1e-3 else f"{value:.3g}"


def _head(title: str, width: int, height: int) -> str:
    text = escape(title, quote=True)
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{text}" font-family="sans-serif" font-size="12">'
            f'<title>{text}</title><text class="title" x="{LEFT}" y="18">{text}</text>')


def _legend(names: list[str], width: int) -> str:
    """Series names at the top right, each after a short line in its colour."""
    sizes = [26 + 7 * len(name) for name in names]
    x = width - RIGHT - sum(sizes)
    out = []
    for i, (name, size) in enumerate(zip(names, sizes)):
        css = f"s{i % SERIES_CLASSES}"
        out.append(f'<line class="key {css}" x1="{x}" y1="14" x2="{x + 16}" y2="14" stroke="currentColor"/>'
                   f'<text x="{x + 20}" y="18">{escape(name, quote=True)}</text>')
        x += size
    return "".join(out)


def _no_data(width: int, height: int) -> str:
    return (f'<rect class="axis" x="{LEFT}" y="{TOP}" width="{width - LEFT - RIGHT}" '
            f'height="{height - TOP - BOTTOM}" fill="none" stroke="currentColor"/>'
            f'<text class="muted" x="{width / 2:.0f}" y="{(height + TOP - BOTTOM) / 2:.0f}" '
            f'text-anchor="middle">no data</text>')


def _grid_and_ticks(x_axis: _Axis, y_axis: _Axis, log_y: bool) -> str:
    """Horizontal grid lines with y labels, x tick marks with labels, and the two axes."""
    out = []
    for tick, label in zip(y_axis.ticks, _tick_labels(y_axis.ticks, y_axis.step, log_y)):
        y = y_axis.at(tick)
        out.append(f'<line class="grid" x1="{x_axis.start}" y1="{y:.1f}" x2="{x_axis.end}" y2="{y:.1f}" '
                   f'stroke="currentColor" stroke-opacity=".12"/>'
                   f'<text x="{x_axis.start - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for tick, label in zip(x_axis.ticks, _tick_labels(x_axis.ticks, x_axis.step)):
        x = x_axis.at(tick)
        out.append(f'<line class="axis" x1="{x:.1f}" y1="{y_axis.start}" x2="{x:.1f}" y2="{y_axis.start + 5}" '
                   f'stroke="currentColor"/>'
                   f'<text x="{x:.1f}" y="{y_axis.start + 18}" text-anchor="middle">{label}</text>')
    out.append(f'<path class="axis" d="M{x_axis.start} {y_axis.end}V{y_axis.start}H{x_axis.end}" '
               f'fill="none" stroke="currentColor"/>')
    return "".join(out)


def _labels(x_label: str, y_label: str, width: int, height: int) -> str:
    middle = (height + TOP - BOTTOM) / 2
    return (f'<text class="muted" x="{(width + LEFT - RIGHT) / 2:.0f}" y="{height - 6}" '
            f'text-anchor="middle">{escape(x_label, quote=True)}</text>'
            f'<text class="muted" transform="translate(14 {middle:.0f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label, quote=True)}</text>')


def _vline(x_axis: _Axis, y_axis: _Axis, value: object) -> str:
    x = _num(value)
    if x is None or not math.isfinite(x):
        return ""
    px = x_axis.at(x)
    return (f'<line class="restart" x1="{px:.1f}" y1="{y_axis.end}" x2="{px:.1f}" y2="{y_axis.start}" '
            f'stroke="currentColor" stroke-dasharray="5 4"><title>restart at {_short(x)}</title></line>')


def _series(index: int, points: list[tuple[float, float]], x_axis: _Axis, y_axis: _Axis) -> str:
    """One polyline per unbroken run (a gap or a step back in x ends a run); a lone point is a dot."""
    css = f"s{index % SERIES_CLASSES}"
    out = []
    for run in _runs(points):
        coords = [(x_axis.at(x), y_axis.at(y)) for x, y in run]
        if len(coords) == 1:
            out.append(f'<circle class="{css}" cx="{coords[0][0]:.1f}" cy="{coords[0][1]:.1f}" r="2.2" '
                       f'fill="currentColor"/>')
        else:
            text = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline class="line {css}" points="{text}" fill="none" stroke="currentColor"/>')
    return "".join(out)


def _runs(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if not math.isfinite(y) or (runs[-1] and x < runs[-1][-1][0]):
            runs.append([])
        if math.isfinite(y):
            runs[-1].append((x, y))
    return [run for run in runs if run]


def _nonfinite_ticks(xs: list[float], x_axis: _Axis, y_axis: _Axis) -> str:
    """A short red tick at the top for each non-finite value (one per pixel column)."""
    columns = sorted({round(x_axis.at(x)) for x in xs})
    return "".join(f'<line class="nonfinite" x1="{px}" y1="{y_axis.end}" x2="{px}" y2="{y_axis.end + 8}" '
                   f'stroke="red"><title>non-finite value</title></line>' for px in columns)


def _marker_dot(marker: tuple[float, float, str, str], x_axis: _Axis, y_axis: _Axis) -> str:
    x, y, text, kind = marker
    if not math.isfinite(x):
        return ""
    py = y_axis.at(y) if math.isfinite(y) else y_axis.end + 4
    css = "".join(c for c in kind.lower() if c.isalnum() or c in "_-")
    return (f'<circle class="marker marker-{css}" cx="{x_axis.at(x):.1f}" cy="{py:.1f}" r="4" fill="currentColor">'
            f'<title>{escape(text, quote=True)}</title></circle>')
