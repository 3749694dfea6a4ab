"""The scan as tables for people: files, then events in causal order
(root faults with their cascades under them), coloured by severity, with totals.

Renderables follow rich's console protocol, so they draw at whatever width
the console offers and can be reused in reports. Colour follows the console:
none when stdout is not a terminal or NO_COLOR is set.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence

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
    """Every event in causal order: each root fault followed by the cascades it
    explains (indented), then the others in time order; the serious ones with
    what to do."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(title="Events", title_justify="left", title_style="monitor.title", expand=True)
        table.add_column("Event", no_wrap=True)
        table.add_column("Code", style="monitor.code", overflow="fold", max_width=26)
        table.add_column("Where", style="monitor.where", overflow="fold", max_width=26)
        table.add_column("Message", ratio=1, min_width=40, overflow="fold")
        for event, depth in causal_order(self.events):
            indent = "└ " if depth else ""
            head = Text(indent + str(event.severity).upper(), style=severity_style(event.severity))
            head.append("\n" + " " * len(indent) + str(event.kind), style="monitor.muted")
            table.add_row(head, event.code or "", _where(event), _message(event))
        yield table


def causal_order(events: Sequence[Event]) -> list[tuple[Event, int]]:
    """Events with their depth: a root (depth 0) is followed by the cascades
    whose `cause` names it (depth 1); the rest keep their order."""
    cascades: dict[str, list[Event]] = {}
    labels = {event.label() for event in events}
    for event in events:
        if event.cause and event.cause in labels:
            cascades.setdefault(event.cause, []).append(event)
    out: list[tuple[Event, int]] = []
    for event in events:
        if event.cause and event.cause in labels:
            continue
        out.append((event, 0))
        out.extend((cascade, 1) for cascade in cascades.get(event.label(), ()))
    return out


def _where(event: Event) -> str:
    """File and line, then node, device, rank(s) and step where known."""
    parts = [f"{event.file}:{event.line}" if event.file else "-"]
    if event.node:
        parts.append(f"node {event.node}" if not event.nodes or len(event.nodes) < 2 else
                     f"{len(event.nodes)} nodes")
    if event.device:
        parts.append(f"device {event.device}")
    if event.ranks and len(event.ranks) > 1:
        parts.append(f"ranks {_ranks_text(list(event.ranks))}")
    elif event.rank is not None:
        parts.append(f"rank {event.rank}")
    if event.step is not None:
        parts.append(f"step {event.step:,}")
    return "\n".join(parts)


def _message(event: Event) -> Text:
    message = Text(event.message)
    extras = []
    if event.count and event.count > 1:
        extras.append(f"×{event.count:,}")
    if event.persistent:
        extras.append("PERSISTENT")
    if extras:
        message.append("  (" + ", ".join(extras) + ")", style="monitor.muted")
    if event.cause:
        message.append(f"\n  caused by {event.cause.split(' (')[0]}", style="monitor.muted")
    if event.action and event.severity >= Severity.WARNING and not event.cause:
        message.append("\n→ " + event.action, style="monitor.action")
    return message


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


def scan_table(
    events: Sequence[Event], summaries: Sequence[SourceSummary], counts: Mapping[str, int] | None = None
) -> Group:
    """The whole scan as one renderable, with a footer naming the files where nothing was recognised
    (`counts`: raw events per file, before folding; else counted here)."""
    parts: list[object] = [FilesTable(summaries)]
    if events:
        parts.append(EventsTable(events))
    parts.append(Totals(events))
    counts = collections.Counter(e.file for e in events) if counts is None else counts
    notices = (s.notice(counts.get(s.file, 0), named=True) for s in summaries)
    parts.extend(Text(n, style="monitor.severity.warning", overflow="fold") for n in notices if n)
    return Group(*parts)  # type: ignore[arg-type]
