"""A learned layout compiled for its shape: one anchored regex and one record builder.

Once a line shape repeats, the layout learner compiles it (`CompiledLayout`):
the line's text between its slots becomes literal regex text (digits and
padding allowed to change), each slot a group, and a plan says which group
is which record field and how to convert it (a factor into seconds, the
inverse of a rate, the log of a perplexity). The builder is one expression
built from the plan's integers (never from log text), so a line of a long
run costs one match and one call, and gives the record the full reading
would.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any

from monitor.model import StepRecord
from monitor.parsers.base import to_float
from monitor.parsers.slots import FIELD_NAMES, Reading, Slot, _convert, duration, read_number
from monitor.parsers.vocabulary import vocabulary

_STEP, _TOTAL, _EPOCH, _STEP_TIME, _TIME, _EPOCH_S, _RANK, _NODE, _FILE, _LINE, _TEXT = (
    StepRecord._fields.index(f) for f in (
        "step", "total_steps", "epoch", "step_time_s", "time", "epoch_s", "rank", "node", "file", "line", "text",
    )
)
# A printed number (thousands separators allowed), and one `float` reads as it is (for the bulk
# pattern, whose rows the builder converts without a fault); then either with the non-finite
# spellings. A loss term beside the loss (`CrossEntropy=2.1, SmoothL1=0.4`) takes the finite ones
# only: a line whose term is not finite is the run's NaN, which the full reading reports.
_FINITE_NUMBER = r"[-+]?(?:\d[\d,]{0,30}(?:\.\d{0,40})?|\.\d{1,40})(?:[eE][-+]?\d{1,3})?"
_FINITE_PLAIN = r"[-+]?(?:\d{1,30}(?:\.\d{0,40})?|\.\d{1,40})(?:[eE][-+]?\d{1,3})?(?![\d,#])"
_NONFINITE = r"[-+]?(?:nan|NaN|NAN|inf|Inf|INF|Infinity|infinity|INFINITY)"
_NUM = rf"({_FINITE_NUMBER}|{_NONFINITE}(?:x{{1,3}}(?!\w))?|-?1\.#(?:INF|IND|QNAN))"
_PLAIN = rf"({_FINITE_PLAIN}|{_NONFINITE})"
_FINITE, _PLAIN_FINITE = f"({_FINITE_NUMBER})", f"({_FINITE_PLAIN})"
_DURATION = r"((?:\d{1,4} days?, )?\d{1,4}:\d\d(?::\d\d)?(?:\.\d{1,6})?)"
# A whole number `int` reads; whitespace that stays within its line.
_WHOLE = r"([-+]?\d{1,18})(?![\d.,#eE])"
_BULK_SPACE, _BULK_SPACE1 = ((r"[^\S\n]*+", r"[^\S\n]++") if sys.version_info >= (3, 11)
                             else (r"[^\S\n]*", r"[^\S\n]+"))
_PIECES = re.compile(r"(\s+|\d+)")
_INDEX = {name: i for i, name in enumerate(StepRecord._fields)}
_RECORD_FIELDS = {**{f: _INDEX[n] for f, n in FIELD_NAMES.items()}, "eval_loss": _INDEX["eval_loss"]}
_new = tuple.__new__


# Possessive repeats (Python 3.11+) give nothing back: the layout never needs them to.
_SPACE, _SPACE1, _DIGITS = (r"\s*+", r"\s++", r"\d++") if sys.version_info >= (3, 11) else (r"\s*", r"\s+", r"\d+")


def _literal(text: str, between_numbers: bool, space: str = _SPACE, space1: str = _SPACE1) -> str:
    """A regex for the text between two slots: digits and padding may change from line to line."""
    if between_numbers and text.isspace():
        return space1  # keep two numbers apart
    out = []
    for piece in _PIECES.split(text):
        if piece:
            out.append(space if piece.isspace() else _DIGITS if piece.isdigit() else re.escape(piece))
    return "".join(out)


def keyword_of(line: str, start: int, slots: list[Slot]) -> str | None:
    """A word of the message that every line of this layout prints (its first of three letters or
    more): the cheap test that sends a line to the layout first."""
    previous = start
    for slot in [*slots, None]:
        end = slot.start if slot is not None else len(line)
        for word in re.findall(r"[A-Za-z]{3,}", line[previous:end]):
            return word
        if slot is None:
            break
        previous = slot.end
    return None


class CompiledLayout:
    """A learned layout compiled for its shape: one anchored regex, and which group is which field."""

    __slots__ = (
        "regex", "plan", "step", "total", "epoch", "elapsed", "elapsed_scale", "shape", "build", "keyword", "_source",
        "_bulk", "loss_of",
    )

    def __init__(self, line: str, start: int, slots: list[Slot], reading: Reading, step_at: int, shape: Any) -> None:
        """Compile the layout of `line` (message from `start`), read as `slots` and `reading`, whose
        step is the slot at `step_at`; `shape` keeps the elapsed-time state the record needs."""
        self._source = (line, start, slots, step_at, reading.terms)
        self._bulk: re.Pattern[str] | None | bool = False
        self.keyword = keyword_of(line, start, slots)
        pattern, groups = self._pattern(line, start, slots, step_at, reading.terms, bulk=False)  # slot -> group
        self.regex = re.compile(pattern)
        self.plan: list[tuple[int, int, str, float]] = []
        for field, (position, source) in reading.chosen.items():
            index = _RECORD_FIELDS.get(field)
            if index is None:
                continue
            slot = slots[position]
            if source == "perplexity":
                kind, factor = "log", 1.0
            elif source == "step_rate":
                kind, factor = "inverse", 1.0
            elif ":" in slot.text:
                kind, factor = "same", 1.0
            else:
                unit = vocabulary().unit_of(slot.unit) if slot.unit else None
                probe = _convert(slot._replace(value=1.0), source)
                kind = "inverse" if unit is not None and unit.inverse and source == "step_time" else "scale"
                factor = 1.0 if kind == "inverse" or probe is None else probe
            self.plan.append((groups[position], index, kind, factor))
        self.step = groups[step_at]
        planned = reading.chosen.get("total")  # `max_steps: 10000` printed beside the step
        if slots[step_at].total is not None:
            self.total: int | None = groups[step_at] + 1
        else:
            self.total = groups[planned[0]] if planned is not None else None
        self.epoch = groups[reading.epoch_at] if reading.epoch_at is not None else None
        elapsed = reading.chosen.get("elapsed")
        self.elapsed = groups[elapsed[0]] if elapsed is not None else None
        # seconds per printed unit of the elapsed time (`train_time:7433589ms`), as the full reading converts
        self.elapsed_scale = (_convert(slots[elapsed[0]]._replace(value=1.0), "elapsed") or 1.0) if elapsed else 1.0
        self.shape = shape
        self.build = self._compile_builder()
        self.loss_of: tuple[str, str] = ("", "")  # (shape, loss name) of its records, set by the learner

    @staticmethod
    def _pattern(
        line: str, start: int, slots: list[Slot], step_at: int, terms: tuple[int, ...], bulk: bool
    ) -> tuple[str, list[int]]:
        """The layout's regex, for one line or (`bulk`) for a line of a block joined by newlines whose
        every group the builder converts without a fault; and each slot's group number. The loss
        terms (`terms`, slot positions) match only finite values."""
        space, space1 = (_BULK_SPACE, _BULK_SPACE1) if bulk else (_SPACE, _SPACE1)
        greedy = space.replace("+", "")  # what `\s*` is in this regex
        number = _PLAIN if bulk else _NUM
        parts = [f"({_literal(line[:start], False, space, space1)})"]
        groups: list[int] = []
        group = 1  # the prefix's
        previous = start
        for i, slot in enumerate(slots):
            parts.append(_literal(line[previous : slot.start], i > 0, space, space1))
            group += 1
            groups.append(group)
            if ":" in slot.text:
                parts.append(_DURATION)
            else:
                finite = _PLAIN_FINITE if bulk else _FINITE
                parts.append(_WHOLE if bulk and i == step_at else finite if i in terms else number)
                if slot.total is not None:
                    parts.append(f"{greedy}/{greedy}" + r"(\d{1,18})")
                    group += 1
            parts.append(_literal(line[slot.start + len(slot.text) : slot.end], False, space, space1))
            previous = slot.end
        parts.append(_literal(line[previous:].rstrip(), False, space, space1) + greedy)
        source = "".join(parts)
        return ("^" + source + "$" if bulk else source), groups

    @property
    def bulk(self) -> re.Pattern[str] | None:
        """The layout over a block of lines (multiline, anchored at each line's ends), for the lines
        the builder reads without a fault (plain numbers, a whole step); None for a layout whose
        values only the record converts right (a perplexity's log, a rate's inverse: their row
        would need a check the record makes anyway)."""
        if self._bulk is False:
            if any(kind in ("log", "inverse") for _g, _i, kind, _f in self.plan):
                self._bulk = None
            else:
                try:
                    self._bulk = re.compile(self._pattern(*self._source, bulk=True)[0], re.MULTILINE)
                except re.error:
                    self._bulk = None
        return self._bulk  # type: ignore[return-value]

    def fields(self) -> dict[str, tuple[int, str, float]]:
        """How a row read through `bulk` holds each field (see `monitor.columns.StepRows`): the
        groups, then the epoch announced before the line, the step time and the clock from the
        elapsed-time slot (the last three entries of a row)."""
        n = self.regex.groups
        fields: dict[str, tuple[int, str, float]] = {
            "step": (self.step - 1, "int", 1.0),
            "epoch": (self.epoch - 1, "div", 1.0) if self.epoch is not None else (n, "value", 1.0),
            "step_time_s": (n + 1, "value", 1.0),
        }
        if self.total is not None:
            fields["total_steps"] = (self.total - 1, "int", 1.0)
        for group, index, kind, factor in self.plan:
            name = StepRecord._fields[index]
            if kind == "same":
                fields[name] = (group - 1, "record", 1.0)
            else:
                fields[name] = (group - 1, "mul", factor) if factor != 1.0 else (group - 1, "div", 1.0)
        return fields

    def _compile_builder(self) -> Any:
        """One expression that converts each group and makes the record (`v` the groups, `w` the
        line's time, rank and node, `st` and `ck` the step time and clock from an elapsed slot), so a
        line costs one call. Built from the plan's integers and this module's constants, never from
        log text. A value that is not a plain number raises, and `careful` reads it instead."""
        items = ["None"] * len(StepRecord._fields)
        for group, index, kind, factor in self.plan:
            value = f"float(v[{group - 1}])"
            if kind == "log":
                value = f"log({value})"
            elif kind == "inverse":
                value = f"1.0 / {value}"
            elif kind == "same":
                value = f"duration(v[{group - 1}])"
            elif factor != 1.0:
                value = f"{value} * {factor!r}"
            items[index] = value
        items[_STEP] = f"int(v[{self.step - 1}])"
        if self.total is not None:
            items[_TOTAL] = f"int(v[{self.total - 1}])"
        items[_EPOCH] = f"float(v[{self.epoch - 1}])" if self.epoch is not None else "epoch"
        if items[_STEP_TIME] == "None":
            items[_STEP_TIME] = "st"
        items[_TIME] = "w[0]"
        items[_EPOCH_S] = "ck if w[1] is None else w[1]"
        items[_RANK], items[_NODE] = "w[2]", "w[3]"
        items[_FILE], items[_LINE], items[_TEXT] = "file", "number", "line"
        source = f"lambda v, w, file, number, line, epoch, st, ck: new(StepRecord, ({', '.join(items)},))"
        namespace = {"float": float, "int": int, "log": math.log, "duration": duration, "new": _new,
                     "StepRecord": StepRecord}
        return eval(source, namespace)  # noqa: S307 - built from the plan's integers, never from log text

    def values(self, v: tuple[Any, ...]) -> list[Any] | None:
        """The record's fields, from a match's groups (None when a value does not read as a number)."""
        fields: list[Any] = [None] * len(StepRecord._fields)
        for group, index, kind, factor in self.plan:
            text = v[group - 1]
            value = duration(text) if kind == "same" and ":" in text else read_number(text)
            if value is None:
                return None
            if kind == "log":
                value = math.log(value) if value > 0 else value
            elif kind == "inverse":
                if value <= 0:
                    return None
                value = 1.0 / value
            elif factor != 1.0:
                value *= factor
            fields[index] = value
        return fields

    def careful(
        self, v: tuple[Any, ...], where: tuple[Any, ...], file: str, number: int, line: str, epoch: float | None,
        per_step: float | None, clock: float | None,
    ) -> StepRecord | None:
        """The record `build` makes, for values that are not plain numbers (`1,000`, `1.#INF`), on which
        it raised; None when a value reads as no number."""
        fields = self.values(v)
        step = to_float(v[self.step - 1])
        if fields is None or step is None or not step.is_integer():
            return None
        fields[_STEP] = int(step)
        if self.total is not None:
            total = to_float(v[self.total - 1])
            fields[_TOTAL] = int(total) if total is not None and total.is_integer() else None
        fields[_EPOCH] = read_number(v[self.epoch - 1]) if self.epoch is not None else epoch
        if fields[_STEP_TIME] is None:
            fields[_STEP_TIME] = per_step
        fields[_TIME], fields[_EPOCH_S] = where[0], where[1] if where[1] is not None else clock
        fields[_RANK], fields[_NODE] = where[2], where[3]
        fields[_FILE], fields[_LINE], fields[_TEXT] = file, number, line
        return _new(StepRecord, fields)
