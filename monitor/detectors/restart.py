"""Restarts: the step counter of a rank goes back, so the run resumed from an
earlier checkpoint and recomputes the steps in between.

Steps are compared within an epoch when both records carry one (see
`went_back`): a new epoch restarting its step count is not a restart, and
neither is a count that starts again after reaching its total, or after coming within one
logging interval of it (`position_of`).
A count that went on when the epoch changed counts the whole run: from then on the epoch is no part
of the position (MiniLLM's PPO lines print `ppo epoch: 3/ 4` beside `global iter: 15/ 5000`; the
PPO epoch cycles while the global count goes on); a log that prints per epoch, its step the epoch's own
number, says nothing of how its finer count goes on (MLPerf RNN-T's `epoch 22 | avg train utts/s ...`
summaries, then `epoch 23 | iter 18/181 | ...`); nor does the summary of the epoch just before the one
a finer count names (GluonTS's bar numbers its epoch from 1, `epoch=2/100`, and the trainer's
`Epoch[1] ...` lines after it from 0: no step back). Evaluation records are not
training steps and are ignored; once a rank printed a training loss beside its step, its lines
without one are too (DeepSpeed-Chat's script counts steps from 0, DeepSpeed's own
`step=N, skipped=M` lines from 1: another printer's count). So is a count that goes back to its
first step while counting to another total than before: a new stage of work in the same log (DINO's
linear evaluation after its pretraining), not the same run resumed. Nor is a count that starts again
from its beginning (no further than one of its strides) in the log's own rhythm (no more than twice
the time between the two progress lines before it): a counter that wraps, as DL4J's per-fit iteration
count does (`Score at iteration 80 ...`, then `iteration 0`, seconds later), where a run that resumed
took the time to start again.

Deliberately not here: restarts that only a launcher message reveals
(torchrun "Restarting workers", Slurm requeue): those are log lines, matched
by the fault catalog.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from monitor.columns import Columns, went_back_from
from monitor.detectors.base import Detector, Position, make_event, position_of, went_back
from monitor.model import Event, Record, StepRecord


class RestartDetector(Detector):
    """Raises STEP-RESTART."""

    def __init__(self) -> None:
        self.last: dict[int | None, Position] = {}  # rank → (epoch, step) of its latest training record
        self.totals: dict[int | None, int] = {}  # rank → the last total its training records counted to
        self.losses: set[int | None] = set()  # ranks that printed a training loss with a step
        self.global_steps: set[int | None] = set()  # ranks whose step went on when their epoch changed
        self.rhythm: dict[int | None, tuple[float | None, float | None, int | None]] = {}
        """rank → (time of its latest timed record, the time between its last two, its latest step stride)"""

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
            if record.loss is not None:
                self.losses.add(rank)
            elif rank in self.losses:
                continue  # the rank's loss lines carry its count: another printer's may count otherwise
            previous = last.get(rank)
            if (
                previous is not None and step == record.epoch and previous[1] != previous[0]
                and previous[0] is not None and previous[0] - step == 1
            ):
                continue  # the summary of the epoch a finer count numbered from 1 (GluonTS): not its position
            last[rank] = position_of(record.epoch, step, total, previous)
            at, gap, stride = self.rhythm.get(rank, (None, None, None))
            now = record.epoch_s
            next_epoch = previous is not None and None not in (record.epoch, previous[0]) and record.epoch > previous[0]
            if (
                next_epoch and rank not in self.global_steps and step > previous[1] >= 0  # type: ignore[index]
                and not (step == record.epoch and previous[1] == previous[0])  # type: ignore[index]
            ):  # a count of the whole run (not the epoch's own number read as the step): the epoch is no
                self.global_steps.add(rank)  # part of the position
            if (
                previous is not None
                and (step < previous[1] or record.epoch != previous[0])
                and (step < previous[1] if rank in self.global_steps else went_back(previous, record.epoch, step))
                and not (step <= 1 and total is not None and self.totals.get(rank, total) != total)
                and not (  # a count that wrapped, in the log's rhythm
                    stride is not None and step <= stride and now is not None and at is not None and gap
                    and 0 <= now - at <= 2 * gap
                )
            ):
                events.append(self._event(record, previous))  # type: ignore[arg-type]
            if previous is not None and step > previous[1] >= 0:
                stride = step - previous[1]
            if now is not None:
                at, gap = now, (now - at if at is not None else gap)
            self.rhythm[rank] = (at, gap, stride)
            if total is not None:
                self.totals[rank] = total
        return events

    def skim(self, batch: Columns) -> bool:
        """No training step of the batch went back: only each rank's position moves."""
        return bool(batch.exact_steps()) and self.skim_ranks(batch, self._screen)

    def _screen(self, batch: Columns) -> Callable[[], None] | None:
        training = batch.present("step") & ~(~batch.present("loss") & batch.present("eval_loss"))
        has_loss = batch.present("loss") & training  # a training loss beside a step
        rank = batch.rank
        if rank in self.losses:
            training &= has_loss
        elif np.any(has_loss):  # from its first loss on, only lines with one
            training &= has_loss | (np.arange(len(has_loss)) < int(np.argmax(has_loss)))
        index = np.flatnonzero(training)
        if not len(index):
            return lambda: None
        position = self.last.get(rank)
        epochs = batch.values("epoch")[index]
        before = np.concatenate(([math.nan if position is None or position[0] is None else position[0]], epochs[:-1]))
        if np.any((epochs != before) & np.isfinite(epochs) & np.isfinite(before)):
            return None  # an epoch changed: `observe` decides what its count is
        back, end = went_back_from(batch, index, position)
        if np.any(back):
            return None
        counted = index[batch.present("total_steps")[index]]
        total = int(batch.values("total_steps")[counted[-1]]) if len(counted) else None
        rhythm = self._rhythm_after(batch, index, self.rhythm.get(rank, (None, None, None)), position)

        def move() -> None:
            self.last[batch.rank] = end
            self.rhythm[batch.rank] = rhythm
            if np.any(has_loss[index]):
                self.losses.add(rank)
            if total is not None:
                self.totals[batch.rank] = total

        return move

    @staticmethod
    def _rhythm_after(
        batch: Columns, index: np.ndarray[Any, Any], rhythm: tuple[float | None, float | None, int | None],
        position: Position | None,
    ) -> tuple[float | None, float | None, int | None]:
        """The rhythm `observe` leaves after the step records at `index`, none of which went back."""
        at, gap, stride = rhythm
        steps = batch.values("step")[index]
        before = np.concatenate(([math.nan if position is None else position[1]], steps[:-1]))
        forward = np.flatnonzero((steps > before) & (before >= 0))
        if len(forward):
            i = int(forward[-1])
            stride = int(steps[i] - before[i])
        timed = index[batch.present("epoch_s")[index]]
        if len(timed):
            clock = batch.values("epoch_s")[timed]
            earlier = float(clock[-2]) if len(clock) >= 2 else at
            if earlier is not None:
                gap = float(clock[-1]) - earlier
            at = float(clock[-1])
        return at, gap, stride

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
