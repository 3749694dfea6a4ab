"""TensorBoard scalars as step records: tags named through the learned-layout vocabulary.

`train/loss`, `loss`, `eval/loss`, `grad_norm`, `learning_rate`, `Loss/train` (namespace first),
`throughput/tokens_per_sec` (the last part names it): the scalars of one step become one
`StepRecord`, stamped with the event's wall time. The records are read by
`monitor.sources.tfevents`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Protocol

from monitor.model import StepRecord
from monitor.parsers.slots import FIELD_NAMES
from monitor.parsers.vocabulary import vocabulary

MAX_TAGS = 4096


class Scalar(Protocol):
    step: int
    wall_time: float
    tag: str
    value: float


def _field_of(tag: str) -> str | None:
    """The StepRecord field a tag names (`eval_loss` for an evaluation loss), through the slot
    vocabulary; a namespaced tag is tried as written, reversed (`Loss/train`) and by its last part."""
    words = vocabulary()
    parts = [p for p in tag.replace("\\", "/").split("/") if p]
    for candidate in dict.fromkeys([tag, "/".join(reversed(parts)), parts[-1] if parts else tag]):
        label = words.label(candidate)
        if label.meaning is None:
            continue
        field = label.meaning.field
        split = label.split or next(filter(None, (words.split(part)[0] for part in parts)), None)
        if field == "loss" and split == "eval":
            return "eval_loss"
        if field in FIELD_NAMES and split != "eval":
            return FIELD_NAMES[field]
    return None


class StepBuilder:
    """Scalars to StepRecords: the values of one step gathered until the step changes."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.step: int | None = None
        self.values: dict[str, float] = {}
        self.wall_time = 0.0
        self.count = 0
        self._fields: dict[str, str | None] = {}

    def add(self, scalars: Iterable[Scalar]) -> list[StepRecord]:
        records = []
        for scalar in scalars:
            if scalar.tag not in self._fields and len(self._fields) < MAX_TAGS:
                self._fields[scalar.tag] = _field_of(scalar.tag)
            field = self._fields.get(scalar.tag)
            if field is None:
                continue
            if self.step is not None and scalar.step != self.step:
                records.extend(self.flush())
            self.step, self.wall_time = scalar.step, max(self.wall_time, scalar.wall_time)
            self.values[field] = scalar.value
        return records

    def flush(self) -> list[StepRecord]:
        if self.step is None or not self.values:
            return []
        self.count += 1
        when = self.wall_time if self.wall_time > 0 and math.isfinite(self.wall_time) else None
        time = None if when is None else dt.datetime.fromtimestamp(when, dt.timezone.utc).isoformat()
        record = StepRecord(self.step, time=time, epoch_s=when, file=self.file, line=self.count, **self.values)
        self.step, self.values, self.wall_time = None, {}, 0.0
        return [record]
