"""Stalls after the fact: progress stopped for far longer than the run's usual interval.

- **Stall**: a gap between consecutive timestamped progress lines longer than
  `stall_factor` times the usual interval (the median of recent gaps, or the
  printed step time times the steps per line) and than `stall_min_s`. A gap
  holding an evaluation is allowed for; one
  holding a checkpoint save (a line announcing it) is allowed for too, and so
  is the time the steps made in the gap account for: a line many usual lines'
  worth of steps on (an excerpt cut, logging made sparser) is lines missing,
  not progress stopped. The event is placed where progress resumed and gives
  the gap.
- **Stall inside one interval**: a line with no clock to measure its gap by
  whose printed step time is `stall_factor` times the usual one (the median
  of recent printed step times) and makes `stall_min_s` more than usual over
  the steps the line moved on (Megatron-LM's interval mean, `elapsed time per
  iteration (ms): 1803412.5` after 1200 ms, in a log without timestamps),
  between steps of the usual time: progress stopped within that interval. An
  evaluation or checkpoint save before it, and a restart, excuse it as they
  excuse a gap; a run of such steps is the slowdown detector's, and one the
  log ends on is not known to be over.
- **Unfinished run**: the log ends with the last step below the planned total
  (Megatron's `iteration N/ M`, a progress bar's total) while timestamped
  non-progress lines (heartbeats, warnings, chatter) kept coming for as long:
  the run hung and nobody stopped it, or it was stopped while hung. The usual
  interval comes from the timestamps or, without them, from the printed step
  time.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from monitor.columns import Columns
from monitor.detectors.base import Detector, format_duration, make_event
from monitor.detectors.robust import Baseline
from monitor.model import Event, Heartbeat, Pause, Record, StepRecord
from monitor.settings import Settings

_TIMES_NEEDED = 3
"""Printed step times seen before one is judged against them."""


class StallDetector(Detector):
    """Gaps in progress, and a run that ended hung."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.gaps = Baseline(self.settings.slow_window, gate_ratio=1.0)
        self.times = Baseline(self.settings.slow_window, gate_ratio=1.0)  # printed step times, judged without a clock
        self.held: Event | None = None  # a stall inside one interval, reported once the next step is back to usual
        self.long_before = False  # the last printed step time was itself far above the usual one
        self.last: StepRecord | None = None  # the last training progress record
        self.last_epoch: float | None = None  # when progress was last seen
        self.eval_since = False
        self.step_time: float | None = None
        self.steps_per_line = 1  # training steps between consecutive progress lines
        self.total: int | None = None
        self.ended = False  # a planned exit came after the last progress line
        self.first_after: Heartbeat | None = None
        self.last_after: Heartbeat | None = None

    def _usual(self, made: int | None = None) -> float | None:
        """The usual time between progress lines, in seconds: before enough gaps were seen, the step
        time times the steps a line moves on (`made`, this line's, where known)."""
        if len(self.gaps.values) >= 3:
            return self.gaps.median
        if self.step_time is not None and self.last is not None:
            return self.step_time * (made or self.steps_per_line)
        return None

    def _threshold(self, usual: float | None) -> float | None:
        """How long a gap must be to be a stall, given the usual interval."""
        return None if usual is None else max(self.settings.stall_factor * usual, self.settings.stall_min_s)

    def observe(self, records: list[Record]) -> list[Event]:
        events: list[Event] = []
        for record in records:
            kind = type(record)
            if kind is Heartbeat:
                if self.last is not None:
                    self.first_after = self.first_after or record  # type: ignore[assignment]
                    self.last_after = record  # type: ignore[assignment]
                continue
            if kind is Pause:
                self.eval_since = True  # a checkpoint save explains the next gap
                self.ended = self.ended or record.end  # type: ignore[union-attr]
                continue
            if kind is not StepRecord:
                continue
            if record.is_eval:  # type: ignore[union-attr]
                self.eval_since = True
                continue
            self._progress(record, events)  # type: ignore[arg-type]
        return events

    def skim(self, batch: Columns) -> bool:
        """No gap between progress lines longer than `stall_min_s` (so none over the threshold), no
        step going back, no evaluation or checkpoint save, heartbeats only after the last record:
        the usual interval's baseline, the last step and the clock move."""
        if Pause in batch.kinds or self.eval_since or self.held is not None or not batch.exact_steps():
            return False
        beats: list[Heartbeat] | None = batch.trailing(Heartbeat)  # type: ignore[assignment]
        if beats is None:
            return False
        if np.any(batch.present("eval_loss") & ~batch.present("loss")):
            return False
        step, has_step = batch.values("step"), batch.present("step")
        before = self.last.step if self.last is not None else None
        previous = np.concatenate(([math.nan if before is None else before], step[:-1]))
        has_previous = np.concatenate(([before is not None], has_step[:-1]))
        both = has_step & has_previous
        kept = ~(both & (step == previous))  # another line about the same step is no progress
        if np.any(kept & both & (step < previous)):
            return False  # a restart: its gap is judged in `observe`
        epoch = batch.values("epoch")
        before = np.concatenate(([math.nan if self.last is None or self.last.epoch is None else self.last.epoch],
                                 epoch[:-1]))
        if np.any(both & (step == previous) & (epoch > before)):
            return False  # a new epoch at the same step: `observe` follows it
        epoch_s, has_epoch = batch.values("epoch_s"), batch.present("epoch_s")
        timed = np.flatnonzero(kept & has_epoch)
        clock = epoch_s[timed]
        if self.last_epoch is not None:
            clock = np.concatenate(([self.last_epoch], clock))
            timed = np.concatenate(([-1], timed))
        gaps = np.diff(clock)
        if np.any(gaps > self.settings.stall_min_s):
            return False
        step_time = batch.values("step_time_s")
        timings = np.flatnonzero(kept & np.isfinite(step_time) & (step_time > 0))
        printed = step_time[timings]
        if len(printed) and (len(self.times.values) + len(printed) >= _TIMES_NEEDED) and np.any(
            printed >= self.settings.stall_factor * min(float(printed.min()), min(self.times.values, default=math.inf))
        ):
            return False  # a step time that may stand far above the usual: `observe` judges it
        # the batch is quiet: the state `observe` would leave
        totals = np.flatnonzero(batch.present("total_steps"))
        if len(totals):
            self.total = batch.record(int(totals[-1])).total_steps
        if len(timings):
            self.step_time = batch.record(int(timings[-1])).step_time_s
            numbers = batch.lines()
            self.times.extend(printed.tolist(), [numbers[int(i)] for i in timings])
            self.long_before = False
        forward = np.flatnonzero(kept & both & (step > previous))
        if len(forward):
            i = int(forward[-1])
            self.steps_per_line = int(step[i] - previous[i])
        added = gaps > 0
        numbers = batch.lines()
        self.gaps.extend(gaps[added].tolist(), [numbers[int(i)] for i in timed[1:][added]])
        if len(timed) and timed[-1] >= 0:
            self.last_epoch = batch.record(int(timed[-1])).epoch_s
        moved = np.flatnonzero(kept)
        if len(moved):
            self.last = batch.record(int(moved[-1]))
            self.eval_since = False
            self.first_after = self.last_after = None
            self.ended = False
        self._beats(beats)
        return True

    def _beats(self, beats: list[Heartbeat]) -> None:
        """Heartbeats after the last progress record: the log was still being written."""
        if self.last is not None:
            for beat in beats:
                self.first_after = self.first_after or beat
                self.last_after = beat

    def _progress(self, record: StepRecord, events: list[Event]) -> None:
        if record.total_steps is not None:
            self.total = record.total_steps
        printed = record.step_time_s
        if printed is not None and not (math.isfinite(printed) and printed > 0):
            printed = None
        if printed is not None:
            self.step_time = printed
        previous_step = self.last.step if self.last is not None else None
        restarted = False
        moved = record.step is not None and previous_step is not None and record.step > previous_step
        usual = self._usual(record.step - previous_step if moved else None)  # type: ignore[operator]
        lines_made = 1.0  # how many usual progress lines' worth of steps this line moved on
        if record.step is not None and previous_step is not None:
            last = self.last
            assert last is not None
            new_epoch = record.epoch is not None and last.epoch is not None and record.epoch > last.epoch
            # the gap is a restart's, reported as one; or a new epoch's, whose count starts over: how many
            # steps it made is unknown
            restarted = record.step < previous_step or (new_epoch and record.step <= previous_step)
            if record.step == previous_step and not new_epoch:
                return  # another line about the same step (DeepSpeed prints two, ranks each one): no progress
            if record.step > previous_step:
                if len(self.gaps.values) >= 3:  # the usual gap is a line's: the steps it made are a number of lines
                    lines_made = (record.step - previous_step) / self.steps_per_line
                self.steps_per_line = record.step - previous_step
        epoch = record.epoch_s
        if epoch is not None and self.last_epoch is not None:
            gap = epoch - self.last_epoch
            threshold = self._threshold(usual)
            # a gap the steps made in it account for is lines missing (an excerpt, a sparser log), not a stall
            unexplained = gap - (lines_made - 1) * usual if usual is not None and lines_made > 1 else gap
            if threshold is not None and unexplained > threshold and not self.eval_since and not restarted:
                previous = self.last
                events.append(make_event(
                    "STALL", record,
                    f"no progress for {format_duration(gap)} after step {previous.step if previous else '?'} "
                    f"(usually {format_duration(usual or 0)} between progress lines); it resumed at step {record.step}",
                    value=gap, baseline=usual, step=previous.step if previous else record.step,
                    details={"resumed_step": record.step},
                ))
            elif gap > 0:
                self.gaps.add(gap, record.line)
        if printed is not None:
            long = self._long(record, printed, previous_step)
            if self.held is not None:
                if long is None:
                    events.append(self.held)  # the step after it is back to usual: one stall, not a slow spell
                self.held = None
            if long is None:
                self.times.add(printed, record.line)
            elif not (self.long_before or self.eval_since or restarted) and (epoch is None or self.last_epoch is None):
                self.held = self._long_event(record, printed, *long, previous_step)  # no clock measured the gap
            self.long_before = long is not None
        if epoch is not None:
            self.last_epoch = epoch
        self.last = record
        self.eval_since = False
        self.first_after = self.last_after = None
        self.ended = False

    def _long(self, record: StepRecord, printed: float, previous_step: int | None) -> tuple[float, float] | None:
        """The usual step time and the seconds lost when `printed` is so far above it that progress stopped
        inside the line's interval (see the module's docstring), else None."""
        if len(self.times.values) < _TIMES_NEEDED or printed < self.settings.stall_factor * min(self.times.values):
            return None
        usual = statistics.median(self.times.values)
        made = record.step - previous_step if record.step is not None and previous_step is not None else 1
        lost = (printed - usual) * max(made, 1)
        if printed < self.settings.stall_factor * usual or lost < self.settings.stall_min_s:
            return None
        return usual, lost

    @staticmethod
    def _long_event(record: StepRecord, printed: float, usual: float, lost: float, previous_step: int | None) -> Event:
        return make_event(
            "STALL", record,
            f"a step took {format_duration(printed)} where steps usually take {format_duration(usual)}: progress "
            f"stopped for about {format_duration(lost)} before step {record.step}",
            value=lost, baseline=usual, step=previous_step if previous_step is not None else record.step,
            details={"resumed_step": record.step, "reason": "printed-step-time", "step_time_s": printed},
        )

    def finish(self) -> list[Event]:
        last, beat = self.last, self.last_after
        if last is None or beat is None or self.total is None or last.step is None or last.step >= self.total:
            return []
        if self.ended:
            return []  # it said it was stopping on purpose
        # a clock read from an elapsed time (the record prints no time of day) counts from the run's or
        # bar's start: the log's stamped lines cannot be measured against it
        timed = self.last_epoch is not None and last.time is not None
        since = self.last_epoch if timed else (self.first_after.epoch_s if self.first_after is not None else None)
        threshold = self._threshold(self._usual())
        if since is None or threshold is None:
            return []
        quiet = beat.epoch_s - since
        if quiet <= threshold:
            return []
        fields: dict[str, Any] = {
            "value": quiet, "baseline": self._usual(), "step": last.step, "rank": last.rank,
            "details": {"total_steps": self.total, "last_progress_line": last.line},
        }
        if not timed:
            fields["details"]["at_least"] = True
        return [make_event(
            "UNFINISHED-RUN", beat,  # type: ignore[arg-type]
            f"the run stopped making progress at step {last.step} of {self.total}: "
            f"{'' if timed else 'at least '}{format_duration(quiet)} of log without a training step "
            "follows, up to its end",
            **fields,
        )]
