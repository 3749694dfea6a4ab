"""Scan big inputs on several processes with exactly the serial result.

Sources are cut into work units: a small, compressed or piped source is one
unit; a big plain file is cut at line boundaries into byte ranges. Units run
on a pool of processes and their results are put back in order.

A range does not start with a blank state. Its worker first reads the bytes
just before the range (`WARMUP_BYTES`) with output discarded, so parsers and
detectors arrive at the range in the state a serial scan would be in, then
snapshots that state. When the pool is done, each range's start snapshot is
compared with the end snapshot of the range before it: if they are equal,
the range's events are exactly those of a serial scan (processing is
deterministic given state and input); if not (the warm-up was too short to
rebuild some state), the range is scanned again in this process from the
true state. The output therefore never depends on `--jobs`.

The usual mismatch is the fault scanner's alone: a fault held back while it
repeats, or remembered as the cause of later cascades, may date from long
before the range. Each worker therefore keeps what its fault scanner was given
(compressed), and the merge runs only that scanner again from the true state;
the parsers and detectors, whose warm-up did rebuild them, are not rerun.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import math
import multiprocessing
import pickle
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from monitor.catalog import load
from monitor.columns import RecordBatch
from monitor.model import Event, SourceSummary
from monitor.pipeline import (
    Progress,
    ProgressCounter,
    SourceResult,
    SourceScan,
    count_reading,
    in_line_order,
    internal_error,
    scan_source,
    source_size,
)
from monitor.settings import Settings
from monitor.sources.files import Source, SourceError, is_plain_file
from monitor.sources.lines import ReadStats, read_batches
from monitor.sources.tfevents import is_event_source

PARALLEL_MIN_BYTES = 64 << 20  # below this in total, a process pool costs more than it saves
RANGE_BYTES = 32 << 20  # target size of one range of a big file
WARMUP_BYTES = 1 << 20  # read before a range to rebuild parser and detector state
_COUNT_BLOCK = 8 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class _Range:
    """Bytes [start, end) of a plain file, whose first line has number `first_line`."""

    source: Source
    start: int
    end: int
    first_line: int
    warmup_start: int
    last: bool


@dataclasses.dataclass(slots=True)
class _RangeResult:
    """A range's events, kept per batch as (the fault scanner's, the detectors'), and what it needs
    to run its fault scanner again from another state (its input, compressed)."""

    parts: list[tuple[list[Event], list[Event]]]
    summary: SourceSummary
    start_state: dict[str, Any] | None
    end_state: dict[str, Any]
    error: SourceError | None
    fault_inputs: bytes = b""
    # the last range's end of input: the parsers' last records' events, the fault scanner's, the detectors'
    finish: tuple[list[Event], list[Event], list[Event]] | None = None

    @property
    def events(self) -> list[Event]:
        out = [event for faults, detected in self.parts for event in (*faults, *detected)]
        for events in self.finish or ():
            out.extend(events)
        return out


def _line_start_after(handle: BinaryIO, offset: int) -> int | None:
    """The offset of the first line that starts at or after `offset` (None: none does)."""
    handle.seek(offset)
    position = offset
    while True:
        block = handle.read(1 << 16)
        if not block:
            return None
        newline = block.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(block)


def _ranges(source: Source, jobs: int) -> Iterator[_Range]:
    """Cut a big plain file into ranges at line starts, yielding each range as
    soon as the number of its first line is known (newlines are counted once,
    front to back, while earlier ranges are already being scanned)."""
    assert source.path is not None
    size = source_size(source)
    count = min(max(jobs, size // RANGE_BYTES), 4 * jobs)
    with open(source.path, "rb", buffering=0) as handle:
        starts = [0]
        for i in range(1, count):
            start = _line_start_after(handle, size * i // count)  # type: ignore[arg-type]
            if start is not None and starts[-1] < start < size:
                starts.append(start)
        bounds = [*starts, size]
        handle.seek(0)
        block = bytearray(_COUNT_BLOCK)
        position, lines = 0, 1
        for start, end in zip(bounds, bounds[1:]):
            while position < start:
                n = handle.readinto(memoryview(block)[: min(len(block), start - position)])  # type: ignore[attr-defined]
                if not n:
                    break
                lines += block.count(b"\n", 0, n)
                position += n
            yield _Range(source, start, end, lines, max(0, start - WARMUP_BYTES), end == size)


def _warm_up(scan: SourceScan, handle: BinaryIO, unit: _Range) -> None:
    """Read the bytes before the range, from the first whole line, output discarded."""
    warm_start = _line_start_after(handle, unit.warmup_start) if unit.warmup_start > 0 else 0
    if warm_start is None or warm_start >= unit.start:
        return
    handle.seek(warm_start)
    data = handle.read(unit.start - warm_start)
    first_line = unit.first_line - data.count(b"\n")
    for batch in read_batches(io.BytesIO(data), unit.source.name, ReadStats(), first_line=first_line):
        scan.process(batch)  # events discarded: they belong to the range before


def _scan_range(
    unit: _Range,
    state: dict[str, Any] | None = None,
    catalog_files: tuple[str, ...] = (),
    settings: Settings | None = None,
) -> _RangeResult:
    """Scan one range; with `state`, start from it instead of warming up."""
    assert unit.source.path is not None
    scan = SourceScan(unit.source, load(catalog_files), settings)
    stats = ReadStats()
    parts: list[tuple[list[Event], list[Event]]] = []
    packed: list[bytes] = []
    error: SourceError | None = None
    start_state = None
    try:
        with open(unit.source.path, "rb") as handle:
            if state is not None:
                scan.restore(state)
            else:
                _warm_up(scan, handle, unit)
                start_state = scan.snapshot()
                scan.fault_inputs = []
            scan.parsers.records_by_format.clear()
            scan.summary = SourceSummary(file=unit.source.name)
            handle.seek(unit.start)
            for batch in read_batches(
                handle, unit.source.name, stats, first_line=unit.first_line, limit_bytes=unit.end - unit.start
            ):
                parts.append(scan.process_parts(batch))
                if scan.fault_inputs:  # kept as bytes: live objects would slow every collection
                    packed.append(pickle.dumps(scan.fault_inputs.pop(), pickle.HIGHEST_PROTOCOL))
    except OSError as err:
        error = SourceError(unit.source.name, err.strerror or str(err))
    except SourceError as err:
        error = err
    except Exception as err:  # a bug of ours must not cost the other sources their scan
        error = internal_error(unit.source.name, err, stats)
    end_state = scan.snapshot()
    finish = None
    if unit.last:
        finish = (scan._detect(RecordBatch(scan.parsers.finish(), None)), scan.faults.finish(), scan.finish_detectors())
    else:
        scan.summary.formats = dict(scan.parsers.records_by_format)
    count_reading(scan.summary, stats)
    if error is not None:
        scan.summary.error = error.reason
    inputs = zlib.compress(pickle.dumps(packed, pickle.HIGHEST_PROTOCOL), 1) if scan.fault_inputs is not None else b""
    return _RangeResult(parts, scan.summary, start_state, end_state, error, inputs, finish)


def _refault(
    unit: _Range,
    result: _RangeResult,
    state: dict[str, Any],
    catalog_files: tuple[str, ...],
    settings: Settings | None,
) -> _RangeResult:
    """The range with its fault scanner run again from the true `state`: its parsers and detectors
    started right (their warm-up rebuilt them), but a fault held or remembered from long before
    the range could not be (a folded Xid, the cause of a later cascade). Only the fault scanner's
    input, kept by the worker, is read again."""
    scan = SourceScan(unit.source, load(catalog_files), settings)
    scan.restore(state)
    # written by our own worker process, never read from a file
    inputs = [pickle.loads(batch) for batch in pickle.loads(zlib.decompress(result.fault_inputs))]  # noqa: S301
    faults = scan.rescan_faults(inputs)
    parts = [(new, detected) for new, (_old, detected) in zip(faults, result.parts)]
    end_state = dict(result.end_state)
    end_state["faults"] = scan.faults.snapshot()
    finish = result.finish
    if finish is not None:
        finish = (finish[0], scan.faults.finish(), finish[2])
    return dataclasses.replace(result, parts=parts, end_state=end_state, finish=finish)


def _without_faults(state: dict[str, Any] | None) -> dict[str, Any]:
    return {key: value for key, value in (state or {}).items() if key != "faults"}


def same_state(a: Any, b: Any) -> bool:
    """State equality where NaN equals NaN (a NaN loss kept in an open episode
    must not make two identical states look different)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b))
    if dataclasses.is_dataclass(a):
        return all(same_state(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


def _combine(
    source: Source,
    results: list[_RangeResult],
    ranges: list[_Range],
    catalog_files: tuple[str, ...],
    settings: Settings | None,
) -> SourceResult:
    """Put a file's ranges back together, rescanning any whose start state was wrong."""
    events: list[Event] = []
    summary = SourceSummary(file=source.name)
    error: SourceError | None = None
    previous_end: dict[str, Any] | None = None
    for unit, result in zip(ranges, results):
        if previous_end is not None and not same_state(result.start_state, previous_end):
            if result.fault_inputs and same_state(_without_faults(result.start_state), _without_faults(previous_end)):
                result = _refault(unit, result, previous_end, catalog_files, settings)
            else:
                result = _scan_range(unit, previous_end, catalog_files, settings)
        events.extend(result.events)
        summary.merge(result.summary)
        error = error or result.error
        previous_end = result.end_state
    return SourceResult(source, in_line_order(events), summary, error)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _splittable(source: Source) -> bool:
    return source_size(source) >= 2 * RANGE_BYTES and is_plain_file(source) and not is_event_source(source.path)


def scan_parallel(
    sources: list[Source],
    jobs: int,
    catalog_files: tuple[str, ...] = (),
    settings: Settings | None = None,
    on_progress: Progress | None = None,
) -> Iterator[SourceResult]:
    """Scan `sources` with up to `jobs` processes; yield results in source order, telling
    `on_progress` the bytes done as each range or file is taken in.

    Standard input is read in this process (a child may not inherit it).
    """
    counter = ProgressCounter(on_progress)
    split = [_splittable(source) for source in sources]
    pooled = sum(2 if cut else (0 if s.is_stdin else 1) for s, cut in zip(sources, split))
    if sum(source_size(s) for s in sources) < PARALLEL_MIN_BYTES or pooled < 2:
        for source in sources:
            yield scan_source(source, catalog_files, settings, on_progress=counter.within(source))
            counter.add(source_size(source))
        return
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=_context()) as pool:
        pending: list[tuple[Source, Any]] = []
        for source, cut in zip(sources, split):
            if cut:
                units = []
                futures = []
                for unit in _ranges(source, jobs):
                    units.append(unit)
                    futures.append(pool.submit(_scan_range, unit, None, catalog_files, settings))
                pending.append((source, (units, futures)))
            else:
                work = None if source.is_stdin else pool.submit(scan_source, source, catalog_files, settings)
                pending.append((source, work))
        for source, work in pending:
            if isinstance(work, tuple):
                units, futures = work
                results = []
                for unit, future in zip(units, futures):
                    results.append(future.result())
                    counter.add(unit.end - unit.start)
                yield _combine(source, results, units, catalog_files, settings)
            elif work is None:
                yield scan_source(source, catalog_files, settings, on_progress=counter.within(source))
            else:
                yield work.result()
                counter.add(source_size(source))
