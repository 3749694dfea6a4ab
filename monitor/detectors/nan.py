"""Non-finite training numerics: a NaN or infinite loss, grad norm or eval loss,
or a framework's nan-iteration counter going up.

One event per episode: the first non-finite value opens it, the records
that follow while that series stays non-finite are counted into it
(`count`), and the first finite value ends it; so a run that keeps printing
`loss nan` yields one event, at the step where it started, with its extent
in `details` (see `monitor.detectors.base` for the fields, and for how the
batch and live paths emit an episode).

A non-finite loss episode is `LOSS-NAN` when the loss came back, and also
`NAN-DIVERGENCE` (kind nan, critical) when it did not, `INF-DIVERGENCE` (kind divergence) when
it began infinite (the loss blew up): still non-finite when
the log ends after `nan_divergence_records` records or more, or an infinite
loss up to the end (it exploded); both events carry the same episode. The live path announces `LOSS-NAN` at once
and updates it to `NAN-DIVERGENCE` after `nan_divergence_records` records.
While a loss episode is open, a NaN evaluation loss and the framework's
nan-iteration counter are the same episode: they are noted in its details
(`eval_loss_nan_step`, `nan_iterations`), not raised again. The evaluation
loss on its own follows the same rule (`EVAL-LOSS-NAN`, or `NAN-DIVERGENCE`), unless the training
loss stays finite through it: then the weights still train and the evaluation itself (its data, labels
or metric) produces the NaN, a warning.

A non-finite grad norm on a step the loss scaler skipped is an fp16 overflow,
not a NaN: the overflow detector reports it.

Deliberately not here: losses that are finite but absurd (spike and
divergence detection).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from monitor.columns import Columns
from monitor.detectors.base import Detector, Episode, format_number, make_event
from monitor.model import Event, Record, Severity, StepRecord
from monitor.settings import Settings


@dataclasses.dataclass
class _Open:
    """One open episode of one series, and what its event says."""

    episode: Episode
    value: float | None  # the first non-finite value
    baseline: float | None = None  # the last finite value before it
    baseline_step: int | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _RankState:
    loss: _Open | None = None
    grad: _Open | None = None
    counter: _Open | None = None
    eval: _Open | None = None
    last_finite_loss: float | None = None
    last_finite_step: int | None = None


class NanDetector(Detector):
    """Raises LOSS-NAN, NAN-DIVERGENCE, INF-DIVERGENCE, GRAD-NORM-NAN, NAN-ITERATIONS and EVAL-LOSS-NAN."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
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
                and state.loss is None and state.grad is None and state.counter is None and state.eval is None
            ):
                if loss is not None:
                    state.last_finite_loss, state.last_finite_step = loss, record.step
                continue
            self._check(record, state, events)
        return events

    def skim(self, batch: Columns) -> bool:
        """Nothing non-finite, no nan-iteration count, no evaluation and no episode open: only the
        last finite loss moves."""
        return self.skim_ranks(batch, self._screen)

    def _screen(self, batch: Columns) -> Callable[[], None] | None:
        state = self.ranks.get(batch.rank)
        if state is not None and (
            state.loss is not None or state.grad is not None or state.counter is not None or state.eval is not None
        ):
            return None
        loss, grad = batch.values("loss"), batch.values("grad_norm")
        has_loss, has_grad = batch.present("loss"), batch.present("grad_norm")
        counts = batch.values("nan_count")
        if (
            np.any(has_loss & ~np.isfinite(loss)) or np.any(has_grad & ~np.isfinite(grad))
            or np.any(batch.present("nan_count") & (counts != 0)) or np.any(batch.present("eval_loss"))
        ):
            return None
        found = np.flatnonzero(has_loss)
        last = batch.record(int(found[-1])) if len(found) else None

        def move() -> None:
            moved = self.ranks.get(batch.rank)
            if moved is None:
                moved = self.ranks[batch.rank] = _RankState()
            if last is not None:
                moved.last_finite_loss, moved.last_finite_step = last.loss, last.step

        return move

    def finish(self) -> list[Event]:
        events: list[Event] = []
        for state in self.ranks.values():
            for name in ("loss", "grad", "counter", "eval"):
                found = getattr(state, name)
                if found is None:
                    continue
                if name == "loss" and not self.live and self._diverged(found, None):
                    # the log ends with it: a non-finite loss, and one that never came back (one episode)
                    events.append(self._event(name, found, None, diverged=False))
                self.report(found.episode, self._event(name, found, None), events, final=True)
        return events

    def _check(self, record: StepRecord, state: _RankState, events: list[Event]) -> None:
        loss_bad = record.loss is not None and not math.isfinite(record.loss)
        grad_bad = record.grad_norm is not None and not math.isfinite(record.grad_norm)
        # the loss
        if loss_bad:
            if state.loss is None:
                found = state.loss = _Open(
                    Episode("nan-loss", record), record.loss, state.last_finite_loss, state.last_finite_step,
                )
                if grad_bad:
                    found.extra["grad_norm_nan"] = True
                self.report(found.episode, self._event("loss", found, None), events, final=False)
            else:
                found = state.loss
                found.episode.count += 1
                if found.episode.count == self.settings.nan_divergence_records:  # not back: the live path says so
                    self.report(found.episode, self._event("loss", found, None), events, final=False)
        elif record.loss is not None and state.loss is not None:  # finite again: the episode is over
            self.report(state.loss.episode, self._event("loss", state.loss, record), events, final=True, ended=True)
            state.loss = None
        # the grad norm, when the loss is fine
        if grad_bad and state.grad is not None:
            state.grad.episode.count += 1
        elif grad_bad and not loss_bad and state.loss is None and not record.skipped:
            state.grad = _Open(Episode("nan-grad-norm", record), record.grad_norm, record.loss)
            self.report(state.grad.episode, self._event("grad", state.grad, None), events, final=False)
        elif record.grad_norm is not None and not grad_bad and state.grad is not None:
            self.report(state.grad.episode, self._event("grad", state.grad, record), events, final=True, ended=True)
            state.grad = None
        # the nan-iteration counter: part of an open loss episode, else its own
        if record.nan_count:
            if state.loss is not None:
                extra = state.loss.extra
                extra["nan_iterations"] = extra.get("nan_iterations", 0) + record.nan_count
            elif state.counter is None:
                state.counter = _Open(Episode("nan-iterations", record), float(record.nan_count), 0.0)
                state.counter.extra["nan_iterations"] = record.nan_count
                self.report(state.counter.episode, self._event("counter", state.counter, None), events, final=False)
            else:
                state.counter.episode.count += 1
                state.counter.extra["nan_iterations"] += record.nan_count
        elif state.counter is not None:
            self.report(state.counter.episode, self._event("counter", state.counter, record), events,
                        final=True, ended=True)
            state.counter = None
        # the evaluation loss
        if record.eval_loss is not None:
            eval_bad = not math.isfinite(record.eval_loss)
            if eval_bad and state.loss is not None:
                state.loss.extra.setdefault("eval_loss_nan_step", record.step)
            elif eval_bad and state.eval is None:
                state.eval = _Open(Episode("nan-eval-loss", record), record.eval_loss)
                self.report(state.eval.episode, self._event("eval", state.eval, None), events, final=False)
            elif eval_bad and state.eval is not None:
                state.eval.episode.count += 1
            elif state.eval is not None:
                self.report(state.eval.episode, self._event("eval", state.eval, record), events,
                            final=True, ended=True)
                state.eval = None
        if record.loss is not None and not loss_bad:
            state.last_finite_loss, state.last_finite_step = record.loss, record.step
            if state.eval is not None:
                state.eval.extra["training_loss_finite"] = True

    def _diverged(self, found: _Open, end: StepRecord | None) -> bool:
        """Whether a loss episode did not come back: the live path's verdict once it lasted
        `nan_divergence_records` records; the batch path's when the log ended inside it after as many
        (or inside an infinite loss: it exploded). A loss never finite in the log did not diverge: it is
        a NaN (or Inf) from the start."""
        if end is not None or found.baseline is None:
            return False  # came back, or never finite in this log: nothing diverged from a finite course
        if found.episode.count >= self.settings.nan_divergence_records:
            return True
        return not self.live and found.value is not None and math.isinf(found.value)

    def _event(self, name: str, found: _Open, end: StepRecord | None, diverged: bool | None = None) -> Event:
        episode = found.episode
        start = episode.start
        step = "" if start.step is None else f" at step {start.step}"
        count = episode.count
        more = "" if end is None else "; finite again" + (
            f" at step {end.step}" if end.step is not None else f" at line {end.line}" if end.line else "")
        if end is not None and count > 1:
            more += f" after {count} records"
        details = episode.details(end, **found.extra)
        details["peak"] = {"step": start.step, "value": found.value}
        fields: dict[str, Any] = {"count": count if count > 1 else None, "details": details}
        if name == "loss":
            series = "loss"
            if self._diverged(found, end) if diverged is None else diverged:
                until = "up to the end of the log" if end is None and not self.live else "and has not come back"
                exploded = found.value is not None and math.isinf(found.value)  # infinite: it blew up
                return make_event(
                    "INF-DIVERGENCE" if exploded else "NAN-DIVERGENCE", start,
                    f"the {series} has been {'infinite' if exploded else 'non-finite'}"
                    f"{'' if start.step is None else f' since step {start.step}'} {until} ({count} record(s))",
                    value=found.value, baseline=found.baseline, **fields,
                )
            before = ""
            if found.baseline is not None:
                before = f" (last finite loss {format_number(found.baseline)}"
                before += f" at step {found.baseline_step})" if found.baseline_step is not None else ")"
            subject = "loss and grad norm are" if found.extra.get("grad_norm_nan") else "loss is"
            return make_event(
                "LOSS-NAN", start, f"{subject} {format_number(found.value)}{step}{before}{more}",
                value=found.value, baseline=found.baseline, **fields,
            )
        if name == "grad":
            return make_event(
                "GRAD-NORM-NAN", start,
                f"grad norm is {format_number(found.value)}{step} with loss {format_number(found.baseline)}{more}",
                value=found.value, **fields,
            )
        if name == "counter":
            total = found.extra["nan_iterations"]
            return make_event(
                "NAN-ITERATIONS", start,
                f"{total} iteration(s) with a NaN loss were skipped{step}"
                + ("" if end is None else f"; none from step {end.step}"),
                value=float(total), baseline=0.0, **fields,
            )
        if found.extra.get("training_loss_finite"):
            return make_event(  # the weights train on: the evaluation (its data, labels or metric) fails
                "EVAL-LOSS-NAN", start,
                f"evaluation loss is {format_number(found.value)}{step}{more} while the training loss stays finite",
                value=found.value, severity=Severity.WARNING, **fields,
            )
        if end is None and not self.live and count >= self.settings.nan_divergence_records:
            return make_event(
                "NAN-DIVERGENCE", start,
                f"the evaluation loss has been non-finite{'' if start.step is None else f' since step {start.step}'}"
                f" up to the end of the log "
                f"({count} evaluations)",
                value=found.value, **fields,
            )
        return make_event(
            "EVAL-LOSS-NAN", start, f"evaluation loss is {format_number(found.value)}{step}{more}",
            value=found.value, **fields,
        )
