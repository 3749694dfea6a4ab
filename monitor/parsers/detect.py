"""Offer each line of one source to the right parser, learning the format as it goes.

Autodetection is per source and never final. The parser that has produced
the most records so far is the source's format: it sees every line that
holds its keyword first, so a file of one format costs one substring check
and one parse per line. A line it does not take falls back to the other
parsers, in their fixed specific-to-generic order, if it holds one of their
keywords (a Slurm output mixes launcher, framework and NCCL lines, and a
run can change frameworks between attempts). A line holding no keyword of
any parser costs a handful of substring checks and nothing else.

Two kinds of line jump the queue: a parser holding a partial multi-line
record sees the next lines first, and a line with a tqdm bar (`%|`) is
shown to the bar parser first so that a message glued to the bar still gets
the bar's step.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from monitor.columns import RecordBatch
from monitor.model import Record, StepRecord
from monitor.parsers.base import NOT_PROGRESS, PENDING, ParseContext, Parser
from monitor.parsers.slots import BAR_GLUE, bare_pair, message_start, numeric_row
from monitor.substrings import cover


def umbrella_keywords(parsers: Sequence[Parser], shortest: int = 4) -> tuple[str, ...]:
    """A few substrings such that every parser keyword contains one of them (cached)."""
    return cover(tuple(sorted({k for p in parsers for k in p.keywords})), shortest)


def _discard(_: tuple[int, str, int | None]) -> None:
    pass


_GLUED = re.compile(r"\d(?=[A-Z][a-z]|\d{4}-\d\d-\d\d[ T]\d)")
"""A message glued to a number: a progress line redrawn in place (Keras' bar) has no newline of its own,
so what the process or its shell prints next lands on it (`loss: 2.1371Killed`, `accuracy:
0.6652Memory access fault by GPU ...`, `0.99282021-02-18 20:55:36.002311: E tensorflow/...`)."""
_MAY_GLUE = frozenset("dtnr.) \t*")  # how such a message ends (a blank; Slurm's `***`): a cheap test, with `=`
_GLUED_PREFIX = re.compile(r"\](?=\[(?:rank\d{1,6}\]|default\d{1,4}\]|[EWF]\d{3,4} |[EWF] ))")
"""...or a launcher's or c10's line glued after a bar's closing bracket (tqdm redraws in place):
`2.88s/it][rank5]:[E602 11:17:52.185053341 ProcessGroupNCCL.cpp:632] [Rank 5] Watchdog caught ...`."""
_GLUED_SLURM = re.compile(r"(?<=\S)(?:slurmstepd(?:-[\w.-]{1,64})?|srun): error: ")
"""...or Slurm's step daemon, or srun, writing to the job's output file while a progress line was half
printed (stdout is buffered, their stderr is not): `step  902/19560 | loss     nan (+nanz)|slurmstepd: error:
*** JOB 11672255 ON g084 CANCELLED AT 2024-10-10T02:20:29 DUE TO TIME LIMIT ***` (the step daemon's
messages end in `***`, one of `_MAY_GLUE`)."""


def _glued_message(
    line: str, number: int, step: int | None, keep: Callable[[tuple[int, str, int | None]], None]
) -> None:
    """Give the fault scanner a message glued to the end of a progress line, as printed."""
    found = _GLUED.search(line) if line[-1:] in _MAY_GLUE or "=" in line else None
    if found is None and "][" in line:
        found = _GLUED_PREFIX.search(line)
    if found is not None:
        keep((number, line[found.start() + 1 :], step))
    elif ": error: " in line and (daemon := _GLUED_SLURM.search(line)) is not None:
        keep((number, line[daemon.start() :], step))
    elif "it/s" in line or "s/it" in line:
        bar = BAR_GLUE.search(line)
        if bar is not None:
            keep((number, line[bar.end() :], step))


def _on_bar(row: StepRecord, at: int | None, per_step: float | None, ctx: ParseContext) -> StepRecord:
    """A table row printed as the description of the epoch's bar (YOLOv5's and YOLOv8's train.py:
    `pbar.set_description(('%10s' * 2 + '%10.4g' * 5) % (f'{epoch}/{epochs - 1}', mem, *mloss, ...))`):
    the row names the epoch and no finer count, the bar counts the epoch's batches and times them.
    The record is the row's at the bar's count, with the bar's rate as its step time."""
    if at is None or row.step is None or row.step != row.epoch:
        return row
    ctx.step = at
    return row._replace(step=at, step_time_s=row.step_time_s if row.step_time_s is not None else per_step)


def _primary_keywords(primary: Parser | None) -> tuple[str, ...]:
    """The substrings that send a line to the source's format first: a learned layout names one of
    its own words (a line without it still reaches the layout through the fallback, only slower)."""
    if primary is None:
        return ()
    return primary.own_keywords or primary.keywords


def _primary_parse(primary: Parser | None) -> Callable[[str, int, ParseContext], Any] | None:
    """How the source's format reads a line first: a learned layout only through the layouts it
    already knows (`parse_known`), so a line it has not seen still meets the framework parsers first."""
    if primary is None:
        return None
    return primary.parse_known if primary.learned else primary.parse  # type: ignore[attr-defined]


class ParserSet:
    """The parsers of one source, with the format detected so far."""

    BAR_MARK = "%|"

    def __init__(self, parsers: Sequence[Parser], ctx: ParseContext, bar: Parser | None = None) -> None:
        """
        Args:
            parsers: fresh parser instances, most specific first.
            ctx: the source's context, shared by all parsers.
            bar: the progress-bar parser, offered every line with a tqdm bar
                before anything else (it is not in `parsers`).
        """
        self.parsers = list(parsers)
        self.ctx = ctx
        self.bar = bar
        self.records_by_format: collections.Counter[str] = collections.Counter()
        self.primary: Parser | None = None
        self.pending: Parser | None = None
        self._umbrella = umbrella_keywords(self.parsers)
        self._learned: Any = next((p for p in self.parsers if p.learned), None)
        self._by_name = {p.name: p for p in self.parsers}
        if bar is not None:
            self._by_name[bar.name] = bar

    def parse_lines(
        self, numbered: Iterable[tuple[int, str]], others: list[tuple[int, str, int | None]] | None = None
    ) -> list[Record]:
        """Parse (line number, text) pairs into records, in line order.

        Lines that are not progress records (and progress-bar lines, which
        can carry a message glued to the bar) are appended to `others`, with
        the training step the log was at when they were printed.
        """
        out: list[Record] = []
        keep = others.append if others is not None else _discard
        append = out.append
        ctx = self.ctx
        bar = self.bar
        bar_mark = self.BAR_MARK
        umbrella = self._umbrella
        primary = self.primary
        primary_keywords = _primary_keywords(primary)
        keyword_1 = primary_keywords[0] if len(primary_keywords) == 1 else None
        primary_parse = _primary_parse(primary)
        table = self._learned
        taken = 0  # records from the primary parser in this call, counted at the end
        for number, line in numbered:
            if self.pending is not None and self._resume(line, number, append):
                continue
            if bar is not None and bar_mark in line:
                record = bar.parse(line, number, ctx)
                rest = getattr(bar, "rest", None)
                if record is not None or rest is not None:  # a bar: no other parser's progress line
                    if record is not None:
                        self._take(bar, record, append)
                    elif table is not None and table.header is not None:  # a table's row as the bar's description
                        row = table.parse(line[: bar.head].rstrip().removesuffix(":"), number, ctx)  # type: ignore[attr-defined]
                        if row is not None:
                            row = _on_bar(row, bar.count, bar.per_step, ctx)  # type: ignore[attr-defined]
                            self._take(table, row, append)
                    glued = "" if rest is None else line[rest:]
                    if glued.strip():  # a message glued after the bar: `...]` + `[rank1]: Traceback ...`
                        keep((number, glued, ctx.step))  # the fault scanner reads it as printed, prefix and all
                        self._glued(glued, number, append)
                    else:
                        keep((number, line, ctx.step))
                    continue
            if primary is not None:
                record = None
                if keyword_1 is not None:  # one keyword: the usual case, and the fastest
                    if keyword_1 in line:
                        record = primary_parse(line, number, ctx)  # type: ignore[misc]
                else:
                    for keyword in primary_keywords:
                        if keyword in line:
                            record = primary_parse(line, number, ctx)  # type: ignore[misc]
                            break
                if record is not None:
                    if record is PENDING:
                        self.pending = primary
                    elif record is NOT_PROGRESS:
                        keep((number, line, ctx.step))
                    else:
                        append(record)
                        taken += 1
                        if line[-1:] in _MAY_GLUE or "=" in line or "][" in line:  # the helper's test, inline
                            _glued_message(line, number, ctx.step, keep)
                    continue
            for keyword in umbrella:
                if keyword in line:
                    previous = primary
                    outcome = self._fallback(line, number, append)
                    if outcome is None:
                        # a Markdown table's row holds `|`, which other layouts use too: the table's, if any
                        if not (table is not None and table.header and self._row(table, line, number, append, keep)):
                            keep((number, line, ctx.step))
                        break
                    _glued_message(line, number, ctx.step, keep)
                    if outcome:
                        if previous is not None:
                            self.records_by_format[previous.name] += taken
                        taken = 0
                        primary = self.primary
                        primary_keywords = _primary_keywords(primary)
                        keyword_1 = primary_keywords[0] if len(primary_keywords) == 1 else None
                        primary_parse = _primary_parse(primary)
                    break
            else:
                # rows of a table hold no keyword, nor does `print(step, loss)`
                if table is not None and (
                    table.header is not None or bare_pair(line)
                    or (("nan" in line or "inf" in line) and numeric_row(line, message_start(line)))
                ) and self._row(table, line, number, append, keep):
                    continue
                keep((number, line, ctx.step))
        if primary is not None and taken:
            self.records_by_format[primary.name] += taken
        return out

    def parse_block(
        self, lines: list[str], first: int, others: list[tuple[int, str, int | None]] | None = None,
        text: str | None = None,
    ) -> RecordBatch:
        """`parse_lines` for physical lines numbered from `first`, with the source format's main
        layout read in bulk: while the format offers a pattern for a block of lines
        (`bulk_template`), one search over the joined block finds its lines, each read into a row
        of numbers (`read_bulk`), not a record; every other line, and any line the pattern's
        reading does not settle, goes through `parse_lines`, in order. The batch's records are
        the same either way. `text`: the lines joined by newlines, when the caller has it."""
        primary = self.primary
        pattern = primary.bulk_template() if primary is not None else None
        if pattern is None:
            return RecordBatch(self.parse_lines(enumerate(lines, first), others), None)
        assert primary is not None
        rows = primary.bulk_rows(self.ctx.file)
        items: list[Any] = []
        ctx, read, add, bar_mark = self.ctx, primary.read_bulk, rows.add, self.BAR_MARK
        if text is None:
            text = "\n".join(lines)
        done = position = index = 0  # lines parsed; where `index` was counted up to
        usable = self.pending is None  # a multi-line record being assembled takes the next lines first
        for match in pattern.finditer(text):
            start = match.start()
            index += text.count("\n", position, start)
            position = start
            line = lines[index]
            if index > done:  # the lines in between, as ever
                items += self.parse_lines(zip(range(first + done, first + index), lines[done:index]), others)
                usable = self._bulk_usable(primary, pattern)
            consumed = False
            if usable is False and self.pending is not None:  # the parser assembling a record sees it first
                consumed = self._resume(line, first + index, items.append)
                usable = self._bulk_usable(primary, pattern)
            if not consumed:
                row = None
                if usable and bar_mark not in line:
                    row = read(match, line[: len(line) - (match.end() - start)], line, first + index, ctx)
                if row is None:
                    items += self.parse_lines(((first + index, line),), others)
                    usable = self._bulk_usable(primary, pattern)
                else:
                    items.append(add(row[0], row[1], first + index, line))
            done = index + 1
            if usable is None:
                break
        self.records_by_format[primary.name] += len(rows)
        if done < len(lines):
            items += self.parse_lines(zip(range(first + done, first + len(lines)), lines[done:]), others)
        return RecordBatch(items, rows if len(rows) else None)

    def _row(
        self, table: Parser, line: str, number: int, append: Callable[[Record], None],
        keep: Callable[[tuple[int, str, int | None]], None],
    ) -> bool:
        """Read `line` as a row of the table the learned parser is under; whether it was one."""
        record = table.parse(line, number, self.ctx)
        if record is None:
            return False
        self._take(table, record, append)
        _glued_message(line, number, self.ctx.step, keep)
        return True

    def _bulk_usable(self, primary: Parser, pattern: re.Pattern[str]) -> bool | None:
        """Whether the next line `pattern` matched may be read in bulk: False while a multi-line
        record is being assembled, None when the format or its layout changed (the block's
        remaining lines then go through `parse_lines`)."""
        if self.primary is not primary or primary.bulk_template() is not pattern:
            return None if self.pending is None else False
        return self.pending is None

    def _take(self, parser: Parser, record: Any, append: Callable[[Record], None]) -> None:
        if record is PENDING:
            self.pending = parser
            return
        append(record)
        if not parser.companion:
            self.records_by_format[parser.name] += 1

    def _fallback(self, line: str, number: int, append: Callable[[Record], None]) -> bool | None:
        """Try the non-primary parsers: None when none took the line, else whether the primary changed."""
        for parser in self.parsers:
            if parser is self.primary and not parser.learned:
                continue
            for keyword in parser.keywords:
                if keyword in line:
                    break
            else:
                continue
            record = parser.parse(line, number, self.ctx)
            if record is None:
                continue
            if record is NOT_PROGRESS:
                return None
            self._take(parser, record, append)
            primary = self.primary
            if parser.companion or (parser.generic and not parser.learned):
                return False  # a catch-all or a companion never becomes the format
            if primary is None or (
                parser.name != primary.name
                and self.records_by_format[parser.name] > self.records_by_format[primary.name]
            ):
                self.primary = parser
                return True
            return False
        return None

    def _glued(self, text: str, number: int, append: Callable[[Record], None]) -> None:
        """Offer a message printed on the same line as a bar to every parser, in order; not to the layouts
        while a table is open (YOLOv7's row, its bar, then DDP's `Reducer buckets have been rebuilt in this
        iteration.`): the message is no row of the table, nor its end."""
        for parser in self.parsers:
            if parser is self._learned and parser.header is not None:  # type: ignore[attr-defined]
                continue
            if any(keyword in text for keyword in parser.keywords):
                record = parser.parse(text, number, self.ctx)
                if record is NOT_PROGRESS:
                    return
                if record is not None and record is not PENDING:
                    self._take(parser, record, append)
                    return

    def _resume(self, line: str, number: int, append: Callable[[Record], None]) -> bool:
        """Offer a line to the parser holding a partial record; True if it took it."""
        parser = self.pending
        assert parser is not None
        self.pending = None
        record, consumed = parser.resume(line, number, self.ctx)
        if record is not None:
            self._take(parser, record, append)
        return consumed

    def finish(self) -> list[Record]:
        """End of input: collect records still being assembled."""
        out: list[Record] = []
        for parser in [*self.parsers, *([self.bar] if self.bar else [])]:
            record = parser.finish(self.ctx)
            if record is not None:
                out.append(record)
                if not parser.companion:
                    self.records_by_format[parser.name] += 1
        self.pending = None
        return out

    def snapshot(self) -> dict[str, Any]:
        """Everything later lines' records depend on, comparable with `==`.

        The primary parser is left out: it changes how fast a line is
        parsed, never into what, because no line is taken by two framework
        parsers (a property the tests check on every parser's samples).
        """
        return {
            "ctx": self.ctx.snapshot(),
            "parsers": {name: p.snapshot() for name, p in self._by_name.items()},
            "pending": self.pending.name if self.pending else None,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.ctx.restore(snapshot["ctx"])
        for name, state in snapshot["parsers"].items():
            self._by_name[name].restore(state)
        self.pending = self._by_name.get(snapshot["pending"]) if snapshot["pending"] else None
