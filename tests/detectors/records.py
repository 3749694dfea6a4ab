"""Build records for detector tests."""

from __future__ import annotations

from typing import Any

from monitor.model import LossScaleOverflow, StepRecord


def step(step: int | None, line: int | None = None, **fields: Any) -> StepRecord:
    line = line if line is not None else (step or 0)
    return StepRecord(step=step, file="t.log", line=line, text=f"record {step}", **fields)


def overflow(scale: float | None, new_scale: float | None, step: int | None = None, line: int = 0,
             **fields: Any) -> LossScaleOverflow:
    return LossScaleOverflow(scale, new_scale, step=step, file="t.log", line=line, text="OVERFLOW", **fields)
