"""Megatron-LM iteration lines, in upstream and fork layouts.

Source: NVIDIA/Megatron-LM `megatron/training/training.py`, `training_log`
(commit 86df799d): `log_string` is built from ` <label>: <value> |` fields:
` iteration {:8d}/{:8d} |`, `consumed samples`, `elapsed time per iteration
(ms): {:.1f}`, `learning rate: {:.6E}`, `global batch size`, one field per
loss key (`lm loss: {:.6E}`, printed only when the interval mean is >= 0,
so a NaN mean makes the field vanish), `loss scale`, `grad norm`,
`num zeros`, `params norm`, `number of skipped iterations`, `number of nan
iterations`; newer upstream puts ` [YYYY-mm-dd HH:MM:SS]` in front. Both
counters are per logging interval (reset after each print).

Forks: microsoft/Megatron-DeepSpeed `megatron/training.py` adds `consumed
tokens`, `samples per second`, `tokens per gpu per second (tgs)`, `TFLOPs`;
BigScience's fork prints `elapsed time per iteration (s)`; GPT-NeoX starts
with `samples/sec:` and writes `lm_loss`; Megatron-LM v1 (2019) prints
`learning rate 1.0E-04` and `lm loss 9.8E+00` without colons.

Traps handled here (see the reference notes on progress formats):
- a loss key seen before and now missing means the interval mean was NaN,
  unless every iteration of the interval was skipped (fp16 loss-scale
  search), which also prints no loss;
- under the newer `>= 0.0` rule an all-skipped interval prints loss 0.0:
  not a real loss;
- reposted logs hard-wrap one record over several lines: the pieces are
  joined (a space is put back where the wrap ate one; a wrap in the middle
  of a word is then mis-joined, a known limit).

A line layout seen once is compiled into an anchored regex, so later lines
of the same layout are read with one match; a line that does not fit falls
back to the general reading, which gives the same result.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from monitor.columns import StepRows
from monitor.model import StepRecord
from monitor.parsers.base import PENDING, ParseContext, Parser, Where, _Pending

_HEADER = re.compile(r"iteration\s+(\d{1,18})\s*/\s*(\d{1,18}|infinity)\s*\|")
_VALIDATION = re.compile(r"\bvalid(?:ation)? loss at iteration\s+(\d{1,18})\s*\|(.*)")
_NEOX_RATE = re.compile(r"samples/sec:\s*([^\s|]+)")

_FLOAT = r"([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:[nN][aA][nN]|[iI][nN][fF]))"
"""A printed number `float` reads (and nan, inf), as one regex group: what the bulk template accepts."""
_MAX_WRAPPED_PIECES = 4
_MAX_TEMPLATE_LABELS = 64  # a real line has a few dozen fields; a regex of thousands takes seconds to compile
_FIRST_VALUE = 2  # values[0] and values[1] are the step and the planned total
_new = tuple.__new__


def _number(text: str) -> float | None:
    """Megatron numbers, tolerating NeoX's unit suffix (`8.7TFLOPS`)."""
    try:
        return float(text)
    except ValueError:
        stripped = text.removesuffix("TFLOPS")
        try:
            return float(stripped) if stripped else None
        except ValueError:
            return None


def _integer(text: str) -> int | None:
    value = _number(text)
    return int(value) if value is not None and math.isfinite(value) else None


def _count(text: str) -> int:
    """A printed count, for the compiled builder: ValueError (so `build_safely` takes over) when it is
    not digits or too long to be a count (`10**400` would overflow every float computed from it)."""
    if len(text) > 18:
        raise ValueError(f"not a count: {text[:24]}...")
    return int(text)


# label → (StepRecord field, converter, divisor into the field's unit)
_FIELDS: dict[str, tuple[str, Callable[[str], Any], float]] = {
    "elapsed time per iteration (ms)": ("step_time_s", _number, 1000.0),
    "elapsed time per iteration (s)": ("step_time_s", _number, 1.0),
    "learning rate": ("lr", _number, 1.0),
    "loss scale": ("loss_scale", _number, 1.0),
    "grad norm": ("grad_norm", _number, 1.0),
    "number of skipped iterations": ("skipped", _integer, 1),
    "number of nan iterations": ("nan_count", _integer, 1),
    "samples per second": ("samples_per_s", _number, 1.0),
    "tokens per gpu per second (tgs)": ("tokens_per_s", _number, 1.0),
    "TFLOPs": ("tflops", _number, 1.0),
    "throughput per GPU (TFLOP/s/GPU)": ("tflops", _number, 1.0),
    "approx flops per GPU": ("tflops", _number, 1.0),
}
_MAIN_LOSS_KEYS = ("lm loss", "lm_loss")
# Labels every Megatron-family iteration line prints (one is enough: reposted lines may be cut short).
_OWN_LABELS = ("elapsed time per iteration", "consumed samples", "learning rate", "lm loss", "lm_loss", "samples/sec")
_FIELD_INDEX = {name: i for i, name in enumerate(StepRecord._fields)}
_STEP, _LOSS, _TOTAL = (_FIELD_INDEX[f] for f in ("step", "loss", "total_steps"))
_WHERE = slice(_FIELD_INDEX["time"], _FIELD_INDEX["text"] + 1)


def _is_loss_key(label: str) -> bool:
    return label.endswith("loss") and label not in ("loss scale",)


class _Layout:
    """How to read one sequence of labels: which value goes to which field.

    `build` is compiled for the layout: one expression that converts each
    value (like `float(v[4]) / 1000.0`) and makes the record, so a line costs
    one call instead of a loop over converters. When a value is not a plain
    number it raises ValueError, and `build_safely` makes the same record
    with the unreadable values as None.
    """

    __slots__ = ("labels", "slots", "loss_keys", "main_loss", "template", "build", "counts", "skipped", "_bulk")

    def __init__(self, labels: tuple[str, ...], colons: bool) -> None:
        self.labels = labels
        self.slots: list[tuple[int, int, Callable[[str], Any], float]] = []
        loss_positions: list[tuple[str, int]] = []
        for position, label in enumerate(labels):
            if label in _FIELDS:
                field, convert, divisor = _FIELDS[label]
                self.slots.append((position + _FIRST_VALUE, _FIELD_INDEX[field], convert, divisor))
            elif _is_loss_key(label):
                loss_positions.append((label, position + _FIRST_VALUE))
        self.loss_keys = frozenset(label for label, _ in loss_positions)
        main = [p for label, p in loss_positions if label in _MAIN_LOSS_KEYS]
        self.main_loss = main[0] if main else (loss_positions[0][1] if loss_positions else None)
        # A layout without a loss is a NaN or an all-skipped interval: read by `_record`'s traps, never the hot path.
        self.template = (
            self._compile_template() if colons and self.loss_keys and len(labels) <= _MAX_TEMPLATE_LABELS else None
        )
        self.build: Callable[..., StepRecord] = self._compile_builder()
        self.counts = [position for position, _index, convert, _d in self.slots if convert is _integer]
        skipped = [position for position, index, _c, _d in self.slots if index == _FIELD_INDEX["skipped"]]
        self.skipped = skipped[-1] if skipped else None
        self._bulk: re.Pattern[str] | None = None

    def _template_source(self, space: str, values: Sequence[str] | None = None) -> str:
        """The template's regex; `values`: one group per label instead of any printed value."""
        # Possessive quantifiers (Python 3.11+) skip backtracking bookkeeping
        # the template never needs; older Pythons get the plain ones.
        q = "*+" if sys.version_info >= (3, 11) else "*"
        s = space
        parts = [r"iteration" + s + r"+(\d{1,18})" + s + q + r"/" + s + q + r"(\d{1,18})" + s + q + r"\|"]
        for i, label in enumerate(self.labels):
            value = r"([^|\s]" + q + r")" if values is None else values[i]
            parts.append(s + q + re.escape(label) + r":" + s + q + value + s + q + r"\|")
        parts.append(s + "*$")
        return "".join(parts)

    def _compile_template(self) -> re.Pattern[str]:
        return re.compile(self._template_source(r"\s"))

    @property
    def bulk(self) -> re.Pattern[str]:
        """The template over a block of lines joined by newlines, for lines `build` reads without
        a fault: whitespace is the template's less the newline (a match ends its line, read as the
        template reads it), a number `float` reads where `build` converts one, a count of at most
        18 digits (zero for the skipped iterations) where it counts; any other line is left to the
        template."""
        if self._bulk is None:
            groups = [r"([^|\s]*+)"] * len(self.labels)
            for position, index, convert, _divisor in self.slots:
                if convert is _integer:
                    groups[position - _FIRST_VALUE] = "(0+)" if index == _FIELD_INDEX["skipped"] else "([0-9]{1,18})"
                else:
                    groups[position - _FIRST_VALUE] = _FLOAT
            if self.main_loss is not None:
                groups[self.main_loss - _FIRST_VALUE] = _FLOAT
            self._bulk = re.compile(self._template_source(r"[^\S\n]", groups), re.MULTILINE)
        return self._bulk

    def _compile_builder(self) -> Callable[..., StepRecord]:
        items = ["None"] * len(StepRecord._fields)
        items[_STEP], items[_TOTAL] = "int(v[0])", "int(v[1])"
        for position, index, convert, divisor in self.slots:
            expression = f"{'_count' if convert is _integer else 'float'}(v[{position}])"
            items[index] = expression if divisor == 1 else f"{expression} / {divisor!r}"
        if self.main_loss is not None:
            items[_LOSS] = f"float(v[{self.main_loss}])"
        items[_WHERE] = ["w[0]", "w[1]", "w[2]", "w[3]", "file", "number", "line"]
        source = f"lambda v, w, file, number, line: new(StepRecord, ({', '.join(items)}))"
        namespace = {"float": float, "int": int, "_count": _count, "new": tuple.__new__, "StepRecord": StepRecord}
        return eval(source, namespace)  # noqa: S307 - built from the constants above, never from log text

    def build_safely(self, v: Sequence[str], w: Where, file: str, number: int, line: str) -> StepRecord:
        fields: list[Any] = [None] * len(StepRecord._fields)
        fields[_STEP] = int(v[0])
        fields[_TOTAL] = _integer(v[1])
        for position, index, convert, divisor in self.slots:
            value = convert(v[position])
            fields[index] = value / divisor if value is not None and divisor != 1 else value
        if self.main_loss is not None:
            fields[_LOSS] = _number(v[self.main_loss])
        fields[_WHERE] = (*w, file, number, line)
        return _new(StepRecord, fields)


class MegatronParser(Parser):
    """Megatron-LM, Megatron-DeepSpeed, BigScience and GPT-NeoX iteration lines."""

    name = "megatron"
    keywords = ("iteration",)
    samples = (
        " [2024-05-02 10:11:12] iteration      120/    5000 | consumed samples:        61440 | elapsed time per "
        "iteration (ms): 1532.4 | learning rate: 2.997812E-04 | global batch size:   512 | lm loss: 3.412976E+00 "
        "| loss scale: 1.0 | grad norm: 0.712 | number of skipped iterations:   0 | number of nan iterations:   0 |",
        "[default7]: iteration    31020/  115311 | consumed samples:     47371536 | consumed tokens:  97016905728 "
        "| elapsed time per iteration (s): 104.83 | learning rate: 5.287E-05 | global batch size:  2048 | lm loss: "
        "2.201442E+00 | grad norm: 0.213 | num zeros: 0.0 | number of skipped iterations:   0 | number of nan "
        "iterations:   0 | samples per second: 19.536 | TFLOPs: 149.57 |",
        " iteration      300/   50000 | elapsed time per iteration (ms): 398.2 | learning rate 1.500E-04 | "
        "lm loss 7.214360E+00 | loss scale 32768.0 |",
        " validation loss at iteration 2000 | lm loss value: 2.874411E+00 | lm loss PPL: 1.771142E+01 | ",
    )

    def __init__(self) -> None:
        self.known_loss_keys: frozenset[str] = frozenset()
        self.previous_step: int | None = None
        self.pending: list[str] | None = None
        self.pending_number = 0
        self._layouts: dict[tuple[tuple[str, ...], bool], _Layout] = {}
        self._template: _Layout | None = None

    # -- state ---------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "known_loss_keys": self.known_loss_keys,
            "previous_step": self.previous_step,
            "pending": self.pending,
            "pending_number": self.pending_number,
        }

    # -- lines ---------------------------------------------------------
    def bulk_template(self) -> re.Pattern[str] | None:
        """The layout every line of the run prints, as a pattern over a block of lines (see
        `_Layout.bulk`), while a line it matches is read by `parse`'s hot path: None otherwise."""
        layout = self._template
        if layout is None or self.known_loss_keys is not layout.loss_keys or self.pending:
            return None
        return layout.bulk

    def bulk_rows(self, file: str) -> StepRows:
        """An empty block of rows in the layout `bulk_template` matches (its values' fields)."""
        layout = self._template
        assert layout is not None
        fields = {"step": (0, "int", 1.0), "total_steps": (1, "int", 1.0)}
        for position, index, convert, divisor in layout.slots:
            fields[StepRecord._fields[index]] = (position, "int" if convert is _integer else "div", divisor)
        if layout.main_loss is not None:
            fields["loss"] = (layout.main_loss, "div", 1.0)
        return StepRows(fields, file, layout.build)

    def read_bulk(
        self, match: re.Match[str], prefix: str, line: str, number: int, ctx: ParseContext
    ) -> tuple[Sequence[str], Where] | None:
        """The row `parse` would make the record of: the values as printed, and where the line was
        printed; None when `parse` must read the line (it reads from an earlier `iteration`)."""
        if "iteration" in prefix:
            return None
        texts = match.groups()
        ctx.step = self.previous_step = int(texts[0])
        return texts, ctx.where(prefix, len(prefix))

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None | _Pending:
        layout = self._template
        if layout is not None:
            # The hot path (every line of a long run): one match against the
            # compiled layout, one compiled build; `_record` for the traps.
            start = line.find("iteration")
            m = layout.template.match(line, start)  # type: ignore[union-attr]
            if m is not None:
                values = m.groups()
                if self.known_loss_keys is layout.loss_keys:
                    try:
                        record = layout.build(values, ctx.where(line, start), ctx.file, number, line)
                    except ValueError:
                        record = None
                    if record is not None and not record.skipped:
                        ctx.step = self.previous_step = record.step
                        return record
                return self._record(line, start, number, ctx, values, layout)
        if line.rstrip().endswith("|") or "|" not in line:
            return self._parse_full(line, number, ctx)
        if _HEADER.search(line) is None or not any(label in line for label in _OWN_LABELS):
            return self._parse_full(line, number, ctx)
        self.pending = [line]
        self.pending_number = number
        return PENDING

    def resume(self, line: str, number: int, ctx: ParseContext) -> tuple[StepRecord | None | _Pending, bool]:
        assert self.pending is not None
        if "|" in line and _HEADER.search(line) is None and len(self.pending) < _MAX_WRAPPED_PIECES:
            self.pending.append(line)
            if not line.rstrip().endswith("|"):
                return PENDING, True
            return self._flush(ctx), True
        return self._flush(ctx), False

    def finish(self, ctx: ParseContext) -> StepRecord | None:
        return self._flush(ctx) if self.pending else None

    def _flush(self, ctx: ParseContext) -> StepRecord | None:
        pieces, number = self.pending or [], self.pending_number
        self.pending = None
        joined = pieces[0].rstrip() if pieces else ""
        for piece in pieces[1:]:
            piece = piece.rstrip()
            if joined and piece and not joined[-1].isspace() and not piece[0].isspace():
                joined += " "
            joined += piece
        return self._parse_full(joined, number, ctx)

    def _parse_full(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        """Read a line field by field (and learn its layout)."""
        header = _HEADER.search(line)
        if header is None:
            return self._parse_validation(line, number, ctx)
        if not any(label in line for label in _OWN_LABELS):
            return None  # another framework's `iteration i/n |` (NeMo's `Training epoch 0, iteration 49/99 |`)
        labels: list[str] = []
        values: list[str] = []
        colons = True
        for part in line[header.end() :].split("|"):
            part = part.strip()
            if not part:
                continue
            label, sep, value = part.partition(":")
            if not sep:  # Megatron-LM v1: `learning rate 1.000E-04`
                label, _, value = part.rpartition(" ")
                colons = False
            labels.append(label.strip())
            values.append(value.strip())
        key = (tuple(labels), colons)
        layout = self._layouts.get(key)
        if layout is None:
            if len(self._layouts) > 64:
                self._layouts.clear()
            layout = self._layouts[key] = _Layout(key[0], colons)
        start = header.start()
        neox = _NEOX_RATE.search(line, 0, start)
        if layout.template is not None and header.group(2) != "infinity" and neox is None:
            self._template = layout
        # A record that does not end in `|` was cut (a truncated file, a
        # wrap that never completed): a loss missing from it is not a NaN.
        complete = line.rstrip().endswith("|")
        record = self._record(line, start, number, ctx, (header.group(1), header.group(2), *values), layout, complete)
        if neox and record is not None:
            record = record._replace(samples_per_s=_number(neox.group(1)))
        return record

    def _parse_validation(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        m = _VALIDATION.search(line)
        if m is None:
            return None
        for part in m.group(2).split("|"):
            label, _, value = part.partition(":")
            if label.strip() in ("lm loss value", "lm_loss value"):
                eval_loss = _number(value.strip())
                break
        else:
            return None
        time, epoch_s, rank, node = ctx.where(line, m.start())
        return StepRecord(
            int(m.group(1)), eval_loss=eval_loss, time=time, epoch_s=epoch_s,
            rank=rank, node=node, file=ctx.file, line=number, text=line,
        )

    def _record(
        self, line: str, start: int, number: int, ctx: ParseContext, values: Sequence[str], layout: _Layout,
        complete: bool = True,
    ) -> StepRecord:
        """The record for `values`: step and total, then one value per label of `layout`."""
        where = ctx.where(line, start)
        try:
            record = layout.build(values, where, ctx.file, number, line)
        except ValueError:
            record = layout.build_safely(values, where, ctx.file, number, line)
        step = ctx.step = record.step
        previous, self.previous_step = self.previous_step, step
        known = self.known_loss_keys
        if (
            record.skipped or not known >= layout.loss_keys or (known and not layout.loss_keys >= known)
            or not layout.loss_keys
        ):
            return self._reread_loss(record, layout, previous, complete)
        return record

    def _reread_loss(self, record: StepRecord, layout: _Layout, previous: int | None, complete: bool) -> StepRecord:
        """Apply the traps of skipped intervals and vanished loss keys."""
        step, skipped, loss = record.step, record.skipped, record.loss
        assert step is not None
        interval = step - previous if previous is not None and step > previous else None
        all_skipped = bool(skipped) and (interval is None or skipped >= interval)  # type: ignore[operator]
        if all_skipped and loss == 0.0:
            loss = None  # the `>= 0.0` rule prints an empty interval as 0.0
        known = self.known_loss_keys
        if known and complete and not all_skipped and not layout.loss_keys >= known:
            loss = math.nan  # a loss key vanished: its interval mean was NaN
        elif not layout.loss_keys and complete and skipped == 0 and record.nan_count is not None:
            loss = math.nan  # no loss at all though no iteration was skipped: only a NaN mean is not printed
        merged = known | layout.loss_keys
        # the layout's own set when they are equal: `parse` checks it by identity
        self.known_loss_keys = layout.loss_keys if merged == layout.loss_keys else merged
        return record if loss is record.loss else record._replace(loss=loss)
