"""tqdm progress bars: the training bar's position, and the metrics Lightning puts in its postfix.

Source: tqdm `tqdm/std.py`, `tqdm.format_meter`: the default layout is
`{l_bar}{bar}{r_bar}` with `l_bar` = the description plus `': '` (when there is
one) and the percentage as `{:3.0f}%|`, and `r_bar` = `| {n_fmt}/{total_fmt}
[{elapsed}<{remaining}, {rate_fmt}{postfix}]`, where the rate is `<x>it/s` or
`<x>s/it` (`?it/s` before the first update) and the postfix `, k=v, ...`.

PyTorch Lightning, `src/lightning/pytorch/callbacks/progress/tqdm_progress.py`
(`TQDMProgressBar`): `on_train_epoch_start` resets the training bar and sets
its description to `Epoch {current_epoch}`; `on_train_batch_end` moves it to
`batch_idx + 1` (so `n` counts batches within the epoch) and sets the postfix
from `get_metrics`: `v_num` and every metric logged with `prog_bar=True`
(1.x also showed a running-mean `loss`). Validation, sanity-check, test and
predict bars carry their own descriptions (`Validation DataLoader 0`, ...).
NeMo's `MegatronProgressBar` (NVIDIA/NeMo, a `TQDMProgressBar` subclass) drops
the rate (`[{elapsed}<{remaining}{postfix}]`); tqdm's `set_description` already
ends the description in `': '`, so it shows as `Epoch 0: :`. Its postfix
(observed in posted NeMo logs) holds `reduced_train_loss`, `global_step` (a
float), `consumed_samples` and `train_step_timing in s`.

Rules:
- the training bar is a bar with no description (the Hugging Face Trainer's)
  or the description `Epoch N` (Lightning's), counting iterations (`it` rate
  unit, or no rate), whose total is at least the largest training total seen
  so far (`ctx.bar_total`): it sets `ctx.step` (and `ctx.bar_total`), which
  lines without a step of their own (log dicts, overflow messages glued
  after the bar) read. Bars with a smaller total (the Trainer's evaluation
  bar) or another description (`Map`, `Running tokenizer on dataset`,
  Lightning's validation and sanity-check bars) leave the context alone.
- a plain bar returns None: it only moves the context. Any bar read (training
  or not) is no other parser's progress line (a learned layout would take
  Lightning's `Epoch N` for the step and the percentage for the epoch): only
  the text glued after it (`rest`: tqdm ends a bar with `\r`, so another
  process's output can follow it on the same line) goes on to the other
  parsers and to the fault scanner.
- bars whose description holds a training word and no evaluation word
  (`Steps` in accelerate and diffusers example scripts, OpenRLHF's `Train
  epoch`, `Training`, `Iteration`) are training bars too;
- a training bar whose postfix holds a training loss (`loss`, `train_loss`,
  `train_loss_step`, NeMo's `reduced_train_loss`, or any other name the slot
  vocabulary calls a loss, such as `step_loss`) or NeMo's `global_step` is a
  record: step = `global_step` when present, else `n`; `epoch` = N for
  `Epoch N` bars, because Lightning's `n` restarts every epoch.

Deliberately not here: bars without a percentage (unknown total: no `%|`),
unit-scaled counts (`1.2k/10k`), custom `bar_format`s other than NeMo's, and
NeMo's newest `{desc} {n_fmt}/{total_fmt}{postfix}` layout (it prints no `%|`).
"""

from __future__ import annotations

import math
import re

from monitor.model import StepRecord
from monitor.parsers.base import ParseContext, Parser, to_float
from monitor.parsers.vocabulary import COMPONENT_TIER, vocabulary

_MARK = "%|"
# the right side, matched at the `%|`: bar characters, `| n/total`, then the bracket
_RIGHT = re.compile(r"%\|[^|]*\| ?(\d{1,18})/(\d{1,18})(?!\d)(?: \[([^\]]*))?")
# launcher prefixes that may precede a bar without a description: `[rank0]:`,
# `[default3]:`, mpirun's `[1,0]<stdout>:`, srun's `3: `, pdsh's `node12: `
_LAUNCHER = r"(?:\[[^\]\s]{1,40}\](?:<\w{1,10}>)?:|(?:\d{1,6}|[A-Za-z][\w.-]{0,62}(?<=\d)):(?= |$))"
_PREFIX = re.compile(rf"(?:\s{{0,8}}{_LAUNCHER}){{0,3}}\s*")
_EPOCH = re.compile(r"Epoch (\d{1,9})")
_POSTFIX_EPOCH = re.compile(r"(\d{1,9})(?:/\d{1,9})?")
"""An epoch in the postfix, alone or out of the total (GluonTS's trainer, gluonts/mx/trainer/_base.py:
`set_postfix(ordered_dict={"epoch": f"{epoch_no + 1}/{self.epochs}", "avg_epoch_loss": ...})`)."""
# The words of other training bars' descriptions: Hugging Face accelerate/diffusers example scripts
# use `tqdm(..., desc="Steps")`, OpenRLHF `Train epoch`, hand-written loops `Training`, `Iteration`;
# a description with an evaluation word (`Validation`, `Evaluating`) is not training.
_TRAINING_WORDS = frozenset({"steps", "step", "training", "train", "iteration", "iterations", "epoch", "epochs"})
_OTHER_WORDS = frozenset({"val", "valid", "validation", "validating", "eval", "evaluation", "evaluating", "test",
                          "testing", "predict", "predicting", "sanity", "checking", "inference"})
_WORDS = re.compile(r"[a-z]+")
_COLON_PAIR = re.compile(r"([A-Za-z_][\w/.]{0,40}): ?([-+]?(?:\d[\d.]*(?:[eE][-+]?\d+)?|nan|inf)\b)")
"""`key: value` in a postfix written as one string (`tqdm.set_postfix_str`): ai-toolkit's
`lr: 2.0e-04 loss: 7.353e-01`."""


def _training_bar(description: str, postfix: dict[str, str]) -> bool:
    """Whether a bar with this description is the training bar: a training word and no evaluation
    word, or, for a bar named after its run (ai-toolkit's job name, `my-lora: 40%|...| 1199/3000
    [..., lr: 2.0e-04 loss: 7.353e-01]`), no evaluation word and a loss in its postfix."""
    words = set(_WORDS.findall(description.lower()))
    if words & _OTHER_WORDS:
        return False
    return bool(words & _TRAINING_WORDS) or any(k in postfix for k in _LOSS_KEYS) or (
        _vocabulary_loss(postfix) is not None
    )


_PCT_DIGITS = 3

_LOSS_KEYS = ("loss", "train_loss", "train_loss_step", "reduced_train_loss")
_FIELDS = {"lr": "lr", "grad_norm": "grad_norm", "train_step_timing in s": "step_time_s"}


def _global_step(text: str, n: int) -> int | None:
    """NeMo's `global_step` postfix value, as an integer step.

    tqdm's `format_num` writes it with 3 significant digits when that is
    shorter (`2e+3` for 1999, `1.23e+5`), which loses the exact step: such a
    value only confirms the bar's own `n` when `n` lies within its rounding,
    and gives no step otherwise.
    """
    value = to_float(text)
    if value is None or not math.isfinite(value):
        return None
    mantissa, sep, exponent = text.lower().partition("e")
    if not sep:
        return int(value) if value.is_integer() else None
    digits = len(mantissa.lstrip("+-").replace(".", "").lstrip("0")) or 1
    half_unit = 10.0 ** (int(exponent) - digits + 1) / 2
    return n if abs(n - value) <= half_unit + 1 else None


def _description(head: str) -> tuple[str, int] | None:
    """The bar's description and where it starts, from the text before the percentage.

    Returns ("", index) for a bar without one, None when the text cannot be a
    tqdm left side (tqdm ends a description with `': '`).
    """
    stripped = head.rstrip()
    if not stripped:
        return "", len(head)
    if _PREFIX.fullmatch(stripped):
        return "", len(head)  # only a launcher prefix
    if not stripped.endswith(":"):
        return None
    body = stripped[:-1].rstrip()
    if body.endswith(":"):  # NeMo: the description already ends in ': '
        body = body[:-1].rstrip()
    start = _PREFIX.match(body).end()  # type: ignore[union-attr]  # can match empty
    return body[start:], start


def _vocabulary_loss(postfix: dict[str, str]) -> str | None:
    """A training loss under another name the slot vocabulary knows (`step_loss`, `train/loss`,
    kohya's `avr_loss`), the best named; not a term named after the word loss (`loss_cls`)."""
    vocab = vocabulary()
    best: tuple[tuple[int, int], str] | None = None
    for key, value in postfix.items():
        label = vocab.label(key)
        meaning = label.meaning
        if label.split == "eval" or meaning is None or meaning.field != "loss" or (
            meaning.tier >= COMPONENT_TIER and not meaning.extras
        ):
            continue
        rank = (meaning.tier, meaning.extras)
        if best is None or rank < best[0]:
            best = rank, value
    return None if best is None else best[1]


def _elapsed(bracket: str | None) -> float | None:
    """tqdm's elapsed time, the bracket's first item before `<`, as `format_interval` prints it
    (`MM:SS`, or `H:MM:SS` from an hour on, hours not wrapped into days); None otherwise."""
    text = (bracket or "").split("<", 1)[0]
    parts = text.strip().split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isascii() and p.isdecimal() and len(p) <= 6 for p in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return float(seconds)


def _seconds_per_iteration(bracket: str | None) -> float | None:
    """tqdm's rate, the second item in the bracket: `3.92s/it` as is, `2.02it/s` inverted; None for
    `?it/s`, no rate (NeMo) or a rate that is not a positive number."""
    items = (bracket or "").split(",")
    rate = items[1].strip() if len(items) > 1 else ""
    if rate.endswith("s/it"):
        value = to_float(rate[:-4])
    elif rate.endswith("it/s"):
        value = to_float(rate[:-4])
        value = 1.0 / value if value else None
    else:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


class BarParser(Parser):
    """The training progress bar (Hugging Face Trainer, Lightning, NeMo)."""

    name = "tqdm"
    keywords = (_MARK,)
    samples = (
        "Epoch 2:  40%|████      | 8/20 [00:31<00:47,  3.92s/it, loss=4.51, v_num=7]",
        "Epoch 0:  63%|██████▎   | 630/1000 [05:12<03:03,  2.02it/s, v_num=3, train_loss_step=0.482]",
        "Epoch 0: :  12%|█▏        | 120/1000 [01:10<08:30, reduced_train_loss=3.21, global_step=119.0, "
        "consumed_samples=30720.0]",
        " 30%|███       | 300/1000 [02:41<06:16,  1.86it/s, loss=1.93]",
    )

    def __init__(self) -> None:
        self.rest: int | None = None  # where the text after the last bar read starts (None: not a bar)
        self.head = 0  # where the last bar read starts (its description is the text before)
        self.count: int | None = None  # the last bar's position and seconds per iteration, whatever it counts
        self.per_step: float | None = None

    def snapshot(self) -> dict[str, object]:
        return {}  # `rest` only matters for the line just read

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        self.rest = None
        self.count, self.per_step = None, None
        idx = line.rfind(_MARK)
        if idx < 0:
            return None
        digits = idx
        while digits > 0 and idx - digits < _PCT_DIGITS and line[digits - 1].isdigit():
            digits -= 1
        if digits == idx:
            return None
        right = _RIGHT.match(line, idx)
        if right is None:
            return None
        described = _description(line[:digits])
        if described is None:
            return None
        end = right.end()
        self.rest = end + 1 if line.startswith("]", end) else end
        self.head = digits
        self.count, self.per_step = int(right.group(1)), _seconds_per_iteration(right.group(3))
        description, start = described
        epoch: int | None = None
        postfix = self._postfix(right.group(3))
        if postfix is None:
            return None  # a rate in another unit: not an iteration bar
        if description:
            if not _training_bar(description, postfix):
                return None  # another bar: data loading, validation, sanity check
            epoch_match = _EPOCH.search(description)
            epoch = int(epoch_match.group(1)) if epoch_match else None
        if epoch is None and (in_postfix := _POSTFIX_EPOCH.fullmatch(postfix.get("epoch", ""))):
            epoch = int(in_postfix.group(1))  # the bar counts that epoch's batches
        n, total = self.count, int(right.group(2))
        if ctx.bar_total is not None and total < ctx.bar_total:
            return None  # a smaller bar: evaluation
        ctx.bar_total = total
        ctx.step = n
        ctx.bar_step_time_s = self.per_step
        ctx.bar_elapsed_s = _elapsed(right.group(3))
        loss = next((postfix[k] for k in _LOSS_KEYS if k in postfix), None)
        if loss is None:
            loss = _vocabulary_loss(postfix)
        global_step = postfix.get("global_step")
        if loss is None and global_step is None:
            return None
        step: int | None = n
        if global_step is not None:
            step = _global_step(global_step, n)
            if step is not None:
                ctx.step = step
        fields = {field: to_float(postfix.get(key)) for key, field in _FIELDS.items()}
        if fields["step_time_s"] is None:
            fields["step_time_s"] = ctx.bar_step_time_s
        time, epoch_s, rank, node = ctx.where(line, start)
        if epoch_s is None:
            epoch_s = ctx.bar_elapsed_s  # no wall clock: the bar's elapsed time is the clock
        return StepRecord(
            step,
            loss=to_float(loss),
            total_steps=total if epoch is None else None,
            epoch=None if epoch is None else float(epoch),
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
            **fields,
        )

    @staticmethod
    def _postfix(bracket: str | None) -> dict[str, str] | None:
        """The `k=v` items after `elapsed<remaining`; None when the rate is not per iteration."""
        items: dict[str, str] = {}
        if not bracket:
            return items
        for position, item in enumerate(bracket.split(",")):
            if position == 0:
                continue  # elapsed<remaining
            key, sep, value = item.partition("=")
            if sep:
                items.setdefault(key.strip(), value.strip())
            elif position == 1 and not item.rstrip().endswith(("it/s", "s/it")):
                return None
            elif position > 1:
                for pair in _COLON_PAIR.finditer(item):  # `set_postfix_str("lr: 2.0e-04 loss: 7.353e-01")`
                    items.setdefault(pair.group(1), pair.group(2))
        return items
