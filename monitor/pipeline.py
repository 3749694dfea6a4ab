"""The scan pipeline: sources → lines → parsers → detectors → events.

`SourceScan` runs one source through its own parsers and detectors; `scan`
runs every source and gathers the events, one summary per source, and the
sources that could not be read. A source's events are returned in line
order (an episode reported when it ends is placed where it began).

Big plain files are split into byte ranges scanned in parallel
(`monitor.parallel`); the result is the same as this serial path.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import gc
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from monitor.catalog import Catalog, load
from monitor.columns import Columns, RecordBatch, went_back_from
from monitor.detectors import new_detectors
from monitor.detectors.base import Position, position_of, went_back
from monitor.model import Event, Heartbeat, Pause, SourceSummary, StepRecord
from monitor.parsers import ParseContext, new_parser_set
from monitor.parsers.exits import is_planned_exit
from monitor.parsers.faults import FaultScanner
from monitor.parsers.health_reports import report_events
from monitor.parsers.tensorboard import StepBuilder
from monitor.parsers.timestamps import find_timestamp
from monitor.runs import run_hint
from monitor.settings import Settings
from monitor.sources.files import Source, SourceError, open_source
from monitor.sources.health_reports import read_report
from monitor.sources.health_reports import sniff as sniff_report
from monitor.sources.lines import Batch, ReadStats, read_batches
from monitor.sources.tfevents import is_event_source, read_scalars

_CHECKPOINT_SAVES = ("aving checkpoint", "aving the checkpoint", "aving model checkpoint")
"""How frameworks announce a checkpoint save: Megatron-LM `saving checkpoint at iteration N to DIR`,
torchtitan `Saving the checkpoint (or staging if async is enabled).`, HF Trainer `Saving model
checkpoint to DIR`, DeepSpeed `Saving model checkpoint: PATH`."""
FaultInput = tuple[tuple[Any, ...], list[tuple[int, str, int | None]], list[int], list[tuple[int, str]]]
"""What the fault scanner is given for one batch: the parsers' context, the non-progress lines,
the restarts and the clock."""
_HEARTBEAT_TRIES = 64
_HEARTBEAT_PREFIX = 64


def _file_year(path: str | None) -> int:
    """The year assumed for timestamps that print none: the file's modification year."""
    try:
        if path:
            return dt.datetime.fromtimestamp(os.stat(path).st_mtime).year
    except (OSError, ValueError, OverflowError):
        pass
    return dt.date.today().year


class SourceScan:
    """One source's parsers, detectors and summary."""

    def __init__(self, source: Source, catalog: Catalog | None = None, settings: Settings | None = None) -> None:
        self.source = source
        ctx = ParseContext(source.name, source.path, _file_year(source.path))
        self.ctx = ctx
        self.parsers = new_parser_set(ctx)
        self.faults = FaultScanner(catalog or load(), ctx)
        self.detectors = new_detectors(settings)
        self.summary = SourceSummary(file=source.name)
        self.on_records: Callable[[RecordBatch], None] | None = None  # the report keeps records; tail watches them
        self.position: Position | None = None  # the last training step, to see restarts
        self.fault_inputs: list[FaultInput] | None = None
        self.skim = True  # detectors may screen batches read in bulk (the same events, faster)
        self.skimmed = self.observed = 0  # detector batches screened in bulk, and read record by record

    def process(self, lines: Batch | Iterable[tuple[int, str]]) -> list[Event]:
        """Parse and check lines (a batch read from the source, or (number, text) pairs); return
        the events they raise."""
        faults, detected = self.process_parts(lines)
        faults.extend(detected)
        return faults

    def process_parts(self, lines: Batch | Iterable[tuple[int, str]]) -> tuple[list[Event], list[Event]]:
        """`process`, with the fault scanner's events apart from the detectors'. With `fault_inputs`
        set, what the fault scanner was given is kept there, so that its part can be run again
        from another state (`rescan_faults`)."""
        others: list[tuple[int, str, int | None]] = []
        if type(lines) is Batch and lines.numbers is None:  # physical lines: the format's main layout in bulk
            batch = self.parsers.parse_block(lines.lines, lines.first_line, others, lines.text)
        else:
            batch = RecordBatch(self.parsers.parse_lines(lines.numbered() if type(lines) is Batch else lines, others),
                                None)
        restarts, clock = self._landmarks(batch) if batch else ([], [])
        if self.fault_inputs is not None:
            self.fault_inputs.append((self.ctx.snapshot(), others, restarts, clock))
        faults = self.faults.scan(others, restarts, clock) if others or restarts or clock else []
        events: list[Event] = []
        if others and self.summary.run_id is None:
            self.summary.run_id = next(filter(None, (run_hint(line) for _n, line, _s in others)), None)
        if others:
            # a planned exit only matters after the batch's last record (progress after it starts over),
            # so only those lines pay for its phrases
            after = bisect.bisect_right(others, batch.last_line(), key=lambda item: item[0])
            self._add_heartbeats(batch, others)
            pauses = [
                Pause(self.source.name, n, line, step)
                for n, line, step in others
                if "heckpoint" in line and any(words in line for words in _CHECKPOINT_SAVES)
            ]
            pauses += [Pause(self.source.name, n, line, step, end=True)
                       for n, line, step in others[after:] if is_planned_exit(line)]
            if pauses:
                batch = RecordBatch(sorted([*batch.records(), *pauses], key=lambda r: r.line or 0), None)
        if batch:
            events.extend(self._detect(batch))
        return faults, events

    def rescan_faults(self, inputs: list[FaultInput]) -> list[list[Event]]:
        """The fault scanner's events for each batch of `inputs`, from its present state (the
        parsers' context is put back as it was for each batch)."""
        out: list[list[Event]] = []
        for ctx_state, others, restarts, clock in inputs:
            self.ctx.restore(ctx_state)
            out.append(self.faults.scan(others, restarts, clock) if others or restarts or clock else [])
        return out

    def _landmarks(self, batch: RecordBatch) -> tuple[list[int], list[tuple[int, str]]]:
        """For the fault scanner, in one pass: the lines where the training step went back (a
        restart), and (line, time) of the timestamped progress lines."""
        columns = batch.columns()
        if columns is not None and columns.exact_steps():
            return self._column_landmarks(columns)
        restarts: list[int] = []
        clock: list[tuple[int, str]] = []
        position = self.position
        for record in batch.records():
            if type(record) is not StepRecord:
                continue
            if record.time is not None:
                clock.append((record.line or 0, record.time))
            step = record.step
            if step is None or (record.loss is None and record.eval_loss is not None):
                continue  # no step, or an evaluation
            if position is not None and (step < position[1] or record.epoch != position[0]) and went_back(
                position, record.epoch, step
            ):
                restarts.append(record.line or 0)
            position = position_of(record.epoch, step, record.total_steps, position)
        self.position = position
        return restarts, clock

    def _column_landmarks(self, columns: Columns) -> tuple[list[int], list[tuple[int, str]]]:
        """`_landmarks` of a batch of rows read in bulk."""
        rows = columns.rows
        clock = [(number, where[0]) for number, where in zip(rows.numbers, rows.wheres) if where[0] is not None]
        index = np.flatnonzero(columns.present("step"))
        if not len(index):
            return [], clock
        went_back, self.position = went_back_from(columns, index, self.position)
        restarts = [rows.numbers[int(index[i])] for i in np.flatnonzero(went_back)]
        return restarts, clock

    def _add_heartbeats(self, batch: RecordBatch, others: list[tuple[int, str, int | None]]) -> None:
        """Add up to two `Heartbeat`s to the batch: the first and the last timestamped non-progress
        lines after the batch's last record (a few lines are tried from each end, so this costs
        nothing per line). They tell the stall detector the log was still being written."""
        start = bisect.bisect_right(others, batch.last_line(), key=lambda item: item[0])
        if start >= len(others):
            return
        head = others[start:start + _HEARTBEAT_TRIES]
        tail = others[max(start, len(others) - _HEARTBEAT_TRIES):]
        beats: list[Any] = []
        for candidates in (head, reversed(tail)):
            for number, line, step in candidates:
                stamp = find_timestamp(line[:_HEARTBEAT_PREFIX], self.ctx.year)
                if stamp is not None:
                    beats.append(Heartbeat(stamp.iso, stamp.seconds, self.source.name, number, line, step))
                    break
        if len(beats) == 2 and beats[0].line == beats[1].line:
            beats.pop()
        batch.add(sorted(beats, key=lambda b: b.line or 0))

    def _detect(self, batch: RecordBatch) -> list[Event]:
        columns = batch.columns() if self.skim else None
        if columns is not None:
            _summarize(self.summary, columns)
        else:
            self.summary.add_all(batch.records())
        if self.on_records is not None:
            self.on_records(batch)
        if columns is None and self.skim:  # records read line by line are screened as columns too
            columns = batch.columns(built=True)
        events: list[Event] = []
        for detector in self.detectors:
            if columns is not None and detector.skim(columns):
                self.skimmed += 1
            else:
                self.observed += 1
                events.extend(detector.observe(batch.records()))
        return events

    def finish(self) -> list[Event]:
        """End of input: flush partial records and open episodes."""
        events = self._detect(RecordBatch(self.parsers.finish(), None))
        events.extend(self.faults.finish())
        events.extend(self.finish_detectors())
        return events

    def finish_detectors(self) -> list[Event]:
        """End of input for the detectors: their open episodes; and the formats seen."""
        events: list[Event] = []
        for detector in self.detectors:
            events.extend(detector.finish())
        self.summary.formats = dict(self.parsers.records_by_format)
        return events

    def snapshot(self) -> dict[str, Any]:
        """Parser and detector state (not the summary), comparable with `==`."""
        return {
            "parsers": self.parsers.snapshot(),
            "position": self.position,
            "faults": self.faults.snapshot(),
            "detectors": [d.snapshot() for d in self.detectors],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.parsers.restore(snapshot["parsers"])
        self.position = snapshot["position"]
        self.faults.restore(snapshot["faults"])
        for detector, state in zip(self.detectors, snapshot["detectors"]):
            detector.restore(state)


def _summarize(summary: SourceSummary, columns: Columns) -> None:
    """`SourceSummary.add_all` for a batch whose step records were all read in bulk (training
    records: a row is never an evaluation)."""
    rows = columns.rows
    summary.steps += len(rows)
    steps = np.flatnonzero(columns.present("step"))
    if len(steps):
        if summary.first_step is None:
            summary.first_step = columns.record(int(steps[0])).step
        summary.last_step = columns.record(int(steps[-1])).step
    losses = np.flatnonzero(columns.present("loss"))
    if len(losses):
        summary.last_loss = columns.record(int(losses[-1])).loss
    summary.ranks.update(rank for rank in {where[2] for where in rows.wheres} if rank is not None)


def count_reading(summary: SourceSummary, stats: ReadStats) -> None:
    """Add what the reader counted to the source's summary."""
    summary.lines += stats.lines
    summary.bytes_read += stats.bytes_read
    summary.long_lines += stats.long_lines
    summary.first_long_line = summary.first_long_line or stats.first_long_line
    summary.replaced_chars += stats.replaced_chars


def internal_error(name: str, err: Exception, stats: ReadStats) -> SourceError:
    """A bug met while scanning `name`, as a reportable error (the events found so far are kept)."""
    return SourceError(
        name, f"internal error ({type(err).__name__}: {err}) after {stats.lines} lines; please report it"
    )


def in_line_order(events: list[Event]) -> list[Event]:
    """Events of one source sorted by line (stable: same-line events keep their order)."""
    return sorted(events, key=lambda e: e.line if e.line is not None else 0)


@dataclasses.dataclass(slots=True)
class SourceResult:
    """The outcome of scanning one source."""

    source: Source
    events: list[Event]
    summary: SourceSummary
    error: SourceError | None = None


Progress = Callable[[int], None]
"""Told the bytes of input read so far, in all (on-disk bytes: a compressed file counts as stored)."""


def source_size(source: Source) -> int:
    """A source's size on disk (0 for stdin or what cannot be read: the scan names those)."""
    try:
        return os.path.getsize(source.path) if source.path is not None and not source.is_stdin else 0
    except OSError:
        return 0


class ProgressCounter:
    """Turns per-source byte counts into the running total `Progress` is told, in this process."""

    def __init__(self, on_progress: Progress | None) -> None:
        self.on_progress = on_progress
        self.done = 0

    def within(self, source: Source) -> Progress | None:
        """The callback for bytes read within `source` (capped at its size: a compressed file reads more)."""
        if self.on_progress is None:
            return None
        size, done, tell = source_size(source), self.done, self.on_progress
        return lambda read: tell(done + min(read, size))

    def add(self, size: int) -> None:
        """`size` more bytes are done (a whole source, or a range of one)."""
        self.done += size
        if self.on_progress is not None:
            self.on_progress(self.done)


def scan_source(
    source: Source,
    catalog_files: tuple[str, ...] = (),
    settings: Settings | None = None,
    on_records: Callable[[RecordBatch], None] | None = None,
    on_progress: Progress | None = None,
) -> SourceResult:
    """Scan one source to its end (serially), with the shipped catalog plus `catalog_files`;
    `on_records` sees every batch of records (the report keeps them), `on_progress` the bytes read
    of this source after every batch."""
    scan = SourceScan(source, load(catalog_files), settings)
    scan.on_records = on_records
    if not source.is_stdin and is_event_source(source.path):
        return _scan_event_file(scan)
    report = sniff_report(source)
    if report is not None:
        return _scan_health_report(scan, report)
    stats = ReadStats()
    events: list[Event] = []
    error: SourceError | None = None
    try:
        stream = open_source(source)
    except SourceError as err:
        scan.summary.error = err.reason
        return SourceResult(source, [], scan.summary, err)
    try:
        for batch in read_batches(stream, source.name, stats):
            events.extend(scan.process(batch))
            if on_progress is not None:
                on_progress(stats.bytes_read)
    except SourceError as err:
        error = err
        scan.summary.error = err.reason
    except Exception as err:  # a bug of ours must not cost the other sources their scan
        error = internal_error(source.name, err, stats)
        scan.summary.error = error.reason
    finally:
        if not source.is_stdin:
            stream.close()
    events.extend(scan.finish())
    count_reading(scan.summary, stats)
    return SourceResult(source, in_line_order(events), scan.summary, error)


def _scan_event_file(scan: SourceScan) -> SourceResult:
    """A TensorBoard event file: its scalars, one record per step, through the same detectors."""
    source = scan.source
    builder = StepBuilder(source.name)
    try:
        with open(source.path or "", "rb") as stream:
            reading = read_scalars(stream)
    except OSError as err:
        error = SourceError(source.name, err.strerror or str(err))
        scan.summary.error = error.reason
        return SourceResult(source, [], scan.summary, error)
    events = scan._detect(RecordBatch(builder.add(reading.scalars) + builder.flush(), None))
    for detector in scan.detectors:
        events.extend(detector.finish())
    scan.summary.formats = {"tensorboard": builder.count} if builder.count else {}
    scan.summary.lines = builder.count
    scan.summary.bytes_read = reading.offset
    scan.summary.warning = reading.problem
    return SourceResult(source, in_line_order(events), scan.summary)


def _scan_health_report(scan: SourceScan, kind: str) -> SourceResult:
    """A device health report (nvidia-smi -q -x, dcgmi diag -j, npu-smi): read whole, one event per
    faulty device and finding. A report that cannot be read completely is an unreadable input."""
    source = scan.source
    try:
        text = read_report(source)
    except SourceError as err:
        scan.summary.error = err.reason
        return SourceResult(source, [], scan.summary, err)
    reading = report_events(kind, text, scan.faults.catalog, source.name, source.path)
    scan.summary.formats = {kind: reading.devices}
    scan.summary.bytes_read = len(text)
    error = SourceError(source.name, reading.problem) if reading.problem else None
    scan.summary.error = error.reason if error else None
    return SourceResult(source, reading.events, scan.summary, error)


def scan(
    sources: Iterable[Source],
    jobs: int = 1,
    catalog_files: tuple[str, ...] = (),
    settings: Settings | None = None,
    on_progress: Progress | None = None,
) -> Iterator[SourceResult]:
    """Scan sources in order, yielding each one's result as it completes.

    With `jobs` > 1, big plain files are split into ranges scanned by that
    many processes; the results are identical to a serial scan. `on_progress` is told the
    on-disk bytes done so far, in this process (a progress bar).
    """
    # The catalog, the compiled patterns and the modules live as long as the process: the
    # collector need not walk them again at every full collection of a long scan.
    gc.freeze()
    if jobs > 1:
        from monitor.parallel import scan_parallel

        yield from scan_parallel(list(sources), jobs, catalog_files, settings, on_progress)
        return
    counter = ProgressCounter(on_progress)
    for source in sources:
        yield scan_source(source, catalog_files, settings, on_progress=counter.within(source))
        counter.add(source_size(source))
