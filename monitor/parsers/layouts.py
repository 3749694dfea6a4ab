"""Progress lines in any layout: slots named from the line, layouts learned from repeats.

Frameworks without a parser of their own still print their progress as
numbers with names: `Step 5650/50000; xent: 2.13`, `Epoch(train) [2][100/788]
lr: 2.0e-03 ... loss: 1.50`, `global step 665: loss = 1.47 (646.6 sec/step)`,
`Ep. 1 : Up. 1000 : Cost 5.21 : Time 61.2s : 9021.4 words/s`. This parser
reads any such line the framework parsers left alone:

1. **Slots.** Every number (`1,052,108`, `2.0e-03`, `nan`, `-nan`, `inf`,
   `1.#INF`, a clock duration `4:14:00`) is a slot. Its name is the label
   printed just before it (`key: v`, `key=v`, `key v`, `'key': v`,
   `| key v |`), its unit the text just after it (`ms`, `s/it`, `words/s`);
   `i/n` is a slot with a total.
2. **Meaning.** Names and units are looked up in the vocabulary
   (`vocabulary.json`): step, epoch, loss (perplexity as exp(loss)), grad
   norm, lr, loss scale, step time (ms, s, sec/step, s/it; it/s inverted),
   elapsed time, throughput, TFLOP/s, MFU; an evaluation split (`val_loss`,
   `[valid]`, `Epoch(val)`) makes it an evaluation value.
3. **The step.** A named counter (`step`, `iter`, `global step`, `Up.`), else
   a counter with a total after an epoch (`[e][i/n]`, `Epoch 1, i/N`) or at
   the start of the line (Keras), which counts batches within the epoch, else
   the epoch alone (runs that log once per epoch). A line whose counter has
   no name (`100 | loss 2.1 | ...`, a table row) becomes a layout once its
   shape (the line with its numbers taken out) repeats with that number
   increasing. A line with no counter at all takes the step the log is at
   (`ctx.step`), once its shape has repeated, or at once when it shows a
   non-finite loss or grad norm.
4. **A record** needs a step and a metric: a loss or grad norm on any line,
   any metric on a repeated shape. A loss name that every earlier line of the
   same layout printed and this one lacks means the loss was NaN (Megatron's
   rule, generalised). An elapsed-time slot (`21110 sec`) gives the step time
   from its growth, and serves as the clock where no timestamp is printed.

Once a shape is known, it is compiled into one anchored regex with a plan of
which group is which field, so the lines of a long run cost one match.

Memory is bounded: at most `MAX_SHAPES` shapes per source, `MAX_SLOTS`
slots per line, lines of at most `MAX_LINE_CHARS` characters.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from monitor.model import StepRecord
from monitor.parsers.base import ParseContext, Parser, to_float
from monitor.parsers.timestamps import _TIMESTAMP
from monitor.parsers.vocabulary import Meaning, vocabulary

MAX_LINE_CHARS = 4096
MAX_SHAPES = 256
MAX_SLOTS = 48
_LOSS_FIELDS = ("loss", "perplexity")

# A number token: a clock duration, a number (with thousands separators, an exponent, and an
# optional `/total`), or a non-finite spelling. Every repeat is bounded.
_TOKEN = re.compile(
    r"(?P<dur>(?<![\w.:])(?:\d{1,4} days?, )?\d{1,4}:[0-5]\d(?::[0-5]\d)?(?:\.\d{1,6})?(?![\w:]))"
    r"|(?<![\w.#+-])(?P<nan>[-+]?(?:nan|NaN|NAN|inf|Inf|INF|Infinity|infinity|INFINITY)(?!\w)|-?1\.#(?:INF|IND|QNAN))"
    r"|(?<![\w.#+-])(?P<num>[-+]?(?:(?:\d{1,3}(?:,\d{3}){1,6}(?![\d,])|\d{1,18})(?:\.\d{0,40})?|\.\d{1,40})"
    r"(?:[eE][-+]?\d{1,3})?)(?:[ \t]{0,2}/[ \t]{0,2}(?P<total>\d{1,18})(?![\d.])|-(?P<upto>\d{1,18})(?=[A-Za-z]))?"
)
# The label at the end of the text before a number: up to six words joined by single spaces,
# then separators, then an optional opening bracket.
_LABEL = re.compile(
    r"(?:^|(?<=[\s|;,:=\[\]{}<>'\"]))((?:[A-Za-z_]|\((?=[A-Za-z]))[\w./()#-]{0,63}"
    r"(?: (?:[A-Za-z_]|\((?=[A-Za-z]))[\w./()#-]{0,63}){0,5})"
    r"[\s'\":=]{0,12}([\[(]?)[ \t]{0,8}$"
)
_BRACKET_ONLY = re.compile(r"[\s\]\[)(]{0,8}[\[(][ \t]{0,8}$")
_GLUED_UNIT = re.compile(r"[A-Za-z%][A-Za-z%/]{0,15}")
# What may stand in front of the message, before its timestamp: a log viewer's line number
# (`[1744] `), launcher prefixes (`[default0]:`, `[rank1]:`, `3: `, `worker-3: `).
_LEAD = re.compile(
    r"(?:\s{0,8}(?:\[[^\]\n]{0,64}\]:?|\d{1,6}:(?= )|[A-Za-z](?:(?!\d)[\w.-]){0,40}\d[\w.-]{0,20}:(?= )))+"
)
# ...and after it: the rest of a bracket the timestamp opened (`[05/17 23:20:47 d2.utils.events]:`),
# a thread id and source location (glog `139876 train.py:48]`, `[logging.py:96:log_dist]`), a level.
_CLOSE = re.compile(r"[^\[\]\n]{0,48}\]:?")
_AFTER_STAMP = re.compile(
    r"(?:\s{0,4}(?:\d{1,8}\s{1,4})?(?:[IWEF]\s)?\[?[\w.-]{1,64}\.(?:py|cc|cpp|cu|h|lua|go|rs|java|scala):\d{1,6}(?::\w{1,40})?\]?:?"
    r"|\s{0,4}(?:-\s)?\[?(?:INFO|WARNING|WARN|DEBUG|ERROR|I|W)\]?:?(?=\s)"
    r"|\s{0,4}\[rank\d{1,6}\]:)+"
)
_CONFIG_REPR = re.compile(r"\w\(\w+=")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


class Slot(NamedTuple):
    """One number of a line, with what is printed around it."""

    name: str  # normalised label ('' when none)
    split: str | None  # 'eval', 'train' or None
    meaning: Meaning | None
    text: str
    value: float | None
    total: int | None
    unit: str | None
    bracketed: bool
    start: int
    end: int


def _value(m: re.Match[str]) -> float | None:
    if m.group("num") is not None:
        return to_float(m.group("upto") or m.group("num"))  # `401-500batch` (ESPnet) stands at its end
    if m.group("nan") is not None:
        text = m.group("nan").lower()
        if "#" in text:
            return -math.inf if text.startswith("-1.#inf") else (math.inf if "inf" in text else math.nan)
        return float(text)
    return _duration(m.group("dur"))


def _unit_after(line: str, end: int) -> tuple[str | None, int]:
    """The unit printed right after a number ending at `end`, and where it ends."""
    vocab = vocabulary()
    head = line[end : end + 24].lower()
    spaces = len(head) - len(head.lstrip(" "))
    if spaces <= 2:
        rest = head[spaces:]
        for unit in vocab.spaced_units:
            if rest.startswith(unit) and (len(rest) == len(unit) or not rest[len(unit)].isalpha()):
                if spaces and rest[len(unit) : len(unit) + 1] in ("=", ":"):
                    break  # `s/sec=1.2 tok/sec=3.4`: a label, not this number's unit
                return unit, end + spaces + len(unit)
    m = _GLUED_UNIT.match(line, end)
    if m is not None:
        return m.group().lower(), m.end()
    return None, end


def read_slots(line: str, start: int) -> list[Slot]:
    """The slots of `line` from index `start` on (the message, past its prefix)."""
    vocab = vocabulary()
    slots: list[Slot] = []
    previous = start
    for m in _TOKEN.finditer(line, start):
        if len(slots) >= MAX_SLOTS:
            break
        gap = line[max(previous, m.start() - 96) : m.start()]
        label = _LABEL.search(gap)
        if label is not None:
            raw, bracketed = label.group(1), bool(label.group(2))
        else:
            raw, bracketed = "", _BRACKET_ONLY.search(gap) is not None
        name, unit = vocab.normalise(raw) if raw else ("", None)
        split, base = vocab.split(name) if name else (None, "")
        printed_unit, end = _unit_after(line, m.end())
        unit = printed_unit or unit
        total = m.group("total")
        slots.append(Slot(
            base, split, vocab.classify(base, identifier=" " not in raw.strip()) if base else None, m.group(),
            _value(m), int(total) if total else None, unit, bracketed, m.start(), end,
        ))
        previous = end
    return _index_before_colon(line, slots)


_STEP_BEFORE_VALUE = Meaning("step", 1, 0)


def _index_before_colon(line: str, slots: list[Slot]) -> list[Slot]:
    """`Validation loss 8416:  0.7117`: a whole number right after a name and before a colon, then an
    unnamed value, is the step the value belongs to; the name is the value's."""
    for i in range(len(slots) - 1):
        here, after = slots[i], slots[i + 1]
        if (
            here.name and not after.name and here.total is None and not here.unit and here.value is not None
            and here.value.is_integer() and line[here.end : after.start].strip() == ":"
        ):
            slots[i + 1] = after._replace(name=here.name, split=here.split, meaning=here.meaning)
            slots[i] = here._replace(name="", split=None, meaning=_STEP_BEFORE_VALUE)
    return slots


def message_start(line: str) -> int:
    """Where the message of `line` starts: after launcher prefixes, a timestamp and what logging
    puts after it."""
    start = 0
    lead = _LEAD.match(line)
    if lead is not None:
        start = lead.end()
    stamp = _TIMESTAMP.search(line, start, start + 96)
    if stamp is not None and stamp.start() - start < 64:
        opened = stamp.start() > 0 and line[stamp.start() - 1] == "["
        start = stamp.end()
        close = _CLOSE.match(line, start) if opened else None
        if close is not None:
            start = close.end()
        after = _AFTER_STAMP.match(line, start)
        if after is not None:
            start = after.end()
    return start


def shape_of(line: str, start: int, slots: list[Slot]) -> str:
    """The line with its numbers taken out: what repeats from one progress line to the next."""
    pieces: list[str] = []
    previous = start
    for slot in slots:
        pieces.append(line[previous : slot.start])
        pieces.append("\x00")
        previous = slot.end if slot.unit else slot.start + len(slot.text)
    pieces.append(line[previous:])
    return _SPACES.sub(" ", _DIGITS.sub("0", "".join(pieces))).strip()


class Reading(NamedTuple):
    """What one line says, before the step is settled."""

    fields: dict[str, float | None]
    eval_fields: dict[str, float | None]
    step: int | None
    epoch: float | None
    total: int | None
    elapsed: float | None
    named: bool  # the step came from a named counter (or an epoch), not from context
    counters: tuple[int, ...]  # positions of unnamed integer slots (bare-counter candidates)
    names: frozenset[str]  # every slot name of the line but the loss's
    chosen: dict[str, tuple[int, str]]  # field -> (slot position, field it was read as), for the fast path
    step_at: int | None  # the slot position of the step (and its total), of the epoch
    epoch_at: int | None


_TIME_UNITS = frozenset({"s", "sec", "secs", "second", "seconds", "ms", "msec", "min", "mins", "minutes", "us"})


def _convert(slot: Slot, field: str) -> float | None:
    value = slot.value
    if value is None:
        return None
    if field in ("step_time", "elapsed"):
        unit = vocabulary().unit_of(slot.unit) if slot.unit else None
        factor = unit.factor if unit is not None and unit.field in (None, "step_time", "elapsed") else 1.0
        if unit is not None and unit.inverse:
            return 1.0 / value if value > 0 else None
        return value * factor
    if field == "mfu":
        return value / 100.0 if (slot.unit or "").startswith("%") else value
    return value


_SEGMENTS = re.compile(r"[|;\[\]()<>]")
_PROSE_EXTRAS = 1
"""Plain words a step or loss name may carry in front (`Training iter`); more is prose
(`Resuming from step`), except on an evaluation line (`Evaluation result for step`)."""
_EVAL_PROSE_EXTRAS = 3


def is_eval_line(line: str, first: int) -> bool:
    """Whether a line reports an evaluation: a marker before its first number (`[valid]`,
    `Validation`, `Saving dict for global step`), or a split word standing alone between
    separators anywhere (`Epoch 0 | Validation | ...`)."""
    vocab = vocabulary()
    head = line[max(0, first - 64) : first].lower()
    if any(marker in head for marker in vocab.eval_markers if " " in marker):
        return True
    if any(word in vocab.eval_splits or word in vocab.eval_markers for word in re.split(r"[^a-z]+", head)):
        return True
    return any(segment.strip().lower() in vocab.eval_splits for segment in _SEGMENTS.split(line[first:], 16))


def _field_of(slot: Slot, eval_line: bool) -> tuple[str | None, tuple[int, int]]:
    """The field a slot stands for and its rank (lower is better) among slots of that field."""
    vocab = vocabulary()
    meaning = slot.meaning
    unit = vocab.unit_of(slot.unit) if slot.unit else None
    if meaning is not None:
        field, rank = meaning.field, (meaning.tier, meaning.extras)
        if field in ("step", "loss", "perplexity") and meaning.extras > (
            _EVAL_PROSE_EXTRAS if eval_line or slot.split == "eval" else _PROSE_EXTRAS
        ):
            return None, rank  # prose
        if field == "epoch" and meaning.extras > _PROSE_EXTRAS:
            return None, rank
        if field == "step_time" and unit is not None and unit.field not in (None, "step_time"):
            return unit.field, rank  # `speed: 95.7 samples/sec`
        if field == "step_time" and unit is None and slot.unit and slot.unit not in _TIME_UNITS:
            return None, rank  # a time-like name with some other unit
        return field, rank
    if unit is not None and unit.field is not None:
        return unit.field, (0 if unit.field == "step_time" else 1, 0)
    if unit is not None and not slot.name:
        # an unnamed duration: per step when in brackets or in ms (`(646.6 sec/step)`, `36.58 ms`),
        # else the time since the start (`21110 sec`), which grows from line to line
        return ("step_time" if slot.bracketed or unit.factor < 1 else "elapsed"), (2, 0)
    return None, (9, 9)


def _counter(slot: Slot) -> bool:
    """An unnamed, unitless whole number: it may count steps."""
    value = slot.value
    return not slot.name and not slot.unit and value is not None and value >= 0 and value.is_integer()


def read(line: str, slots: list[Slot]) -> Reading:
    """Classify the slots of one line: fields, the step, the epoch."""
    best: dict[str, tuple[tuple[int, int], float | None, int]] = {}
    best_eval: dict[str, tuple[tuple[int, int], float | None, int]] = {}
    loss_name = ""
    step_slot: Slot | None = None
    step_rank = (99, 99)
    epoch_slot: Slot | None = None
    eval_line = is_eval_line(line, slots[0].start if slots else len(line))
    counters: list[int] = []
    in_epoch: Slot | None = None  # a counter with a total that counts batches within the epoch
    leading: Slot | None = None  # an unnamed whole number before it, which is then the epoch
    for position, slot in enumerate(slots):
        field, rank = _field_of(slot, eval_line)
        if field == "step":
            if slot.value is not None and slot.value.is_integer() and slot.value >= 0 and rank < step_rank:
                step_slot, step_rank = slot, rank
            continue
        if field == "epoch":
            if epoch_slot is None and slot.value is not None:
                epoch_slot = slot
            continue
        if field is None:
            if _counter(slot):
                if slot.total is not None and in_epoch is None and (
                    epoch_slot is not None or position == 0 or (position == 1 and leading is not None)
                ):
                    in_epoch = slot  # `[e][i/n]`, `Epoch e, i/N`, timm's `Train: e [i/n (p%)]`, Keras `i/n [===]`
                elif position == 0 and slot.bracketed and slot.total is None:
                    step_slot, step_rank = slot, (5, 0)  # `[1000] loss=...` (CLU)
                elif slot.total is None:
                    counters.append(position)
                    if position == 0:
                        leading = slot
            continue
        target = best_eval if (slot.split == "eval" or eval_line) else best
        held = target.get(field)
        if held is None or rank < held[0]:
            target[field] = (rank, _convert(slot, field), position)
            if field == "loss" and target is best:
                loss_name = slot.name
    chosen: dict[str, tuple[int, str]] = {}
    fields = {f: v for f, (_, v, _) in best.items()}
    eval_fields = {f: v for f, (_, v, _) in best_eval.items()}
    for target, picks, prefix in ((fields, best, ""), (eval_fields, best_eval, "eval_")):
        for field, (_, _, position) in picks.items():
            chosen[prefix + field] = (position, field)
        if "loss" not in target and "perplexity" in target:
            ppl = target["perplexity"]
            target["loss"] = math.log(ppl) if ppl is not None and ppl > 0 else ppl
            chosen[prefix + "loss"] = (picks["perplexity"][2], "perplexity")
        target.pop("perplexity", None)
        rate = target.pop("step_rate", None)
        if "step_time" not in target and rate:
            target["step_time"] = 1.0 / rate
            chosen[prefix + "step_time"] = (picks["step_rate"][2], "step_rate")
    total: int | None = None
    named = True
    if epoch_slot is None and in_epoch is not None and leading is not None:
        epoch_slot = leading
        counters.remove(0)
    epoch = epoch_slot.value if epoch_slot is not None else None
    counter = step_slot or in_epoch
    if counter is not None:
        step, total = int(counter.value), counter.total  # type: ignore[arg-type]
    elif epoch is not None and math.isfinite(epoch) and epoch >= 0:
        step, counter = int(epoch), epoch_slot
    else:
        step, named = None, False
    elapsed = fields.pop("elapsed", None)
    eval_fields.pop("elapsed", None)
    names = frozenset(s.name for s in slots if s.name and s.name != loss_name)
    where = {id(slot): i for i, slot in enumerate(slots)}
    return Reading(
        fields, eval_fields, step, epoch, total, elapsed, named, tuple(counters), names, chosen,
        where.get(id(counter)) if counter is not None else None,
        where.get(id(epoch_slot)) if epoch_slot is not None else None,
    )


_TABLE_METRICS = frozenset({"loss", "perplexity", "step_time", "tokens_per_s", "samples_per_s"})
_HEADER_NAME = re.compile(r"[A-Za-z_][\w/.%-]{0,63}")


def table_header(line: str, start: int) -> tuple[tuple[int, str], ...] | None:
    """The columns of a table header (Chainer's `PrintReport`: `epoch  iteration  main/loss  ...`):
    three or more names and nothing else, a counter and a metric among them."""
    columns = tuple((m.start(), vocabulary().normalise(m.group())[0]) for m in re.finditer(r"\S+", line[start:]))
    if not 3 <= len(columns) <= MAX_SLOTS or not all(_HEADER_NAME.fullmatch(line[start + i :].split()[0])
                                                   for i, _ in columns):
        return None
    vocab = vocabulary()
    fields = set()
    for _, name in columns:
        _, base = vocab.split(name)
        meaning = vocab.classify(base) if base else None
        if meaning is not None:
            fields.add(meaning.field)
    if not fields & {"step", "epoch"} or not fields & _TABLE_METRICS:
        return None
    return tuple((start + i, name) for i, name in columns)


class _Shape:
    """What is remembered of one line shape: how often it was seen, its counters' last values."""

    __slots__ = ("seen", "counters", "counter", "elapsed", "step", "loss_runs")

    def __init__(self) -> None:
        self.seen = 0
        self.counters: tuple[float | None, ...] = ()
        self.counter: int | None = None  # the position of its unnamed step counter, once learned
        self.elapsed: float | None = None
        self.step: int | None = None
        self.loss_runs = 0  # consecutive records of this shape family that printed a loss

    def state(self) -> tuple[Any, ...]:
        counters = self.counters if self.counter is None else ()  # once the counter is known, its history is moot
        return (min(self.seen, 2), counters, self.counter, self.elapsed, self.step, min(self.loss_runs, 2))


_FIELD_NAMES = {
    "loss": "loss", "grad_norm": "grad_norm", "lr": "lr", "loss_scale": "loss_scale", "step_time": "step_time_s",
    "tokens_per_s": "tokens_per_s", "samples_per_s": "samples_per_s", "tflops": "tflops", "mfu": "mfu",
}
_STRONG = frozenset({"loss", "grad_norm"})
_STEP, _LOSS, _TOTAL, _EPOCH, _STEP_TIME = (
    StepRecord._fields.index(f) for f in ("step", "loss", "total_steps", "epoch", "step_time_s")
)
_TIME, _EPOCH_S, _RANK, _NODE, _FILE, _LINE, _TEXT = (
    StepRecord._fields.index(f) for f in ("time", "epoch_s", "rank", "node", "file", "line", "text")
)


def _nonfinite(fields: dict[str, float | None]) -> bool:
    return any(fields.get(f) is not None and not math.isfinite(fields[f]) for f in ("loss", "grad_norm"))  # type: ignore[arg-type]


_NUM = (
    r"([-+]?(?:\d[\d,]{0,30}(?:\.\d{0,40})?|\.\d{1,40})(?:[eE][-+]?\d{1,3})?"
    r"|[-+]?(?:nan|NaN|NAN|inf|Inf|INF|Infinity|infinity|INFINITY)|-?1\.#(?:INF|IND|QNAN))"
)
_DURATION = r"((?:\d{1,4} days?, )?\d{1,4}:\d\d(?::\d\d)?(?:\.\d{1,6})?)"
_PIECES = re.compile(r"(\s+|\d+)")
_INDEX = {name: i for i, name in enumerate(StepRecord._fields)}
_RECORD_FIELDS = {**{f: _INDEX[n] for f, n in _FIELD_NAMES.items()}, "eval_loss": _INDEX["eval_loss"]}
_new = tuple.__new__


def _literal(text: str, between_numbers: bool) -> str:
    """A regex for the text between two slots: digits and padding may change from line to line."""
    if between_numbers and text.isspace():
        return r"\s+"  # keep two numbers apart
    out = []
    for piece in _PIECES.split(text):
        if piece:
            out.append(r"\s*" if piece.isspace() else r"\d+" if piece.isdigit() else re.escape(piece))
    return "".join(out)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        value = to_float(text)
        if value is not None or "#" not in text:
            return value
        lower = text.lower()
        return -math.inf if lower.startswith("-1.#inf") else math.inf if "inf" in lower else math.nan


class _Compiled:
    """A learned layout compiled for its shape: one anchored regex, and which group is which field."""

    __slots__ = ("regex", "plan", "step", "total", "epoch", "elapsed", "shape", "build")

    def __init__(self, line: str, start: int, slots: list[Slot], reading: Reading, step_at: int, shape: _Shape) -> None:
        parts = [f"({_literal(line[:start], False)})"]
        groups: list[int] = []  # slot position -> group number
        group = 1
        previous = start
        for i, slot in enumerate(slots):
            parts.append(_literal(line[previous : slot.start], i > 0))
            group += 1
            groups.append(group)
            if ":" in slot.text:
                parts.append(_DURATION)
            elif slot.total is not None:
                parts.append(_NUM + r"\s*/\s*(\d{1,18})")
                group += 1
            else:
                parts.append(_NUM)
            parts.append(_literal(line[slot.start + len(slot.text) : slot.end], False))
            previous = slot.end
        parts.append(_literal(line[previous:].rstrip(), False) + r"\s*")
        self.regex = re.compile("".join(parts))
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
        self.total = groups[step_at] + 1 if slots[step_at].total is not None else None
        self.epoch = groups[reading.epoch_at] if reading.epoch_at is not None else None
        elapsed = reading.chosen.get("elapsed")
        self.elapsed = groups[elapsed[0]] if elapsed is not None else None
        self.shape = shape
        self.build = self._compile_builder()

    def _compile_builder(self) -> Any:
        """One expression that converts each group and makes the record (`v` the groups, `w` the
        line's time, rank and node, `st` and `ck` the step time and clock from an elapsed slot), so a
        line costs one call. Built from the plan's integers and this module's constants, never from
        log text. A value that is not a plain number raises, and `values` reads it the careful way."""
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
        namespace = {"float": float, "int": int, "log": math.log, "duration": _duration, "new": _new,
                     "StepRecord": StepRecord}
        return eval(source, namespace)  # noqa: S307 - built from the plan's integers, never from log text

    def values(self, m: re.Match[str]) -> list[Any] | None:
        """The record's fields, from a match (None when a value does not read as a number)."""
        fields: list[Any] = [None] * len(StepRecord._fields)
        for group, index, kind, factor in self.plan:
            text = m.group(group)
            value = _duration(text) if kind == "same" and ":" in text else _number(text)
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


def _duration(text: str) -> float:
    days, _, clock = text.rpartition(", ")
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds + (86400 * int(days.split()[0]) if days else 0)


_MAX_FAST = 4
_RANGE = re.compile(r"\d{1,18}-\d{1,18}")


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
        # compiled layouts (a cache of the shapes above, never part of the state): by shape, and the
        # most recently used few, tried first
        self.compiled: dict[str, _Compiled] = {}
        self.fast: list[_Compiled] = []

    def snapshot(self) -> dict[str, Any]:
        return {
            "shapes": {key: shape.state() for key, shape in self.shapes.items()},
            "epoch": self.epoch,
            "family": (self.family, min(self.family_runs, 2)),
            "header": self.header,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.shapes = {}
        for key, (seen, counters, counter, elapsed, step, loss_runs) in snapshot["shapes"].items():
            shape = self.shapes[key] = _Shape()
            shape.seen, shape.counters, shape.counter = seen, counters, counter
            shape.elapsed, shape.step, shape.loss_runs = elapsed, step, loss_runs
        self.epoch = snapshot["epoch"]
        self.family, self.family_runs = snapshot["family"]
        self.header = snapshot["header"]

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
        start = message_start(line)
        slots = read_slots(line, start)
        if not slots:
            if line.strip():
                self.header = table_header(line, start)  # a new table, or the end of the last one
            return None
        if self.header is not None:
            slots = self._under_header(line, start, slots)
        reading = read(line, slots)
        fields, eval_fields = reading.fields, reading.eval_fields
        if not fields and not eval_fields:
            self._announce_epoch(reading, slots)
            return None
        key = shape_of(line, start, slots)
        shape = self._shape(key)
        repeated = shape.seen > 0
        shape.seen += 1
        step, epoch, total = reading.step, reading.epoch, reading.total
        named = reading.named
        if step is None:
            step = self._bare_counter(shape, slots, reading.counters)
            named = step is not None
        elif epoch is None and reading.step is not None and self.epoch is not None and not _has_epoch(slots):
            epoch = self.epoch  # Keras: `Epoch 2/30` on a line of its own, then the epoch's lines
        if step is None:
            if not (repeated or _nonfinite(fields) or _nonfinite(eval_fields)):
                return None
            step = ctx.step
        elif not (fields.keys() & _STRONG or eval_fields.get("loss") is not None or repeated):
            return None  # a named counter with only minor metrics: wait for the shape to repeat
        loss = fields.get("loss")
        family = reading.names
        if loss is None and "loss" not in fields and named and not eval_fields:
            loss = self._vanished_loss(family, fields)
        elif "loss" in fields:
            self._remember_family(family)
        values: dict[str, Any] = {_FIELD_NAMES[f]: v for f, v in fields.items() if f in _FIELD_NAMES}
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
        if named and loss is not None and step is not None:
            ctx.step = step
            step_at = reading.step_at if reading.step is not None else shape.counter
            if repeated and step_at is not None and self.header is None and key not in self.compiled:
                self._compile(line, start, slots, reading, step_at, key, shape)
        time, epoch_s, rank, node = ctx.where(line, start)
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
            per_step = clock = None
            if layout.elapsed is not None:
                per_step, clock = self._elapsed(layout, v)
            try:
                where = ctx.where(line, m.end(1))
                record = layout.build(v, where, ctx.file, number, line, self.epoch, per_step, clock)
            except (ValueError, ZeroDivisionError, OverflowError):
                record = self._careful(layout, m, ctx, number, line, per_step, clock)
                if record is None:
                    return None
            if record.loss is not None:
                ctx.step = record.step
            if layout is not self.fast[0]:
                self.fast.remove(layout)
                self.fast.insert(0, layout)
            return record
        return None

    def _elapsed(self, layout: _Compiled, v: tuple[Any, ...]) -> tuple[float | None, float | None]:
        """(step time, clock) from a layout's elapsed-time slot, as `parse` derives them."""
        shape = layout.shape
        elapsed = _number(v[layout.elapsed - 1])  # type: ignore[operator]
        step = to_float(v[layout.step - 1])
        if elapsed is None or step is None or not step.is_integer():
            return None, None
        per_step = self._from_elapsed(shape, int(step), elapsed)
        shape.elapsed, shape.step = elapsed, int(step)
        return per_step, (elapsed if per_step is not None else None)

    def _careful(
        self, layout: _Compiled, m: re.Match[str], ctx: ParseContext, number: int, line: str,
        per_step: float | None, clock: float | None,
    ) -> StepRecord | None:
        """The fast path's record for values that are not plain numbers (`1,000`, `1.#INF`)."""
        fields = layout.values(m)
        step = to_float(m.group(layout.step))
        if fields is None or step is None or not step.is_integer():
            return None
        fields[_STEP] = int(step)
        if layout.total is not None:
            fields[_TOTAL] = int(m.group(layout.total))
        fields[_EPOCH] = _number(m.group(layout.epoch)) if layout.epoch is not None else self.epoch
        if fields[_STEP_TIME] is None:
            fields[_STEP_TIME] = per_step
        time, epoch_s, rank, node = ctx.where(line, m.end(1))
        fields[_TIME], fields[_EPOCH_S] = time, epoch_s if epoch_s is not None else clock
        fields[_RANK], fields[_NODE] = rank, node
        fields[_FILE], fields[_LINE], fields[_TEXT] = ctx.file, number, line
        return _new(StepRecord, fields)

    def _compile(
        self, line: str, start: int, slots: list[Slot], reading: Reading, step_at: int, key: str, shape: _Shape
    ) -> None:
        """Keep the layout of a repeated shape compiled, for the fast path (a few, most recent first)."""
        ranged = any(_RANGE.fullmatch(slot.text) for slot in slots)
        if ranged or "loss" not in reading.fields:
            return  # a range (`401-500batch`), or no loss to read: the full reading stays in charge
        try:
            layout = _Compiled(line, start, slots, reading, step_at, shape)
        except (re.error, IndexError):
            return
        if layout.regex.fullmatch(line) is None:
            return
        self.compiled[key] = layout
        if len(self.compiled) > MAX_SHAPES:
            del self.compiled[next(iter(self.compiled))]
        self.fast.insert(0, layout)
        del self.fast[_MAX_FAST:]

    def _under_header(self, line: str, start: int, slots: list[Slot]) -> list[Slot]:
        """A table row (numbers only) takes its slot names from the columns of the header above it."""
        rest = line[start:]
        for slot in reversed(slots):
            rest = rest[: slot.start - start] + rest[slot.end - start :]
        if rest.strip():
            self.header = None  # not a row: the table has ended
            return slots
        columns = self.header or ()
        named: list[Slot] = []
        for slot in slots:
            column = next((c for c in reversed(columns) if c[0] <= slot.start + 1), None)
            if column is None:
                named.append(slot)
                continue
            split, base = vocabulary().split(column[1])
            meaning = vocabulary().classify(base) if base else None
            named.append(slot._replace(name=base, split=split, meaning=meaning))
        return named

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

    def _vanished_loss(self, family: frozenset[str], fields: dict[str, float | None]) -> float | None:
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


def _has_epoch(slots: list[Slot]) -> bool:
    return any(s.meaning is not None and s.meaning.field == "epoch" for s in slots)
