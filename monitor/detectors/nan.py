"""Non-finite training numerics: a NaN or infinite loss, grad norm or eval loss,
or a framework's nan-iteration counter going up.

One event per episode: the first non-finite value opens it, and the
detector stays quiet until that series is finite again, so a run that keeps
printing `loss nan` yields one event, at the step where it started.

A non-finite grad norm on a step the loss scaler skipped is an fp16 overflow,
not a NaN: the overflow detector reports it.

Deliberately not here: losses that are finite but absurd (spike and
divergence detection).
"""

from __future__ import annotations

import dataclasses
import math

from monitor.detectors.base import Detector, format_number, make_event
from monitor.model import Event, Record, StepRecord


@dataclasses.dataclass(slots=True)
class _RankState:
    loss: bool = False  # a NaN-loss episode is open
    grad: bool = False
    counter: bool = False
    eval: bool = False
    last_finite_loss: float | None = None
    last_finite_step: int | None = None


class NanDetector(Detector):
    """Raises LOSS-NAN, GRAD-NORM-NAN, NAN-ITERATIONS and EVAL-LOSS-NAN."""

    def __init__(self) -> None:
        self.ranks: dict[int | None, _RankState] = {}

    def observe(self, records: list[Record]) -> list[Event]:
        events: list[Event] = []
        ranks = self.ranks
        isfinite = math.isfinite
        for record in records:
            if type(record) is not StepRecord:
                continue
            state = ranks.get(record.rank)
            if state is None:
                state = ranks[record.rank] = _RankState()
            loss, grad = record.loss, record.grad_norm
            if (
                (loss is None or isfinite(loss))
                and (grad is None or isfinite(grad))
                and not record.nan_count
                and record.eval_loss is None
                and not (state.loss or state.grad or state.counter)
            ):
                if loss is not None:
                    state.last_finite_loss, state.last_finite_step = loss, record.step
                continue
            self._check(record, state, events)
        return events

    def _check(self, record: StepRecord, state: _RankState, events: list[Event]) -> None:
        loss_bad = record.loss is not None and not math.isfinite(record.loss)
        grad_bad = record.grad_norm is not None and not math.isfinite(record.grad_norm)
        step = "" if record.step is None else f" at step {record.step}"
        if loss_bad and not state.loss:
            before = ""
            if state.last_finite_loss is not None:
                before = f" (last finite loss {format_number(state.last_finite_loss)}"
                before += f" at step {state.last_finite_step})" if state.last_finite_step is not None else ")"
            subject = "loss and grad norm are" if grad_bad else "loss is"
            events.append(make_event(
                "LOSS-NAN", record, f"{subject} {format_number(record.loss)}{step}{before}",
                value=record.loss, baseline=state.last_finite_loss,
            ))
        elif grad_bad and not loss_bad and not state.grad and not record.skipped:
            events.append(make_event(
                "GRAD-NORM-NAN", record,
                f"grad norm is {format_number(record.grad_norm)}{step} with loss {format_number(record.loss)}",
                value=record.grad_norm,
            ))
        if record.nan_count and not state.counter:
            events.append(make_event(
                "NAN-ITERATIONS", record,
                f"{record.nan_count} iteration(s) with a NaN loss were skipped{step}",
                value=float(record.nan_count), baseline=0.0,
            ))
        eval_bad = record.eval_loss is not None and not math.isfinite(record.eval_loss)
        if eval_bad and not state.eval:
            events.append(make_event(
                "EVAL-LOSS-NAN", record, f"evaluation loss is {format_number(record.eval_loss)}{step}",
                value=record.eval_loss,
            ))
        state.loss = loss_bad or (state.loss and record.loss is None)
        state.grad = grad_bad or (state.grad and record.grad_norm is None)
        state.counter = bool(record.nan_count)
        if record.eval_loss is not None:
            state.eval = eval_bad
        if record.loss is not None and not loss_bad:
            state.last_finite_loss, state.last_finite_step = record.loss, record.step
