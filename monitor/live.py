"""The live pipeline of `monitor tail`: followed lines → the scan's parsers and detectors → alerts.

The same `SourceScan` as `monitor scan` runs on each followed file, batch by
batch, so a live alert and a post-mortem finding are the same event. Live
following adds three things:

- **No-progress watch** (`HangWatch`): per source and rank, the time the last
  progress line arrived and the usual interval between them; past
  `max(hang_factor x median interval, hang_min_s)` (or `--hang-after`) a
  `NO-PROGRESS` hang is raised, and `PROGRESS-RESUMED` clears it. Until a
  rank's usual interval is known (its first steps, and again after a
  restart) the longer `hang_init_s` allowance applies, and after a checkpoint
  save or an evaluation `hang_pause_s`. A file that never prints progress (a
  kernel log) is never called hung. `next_deadline` tells the main loop when
  to wake, so the event fires on time.
- **Alert de-duplication** (`Deduper`): the same finding repeated within an
  episode (30 minutes) is counted but not re-announced. Training-health
  detectors run in their live mode here: an anomaly episode is announced at
  first detection and updated (a spike that has not come back becomes a
  divergence; the episode ended) under the same `details.episode`, with a
  rising `details.update`; those updates are always passed on, and a consumer
  keeps the latest event per episode id.
- **Replay** (`Replayer`): a finished log fed at SPEED times its own pace,
  with its timestamps as the clock, for demos and for testing alert rules.

Memory stays flat however many ranks and files come and go (a per-node agent
runs for months): at most `tail_max_ranks_per_file` ranks of one file and
`tail_max_ranks` in all are watched (the records of further ranks are left
out before the detectors see them, and counted in `records_dropped`); a file
that is deleted (`forget`), silent for `tail_forget_idle_seconds`, or the
least recently active beyond `tail_max_files` loses its parser, detector and
no-progress state (if it writes again, it starts afresh); announced findings
older than an episode are let go. A run that says it stops on purpose (a
planned exit or the end-of-training summary, `parsers/exits.py`) is no longer
watched for progress, so a finished run is never called hung; once its file
has been quiet for `FINISHED_QUIET_S` its state is let go as well.

Time is injected (`clock`), so tests never sleep.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import statistics
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

from monitor.catalog import Catalog, load
from monitor.detectors import new_detectors
from monitor.detectors.base import format_duration, make_event
from monitor.model import EPISODE_GAP_S, Event, Heartbeat, Pause, StepRecord, fold_key
from monitor.parsers.timestamps import find_timestamp
from monitor.pipeline import SourceScan
from monitor.settings import Settings
from monitor.sources.files import Source
from monitor.sources.lines import Batch

RankKey = tuple[str, int | None]
"""(source name, rank)."""

FINISHED_QUIET_S = 10.0
"""A file whose run said it finished is let go once quiet this long (its last lines, the summary after
the end-of-training line, come at once); later lines, a new attempt appended, start afresh."""
SWEEP_EVERY_S = 10.0


@dataclasses.dataclass
class _Watch:
    """One rank's progress, as it arrives."""

    last_arrival: float
    last_step: int | None = None
    last_record: StepRecord | None = None
    node: str | None = None
    intervals: collections.deque[float] = dataclasses.field(default_factory=lambda: collections.deque(maxlen=20))
    paused_at: float | None = None  # a checkpoint save or an evaluation was announced at this time
    hanging: bool = False
    step_time: float | None = None
    steps_per_line: int = 1


class HangWatch:
    """No-progress deadlines per (source, rank)."""

    def __init__(self, settings: Settings, hang_after: float | None = None) -> None:
        self.settings = settings
        self.hang_after = hang_after
        self.ranks: dict[RankKey, _Watch] = {}

    def progress(self, name: str, record: StepRecord, now: float) -> Event | None:
        """A progress record arrived; returns PROGRESS-RESUMED when it ends a hang."""
        key = (name, record.rank)
        watch = self.ranks.get(key)
        if watch is None:
            watch = self.ranks[key] = _Watch(now)
        elif record.step is not None and watch.last_step is not None:
            if record.step == watch.last_step and not watch.hanging:
                return None  # another line about the same step
            if record.step < watch.last_step:
                watch.intervals.clear()  # a restart: start-up again, with its allowance
                watch.step_time = None
            elif record.step > watch.last_step and watch.paused_at is None:
                watch.intervals.append(now - watch.last_arrival)
                watch.steps_per_line = record.step - watch.last_step
        if record.step_time_s is not None and record.step_time_s > 0:
            watch.step_time = record.step_time_s
        resumed = None
        if watch.hanging:
            silent = format_duration(now - watch.last_arrival)
            resumed = make_event(
                "PROGRESS-RESUMED", record, f"progress resumed at step {record.step} after {silent} without it",
                file=name, value=now - watch.last_arrival,
            )
        watch.last_arrival, watch.last_step, watch.last_record = now, record.step, record
        watch.node = record.node or watch.node
        watch.paused_at = None
        watch.hanging = False
        return resumed

    def finish(self, name: str) -> None:
        """The run in `name` said it stops on purpose: no progress is due from it any more."""
        for key in [key for key in self.ranks if key[0] == name]:
            del self.ranks[key]

    def pause(self, name: str, now: float) -> None:
        """A checkpoint save or an evaluation was announced in `name`: allow for it."""
        for (source, _rank), watch in self.ranks.items():
            if source == name:
                watch.paused_at = now

    def usual(self, watch: _Watch) -> float | None:
        if len(watch.intervals) >= 3:
            return statistics.median(watch.intervals)
        if watch.step_time is not None:
            return watch.step_time * watch.steps_per_line
        return None

    def deadline(self, watch: _Watch) -> float:
        settings = self.settings
        if watch.paused_at is not None:
            return watch.paused_at + settings.hang_pause_s
        if self.hang_after is not None:
            return watch.last_arrival + self.hang_after
        usual = self.usual(watch)
        if usual is None:
            return watch.last_arrival + settings.hang_init_s
        return watch.last_arrival + max(settings.hang_factor * usual, settings.hang_min_s)

    def next_deadline(self) -> float | None:
        pending = [self.deadline(w) for w in self.ranks.values() if not w.hanging]
        return min(pending) if pending else None

    def check(self, now: float) -> list[Event]:
        """NO-PROGRESS events for ranks whose deadline has passed."""
        events = []
        for (name, _rank), watch in self.ranks.items():
            if watch.hanging or now < self.deadline(watch):
                continue
            watch.hanging = True
            usual = self.usual(watch)
            record = watch.last_record
            assert record is not None
            usual_text = f"usually {format_duration(usual)} between progress lines" if usual else "no usual interval"
            silent = format_duration(now - watch.last_arrival)
            events.append(make_event(
                "NO-PROGRESS", record, f"no progress for {silent} after step {watch.last_step} ({usual_text})",
                file=name, value=now - watch.last_arrival, baseline=usual,
            ))
        return events

    def hanging(self) -> list[RankKey]:
        return [key for key, watch in self.ranks.items() if watch.hanging]


class Deduper:
    """Announce a finding once per episode; count every occurrence."""

    def __init__(self, gap_s: float = EPISODE_GAP_S) -> None:
        self.gap_s = gap_s
        self.announced: dict[tuple[Any, ...], float] = {}

    def prune(self, now: float) -> None:
        """Let go of findings last seen more than an episode ago: they would be announced again anyway."""
        stale = [key for key, last in self.announced.items() if now - last > self.gap_s]
        for key in stale:
            del self.announced[key]

    def fresh(self, event: Event, now: float) -> bool:
        if event.code in ("NO-PROGRESS", "PROGRESS-RESUMED"):
            return True
        if event.details and "episode" in event.details:
            return True  # a detector's episode: emitted once, then updates of it (the same details.episode)
        key = (*fold_key(event), event.file if event.device is None else None)
        last = self.announced.get(key)
        self.announced[key] = now
        return last is None or now - last > self.gap_s


class LiveScan:
    """Followed batches in, events out: one `SourceScan` per followed file."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | None = None,
        hang_after: float | None = None,
        on_record: Callable[[str, StepRecord, float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or load()
        self.clock = clock  # for deadlines
        self.wall = wall  # for episodes, which outlive a restart of the monitor
        self.hangs = HangWatch(settings, hang_after)
        self.dedupe = Deduper()
        self.on_record = on_record
        self.scans: dict[str, SourceScan] = {}
        self.pending: list[Event] = []
        self.records_dropped = 0
        """Records of ranks beyond `tail_max_ranks_per_file` or `tail_max_ranks`, not watched (a counter)."""
        self.forgotten = 0
        """Files whose state was let go (deleted, idle, or beyond `tail_max_files`), a counter."""
        self._watched: dict[str, set[int | None]] = {}  # the ranks admitted, per file
        self._watched_total = 0
        self._active: collections.OrderedDict[str, float] = collections.OrderedDict()  # file -> last batch
        self._next_sweep = clock() + SWEEP_EVERY_S
        self._let_go: list[str] = []
        self._finished: dict[str, float] = {}  # files whose run said it stops on purpose

    def scan_for(self, name: str, path: str | None) -> SourceScan:
        scan = self.scans.get(name)
        if scan is None:
            scan = self.scans[name] = SourceScan(Source(name, path), self.catalog, self.settings)
            scan.detectors = new_detectors(self.settings, live=True)  # episodes announced early, then updated
            scan.on_records = lambda batch, name=name: self._records(name, batch.records())
            while len(self._active) >= self.settings.tail_max_files:
                self.forget(next(iter(self._active)))  # the least recently active
            self._active[name] = self.clock()
        return scan

    def _admit(self, name: str, records: list[Any]) -> None:
        """Leave out, in place, the records of ranks over the caps (before the detectors see them:
        `SourceScan._detect` hands the same list on)."""
        watched = self._watched.setdefault(name, set())
        settings = self.settings
        kept = []
        for record in records:
            rank = getattr(record, "rank", None)
            if rank not in watched:
                if len(watched) >= settings.tail_max_ranks_per_file or self._watched_total >= settings.tail_max_ranks:
                    self.records_dropped += 1
                    continue
                watched.add(rank)
                self._watched_total += 1
            kept.append(record)
        if len(kept) != len(records):
            records[:] = kept

    def _records(self, name: str, records: list[Any]) -> None:
        now = self.clock()
        self._admit(name, records)
        for record in records:
            kind = type(record)
            if kind is StepRecord:
                if self._finished and name in self._finished:
                    del self._finished[name]  # progress again: a new attempt
                if record.is_eval:
                    self.hangs.pause(name, now)
                    continue
                resumed = self.hangs.progress(name, record, now)
                if resumed is not None:
                    self.pending.append(resumed)
                if self.on_record is not None:
                    self.on_record(name, record, now)
            elif kind is Pause and record.end:
                self.hangs.finish(name)
                self._finished[name] = now
            elif kind is Pause:
                self.hangs.pause(name, now)
            elif kind is Heartbeat:
                continue

    def feed(self, name: str, path: str | None, batch: Batch) -> list[Event]:
        """Events raised by one followed batch (faults held back while repeating are handed over)."""
        scan = self.scan_for(name, path)
        self._active[name] = self.clock()
        self._active.move_to_end(name)
        events = scan.process(batch)
        events.extend(scan.faults.flush())
        events.extend(self.pending)
        self.pending = []
        return sorted(events, key=lambda e: e.line or 0)

    def check(self) -> list[Event]:
        """Deadlines that have passed."""
        return self.hangs.check(self.clock())

    def forget(self, name: str) -> None:
        """Let go of everything about `name` (its file is gone): no event, no hang, from it again."""
        scan = self.scans.pop(name, None)
        self._active.pop(name, None)
        self._finished.pop(name, None)
        ranks = self._watched.pop(name, set())
        self._watched_total -= len(ranks)
        for rank in ranks:  # every watched rank was admitted first
            self.hangs.ranks.pop((name, rank), None)
        if scan is not None:
            self.forgotten += 1
            self._let_go.append(name)

    def let_go(self) -> list[str]:
        """The files forgotten since the last call (for the sinks to drop them too); drained."""
        names, self._let_go = self._let_go, []
        return names

    def sweep(self, followed: Collection[str] | None = None) -> list[str]:
        """Forget files silent for `tail_forget_idle_seconds`, and those whose run finished and that
        have been quiet for `FINISHED_QUIET_S`; let go of old announced findings. Runs at most every
        `SWEEP_EVERY_S` of the clock. With `followed` (the names the follower still reads), any other
        file is let go too: whatever way a file was lost, it is never called hung. Returns the files
        forgotten."""
        now = self.clock()
        if now < self._next_sweep:
            return []
        self._next_sweep = now + SWEEP_EVERY_S
        idle = now - self.settings.tail_forget_idle_seconds
        names = [name for name, last in self._active.items() if last <= idle]  # oldest first
        names += [name for name in self._finished if self._active.get(name, now) <= now - FINISHED_QUIET_S
                  and name not in names]
        if followed is not None:
            names += [name for name in self._active if name not in followed and name not in names]
        for name in names:
            self.forget(name)
        self.dedupe.prune(self.wall())
        return names

    def finish(self) -> list[Event]:
        events: list[Event] = []
        for scan in self.scans.values():
            events.extend(scan.finish())
        return events

    def announce(self, events: Sequence[Event]) -> list[Event]:
        """The events worth announcing now (repeats within an episode are left out)."""
        now = self.wall()
        return [event for event in events if self.dedupe.fresh(event, now)]

    def snapshot(self) -> dict[str, Any]:
        return {name: scan.snapshot() for name, scan in self.scans.items()}

    def restore(self, snapshot: dict[str, Any], paths: dict[str, str | None]) -> None:
        for name, state in snapshot.items():
            self.scan_for(name, paths.get(name, name)).restore(state)


class Replayer:
    """Finished logs fed as if live, at `speed` times their own pace.

    Lines are merged across files by their timestamps (a line without one
    keeps the time of the line before it in its file); `clock()` is the log's
    own time, so the no-progress watch sees the log's gaps as they were. The
    caller checks deadlines before feeding each line, and `batches` stops the
    clock at every deadline a silent stretch holds, so a hang is raised in the
    stretch at its deadline (reached after the log time in between divided by
    `speed`), as it would be live, not when the next line comes. A wait longer
    than `MAX_WAIT_S` is cut short and the pace starts again from there (the
    rest of that gap is skipped).
    """

    MAX_WAIT_S = 60.0

    def __init__(self, sources: Sequence[Source], speed: float, year: int, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.sources = sources
        self.speed = max(speed, 1e-6)
        self.year = year
        self.sleep = sleep
        self.wall = wall
        self.log_time: float | None = None
        self._anchor: tuple[float, float] | None = None  # (log time, wall time) when replay began

    def clock(self) -> float:
        """The log time now: the time of the line being released (so deadlines fall between
        lines exactly as they would have live, however fast the replay)."""
        return self.log_time if self.log_time is not None else 0.0

    def _lines(self, index: int, source: Source) -> Iterator[tuple[float, int, int, str]]:
        from monitor.sources.files import SourceError, open_source
        from monitor.sources.lines import ReadStats, read_batches

        last = float("-inf")
        year = self.year
        try:
            stream = open_source(source)
        except SourceError:
            return
        with stream:
            for batch in read_batches(stream, source.name, ReadStats()):
                for number, line in batch.numbered():
                    stamp = find_timestamp(line[:64], year)
                    if stamp is not None:
                        last = stamp.seconds
                        year = stamp.printed_year or year  # year-less stamps take the last printed year
                    yield (last, index, number, line)

    def batches(
        self, deadline: Callable[[], float | None] = lambda: None
    ) -> Iterator[tuple[Source, Batch | None]]:
        """(source, one-line batch) in time order, paced. `deadline` gives the next no-progress
        deadline (log time): one that falls before the next line's time is waited for and given as
        (that line's source, None) with the clock at the deadline, for the caller to check."""
        merged = heapq.merge(*(self._lines(i, s) for i, s in enumerate(self.sources)))
        for stamp, index, number, line in merged:
            if stamp != float("-inf"):
                due = deadline()
                while due is not None and self.log_time is not None and self.log_time < due < stamp:
                    self._wait_for(due)
                    yield self.sources[index], None
                    due = deadline()
                self._wait_for(stamp)
            yield self.sources[index], Batch(number, [line])

    def _wait_for(self, stamp: float) -> None:
        """Sleep until log time `stamp` is due at `speed`; the clock is then `stamp` (it never goes
        back: a line stamped earlier than the one before it, another rank's clock, keeps the time)."""
        if self._anchor is None:
            self._anchor = (stamp, self.wall())
        log0, wall0 = self._anchor
        wait = wall0 + (stamp - log0) / self.speed - self.wall()
        if wait > self.MAX_WAIT_S:
            self.sleep(self.MAX_WAIT_S)
            self._anchor = (stamp, self.wall())  # the later lines keep their pace after the cut
        elif wait > 0:
            self.sleep(wait)
        if self.log_time is None or stamp > self.log_time:
            self.log_time = stamp
