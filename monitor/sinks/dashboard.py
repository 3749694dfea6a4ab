"""The live view of `monitor tail` on a terminal: one row per rank, the recent events, totals.

`DashboardState` is what the live pipeline updates (records, events, hangs);
`Dashboard` renders it with rich's console protocol at whatever width the
terminal has, so a resize simply redraws; `monitor tail` shows it through
`rich.live.Live`, refreshed at most twice a second (quiet, no flicker).
Whatever comes from the logs (file names, codes, messages) reaches rich as
plain `Text` without control characters (`terminal.printable`), never as
markup.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from monitor.model import Event, Severity, StepRecord
from monitor.sinks.terminal import printable
from monitor.sinks.theme import severity_style

_BARS = "▁▂▃▄▅▆▇█"
_MAX_ROWS = 64


def sparkline(values: list[float], width: int = 24) -> str:
    """The last `width` values as block characters (non-finite values as `!`)."""
    values = values[-width:]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "!" * len(values)
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    return "".join(
        _BARS[min(len(_BARS) - 1, int((v - low) / span * (len(_BARS) - 1)))] if math.isfinite(v) else "!"
        for v in values
    )


@dataclasses.dataclass
class _Row:
    record: StepRecord
    arrived: float
    losses: collections.deque[float] = dataclasses.field(default_factory=lambda: collections.deque(maxlen=48))
    hanging: bool = False


class DashboardState:
    """What the live view shows; updated by the live pipeline."""

    def __init__(self, recent_events: int = 12) -> None:
        self.rows: dict[tuple[str, int | None], _Row] = {}
        self.events: collections.deque[Event] = collections.deque(maxlen=recent_events)
        self.totals: collections.Counter[Severity] = collections.Counter()

    def record(self, name: str, record: StepRecord, now: float) -> None:
        key = (name, record.rank)
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= _MAX_ROWS:
                return
            row = self.rows[key] = _Row(record, now)
        row.record, row.arrived = record, now
        if record.loss is not None:
            row.losses.append(record.loss)

    def event(self, event: Event) -> None:
        self.events.append(event)
        self.totals[event.severity] += 1

    def forget(self, name: str) -> None:
        """The file `name` is gone: its rows go too (and make room for others)."""
        for key in [key for key in self.rows if key[0] == name]:
            del self.rows[key]

    def hangs(self, hanging: set[tuple[str, int | None]]) -> None:
        for key, row in self.rows.items():
            row.hanging = key in hanging


class Dashboard:
    """The renderable."""

    def __init__(self, state: DashboardState, clock: Callable[[], float] = time.monotonic) -> None:
        self.state = state
        self.clock = clock

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        now = self.clock()
        ranks = Table(title="Ranks", title_justify="left", title_style="monitor.title", expand=True)
        ranks.add_column("File", no_wrap=True, overflow="ellipsis", ratio=1, min_width=8)
        for name, width in (("Rank", 4), ("Step", 7), ("Loss", 7)):
            ranks.add_column(name, justify="right", no_wrap=True, min_width=width)
        ranks.add_column("Loss trend", no_wrap=True, max_width=16, overflow="crop")
        for name, width in (("s/step", 6), ("Progress", 9)):
            ranks.add_column(name, justify="right", no_wrap=True, min_width=width)
        for (name, rank), row in sorted(self.state.rows.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
            record = row.record
            age = now - row.arrived
            ranks.add_row(
                Text(printable(Path(name).name if len(name) > 24 else name)),
                "-" if rank is None else str(rank),
                "-" if record.step is None else f"{record.step:,}",
                "-" if record.loss is None else f"{record.loss:.4g}",
                sparkline(list(row.losses), width=16),
                "-" if record.step_time_s is None else f"{record.step_time_s:.3g}",
                Text(f"{age:.0f}s ago" + ("  HUNG" if row.hanging else ""),
                     style=severity_style(Severity.ERROR) if row.hanging else ""),
            )
        events = Table(title="Recent events", title_justify="left", title_style="monitor.title", expand=True)
        events.add_column("Severity", no_wrap=True, min_width=8)
        events.add_column("Code", no_wrap=True, style="monitor.code", max_width=24, overflow="ellipsis")
        events.add_column("Where", no_wrap=True, overflow="ellipsis", max_width=28)
        events.add_column("Message", ratio=1, overflow="ellipsis", no_wrap=True, min_width=20)
        for event in reversed(self.state.events):
            events.add_row(
                Text(str(event.severity).upper(), style=severity_style(event.severity)),
                Text(printable(event.code or str(event.kind))),
                Text(printable(f"{Path(event.file or '-').name}:{event.line}")
                     + (f" r{event.rank}" if event.rank is not None else "")),
                Text(printable(event.message) + (f" (×{event.count})" if event.count and event.count > 1 else "")),
            )
        totals = Text("Events: ")
        for severity in sorted(Severity, reverse=True):
            totals.append(f"{self.state.totals[severity]} {severity}  ", style=severity_style(severity))
        yield Group(ranks, events, totals)
