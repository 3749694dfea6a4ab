"""Progress records read in bulk, kept as columns until something needs them one by one.

A source's main layout is read a block of lines at a time (see
`ParserSet.parse_block`): each matching line becomes a row of numbers, not a
`StepRecord`. `StepRows` holds a block's rows and makes the record of a row
only when asked (it is then the very record the line-by-line reading makes).
`RecordBatch` is one batch of records, rows and line-by-line records in the order
the lines were read; it gives the plain list of records (`records()`) to code
that wants them, and `Columns`, arrays over the rows, to detectors that
screen a whole batch at once (`Detector.skim`): when a detector can prove its
per-record `observe` would raise nothing in a batch, it brings its state to
where `observe` would have left it, and the batch costs it a few array
operations. The events are the same either way (the tests compare both paths,
the detectors' state included).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np

from monitor.model import Record, StepRecord

_EXACT_INTEGERS = float(2**53)
_WHERE = {"time": 0, "epoch_s": 1, "rank": 2, "node": 3}
_ARRAYS = frozenset({"int", "div", "mul"})
"""How a field is read that gives the same float64 whether converted one by one or as an array (a
product or quotient of two floats is rounded once either way)."""

Where = tuple[str | None, float | None, int | None, str | None]
Builder = Callable[[Sequence[str], Where, str, int, str], StepRecord]


class StepRows:
    """The progress lines of one block read through one layout: per row the printed values (the
    layout's regex groups, and what the parser read beside them) and what else building its record
    takes (where the line was printed, its number and text). `fields` maps a `StepRecord` field to
    (group, how, constant), how the record has it: `int` the group read as an int; `div` read as a
    float and divided by the constant; `mul` read as a float and multiplied by it; `value` the
    group as it is (a number or None); `record` as the row's record has it (a conversion only the
    record makes). Fields not in `fields` are None on every row, but for those of where the line
    was printed (time, epoch_s, rank, node)."""

    __slots__ = ("numbers", "texts", "wheres", "lines", "fields", "file", "build", "_records", "_parent", "_index")

    def __init__(self, fields: dict[str, tuple[int, str, float]], file: str, build: Builder) -> None:
        self.fields = fields
        self.file = file
        self.build = build
        self.numbers: list[int] = []
        self.texts: list[Sequence[str]] = []
        self.wheres: list[Where] = []
        self.lines: list[str] = []
        self._records: dict[int, StepRecord] = {}
        self._parent: StepRows | None = None  # a subset's rows are its parent's (their records too)
        self._index: list[int] = []

    def add(self, texts: Sequence[str], where: Where, number: int, line: str) -> int:
        """Keep one row; its index."""
        self.texts.append(texts)
        self.wheres.append(where)
        self.numbers.append(number)
        self.lines.append(line)
        return len(self.numbers) - 1

    def __len__(self) -> int:
        return len(self.numbers)

    def subset(self, index: list[int]) -> StepRows:
        """The rows at `index`, in that order; their records are this block's own."""
        part = StepRows(self.fields, self.file, self.build)
        part.texts = [self.texts[i] for i in index]
        part.wheres = [self.wheres[i] for i in index]
        part.numbers = [self.numbers[i] for i in index]
        part.lines = [self.lines[i] for i in index]
        part._parent, part._index = self, index
        return part

    def record(self, index: int) -> StepRecord:
        """The record of row `index` (built once)."""
        if self._parent is not None:
            return self._parent.record(self._index[index])
        found = self._records.get(index)
        if found is None:
            found = self._records[index] = self.build(
                self.texts[index], self.wheres[index], self.file, self.numbers[index], self.lines[index]
            )
        return found

    def values(self, field: str, start: int, stop: int) -> list[Any]:
        """The field of rows `start` to `stop`, as their records hold it."""
        column = self.fields.get(field)
        if column is None:
            at = _WHERE.get(field)
            return [None] * (stop - start) if at is None else [w[at] for w in self.wheres[start:stop]]
        group, how, constant = column
        if how == "record":
            return [getattr(self.record(i), field) for i in range(start, stop)]
        texts = map(itemgetter(group), self.texts[start:stop])
        if how == "int":
            return list(map(int, texts))
        if how == "value":
            return list(texts)
        if how == "mul":
            return [float(t) * constant for t in texts]
        return [float(t) / constant for t in texts] if constant != 1 else list(map(float, texts))

    def column(self, group: int) -> np.ndarray[Any, Any]:
        """One group of every row, read as floats (numpy reads the texts as `float` does, faster)."""
        return np.array(list(map(itemgetter(group), self.texts)), dtype=np.float64)


class RecordRows:
    """Step records already built (read line by line), behind the interface of `StepRows`, so that
    detectors screen a batch of them as columns too. Every field is read from the records."""

    __slots__ = ("records", "wheres", "numbers")
    fields: dict[str, tuple[int, str, float]] = {}

    def __init__(self, records: list[StepRecord]) -> None:
        self.records = records
        self.wheres: list[Where] = [(r.time, r.epoch_s, r.rank, r.node) for r in records]
        self.numbers = [r.line for r in records]

    def __len__(self) -> int:
        return len(self.records)

    def subset(self, index: list[int]) -> RecordRows:
        records = self.records
        return RecordRows([records[i] for i in index])

    def record(self, index: int) -> StepRecord:
        return self.records[index]

    def values(self, field: str, start: int, stop: int) -> list[Any]:
        return list(map(attrgetter(field), self.records[start:stop]))


class RecordBatch:
    """The records of one batch in reading order: line-by-line records, and row numbers of `rows`
    (ints) where a progress line was read in bulk; then `extra` records (heartbeats)."""

    def __init__(self, items: list[Any], rows: StepRows | None) -> None:
        self.items = items
        self.rows = rows
        self.extra: list[Record] = []
        self._records: list[Record] | None = None
        self._columns: Columns | None | bool = False

    def add(self, extra: list[Record]) -> None:
        """Records to put after the batch's own (heartbeats)."""
        if extra:
            self.extra = [*self.extra, *extra]
            self._records = None
            self._columns = False

    def __bool__(self) -> bool:
        return bool(self.items or self.extra)

    def records(self) -> list[Record]:
        """Every record as an object, in order (built once)."""
        if self._records is None:
            rows = self.rows
            if rows is None:
                self._records = [*self.items, *self.extra]
            else:
                record = rows.record
                self._records = [record(x) if type(x) is int else x for x in self.items] + self.extra
        return self._records

    def last_line(self) -> int:
        """The line of the last record (0 without records)."""
        if not self.items:
            return 0
        last = self.items[-1]
        return (self.rows.numbers[last] if type(last) is int and self.rows is not None else last.line) or 0

    def columns(self, built: bool = False) -> Columns | None:
        """The batch as columns, when every step record in it was read in bulk (else None); with
        `built`, else as columns over its records (None without step records)."""
        if self._columns is False:
            rows = self.rows
            others = [x for x in self.items if type(x) is not int]
            if rows is None or any(type(x) is StepRecord for x in others) or len(rows) == 0:
                self._columns = None
            else:
                self._columns = Columns(self, rows, [*others, *self.extra])
        if self._columns is None and built:
            return self._built_columns()
        return self._columns  # type: ignore[return-value]

    def _built_columns(self) -> Columns | None:
        items: list[Any] = []
        steps: list[StepRecord] = []
        for record in self.records():
            if type(record) is StepRecord:
                items.append(len(steps))
                steps.append(record)
            else:
                items.append(record)
        if not steps:
            return None
        others = [x for x in items if type(x) is not int]
        return Columns(self, RecordRows(steps), others, items[: len(items) - len(self.extra)])


class Columns:
    """The step records of a batch as arrays (each computed when first asked for), and the batch's
    other records (`others`: timers, heartbeats, ...; `kinds` their types). A field's values are
    float64 with NaN where the record has None; `present` tells a None from a printed NaN."""

    def __init__(
        self, batch: RecordBatch | Columns, rows: StepRows | RecordRows, others: list[Record],
        items: list[Any] | None = None,
    ) -> None:
        # the batch's lists, not the batch: a batch keeps its columns, and a reference back would make a
        # cycle that only the garbage collector frees (a long scan's memory would wait for it)
        self.extra: list[Record] = batch.extra
        """The records added to the batch after it was read (heartbeats, pauses)."""
        self.rows = rows
        self.items = batch.items if items is None else items
        """The batch's records in order, a step record as its row's index (the batch's extra records apart)."""
        self.others = others
        self.kinds = {type(r) for r in others}
        ranks = {w[2] for w in rows.wheres}
        self.rank: int | None = next(iter(ranks)) if len(ranks) == 1 else None
        self.one_rank = len(ranks) == 1
        """All step records belong to one rank (`rank`); skims keep to that case."""
        self.all_ranks = ranks | {r.rank for r in others}
        """The ranks of all records, of every kind."""
        self._values: dict[str, np.ndarray[Any, Any]] = {}
        self._present: dict[str, np.ndarray[Any, Any]] = {}
        self._parts: list[Columns] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def record(self, index: int) -> StepRecord:
        """The `index`-th step record."""
        return self.rows.record(index)

    def values(self, field: str) -> np.ndarray[Any, Any]:
        """The field of every step record as float64 (NaN for None)."""
        found = self._values.get(field)
        if found is None:
            rows = self.rows
            column = rows.fields.get(field)
            if column is not None and column[1] in _ARRAYS:
                group, how, constant = column
                found = rows.column(group)
                if how == "mul":
                    found = found * constant
                elif how == "div" and constant != 1:
                    found = found / constant
                self._values[field] = found
            else:
                found = self._read(field)[0]
        return found

    def present(self, field: str) -> np.ndarray[Any, Any]:
        """Whether the field of each step record is set (not None)."""
        found = self._present.get(field)
        if found is None:
            column = self.rows.fields.get(field)
            if column is not None and column[1] in _ARRAYS:
                found = self._present[field] = np.ones(len(self.rows), dtype=bool)
            else:
                found = self._read(field)[1]
        return found

    def _read(self, field: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """A field the rows do not hold as a column: its values and presence, from the values its
        records hold."""
        values = self.rows.values(field, 0, len(self.rows))
        if None in values:
            present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
            numbers = np.array([math.nan if v is None else v for v in values], np.float64)
        else:  # every record has it (the usual case): one conversion
            numbers, present = np.array(values, np.float64), np.ones(len(values), dtype=bool)
        self._values[field], self._present[field] = numbers, present
        return numbers, present

    def lines(self) -> list[int]:
        """The line number of each step record."""
        return self.rows.numbers

    def ranks_in_order(self) -> list[int | None]:
        """The ranks of all the batch's records, in the order they first appear."""
        wheres, seen = self.rows.wheres, {}
        for x in self.items:
            seen.setdefault(wheres[x][2] if type(x) is int else x.rank, None)
        for record in self.extra:
            seen.setdefault(record.rank, None)
        return list(seen)

    def by_rank(self) -> list[Columns]:
        """The step records of each rank, as columns of their own (in the order ranks first appear;
        the batch's other records stay with the whole batch)."""
        if self.one_rank:
            return [self]
        if self._parts is None:
            index: dict[int | None, list[int]] = {}
            for i, where in enumerate(self.rows.wheres):
                index.setdefault(where[2], []).append(i)
            self._parts = [Columns(self, self.rows.subset(rows), [], self.items) for rows in index.values()]
        return self._parts

    def exact_steps(self) -> bool:
        """Whether every step number is exact as a float (compared in arrays)."""
        return bool(np.all(np.abs(self.values("step")[self.present("step")]) < _EXACT_INTEGERS))

    def trailing(self, kind: type) -> list[Record] | None:
        """The batch's records of `kind`, when they all come after its last step record (else None)."""
        found = [r for r in self.others if type(r) is kind]
        if not found:
            return found
        items = self.items
        last = next((i for i in range(len(items) - 1, -1, -1) if type(items[i]) is int), -1)
        return found if all(type(x) is not kind for x in items[:last]) else None


def went_back(epochs: np.ndarray[Any, Any], has_epoch: np.ndarray[Any, Any],
              steps: np.ndarray[Any, Any], done: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """`detectors.base.went_back` between consecutive entries (the first has no predecessor: False):
    across epochs when both print one, the epoch went down; else the step did, unless the entry
    before finished its pass (`done`, see `detectors.base.position_of`)."""
    back = np.zeros(len(steps), dtype=bool)
    if len(steps) < 2:
        return back
    both = has_epoch[1:] & has_epoch[:-1] & (epochs[1:] != epochs[:-1])
    back[1:] = np.where(both, epochs[1:] < epochs[:-1], (steps[1:] < steps[:-1]) & ~done[:-1])
    return back


def went_back_from(columns: Columns, index: np.ndarray[Any, Any],
                   position: tuple[float | None, int] | None) -> tuple[np.ndarray[Any, Any], tuple[float | None, int]]:
    """For the step records at `index` (each printing a step, at least one), in turn: whether its
    (epoch, step) went back from the one before it, the first from `position` (None: from nothing);
    and the position the last one leaves (`detectors.base.position_of` of each in turn)."""
    epochs, has_epoch = columns.values("epoch")[index], columns.present("epoch")[index]
    steps = columns.values("step")[index]
    totals = columns.values("total_steps")[index]
    counted = columns.present("total_steps")[index] & (totals > 0)
    if position is not None:
        epochs = np.concatenate(([math.nan if position[0] is None else position[0]], epochs))
        has_epoch = np.concatenate(([position[0] is not None], has_epoch))
        steps = np.concatenate(([position[1]], steps))
        totals = np.concatenate(([0], totals))
        counted = np.concatenate(([False], counted))
    done = counted & (totals <= steps)
    if position is not None:
        done[0] = position[1] == -1  # the position a finished pass leaves
    # within one logging interval of the total, in the epoch of the entry before (whose position,
    # when it finished its own pass, is -1: then this one is no such step); or printing no total
    # right after a finished pass, in its epoch or naming none (its summary)
    same_epoch = np.zeros(len(steps), dtype=bool)
    both, neither = has_epoch[1:] & has_epoch[:-1], ~has_epoch[1:] & ~has_epoch[:-1]
    same_epoch[1:] = np.where(both, epochs[1:] == epochs[:-1], neither)
    interval = np.zeros(len(steps))
    interval[1:] = steps[1:] - steps[:-1]
    near = counted & ~done & same_epoch & (interval > 0) & (totals - steps < interval)
    near[1:] &= steps[:-1] >= 0
    after = ~counted & (same_epoch | ~has_epoch)
    after[0] = False
    starts = np.zeros(len(steps), dtype=bool)  # where a run of such entries follows one that may finish
    starts[1:] = after[1:] & ~after[:-1] & (done[:-1] | near[:-1])
    for i in np.flatnonzero(near | starts).tolist():  # rare: one or two per pass at most, in order
        if near[i]:
            near[i] = not done[i - 1]
            done[i] = near[i]
            continue
        while i < len(steps) and after[i]:
            done[i] = done[i - 1]
            if done[i] and not has_epoch[i]:  # the summary stands where the pass ended, in its epoch
                epochs[i], has_epoch[i] = epochs[i - 1], has_epoch[i - 1]
            i += 1
            if i < len(steps) and not counted[i] and has_epoch[i] and has_epoch[i - 1]:
                after[i] = epochs[i] == epochs[i - 1]  # in the epoch the summary now stands in
    back = went_back(epochs, has_epoch, steps, done)
    last_epoch = None if not has_epoch[-1] else float(epochs[-1])
    end = (last_epoch, -1 if done[-1] else int(steps[-1]))
    return (back if position is None else back[1:]), end
