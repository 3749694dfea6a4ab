"""Slowdowns and stragglers: step time against the run's own rolling baseline.

Each rank's step time is watched in log space (or, when the log prints only
throughput, its inverse: tokens/s, samples/s, TFLOP/s or MFU, whichever
comes first; without any, the time between timestamped progress lines per
step), against the median of the last `slow_window` normal records
and the run's own noise. `slow_records` slow records in a row make a
slowdown (two suffice when the log ends with them, and one when it ends
with it just after a stall: progress stopped, resumed, and ran slower
than before), so one slow step does not; the first step after an
evaluation or a checkpoint save, and the first of an epoch whose count starts
again, are not judged at all (frameworks count the pause, or the pass's
set-up, in it). A log that begins with training's first steps lets them
settle: until the baseline holds `slow_window` records, a slowdown there
needs `slow_short_ratio` (a few percent of drift while caches, data loaders
and clocks warm up is no incident). The event names the step where
it began and the ratio, and one slowdown is one episode, one event: it ends
after `slow_records` normal records in a row (`details.end` is the first of
them), or is still open when the log ends; `details.peak` is its slowest
record (see `monitor.detectors.base` for the extent fields, and for how the
batch and live paths emit an episode). An erratic episode likewise ends once
no slow step is left among the last ten.

When the log breaks the step down into timers (Megatron-LM's `(min, max)
time across ranks`, DeepSpeed's wall-clock breakdown), the event says which
timer grew most and where that time goes: communication timers point at the
interconnect, data loading at the workload, compute at the hardware when its
spread across ranks grew with it (one slow GPU), else at the software.

At the end of a scan, a rank whose median step time is `straggler_ratio`
above the median of its peers (three or more ranks) is a straggler.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from monitor.columns import Columns
from monitor.detectors.base import Detector, Episode, format_duration, format_number, make_event
from monitor.detectors.robust import Baseline, threshold_of
from monitor.model import Domain, Event, Pause, Record, StepRecord, TimerRecord
from monitor.settings import Settings

_METRICS = ("step_time_s", "tokens_per_s", "samples_per_s", "tflops", "mfu")
_CLOCK = "seconds_per_step"
"""Without any of those, the time between timestamped progress lines per step (HF Trainer logged
through Python logging prints only the loss dict)."""
_INVERSE = frozenset(_METRICS[1:])
_UNITS = {"step_time_s": "s per step", "tokens_per_s": "tokens/s", "samples_per_s": "samples/s",
          "tflops": "TFLOP/s", "mfu": "MFU", _CLOCK: "s per step (from timestamps)"}
_INTERCONNECT_TOKENS = frozenset({
    "allreduce", "allgather", "alltoall", "reduce", "gather", "scatter", "broadcast",
    "send", "recv", "p2p", "comm", "communication",
})
_INTERCONNECT_PAIRS = frozenset({"grads-sync", "all-to-all"})
_WORKLOAD_TOKENS = frozenset({"data", "dataloader", "dataset"})
_WORKLOAD_PAIRS = frozenset({"batch-generator", "batch-input", "data-loader", "data-loading"})
_SEPARATORS = re.compile(r"[\s_/]+")


def timer_domain(name: str) -> str:
    """Where a timer's time goes: "interconnect" (collectives, pipeline send/recv),
    "workload" (data loading) or "compute" (forward, backward, optimizer, and any
    name not recognised, such as `save-checkpoint` or set-up timers).

    Names are matched by their words (`-`, `_`, `/` and spaces separate them), so
    `backward-params-all-reduce`, `bwd_allreduce_microstep`, `pipe_recv_grad` and
    `optimizer_allgather` are interconnect, `batch-generator` and `batch_input`
    workload, `forward-backward` and `optimizer-inner-step` compute.
    """
    normalized = _SEPARATORS.sub("-", name.strip().lower())
    words = [w for w in normalized.split("-") if w]
    pairs = {f"{a}-{b}" for a, b in zip(words, words[1:])}
    if "all-reduce" in normalized or "all-gather" in normalized or "reduce-scatter" in normalized:
        return "interconnect"
    if _INTERCONNECT_PAIRS & pairs or _INTERCONNECT_TOKENS.intersection(words):
        return "interconnect"
    if _WORKLOAD_PAIRS & pairs or _WORKLOAD_TOKENS.intersection(words):
        return "workload"
    return "compute"


_ERRATIC_WINDOW = 10
"""The last step times an erratic episode is judged over."""

_STRAGGLER_SAMPLES = 3
"""The step times each rank needs before its median is compared with its peers'."""


@dataclasses.dataclass
class _Rank:
    metric: str
    inverse: bool
    baseline: Baseline
    clocked: bool = False  # step time from timestamps
    slow: list[StepRecord] = dataclasses.field(default_factory=list)
    slow_values: list[float] = dataclasses.field(default_factory=list)
    open: bool = False
    normal_run: int = 0
    timers: collections.deque[TimerRecord] = dataclasses.field(default_factory=lambda: collections.deque(maxlen=20))
    recent: collections.deque[float] = dataclasses.field(default_factory=lambda: collections.deque(maxlen=50))
    recent_records: collections.deque[StepRecord] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=_ERRATIC_WINDOW)
    )
    erratic: bool = False  # an erratic episode was reported and its slow steps are still in the window
    erratic_floor: float = 0.0  # values below it cannot start an erratic episode (refreshed with the median)
    last: StepRecord | None = None
    episode: Episode | None = None  # the open slowdown episode (None while it is the erratic one's)
    held: Event | None = None  # its event as first seen
    back: StepRecord | None = None  # the first of the normal records that may end it
    erratic_episode: Episode | None = None
    erratic_held: Event | None = None
    first_step: int | None = None  # the step of the rank's first record, until its second arrives
    settling: bool = False  # the rank's records began at training's start and its baseline is not yet full


def _time_like(record: StepRecord, metric: str) -> float | None:
    value = getattr(record, metric)
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return 1.0 / value if metric in _INVERSE else value


class SlowdownDetector(Detector):
    """Sustained slowdowns per rank, with the timer that grew; stragglers across ranks."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.ranks: dict[int | None, _Rank] = {}
        self.pause_line = -1  # the last checkpoint save or evaluation

    def observe(self, records: list[Record]) -> list[Event]:
        events: list[Event] = []
        for record in records:
            kind = type(record)
            if kind is TimerRecord:
                state = self.ranks.get(record.rank)
                if state is not None:
                    state.timers.append(record)  # type: ignore[arg-type]
                continue
            if kind is Pause or (kind is StepRecord and record.is_eval):  # type: ignore[union-attr]
                self.pause_line = record.line or 0  # the next step may include the pause: excused
                continue
            if kind is not StepRecord:
                continue
            state = self.ranks.get(record.rank)
            if state is not None and state.last is not None and record.step is not None and (
                record.step == state.last.step and record.epoch == state.last.epoch  # type: ignore[union-attr]
            ):
                continue  # another line about the same step (another printer's throughput, another rank's)
            if state is not None and state.last is not None and (
                (state.last.line or 0) < self.pause_line
                or (not state.clocked and _new_pass(state.last, record))  # type: ignore[arg-type]
            ):
                state.last = record  # type: ignore[assignment]
                continue
            if state is not None and not state.open and not state.slow and not state.clocked and len(state.recent) > 1:
                # the usual case, inline (the second step goes through `_step`: the first may be a warm-up)
                value = getattr(record, state.metric)
                if value is not None and 0 < value < math.inf:
                    if state.inverse:
                        value = 1.0 / value
                    baseline = state.baseline
                    if value <= baseline.gate:
                        state.recent.append(value)
                        state.recent_records.append(record)  # type: ignore[arg-type]
                        state.last = record  # type: ignore[assignment]
                        if value >= state.erratic_floor or state.erratic:  # one comparison, unless it may be a swing
                            self._erratic(state, value, record, events)  # type: ignore[arg-type]
                        if baseline.add(value, record.line):
                            state.erratic_floor = self._erratic_floor(state)
                        if state.settling and len(baseline.values) >= self.settings.slow_window:
                            state.settling = False
                        continue
            self._step(record, events)  # type: ignore[arg-type]
        return events

    def skim(self, batch: Columns) -> bool:
        """No step is slow (none above `slow_min_ratio` times the exact median it meets), none is
        erratic (`erratic_ratio` times the fast steps of its window), no episode is open and no
        pause came before: the baseline, the recent steps and the timers move. The stale gate is
        followed one value at a time, since `observe` refreshes it whenever a value passes it."""
        if Pause in batch.kinds or np.any(batch.present("eval_loss") & ~batch.present("loss")):
            return False  # a pause (a save, an evaluation) excuses the next step: `observe` follows it
        if not self.skim_ranks(batch, self._screen):
            return False
        for record in batch.others:
            if type(record) is TimerRecord and (state := self.ranks.get(record.rank)) is not None:
                state.timers.append(record)  # type: ignore[arg-type]
        return True

    def _screen(self, batch: Columns) -> Callable[[], None] | None:
        state = self.ranks.get(batch.rank)
        settings = self.settings
        size = settings.slow_window
        if state is None or state.clocked or state.open or state.slow or state.erratic or (
            state.erratic_episode is not None or state.episode is not None or len(state.baseline.values) < size
            or len(state.recent) < _ERRATIC_WINDOW - 1
            or (state.last is not None and (state.last.line or 0) < self.pause_line)
        ):
            return None
        steps = batch.values("step")
        before = np.concatenate(([math.nan if state.last is None or state.last.step is None else state.last.step],
                                 steps[:-1]))
        epochs = batch.values("epoch")
        last_epoch = math.nan if state.last is None or state.last.epoch is None else state.last.epoch
        new_pass = (steps < before) & (epochs > np.concatenate(([last_epoch], epochs[:-1])))
        if np.any((steps == before) | new_pass):
            return None  # lines about a step already read, or a new pass's first: `observe` passes them over
        raw = batch.values(state.metric)
        valid = np.flatnonzero((raw > 0) & (raw < np.inf))  # others are skipped by `observe`
        if not len(valid):
            return lambda: None
        values = 1.0 / raw[valid] if state.inverse else raw[valid]
        history = np.asarray(list(state.recent)[-(_ERRATIC_WINDOW - 1):])
        windows = np.lib.stride_tricks.sliding_window_view(np.concatenate((history, values)), _ERRATIC_WINDOW)
        floors = settings.erratic_ratio * np.sort(windows, axis=1)[:, _ERRATIC_WINDOW // 4]
        if np.any(values >= floors):
            return None  # a swing: `observe` judges it
        numbers = batch.lines()
        lines = [numbers[i] for i in valid]
        value_list: list[float] = values.tolist()
        floor_list: list[float] = floors.tolist()
        baseline = state.baseline
        added = list(baseline.values)[-size:]  # what the baseline holds, and then takes
        kept = len(added)
        ratio, slow_ratio, shift = baseline.gate_ratio, settings.slow_min_ratio, baseline.BLOCK_SHIFT
        least = min(slow_ratio, settings.slow_short_ratio) * (1 - 1e-12)  # no threshold is lower
        gate, median, block, floor = baseline.gate, baseline.median, baseline._block, state.erratic_floor
        slow: list[int] = []  # slow steps in a row (fewer than `slow_records`)
        for i, value in enumerate(value_list):
            if slow or value > gate:  # `observe`'s exact path
                floor = floor_list[i]
                if value > gate:  # out of line with the cached median: the exact one
                    window = added[-size:]
                    median = statistics.median(window)
                    gate = median * ratio
                    if value > median * least and math.log(value) - math.log(median) > threshold_of(
                        window, settings.slow_z, slow_ratio, settings.slow_short_ratio, settings.slow_noise_records
                    ):
                        slow.append(i)
                        if len(slow) >= settings.slow_records:
                            return None  # a slowdown: `observe` reports it
                        continue
                slow = []
                refresh_floor = False
            else:
                if value >= floor:
                    floor = floor_list[i]
                refresh_floor = True
            added.append(value)
            b = (lines[i] or 0) >> shift
            if b != block:
                block = b
                median = statistics.median(added[-size:])
                gate = median * ratio
                if refresh_floor:
                    floor = floor_list[i]

        def move() -> None:
            baseline.values.extend(added[kept:])
            baseline._block, baseline._median, baseline.gate = block, median, gate
            state.erratic_floor = floor
            if len(slow) or len(added) - kept < len(value_list):
                state.normal_run = 0
            state.slow = [batch.record(int(valid[i])) for i in slow]
            state.slow_values = [value_list[i] for i in slow]
            state.recent.extend(value_list)
            state.recent_records.extend(batch.record(int(i)) for i in valid[-_ERRATIC_WINDOW:])
            state.last = state.recent_records[-1]
            state.settling = False  # the baseline is full

        return move

    def _step(self, record: StepRecord, events: list[Event]) -> None:
        state = self.ranks.get(record.rank)
        if state is None:
            metric = next((m for m in _METRICS if _time_like(record, m) is not None), None)
            if metric is None and record.epoch_s is not None and record.time is not None and record.step is not None:
                metric = _CLOCK  # a time of day (a clock read from a bar's elapsed whole seconds is too coarse)
            if metric is None:
                return
            settings = self.settings
            state = self.ranks[record.rank] = _Rank(
                metric, metric in _INVERSE, Baseline(settings.slow_window, settings.slow_min_ratio**0.5),
                clocked=metric == _CLOCK, first_step=record.step,
            )
            if state.clocked:
                state.last = record
                return
        if state.first_step is not None and state.last is not None:  # the second record: near training's start?
            first, state.first_step = state.first_step, None
            # within its first `slow_window` logging intervals (a run's first lines may print no time yet)
            state.settling = record.step is not None and first <= self.settings.slow_window * max(
                record.step - first, 1
            )
        value = self._clock(state, record) if state.clocked else _time_like(record, state.metric)
        if value is None:
            return
        settings = self.settings
        if len(state.recent) == 1 and len(state.baseline.values) == 1 and not (
            1 / settings.erratic_ratio < value / state.recent[0] < settings.erratic_ratio
        ):  # the first step was the warm-up (compilation, caches, a timer starting): no baseline
            state.recent.clear()
            state.recent_records.clear()
            state.baseline = Baseline(settings.slow_window, settings.slow_min_ratio**0.5)
        state.recent.append(value)
        state.recent_records.append(record)
        state.last = record
        self._erratic(state, value, record, events)
        baseline = state.baseline
        if not baseline.values:
            baseline.add(value, record.line)
            return
        slow = False
        if value > baseline.gate:  # out of line with the cached median: look exactly
            level = baseline.exact_level()
            least = settings.slow_min_ratio
            if state.settling:  # a run's first steps settle: only a clear change counts
                least = max(least, settings.slow_short_ratio)
            threshold = baseline.threshold(
                settings.slow_z, least, settings.slow_short_ratio, settings.slow_noise_records
            )
            slow = math.log(value) - level > threshold
        if slow:
            state.normal_run = 0
            if not state.open:
                state.slow.append(record)
                state.slow_values.append(value)
                if len(state.slow) >= settings.slow_records and not self._clock_disagrees(state):
                    state.open = True
                    if not state.erratic:  # the same incident, already reported as erratic
                        self._open(state, self._event(state, level), events)
            elif state.episode is not None:
                state.episode.worse(value, record)
            return
        if state.open:
            state.normal_run += 1
            if state.normal_run == 1:
                state.back = record
            if state.normal_run >= settings.slow_records:
                state.open = False
                state.slow, state.slow_values = [], []
                self._close(state, state.back, events)
            return
        state.slow, state.slow_values = [], []
        baseline.add(value, record.line)
        if state.settling and len(baseline.values) >= settings.slow_window:
            state.settling = False

    def _clock_disagrees(self, state: _Rank) -> bool:
        """Whether the wall clock shows less than half the slowdown the slow records print: a step time printed
        for the one step that logged is a sample (TensorFlow's `(287.4 examples/sec; 0.028 sec/batch)`
        every ten steps), the clock between the lines measures them all. Asked only of a clock to trust:
        every recent line stamped with a time of day, each later than the one before (a clock a
        collector added to lines it received in bursts is not)."""
        if state.clocked:
            return False
        records, slow = list(state.recent_records), len(state.slow)
        if len(records) < slow + 3 or records[-slow] is not state.slow[0]:
            return False
        clock = [(r.epoch_s, r.step) for r in records if r.time is not None and r.epoch_s is not None]
        if len(clock) < len(records) or any(
            t <= t0 or s is None or s0 is None or s <= s0 for (t0, s0), (t, s) in zip(clock, clock[1:])
        ):
            return False
        pace = [(t - t0) / (s - s0) for (t0, s0), (t, s) in zip(clock[: -slow], clock[1 : -slow])]  # type: ignore[operator]
        (t0, s0), (t, s) = clock[-slow - 1], clock[-1]
        by_clock = (t - t0) / (s - s0) / statistics.median(pace)  # type: ignore[operator]
        printed = statistics.median(state.slow_values) / math.exp(state.baseline.exact_level())
        return by_clock - 1 < (printed - 1) / 2  # the clock shows less than half the slowdown printed

    @staticmethod
    def _clock(state: _Rank, record: StepRecord) -> float | None:
        """Seconds per step between this progress line and the rank's previous one, from their timestamps."""
        last = state.last
        if last is None or last.epoch_s is None or record.epoch_s is None or last.step is None or record.step is None:
            return None
        steps = record.step - last.step
        seconds = record.epoch_s - last.epoch_s
        return seconds / steps if steps > 0 and seconds > 0 else None

    def _erratic_floor(self, state: _Rank) -> float:
        """`erratic_ratio` times the fast steps of the window (0 while it is too short to judge)."""
        window = list(state.recent)[-_ERRATIC_WINDOW:]
        return self.settings.erratic_ratio * sorted(window)[len(window) // 4] if len(window) >= 5 else 0.0

    def _open(self, state: _Rank, event: Event, events: list[Event]) -> None:
        """A slowdown episode begins with `event` (its first slow records)."""
        start = state.slow[0]
        state.episode = Episode("slowdown", start, max(state.slow_values), None, len(state.slow))
        state.episode.peak_step = state.slow[state.slow_values.index(state.episode.peak)].step
        state.held = event
        self.report(state.episode, self._extent(state, state.episode, event, None), events, final=False)

    def _close(self, state: _Rank, end: StepRecord | None, events: list[Event]) -> None:
        """The slowdown episode is over at `end` (None: the log ends inside it)."""
        if state.episode is not None and state.held is not None:
            self.report(state.episode, self._extent(state, state.episode, state.held, end), events,
                        final=True, ended=end is not None)
        state.episode = state.held = state.back = None

    @staticmethod
    def _extent(state: _Rank, episode: Episode, event: Event, end: StepRecord | None) -> Event:
        """`event` with the episode's extent in its details (the peak in the metric's own unit)."""
        details = episode.details(end, **(event.details or {}))
        peak = episode.peak
        if peak is not None and state.metric in _INVERSE:
            peak = 1.0 / peak
        details["peak"] = {"step": episode.peak_step, "value": peak}
        return dataclasses.replace(event, details=details, count=episode.count)

    def _erratic(self, state: _Rank, value: float, record: StepRecord, events: list[Event]) -> None:
        """Step times that swing: several of the last few steps took many times as long as the fast
        ones (an input pipeline or a host that stalls now and then). A rolling median cannot see it,
        since the swings make the noise estimate as large as the swings."""
        settings = self.settings
        window = list(state.recent)[-_ERRATIC_WINDOW:]
        if len(window) < 5:
            return
        fast = sorted(window)[len(window) // 4]
        limit = state.erratic_floor = settings.erratic_ratio * fast
        slow = [i for i, v in enumerate(window) if v >= limit]
        if not slow:
            state.erratic = False
            self._erratic_close(state, record, events)
            return
        if state.erratic_episode is not None and value >= limit:
            state.erratic_episode.worse(value, record)
        if state.erratic or state.open or len(slow) < settings.erratic_records or value < limit:
            return
        state.erratic = True
        records = list(state.recent_records)[-len(window):]
        first = next((i for i in slow if i > 0 and window[i - 1] < limit), slow[0])
        start = records[first]
        worst = max(window[i] for i in slow)
        what = "step time" if state.metric == "step_time_s" else _UNITS[state.metric]
        shown_fast, shown_worst = (1 / fast, 1 / worst) if state.metric in _INVERSE else (fast, worst)
        episode = state.erratic_episode = Episode("erratic", start, worst, None, len(slow))
        episode.peak_step = next(records[i].step for i in slow if window[i] == worst)
        event = state.erratic_held = make_event(
            "SLOWDOWN", start,
            f"{what} is erratic: {len(slow)} of the last {len(window)} steps took {settings.erratic_ratio:g}x or more "
            f"the fast ones ({format_number(shown_fast)} {_UNITS[state.metric]}), up to {format_number(shown_worst)}; "
            f"first at step {start.step}",
            value=shown_worst, baseline=shown_fast,
            details={"metric": state.metric, "reason": "erratic", "slow_steps": len(slow), "window": len(window)},
        )
        self.report(episode, self._extent(state, episode, event, None), events, final=False)

    def _erratic_close(self, state: _Rank, end: StepRecord | None, events: list[Event]) -> None:
        """The erratic episode is over at `end`: no slow step is left in the window (None: the log ends)."""
        if state.erratic_episode is not None and state.erratic_held is not None:
            self.report(state.erratic_episode, self._extent(state, state.erratic_episode, state.erratic_held, end),
                        events, final=True, ended=end is not None)
        state.erratic_episode = state.erratic_held = None

    def _event(self, state: _Rank, level: float, after_stall: float | None = None) -> Event:
        start = state.slow[0]
        metric = state.metric
        slow = statistics.median(state.slow_values)
        base = math.exp(level)
        ratio = slow / base
        shown_slow, shown_base = (1 / slow, 1 / base) if metric in _INVERSE else (slow, base)
        details: dict[str, Any] = {"metric": metric, "ratio": round(ratio, 3)}
        fields: dict[str, Any] = {}
        grew = self._grown_timer(state, start)
        where = ""
        if grew is not None:
            name, delta, domain = grew
            details.update(timer=name, timer_grew_ms=round(delta, 1))
            fields["domain"] = Domain(domain)
            where = f"; {name} grew most (+{format_number(round(delta, 1))} ms)"
        if after_stall is not None:
            details.update(reason="after-stall", stall_s=round(after_stall, 1))
            where += f"; it followed a {format_duration(after_stall)} stall in progress"
        what = "step time" if metric == "step_time_s" else _UNITS[metric]
        return make_event(
            "SLOWDOWN", start,
            f"{what} worse by {ratio:.2f}x "
            f"{f'from step {start.step}' if start.step is not None else f'from line {start.line}'}: "
            f"{format_number(shown_slow)} "
            f"{_UNITS[metric]} against a baseline of {format_number(shown_base)}{where}",
            value=shown_slow, baseline=shown_base, details=details, **fields,
        )

    @staticmethod
    def _grown_timer(state: _Rank, start: StepRecord) -> tuple[str, float, str] | None:
        """The timer that grew most: the latest block against the blocks before the slowdown began."""
        line = start.line or 0
        before = [t for t in state.timers if (t.line or 0) < line]
        after = [t for t in state.timers if (t.line or 0) >= line]
        latest, earlier = (after[-1], before) if after else (before[-1] if before else None, before[:-1])
        if latest is None or not earlier:
            return None
        best: tuple[str, float, str] | None = None
        for name, now in latest.timers.items():
            history = [t.timers[name] for t in earlier if name in t.timers]
            if not history:
                continue
            delta = now - statistics.median(history)
            if best is None or delta > best[1]:
                best = (name, delta, _timer_domain(name, latest, earlier))
        return best if best is not None and best[1] > 0 else None

    def finish(self) -> list[Event]:
        """A slowdown the log ended in (two slow records suffice there), then stragglers: ranks
        slower than their peers over the whole scan."""
        events: list[Event] = []
        for state in self.ranks.values():
            self._erratic_close(state, None, events)
            if state.open:
                self._close(state, None, events)
                continue
            if not state.slow or state.slow[-1] is not state.last:
                continue
            if len(state.slow) >= 2:
                event = self._event(state, state.baseline.exact_level())
            else:
                gap = self._stall_before(state)
                if gap is None:
                    continue
                event = self._event(state, state.baseline.exact_level(), after_stall=gap)
            self._open(state, event, [])
            self._close(state, None, events)
        return events + self._stragglers()

    def _stall_before(self, state: _Rank) -> float | None:
        """The stall that the log's final slow run came after, in seconds, or None.

        Progress stopped for far longer than usual (`stall_factor` times the usual interval between
        progress lines, and `stall_min_s`), resumed at the usual speed for one record (the one whose
        interval holds the gap, often not yet in its printed timing), and then ran slower to the end
        of the log: the stall (reported as such by the stall detector) left the run slower, a
        slowdown as well, seen on fewer records than usual because the log ended. A slow first
        record after the gap proves nothing (its own interval holds the gap), nor does a gap that
        an evaluation or a checkpoint save explains."""
        records = list(state.recent_records)
        first = state.slow[0]
        index = next((i for i in range(len(records) - 1, -1, -1) if records[i] is first), None)
        if index is None or index < 2:
            return None
        before, resumed = records[index - 2], records[index - 1]
        if self.pause_line >= (before.line or 0):
            return None
        times = [r.epoch_s for r in records]
        if any(t is None for t in times):
            return None
        gaps = [b - a for a, b in zip(times, times[1:])]  # type: ignore[operator]
        gap = gaps.pop(index - 2)
        if len(gaps) < 3 or min(gaps) < 0 or resumed.step is None or before.step is None or resumed.step <= before.step:
            return None
        settings = self.settings
        threshold = max(settings.stall_factor * statistics.median(gaps), settings.stall_min_s)
        return gap if gap > threshold else None

    def _stragglers(self) -> list[Event]:
        medians = {  # a median of fewer than `_STRAGGLER_SAMPLES` is when a rank happened to print, no speed
            rank: math.log(statistics.median(state.recent))
            for rank, state in self.ranks.items()
            if rank is not None and len(state.recent) >= _STRAGGLER_SAMPLES
        }
        if len(medians) < 3:
            return []
        events: list[Event] = []
        for rank, median in sorted(medians.items()):
            peers = statistics.median(m for r, m in medians.items() if r != rank)
            ratio = math.exp(median - peers)
            state = self.ranks[rank]
            if ratio >= self.settings.straggler_ratio and state.last is not None:
                metric = state.metric
                value, base = math.exp(median), math.exp(peers)
                if metric in _INVERSE:
                    value, base = 1 / value, 1 / base
                events.append(make_event(
                    "STRAGGLER", state.last,
                    f"rank {rank} is {ratio:.2f}x slower than its peers ({format_number(value)} against "
                    f"{format_number(base)} {_UNITS[metric]})",
                    value=value, baseline=base, details={"metric": metric, "ratio": round(ratio, 3)},
                ))
        return events


def _new_pass(last: StepRecord, record: StepRecord) -> bool:
    """Whether `record` is the first of a new epoch whose count of batches started again: its step
    time holds what a pass costs to begin (data loader workers started again, a shuffle, a sampler's
    set-up: DeiT's first batch of every epoch at 3 s against 0.1 s), as the step after a pause does.
    Epochs are whole numbers here (a fraction of an epoch goes up with every line), and the count
    before was one of batches, not the epoch's own number (an epoch's summary line)."""
    epoch, before, step = record.epoch, last.epoch, record.step
    return (
        epoch is not None and before is not None and epoch > before and epoch.is_integer() and before.is_integer()
        and step is not None and last.step is not None and step < last.step and last.step != before
    )


def _timer_domain(name: str, latest: TimerRecord, earlier: list[TimerRecord]) -> str:
    """The domain a grown timer points at; compute is hardware when its spread across ranks grew too."""
    domain = timer_domain(name)
    if domain != "compute":
        return domain
    spread_then = [t.spread[name] for t in earlier if t.spread and name in t.spread]
    spread_now = (latest.spread or {}).get(name)
    grew_apart = spread_now is not None and bool(spread_then) and spread_now > 2 * statistics.median(spread_then) + 1
    return "hardware" if grew_apart else "software"
