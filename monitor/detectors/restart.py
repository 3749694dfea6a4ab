"""Restarts: the step counter of a rank goes back, so the run resumed from an
earlier checkpoint and recomputes the steps in between.

Steps are compared within an epoch when both records carry one (see
`went_back`): a new epoch restarting its step count is not a restart, and
neither is a count that starts again after reaching its total, or after coming within one
logging interval of it (`position_of`).
Evaluation records are not training steps and are ignored, and so is a count that goes back to its
first step while counting to another total than before: a new stage of work in the same log (DINO's
linear evaluation after its pretraining), not the same run resumed.

Deliberately not here: restarts that only a launcher message reveals
(torchrun "Restarting workers", Slurm requeue): those are log lines, matched
by the fault catalog.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from monitor.columns import Columns, went_back_from
from monitor.detectors.base import Detector, Position, make_event, position_of, went_back
from monitor.model import Event, Record, StepRecord


class RestartDetector(Detector):
    """Raises STEP-RESTART."""

    def __init__(self) -> None:
        self.last: dict[int | None, Position] = {}  # rank → (epoch, step) of its latest training record
        self.totals: dict[int | None, int] = {}  # rank → the last total its training records counted to

    def observe(self, records: list[Record]) -> list[Event]:
        events: list[Event] = []
        last = self.last
        for record in records:
            if type(record) is not StepRecord:
                continue
            step = record.step
            if step is None or (record.loss is None and record.eval_loss is not None):
                continue
            rank, total = record.rank, record.total_steps
            previous = last.get(rank)
            last[rank] = position_of(record.epoch, step, total, previous)
            if (
                previous is not None
                and (step < previous[1] or record.epoch != previous[0])
                and went_back(previous, record.epoch, step)
                and not (step <= 1 and total is not None and self.totals.get(rank, total) != total)
            ):
                events.append(self._event(record, previous))  # type: ignore[arg-type]
            if total is not None:
                self.totals[rank] = total
        return events

    def skim(self, batch: Columns) -> bool:
        """No training step of the batch went back: only each rank's position moves."""
        return bool(batch.exact_steps()) and self.skim_ranks(batch, self._screen)

    def _screen(self, batch: Columns) -> Callable[[], None] | None:
        training = batch.present("step") & ~(~batch.present("loss") & batch.present("eval_loss"))
        index = np.flatnonzero(training)
        if not len(index):
            return lambda: None
        back, end = went_back_from(batch, index, self.last.get(batch.rank))
        if np.any(back):
            return None
        counted = index[batch.present("total_steps")[index]]
        total = int(batch.values("total_steps")[counted[-1]]) if len(counted) else None

        def move() -> None:
            self.last[batch.rank] = end
            if total is not None:
                self.totals[batch.rank] = total

        return move

    @staticmethod
    def _event(record: StepRecord, previous: Position) -> Event:
        step, epoch = record.step, record.epoch
        assert step is not None
        last_epoch, last_step = previous
        if epoch is not None and last_epoch is not None and epoch != last_epoch:
            message = (f"training went back from epoch {last_epoch:g} step {last_step} "
                       f"to epoch {epoch:g} step {step}: the run resumed from an earlier checkpoint")
        else:
            message = (f"step went back from {last_step} to {step}: the run resumed from an earlier "
                       f"checkpoint and computes steps {step}–{last_step} again ({last_step - step + 1} step(s))")
        return make_event("STEP-RESTART", record, message, value=float(step), baseline=float(last_step))
