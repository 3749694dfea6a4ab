"""Metric records written as one JSON object per line.

Sources:
- LLaMA-Factory: hiyouga/LLaMA-Factory `src/llamafactory/train/callbacks.py`,
  `LogCallback.on_log`, writes `trainer_log.jsonl` with `json.dumps` (so a
  NaN is the bare token `NaN`): `current_steps`, `total_steps`, `loss`,
  `eval_loss`, `predict_loss`, `reward`, `accuracy`, `lr`, `epoch`,
  `percentage`, `elapsed_time`, `remaining_time`, optionally `throughput`
  and `total_tokens`; keys whose value is None are dropped, so a training
  record has `loss` and an evaluation record `eval_loss`.
  `on_prediction_step` writes progress-only objects (no loss): ignored.
- fairseq: facebookresearch/fairseq `fairseq/logging/progress_bar.py`,
  `JsonProgressBar`: `logger.info(json.dumps(stats))` after the logging
  prefix; `log` adds `epoch` and `update` (the epoch as a fraction, rounded
  to 3 places: not a step, so `update` is no step key here) and every
  meter arrives pre-formatted as a string (`"loss": "8.206"`); `print`
  (end of epoch, validation) prefixes every key with the tag
  (`valid_loss`, `valid_num_updates`, `train_loss`).
- Other JSON loggers (wandb-style `train/loss`, `_step`, Lightning's
  `trainer/global_step`) use the same aliases under a split prefix.

A line is a record when it holds a JSON object with a step-like key (an
integral value) and a loss-like key. Keys under an evaluation split
(`eval`, `val`, `valid`, `validation`, `test`, `predict`) give `eval_loss`.
Nested values are ignored. Objects longer than `MAX_JSON_CHARS` are not
decoded (lossy, but a 1 MiB line costs nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from monitor.model import StepRecord
from monitor.parsers.base import NOT_PROGRESS, ParseContext, Parser, _NotProgress
from monitor.parsers.timestamps import find_timestamp
from monitor.parsers.vocabulary import vocabulary

MAX_JSON_CHARS = 64 * 1024

# The part of a key before its first `/` or `_` that names the data split.
SPLITS: dict[str, str] = {
    "train": "train",
    "training": "train",
    "trainer": "train",
    "eval": "eval",
    "evaluation": "eval",
    "val": "eval",
    "valid": "eval",
    "validation": "eval",
    "test": "eval",
    "predict": "eval",
}

# Keys whose value names the split of the whole record: mmcv's TextLoggerHook writes `"mode": "val"`
# beside the same `loss` and `time` keys its training records carry.
RECORD_SPLIT_KEYS: tuple[str, ...] = ("mode", "phase", "split", "stage")

# Aliases in order of preference, after the split prefix is removed and the key lower-cased.
STEP_KEYS: tuple[str, ...] = (
    "current_steps", "global_step", "step", "_step", "num_updates", "iteration", "iter", "it",
    "global_steps", "steps",
)
LOSS_KEYS: tuple[str, ...] = ("loss", "lm_loss", "lm loss", "total_loss", "crossentropyloss", "ce_loss")
FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "grad_norm": (
        "grad_norm", "gnorm", "total_grad_norm", "global_grad_norm", "global_norm", "gradient_norm",
    ),
    "lr": ("lr", "learning_rate"),
    "loss_scale": ("loss_scale", "loss_scaling", "grad_scale"),
    "tokens_per_s": ("tokens_per_second", "tokens_per_sec", "tokens/s", "tps", "wps"),
    "samples_per_s": ("samples_per_second", "samples_per_sec", "samples/s"),
    "tflops": ("tflops",),
    "mfu": ("mfu",),
    "epoch": ("epoch",),
    "total_steps": ("total_steps", "max_steps"),
}
_INTEGER_FIELDS = frozenset({"total_steps"})
# Keys holding the record's wall-clock time: an ISO 8601 string or seconds since the epoch.
TIME_KEYS: tuple[str, ...] = ("time", "timestamp", "_timestamp", "ts", "datetime", "wall_time", "walltime")
# Other metrics are named through the slot vocabulary (`train/step_time_s`, `tokens_per_sec`).
_VOCABULARY_FIELDS = {"step_time": ("step_time_s", 1.0), "tokens_per_s": ("tokens_per_s", 1.0),
                      "samples_per_s": ("samples_per_s", 1.0), "tflops": ("tflops", 1.0), "mfu": ("mfu", 1.0)}
_LOSS_MARK = 'oss"'  # every loss alias ends a key with `loss` or `Loss`: a cheap test before decoding
_decoder = json.JSONDecoder()


def split_key(key: str) -> tuple[str | None, str]:
    """(`train`/`eval`/None, the key without its split prefix), lower-cased."""
    key = key.lower()
    for sep in ("/", "_"):
        head, found, tail = key.partition(sep)
        if found and tail and head in SPLITS:
            return SPLITS[head], tail
    return None, key


def _record_split(data: dict[str, Any]) -> str | None:
    """The split a record names for all its keys (`"mode": "val"`), or None."""
    for key in RECORD_SPLIT_KEYS:
        value = data.get(key)
        if isinstance(value, str):
            return SPLITS.get(value.lower())
    return None


def to_number(value: Any) -> float | None:
    """A JSON number or a numeric string (`"8.206"`, `"nan"`); None otherwise (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range
            return None
    if isinstance(value, str) and len(value) <= 64:
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return None
    return None


def to_integer(value: Any) -> int | None:
    """An integral, finite, non-negative number (`12`, `12.0`, `"12"`); None otherwise."""
    x = to_number(value)
    if x is None or not math.isfinite(x) or x < 0 or not x.is_integer():
        return None
    return int(x)


def _count_of(value: Any) -> float | None:
    """A number, or the first part of a count out of a total printed as a string (`"1/100"` is 1)."""
    if isinstance(value, str) and "/" in value:
        value = value.partition("/")[0]
    return to_number(value)


def to_counter(value: Any) -> int | None:
    """A step: an integer, or a count out of a total printed as a string (`"10/625"`, pycls'
    `json_stats`)."""
    return to_integer(_count_of(value))


_COUNTED = {"epoch": _count_of}
"""Fields that may be printed as a count out of a total."""


def _named_loss(values: dict[str, Any]) -> float | None:
    """The loss under a name only the slot vocabulary knows (`desc_loss`, `loss_total`): the best named."""
    vocab = vocabulary()
    best: tuple[tuple[int, int], float] | None = None
    for key, value in values.items():
        meaning = vocab.label(key).meaning
        if meaning is None or meaning.field != "loss" or meaning.extras > 1:
            continue
        number = to_number(value)
        rank = (meaning.tier, meaning.extras)
        if number is not None and (best is None or rank < best[0]):
            best = rank, number
    return None if best is None else best[1]


def _first(values: dict[str, Any], keys: tuple[str, ...], convert: Any) -> Any:
    for key in keys:
        if key in values:
            converted = convert(values[key])
            if converted is not None:
                return converted
    return None


class JsonLinesParser(Parser):
    """One JSON object per line with a step and a loss (LLaMA-Factory, fairseq JSON bar, ...)."""

    name = "jsonl"
    keywords = ('{"',)
    samples = (
        '{"current_steps": 120, "total_steps": 3000, "loss": 1.2345, "lr": 4.8e-05, "epoch": 0.12, '
        '"percentage": 4.0, "elapsed_time": "0:10:02", "remaining_time": "4:00:48"}',
        '{"current_steps": 200, "total_steps": 3000, "eval_loss": NaN, "epoch": 0.2, "percentage": 6.67, '
        '"elapsed_time": "0:20:11", "remaining_time": "4:42:37"}',
        '2021-06-01 08:00:00 | INFO | train_inner | {"epoch": 2, "update": 1.25, "loss": "7.913", '
        '"nll_loss": "6.402", "ppl": "84.57", "wps": "30112.4", "ups": "0.21", "wpb": "143360", '
        '"bsz": "1120", "num_updates": "1400", "lr": "0.000175", "gnorm": "0.882", "loss_scale": "8", '
        '"train_wall": "48", "wall": "6720"}',
        '2021-06-01 08:05:00 | INFO | valid | {"epoch": 2, "valid_loss": "7.702", "valid_nll_loss": "6.188", '
        '"valid_ppl": "72.9", "valid_wps": "80211.3", "valid_wpb": "3071.6", "valid_bsz": "24", '
        '"valid_num_updates": "1500"}',
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | _NotProgress | None:
        start = line.find('{"')
        if start < 0 or len(line) - start > MAX_JSON_CHARS or _LOSS_MARK not in line:
            return None
        try:
            data, _ = _decoder.raw_decode(line, start)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        train: dict[str, Any] = {}
        evals: dict[str, Any] = {}
        whole = _record_split(data)
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                continue  # nested values are not metrics of this step
            split, base = split_key(key)
            (evals if (whole or split) == "eval" else train).setdefault(base, value)
        step = _first(train, STEP_KEYS, to_counter)
        if step is None:
            step = _first(evals, STEP_KEYS, to_counter)
        if step is None:
            return NOT_PROGRESS  # a metrics object without a step (an epoch summary): nobody's step
        loss = _first(train, LOSS_KEYS, to_number)
        eval_loss = _first(evals, LOSS_KEYS, to_number)
        if loss is None and eval_loss is None:
            loss, eval_loss = _named_loss(train), _named_loss(evals)
        if loss is None and eval_loss is None:
            return NOT_PROGRESS
        fields: dict[str, Any] = {}
        for field, keys in FIELD_KEYS.items():
            value = _first(train, keys, to_integer if field in _INTEGER_FIELDS else _COUNTED.get(field, to_number))
            if value is not None:
                fields[field] = value
        self._vocabulary_fields(train, fields)
        if loss is not None:
            ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, start)
        if time is None:
            time, epoch_s = _time_of(train, ctx.year)
        return StepRecord(
            step, loss=loss, eval_loss=eval_loss, time=time, epoch_s=epoch_s, rank=rank, node=node,
            file=ctx.file, line=number, text=line, **fields,
        )

    @staticmethod
    def _vocabulary_fields(values: dict[str, Any], fields: dict[str, Any]) -> None:
        """Step time and throughput under any name the slot vocabulary knows (`step_time_s`,
        `iter_time_ms`, `tokens_per_sec`), converted to the record's units."""
        vocab = vocabulary()
        for key, value in values.items():
            label = vocab.label(key)
            meaning, unit = label.meaning, label.unit
            if meaning is None or meaning.field not in _VOCABULARY_FIELDS:
                continue
            field, _ = _VOCABULARY_FIELDS[meaning.field]
            number = to_number(value)
            if field in fields or number is None:
                continue
            if field == "step_time_s" and unit == "ms":
                number /= 1000.0
            fields[field] = number


def _time_of(values: dict[str, Any], year: int) -> tuple[str | None, float | None]:
    """The wall-clock time a JSON record carries in a `time`-like key: ISO text, or epoch seconds
    (milliseconds when the number is too large to be seconds)."""
    for key in TIME_KEYS:
        value = values.get(key)
        if isinstance(value, str):
            stamp = find_timestamp(value[:64], year)
            if stamp is not None:
                return stamp.iso, stamp.seconds
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            seconds = value / 1000.0 if value > 1e11 else float(value)
            if 1e8 < seconds < 1e10:
                stamp_time = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
                return stamp_time.isoformat(), seconds
    return None, None
