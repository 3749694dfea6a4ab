"""Progress lines in any layout, learned from the log: the `learned` parser.

Frameworks without a parser of their own still print their progress as
numbers with names: `Step 5650/50000; xent: 2.13`, `Epoch(train) [2][100/788]
lr: 2.0e-03 ... loss: 1.50`, `global step 665: loss = 1.47 (646.6 sec/step)`,
`Ep. 1 : Up. 1000 : Cost 5.21 : Time 61.2s : 9021.4 words/s`. This parser
reads any such line the framework parsers left alone, through its slots
(`slots.py`: every number with its name and unit, named through the
vocabulary in data), and learns from repeats:

- A line whose counter has no name (`100 | loss 2.1 | ...`) becomes a layout
  once its shape (the line with its numbers taken out) repeats with that
  number increasing. A line with no counter at all takes the step the log is
  at (`ctx.step`) once its shape has repeated, or at once when it shows a
  non-finite loss or grad norm (a row of unnamed numbers only once it repeats
  with a counter going up: which of its numbers is the loss is a guess).
- A record needs a step and a metric: a loss or grad norm on any line, any
  metric on a repeated shape. A loss name that every earlier line of the same
  layout printed and this one lacks means the loss was NaN (Megatron's rule,
  generalised). An elapsed-time slot (`21110 sec`) gives the step time from
  its growth, and serves as the clock where no timestamp is printed.
- In a log that counts steps finer than epochs, a line with an epoch alone is
  the epoch's summary (a mean over it): only its evaluation loss is kept.
- A table header (Chainer's `PrintReport`) names the columns of the rows under it.
- A count printed out of a total (`Batch 4/2000`) whose total moves while the
  count holds is two counters: the epoch, then the step (WeNet's
  `Batch {epoch}/{batch}`).

A shape that repeats is compiled (`compiled.py`) into one regex and builder,
so the lines of a long run cost one match. Memory is bounded: at most
`MAX_SHAPES` shapes per source, lines of at most `MAX_LINE_CHARS` characters.
"""

from __future__ import annotations

import math
import re
from typing import Any

from monitor.columns import StepRows, Where
from monitor.model import StepRecord
from monitor.parsers.base import ParseContext, Parser, to_float
from monitor.parsers.compiled import CompiledLayout
from monitor.parsers.slots import (
    BAR_GLUE,
    COMPONENT_LOSS,
    COUNT_SUFFIXES,
    FIELD_NAMES,
    LOSS_TOTALS,
    TOTAL_LOSS,
    Reading,
    Slot,
    bare_pair,
    csv_row,
    message_start,
    nonfinite,
    read,
    read_number,
    read_slots,
    shape_of,
    table_header,
    unnamed_row,
)
from monitor.parsers.vocabulary import vocabulary

MAX_LINE_CHARS = 4096
MAX_SHAPES = 256
_MAX_FAST = 4
_RANGE = re.compile(r"\d{1,18}-\d{1,18}")
_EXCEPTION = re.compile(r"\s{0,4}[A-Za-z_][\w.]{0,120}[a-z_.](?:Error|Exception):")
"""A Python exception line (`ValueError: ...`, `torch.OutOfMemoryError: ...`): numbers in its message are
not progress."""
_CONFIG_REPR = re.compile(r"\w\(\w+=")
_LOADED = re.compile(
    r"\b(?:[Ll]oad(?:ed|ing)|[Rr]estor(?:ed|ing)|[Rr]esum(?:ed|ing))\b[^\n]{0,24}?\b(?:checkpoint|ckpt|snapshot)\b"
)
"""A line about a checkpoint being loaded: the numbers on it are what the checkpoint holds."""
_RULE_UNDER = re.compile(r"[ \t]{0,8}[-=]{2,}(?:[ \t+|]{1,8}[-=]{2,}){0,47}[ \t]{0,8}")
"""A rule under a table's header (spaCy's `---  ------  --------`): the header still names the rows."""
_ROW_REST = re.compile(r"[\s\[\],]*")
"""What a table row holds besides its numbers: blanks, and the brackets and commas of a column that
prints a list of values (DeepXDE's `[5.47e+03]`, one value per loss term)."""
_STRONG = frozenset({"loss", "grad_norm"})
_PROMOTED = 3
_OPENING = 3
"""Lines of a layout read before its time named only `time` is known as a step's or the run's."""


def _column_of(columns: tuple[tuple[int, str], ...], slot: Slot) -> tuple[int, str] | None:
    """The header column a value of a row sits under: the one its text overlaps most (a table aligned
    right, as YOLOv5's `%10s` header over `%10.4g` values, or left, as Chainer's `PrintReport`), else
    the last one starting at or before it."""
    best, most = None, 0
    for column in columns:
        overlap = min(slot.end, column[0] + len(column[1])) - max(slot.start, column[0])
        if overlap > most:
            best, most = column, overlap
    return best or next((c for c in reversed(columns) if c[0] <= slot.start + 1), None)


def _total_of_losses(slots: list[Slot]) -> list[Slot]:
    """In a table of losses, a column named `total` beside them is their sum, the loss (YOLOv5's
    `box obj cls total`); the others are its terms."""
    if not any(s.meaning is not None and s.meaning.field == "loss" for s in slots):
        return slots
    total = next((i for i, s in enumerate(slots) if s.name in LOSS_TOTALS and s.meaning is None), None)
    if total is None:
        return slots
    return [
        s._replace(meaning=TOTAL_LOSS) if i == total
        else s._replace(meaning=COMPONENT_LOSS) if s.meaning is not None and s.meaning.field == "loss" else s
        for i, s in enumerate(slots)
    ]


class _Shape:
    """What is remembered of one line shape: how often it was seen, its counters' last values."""

    __slots__ = (
        "seen", "counters", "counter", "elapsed", "step", "term", "run", "since", "since_start", "opening", "fraction",
        "moving",
    )

    def __init__(self) -> None:
        self.seen = 0
        # a term's shape (see `LearnedParser._term`): its lines in a row with no line of the main
        # shape between them, and the main's latest line before its last one
        self.term = False
        self.run = 0
        self.since: int | None = None
        self.counters: tuple[float | None, ...] = ()
        self.counter: int | None = None  # the position of its unnamed step counter, once learned
        self.elapsed: float | None = None  # the last elapsed time printed, and the step it was at
        self.step: int | None = None
        # whether its time named only `time` is the time since training began (None: not known yet), and
        # the (step, time) of its first lines until that is known
        self.since_start: bool | None = None
        self.opening: tuple[tuple[int, float], ...] = ()
        # the step counter's last (value, total), and whether its total is one (False), a count that moves
        # while the step holds (True: WeNet's `Batch {epoch}/{batch}`), or not known yet (None)
        self.fraction: tuple[int, int] | None = None
        self.moving: bool | None = None

    def state(self) -> tuple[Any, ...]:
        counters = self.counters if self.counter is None else ()  # once the counter is known, its history is moot
        fraction = self.fraction if self.moving is None else None
        return (min(self.seen, 2), counters, self.counter, self.elapsed, self.step, self.term, self.run, self.since,
                self.since_start, self.opening, fraction, self.moving)

    def moving_total(self, step: int, total: int) -> bool:
        """Whether the step counter's `step/total` is a pair of counters, not a count out of a total: its
        total moved while its value held (a total stays put, a value counts up), learned from the first
        pair of lines where one of them changed."""
        previous, self.fraction = self.fraction, (step, total)
        if self.moving is None and previous is not None and previous != (step, total):
            self.moving = previous[0] == step
        return bool(self.moving)


def _grows_since_start(opening: tuple[tuple[int, float], ...]) -> bool:
    """Whether the first times a layout printed are the time since training began: each line's is longer,
    by about as much per step as the one before it grew (within 2x), by a tenth or more in all, and in
    proportion to the steps counted (the growth per step, times the step, is within 2x of the time),
    where a step time's drift is slight and stops (1.00, 1.02, 1.04 s at steps 100, 200, 300)."""
    (s0, v0), (s1, v1), (s2, v2) = opening
    if not (0 <= s0 < s1 < s2 and 0 < v0 < v1 < v2) or v2 < 1.1 * v0:
        return False
    first, second = (v1 - v0) / (s1 - s0), (v2 - v1) / (s2 - s1)
    return 0.5 <= second / first <= 2 and 0.5 <= (v2 - v0) / (s2 - s0) * s2 / v2 <= 2


def _outer_count(candidates: tuple[int, ...], counter: int | None) -> int | None:
    """The slot of an unnamed whole number printed before a bare counter: it counts what the
    counter's passes are within, the epoch: `333 154 Loss=nan Time=0.040` (Learning-to-See-in-the-
    Dark's train script, `print("%d %d Loss=%.3f Time=%.3f" % (epoch, cnt, ...))`), where the count
    starts again at 1 when the epoch goes to 334."""
    if counter is None:
        return None
    return next((i for i in candidates if i < counter), None)


def _nonfinite_term(slots: list[Slot], terms: tuple[int, ...], loss: float | None) -> float | None:
    """The value of a loss term printed beside a finite loss that is not finite (GluonCV's
    `CrossEntropy=2911234189311495764698741583380480.000, SmoothL1=nan`, the two terms of its
    training loss): the line's loss is then not finite either. None otherwise."""
    if loss is None or not math.isfinite(loss):
        return None
    for position in terms:
        value = slots[position].value
        if value is not None and not math.isfinite(value):
            return value
    return None


class LearnedParser(Parser):
    """Progress lines of any layout, read through the slot vocabulary (fallback, learns layouts)."""

    name = "learned"
    keywords = vocabulary().triggers
    generic = True
    learned = True
    samples = (
        "[2018-11-26 14:47:26,759 INFO] Step 5350/50000; acc:  51.25; ppl:  8.43; xent: 2.13; lr: 0.00066; "
        "1320/1445 tok/s;  19995 sec",
        "2024/05/10 15:46:31 - mmengine - INFO - Epoch(train)  [2][ 50/788]  lr: 2.0000e-03  eta: 4:14:00  "
        "time: 0.8167  data_time: 0.0169  memory: 15943  grad_norm: 3.4572  loss: 1.5043  loss_cls: 0.8781",
        "INFO:tensorflow:global step 665: loss = 1.4688 (646.632 sec/step)",
        "[2021-07-17 12:54:33] Ep. 1 : Up. 14000 : Sen. 965,843 : Cost 5.20174599 : Time 359.59s : 3007.81 words/s",
    )

    def __init__(self) -> None:
        self.shapes: dict[str, _Shape] = {}
        self.epoch: float | None = None  # the epoch announced by a line of its own (`Epoch 2/30`)
        self.family: frozenset[str] | None = None  # the other slot names of the last line that printed a loss
        self.family_runs = 0
        self.header: tuple[tuple[int, str], ...] | None = None  # (column start, name) of a table header
        self.finer = False  # a counter finer than the epoch has been seen
        self.loss_of: tuple[str, str] | None = None  # (shape, loss name) of the main loss (see `_term`)
        self.main_at: int | None = None  # the line of its latest record
        self.main_rank: int | None = None  # the rank that printed it
        # compiled layouts (a cache of the shapes above, never part of the state): by shape, and the
        # most recently used few, tried first
        self.compiled: dict[str, CompiledLayout] = {}
        self.fast: list[CompiledLayout] = []
        self.own_keywords: tuple[str, ...] | None = None  # a word of the latest compiled layout

    def snapshot(self) -> dict[str, Any]:
        return {
            "shapes": {key: shape.state() for key, shape in self.shapes.items()},
            "epoch": self.epoch,
            "family": (self.family, min(self.family_runs, 2)),
            "header": self.header,
            "finer": self.finer,
            "loss_of": (self.loss_of, self.main_at, self.main_rank),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.shapes = {}
        for key, state in snapshot["shapes"].items():
            shape = self.shapes[key] = _Shape()
            (shape.seen, shape.counters, shape.counter, shape.elapsed, shape.step, shape.term, shape.run,
             shape.since, shape.since_start, shape.opening, shape.fraction, shape.moving) = state
        self.epoch = snapshot["epoch"]
        self.family, self.family_runs = snapshot["family"]
        self.header = snapshot["header"]
        self.finer = snapshot["finer"]
        self.loss_of, self.main_at, self.main_rank = snapshot["loss_of"]

    def _shape(self, key: str) -> _Shape:
        shape = self.shapes.get(key)
        if shape is None:
            if len(self.shapes) >= MAX_SHAPES:
                del self.shapes[next(iter(self.shapes))]  # the oldest
            shape = self.shapes[key] = _Shape()
        return shape

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        if len(line) > MAX_LINE_CHARS or _CONFIG_REPR.search(line):
            return None  # too long for a progress line, or a configuration dump (`Namespace(lr=...`)
        if self.header is None:
            record = self.parse_known(line, number, ctx)
            if record is not None:
                return record
        start = 0 if bare_pair(line) else message_start(line)  # `123892: 40490.18` is no rank prefix
        if _EXCEPTION.match(line, start) or _LOADED.search(line, start):
            # an exception's message (`ValueError: global norm 47.3 of step 2 ...`) is no record, nor is
            # what a loaded checkpoint holds (`Loaded checkpoint from ..., step 19072, val_loss 3.07`): the
            # fault scanner reads that line as the resume it reports
            return None
        if "]" in line and ("it/s" in line or "s/it" in line) and (glued := BAR_GLUE.search(line, start)) is not None:
            line = line[: glued.end()]  # a message printed after a bar's bracket is another line's (see BAR_GLUE)
        text, first = line, start  # what the slots are read from: the line, or a CSV row's named cells
        if self.header is not None and self.header[0][0] < 0:
            row = csv_row(self.header, line[start:])
            if row is None:
                self.header = None  # not a row of the CSV table: it has ended
            elif not row:
                return None  # a Markdown table's rule under its header
            else:
                text, first = row, 0
        slots = read_slots(text, first)
        if not slots:
            if line.strip() and not (self.header is not None and _RULE_UNDER.fullmatch(line, start)):
                self.header = table_header(line, start)  # a new table, or the end of the last one
            return None
        if self.header is not None and text is line:
            slots = self._under_header(line, start, slots)
        reading = read(text, slots)
        fields, eval_fields = reading.fields, reading.eval_fields
        term = _nonfinite_term(slots, reading.terms, fields.get("loss"))
        if term is not None:
            fields = {**fields, "loss": term}  # a loss is not finite when one of its terms is not
        if not fields and not eval_fields:
            self._announce_epoch(reading, slots)
            return None
        key = shape_of(text, first, slots)
        shape = self._shape(key)
        repeated = shape.seen > 0
        shape.seen += 1
        step, epoch, total = reading.step, reading.epoch, reading.total
        named = reading.named
        if named and reading.step_at is not None and reading.step_at == reading.epoch_at:
            # an epoch alone: the step of a run that logs per epoch, but in a log that counts finer it is
            # an epoch's summary (a mean over the epoch): only its evaluation loss is kept, and a training
            # loss or grad norm that is not finite (a mean over a NaN is one), at the current step
            if self.finer:
                fields = {f: v for f, v in fields.items() if f in _STRONG and v is not None and not math.isfinite(v)}
                if not fields and eval_fields.get("loss") is None:
                    return None
                step, named = ctx.step, False
        elif named:
            self.finer = True
        if step is None:
            step = self._bare_counter(shape, slots, reading.counters)
            named = step is not None
            self.finer = self.finer or named
            outer = _outer_count(reading.counters, shape.counter) if named and epoch is None else None
            if outer is not None:  # the compiled layout reads it too
                epoch = slots[outer].value
                reading = reading._replace(epoch=epoch, epoch_at=outer)
        elif epoch is None and self.epoch is not None and reading.epoch_at is None:
            epoch = self.epoch  # Keras: `Epoch 2/30` on a line of its own, then the epoch's lines
        if named and step is not None and total is not None and reading.step is not None and (
            shape.moving_total(step, total)
        ):  # the total counts the steps within what the value counts, the epoch
            step, total, epoch = total, None, float(step) if epoch is None else epoch
        if step is None:
            if not (repeated or (nonfinite(fields) or nonfinite(eval_fields)) and not unnamed_row(slots)):
                return None  # (a guessed loss counts only once its row repeats as progress does)
            step = ctx.step
        elif not (fields.keys() & _STRONG or eval_fields.get("loss") is not None or repeated):
            return None  # a named counter with only minor metrics: wait for the shape to repeat
        loss = fields.get("loss")
        family = reading.names
        if loss is None and "loss" not in fields and named and not eval_fields:
            loss = self._vanished_loss(family)
        elif "loss" in fields:
            self._remember_family(family)
        if shape.since_start is not False and step is not None and self._since_start(shape, reading, slots, step):
            position, since = reading.chosen["step_time"][0], fields["step_time"]
            fields = {f: v for f, v in fields.items() if f != "step_time"}
            chosen = {f: c for f, c in reading.chosen.items() if f != "step_time"}
            chosen["elapsed"] = (position, "elapsed")
            reading = reading._replace(fields=fields, elapsed=since, chosen=chosen)
        values: dict[str, Any] = {FIELD_NAMES[f]: v for f, v in fields.items() if f in FIELD_NAMES}
        values["loss"] = loss
        clock: float | None = None
        if reading.elapsed is not None and step is not None:
            per_step = self._from_elapsed(shape, step, reading.elapsed)
            if per_step is not None:
                clock = reading.elapsed
                values.setdefault("step_time_s", per_step)
            shape.elapsed, shape.step = reading.elapsed, step
        eval_loss = eval_fields.get("loss")
        if loss is None and eval_loss is None and not fields:
            return None
        time, epoch_s, rank, node = ctx.where(line, start)
        if rank is None:
            rank = reading.rank  # printed on the line itself (WeNet's `... rank 3`)
        if loss is not None and step is not None:
            loss_of = (key, slots[reading.chosen["loss"][0]].name if "loss" in reading.chosen else "")
            if self._term(loss_of, shape, step if named else None, rank, number, ctx) and math.isfinite(loss):
                if eval_loss is None:
                    return None
                loss, values = None, {}  # a term's line: only its evaluation loss is news
        if named and loss is not None and step is not None:
            ctx.step = step
            step_at = reading.step_at if reading.step is not None else shape.counter
            if repeated and step_at is not None and self.header is None and key not in self.compiled and not shape.term:
                self._compile(line, start, slots, reading, step_at, key, shape)
        if epoch_s is None and clock is not None:
            epoch_s = clock  # no wall clock: the growing elapsed time is the clock
        return StepRecord(
            step, eval_loss=eval_loss, total_steps=total, epoch=epoch, time=time, epoch_s=epoch_s,
            rank=rank, node=node, file=ctx.file, line=number, text=line, **values,
        )

    def parse_known(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        """Read `line` only if it has a layout already learned (the fast path, as the source's format):
        the same record the full reading gives, for one regex match."""
        for layout in self.fast:
            m = layout.regex.fullmatch(line)
            if m is None:
                continue
            v = m.groups()
            per_step, clock = (None, None) if layout.elapsed is None else self._elapsed(layout, v)
            where = ctx.where(line, m.end(1))
            try:
                record = layout.build(v, where, ctx.file, number, line, self.epoch, per_step, clock)
            except (ValueError, ZeroDivisionError, OverflowError):  # not plain numbers: read them carefully
                record = layout.careful(v, where, ctx.file, number, line, self.epoch, per_step, clock)
                if record is None:
                    return None
            if record.loss is not None:
                if self.loss_of is layout.loss_of:
                    self.main_at = number
                elif self._term(layout.loss_of, layout.shape, record.step, record.rank, number, ctx):
                    return None  # its layout is a term's now (it was compiled before): a finite term is no record
                ctx.step = record.step
            if layout is not self.fast[0]:  # most recently used first
                self.fast.remove(layout)
                self.fast.insert(0, layout)
            return record
        return None

    def bulk_template(self) -> re.Pattern[str] | None:
        """The most recently used learned layout as a pattern over a block of lines, while a line it
        matches is read by `parse_known` through that layout (it holds the word that sends lines here)."""
        if not self.fast:
            return None
        layout = self.fast[0]
        if layout.keyword is None or self.own_keywords != (layout.keyword,):
            return None
        return layout.bulk

    def bulk_rows(self, file: str) -> StepRows:
        """An empty block of rows read through `bulk_template`'s layout."""
        layout = self.fast[0]
        build = layout.build
        return StepRows(layout.fields(), file, lambda t, w, f, n, line: build(t, w, f, n, line, t[-3], t[-2], t[-1]))

    def read_bulk(
        self, match: re.Match[str], prefix: str, line: str, number: int, ctx: ParseContext
    ) -> tuple[tuple[Any, ...], Where] | None:
        """The row `parse_known` would make the record of: the groups, then the epoch announced
        before the line and the step time and clock of an elapsed-time slot; where the line was
        printed (its clock in place of a wall clock it lacks)."""
        layout = self.fast[0]
        v = match.groups()
        where = ctx.where(line, match.end(1) - match.start())
        if self.loss_of is layout.loss_of:
            self.main_at = number
        elif self._term(layout.loss_of, layout.shape, int(v[layout.step - 1]), where[2], number, ctx):
            return None  # the full reading drops it
        per_step, clock = (None, None) if layout.elapsed is None else self._elapsed(layout, v)
        if where[1] is None and clock is not None:
            where = (where[0], clock, where[2], where[3])
        ctx.step = int(v[layout.step - 1])
        return (*v, self.epoch, per_step, clock), where

    def _elapsed(self, layout: CompiledLayout, v: tuple[Any, ...]) -> tuple[float | None, float | None]:
        """(step time, clock) from a layout's elapsed-time slot, as `parse` derives them."""
        try:
            elapsed, step = float(v[layout.elapsed - 1]), int(v[layout.step - 1])  # type: ignore[operator]
        except ValueError:
            read, whole = read_number(v[layout.elapsed - 1]), to_float(v[layout.step - 1])  # type: ignore[operator]
            if read is None or whole is None or not whole.is_integer():
                return None, None
            elapsed, step = read, int(whole)
        elapsed *= layout.elapsed_scale
        shape = layout.shape
        per_step = self._from_elapsed(shape, step, elapsed)
        shape.elapsed, shape.step = elapsed, step
        return per_step, (elapsed if per_step is not None else None)

    def _compile(
        self, line: str, start: int, slots: list[Slot], reading: Reading, step_at: int, key: str, shape: _Shape
    ) -> None:
        """Keep the layout of a repeated shape compiled, for the fast path (a few, most recent first)."""
        ranged = any(_RANGE.fullmatch(slot.text) for slot in slots)
        twin_total = reading.total is not None and slots[step_at].total is None and "total" not in reading.chosen
        undecided = shape.since_start is None or (slots[step_at].total is not None and shape.moving is not False) or (
            slots[step_at].unit in COUNT_SUFFIXES
        )
        if ranged or "loss" not in reading.fields or reading.rank is not None or twin_total or undecided:
            # a range (`401-500batch`), no loss to read, a rank on the line, a total read off another
            # counter of the same value (true of this line only), a time not known to be a step's or
            # the time since the start, a step's total not known to be one, a step counted in thousands: the
            # full reading stays in charge
            return
        try:
            layout = CompiledLayout(line, start, slots, reading, step_at, shape)
        except (re.error, IndexError):
            return
        if layout.regex.fullmatch(line) is None:
            return
        layout.loss_of = (key, slots[reading.chosen["loss"][0]].name)
        self.compiled[key] = layout
        if len(self.compiled) > MAX_SHAPES:
            del self.compiled[next(iter(self.compiled))]
        self.fast.insert(0, layout)
        del self.fast[_MAX_FAST:]
        self.own_keywords = (layout.keyword,) if layout.keyword else None

    def _term(
        self, loss_of: tuple[str, str], shape: _Shape, step: int | None, rank: int | None, number: int,
        ctx: ParseContext,
    ) -> bool:
        """Whether a line's loss is a term of the run's loss rather than the loss itself: MXNet's
        Speedometer prints each metric on a line of its own (`Epoch[4] Batch [2140] ... Train-
        CrossEntropy=0.58`, then the same with `Train-SmoothL1=1.53`), and scripts print a summary
        with another loss every few steps; read as one series, the two would make spikes. The main
        loss is the first shape's (`loss_of`, with the name of its loss); another shape is a term
        when it prints its own `step` and that is the main's (two models trained side by side,
        DeBERTa's `[D]` and `[G]` lines), or prints another name and has been seen less often. A
        term's shape whose lines come `_PROMOTED` times in a row with no main line between them is
        the loss now (the run changed its layout). Lines of other ranks than the main's are their
        own series. True for a term's line."""
        main = self.loss_of
        if main is not None and rank != self.main_rank:
            return False
        if main is not None and main[0] != loss_of[0]:
            same_step = step is not None and step == ctx.step  # a step of its own (not the log's) the main printed
            if shape.term:
                shape.run = shape.run + 1 if shape.since == self.main_at else 1
                shape.since = self.main_at
                if shape.run < _PROMOTED:
                    return True
                shape.term = False  # the main stopped: this is the loss now
            elif same_step or main[1] != loss_of[1]:  # else the same loss at another step: its new layout
                other = self.shapes.get(main[0])
                if other is not None and (same_step or min(shape.seen, 2) < min(other.seen, 2)):
                    self._demote(loss_of[0], shape)
                    shape.run, shape.since = 1, self.main_at
                    return True
        self.loss_of, self.main_at, self.main_rank = loss_of, number, rank
        return False

    def _demote(self, key: str, shape: _Shape) -> None:
        """Make a shape a term's: its compiled layout, if any, is dropped (its lines need the full reading)."""
        shape.term = True
        layout = self.compiled.pop(key, None)
        if layout is not None and layout in self.fast:
            self.fast.remove(layout)

    def _under_header(self, line: str, start: int, slots: list[Slot]) -> list[Slot]:
        """A table row (numbers only) takes its slot names from the columns of the header above it."""
        rest = line[start:]
        for slot in reversed(slots):
            rest = rest[: slot.start - start] + rest[slot.end - start :]
        if not _ROW_REST.fullmatch(rest):
            self.header = None  # not a row: the table has ended
            return slots
        columns = self.header or ()
        named: list[Slot] = []
        for slot in slots:
            column = _column_of(columns, slot)
            if column is None:
                named.append(slot)
                continue
            label = vocabulary().column(column[1])
            named.append(slot._replace(name=label.name, split=label.split, meaning=label.meaning))
        return _total_of_losses(named)

    @staticmethod
    def _since_start(shape: _Shape, reading: Reading, slots: list[Slot], step: int) -> bool:
        """Whether the shape's step time is the time since training began (Ultralytics' `results.csv`
        column `time`: 37.98, 67.23, 94.67 after epochs 1, 2, 3), judged on its first `_OPENING` lines;
        only a time named as nothing else (`vocabulary.json`'s `maybe_elapsed`) may be one."""
        picked = reading.chosen.get("step_time")
        if picked is None or picked[1] != "step_time" or slots[picked[0]].name not in vocabulary().maybe_elapsed:
            shape.since_start, shape.opening = False, ()
            return False
        value = reading.fields.get("step_time")
        if shape.since_start is None and value is not None:
            shape.opening += ((step, value),)
            if len(shape.opening) == _OPENING:
                shape.since_start, shape.opening = _grows_since_start(shape.opening), ()
        return bool(shape.since_start)

    def _announce_epoch(self, reading: Reading, slots: list[Slot]) -> None:
        """A line that only names an epoch (`Epoch 2/30`, `Epoch: 11`) sets the epoch of the lines after it."""
        if len(slots) == 1 and reading.epoch is not None and math.isfinite(reading.epoch):
            self.epoch = reading.epoch

    def _bare_counter(self, shape: _Shape, slots: list[Slot], candidates: tuple[int, ...]) -> int | None:
        """The unnamed counter of a repeated shape: the first unnamed integer that went up since its
        last line."""
        values = tuple(slots[i].value if i in candidates else None for i in range(len(slots)))
        previous, shape.counters = shape.counters, values
        if shape.counter is None and len(previous) == len(values):
            for i in candidates:
                before = previous[i]
                if before is not None and values[i] is not None and values[i] > before:  # type: ignore[operator]
                    shape.counter = i
                    break
        if shape.counter is not None and shape.counter < len(values) and values[shape.counter] is not None:
            return int(values[shape.counter])  # type: ignore[arg-type]
        return None

    def _remember_family(self, family: frozenset[str]) -> None:
        if family == self.family:
            self.family_runs += 1
        else:
            self.family, self.family_runs = family, 1

    def _vanished_loss(self, family: frozenset[str]) -> float | None:
        """NaN when every recent line of this layout printed a loss and this one, otherwise the same, does
        not (frameworks print a loss only when its mean is >= 0, which NaN is not)."""
        if self.family is not None and self.family_runs >= 2 and family == self.family:
            return math.nan
        return None

    @staticmethod
    def _from_elapsed(shape: _Shape, step: int, elapsed: float) -> float | None:
        """The step time implied by an elapsed-time slot that grew since the shape's last line."""
        if shape.elapsed is None or shape.step is None or step <= shape.step or elapsed <= shape.elapsed:
            return None
        return (elapsed - shape.elapsed) / (step - shape.step)

