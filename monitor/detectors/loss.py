"""Loss spikes, divergence, loss collapse and grad-norm spikes, per rank, in one pass.

The loss is watched in log space against a rolling robust baseline (the
median of the last `spike_window` records, with the run's own noise from
the median difference between consecutive records), so the same rule works
for a loss of 10 or of 0.01, logged every step or every hundred.

- **Spike**: log-loss rises above the baseline by more than `spike_z` noise
  deviations and by at least `spike_min_ratio` (with too little history for
  a noise estimate, by `spike_short_ratio`, and, where other ranks of the
  source print their own losses, above what the ranks print together). The
  episode starts there (or on the record before, when that one had already
  risen `recover_ratio` above the baseline and above every value it holds:
  an interval mean, as Megatron-LM prints, shows a jump late in its interval
  only in part) and ends when the loss is back within `recover_ratio` of the
  baseline, or within `_RECOVER_Z` of its noise deviations where that is
  more. One event per episode (see
  `monitor.detectors.base` for batch and live emission), naming its start,
  peak, magnitude and how many steps recovery took.
- **Divergence**: a spike episode that has not come back: still open at the
  end of the log and still `spike_min_ratio` above its baseline (one that
  lasted fewer than `divergence_records` records is too short to tell from a
  spike the log cut off: it is reported both ways, as one episode; over a
  baseline of fewer than `noise_records` values and under 3x it, only as the
  spike, unless it held for three records without falling back half the
  way; one after which the loss turned non-finite and stayed so, only as
  the divergence). The live
  path calls it a divergence once it has lasted `divergence_records` records;
  the batch path, which sees how it ended, reports one that came back as the
  loss spike it was (with how many records it lasted);
  a loss that climbs `climb_ratio` above its best recent baseline (one
  episode, however many climbs follow, until the loss is back under
  `climb_ratio` times the baseline it climbed from; one that came back is a
  loss spike, `reason` climb); a negative loss that came back from a numeric
  blow-up only to stay far above its old level (`reason` after-blow-up); a
  log that ends in a grad-norm blow-up (the last `blowup_records`
  records or more all at `grad_spike_min_ratio` times the grad norm's floor
  or above) during which the loss rose `climb_ratio` above its own floor and
  is still `spike_min_ratio` above it (the floors: the lowest median of three
  consecutive records before the blow-up), since a noisy loss that creeps up
  while the gradients explode never passes the spike test (its noise estimate
  grows with it); a loss stuck at exactly 0.0 for `collapse_records` records
  (`LOSS-COLLAPSE`, a broken run that looks perfect; one event per run of
  zeros), unless a positive grad norm shows the gradients still flow (TRL's
  GRPO loss is 0.0 by construction with one update per generation) or a
  non-finite one shows the step was skipped (the NaN detector reports that). A loss
  that turns non-finite and stays so (`NAN-DIVERGENCE`) is the NaN
  detector's: one episode of non-finite values is one event there.
- **Grad-norm spike**: the same rule on the gradient norm, stricter, one
  event per episode; a loss spike that follows names it (it is often the
  early warning).

The learning-rate warm-up (while the printed learning rate rises by at least
`_WARMUP_RISE` a step, and the first `warmup_steps` steps) is never checked
for jumps under `warmup_spike_ratio`: the loss falls steeply there. A record
three times the one before is a jump even while the loss climbs.
Values inside a spike are kept out of the baseline.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from monitor.columns import Columns
from monitor.detectors.base import Detector, Episode, format_number, make_event, starts_over
from monitor.detectors.robust import Baseline, noise_of, spread_of, threshold_of
from monitor.model import Event, Record, StepRecord
from monitor.settings import Settings

_GRAD_LINK_STEPS = 50
"""A grad-norm spike this many steps or fewer before a loss spike is its early warning."""


_CLIMB_Z = 3.0
"""Robust deviations of the loss's noise a climb must rise above its best baseline (besides
`climb_ratio`): a climb is a trend over several records, so less than a one-record spike needs."""
_TWICE = math.log(2.0)  # in log units
_THIN_DIVERGENCE = math.log(3.0)
"""A short episode at the end of the log over a baseline of fewer than `noise_records` values is a
divergence only this far above it (in log units): with no noise estimate a jump under 3x may be one
noisy mini-batch (WeNet prints each rank's own batch loss)."""
_HELD = 3
"""...unless it held for this many records: no single mini-batch is that (BigScience's 104B run jumped
from 2.67 to 4.4 after an optimizer reset, two records into an excerpt, and stayed there)."""

_HALF_BACK = 0.5
"""...and never fell back more than this share of the way from its peak to the old level."""

_CLIMB_JUMP = math.log(3.0)
"""A record this far above the one before it (in log units) is a jump even while the loss climbs: a climb
rises over several records (HiFi-GAN's generator loss climbing 94, 141, 196, then 64922832 for one step)."""

_RECOVER_Z = 3.0
"""A spike is back once the loss is within this many of its own noise deviations of the level it
left (or `recover_ratio`, the larger): a loss whose windows vary by half (spaCy's summed tok2vec loss,
203 to 399) is back at 418 after 8721, not still diverged."""


@dataclasses.dataclass
class _Spike:
    start: StepRecord
    level: float  # baseline log-loss when it began
    peak: float  # log-loss
    peak_step: int | None
    records: int = 1
    last: float = 0.0
    peak_loss: float = 0.0  # as printed
    episode: Episode | None = None
    after_peak: int = 0  # records since the peak
    back: float = 0.0  # how near its level (in log) the loss is back: `recover_ratio`, or its own noise
    dip: float = 0.0  # the furthest the loss fell back from its running peak, as a share of that peak's rise


@dataclasses.dataclass
class _Climb:
    """An open climb episode: the loss stood `climb_ratio` above `best` (frozen when it crossed)."""

    episode: Episode
    best: float
    rising_since: int | None
    last: float = 0.0


@dataclasses.dataclass
class _Run:
    """A run of records with one property (zero loss, non-finite loss, a climb)."""

    start: StepRecord
    records: int = 1
    reported: bool = False


_TAIL = 40
"""Training records kept for the end-of-log grad-norm blow-up check (the blow-up and the records
before it that give the floors)."""

_DIP = 0.98
_LR_RISE = 1 + 1e-9
_WARMUP_RISE = 5e-5
"""A warm-up raises the learning rate by at least this share per step (a linear one over W steps by 1/W or
more): one that creeps up slower is a schedule's long rise (a one-cycle or cyclic schedule, as BEVFusion's
cyclic learning rate in mmdetection3d rises over 40% of training), which excuses no loss jump."""
_QUICK = 0.5
"""A value closer to the (slightly stale) cached level than this share of the minimum spike ratio
cannot be a spike: only the others pay for an exact median and noise estimate."""


_BLOWUP = 1000.0
"""A loss that went negative has blown up at this many times the magnitude of its recent values."""
_BLOWUP_BACK = 10.0
"""...and is back once within this many times of it again."""
_BLOWUP_HELD = 2
"""Negative values needed before a blow-up is judged."""


@dataclasses.dataclass
class _Rank:
    loss: Baseline
    grad: Baseline
    levels: collections.deque[float]  # recent baseline medians, for the climb check
    best: float = math.inf  # the lowest of them
    last_lr: float | None = None
    spike: _Spike | None = None
    diverged: bool = False
    climb_start: StepRecord | None = None  # the first of the records rising one after another
    climb_last: float = 0.0
    climb_rises: int = 0
    climb_crossed: StepRecord | None = None  # where it first stood `climb_ratio` above the best baseline
    climb_reported: bool = False
    climb: _Climb | None = None  # an open climb episode (reported or not yet)
    zeros: _Run | None = None
    rounded: bool = False  # the series printed a -0.0: its zeros are tiny values rounded, not a collapse
    collapse: Episode | None = None  # an open LOSS-COLLAPSE episode
    nans: _Run | None = None
    grad_open: bool = False
    grad_episode: Episode | None = None
    grad_base: float = 0.0  # the grad norm's baseline when its episode began
    grad_spike_step: int | None = None
    previous: StepRecord | None = None  # the rank's last training record
    negative: collections.deque[float] | None = None  # magnitudes of a loss that went negative
    blowup: Episode | None = None  # an open blow-up of such a loss
    blowup_level: float = 0.0  # the magnitude it blew up from
    aftermath: _Run | None = None  # the records since such a blow-up came back, all still far worse than before it
    aftermath_rise: float = 0.0  # how far above its level before the blow-up is far worse (0: not watching)
    series: str = "loss"  # what is watched: the training loss, or the evaluation loss
    noise_records: int = 0  # values needed before their own noise is used (0: the setting)
    tail: collections.deque[StepRecord] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=_TAIL)
    )  # the last training records, for the end-of-log grad-norm blow-up check


def _after_refreshes(first: float, refreshed: tuple[list[int], list[float]], n: int,
                     each: list[float]) -> np.ndarray[Any, Any]:
    """For each of `n` values added in turn, what holds when it meets the state: `first` before
    any refresh, else `each[k]` after the k-th refresh (a refresh takes effect after its value)."""
    if not refreshed[0]:
        return np.full(n, first)
    table = np.asarray([first, *each], dtype=np.float64)
    return table[np.searchsorted(np.asarray(refreshed[0]) + 1, np.arange(n), side="right")]


def _gates(baseline: Baseline, refreshed: tuple[list[int], list[float]], n: int) -> np.ndarray[Any, Any]:
    """The gate each of `n` values added in turn meets (the one before its own refresh)."""
    return _after_refreshes(baseline.gate, refreshed, n, [m * baseline.gate_ratio for m in refreshed[1]])


def _best_before(state: _Rank, refreshed: tuple[list[int], list[float]], n: int, size: int) -> np.ndarray[Any, Any]:
    """The best baseline (lowest of the last `size` medians) each of `n` loss values added in turn meets."""
    levels = collections.deque(state.levels, maxlen=size)
    bests = []
    for median in refreshed[1]:
        levels.append(median)
        bests.append(min(levels))
    return _after_refreshes(state.best, refreshed, n, bests)


def _printed_twice(previous: StepRecord | None, batch: Columns, losses: np.ndarray[Any, Any]) -> bool:
    """Whether a record of the batch repeats the step and loss of the one before it (all print a loss)."""
    steps = batch.values("step")
    first = [math.nan, math.nan] if previous is None or previous.step is None else [previous.step, previous.loss]
    before_steps = np.concatenate(([first[0]], steps[:-1]))
    before_losses = np.concatenate(([first[1]], losses[:-1]))
    return bool(np.any((steps == before_steps) & (losses == before_losses)))


def _new_high(held: collections.deque[float], value: float) -> bool:
    """Whether `value`, the last the baseline took, stands above every other value it holds: only then
    is it the first part of a jump (an interval mean that caught its start), not the loss's own noise
    (spaCy's tok2vec loss at 290 after 325 and 399, then 8721)."""
    others = list(held)
    if others and others[-1] == value:
        others.pop()
    return not others or value > max(others)


def _place(record: StepRecord) -> str:
    """Where a record stands, for a message: its step, or its line when it prints no step."""
    return f"line {record.line}" if record.step is None else f"step {record.step}"


def _starts_over_in(previous: StepRecord | None, batch: Columns) -> bool:
    """Whether a record of the batch `starts_over` after the one before it (the first after
    `previous`), read off the columns."""
    def column(field: str, first: float | None) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        values = np.concatenate(([math.nan if first is None else first], batch.values(field)))
        return values, np.concatenate(([first is not None], batch.present(field)))

    steps, has_step = column("step", None if previous is None else previous.step)
    epochs, has_epoch = column("epoch", None if previous is None else previous.epoch)
    totals, has_total = column("total_steps", None if previous is None else previous.total_steps)
    before = has_step[:-1] & has_step[1:] & (steps[1:] <= 1) & (steps[:-1] > steps[1:])
    back = has_epoch[:-1] & has_epoch[1:] & (epochs[1:] < epochs[:-1])
    other = has_total[:-1] & has_total[1:] & (totals[1:] != totals[:-1])
    return bool(np.any(before & (back | other)))


class LossDetector(Detector):
    """Spikes, divergence, collapse and grad-norm spikes of the training loss."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.ranks: dict[int | None, _Rank] = {}
        self.evals: dict[int | None, _Rank] = {}  # the evaluation loss, per rank

    def _new_state(self, **fields: Any) -> _Rank:
        settings = self.settings
        window = settings.spike_window
        return _Rank(
            Baseline(window, settings.spike_min_ratio**_QUICK),
            Baseline(window, settings.grad_spike_min_ratio**_QUICK),
            collections.deque(maxlen=2 * window),
            **fields,
        )

    def _rank(self, rank: int | None) -> _Rank:
        state = self.ranks.get(rank)
        if state is None:
            state = self.ranks[rank] = self._new_state()
        return state

    def _evaluation(self, record: StepRecord, events: list[Event]) -> None:
        """An evaluation loss: the same rules, on its own series (evaluations are few and smooth,
        so their noise is estimated from fewer values)."""
        state = self.evals.get(record.rank)
        if state is None:
            state = self.evals[record.rank] = self._new_state(
                series="evaluation loss", noise_records=self.settings.eval_noise_records
            )
        self._loss(state, record._replace(loss=record.eval_loss), events, self.evals)
        state.previous = record

    def observe(self, records: list[Record]) -> list[Event]:
        events: list[Event] = []
        ranks = self.ranks
        warmup = self.settings.warmup_steps
        for record in records:
            if type(record) is not StepRecord:
                continue
            loss = record.loss
            if loss is None:
                if record.eval_loss is not None:
                    self._evaluation(record, events)
                continue
            state = ranks.get(record.rank) or self._rank(record.rank)
            step = record.step
            previous = state.previous
            if previous is not None and step is not None and step == previous.step and loss == previous.loss and (
                record.grad_norm == previous.grad_norm
            ):
                continue  # the same record printed again (two log handlers): one reading, or its noise looks nil
            if step is not None and step <= 1 and previous is not None and starts_over(previous, record):
                self._close(state, events)  # training started over: what came before is another run's
                state = ranks[record.rank] = self._new_state()
            grad = record.grad_norm
            if grad is not None:
                state.tail.append(record)
                baseline = state.grad
                if 0.0 < grad <= baseline.gate:  # the usual case
                    if state.grad_open:
                        self._grad_close(state, record, events)
                    baseline.add(grad, record.line)
                else:
                    self._grad(state, record, events)
            lr, last_lr = record.lr, state.last_lr
            if (
                0.0 < loss <= state.loss.gate
                and state.spike is None
                and state.nans is None
                and state.zeros is None
                and (lr is None or last_lr is None or lr <= last_lr * _LR_RISE)
                and (record.step is None or record.step >= warmup)
            ):  # the usual case, inline: an unremarkable loss
                if lr is not None:
                    state.last_lr = lr
                self._normal(state, record, loss, events)
                state.previous = record
                continue
            self._loss(state, record, events, ranks)
            state.previous = record
        return events

    def skim(self, batch: Columns) -> bool:
        """Every record takes `observe`'s usual path (a positive loss at or under the gate of the
        moment, the learning rate not rising, past the warm-up; a grad norm at or under its gate,
        or not positive and finite) and no climb crosses `climb_ratio` above the best baseline: the
        baselines, the climb's bookkeeping and the last records move."""
        return self.skim_ranks(batch, self._screen)

    def _screen(self, batch: Columns) -> Callable[[], None] | None:
        state = self.ranks.get(batch.rank)
        if state is None or not batch.exact_steps() or not state.loss.values or (
            not state.levels or state.spike is not None or state.nans is not None or state.zeros is not None
            or state.collapse is not None or state.climb is not None or state.climb_crossed is not None
            or state.grad_open or state.grad_episode is not None or state.diverged or state.negative is not None
        ):
            return None
        if not np.all(batch.present("loss")) or np.any(batch.values("step") < self.settings.warmup_steps):
            return None
        if np.any(batch.values("step") <= 1) and _starts_over_in(state.previous, batch):
            return None  # `observe` starts the series again there
        losses = batch.values("loss")
        if _printed_twice(state.previous, batch, losses):
            return None  # `observe` reads a record printed again once
        lines = batch.lines()
        loss_list: list[float] = losses.tolist()
        refreshed = state.loss.refreshes(loss_list, lines)
        if not np.all((losses > 0) & (losses <= _gates(state.loss, refreshed, len(losses)))):
            return None
        if batch.present("lr")[0]:
            lr = batch.values("lr")
            before = np.concatenate(([np.inf if state.last_lr is None else state.last_lr], lr[:-1]))
            if not np.all(batch.present("lr")) or not np.all(lr <= before * _LR_RISE):
                return None
        elif np.any(batch.present("lr")):
            return None
        has_grad = batch.present("grad_norm")
        grads = batch.values("grad_norm")[has_grad]
        valid = (grads > 0) & (grads < np.inf)
        grad_values: list[float] = grads[valid].tolist()
        grad_lines = [line for line, ok in zip((n for n, h in zip(lines, has_grad) if h), valid) if ok]
        grad_refreshed = state.grad.refreshes(grad_values, grad_lines)
        if np.any(np.asarray(grad_values) > _gates(state.grad, grad_refreshed, len(grad_values))):
            return None  # a grad norm over its gate is judged in `observe`
        # the climb's bookkeeping: reset where the loss dips, else count the rises
        before_loss = np.concatenate(([state.climb_last], losses[:-1]))
        reset = losses < before_loss * _DIP
        if state.climb_start is None:
            reset[0] = True
        rises = np.cumsum((losses > before_loss) & ~reset)
        last_reset = np.maximum.accumulate(np.where(reset, np.arange(len(losses)), -1))
        since = last_reset >= 0
        rises = np.where(since, rises - rises[np.maximum(last_reset, 0)], state.climb_rises + rises)
        reported = ~since & state.climb_reported
        best = _best_before(state, refreshed, len(losses), 2 * self.settings.spike_window)
        if np.any((rises >= 2) & ~reported & (losses >= best * self.settings.climb_ratio)):
            return None  # a climb crossing: `observe` follows it

        def move() -> None:
            medians = state.loss.extend(loss_list, lines, refreshed)
            state.levels.extend(medians)
            if medians:
                state.best = min(state.levels)
            state.grad.extend(grad_values, grad_lines, grad_refreshed)
            if batch.present("lr")[0]:
                state.last_lr = batch.record(len(batch) - 1).lr
            n = len(losses)
            if since[-1]:
                state.climb_start = batch.record(int(last_reset[-1]))
                state.climb_reported = False
            state.climb_last = loss_list[-1]
            state.climb_rises = int(rises[-1])
            with_grad = np.flatnonzero(has_grad)[-_TAIL:]
            state.tail.extend(batch.record(int(i)) for i in with_grad)
            state.previous = batch.record(n - 1)

        return move

    def finish(self) -> list[Event]:
        """Episodes still open at the end of the log, decided now that their future is known: a spike
        episode still `spike_min_ratio` above its baseline did not come back (a divergence), one
        below it, or a short one the log leaves on its way down (one record after the peak, lower, and
        under twice the level or nearer it than the peak), came back as far as the log shows (a loss
        spike); likewise a climb."""
        events: list[Event] = []
        for state in [*self.ranks.values(), *self.evals.values()]:
            self._close(state, events)
        return events

    def _close(self, state: _Rank, events: list[Event]) -> None:
        """`finish` for one series: its open episodes, decided with what the log showed of it (at the
        end of the log, or where training started over)."""
        min_ratio = math.log(self.settings.spike_min_ratio)
        if state.blowup is not None:
            self.report(state.blowup, self._blowup_event(state, state.blowup, None), events, final=True)
            state.blowup = None
        if state.aftermath is not None and state.aftermath.records >= self.settings.blowup_records:
            events.append(self._aftermath_event(state, state.aftermath))
        state.aftermath, state.aftermath_rise = None, 0.0
        spike = state.spike
        if spike is not None:
            # the log ended on the way down: one record after the peak, lower than it, and back under
            # twice the level or nearer (in log) to it than to the peak (4977 then 155 over a level of
            # 0.27 is still diverged)
            above = spike.last - spike.level
            falling = (
                spike.after_peak == 1 and spike.peak - spike.last > math.log(self.settings.recover_ratio)
                and (above < _TWICE or spike.peak - spike.last > above)
            )
            # a loss that went on to non-finite values and ended so never came back: no cut-off spike
            short = spike.records < self.settings.divergence_records and state.nans is None
            # over a baseline too thin for a noise estimate, a short jump that did not even triple may be
            # the noise of one mini-batch: a spike; that the run diverged needs more: the new level held
            # for `_HELD` records without falling back half the way to the old one (3.4, then 6.3, 4.6 and
            # 6.9 is a noisy loss, not a diverged one)
            thin = len(state.loss.values) < (state.noise_records or self.settings.noise_records) and (
                spike.last - spike.level < _THIN_DIVERGENCE
            ) and (spike.records < _HELD or spike.dip > _HALF_BACK)
            if spike.last - spike.level >= min_ratio and not (short and (falling or thin)):
                if short and not self.live:
                    # too short to tell a spike the log cut off from a divergence: both views, one episode
                    events.append(self._spike_event(state, spike, None))
                self._report(state, spike, self._divergence(state, spike, None), events, final=True)
            else:
                self._report(state, spike, self._spike_event(state, spike, None), events, final=True)
        climb = state.climb
        if climb is None and state.climb_crossed is not None and state.climb_rises >= 2:
            climb = self._open_climb(state, state.previous)  # it crossed as the log ended
        if climb is not None:
            self.report(climb.episode, self._climb_event(state, climb, None), events, final=True)
        if state.collapse is not None:
            self.report(state.collapse, self._collapse_event(state, None), events, final=True)
        if state.series == "loss" and not state.diverged and state.climb is None and (
            spike is None or spike.last - spike.level < min_ratio
        ):
            blowup = self._blowup(state)
            if blowup is not None:
                events.append(blowup)
        if state.grad_episode is not None:
            self._grad_close(state, None, events)

    def _report(self, state: _Rank, spike: _Spike, event: Event, events: list[Event], *, final: bool,
                ended: bool = False) -> None:
        assert spike.episode is not None
        self.report(spike.episode, event, events, final=final, ended=ended)

    def _blowup(self, state: _Rank) -> Event | None:
        """A log that ends in a grad-norm blow-up with the loss risen and not back: a divergence."""
        settings = self.settings
        records = [
            r for r in state.tail
            if r.loss is not None and r.grad_norm is not None and 0 < r.loss < math.inf and 0 < r.grad_norm < math.inf
        ]
        need = settings.blowup_records
        if len(records) < 3 + need:
            return None
        losses = [r.loss for r in records]
        grads = [r.grad_norm for r in records]
        # the floors before record s: the lowest median of three consecutive records ending before it
        loss_floor, grad_floor = [math.inf] * len(records), [math.inf] * len(records)
        for s in range(3, len(records)):
            loss_floor[s] = min(loss_floor[s - 1], sorted(losses[s - 3:s])[1])  # type: ignore[type-var]
            grad_floor[s] = min(grad_floor[s - 1], sorted(grads[s - 3:s])[1])  # type: ignore[type-var]
        lowest = math.inf  # the lowest grad norm from record s to the end
        start = None
        for s in range(len(records) - 1, 2, -1):
            lowest = min(lowest, grads[s])  # type: ignore[type-var]
            if len(records) - s >= need and lowest >= settings.grad_spike_min_ratio * grad_floor[s]:
                start = s  # the earliest start of a blow-up that lasts to the end
        if start is None:
            return None
        run = records[start:]
        if any(r.step is not None and r.step < settings.warmup_steps for r in run) or any(
            a.lr is not None and b.lr is not None and b.lr > a.lr * _LR_RISE for a, b in zip(records[start - 1:], run)
        ):
            return None  # a warm-up: the learning rate still rose
        floor = loss_floor[start]
        crossed = next((r for r in run if (r.loss or 0.0) >= floor * settings.climb_ratio), None)
        now = sorted(losses[-3:])[1]  # type: ignore[type-var]
        if crossed is None or now < floor * settings.spike_min_ratio:  # type: ignore[operator]
            return None
        assert crossed.loss is not None and now is not None
        grad_base = grad_floor[start]
        ratio = min(grads[start:]) / grad_base  # type: ignore[type-var, operator]
        return make_event(
            "DIVERGENCE", crossed,
            f"{state.series} rose from {format_number(floor)} to {format_number(crossed.loss)} at step "
            f"{crossed.step} while the grad norm blew up ({ratio:.3g}x its floor {format_number(grad_base)} or more "
            f"since step {run[0].step}); neither had come back when the log ends (loss now {format_number(now)})",
            value=now, baseline=floor,
            details={
                "magnitude": round(now / floor, 3), "reason": "grad-norm-blowup", "blowup_since_step": run[0].step,
                "grad_norm_floor": grad_base, "grad_norm_ratio": round(ratio, 3),
            },
        )

    # -- the loss ---------------------------------------------------------------

    def _warming_up(self, state: _Rank, record: StepRecord) -> bool:
        lr, last = record.lr, state.last_lr
        if lr is not None:
            state.last_lr = lr
        previous = state.previous
        if (
            previous is not None and record.epoch is not None and previous.epoch is not None
            and record.epoch > previous.epoch and record.step is not None and previous.step is not None
            and record.step < previous.step
        ):
            return True  # a new epoch restarted its counter, and with it the running mean many frameworks print
        if record.step is not None and record.step < self.settings.warmup_steps:
            return True
        if lr is None or last is None or lr <= last * _LR_RISE:
            return False
        steps = 1
        before = previous.step if previous is not None else None
        if before is not None and record.step is not None and record.step > before:
            steps = record.step - before
        return last <= 0 or (lr / last - 1) / steps >= _WARMUP_RISE

    def _loss(self, state: _Rank, record: StepRecord, events: list[Event], peers: dict[int | None, _Rank]) -> None:
        loss = record.loss
        assert loss is not None
        if not math.isfinite(loss):
            state.nans = self._count(state.nans, record)  # the NaN detector reports it
            return
        state.nans = None
        if loss == 0.0:
            if state.rounded or (state.collapse is None and math.copysign(1.0, loss) < 0):
                # `-0.000000` is a value of either sign rounded to the printed decimals, and so are the zeros of
                # the same series (TRL's GRPO table, a loss about beta times the KL): no collapse
                state.rounded, state.zeros = True, None
                return
            grad = record.grad_norm
            if grad is not None and (0.0 < grad < math.inf or not math.isfinite(grad)) and state.collapse is None:
                # the gradients still flow (a loss that is zero by construction, GRPO's), or they are not
                # finite: the zero is what a framework prints for a step it skipped, and the NaN is reported
                state.zeros = None
                return
            state.zeros = self._count(state.zeros, record)
            if state.collapse is not None:
                state.collapse.count += 1
            elif state.zeros.records >= self.settings.collapse_records:
                start = state.zeros.start
                state.collapse = Episode(f"{state.series}-collapse", start, 0.0, start.step, state.zeros.records)
                self.report(state.collapse, self._collapse_event(state, None), events, final=False)
            return
        state.zeros = None
        if state.collapse is not None:  # it came back from the collapse
            self.report(state.collapse, self._collapse_event(state, record), events, final=True, ended=True)
            state.collapse = None
        if loss < 0 or state.negative is not None:
            self._signed(state, record, loss, events)  # objectives that go negative have no ratio to speak of
            return
        spike = state.spike
        if spike is not None:  # an open spike follows every loss, warm-up or not, until it is back
            self._in_spike(state, spike, record, math.log(loss), events)
            return
        if not state.loss.values or (record.step is not None and record.step < self.settings.warmup_steps) or (
            self._warming_up(state, record)
            and math.log(loss) - state.loss.exact_level() < math.log(self.settings.warmup_spike_ratio)
        ):  # the first `warmup_steps` are never checked; a rising learning rate excuses all but a big jump
            self._accept(state, loss, record.line)
            return
        if loss > state.loss.gate:  # out of line with the cached median: look exactly
            settings = self.settings
            x = math.log(loss)
            level = state.loss.exact_level()
            threshold = state.loss.threshold(
                settings.spike_z, settings.spike_min_ratio, settings.spike_short_ratio,
                state.noise_records or settings.noise_records, pairs=True,
            )
            if x - level > threshold and not self._within_peers(state, x, peers):
                halfway = state.best * (1 + (self.settings.climb_ratio - 1) / 2)
                rising = state.climb is not None or (
                    state.climb_start is not None and state.climb_rises >= 2 and state.climb_last >= halfway
                )
                if rising and not (state.climb_last > 0 and x - math.log(state.climb_last) >= _CLIMB_JUMP):
                    self._normal(state, record, loss, events)  # rising for a while: a climb, not a jump
                    return
                start, records = record, 1
                previous = state.previous
                if (
                    previous is not None and previous.loss is not None and previous.eval_loss is None
                    and 0 < previous.loss < math.inf
                    and math.log(previous.loss) - level > math.log(settings.recover_ratio)
                    and _new_high(state.loss.values, previous.loss)
                ):
                    start, records = previous, 2  # it began one record earlier (an interval mean shows it in part)
                noise = state.loss.noise() if len(state.loss.values) >= settings.noise_records else None
                back = max(math.log(settings.recover_ratio), _RECOVER_Z * (noise or 0.0))
                spike = state.spike = _Spike(start, level, x, record.step, records, last=x, peak_loss=loss, back=back)
                spike.episode = Episode(state.series, start, loss, record.step, records)
                self._report(state, spike, self._spike_event(state, spike, None), events, final=False)
                state.climb_start = None
                return
        self._normal(state, record, loss, events)

    def _within_peers(self, state: _Rank, x: float, peers: dict[int | None, _Rank]) -> bool:
        """Whether a rank whose own baseline is still too short for a noise estimate printed a log-loss
        `x` that the other ranks of the source, pooled with it, show to be their usual noise: ranks that
        each print their own batch's loss (WeNet's `TRAIN Batch ... loss ... rank N`, a torchrun job whose
        every rank logs) vary as much from one another as from step to step, so one rank's second value
        at twice its first is no spike while the others' range holds it."""
        settings = self.settings
        needed = state.noise_records or settings.noise_records
        if len(state.loss.values) >= needed or len(peers) < 2:
            return False
        pooled = list(state.loss.values)
        for other in peers.values():
            if other is not state:
                pooled += list(other.loss.values)[-needed:]
        if len(pooled) < needed:
            return False
        threshold = threshold_of(pooled, settings.spike_z, settings.spike_min_ratio, settings.spike_short_ratio, needed)
        return x - math.log(statistics.median(pooled)) <= threshold

    def _signed(self, state: _Rank, record: StepRecord, loss: float, events: list[Event]) -> None:
        """A loss that goes negative (a log-likelihood, a flow's NLL, SI-SNR): no ratio to its level
        tells a spike, but a value `_BLOWUP` times as large as the magnitude of the recent negative
        values, of either sign, is a numeric blow-up (WaveGlow's -5.4 then 40490; a CTC objective's
        -43 then -1e27). It lasts until the magnitude is back within `_BLOWUP_BACK` of that level:
        a loss spike when it came back, a divergence when the log ends first. One that came back in
        size but stays far above its old level (by `climb_ratio` of that size and 3 noise deviations)
        for `blowup_records` records or more to the end of the log left the model broken: a divergence
        too, where it came back."""
        held = state.negative
        if held is None:
            held = state.negative = collections.deque(maxlen=self.settings.spike_window)
        size = abs(loss)
        episode = state.blowup
        if episode is not None:
            if size <= state.blowup_level * _BLOWUP_BACK:
                self.report(episode, self._blowup_event(state, episode, record), events, final=True, ended=True)
                state.blowup = None
                noise = spread_of(held) or 0.0
                state.aftermath_rise = max(_CLIMB_Z * noise, (self.settings.climb_ratio - 1) * state.blowup_level)
            else:
                episode.worse(size, record)
                return
        elif len(held) >= _BLOWUP_HELD:
            level = statistics.median(held)
            if size > level * _BLOWUP:
                state.blowup, state.blowup_level = Episode(f"{state.series}-blowup", record, size, record.step), level
                state.aftermath, state.aftermath_rise = None, 0.0
                self.report(state.blowup, self._blowup_event(state, state.blowup, None), events, final=False)
                return
        if state.aftermath_rise:  # a blow-up came back: is the loss back where it was?
            if loss + state.blowup_level > state.aftermath_rise:  # still far above it
                state.aftermath = self._count(state.aftermath, record)
                return
            state.aftermath, state.aftermath_rise = None, 0.0  # it is: the blow-up was a spike
        if loss < 0:
            held.append(size)

    def _blowup_event(self, state: _Rank, episode: Episode, end: StepRecord | None) -> Event:
        start = episode.start
        assert isinstance(start, StepRecord) and start.loss is not None
        level = state.blowup_level
        value, ratio = start.loss, abs(start.loss) / level
        where = "has not come back" if end is None else f"back at {_place(end)}"
        return make_event(
            "LOSS-SPIKE" if end is not None else "DIVERGENCE", start,
            f"{state.series} blew up to {format_number(value)} at {_place(start)}, {ratio:.3g}x the size of "
            f"its recent values (about -{format_number(level)}); {where}",
            value=value, baseline=-level, count=episode.count,
            details=episode.details(end, reason="blow-up", magnitude=round(ratio, 3)),
        )

    def _aftermath_event(self, state: _Rank, run: _Run) -> Event:
        start = run.start
        assert start.loss is not None
        level = state.blowup_level
        return make_event(
            "DIVERGENCE", start,
            f"{state.series} came back from its blow-up only to {format_number(start.loss)} at {_place(start)}, "
            f"far above its level before it (about -{format_number(level)}), and stayed there for the "
            f"{run.records} records the log shows",
            value=start.loss, baseline=-level, count=run.records,
            details={"reason": "after-blow-up", "records": run.records},
        )

    def _normal(self, state: _Rank, record: StepRecord, loss: float, events: list[Event]) -> None:
        """A loss that is no spike: follow a possible climb, and take it into the baseline."""
        climb = state.climb
        if climb is not None:  # an open climb episode: more of it, or the way back
            climb.last = loss
            climb.episode.worse(loss, record)
            if loss < climb.best * self.settings.climb_ratio:
                climb.episode.count -= 1  # this one is back under where a climb counts, as at the end of a log
                self.report(climb.episode, self._climb_event(state, climb, record), events, final=True, ended=True)
                state.climb = None
        if state.climb_start is None or loss < state.climb_last * _DIP:
            state.climb_start, state.climb_last, state.climb_rises = record, loss, 0
            state.climb_crossed, state.climb_reported = None, False
        else:
            self._climb(state, record, loss, events)
        self._accept(state, loss, record.line)

    def _accept(self, state: _Rank, loss: float, line: int | None) -> None:
        if state.loss.add(loss, line) or not state.levels:  # the median was just refreshed
            state.levels.append(state.loss.median)
            state.best = min(state.levels)

    def _in_spike(self, state: _Rank, spike: _Spike, record: StepRecord, x: float, events: list[Event]) -> None:
        settings = self.settings
        spike.records += 1
        spike.last = x
        spike.after_peak += 1
        if spike.peak > spike.level:
            spike.dip = max(spike.dip, (spike.peak - x) / (spike.peak - spike.level))
        if x > spike.peak:
            spike.peak, spike.peak_step, spike.peak_loss, spike.after_peak = x, record.step, record.loss or 0.0, 0
        if x - spike.level <= spike.back:
            spike.records -= 1  # this one is back
            self._report(state, spike, self._spike_event(state, spike, record), events, final=True, ended=True)
            state.spike, state.diverged = None, False
            self._accept(state, math.exp(x), record.line)
            return
        assert spike.episode is not None
        spike.episode.count = spike.records
        spike.episode.peak, spike.episode.peak_step = spike.peak_loss, spike.peak_step
        if not state.diverged and spike.records >= settings.divergence_records:
            state.diverged = True  # not back yet: the live path says so now
            self._report(state, spike, self._divergence(state, spike, None), events, final=False)

    def _climb(self, state: _Rank, record: StepRecord, loss: float, events: list[Event]) -> None:
        """A divergence that creeps up: the loss rose record after record (a dip of under 2%
        does not end the climb) and now stands `climb_ratio` above its best recent baseline."""
        if loss > state.climb_last:
            state.climb_rises += 1
        state.climb_last = loss
        if state.climb_rises < 2 or state.climb_reported or state.climb is not None:
            return
        if state.climb_crossed is None and loss >= state.best * self.settings.climb_ratio and self._out_of_noise(
            state, loss
        ):
            state.climb_crossed = record
        if state.climb_crossed is not None and state.climb_rises >= 3:
            climb = self._open_climb(state, record)
            self.report(climb.episode, self._climb_event(state, climb, None), events, final=False)

    @staticmethod
    def _out_of_noise(state: _Rank, loss: float) -> bool:
        """Whether a loss stands above the best baseline by more than the loss's own noise allows
        (`_CLIMB_Z` robust deviations of the values the baseline holds, the climb's so far among
        them): a few rises in a row are common in a noisy loss (a GAN's 0.0175, 0.0221, 0.0301,
        0.0230, 0.0240, 0.0265 moves 30% from one record to the next), while a loss that blows up
        climbs faster than it ever moved (BLOOM-104B's 6.37, 6.60, 7.31, 9.12). Two values give
        no noise estimate: the ratio alone decides."""
        noise = noise_of(state.loss.values)
        return noise is None or math.log(loss / state.best) > _CLIMB_Z * noise

    def _open_climb(self, state: _Rank, latest: StepRecord | None) -> _Climb:
        """The climb episode that starts where the loss first stood `climb_ratio` above the best
        baseline (`latest`: the record that showed it kept rising)."""
        start = state.climb_crossed
        assert start is not None and start.loss is not None and state.climb_start is not None
        state.climb_reported = True
        episode = Episode(state.series, start, start.loss, start.step)
        if latest is not None and latest is not start and state.climb_last > start.loss:
            episode.worse(state.climb_last, latest)
        climb = state.climb = _Climb(episode, state.best, state.climb_start.step, state.climb_last)
        return climb

    @staticmethod
    def _count(run: _Run | None, record: StepRecord) -> _Run:
        if run is None:
            return _Run(record)
        run.records += 1
        return run

    # -- events -----------------------------------------------------------------

    def _spike_event(self, state: _Rank, spike: _Spike, recovered: StepRecord | None) -> Event:
        """A spike episode as a loss spike: recovered at `recovered`, or (None) not when the log ends."""
        start = spike.start
        assert spike.episode is not None
        peak, base = spike.peak_loss, math.exp(spike.level)
        grad = state.grad_spike_step
        linked = grad is not None and start.step is not None and 0 <= start.step - grad <= _GRAD_LINK_STEPS
        details = spike.episode.details(
            recovered,
            magnitude=round(peak / base, 3),
            peak_step=spike.peak_step,
            recovered_after_steps=None if recovered is None else (recovered.step or 0) - (start.step or 0),
            records=spike.records,
            **({"grad_norm_spike_step": grad} if linked else {}),
        )
        if recovered is not None:
            how = f"recovered after {details['recovered_after_steps']} steps"
            if spike.records >= self.settings.divergence_records:
                how += f" ({spike.records} records above its baseline)"
        else:
            how = f"back below {self.settings.spike_min_ratio:g}x but not recovered when the log ends"
            if self.live or spike.last - spike.level >= math.log(self.settings.spike_min_ratio):
                how = "not recovered yet"
        return make_event(
            "LOSS-SPIKE", start,
            f"{state.series} spiked to {format_number(peak)} ({details['magnitude']:.3g}x its baseline "
            f"{format_number(base)}) at step {start.step}; {how}",
            value=peak, baseline=base, details=details,
        )

    def _divergence(self, state: _Rank, spike: _Spike, end: StepRecord | None) -> Event:
        assert spike.episode is not None
        base, last = math.exp(spike.level), math.exp(spike.last)
        return make_event(
            "DIVERGENCE", spike.start,
            f"{state.series} jumped from {format_number(base)} to {format_number(spike.peak_loss)} at step "
            f"{spike.start.step} and has not come back (now {format_number(last)})",
            value=last, baseline=base,
            details=spike.episode.details(
                end, magnitude=round(last / base, 3), peak_step=spike.peak_step, reason="jump", records=spike.records,
            ),
        )

    def _climb_event(self, state: _Rank, climb: _Climb, end: StepRecord | None) -> Event:
        """A climb episode: a divergence while the loss stays up; a loss spike once it came back (`end`),
        or when the log ends with it back below `climb_ratio` times where it climbed from."""
        best, last, episode = climb.best, climb.last, climb.episode
        start = episode.start
        assert start.loss is not None
        peak = episode.peak or last
        came_back = end is not None or (not self.live and last < best * self.settings.climb_ratio)
        details = episode.details(
            end, magnitude=round((peak if came_back else last) / best, 3), reason="climb",
            rising_since_step=climb.rising_since, peak_step=episode.peak_step,
        )
        if came_back:
            back = f"came back by step {end.step}" if end is not None else "was coming back when the log ends"
            return make_event(
                "LOSS-SPIKE", start,
                f"{state.series} climbed from {format_number(best)} to {format_number(start.loss)} by step "
                f"{start.step}, peaked at {format_number(peak)} and {back}",
                value=peak, baseline=best, details=details,
            )
        return make_event(
            "DIVERGENCE", start,
            f"{state.series} climbed from {format_number(best)} to {format_number(start.loss)} by step {start.step} "
            f"and kept rising (to {format_number(last)})",
            value=last, baseline=best, details=details,
        )

    def _collapse_event(self, state: _Rank, end: StepRecord | None) -> Event:
        episode = state.collapse
        assert episode is not None
        start = episode.start
        how = "and stays there" if end is None else f"for {episode.count} records, until step {end.step}"
        return make_event(
            "LOSS-COLLAPSE", start,
            f"the {state.series} collapsed to exactly 0.0 at step {start.step} {how}",
            value=0.0, count=episode.count, details=episode.details(end),
        )

    # -- the gradient norm -------------------------------------------------------

    def _grad(self, state: _Rank, record: StepRecord, events: list[Event]) -> None:
        grad = record.grad_norm
        assert grad is not None
        if not math.isfinite(grad) or grad <= 0:
            return
        baseline = state.grad
        if grad <= baseline.gate:
            if state.grad_open:
                self._grad_close(state, record, events)
            baseline.add(grad, record.line)
            return
        settings = self.settings
        if len(baseline.values) < settings.noise_records or (
            state.last_lr is not None and record.lr is not None and record.lr > state.last_lr * _LR_RISE
        ):
            baseline.add(grad, record.line)
            return
        x = math.log(grad)
        level = baseline.exact_level()
        ratio = settings.grad_spike_min_ratio
        threshold = baseline.threshold(settings.grad_spike_z, ratio, ratio, settings.noise_records)
        if x - level <= threshold:
            if state.grad_open:
                self._grad_close(state, record, events)
            baseline.add(grad, record.line)
            return
        if state.grad_open:
            assert state.grad_episode is not None
            state.grad_episode.worse(grad, record)
            return
        state.grad_open = True
        state.grad_spike_step = record.step
        state.grad_base = math.exp(level)
        state.grad_episode = Episode("grad-norm", record, grad, record.step)
        self.report(state.grad_episode, self._grad_event(state, None), events, final=False)

    def _grad_close(self, state: _Rank, record: StepRecord | None, events: list[Event]) -> None:
        """The grad-norm spike episode is over at `record` (None: the log ended inside it)."""
        state.grad_open = False
        if state.grad_episode is not None:
            self.report(state.grad_episode, self._grad_event(state, record), events, final=True,
                        ended=record is not None)
        state.grad_episode = None

    def _grad_event(self, state: _Rank, end: StepRecord | None) -> Event:
        episode = state.grad_episode
        assert episode is not None and episode.peak is not None
        start, base, peak = episode.start, state.grad_base, episode.peak
        first = start.grad_norm or peak
        return make_event(
            "GRAD-NORM-SPIKE", start,
            f"grad norm spiked to {format_number(first)} ({first / base:.3g}x its baseline "
            f"{format_number(base)}) at step {start.step}"
            + (f", up to {format_number(peak)}" if peak > first else ""),
            value=first, baseline=base, count=episode.count if episode.count > 1 else None,
            details=episode.details(end),
        )
