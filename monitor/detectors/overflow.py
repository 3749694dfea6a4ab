"""fp16 loss-scale overflows: routine, start-up search, storm, or collapse.

Overflows arrive as explicit scaler messages (DeepSpeed, fairseq, apex,
MindSpore) or as skipped-iteration counters on progress records (Megatron).
Consecutive overflows with no training progress in between form one episode,
reported once:

- at start-up (no progress yet since the start or the last restart, and an
  early step or a high initial scale such as 2^16 or 2^32) the scaler is
  searching for its working scale: one info event when the episode ends
  (LOSS-SCALE-SEARCH);
- in the middle of training, an isolated overflow is routine: one info event
  when the episode ends (LOSS-SCALE-OVERFLOW);
- three overflows mid-run with no clean step between them is a storm
  (the scaler never recovered), and a scale below 1 is a
  collapse: one warning as soon as it is seen (LOSS-SCALE-STORM,
  LOSS-SCALE-COLLAPSE), and nothing more for that episode.

A skip counter can report many overflows in one record (DeepSpeed's
cumulative `skipped=` on the first engine line of a log where most of the
run's steps were skipped): past the start-up, that is a storm at once.

A framework that prints both scaler messages and skip counters reports each
overflow twice; once a rank has printed messages, its counters are not
counted again.

Thresholds: `STORM_OVERFLOWS` in a row (the fairseq maintainers' "bunches of
overflows in a row usually mean the loss is exploding", issue #1895);
`COLLAPSE_SCALE` = 1 (below it gradients overflow unscaled; DeepSpeed's
minimum scale is 1 and fairseq's 1e-4); start-up search from a scale of at
least `SEARCH_SCALE` = 2^16 or within the first `STARTUP_STEPS` steps.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from monitor.columns import Columns, went_back_from
from monitor.detectors.base import Detector, Position, format_number, make_event, position_of, went_back
from monitor.model import Event, LossScaleOverflow, Record, StepRecord

STORM_OVERFLOWS = 3
COLLAPSE_SCALE = 1.0
SEARCH_SCALE = 65536.0
STARTUP_STEPS = 100


def _scale_of(record: StepRecord) -> float | None:
    """The loss scale a record prints, if it is one: Megatron-DeepSpeed prints `loss scale: -1.0` when no
    dynamic scaler runs (bf16 or fp32), a sentinel, not a scale that collapsed."""
    scale = record.loss_scale
    return scale if scale is None or scale > 0 else None


@dataclasses.dataclass(slots=True)
class _Episode:
    first: Record
    startup: bool
    count: int = 0
    first_scale: float | None = None
    last_scale: float | None = None
    last_step: int | None = None
    escalated: bool = False


@dataclasses.dataclass(slots=True)
class _RankState:
    progressed: bool = False  # a training step succeeded since the start or last restart
    messages: bool = False  # this rank prints scaler messages
    position: Position | None = None  # (epoch, step) of the latest training record
    collapsed: bool = False  # a record's loss scale is below the collapse line
    episode: _Episode | None = None
    last_scale: float | None = None  # the loss scale of the latest training record that printed one


def _scales(episode: _Episode) -> str:
    """How the scale moved, as far as the messages said."""
    first, last = episode.first_scale, episode.last_scale
    if first is not None and last is not None and first != last:
        return f"; scale {format_number(first)} → {format_number(last)}"
    return f"; scale now {format_number(last)}" if last is not None else ""


class OverflowDetector(Detector):
    """Raises LOSS-SCALE-SEARCH, -OVERFLOW, -STORM and -COLLAPSE."""

    def __init__(self) -> None:
        self.ranks: dict[int | None, _RankState] = {}

    def _state(self, rank: int | None) -> _RankState:
        """The state of a rank. A line without a rank, in a stream where one
        rank only was ever named, is that rank's: DeepSpeed tags its scaler
        messages `[Rank 0]` while the Hugging Face dicts printed by the same
        process carry no rank, and both must meet in one episode."""
        if rank is None:
            named = [r for r in self.ranks if r is not None]
            if len(named) == 1:
                rank = named[0]
        elif rank not in self.ranks and None in self.ranks and len(self.ranks) == 1:
            self.ranks[rank] = self.ranks.pop(None)  # what was seen unnamed was this rank's
        state = self.ranks.get(rank)
        if state is None:
            state = self.ranks[rank] = _RankState()
        return state

    def observe(self, records: list[Record]) -> list[Event]:
        events: list[Event] = []
        rank: object = object()  # the rank whose state is at hand (none yet)
        known = -1  # how many ranks there were when it was looked up
        for record in records:
            if record.rank is not rank or len(self.ranks) != known:
                rank = record.rank
                state = self._state(record.rank)
                known = len(self.ranks)
            if type(record) is LossScaleOverflow:
                state.messages = True
                scale = record.new_scale if record.new_scale is not None else record.scale
                found = self._overflow(state, record, 1, record.scale, scale)
            elif type(record) is not StepRecord or (record.loss is None and record.eval_loss is not None):
                continue
            else:
                step = record.step
                if step is not None:
                    position = state.position
                    if (
                        position is not None
                        and (step < position[1] or record.epoch != position[0])
                        and went_back(position, record.epoch, step)
                    ):
                        state.progressed = False  # a restarted run searches for its scale again
                    state.position = position_of(record.epoch, step, record.total_steps, position)
                scale, fell_from = _scale_of(record), None
                if scale is not None:
                    if record.skipped is None and not state.messages and state.last_scale is not None and (
                        scale < state.last_scale
                    ):
                        fell_from = state.last_scale  # a dynamic scale only falls on an overflow
                    state.last_scale = scale
                if (
                    fell_from is None
                    and state.episode is None
                    and not record.skipped
                    and not state.collapsed
                    and (scale is None or scale >= COLLAPSE_SCALE)
                ):
                    # the common case: no episode open, nothing skipped
                    if record.loss is not None or record.skipped == 0:
                        state.progressed = True
                    continue
                found = self._step(state, record, fell_from)
            if found:
                events.extend(found)
        return events

    def skim(self, batch: Columns) -> bool:
        """No scaler message, no episode open, nothing skipped and no scale below the collapse line:
        only each rank's position and whether it made progress move."""
        if LossScaleOverflow in batch.kinds or not batch.exact_steps():
            return False
        if len(batch.all_ranks) > 1 and None in batch.all_ranks:
            return False  # unnamed records may belong to a named rank: `observe` sorts them out
        for rank in batch.ranks_in_order():  # what `observe` does first for every record, whatever its kind
            self._state(rank)
        return self.skim_ranks(batch, self._screen)

    def _screen(self, batch: Columns) -> Callable[[], None] | None:
        state = self._state(batch.rank)
        if state.episode is not None or state.collapsed:
            return None
        training = ~(~batch.present("loss") & batch.present("eval_loss"))
        skipped, has_skipped = batch.values("skipped"), batch.present("skipped")
        scale = batch.values("loss_scale")
        has_scale = batch.present("loss_scale") & (scale > 0)  # not a sentinel
        if np.any(training & has_skipped & (skipped != 0)) or np.any(training & has_scale & ~(scale >= COLLAPSE_SCALE)):
            return None
        index = np.flatnonzero(training)
        if not len(index):
            return lambda: None
        with_scale = index[has_scale[index]]
        last_scale = state.last_scale
        if len(with_scale):
            scales = scale[with_scale]
            before = np.concatenate(([np.inf if last_scale is None else last_scale], scales[:-1]))
            if not state.messages and np.any((scales < before) & ~has_skipped[with_scale]):
                return None  # a scale that fell: `observe` counts its overflows
            last_scale = float(scales[-1])
        with_step = index[batch.present("step")[index]]
        back = np.zeros(len(index), dtype=bool)
        end = None
        if len(with_step):
            back[np.searchsorted(index, with_step)], end = went_back_from(batch, with_step, state.position)
        progressed = (batch.present("loss") | (has_skipped & (skipped == 0)))[index]
        decided = np.flatnonzero(progressed | back)

        def move() -> None:
            state.last_scale = last_scale
            if end is not None:
                state.position = end
            if len(decided):
                state.progressed = bool(progressed[decided[-1]])

        return move

    def _step(self, state: _RankState, record: StepRecord, fell_from: float | None = None) -> list[Event] | None:
        step = record.step
        events: list[Event] = []
        # Megatron counts the iterations skipped for a NaN loss among the
        # skipped ones: those are NaNs (the NaN detector's), not overflows.
        overflows = 0 if state.messages else (record.skipped or 0) - (record.nan_count or 0)
        if fell_from is not None:  # no message or counter, but the scale fell: one overflow per halving
            scale = record.loss_scale or 0.0
            ratio = fell_from / scale if scale > 0 else math.inf
            overflows = max(1, round(math.log2(ratio))) if math.isfinite(ratio) else 1
        if overflows > 0:
            found = self._overflow(state, record, overflows, fell_from, record.loss_scale)
            if found:
                events.extend(found)
        progressed = record.loss is not None or record.skipped == 0
        episode = state.episode
        if progressed:
            if episode is not None and (step is None or episode.last_step is None or step > episode.last_step):
                events.extend(self._close(state))
            state.progressed = True
        scale = _scale_of(record)
        if scale is not None:
            if scale < COLLAPSE_SCALE and not state.collapsed and not (episode and episode.escalated):
                events.append(make_event(
                    "LOSS-SCALE-COLLAPSE", record,
                    f"loss scale is {format_number(scale)}, below {format_number(COLLAPSE_SCALE)}",
                    value=scale, baseline=COLLAPSE_SCALE,
                ))
            state.collapsed = scale < COLLAPSE_SCALE
        return events or None

    def _overflow(
        self, state: _RankState, record: Record, count: int, scale: float | None, new_scale: float | None
    ) -> list[Event] | None:
        episode = state.episode
        if episode is None:
            known_scale = scale if scale is not None else new_scale
            startup = not state.progressed and (
                (record.step is not None and record.step <= STARTUP_STEPS) or (known_scale or 0.0) >= SEARCH_SCALE
            )
            episode = state.episode = _Episode(first=record, startup=startup, first_scale=scale)
        episode.count += count
        episode.last_scale = new_scale if new_scale is not None else episode.last_scale
        if record.step is not None:
            episode.last_step = record.step
        if episode.escalated:
            return None
        if new_scale is not None and new_scale < COLLAPSE_SCALE and not state.collapsed:
            episode.escalated = True
            state.collapsed = True
            return [make_event(
                "LOSS-SCALE-COLLAPSE", record,
                f"loss scale fell to {format_number(new_scale)} after {episode.count} overflow(s)",
                value=new_scale, baseline=episode.first_scale, count=episode.count,
            )]
        if not episode.startup and episode.count >= STORM_OVERFLOWS:
            episode.escalated = True
            first = episode.first
            steps = ""
            if first.step is not None:
                last = episode.last_step if episode.last_step is not None else first.step
                steps = f" at step {first.step}" if last == first.step else f" from step {first.step} to {last}"
            if first is record and count == episode.count and type(record) is StepRecord:
                # one record said it all since the previous one (or the run's start): its printed scale
                # fell that many halvings (`scale`, the scale before), or its counter counted them
                how = "about {} loss-scale overflows{}, as the printed scale fell" if scale is not None else (
                    "{} steps skipped for loss-scale overflow, as counted{}")
                message = how.format(count, steps) + _scales(episode)
            else:
                message = (
                    f"{episode.count} loss-scale overflows{steps} with no clean step between them{_scales(episode)}"
                )
            return [make_event(
                "LOSS-SCALE-STORM", first,
                message,
                value=episode.last_scale, baseline=episode.first_scale, count=episode.count,
            )]
        return None

    def _close(self, state: _RankState) -> list[Event]:
        episode, state.episode = state.episode, None
        if episode is None or episode.escalated:
            return []
        first = episode.first
        where = f" at step {first.step}" if first.step is not None else ""
        if episode.startup:
            return [make_event(
                "LOSS-SCALE-SEARCH", first,
                f"start-up loss-scale search: {episode.count} overflow(s){where}{_scales(episode)}",
                value=episode.last_scale, baseline=episode.first_scale, count=episode.count,
            )]
        return [make_event(
            "LOSS-SCALE-OVERFLOW", first,
            f"{episode.count} loss-scale overflow(s){where}{_scales(episode)}",
            value=episode.last_scale, baseline=episode.first_scale, count=episode.count,
        )]

    def finish(self) -> list[Event]:
        events: list[Event] = []
        for state in self.ranks.values():
            events.extend(self._close(state))
        return events
