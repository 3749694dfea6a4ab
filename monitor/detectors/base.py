"""What every detector is, and how a detector turns a catalog code into an event.

A detector is a small streaming object: it sees the records of one source in
order, a batch at a time (one call per batch keeps the per-record cost to a
few attribute reads), keeps bounded state per rank, and returns events. It does no I/O and
never reads the wall clock; time comes from the records. Its state can be
snapshotted (compared with `==`, pickled) so that a scan split across
processes can prove it matches a serial one, and a restarted tail can resume.

Deliberately not here: parsing, thresholds of particular detectors.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from monitor.catalog import definition
from monitor.model import Event, Record, trim_evidence


class Detector:
    """Base class: implement `observe`, and `finish` for episodes still open at the end."""

    def observe(self, records: list[Record]) -> list[Event]:
        """Check consecutive records of one source (progress records and
        overflow messages, in line order); return the events they raise."""
        raise NotImplementedError

    def finish(self) -> list[Event]:
        """End of input: events for episodes still open."""
        return []

    def snapshot(self) -> dict[str, Any]:
        """The detector's state, comparable with `==` and picklable."""
        return copy.deepcopy(vars(self))

    def restore(self, snapshot: dict[str, Any]) -> None:
        vars(self).update(copy.deepcopy(snapshot))


Position = tuple[float | None, int]
"""(epoch, step) of a training record."""


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
