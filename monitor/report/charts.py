"""Tiny inline SVG line charts for the HTML report, with no dependency.

`line_chart` draws one `<svg>` element: axes with four to six tick labels
(`axes.py`: one number format everywhere, clock times on a time axis), one
`<path>` per unbroken run of each series with a legend, and what happened to
the run on the same axes: incidents (faults, hangs, restarts, NaN) as a
vertical line with a symbol, one per class with a legend entry and a
`<title>` tooltip naming the event codes; outages as a shaded band where the
lines break instead of bridging the silence; loss spikes as small circles on
the curve. Non-finite values are gaps with a red tick at the top. Colours come
from CSS classes (`CHART_CSS`, which the page includes once) with
`currentColor` fallbacks, so a chart follows the page's light or dark theme.
The element carries no `xmlns`: it is meant to sit inside an HTML page.

It deliberately does not do interaction or a second y axis.
Lossy on purpose: a series of more than `MAX_POINTS` points is thinned to the
lowest and highest value of each of `BUCKETS` runs of consecutive points, so the
shape, the spikes and at least one gap per run survive, but not every point;
incidents of one class closer than `MERGE_PX` pixels share one symbol whose
tooltip lists them (at most `MAX_TOOLTIP_LINES`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from html import escape

from monitor.report.axes import Axis, linear_axis, log_axis, time_axis

MAX_POINTS = 2000
BUCKETS = 1000
TOP, RIGHT, BOTTOM, LEFT = 30, 30, 42, 64
SERIES_CLASSES = 6
MERGE_PX = 8.0
MAX_TOOLTIP_LINES = 12
# incident class -> legend name, symbol path drawn around (0, 0), row of the symbol under the top
INCIDENTS = {
    "fault": ("fault", "M-5,-4H5L0,5Z", 0),
    "hang": ("hang", "M-4,-4H4V4H-4Z", 1),
    "nan": ("NaN", "M0,-5L5,0L0,5L-5,0Z", 2),
    "restart": ("restart", "M-3.5,-5L5,0L-3.5,5Z", 3),
}

CHART_CSS = """
.chart { --s0: #2563eb; --s1: #d97706; --s2: #059669; --s3: #9333ea; --s4: #db2777; --s5: #0891b2;
  --bad: #dc2626; --mark: #ea580c; --hang: #b45309; --nan: #9333ea; max-width: 100%; height: auto;
  font: 12px system-ui, sans-serif; }
.chart text { fill: currentColor; stroke: none; }
.chart .title { font-weight: 600; font-size: 13px; }
.chart .muted { fill-opacity: .7; }
.chart .axis { stroke: currentColor; stroke-opacity: .55; }
.chart .grid { stroke: currentColor; stroke-opacity: .12; }
.chart .s0 { stroke: var(--s0); fill: var(--s0); } .chart .s1 { stroke: var(--s1); fill: var(--s1); }
.chart .s2 { stroke: var(--s2); fill: var(--s2); } .chart .s3 { stroke: var(--s3); fill: var(--s3); }
.chart .s4 { stroke: var(--s4); fill: var(--s4); } .chart .s5 { stroke: var(--s5); fill: var(--s5); }
.chart path.line, .chart line.key { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
.chart .restart { stroke: currentColor; stroke-opacity: .6; stroke-dasharray: 5 4; }
.chart .nonfinite { stroke: var(--bad); stroke-width: 2; }
.chart .marker { fill: var(--mark); stroke: Canvas; stroke-width: 1; }
.chart .marker-nan { fill: var(--bad); } .chart .marker-divergence { fill: var(--s3); }
.chart .outage { fill: currentColor; fill-opacity: .07; stroke: none; }
.chart .incident line { stroke-width: 1.3; stroke-opacity: .75; }
.chart .incident path { stroke: Canvas; stroke-width: 1; }
.chart .incident-fault line { stroke: var(--bad); } .chart .incident-fault path { fill: var(--bad); }
.chart .incident-hang line { stroke: var(--hang); stroke-dasharray: 2 3; }
.chart .incident-hang path { fill: var(--hang); }
.chart .incident-nan line { stroke: var(--nan); stroke-dasharray: 6 2 1 2; }
.chart .incident-nan path { fill: var(--nan); }
.chart .incident-restart line { stroke: currentColor; stroke-opacity: .6; stroke-dasharray: 5 4; }
.chart .incident-restart path { fill: currentColor; fill-opacity: .75; }
@media (prefers-color-scheme: dark) {
  .chart { --s0: #60a5fa; --s1: #fbbf24; --s2: #34d399; --s3: #c084fc; --s4: #f472b6; --s5: #22d3ee;
    --bad: #f87171; --mark: #fb923c; --hang: #fbbf24; --nan: #c084fc; }
}
"""


def line_chart(
    series: dict[str, list[list[float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    log_y: bool = False,
    vlines: Sequence[float] = (),
    markers: Sequence[tuple] = (),
    incidents: Sequence[tuple] = (),
    outages: Sequence[tuple] = (),
    x_range: Sequence[float] = (),
    x_time: bool = False,
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
        vlines: x positions of dashed vertical lines (restarts without an incident).
        markers: (x, y, tooltip) or (x, y, tooltip, kind) tuples; y nan/None puts the
            marker at the top; kind becomes the CSS class `marker-<kind>`.
        incidents: (x, class, tooltip) tuples, class one of `INCIDENTS` (others are left out):
            a vertical line and a symbol, and a legend entry per class present.
        outages: (x_from, x_to, tooltip) tuples: a shaded band, and no line crosses it.
        x_range: values the x axis must cover besides the data (the first and last time
            seen in the logs).
        x_time: x values are Unix seconds: clock-time ticks (UTC), no rounding of the range.
        width, height: the viewBox in pixels (the page may scale it down).

    Returns:
        One `<svg>` element; "no data" in the frame when there is nothing to draw.
    """
    lines = {name: _thin(_points(pairs, log_y)) for name, pairs in series.items()}
    spots = [_marker(m, log_y) for m in markers]
    marks = [m for m in (_incident(i) for i in incidents) if m is not None]
    bands = [b for b in (_outage(o) for o in outages) if b is not None]
    xs = [x for pts in lines.values() for x, _ in pts] + [_num(v) for v in vlines] + [m[0] for m in spots]
    xs += [m[0] for m in marks] + [x for b in bands for x in b[:2]] + [_num(v) for v in x_range]
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    ys = [y for pts in lines.values() for _, y in pts] + [m[1] for m in spots]
    ys = [y for y in ys if math.isfinite(y)]
    classes = [c for c in INCIDENTS if any(m[1] == c for m in marks)]
    head = _head(title, width, height) + _legend(list(lines), classes, width)
    if not xs:
        return head + _no_data(width, height) + "</svg>"
    x_axis = (time_axis if x_time else linear_axis)(xs, LEFT, width - RIGHT)
    y_axis = (log_axis if log_y else linear_axis)(ys or [0.0, 1.0], height - BOTTOM, TOP)
    body = [
        *(_band(b, x_axis, y_axis) for b in bands),
        _grid_and_ticks(x_axis, y_axis),
        _labels(x_label, y_label, width, height),
        *(_vline(x_axis, y_axis, v) for v in vlines),
        *(_series(i, pts, x_axis, y_axis, bands) for i, pts in enumerate(lines.values())),
        _nonfinite_ticks([x for pts in lines.values() for x, y in pts if not math.isfinite(y)], x_axis, y_axis),
        *(_marker_dot(m, x_axis, y_axis) for m in spots),
        _incidents(marks, x_axis, y_axis),
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


def _head(title: str, width: int, height: int) -> str:
    text = escape(title, quote=True)
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{text}" font-family="sans-serif" font-size="12">'
            f'<title>{text}</title><text class="title" x="{LEFT}" y="18">{text}</text>')


def _incident(incident: tuple) -> tuple[float, str, str] | None:
    """(x, class, tooltip); None for an unknown class or an x that is not a finite number."""
    x = _num(incident[0]) if len(incident) > 0 else None
    css = str(incident[1]) if len(incident) > 1 else ""
    if x is None or not math.isfinite(x) or css not in INCIDENTS:
        return None
    return (x, css, str(incident[2]) if len(incident) > 2 else css)


def _outage(outage: tuple) -> tuple[float, float, str] | None:
    """(x_from, x_to, tooltip) with x_from < x_to; None when not two finite numbers."""
    a = _num(outage[0]) if len(outage) > 0 else None
    b = _num(outage[1]) if len(outage) > 1 else None
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or a == b:
        return None
    return (min(a, b), max(a, b), str(outage[2]) if len(outage) > 2 else "")


def _legend(names: list[str], classes: list[str], width: int) -> str:
    """Series names at the top right, each after a short line in its colour, then the incident classes
    shown, each after its symbol."""
    sizes = [26 + 7 * len(name) for name in names] + [22 + 7 * len(INCIDENTS[c][0]) for c in classes]
    x = width - RIGHT - sum(sizes)
    out = []
    for i, (name, size) in enumerate(zip(names, sizes)):
        css = f"s{i % SERIES_CLASSES}"
        out.append(f'<line class="key {css}" x1="{x}" y1="14" x2="{x + 16}" y2="14" stroke="currentColor"/>'
                   f'<text x="{x + 20}" y="18">{escape(name, quote=True)}</text>')
        x += size
    for css, size in zip(classes, sizes[len(names):]):
        name, symbol, _ = INCIDENTS[css]
        out.append(f'<g class="incident incident-{css} key"><path d="{symbol}" transform="translate({x + 6} 14)" '
                   f'fill="currentColor"/></g><text x="{x + 15}" y="18">{name}</text>')
        x += size
    return "".join(out)


def _no_data(width: int, height: int) -> str:
    return (f'<rect class="axis" x="{LEFT}" y="{TOP}" width="{width - LEFT - RIGHT}" '
            f'height="{height - TOP - BOTTOM}" fill="none" stroke="currentColor"/>'
            f'<text class="muted" x="{width / 2:.0f}" y="{(height + TOP - BOTTOM) / 2:.0f}" '
            f'text-anchor="middle">no data</text>')


def _grid_and_ticks(x_axis: Axis, y_axis: Axis) -> str:
    """Horizontal grid lines with y labels, x tick marks with labels, and the two axes."""
    out = []
    for tick, label in zip(y_axis.ticks, y_axis.labels):
        y = y_axis.at(tick)
        out.append(f'<line class="grid" x1="{x_axis.start}" y1="{y:.1f}" x2="{x_axis.end}" y2="{y:.1f}" '
                   f'stroke="currentColor" stroke-opacity=".12"/>'
                   f'<text x="{x_axis.start - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    for tick, label in zip(x_axis.ticks, x_axis.labels):
        x = x_axis.at(tick)
        out.append(f'<line class="axis" x1="{x:.1f}" y1="{y_axis.start}" x2="{x:.1f}" y2="{y_axis.start + 5}" '
                   f'stroke="currentColor"/>'
                   f'<text x="{x:.1f}" y="{y_axis.start + 18}" text-anchor="middle">{escape(label)}</text>')
    out.append(f'<path class="axis" d="M{x_axis.start} {y_axis.end}V{y_axis.start}H{x_axis.end}" '
               f'fill="none" stroke="currentColor"/>')
    return "".join(out)


def _labels(x_label: str, y_label: str, width: int, height: int) -> str:
    middle = (height + TOP - BOTTOM) / 2
    return (f'<text class="muted" x="{(width + LEFT - RIGHT) / 2:.0f}" y="{height - 6}" '
            f'text-anchor="middle">{escape(x_label, quote=True)}</text>'
            f'<text class="muted" transform="translate(14 {middle:.0f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label, quote=True)}</text>')


def _vline(x_axis: Axis, y_axis: Axis, value: object) -> str:
    x = _num(value)
    if x is None or not math.isfinite(x):
        return ""
    px = x_axis.at(x)
    return (f'<line class="restart" x1="{px:.1f}" y1="{y_axis.end}" x2="{px:.1f}" y2="{y_axis.start}" '
            f'stroke="currentColor" stroke-dasharray="5 4"><title>restart at {x:,.6g}</title></line>')


def _series(index: int, points: list[tuple[float, float]], x_axis: Axis, y_axis: Axis,
            bands: Sequence[tuple[float, float, str]] = ()) -> str:
    """One path per unbroken run (a gap, an outage or a step back in x ends a run); a lone point is a dot."""
    css = f"s{index % SERIES_CLASSES}"
    out = []
    for run in _runs(points, bands):
        coords = [(x_axis.at(x), y_axis.at(y)) for x, y in run]
        if len(coords) == 1:
            out.append(f'<circle class="{css}" cx="{coords[0][0]:.1f}" cy="{coords[0][1]:.1f}" r="3.2" '
                       f'fill="currentColor"/>')
        else:
            path = "L".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<path class="line {css}" d="M{path}" fill="none" stroke="currentColor"/>')
    return "".join(out)


def _runs(points: list[tuple[float, float]], bands: Sequence[tuple[float, float, str]] = ()
          ) -> list[list[tuple[float, float]]]:
    crosses = _Outages(bands).spanned
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        last = runs[-1][-1][0] if runs[-1] else None
        if not math.isfinite(y) or (last is not None and (x < last or crosses(last, x))):
            runs.append([])
        if math.isfinite(y):
            runs[-1].append((x, y))
    return [run for run in runs if run]


class _Outages:
    """Outage bands, sorted so that whether a segment spans a whole one costs a binary search: a
    band lies within [a, b] exactly when the earliest-ending band that starts at a or later ends by b."""

    def __init__(self, bands: Sequence[tuple[float, float, str]]) -> None:
        ordered = sorted((lo, hi) for lo, hi, _ in bands)
        self.starts = [lo for lo, _ in ordered]
        self.first_end = [math.inf] * (len(ordered) + 1)  # the lowest end among bands i and after
        for i in range(len(ordered) - 1, -1, -1):
            self.first_end[i] = min(ordered[i][1], self.first_end[i + 1])

    def spanned(self, a: float, b: float) -> bool:
        """Whether the segment from x=a to x=b spans a whole outage (so it must not be drawn)."""
        return a == a and self.first_end[bisect.bisect_left(self.starts, a)] <= b  # a NaN spans nothing


def _band(band: tuple[float, float, str], x_axis: Axis, y_axis: Axis) -> str:
    left, right = x_axis.at(band[0]), x_axis.at(band[1])
    return (f'<rect class="outage" x="{left:.1f}" y="{y_axis.end}" width="{max(right - left, 1.0):.1f}" '
            f'height="{y_axis.start - y_axis.end}" fill="currentColor" fill-opacity=".07">'
            f'<title>{escape(band[2], quote=True)}</title></rect>')


def _nonfinite_ticks(xs: list[float], x_axis: Axis, y_axis: Axis) -> str:
    """A short red tick at the top for each non-finite value (one per pixel column)."""
    columns = sorted({round(x_axis.at(x)) for x in xs})
    return "".join(f'<line class="nonfinite" x1="{px}" y1="{y_axis.end}" x2="{px}" y2="{y_axis.end + 8}" '
                   f'stroke="red"><title>non-finite value</title></line>' for px in columns)


def _marker_dot(marker: tuple[float, float, str, str], x_axis: Axis, y_axis: Axis) -> str:
    x, y, text, kind = marker
    if not math.isfinite(x):
        return ""
    py = y_axis.at(y) if math.isfinite(y) else y_axis.end + 4
    css = "".join(c for c in kind.lower() if c.isalnum() or c in "_-")
    return (f'<circle class="marker marker-{css}" cx="{x_axis.at(x):.1f}" cy="{py:.1f}" r="4" fill="currentColor">'
            f'<title>{escape(text, quote=True)}</title></circle>')


def _incidents(marks: list[tuple[float, str, str]], x_axis: Axis, y_axis: Axis) -> str:
    """Per class, incidents closer than MERGE_PX pixels share one line and symbol; the tooltip lists them."""
    out = []
    for css, (_, symbol, row) in INCIDENTS.items():
        groups: list[list[tuple[float, str]]] = []
        for x, text in sorted((x_axis.at(x), text) for x, c, text in marks if c == css):
            if groups and x - groups[-1][0][0] < MERGE_PX:
                groups[-1].append((x, text))
            else:
                groups.append([(x, text)])
        for group in groups:
            px = group[0][0]
            texts = [text for _, text in group[:MAX_TOOLTIP_LINES]]
            if len(group) > MAX_TOOLTIP_LINES:
                texts.append(f"… and {len(group) - MAX_TOOLTIP_LINES:,} more")
            tip = escape("\n".join(texts), quote=True)
            top = y_axis.end + 7 + 11 * row
            out.append(f'<g class="incident incident-{css}"><title>{tip}</title>'
                       f'<line x1="{px:.1f}" y1="{y_axis.end}" x2="{px:.1f}" y2="{y_axis.start}" '
                       f'stroke="currentColor"/><path d="{symbol}" transform="translate({px:.1f} {top})" '
                       f'fill="currentColor"/></g>')
    return "".join(out)
