"""The scan as tables for people: files, then every event grouped by run, each root fault
with its cascades nested under it at every depth, coloured by severity, then a footer that
says what is shown.

Renderables follow rich's console protocol, so they draw at whatever width the console
offers and can be reused in reports. Colour follows the console: none when stdout is not a
terminal or NO_COLOR is set. Log text (messages, file names, run ids, codes) only ever
reaches rich as `Text`, never as markup, and loses its terminal control sequences first, so
a log line cannot style, link or break the output.

It does not choose which events exist: every event it is given is shown, once.
"""

from __future__ import annotations

import collections
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from monitor.model import Event, Severity, SourceSummary
from monitor.sinks.terminal import printable
from monitor.sinks.theme import severity_style

_BLANKS = re.compile(r"[\t\n\r]+")


def plain(text: object, style: str = "") -> Text:
    """Log text as a `Text` shown literally (in `style`): markup stays text, line breaks and tabs
    become spaces, and escape sequences and control characters are dropped (`printable`)."""
    return Text(printable(_BLANKS.sub(" ", str(text))), style=style)


class FilesTable:
    """One row per scanned file: detected format, ranks and progress. Where the console is too
    narrow for whole file names, the Ranks and then the Last step columns are left out."""

    def __init__(self, summaries: Sequence[SourceSummary]) -> None:
        self.summaries = summaries
        self.directory = _common_directory([s.file for s in summaries])

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        title = Text("Files", style="monitor.title")
        if self.directory:
            title.append(" under ", style="monitor.title").append_text(plain(self.directory + os.sep, "monitor.file"))
        rows = [self._row(s) for s in self.summaries]
        names = ["File", "Format", "Ranks", "Steps", "Last step", "Last loss"]
        widths = [max([len(name)] + [row[i].cell_len for row in rows]) + 3 for i, name in enumerate(names)]
        for optional in ("Ranks", "Last step"):  # the least needed first
            if sum(widths) + 1 <= options.max_width:
                break
            i = names.index(optional)
            del names[i], widths[i]
            rows = [row[:i] + row[i + 1:] for row in rows]
        left_out = [name for name in ("Ranks", "Last step") if name not in names]
        caption = f"({' and '.join(left_out)} left out at this width)" if left_out else None
        table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                      caption_style="monitor.muted", expand=False)
        for name in names:
            if name == "File":
                table.add_column(name, style="monitor.file", overflow="fold")
            else:
                table.add_column(name, justify="left" if name == "Format" else "right", overflow="fold")
        for row in rows:
            table.add_row(*row)
        yield table

    def _row(self, s: SourceSummary) -> list[Text]:
        return [
            plain(_relative(s.file, self.directory)),
            plain(s.format) if s.format else Text("-", style="monitor.muted"),
            Text(_ranks_text(sorted(s.ranks))),
            Text(f"{s.steps:,}"),
            Text("-" if s.last_step is None else f"{s.last_step:,}"),
            Text("-" if s.last_loss is None else f"{s.last_loss:.4g}"),
        ]


def _ranks_text(ranks: list[int]) -> str:
    if not ranks:
        return "-"
    if len(ranks) > 4:
        return f"{ranks[0]}–{ranks[-1]} ({len(ranks)})"
    return ",".join(map(str, ranks))


def causal_order(events: Sequence[Event]) -> list[tuple[Event, int]]:
    """Every event once, with its depth: each root (depth 0) followed by the events whose `cause`
    names it, each followed in turn by its own, at any depth; otherwise in the given order.

    A `cause` is matched to the first event of the same run with that label. An event whose cause
    is not among `events` (or that sits in a cycle of causes) is shown as a root.
    """
    first: dict[tuple[str | None, str], int] = {}
    for i, event in enumerate(events):
        first.setdefault((event.run, event.label()), i)
    children: dict[int, list[int]] = collections.defaultdict(list)
    linked: set[int] = set()
    for i, event in enumerate(events):
        parent = first.get((event.run, event.cause)) if event.cause else None
        if parent is not None and parent != i:
            children[parent].append(i)
            linked.add(i)
    out: list[tuple[Event, int]] = []
    placed: set[int] = set()
    for start in [i for i in range(len(events)) if i not in linked] + list(range(len(events))):
        stack = [(start, 0)]  # depth first without recursion: chains can be long
        while stack:
            i, depth = stack.pop()
            if i in placed:
                continue
            placed.add(i)
            out.append((events[i], depth))
            stack.extend((child, depth + 1) for child in reversed(children.get(i, ())))
    return out


def runs_in_order(events: Sequence[Event]) -> list[tuple[str | None, list[Event]]]:
    """The events of each run, runs in the order of their first event."""
    groups: dict[str | None, list[Event]] = {}
    for event in events:
        groups.setdefault(event.run, []).append(event)
    return list(groups.items())


def _relative(file: str, directory: str) -> str:
    return os.path.relpath(file, directory) if directory else file


def _common_directory(files: Sequence[str]) -> str:
    """The directory every file lies under ("" when none), so rows can name files relative to it."""
    if not files:
        return ""
    try:
        common = os.path.commonpath(files)
    except ValueError:  # absolute and relative paths mixed
        return ""
    if common in files:  # a single file (or a file that is also a directory prefix): keep its name
        common = os.path.dirname(common)
    return common


@dataclass(frozen=True, slots=True)
class _Layout:
    """How the events table spends the width: `wide` has Code and Where columns, narrow folds them
    into the Event and Message cells so the message keeps its width."""

    wide: bool
    event_width: int
    code_width: int
    where_width: int


_MESSAGE_MIN = 40  # below this a message wraps into a column of words
_CODE_MAX = 26
_WHERE_MAX = 28
_EVENT_MAX = 28
_INDENT = 2  # cells per level of nesting
_INDENT_LEVELS = 6  # deeper levels are numbered rather than indented further


class EventsTable:
    """Every event, grouped by run (a heading per run when there are several), each root fault
    followed by its cascades nested under it at every depth; the serious roots with what to do.

    Args:
        events: the events to show, in time order (as `correlate` returns them); all are shown.
    """

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events
        files = sorted({e.file for e in events if e.file})
        self.directory = _common_directory(files)
        self.groups = [(run, causal_order(group)) for run, group in runs_in_order(events)]

    def __repr__(self) -> str:
        return f"EventsTable(<{len(self.events)} events in {len(self.groups)} runs>)"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = [row for _run, rows in self.groups for row in rows]
        layout = self._layout(rows, options.max_width)
        title = Text("Events", style="monitor.title")
        if len(self.groups) == 1 and self.groups[0][0] is not None:
            title.append(" in run ", style="monitor.title").append_text(plain(self.groups[0][0], "monitor.run"))
        if self.directory:
            title.append(" (files under ", style="monitor.muted").append_text(plain(self.directory + os.sep))
            title.append(")", style="monitor.muted")
        yield title
        for i, (run, group) in enumerate(self.groups):
            if len(self.groups) > 1:
                yield _run_heading(run, [event for event, _depth in group])
            yield self._table(group, layout, header=i == 0)

    def _layout(self, rows: Sequence[tuple[Event, int]], width: int) -> _Layout:
        heads = [_head_lines(event, depth, wide=True) for event, depth in rows]
        event_width = min(_EVENT_MAX, max((line.cell_len for lines in heads for line in lines), default=5))
        code_width = min(_CODE_MAX, max((cell_len(e.code or "") for e, _d in rows), default=4))
        wheres = [line for e, _d in rows for line in self._where(e)]
        where_width = min(_WHERE_MAX, max(map(cell_len, wheres), default=5))
        borders = 13  # five rules and a space either side of four columns
        if width - borders - event_width - code_width - where_width >= _MESSAGE_MIN:
            return _Layout(True, event_width, code_width, where_width)
        heads = [_head_lines(event, depth, wide=False) for event, depth in rows]
        event_width = min(_EVENT_MAX, max(16, (width - 7) * 2 // 5),
                          max((line.cell_len for lines in heads for line in lines), default=5))
        return _Layout(False, event_width, 0, 0)

    def _table(self, rows: Sequence[tuple[Event, int]], layout: _Layout, header: bool) -> Table:
        table = Table(expand=True, show_header=header)
        table.add_column("Event", width=layout.event_width, overflow="fold")
        if layout.wide:
            table.add_column("Code", style="monitor.code", width=layout.code_width, overflow="fold")
            table.add_column("Where", style="monitor.where", width=layout.where_width, overflow="fold")
        table.add_column("Message", ratio=1, overflow="fold")
        for event, depth in rows:
            head = Text("\n").join(_head_lines(event, depth, wide=layout.wide))
            where = self._where(event)
            if layout.wide:
                table.add_row(head, plain(event.code or ""), Text("\n").join(map(plain, where)), _message(event, depth))
            else:
                table.add_row(head, _message(event, depth, plain(" · ".join(where), "monitor.where")))
        return table

    def _where(self, event: Event) -> list[str]:
        """File and line (under the common directory), then node, device, rank(s) and step."""
        parts = [f"{_relative(event.file, self.directory)}:{event.line}" if event.file else "-"]
        if event.nodes and len(event.nodes) > 1:
            parts.append(f"{len(event.nodes)} nodes")
        elif event.node:
            parts.append(f"node {event.node}")
        if event.device:
            parts.append(f"device {event.device}")
        if event.ranks and len(event.ranks) > 1:
            parts.append(f"ranks {_ranks_text(sorted(event.ranks))}")
        elif event.rank is not None:
            parts.append(f"rank {event.rank}")
        if event.step is not None:
            parts.append(f"step {event.step:,}")
        return parts


def _head_lines(event: Event, depth: int, wide: bool) -> list[Text]:
    """The Event cell: severity under its nesting guide, then (narrow) the code, then the kind."""
    if depth == 0:
        guide = ""
    elif depth <= _INDENT_LEVELS:
        guide = " " * (_INDENT * (depth - 1)) + "└ "
    else:
        guide = " " * (_INDENT * (_INDENT_LEVELS - 1)) + f"└{depth} "
    pad = " " * cell_len(guide)
    lines = [Text(guide + str(event.severity).upper(), style=severity_style(event.severity))]
    if not wide and event.code:
        lines.append(Text(pad).append_text(plain(event.code, "monitor.code")))
    lines.append(Text(pad + str(event.kind), style="monitor.muted"))
    return lines


def _message(event: Event, depth: int, where: Text | None = None) -> Text:
    """The message, how often it was seen, `where` (narrow layout), an unresolved cause, and for
    serious roots the action."""
    message = plain(event.message)
    extras = []
    if event.count and event.count > 1:
        extras.append(f"×{event.count:,}")
    if event.ranks and len(event.ranks) > 1:
        extras.append(f"{len(event.ranks)} ranks")
    if event.nodes and len(event.nodes) > 1:
        extras.append(f"{len(event.nodes)} nodes")
    if event.persistent:
        extras.append("PERSISTENT")
    if extras:
        message.append("  (" + ", ".join(extras) + ")", style="monitor.muted")
    if where is not None:
        message.append("\n").append_text(where)
    if event.cause and depth == 0:  # nested events show their cause by where they sit
        message.append("\ncaused by ", style="monitor.muted")
        message.append_text(plain(event.cause.split(" (")[0], "monitor.muted"))
    if event.action and event.severity >= Severity.WARNING and not event.cause:
        message.append("\n→ ", style="monitor.action").append_text(plain(event.action, "monitor.action"))
    return message


def _run_heading(run: str | None, events: Sequence[Event]) -> Text:
    """One line above a run's table: the run, how many files its events come from, its worst."""
    worst = max(e.severity for e in events)
    files = len({e.file for e in events if e.file})
    heading = Text("Run ", style="monitor.run")
    heading.append_text(plain("(no run)" if run is None else run, "monitor.run"))
    heading.append(f"  {_plural(len(events), 'event')} from {_plural(files, 'file')}, worst ", style="monitor.muted")
    heading.append(str(worst), style=severity_style(worst))
    return heading


class Totals:
    """The footer: how many events of each severity and kind, and what the table shows of them.

    Args:
        events: the events the scan found (all of which the table shows).
        fail_on: the scan's `--fail-on`, to say how many events set the exit code; None leaves it out.
    """

    def __init__(self, events: Sequence[Event], fail_on: Severity | None = None) -> None:
        self.events = events
        self.fail_on = fail_on

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
        yield Text(self.shown(), style="monitor.muted")

    def shown(self) -> str:
        """What the table shows: runs, roots and cascades, folding, and that nothing is filtered."""
        ordered = [pair for _run, group in runs_in_order(self.events) for pair in causal_order(group)]
        roots = sum(1 for _e, depth in ordered if depth == 0)
        deepest = max(depth for _e, depth in ordered)
        runs = len({e.run for e in self.events})
        text = (f"Shown: all {_plural(len(self.events), 'event')} of {_plural(runs, 'run')}: "
                f"{_plural(roots, 'root')}, {_plural(len(ordered) - roots, 'cascade')}")
        text += f" nested up to {_plural(deepest, 'level')} deep" if deepest else ""
        folded = [e for e in self.events if e.count and e.count > 1]
        if folded:
            occurrences = sum(e.count or 0 for e in folded)
            text += f"; {_plural(len(folded), 'folded event')} stand for {occurrences:,} occurrences"
        text += ". No filter hides events"
        if self.fail_on is not None:
            failing = sum(1 for e in self.events if e.severity >= self.fail_on)
            text += f"; {failing:,} at or above --fail-on {self.fail_on}"
        return text + "."


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def scan_table(
    events: Sequence[Event],
    summaries: Sequence[SourceSummary],
    counts: Mapping[str, int] | None = None,
    fail_on: Severity | None = None,
) -> Group:
    """The whole scan as one renderable, with a footer naming the files where nothing was recognised
    (`counts`: raw events per file, before folding; else counted here)."""
    parts: list[object] = [FilesTable(summaries)]
    if events:
        parts.append(EventsTable(events))
    parts.append(Totals(events, fail_on))
    counts = collections.Counter(e.file for e in events) if counts is None else counts
    notices = (s.notice(counts.get(s.file, 0), named=True) for s in summaries)
    parts.extend(plain(n, "monitor.severity.warning") for n in notices if n)
    return Group(*parts)  # type: ignore[arg-type]
