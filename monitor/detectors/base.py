"""What every detector is, and how a detector turns a catalog code into an event.

A detector is a small streaming object: it sees the records of one source in
order, a batch at a time (one call per batch keeps the per-record cost to a
few attribute reads), keeps bounded state per rank, and returns events. It does no I/O and
never reads the wall clock; time comes from the records. Its state can be
snapshotted (compared with `==`, pickled) so that a scan split across
processes can prove it matches a serial one, and a restarted tail can resume.

Episodes. An anomaly (a spike, a divergence, a run of NaN steps, a
slowdown) is an episode: it starts on one record, may peak later, and ends
on a record where things are back to normal, or is still going on when the
input ends. Each episode is ONE event, placed on the record where it
started (its line, step and time), whose `details` carry its extent:

    episode   a stable id: the series, the rank, and the start's file and line
    start     {"step", "line", "time"} of the first anomalous record
    peak      {"step", "value"}
    end       {"step", "line"} of the record where it was over, or
    open      true: still going on when the input ended

How the event leaves the detector depends on the path (`Detector.live`):

- **batch** (`monitor scan`, `report`; the default): a detector holds an
  open episode (its start, peak and a few numbers: bounded state) and emits
  the event once, when the episode has closed or at `finish()`. It knows the
  future by then: a loss episode first taken for a divergence that came
  back is reported as the loss spike it was.
- **live** (`monitor tail`): waiting for the end would be too late, so the
  event is emitted at first detection, and again, as an *update* of the
  same episode, when its verdict changes (a spike that has not come back
  becomes a divergence) and when it ends. Every emission carries the same
  `details.episode` and a rising `details.update` (0 for the first); a
  consumer keeps the latest event per episode id (the live de-duplication
  passes updates through, and webhook or Prometheus consumers dedupe on it).

`Episode` and `Detector.report` implement both: the detector builds the
event for the episode's current state and says whether it is final.

Deliberately not here: parsing, thresholds of particular detectors.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

from monitor.catalog import definition
from monitor.columns import Columns
from monitor.model import Event, Record, StepRecord, trim_evidence


@dataclasses.dataclass
class Episode:
    """One anomaly episode of one series, from its first anomalous record.

    `peak` and `peak_step` follow the worst value (what "worst" means is the
    detector's: the highest loss, the slowest step), `count` the anomalous
    records. `announced` and `updates` are the live path's: the code last
    emitted for it, and how many emissions there were."""

    series: str
    start: Record
    peak: float | None = None
    peak_step: int | None = None
    count: int = 1
    announced: str | None = None
    updates: int = 0

    @property
    def id(self) -> str:
        start = self.start
        rank = "" if start.rank is None else f"/rank{start.rank}"
        return f"{self.series}{rank}@{start.file or ''}:{start.line or 0}"

    def worse(self, value: float | None, record: Record) -> None:
        """Count one more anomalous record, and follow the peak (the highest value)."""
        self.count += 1
        if value is not None and (self.peak is None or value > self.peak):
            self.peak, self.peak_step = value, record.step

    def details(self, end: Record | None, **more: Any) -> dict[str, Any]:
        """The extent fields of the episode's event (`end` None: still open), then `more`."""
        start = self.start
        details: dict[str, Any] = {
            "episode": self.id,
            "start": {"step": start.step, "line": start.line, "time": start.time},
            "peak": {"step": self.peak_step, "value": self.peak},
        }
        if end is None:
            details["open"] = True
        else:
            details["end"] = {"step": end.step, "line": end.line}
        details.update(more)
        return details


class Detector:
    """Base class: implement `observe`, and `finish` for episodes still open at the end."""

    live = False
    """Emit episodes early and update them (`monitor tail`), instead of once when they are known."""

    def observe(self, records: list[Record]) -> list[Event]:
        """Check consecutive records of one source (progress records and
        overflow messages, in line order); return the events they raise."""
        raise NotImplementedError

    def finish(self) -> list[Event]:
        """End of input: events for episodes still open."""
        return []

    def skim(self, batch: Columns) -> bool:
        """Screen a batch in bulk (see `monitor.columns`): True when `observe(batch.records)`
        would raise nothing, with the state brought to where it would have left it; False (and the
        state untouched) when the records must go through `observe`."""
        return False

    def skim_ranks(self, batch: Columns, screen: Callable[[Columns], Callable[[], None] | None]) -> bool:
        """`skim` for a detector whose ranks are independent: `screen` looks at one rank's step
        records and returns what brings that rank's state forward, or None; the batch is skimmed
        when every rank's screen passes, and only then is any state changed."""
        moves = []
        for part in batch.by_rank():
            move = screen(part)
            if move is None:
                return False
            moves.append(move)
        for move in moves:
            move()
        return True

    def snapshot(self) -> dict[str, Any]:
        """The detector's state, comparable with `==` and picklable."""
        return copy.deepcopy(vars(self))

    def restore(self, snapshot: dict[str, Any]) -> None:
        vars(self).update(copy.deepcopy(snapshot))

    def report(self, episode: Episode, event: Event, events: list[Event], *, final: bool, ended: bool = False) -> None:
        """Emit `event`, the episode's event as it now stands, if this path wants it now.

        `final`: the episode is decided (it ended, `ended`, or the input did). The batch path emits
        only final events. The live path emits the first event of an episode, an update when its
        code changed, the event of an episode that ended, and at the end of the input an episode
        whose verdict changed; every emission is numbered in `details.update`."""
        if not self.live:
            if final:
                events.append(event)
            return
        changed = event.code != episode.announced
        if not (changed or ended):
            return
        details = dict(event.details or {})
        details["update"] = episode.updates
        episode.updates += 1
        episode.announced = event.code
        events.append(dataclasses.replace(event, details=details))


Position = tuple[float | None, int]
"""(epoch, step) of a training record."""


def position_of(epoch: float | None, step: int, total: int | None, before: Position | None = None) -> Position:
    """Where a record leaves the run, for `went_back`: a counter that reached its total finished a
    pass (Keras' `370784/370784`, a bar at 100%), so whatever count follows starts a new one and
    goes back from nothing (-1). So did one within a logging interval of its total (`before`: the
    position of the record before it): printed every 20 of 308 batches, a pass ends at `300/308`. A
    record that prints no total right after a finished pass, in its epoch or naming none, is the
    pass's summary (a mean over it, at the step the pass ended on: DeiT's `Averaged stats: ... loss`
    after `Epoch: [27]  [30/31]`): the pass stays finished."""
    if total is None or total <= 0:
        finished = before is not None and before[1] == -1 and (before[0] == epoch or epoch is None)
        if finished and epoch is None:
            return before
    else:
        finished = total <= step or (
            before is not None and before[0] == epoch and 0 <= before[1] < step and total - step < step - before[1]
        )
    return (epoch, -1 if finished else step)


def starts_over(previous: StepRecord, record: StepRecord) -> bool:
    """Whether `record` begins training again from its first step after `previous`, further on: its
    step is 0 or 1, and the epoch went back or the counter counts to another total (a second job in
    the same log, DINO's linear evaluation after its pretraining; a run started again from scratch).
    Whatever the loss did before belongs to another run."""
    step, before = record.step, previous.step
    if step is None or step > 1 or before is None or before <= step:
        return False
    epoch, last_epoch = record.epoch, previous.epoch
    total, last_total = record.total_steps, previous.total_steps
    return (epoch is not None and last_epoch is not None and epoch < last_epoch) or (
        total is not None and last_total is not None and total != last_total
    )


def went_back(previous: Position | None, epoch: float | None, step: int) -> bool:
    """Whether (epoch, step) is earlier than `previous`: steps are compared
    within an epoch when both records carry one, since some frameworks count
    steps per epoch (a new epoch starting its count again is not going back)."""
    if previous is None:
        return False
    last_epoch, last_step = previous
    if epoch is not None and last_epoch is not None and epoch != last_epoch:
        return epoch < last_epoch
    return step < last_step


def make_event(code: str, record: Record, message: str, **fields: Any) -> Event:
    """An event for `code`, located at `record`, with the catalog's kind,
    severity, domain, role and action. `fields` override or add contract fields."""
    entry = definition(code)
    values: dict[str, Any] = {
        "kind": entry.kind,
        "severity": entry.severity,
        "message": message,
        "code": entry.code,
        "file": record.file,
        "line": record.line,
        "time": record.time,
        "step": record.step,
        "rank": record.rank,
        "node": record.node,
        "evidence": trim_evidence(record.text) if record.text else None,
        "action": entry.action,
        "domain": entry.domain,
        "role": entry.role,
    }
    values.update(fields)
    return Event(**values)


def format_number(value: float | None) -> str:
    """A number as people read it in a message: whole numbers in full (a loss
    scale of 65536), others to 4 significant digits, and nan/inf as such."""
    if value is None:
        return "?"
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def format_duration(seconds: float | None) -> str:
    """A duration as people read it in a message: `2h 05m`, `4m 10s`, `37s`."""
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
