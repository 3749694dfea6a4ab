"""The live dashboard renders at any width (rich's console protocol), colour off for comparison."""

from __future__ import annotations

import io
import math

from rich.console import Console

from monitor.model import Event, Kind, Severity
from monitor.sinks.dashboard import Dashboard, DashboardState, sparkline
from monitor.sinks.theme import THEME
from tests.detectors.records import step


def render(state: DashboardState, width: int, now: float) -> str:
    out = io.StringIO()
    Console(file=out, width=width, theme=THEME, color_system=None, force_terminal=False).print(
        Dashboard(state, clock=lambda: now)
    )
    return out.getvalue()


def test_sparkline_scales_to_the_range_and_marks_non_finite_values() -> None:
    assert sparkline([1.0, 2.0, 3.0]) == "▁▄█"
    assert sparkline([2.0, math.nan, 2.0]) == "▁!▁"
    assert len(sparkline([float(i) for i in range(100)], width=24)) == 24


def test_rows_events_and_totals_fit_any_width() -> None:
    state = DashboardState()
    for i in range(10):
        state.record("rank_3.log", step(100 + i, loss=3.0 - 0.1 * i, step_time_s=1.52, rank=3), now=50.0 + i)
    state.event(Event(kind=Kind.HANG, severity=Severity.ERROR, message="no progress for 5m 00s after step 109",
                      code="NO-PROGRESS", file="rank_3.log", line=10, rank=3))
    state.hangs({("rank_3.log", 3)})
    for width in (60, 100, 160):  # a resize is a redraw at the new width
        text = render(state, width, now=359.0)
        assert "NO-PROGRESS" in text and "1 error" in text
        assert all(len(line) <= width for line in text.splitlines())
    wide = render(state, 160, now=359.0)
    assert "109" in wide and "2.1" in wide and "300s ago  HUNG" in wide and "1.52" in wide
