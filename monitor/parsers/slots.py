"""Reading a progress line as slots: every number, with the name printed before it and the unit after it.

1. **Slots.** Every number (`1,052,108`, `2.0e-03`, `nan`, `-nan`, `inf`,
   `1.#INF`, a clock duration `4:14:00`) is a slot. Its name is the label
   printed just before it (`key: v`, `key=v`, `key v`, `'key': v`,
   `| key v |`, the column of a table header), its unit the text just after
   it (`ms`, `s/it`, `words/s`); `i/n` is a slot with a total.
2. **Meaning.** Names and units are looked up in the vocabulary
   (`vocabulary.json`): step, epoch, loss (perplexity as exp(loss)), grad
   norm, lr, loss scale, step time (ms, s, sec/step, s/it; it/s inverted),
   elapsed time, throughput, TFLOP/s, MFU; an evaluation split (`val_loss`,
   `[valid]`, `Epoch(val)`) makes it an evaluation value. `read` settles which
   slot is the step: a named counter (`step`, `iter`, `global step`, `Up.`),
   else a counter with a total after an epoch (`[e][i/n]`, `Epoch 1, i/N`) or
   at the start of the line (Keras), which counts batches within the epoch,
   else the epoch alone (runs that log once per epoch).

The message starts after launcher prefixes, a timestamp and what logging puts
after it (`message_start`); the numbers before it are not slots. At most
`MAX_SLOTS` slots are read from a line.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from monitor.parsers.base import to_float
from monitor.parsers.timestamps import _TIMESTAMP
from monitor.parsers.vocabulary import COMPONENT_TIER, Label, Meaning, vocabulary

MAX_SLOTS = 48

# A number token: a clock duration, a number (with thousands separators, an exponent, and an
# optional `/total`; more than 18 digits only before a fraction, a float's, never a count's), or a
# non-finite spelling (also with a message glued to it, Keras' `loss: nanEpoch 1/1000` when another
# generator prints on the same line). Every repeat is bounded.
_TOKEN = re.compile(
    r"(?P<dur>(?<![\w.:])(?:\d{1,4} days?, )?\d{1,4}:[0-5]\d(?::[0-5]\d)?(?:\.\d{1,6})?(?![\w:]))"
    r"|(?<![\w.#+-])(?P<nan>[-+]?(?:nan|NaN|NAN|inf|Inf|INF|Infinity|infinity|INFINITY)(?:x{1,3})?(?!\w)"
    r"|[-+]?(?:nan|NaN|inf)(?=[A-Z][a-z]|ms\b)"  # glued to a word, or to a unit (`step_avg:nanms`)
    r"|-?1\.#(?:INF|IND|QNAN))"
    r"|(?<![\w.#+/-])(?!\d{4}(?P<date>[-/.])\d\d(?P=date)\d\d)"  # a date's year is no value
    r"(?P<num>[-+]?(?:(?:\d{1,3}(?:,\d{3}){1,6}(?!\d|,\d)|\d{19,40}(?=\.\d)|\d{1,18})(?:\.\d{0,40})?"
    r"|\.\d{1,40})"
    r"(?:[eE][-+]?\d{1,3})?)(?:[ \t]{0,2}/[ \t]{0,2}(?P<total>\d{1,18})(?![\d.]|/\d)|-(?P<upto>\d{1,18})(?=[A-Za-z]))?"
)
# The label at the end of the text before a number: up to six words joined by single spaces (the
# first may be possessive: LightGBM's `valid_1's binary_logloss`), then separators (a bracket the
# label sits in, `[Loss] 2.1`; prose's `is`, `Loss is 2.1`; a name padded to a column before its `=`
# or `:`, the Hugging Face Trainer's `log_metrics`: `  eval_loss                 =     nan`), then an
# optional opening bracket.
_LABEL = re.compile(
    r"(?:^|(?<=[\s|;,:=\[\]{}<>'\"]))((?:[A-Za-z_]|\((?=[A-Za-z]))[\w./()#-]{0,63}(?:\[\w{1,32}\][\w./()#-]{0,8})?"
    r"(?:'s(?= ))?(?: (?!(?:is|was) )(?:[A-Za-z_]|\((?=[A-Za-z]))[\w./()#-]{0,63}){0,5})"
    r"(?:\][ \t:=]{0,4}|[ \t]{2,48}[:=][ \t]{0,16}|(?: (?:is|was))?[\s'\":=]{0,12})([\[(]?)[ \t]{0,8}$"
)
# A printed tensor or array around a value: PyTorch `tensor(2.31, device='cuda:0')`, numpy `array(2.31)`.
_WRAPPER = re.compile(r"(?:tensor|array|np\.float\d{0,2}|float\d{0,2})\(\[{0,2}[ \t]{0,4}$")
_WRAPPER_ENDS = ("(", "[", " ")
_BRACKET_ONLY = re.compile(r"[\s\]\[)(]{0,8}[\[(][ \t]{0,8}$")
_GLUED_UNIT = re.compile(r"[A-Za-z%][A-Za-z%/]{0,15}")
# What may stand in front of the message, before its timestamp: a log viewer's line number
# (`[1744] `), launcher prefixes (`[default0]:`, `[rank1]:`, `3: `, `worker-3: `, Open MPI's
# `[1,0]<stderr>:`): brackets without blanks, so that `[Epoch 1/10] [Batch 5/50]` stays the message;
# not a number and a colon before a fraction, darknet's iteration (` 71: 2.413121, 2.611234 avg loss`);
# not a number in brackets before a tab, the boosting round of XGBoost's and LightGBM's evaluation log
# (`[1]\ttraining's binary_logloss: 0.71`).
_LEAD = re.compile(
    r"(?:\s{0,8}(?:\[(?!\d{1,9}\]\t)[^\]\s]{0,64}\](?:<std(?:out|err|diag)>)?:?"
    r"|\d{1,6}:(?= (?![ \t]{0,8}[-+]?(?:\d{1,18}\.\d|nan\b|inf\b)))"
    r"|[A-Za-z](?:(?!\d)[\w.-]){0,40}\d[\w.-]{0,20}:(?= )))+"
)
# ...and after it: the rest of a bracket the timestamp opened (`[05/17 23:20:47 d2.utils.events]:`),
# a thread id (absl prints Python's, a 64-bit number), a logger name and source location (glog
# `139876 train.py:48]`, DINOv2's `90 dinov2 helpers.py:102]`, `[logging.py:96:log_dist]`, Swin
# Transformer's `(main.py 216):`), a level.
_CLOSE = re.compile(r"[^\[\]\n]{0,48}\]:?")
_AFTER_STAMP = re.compile(
    r"(?:\s{0,4}(?:\d{1,20}\s{1,4})?(?:[IWEF]\s)?(?:[A-Za-z][\w.-]{0,40}\s)?\[?[\w.-]{1,64}\.(?:py|cc|cpp|cu|h|lua|go|rs|java|scala)"
    r":\d{1,6}(?::\w{1,40})?\]?:?"
    r"|\s{0,4}\([\w.-]{1,64}\.py \d{1,6}\):?"
    r"|\s{0,4}(?:-\s)?\[?(?:INFO|WARNING|WARN|DEBUG|ERROR|I|W)\]?:?(?=\s)"
    r"|\s{0,4}\[rank\d{1,6}\]:)+"
)
_BASIC_FORMAT = re.compile(r"[ \t]{0,4}(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.<>-]{1,64}:")
"""Python logging's `BASIC_FORMAT`, `%(levelname)s:%(name)s:%(message)s` (logging/__init__.py), the
format of `logging.basicConfig()`: `INFO:ljs_base:[nan, ...]`, `INFO:root:...`."""
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
        return read_number(m.group("nan"))
    return duration(m.group("dur"))


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
    if line.startswith(" s", end) and (m := _SPACED_SECONDS.match(line, end)) is not None:
        return "s", m.end(1)  # `cost 14.01 s` at the end of the line or of its field
    return None, end


_SPACED_SECONDS = re.compile(r" (s)(?=[ \t]*(?:[,;|)\]]|$))")
"""A lone `s` after a number and a blank is seconds only where the field ends there: so-vits-svc's
`logger.info(f"====> Epoch: {epoch}, cost {durtaion} s")`; `s` starting a word is never read as one."""


BAR_GLUE = re.compile(r"(?:it/s|s/it)(?:,[^\[\]\n]{0,400})?\](?=[A-Z][a-z]|\[(?:rank\d{1,6}|default\d{1,4})\])")
"""The end of a tqdm bar's bracket with another message glued after it (tqdm redraws with `\r` and no
newline): a bar of unknown total, `Epoch 2: : 25832it [1:35:47,  4.49it/s, loss=2.23, v_num=3]`, then
Lightning's `Epoch 2, global step 400000: 'val/AP' was not in top 1`, a traceback, or another rank's
prefixed line. A bracket of a layout's own after the rate (`[3.2it/s][loss 0.5]`) is not glued."""

COUNT_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9}
"""A step counter printed with a capital K, M or B glued to it counts thousands, millions, billions
(LeRobot's `format_big_number`: `step:1K`, `step:20K`); read as printed, 999 steps then `1K` would go back."""


def read_slots(line: str, start: int) -> list[Slot]:
    """The slots of `line` from index `start` on (the message, past its prefix)."""
    vocab = vocabulary()
    slots: list[Slot] = []
    previous = start
    in_losses = False  # inside a group of losses (`[Losses: x 0.12, conf 0.75, total 1.02]`)
    changed: tuple[str, bool] | None = None  # the label of a value an arrow follows, for the value it became
    arrows = ">" in line or "\u2192" in line  # (most lines have none: no arrow test per number)
    for m in _TOKEN.finditer(line, start):
        if len(slots) >= MAX_SLOTS:
            break
        gap = line[max(previous, m.start() - 96) : m.start()]
        if gap.endswith(_WRAPPER_ENDS):
            gap = _WRAPPER.sub("", gap)  # `loss: tensor(nan, device='cuda:0')`: the value inside the wrapper
        label = _LABEL.search(gap)
        if label is not None:
            raw, bracketed = label.group(1), bool(label.group(2))
        else:
            raw, bracketed = "", _BRACKET_ONLY.search(gap) is not None
        if changed is not None:
            raw, bracketed = changed if not raw else (raw, bracketed)
            changed = None
        named = vocab.label(raw) if raw else _NO_LABEL
        if in_losses and _GROUP_ENDS.search(gap) is not None:
            in_losses = False
        if raw and ("oss" in gap or "OSS" in gap) and _LOSS_GROUP.search(gap) is not None:
            in_losses = True
        if in_losses and named.meaning is None and raw:
            named = named._replace(meaning=TOTAL_LOSS if named.name in LOSS_TOTALS else COMPONENT_LOSS)
        printed_unit, end = _unit_after(line, m.end())
        if not raw and printed_unit is None and (after := _NAME_AFTER.match(line, end)) is not None:
            then = vocab.label(after.group(1))
            if then.meaning is not None and then.meaning.field == "loss" and then.meaning.tier < COMPONENT_TIER:
                named, end = then, after.end(1)  # darknet's `2.61 avg loss,`: the name after the value
        if not raw and not slots and printed_unit is None and (count := _COUNT_AFTER.match(line, end)) is not None:
            word = count.group(1).lower()
            unit = vocab.unit_of(word)
            if unit is not None and unit.field in ("step", "epoch"):
                printed_unit, end = word, count.end(1)  # `900 iteration, USE_EMA: True, {...}` (TorchSSL)
        if arrows and _FROM.match(line, end):
            # `lr 0.1 -> 0.01`, `(inf --> 0.7240)`: where a value came from (an early stop's first best) is
            # no news; the value it became takes its name
            previous, changed = end, (raw, bracketed)
            continue
        total = m.group("total")
        value = _value(m)
        if value is not None and printed_unit in COUNT_SUFFIXES and named.meaning is not None and (
            named.meaning.field == "step" and line[m.end()].isupper()
        ):
            value *= COUNT_SUFFIXES[printed_unit]  # LeRobot's `step:20K`: a count rounded to thousands
        slots.append(Slot(
            named.name, named.split, named.meaning, m.group(), value, int(total) if total else None,
            printed_unit or named.unit, bracketed, m.start(), end,
        ))
        previous = end
    return _index_before_colon(line, slots)


_COUNT_AFTER = re.compile(r" ([A-Za-z]{2,10})(?=[,:;|]| [-|] )")
"""What the first number of a message counts, named after it up to a separator: the semi-supervised
trainers of TorchSSL, FixMatch-pytorch and USB print `f"{self.it} iteration, USE_EMA: {...}, {tb_dict}"`."""
_NAME_AFTER = re.compile(r"[ \t]{1,2}([A-Za-z][A-Za-z_]{0,30}(?: [A-Za-z_]{1,30}){0,2})[ \t]{0,4}(?:[,;|]|$)")
"""A name printed after its value, up to a separator: darknet's detector prints
`printf("\\n %d: %f, %f avg loss, %f rate, %lf seconds, ...")` (AlexeyAB/darknet src/detector.c)."""
_FROM = re.compile(r"[ \t]{0,3}(?:-{1,2}>|=>|\u2192)")
"""An arrow after a value: the value is what changed into the next one."""
_STEP_BEFORE_VALUE = Meaning("step", 1, 0)
# A group of losses: `Losses:` (or `loss:`) followed by named values, up to a closing bracket. Its
# members are loss components, its `total` the loss (PyTorch-YOLOv3's `[Losses: x 0.1, ..., total 1.0]`).
_LOSS_GROUP = re.compile(r"(?i)\bloss(?:es)?[ \t]{0,4}[:=][ \t]{0,4}[\[{(]?[ \t]{0,4}[A-Za-z_][\w.]{0,30}[ \t:=]{0,4}$")
_GROUP_ENDS = re.compile(r"[\]})]")
LOSS_TOTALS = frozenset({"total", "sum", "overall", "all"})
"""Names of the sum of a group of losses, which is the loss."""
TOTAL_LOSS = Meaning("loss", 0, 0)
COMPONENT_LOSS = Meaning("loss", COMPONENT_TIER, 0)
_NO_LABEL = Label("", None, None, None)


_COPULAS = frozenset({"is", "was", "=", "equals"})


def _index_before_colon(line: str, slots: list[Slot]) -> list[Slot]:
    """`Validation loss 8416:  0.7117`: a whole number right after a name and before a colon, then an
    unnamed value, is the step the value belongs to; the name is the value's; in brackets too
    (crnn-pytorch's `train_batch_loss[ 6510 ]:  1.57`). So is a whole number
    between a loss name and an unnamed fraction (`Train loss 12001 0.166141`). A name that says which
    counter (`Average loss at step 2000: 4.39`, TensorFlow's word2vec tutorial; `at batch`, `at epoch`)
    gives the value what stands before `at`, and the number that counter's meaning; after such a name
    the value may follow `is` or `=` too (DL4J's ScoreIterationListener: `Score at iteration 60 is NaN`)."""
    for i in range(len(slots) - 1):
        here, after = slots[i], slots[i + 1]
        counted = " at " in here.name  # `Score at iteration 60 is NaN`: the sentence names the value by its subject
        if not (
            here.name and (not after.name or (counted and after.name in _COPULAS)) and here.total is None
            and not here.unit and here.value is not None and here.value.is_integer()
        ):
            continue
        between = line[here.end : after.start].strip()
        if between == ":" or (counted and between in _COPULAS) or (
            here.bracketed and between.replace(" ", "") in ("]:", "):")
        ) or (
            # `Train loss 12001 0.166141` (NVIDIA's Tacotron 2 and WaveGlow): a loss name, a whole
            # number, then a fraction after a blank: the number is the step, the fraction the loss
            not between and here.meaning is not None and here.meaning.field == "loss" and here.text.isdecimal()
            and ("." in after.text or (after.value is not None and not math.isfinite(after.value)))
        ):
            named, counter = _counted_at(here)
            slots[i + 1] = after._replace(name=named.name, split=named.split, meaning=named.meaning)
            slots[i] = here._replace(name="", split=None, meaning=counter)
    return slots


def _counted_at(slot: Slot) -> tuple[Label, Meaning]:
    """The label a value takes from `slot`'s name, and the meaning of the counter `slot` holds:
    `average loss at batch` gives (`average loss`, a step); a plain name, itself and a step."""
    head, at, tail = slot.name.rpartition(" at ")
    if at and head:
        vocab = vocabulary()
        counter = vocab.label(tail).meaning
        if counter is not None and counter.field in ("step", "epoch"):
            return vocab.label(head), counter
    return Label(slot.name, slot.split, slot.unit, slot.meaning), _STEP_BEFORE_VALUE


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
    basic = _BASIC_FORMAT.match(line, start)
    return basic.end() if basic is not None else start


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
    rank: int | None = None  # the rank printed on the line (`... rank 3`)
    terms: tuple[int, ...] = ()  # positions of the line's other training losses (`CrossEntropy=2.1, SmoothL1=0.4`)


_MAX_RANK = 1 << 20
_CLOCK_SECONDS = 1e8
"""A time-named number this large (three years, once converted from its unit) is no step or elapsed time
but a clock, seconds or milliseconds since 1970: MLPerf's `:::MLLOG {"time_ms": 1652951987916, ...}`."""
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
_LOSS_EXTRAS = 2
"""A loss may carry two (`Value function loss`, rsl_rl's PPO; `masked lm loss`)."""


def is_eval_line(line: str, first: int, between: tuple[int, int] | None = None) -> bool:
    """Whether a line reports an evaluation: a marker before its first number (`[valid]`,
    `Validation`, `Saving dict for global step`), a split word standing alone between
    separators anywhere (`Epoch 0 | Validation | ...`), or an evaluation said in words
    `between` the first number and the second (`[ITER 2000] Evaluating test: L1 0.0287`)."""
    vocab = vocabulary()
    head = line[max(0, first - 64) : first].lower()
    if any(marker in head for marker in vocab.eval_markers if " " in marker):
        return True
    if any(word in vocab.eval_splits or word in vocab.eval_markers for word in re.split(r"[^a-z]+", head)):
        return True
    if between is not None and not vocab.eval_prose.isdisjoint(
        re.split(r"[^a-z]+", line[between[0] : min(between[1], between[0] + 64)].lower())
    ):
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
            _EVAL_PROSE_EXTRAS if eval_line or slot.split == "eval"
            else _LOSS_EXTRAS if field == "loss" else _PROSE_EXTRAS
        ):
            return None, rank  # prose
        if field == "epoch" and meaning.extras > _PROSE_EXTRAS:
            return None, rank
        if field in ("loss", "perplexity") and slot.unit in _TIME_UNITS:
            return "step_time", rank  # a cost in seconds is a time (so-vits-svc's `====> Epoch: 12, cost 14.01 s`)
        if field == "step_time" and unit is not None and unit.field not in (None, "step_time"):
            return unit.field, rank  # `speed: 95.7 samples/sec`
        if field == "step_time" and unit is None and slot.unit and slot.unit not in _TIME_UNITS:
            return None, rank  # a time-like name with some other unit
        return field, rank
    if unit is not None and unit.field is not None:
        if slot.name:  # a name the vocabulary does not know (`data_time: 0.002 s/iter`): after any it knows
            return unit.field, (3, 0)
        return unit.field, (0 if unit.field == "step_time" else 1, 0)
    if unit is not None and not slot.name:
        # an unnamed duration: per step when in brackets or in ms (`(646.6 sec/step)`, `36.58 ms`),
        # else the time since the start (`21110 sec`), which grows from line to line
        return ("step_time" if slot.bracketed or unit.factor < 1 else "elapsed"), (2, 0)
    return None, (9, 9)


def _counter(slot: Slot) -> bool:
    """An unnamed, unitless whole number: it may count steps (a duration, `00:10`, never does, nor
    does a float that happens to be whole, numpy's `5.`)."""
    value = slot.value
    return (
        not slot.name and not slot.unit and value is not None and value >= 0 and value.is_integer()
        and ":" not in slot.text and "." not in slot.text
    )


bare_pair = re.compile(
    r"[ \t]{0,16}\d{1,18}(?::[ \t]{0,16}|[ \t]{1,16})"
    r"[-+]?(?:\d{0,18}\.\d{1,40}(?:[eE][-+]?\d{1,3})?|nan|NaN|inf|Inf)[ \t\r]{0,16}$"
).match
"""Whether a line, as a whole, may be `_bare_pair`'s (a cheap test for lines that hold no keyword)."""


_ROW_TOKEN = (
    r"(?:[-+]?(?:\d{1,18}(?:\.\d{0,40})?(?:[eE][-+]?\d{1,3})?(?:/\d{1,18})?|\.\d{1,40})(?:[A-Za-z%]{1,3}(?!\w))?"
    r"|[-+]?(?:nan|NaN|inf|Inf)|-{2,8})"
)
_ROW_GAP = r"(?:[ \t]{1,32}|[ \t]{0,4},[ \t]{0,32})"
numeric_row = re.compile(
    rf"[ \t]{{0,32}}\[?[ \t]{{0,4}}{_ROW_TOKEN}(?:{_ROW_GAP}{_ROW_TOKEN}){{2,47}}[ \t]{{0,4}}\]?[ \t\r]{{0,16}}$"
).match
"""Whether a message is a row of numbers only (three or more), as a table prints it without its header:
a value may carry a short unit (YOLOv7's `13.5G` of GPU memory), a dash stand for a value not measured
(`----`), and the row may be a printed list (`[nan, 83.04, 28400]`: VITS's train.py logs its losses,
step and learning rate as one)."""


def unnamed_row(slots: list[Slot]) -> bool:
    """A row of three or more numbers, none named or counted out of a total: which of them is the loss
    is a guess."""
    return len(slots) >= 3 and not any(s.name or s.total is not None for s in slots)


def _headerless_nan(slots: list[Slot]) -> int | None:
    """The first non-finite value of a row of unnamed numbers that counts progress (an `i/N`
    among them, or a whole number the layout learns to increase): a table whose header is not in the
    log (ultralytics/yolov3's early train.py printed `Epoch Batch xy wh conf cls total ...` once per
    epoch, then rows of `%11.3g`; VITS logs `[losses..., global_step, lr]`). Which column is the loss
    is unknown, but a non-finite value in such a row is the run's NaN."""
    counted = any(s.total is not None for s in slots) and not any(s.name for s in slots)
    if not counted and not (unnamed_row(slots) and any(_counter(s) for s in slots)):
        return None
    return next((i for i, s in enumerate(slots) if s.value is not None and not math.isfinite(s.value)), None)


def _nonfinite_only(slots: list[Slot]) -> int | None:
    """The first slot whose name counts only when its value is not finite (a KL divergence), and
    whose value is not: where no loss is printed, that is the run's NaN."""
    names = vocabulary().nonfinite_only
    return next((
        i for i, s in enumerate(slots)
        if s.value is not None and not math.isfinite(s.value) and s.name in names and s.split != "eval"
    ), None)


def _bare_pair(line: str, slots: list[Slot]) -> bool:
    """A message of two unnamed numbers and nothing else, a whole one (a colon may follow it) and
    then a fraction or a non-finite value: `print(step, loss.item())`, the step and the loss of a
    hand-written loop (the PyTorch tutorials' `99 1274.75`; NVIDIA WaveGlow's train.py prints
    `"{}:\t{:.9f}".format(iteration, reduced_loss)`). Whether the whole number counts is the layout's
    to learn."""
    if len(slots) != 2:
        return False
    counter, value = slots
    return (
        _counter(counter) and not value.name and not value.unit and value.total is None
        and value.value is not None and ("." in value.text or not math.isfinite(value.value))
        and line[counter.end : value.start].strip() in ("", ":") and not line[value.end :].strip()
        and (counter.start == 0 or line[counter.start - 1].isspace())
    )


def read(line: str, slots: list[Slot]) -> Reading:
    """Classify the slots of one line: fields, the step, the epoch."""
    best: dict[str, tuple[tuple[int, int], float | None, int]] = {}
    best_eval: dict[str, tuple[tuple[int, int], float | None, int]] = {}
    loss_name = ""
    step_slot: Slot | None = None
    step_rank = (99, 99)
    epoch_slot: Slot | None = None
    epoch_rank = (99, 99)
    eval_line = is_eval_line(
        line, slots[0].start if slots else len(line), (slots[0].end, slots[1].start) if len(slots) > 1 else None
    )
    counters: list[int] = []
    in_epoch: Slot | None = None  # a counter with a total that counts batches within the epoch
    leading: Slot | None = None  # an unnamed whole number before it, which is then the epoch
    printed_rank: int | None = None
    totalled: list[Slot] = []  # slots of no field printed with a total (`batch count: 280/308`)
    losses: list[int] = []  # positions of every training loss the line prints
    for position, slot in enumerate(slots):
        field, rank = _field_of(slot, eval_line)
        if field == "rank":
            value = slot.value
            if printed_rank is None and value is not None and value.is_integer() and 0 <= value < _MAX_RANK:
                printed_rank = int(value)
            continue
        if field == "step":
            if slot.value is not None and slot.value.is_integer() and slot.value >= 0 and rank < step_rank:
                step_slot, step_rank = slot, rank
            continue
        if field == "epoch":
            if slot.value is not None and (epoch_slot is None or rank < epoch_rank):
                epoch_slot, epoch_rank = slot, rank
            continue
        if field is None:
            if slot.total is not None:
                totalled.append(slot)
            if _counter(slot):
                if slot.total is not None and in_epoch is None and (
                    epoch_slot is not None or position == 0 or (position == 1 and leading is not None)
                ):
                    in_epoch = slot  # `[e][i/n]`, `Epoch e, i/N`, timm's `Train: e [i/n (p%)]`, Keras `i/n [===]`
                elif (
                    slot.total is not None and in_epoch is not None and epoch_slot is None and slot.bracketed
                    and line[in_epoch.end : slot.start].strip() in ("][", "] [")
                ):  # Swin Transformer's `Train: [e/E][i/n]`: the epoch of its total, then the batch
                    epoch_slot, in_epoch = in_epoch, slot
                elif position == 0 and slot.bracketed and slot.total is None and line.startswith("]", slot.end):
                    step_slot, step_rank = slot, (5, 0)  # `[1000] loss=...` (CLU)
                elif slot.total is None and not line.startswith("%", slot.end):  # a percentage counts nothing
                    counters.append(position)
                    if position == 0:
                        leading = slot
            continue
        value = _convert(slot, field)
        if field in ("step_time", "elapsed") and value is not None and value >= _CLOCK_SECONDS:
            continue  # a clock, not a duration
        target = best_eval if (slot.split == "eval" or eval_line) else best
        if field == "loss" and target is best:
            losses.append(position)
        held = target.get(field)
        if held is None or rank < held[0]:
            target[field] = (rank, value, position)
            if field == "loss" and target is best:
                loss_name = slot.name
    if not best and not best_eval:
        if _bare_pair(line, slots):
            best["loss"] = ((COMPONENT_TIER, 0), slots[1].value, 1)
        elif (at := _headerless_nan(slots)) is not None:
            best["loss"] = ((COMPONENT_TIER, 0), slots[at].value, at)
    if "loss" not in best and (at := _nonfinite_only(slots)) is not None:
        best["loss"] = ((COMPONENT_TIER, 0), slots[at].value, at)
    if best.keys() == {"step_time"} and not eval_line and _evaluation_only(slots):
        best_eval["step_time"] = best.pop("step_time")  # the time the evaluation took
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
        if total is None:  # `batch count: 280/308, iter: 280`: the same count, printed with its total
            total = next((t.total for t in totalled if t is not counter and t.value == counter.value), None)
    elif epoch is not None and math.isfinite(epoch) and epoch >= 0:
        step, counter = int(epoch), epoch_slot
    else:
        step, named = None, False
    elapsed = fields.pop("elapsed", None)
    eval_fields.pop("elapsed", None)
    planned = fields.pop("total", None)  # `max_steps: 10000`: the planned number of steps, not a counter
    eval_fields.pop("total", None)
    if total is None and planned is not None and planned.is_integer() and step_slot is not None:
        total = int(planned)
    names = frozenset(s.name for s in slots if s.name and s.name != loss_name)
    where = {id(slot): i for i, slot in enumerate(slots)}
    return Reading(
        fields, eval_fields, step, epoch, total, elapsed, named, tuple(counters), names, chosen,
        where.get(id(counter)) if counter is not None else None,
        where.get(id(epoch_slot)) if epoch_slot is not None else None, printed_rank,
        _terms(slots, losses, chosen["loss"][0]) if "loss" in chosen else (),
    )


def _evaluation_only(slots: list[Slot]) -> bool:
    """Whether a line's named numbers are an evaluation's (`epoch 19 | dev ema wer 9.10 | took 0.65 s`,
    MLPerf RNN-T): some name carries an evaluation split, none a training one."""
    splits = {slot.split for slot in slots}
    return "eval" in splits and "train" not in splits


def _terms(slots: list[Slot], losses: list[int], loss_at: int) -> tuple[int, ...]:
    """Positions of the values beside the loss that are terms of it: the line's other training losses,
    and a penalty the loss adds (GRPO's `beta * kl`; PPO's KL is no loss, but one that is not finite
    is the run's NaN all the same)."""
    names = vocabulary().penalties
    divergences = [i for i, s in enumerate(slots) if s.name in names and s.split != "eval" and i not in losses]
    return tuple(p for p in losses + divergences if p != loss_at)


_TABLE_METRICS = frozenset({"loss", "perplexity", "step_time", "tokens_per_s", "samples_per_s"})
_HEADER_NAME = re.compile(r"[A-Za-z_][\w/.%()-]{0,63}|#|/")
"""A word of a header's column name; `#` is the count (spaCy's `E  #  LOSS NER ...`), and a lone `/` joins
two names into one column's (nolearn's `Train / Val`, the ratio of the two losses)."""
_NAMES = re.compile(r"\S+")
_NAMES_WITH_BLANKS = re.compile(r"\S+(?: \S+){0,3}")
_WIDE_GAP = re.compile(r"\S(?: {2}|\t)\s*\S")


def table_header(line: str, start: int) -> tuple[tuple[int, str], ...] | None:
    """The columns of a table header (Chainer's `PrintReport`: `epoch  iteration  main/loss  ...`), as
    (position, label): three or more names and nothing else, a counter and a metric among them. A
    header of comma-separated names without blanks is a CSV file's (Keras' `CSVLogger`, timm's
    `summary.csv`, Lightning's `CSVLogger`): its columns are numbered, as -1, -2, ... (see `csv_row`)."""
    text = line[start:].strip()
    least = 3
    if "," in text and not any(c.isspace() for c in text):
        columns = tuple((-1 - i, name) for i, name in enumerate(text.split(",")))
    elif "|" in text and (cells := _cells(text, "|")):
        # a Markdown table (GitHub turns a pasted HTML table into one: the HF Trainer's notebook table,
        # `Step | Training Loss | Validation Loss`): its cells, numbered as a CSV file's; two suffice
        columns, least = tuple((-1 - i, " ".join(name.split())) for i, name in enumerate(cells)), 2
    else:
        # columns padded apart by two blanks or more may have names of two words (DeepXDE's `Step
        # Train loss    Test loss     Test metric`); one blank apart, every word is a column
        words = _NAMES_WITH_BLANKS if _WIDE_GAP.search(text) else _NAMES
        columns = tuple((start + m.start(), m.group()) for m in words.finditer(line, start))
    if not least <= len(columns) <= MAX_SLOTS or not all(
        _HEADER_NAME.fullmatch(word) for _, name in columns for word in name.split(" ")
    ):
        return None
    vocab = vocabulary()
    fields = {meaning.field for _, name in columns if (meaning := vocab.column(name).meaning) is not None}
    if not fields & {"step", "epoch"} or not fields & _TABLE_METRICS:
        return None
    return columns



def _cells(text: str, separator: str) -> list[str]:
    """The cells of a row, less the empty ones a Markdown row may begin and end with (`| 1 | 2.3 |`)."""
    cells = text.strip().split(separator)
    if separator == "|":
        if cells and not cells[0].strip():
            cells = cells[1:]
        if cells and not cells[-1].strip():
            cells = cells[:-1]
    return [cell.strip() for cell in cells]


_RULE = re.compile(r":?-{2,}:?")
_NO_VALUE = frozenset({"no log", "n/a", "none", "-"})
"""Cells that hold no value (the HF Trainer's table writes `No log` before a loss was logged)."""


_CELL_UNIT = re.compile(r"(\S{1,40}?) ?([A-Za-z%][A-Za-z%/]{0,15})")
"""A cell's number and the unit printed after it (nolearn's table: `47.83%` accuracy, `0.6s` an epoch's
duration): a percent, or a unit the vocabulary knows."""


def _is_value(cell: str) -> bool:
    """Whether a table cell holds a number, bare or with its unit."""
    if read_number(cell) is not None:
        return True
    m = _CELL_UNIT.fullmatch(cell)
    return m is not None and read_number(m.group(1)) is not None and (
        m.group(2) == "%" or vocabulary().unit_of(m.group(2).lower()) is not None
    )


def csv_row(columns: tuple[tuple[int, str], ...], text: str) -> str | None:
    """A row under a CSV or Markdown header, as `name: value` pairs that `read_slots` names like any line
    (an empty cell is left out); "" for a Markdown table's rule (`-- | --`); None when `text` is not a
    row of that table (another number of cells, or a cell that is not a number)."""
    cells = _cells(text, "|" if "|" in text else ",")
    if len(cells) != len(columns):
        return None
    if all(_RULE.fullmatch(cell) for cell in cells):
        return ""
    pairs = []
    for (_, name), cell in zip(columns, cells):
        if cell and cell.lower() not in _NO_VALUE:
            if not _is_value(cell):
                return None
            pairs.append(f"{name}: {cell}")
    return ", ".join(pairs) if pairs else None


def read_number(text: str) -> float | None:
    """A slot's text as a float: plain, with thousands separators, or a non-finite spelling
    (`nan`, `-inf`, MSVC's `1.#INF` and `-1.#IND`, and `nanxxx`: PaddleOCR's and PaddleDetection's
    `{:x<6f}` pads a value shorter than six characters with `x`)."""
    try:
        return float(text)
    except ValueError:
        value = to_float(text)
        if value is None and text.endswith("x"):
            return to_float(text.rstrip("x"))
        if value is not None or "#" not in text:
            return value
        lower = text.lower()
        return -math.inf if lower.startswith("-1.#inf") else math.inf if "inf" in lower else math.nan


def duration(text: str) -> float:
    """A clock duration (`4:14:00`, `2 days, 3:04:05`) in seconds."""
    days, _, clock = text.rpartition(", ")
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds + (86400 * int(days.split()[0]) if days else 0)


FIELD_NAMES = {
    "loss": "loss", "grad_norm": "grad_norm", "lr": "lr", "loss_scale": "loss_scale", "step_time": "step_time_s",
    "tokens_per_s": "tokens_per_s", "samples_per_s": "samples_per_s", "tflops": "tflops", "mfu": "mfu",
}


def nonfinite(fields: dict[str, float | None]) -> bool:
    """Whether a loss or grad norm among `fields` is NaN or infinite."""
    return any(fields.get(f) is not None and not math.isfinite(fields[f]) for f in ("loss", "grad_norm"))  # type: ignore[arg-type]
