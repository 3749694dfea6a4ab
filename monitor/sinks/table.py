"""The scan as a table for people: files, then events grouped by file,
coloured by severity, with totals.

Renderables follow rich's console protocol, so they draw at whatever width
the console offers and can be reused in reports. Colour follows the console:
none when stdout is not a terminal or NO_COLOR is set.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from monitor.model import Event, Severity, SourceSummary
from monitor.sinks.theme import severity_style


class FilesTable:
    """One row per scanned file: detected format, ranks and progress."""

    def __init__(self, summaries: Sequence[SourceSummary]) -> None:
        self.summaries = summaries

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(title="Files", title_justify="left", title_style="monitor.title", expand=False)
        table.add_column("File", style="monitor.file", overflow="fold")
        table.add_column("Format")
        table.add_column("Ranks", justify="right")
        table.add_column("Steps", justify="right")
        table.add_column("Last step", justify="right")
        table.add_column("Last loss", justify="right")
        for s in self.summaries:
            ranks = _ranks_text(sorted(s.ranks))
            table.add_row(
                s.file,
                s.format or Text("-", style="monitor.muted"),
                ranks,
                f"{s.steps:,}",
                "-" if s.last_step is None else f"{s.last_step:,}",
                "-" if s.last_loss is None else f"{s.last_loss:.4g}",
            )
        yield table


def _ranks_text(ranks: list[int]) -> str:
    if not ranks:
        return "-"
    if len(ranks) > 4:
        return f"{ranks[0]}–{ranks[-1]} ({len(ranks)})"
    return ",".join(map(str, ranks))


class EventsTable:
    """One file's events in line order, with what to do for the serious ones."""

    def __init__(self, file: str | None, events: Sequence[Event]) -> None:
        self.file = file
        self.events = events

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(
            title=Text(self.file or "-", style="monitor.file"), title_justify="left", expand=True
        )
        table.add_column("Severity", no_wrap=True)
        table.add_column("Kind", no_wrap=True)
        table.add_column("Code", style="monitor.code", no_wrap=True)
        table.add_column("Line", style="monitor.where", justify="right", no_wrap=True)
        table.add_column("Step", justify="right", no_wrap=True)
        table.add_column("Rank", justify="right", no_wrap=True)
        table.add_column("Message", ratio=1, overflow="fold")
        for event in self.events:
            message = Text(event.message)
            if event.action and event.severity >= Severity.WARNING:
                message.append("\n→ " + event.action, style="monitor.action")
            table.add_row(
                Text(str(event.severity).upper(), style=severity_style(event.severity)),
                str(event.kind),
                event.code or "",
                "" if event.line is None else str(event.line),
                "" if event.step is None else str(event.step),
                "" if event.rank is None else str(event.rank),
                message,
            )
        yield table


class Totals:
    """One line: how many events of each severity and kind."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.events:
            yield Text("No events.", style="monitor.muted")
            return
        by_severity = collections.Counter(e.severity for e in self.events)
        by_kind = collections.Counter(str(e.kind) for e in self.events)
        line = Text(f"{len(self.events)} event(s): ")
        parts = [(f"{by_severity[s]} {s}", severity_style(s)) for s in sorted(by_severity, reverse=True)]
        for i, (label, style) in enumerate(parts):
            line.append(("" if i == 0 else ", ") + label, style=style)
        line.append("  (" + ", ".join(f"{k} {n}" for k, n in by_kind.most_common()) + ")", style="monitor.muted")
        yield line


def scan_table(events: Sequence[Event], summaries: Sequence[SourceSummary]) -> Group:
    """The whole scan as one renderable."""
    parts: list[object] = [FilesTable(summaries)]
    by_file: dict[str | None, list[Event]] = {}
    for event in events:
        by_file.setdefault(event.file, []).append(event)
    parts.extend(EventsTable(file, file_events) for file, file_events in by_file.items())
    parts.append(Totals(events))
    return Group(*parts)  # type: ignore[arg-type]
