"""From many raw events to the few an operator must read: fold, order, explain.

Runs once over the events of every scanned source (all ranks and nodes):

1. **Order**: by time where the lines carry one; an event without a time
   takes the later of the last timestamped progress line before it
   (`details.approx_time`) and the last timed event before it in its file;
   ties keep file and line order.
2. **Fold**: identical faults become one event with a `count` and the
   `ranks` and `nodes` that showed it: the same NCCL error from 1000 ranks,
   the same line 10 000 times. Faults on a device fold per node and device
   (Xid 79 on two nodes stays two events); training-health events fold only
   within the same step (one NaN seen by every rank). A fold ends at a restart
   of its file or after a quiet gap: a later recurrence is a new episode. A
   fault in a log without times is not folded with one from a log with times
   (they are not the same incident).
3. **Explain**: a fault whose catalog role is `cascade` (a NCCL timeout, a
   launcher's ChildFailedError, a Slurm task failure) names as `cause` the
   latest root fault before it; a root fault that follows a hardware or
   interconnect fault within minutes, on the same node or where the node is
   not known, is its cascade too.
4. **Persistence**: a fault with two or more episodes on the same
   node/device is `persistent`: a platform problem to escalate, not to retry.
   An episode ends at a quiet gap, at a restart of the run seen in any of its
   files (a node's plog shows the fault, the launcher's log the restarts), or
   when a device's fault comes back from another process (a new PID: the
   next attempt).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from monitor.model import (
    EPISODE_GAP_S,
    MAX_LISTED,
    Domain,
    Event,
    Kind,
    Role,
    Severity,
    epoch_of,
    fold_key,
    last_time,
)
from monitor.runs import run_directory

FAULT_KINDS = frozenset({Kind.DEVICE_FAULT, Kind.COMM_ERROR, Kind.OOM, Kind.CRASH, Kind.HANG})
CASCADE_WINDOW_S = 2 * 3600.0
"""How long after a root fault a cascade can still be its consequence (NCCL's default timeout is 30 min)."""
SAME_NODE_WINDOW_S = 10 * 60.0
"""How long after a hardware fault other faults on the same node are its consequences."""
_HARDWARE = (Domain.HARDWARE, Domain.INTERCONNECT)



@dataclasses.dataclass
class _Occurrence:
    event: Event
    epoch: float | None
    order: tuple[float, int, int]


def _ordered(events: Sequence[Event]) -> list[_Occurrence]:
    """Events with their sort keys, in time order (file and line order where times are missing)."""
    files: dict[str | None, int] = {}
    last_epoch: dict[str | None, float] = {}
    found: list[_Occurrence] = []
    for event in events:
        file_index = files.setdefault(event.file, len(files))
        epoch = epoch_of(event.time)
        if epoch is not None:
            last_epoch[event.file] = epoch
        if epoch is None:  # the latest of: the last timed progress line, the last timed event in the file
            approx = epoch_of((event.details or {}).get("approx_time"))
            effective = max(approx if approx is not None else -math.inf, last_epoch.get(event.file, -math.inf))
        else:
            effective = epoch
        found.append(_Occurrence(event, epoch, (effective, file_index, event.line or 0)))
    found.sort(key=lambda o: o.order)
    return found


@dataclasses.dataclass
class _Fold:
    """One episode of one fault, being folded."""

    first: Event
    epoch: float | None
    last_epoch: float | None
    order: tuple[float, int, int]
    count: int = 0
    ranks: set[int] = dataclasses.field(default_factory=set)
    nodes: set[str] = dataclasses.field(default_factory=set)
    last_lines: dict[str | None, int] = dataclasses.field(default_factory=dict)
    last_time: str | None = None
    episode: int = 1

    def add(self, event: Event) -> None:
        self.count += event.count or 1
        for rank in event.ranks or ((event.rank,) if event.rank is not None else ()):
            if len(self.ranks) < MAX_LISTED:
                self.ranks.add(rank)
        for node in event.nodes or ((event.node,) if event.node else ()):
            if len(self.nodes) < MAX_LISTED:
                self.nodes.add(node)
        self.last_lines[event.file] = (event.details or {}).get("last_line") or event.line or 0
        seen = last_time(event)
        if seen is not None and epoch_of(seen) is not None:
            self.last_epoch = epoch_of(seen)
            self.last_time = seen


def _fold(occurrences: list[_Occurrence]) -> list[_Fold]:
    folds: list[_Fold] = []
    open_folds: dict[tuple[Any, ...], _Fold] = {}
    episodes: dict[tuple[Any, ...], int] = {}
    restarted: dict[str | None, tuple[float | None, int]] = {}  # file -> (epoch, line) of its latest restart
    run_restarted: dict[str, float] = {}  # run -> epoch of its latest timed restart, seen in any of its files
    for occurrence in occurrences:
        event = occurrence.event
        if event.kind is Kind.RESTART:
            restarted[event.file] = (occurrence.epoch, event.line or 0)
            if occurrence.epoch is not None:
                run_restarted[_run(event)] = occurrence.epoch
        key = fold_key(event)
        current = open_folds.get(key)
        if (
            current is not None
            and _continues(current, occurrence, restarted)
            and not _restarted_between(current, occurrence, run_restarted)
            and not _other_process(current, event)
        ):
            current.add(event)
            continue
        episodes[key] = episodes.get(key, 0) + 1
        fold = _Fold(event, occurrence.epoch, occurrence.epoch, occurrence.order, episode=episodes[key])
        fold.add(event)
        open_folds[key] = fold
        folds.append(fold)
    return folds


def _continues(fold: _Fold, occurrence: _Occurrence, restarted: dict[str | None, tuple[float | None, int]]) -> bool:
    """Whether an occurrence belongs to the fold's episode (no quiet gap, no restart in between)."""
    event = occurrence.event
    dated, fold_dated = occurrence.order[0] > -math.inf, fold.order[0] > -math.inf
    if dated != fold_dated:
        return False  # one comes from a log with times, the other from one without: not one incident
    gap = None if occurrence.epoch is None or fold.last_epoch is None else occurrence.epoch - fold.last_epoch
    if gap is not None and gap > EPISODE_GAP_S:
        return False
    restart = restarted.get(event.file)
    if restart is None:
        return True
    restart_epoch, restart_line = restart
    if restart_epoch is not None and occurrence.epoch is not None and fold.last_epoch is not None:
        return not (fold.last_epoch <= restart_epoch <= occurrence.epoch)
    last_line = fold.last_lines.get(event.file)
    return last_line is None or not (last_line < restart_line <= (event.line or 0))


def _run(event: Event) -> str:
    """The run of an event: its own, else its file's run directory (events from a bare API call)."""
    return event.run or run_directory(event.file or "")


def _restarted_between(fold: _Fold, occurrence: _Occurrence, run_restarted: dict[str, float]) -> bool:
    """Whether the run restarted (in any of its files) between the fold's last occurrence and this one."""
    restart = run_restarted.get(_run(occurrence.event))
    if restart is None or occurrence.epoch is None or fold.last_epoch is None:
        return False
    return fold.last_epoch <= restart <= occurrence.epoch


def _other_process(fold: _Fold, event: Event) -> bool:
    """Whether a device's fault comes back from another process (the PID changed): a new attempt."""
    if not event.device:
        return False
    before, now = (fold.first.details or {}).get("pid"), (event.details or {}).get("pid")
    return before is not None and now is not None and before != now


def _folded(fold: _Fold, persistent: bool) -> Event:
    event = fold.first
    changes: dict[str, Any] = {}
    if fold.count > 1 or len(fold.ranks) > 1 or len(fold.nodes) > 1:
        changes.update(
            count=fold.count,
            ranks=tuple(sorted(fold.ranks)) or None,
            nodes=tuple(sorted(fold.nodes)) or None,
        )
        if fold.last_time and fold.last_time != event.time:
            changes["details"] = {**(event.details or {}), "last_time": fold.last_time}
    if fold.episode > 1 or persistent:
        details = dict(changes.get("details", event.details) or {})
        details["episode"] = fold.episode
        changes["details"] = details
    if persistent and event.kind in FAULT_KINDS:
        changes["persistent"] = True
    return dataclasses.replace(event, **changes) if changes else event


def _explain(folds: list[_Fold]) -> list[Event]:
    """The folded events with roles and causes, in order."""
    episodes: dict[tuple[Any, ...], int] = {}
    for fold in folds:
        key = fold_key(fold.first)
        episodes[key] = max(episodes.get(key, 0), fold.episode)
    roots: list[tuple[_Fold, Event]] = []
    out: list[Event] = []
    for fold in folds:
        event = _folded(fold, episodes[fold_key(fold.first)] > 1)
        if event.kind in FAULT_KINDS and event.role is not None:
            cause = _cause(event, fold, roots)
            if cause is not None and event.role is Role.ROOT and _better_evidence(event, cause):
                # the same incident, seen first in a line without a time or device (a Python traceback)
                # and then in the kernel's own timed line naming the device: the latter is the root
                index = out.index(cause)
                out[index] = dataclasses.replace(cause, role=Role.CASCADE, cause=event.label())
                roots = [(f, e) for f, e in roots if e is not cause] + [(fold, event)]
            elif cause is not None:
                event = dataclasses.replace(event, role=Role.CASCADE, cause=cause.label())
            elif event.role is Role.ROOT:
                roots.append((fold, event))
        out.append(event)
    return out


def _better_evidence(event: Event, earlier: Event) -> bool:
    """Whether `event` pins the same fault down better than the root found `earlier`: it has a
    time and a device where the earlier one has neither, in the same domain."""
    return (
        event.time is not None and earlier.time is None and event.device is not None and earlier.device is None
        and event.domain == earlier.domain
    )


def _cause(event: Event, fold: _Fold, roots: list[tuple[_Fold, Event]]) -> Event | None:
    """The earlier root fault that explains `event`, if any."""
    for root_fold, root in reversed(roots):
        gap = _gap(root_fold, fold)
        if event.role is Role.CASCADE:
            if gap is None or gap <= CASCADE_WINDOW_S:
                return root
            continue
        same_place = root.node == event.node if root.node and event.node else True  # an unknown node may be it
        soon = gap is None or gap <= SAME_NODE_WINDOW_S
        # two hardware faults of two different devices are two faults (a health report lists every GPU)
        other_device = bool(root.device and event.device and root.device != event.device) and (
            event.domain in _HARDWARE
        )
        if root.domain in _HARDWARE and same_place and soon and root.code != event.code and not other_device:
            return root
    return None


def _gap(earlier: _Fold, later: _Fold) -> float | None:
    """Seconds between two folds; a fold without a time of its own takes the time of the last
    timed line before it in its file (None when there is none)."""
    start = earlier.last_epoch or earlier.epoch or _finite_or_none(earlier.order[0])
    end = later.epoch if later.epoch is not None else _finite_or_none(later.order[0])
    if start is None or end is None:
        return None
    return end - start


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


_LAUNCHER_REPORT = "TORCHELASTIC-CHILD-FAILED"
_PEER_KINDS = (Kind.COMM_ERROR, Kind.CRASH, Kind.HANG)


def _first_death(events: list[Event]) -> list[Event]:
    """The process that died first is the root of what its peers report after it.

    When a rank is killed (SIGKILL, the OOM killer) it prints nothing, and the first lines about
    it are its peers' `Connection closed by peer`, gloo and NCCL errors. torchelastic's Root
    Cause block ("first observed failure") names the rank that died first: its own fault (an
    exception, an OOM on that rank), or else its death itself, is the root; the other ranks'
    errors and deaths of that attempt, and the launcher's reports, are its cascades. A fault with
    a hardware or interconnect root keeps it.
    """
    by_label = {event.label(): event for event in events}
    out = list(events)
    start = 0
    for index, report in enumerate(events):
        if report.code != _LAUNCHER_REPORT or report.rank is None:
            if report.kind is Kind.RESTART:
                start = index + 1  # a new attempt: earlier faults are not its business
            continue
        attempt = range(start, _attempt_end(events, index))
        start = index + 1
        if _hardware_cause(report, by_label):
            continue
        rank, pid = report.rank, (report.details or {}).get("pid")
        own = [i for i in attempt if i != index and out[i].rank == rank and out[i].severity >= Severity.ERROR
               and out[i].kind in FAULT_KINDS]
        death = [i for i in attempt if i != index and pid is not None and (out[i].details or {}).get("pid") == pid
                 and out[i].kind is Kind.CRASH]
        root_at = own[0] if own else (death[0] if death else index)
        root = out[root_at]
        if not own:  # the death itself: nothing else names the rank
            root = dataclasses.replace(root, role=Role.ROOT, cause=None, rank=rank)
            out[root_at] = root
        label = root.label()
        for i in attempt:
            event = out[i]
            if i == root_at or event.kind not in _PEER_KINDS or _hardware_cause(event, by_label):
                continue
            if i in death or i == index or (event.rank != rank and (event.cause is None or event.role is Role.ROOT
                                                                     or event.cause == events[root_at].cause)):
                out[i] = dataclasses.replace(event, role=Role.CASCADE, cause=label)
    return out


def _attempt_end(events: list[Event], report: int) -> int:
    """Where the attempt a launcher report ends belongs to stops: at the next restart."""
    for index in range(report + 1, len(events)):
        if events[index].kind is Kind.RESTART:
            return index
    return len(events)


def _hardware_cause(event: Event, by_label: dict[str, Event]) -> bool:
    """Whether the chain of causes of `event` leads to a hardware or interconnect fault."""
    seen = 0
    while event.cause and seen < 64:
        cause = by_label.get(event.cause)
        if cause is None:
            return False
        if cause.domain in _HARDWARE:
            return True
        event, seen = cause, seen + 1
    return False


def correlate(events: Iterable[Event]) -> list[Event]:
    """Fold, order and explain the events of a whole scan (see the module docstring), run by run:
    nothing is folded, linked or called persistent across two runs."""
    occurrences = _ordered(list(events))
    by_run: dict[str | None, list[_Occurrence]] = {}
    for occurrence in occurrences:
        by_run.setdefault(occurrence.event.run, []).append(occurrence)
    explained: list[tuple[tuple[float, int, int], Event]] = []
    for group in by_run.values():
        folds = _fold(group)
        explained.extend(zip((fold.order for fold in folds), _first_death(_explain(folds))))
    explained.sort(key=lambda pair: pair[0])
    return [event for _order, event in explained]


class LiveCausality:
    """Cause links while following logs: the same rules as `correlate`, one batch at a time.

    A new fault whose catalog role is `cascade` names the latest root fault before it (within
    two hours); a root fault that follows a hardware or interconnect fault on the same node
    within minutes is its cascade. The recent roots are kept (at most `max_roots`), so memory
    stays flat however long the run. `root` is the root of the current incident: the latest
    root fault that explained another event.
    """

    def __init__(self, run: str | None = None, max_roots: int = 64) -> None:
        self.run = run
        self.max_roots = max_roots
        self.roots: list[tuple[_Fold, Event]] = []
        self.root: Event | None = None

    def explain(self, events: Sequence[Event], now: float | None = None) -> list[Event]:
        """`events` (in the order they were read) with their run, and roles and causes from the
        roots seen so far; `now` stands in for the time of events whose lines carry none."""
        out = []
        for event in events:
            if self.run is not None and event.run is None:
                event = dataclasses.replace(event, run=self.run)
            if event.kind in FAULT_KINDS and event.role is not None and event.cause is None:
                epoch = epoch_of(event.time)
                if epoch is None:
                    epoch = now
                fold = _Fold(event, epoch, epoch, (epoch if epoch is not None else -math.inf, 0, event.line or 0))
                cause = _cause(event, fold, self.roots)
                if cause is not None:
                    event = dataclasses.replace(event, role=Role.CASCADE, cause=cause.label())
                    self.root = cause
                elif event.role is Role.ROOT:
                    self.roots = [*self.roots[-(self.max_roots - 1):], (fold, event)]
            out.append(event)
        return out
