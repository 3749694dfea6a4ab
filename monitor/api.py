"""The notebook API: `monitor.load(paths)` gives the step records and the events as DataFrames.

The same scan as `monitor scan` runs (parsers, fault catalog, detectors,
correlation); besides the events it keeps every progress record, so a user
can do their own post-mortem in Jupyter, and `monitor report` is built on it.

`Loaded.steps` columns: file, line, rank, node, step, epoch, loss, eval_loss,
grad_norm, lr, loss_scale, step_time_s, tokens_per_s, samples_per_s, tflops,
mfu, skipped, nan_count, total_steps, epoch_s (seconds since the epoch, NaN
without a timestamp; a time the log printed without an offset is read in the
`timezone` setting). `line`, `rank`, `step`,
`skipped`, `nan_count` and `total_steps` are nullable `Int64` (<NA> when
unknown); the other numbers are floats, a non-finite loss kept as NaN or inf.

`Loaded.events` has one row per event, with the fields of the design contract
(`schema_version` is in `events.attrs`): `time` as `datetime64[UTC]` (NaT when
unknown); `severity` an ordered categorical (info < warning < error <
critical, so `events.severity >= "error"` selects errors and critical ones);
`kind`, `domain` and `role` categoricals of the contract's values; `line`,
`step`, `rank` and `count` nullable `Int64`; `persistent` nullable `boolean`; `value` and `baseline` nullable
`Float64`, where <NA> means the event has no value and NaN or inf is the
non-finite value the log showed (the "nan" / "inf" of the JSON). Both frames
are indexed by time whenever any row has one: a UTC `DatetimeIndex` (named
`time` for steps, unnamed for events, which keep `time` as a column too),
sorted, the rows without a time kept after the timed ones in their own order
with NaT as their index; a frame with no time at all is indexed by position.
Offset-less times are read in the `timezone` setting in both frames.

`Loaded.timers` has one row per timer of each step-time breakdown (file,
line, step, epoch_s, name, ms); `Loaded.pauses` one per announced checkpoint
save (file, line, step); `Loaded.clock` the first and last timestamp seen
per file, progress or not.

Event files (`monitor scan --format parquet -o DIR`, one pair per node) are
read instead of scanned: a PATH that is a `.parquet` file, or a directory
holding `events-*.parquet` files, gives its events (and the `files-*.parquet`
beside them the per-file summaries); see `load_events`. They carry no progress
records, so `steps`, `timers` and `pauses` have no rows for them.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import glob
import math
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from monitor.catalog import load as load_catalog
from monitor.columns import Columns, RecordBatch
from monitor.correlate import correlate
from monitor.model import (
    SCHEMA_VERSION,
    Domain,
    Event,
    Heartbeat,
    Kind,
    Pause,
    Role,
    Severity,
    SourceSummary,
    StepRecord,
    TimerRecord,
    log_zone,
    set_log_zone,
)
from monitor.pipeline import Progress, ProgressCounter, scan_source, source_size
from monitor.runs import label_runs
from monitor.settings import Settings, load_settings
from monitor.sources.files import Source, expand_paths

STEP_COLUMNS = (
    "step", "epoch", "loss", "eval_loss", "grad_norm", "lr", "loss_scale", "step_time_s", "tokens_per_s",
    "samples_per_s", "tflops", "mfu", "skipped", "nan_count", "total_steps", "epoch_s",
)
TIMER_COLUMNS = ["file", "line", "step", "epoch_s", "name", "ms"]
PAUSE_COLUMNS = ["file", "line", "step", "end"]

EVENT_COLUMNS = [c for c in Event(kind=Kind.NAN, severity=Severity.INFO, message="").to_dict() if c != "schema_version"]
STEP_INTEGERS = ("line", "rank", "step", "skipped", "nan_count", "total_steps")
EVENT_INTEGERS = ("line", "step", "rank", "count")
EVENT_CATEGORIES = {
    "severity": pd.CategoricalDtype([str(s) for s in sorted(Severity)], ordered=True),
    "kind": pd.CategoricalDtype([str(k) for k in Kind]),
    "domain": pd.CategoricalDtype([str(d) for d in Domain]),
    "role": pd.CategoricalDtype([str(r) for r in Role]),
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclasses.dataclass
class Loaded:
    """What a set of logs holds: records, events, per-file summaries."""

    steps: pd.DataFrame
    events: pd.DataFrame
    event_list: list[Event]
    files: list[SourceSummary]
    timers: pd.DataFrame
    pauses: pd.DataFrame
    clock: dict[str, tuple[float, float]]
    errors: list[str]


def _wall(time: str | None, epoch_s: float | None) -> float | None:
    """A record's clock as the time of day it was printed: a record that prints none may hold an
    elapsed time as its clock (seconds since its run or progress bar began, for the stall detector),
    which is no Unix time."""
    return epoch_s if time is not None else None


class _Collector:
    """Keeps the records of one file in columns (lists), cheaper than a list of records."""

    def __init__(self, name: str, max_rows: int | None = None) -> None:
        self.name = name
        self.max_rows = max_rows  # keep at most about this many rows (None: every record)
        self.columns: dict[str, list[Any]] = {key: [] for key in ("file", "line", "rank", "node", *STEP_COLUMNS)}
        self.keep: list[bool] = []  # rows a thinning must keep: around restarts, non-finite losses
        self.previous_step: float | None = None
        self.timers: list[tuple[Any, ...]] = []
        self.pauses: list[tuple[Any, ...]] = []
        self.first: float | None = None
        self.last: float | None = None

    def _seen(self, epoch: float | None) -> None:
        if epoch is None or not math.isfinite(epoch):
            return
        self.first = epoch if self.first is None else min(self.first, epoch)
        self.last = epoch if self.last is None else max(self.last, epoch)

    def __call__(self, batch: RecordBatch) -> None:
        found = batch.columns()
        if found is None:
            self._records(batch.records())
            return
        self._rows(found)
        self._records(found.others)

    def _rows(self, found: Columns) -> None:
        """The step records read in bulk, column by column (the values their records hold)."""
        rows = found.rows
        start, end = 0, len(rows)
        while start < end:  # in slices that end where a thinning is due, as record by record
            stop = end if self.max_rows is None else min(end, start + max(1, 2 * self.max_rows - len(self.keep)))
            self._slice(found, start, stop)
            start = stop
            if self.max_rows is not None and len(self.keep) >= 2 * self.max_rows:
                self._thin()

    def _slice(self, found: Columns, start: int, stop: int) -> None:
        rows, columns, n = found.rows, self.columns, stop - start
        wheres = rows.wheres[start:stop]
        columns["file"] += [self.name] * n
        columns["line"] += rows.numbers[start:stop]
        columns["rank"] += [w[2] for w in wheres]
        columns["node"] += [w[3] for w in wheres]
        for key in STEP_COLUMNS:
            if key == "epoch_s":
                columns[key] += [_wall(w[0], w[1]) for w in wheres]
            else:
                columns[key] += rows.values(key, start, stop)
        for w in wheres:
            self._seen(_wall(w[0], w[1]))
        steps, losses = columns["step"][-n:], columns["loss"][-n:]
        for step, loss in zip(steps, losses):
            restart = step is not None and self.previous_step is not None and step < self.previous_step
            if restart and self.keep:
                self.keep[-1] = True
            self.keep.append(restart or (loss is not None and not math.isfinite(loss)))
            if step is not None:
                self.previous_step = step

    def _records(self, records: list[Any]) -> None:
        columns = self.columns
        for record in records:
            kind = type(record)
            if kind is StepRecord:
                columns["file"].append(self.name)
                columns["line"].append(record.line)
                columns["rank"].append(record.rank)
                columns["node"].append(record.node)
                for key in STEP_COLUMNS:
                    columns[key].append(getattr(record, key))
                columns["epoch_s"][-1] = epoch_s = _wall(record.time, record.epoch_s)
                self._seen(epoch_s)
                step, loss = record.step, record.loss
                restart = step is not None and self.previous_step is not None and step < self.previous_step
                if restart and self.keep:
                    self.keep[-1] = True  # the last progress before the restart
                self.keep.append(restart or (loss is not None and not math.isfinite(loss)))
                if step is not None:
                    self.previous_step = step
                if self.max_rows is not None and len(self.keep) >= 2 * self.max_rows:
                    self._thin()
            elif kind is TimerRecord:
                for timer, ms in record.timers.items():
                    self.timers.append((self.name, record.line, record.step, record.epoch_s, timer, ms))
            elif kind is Pause:
                self.pauses.append((self.name, record.line, record.step, record.end))
            elif kind is Heartbeat:
                self._seen(record.epoch_s)


    def _thin(self) -> None:
        """Halve the rows held, keeping every other one and every marked one: memory stays
        bounded on any log, and curves, rates and restarts stay right."""
        last = len(self.keep) - 1
        chosen = [i for i, marked in enumerate(self.keep) if marked or i % 2 == 0 or i == last]
        for key, values in self.columns.items():
            self.columns[key] = [values[i] for i in chosen]
        self.keep = [self.keep[i] for i in chosen]




def _scan_one(
    source: Source,
    catalog: tuple[str, ...],
    settings: Settings,
    max_rows: int | None,
    on_progress: Progress | None = None,
) -> Any:
    """One source, scanned with its records kept (run in a worker process by `load(jobs=...)`)."""
    collector = _Collector(source.name, max_rows)
    return collector, scan_source(source, catalog, settings, on_records=collector, on_progress=on_progress)


def _empty_steps() -> pd.DataFrame:
    return pd.DataFrame(columns=["file", "line", "rank", "node", *STEP_COLUMNS])


def _integers(values: Sequence[Any]) -> Any:
    """A nullable Int64 column: <NA> for a missing number and for one beyond 64 bits (no log means it)."""
    kept = [v if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and _INT64_MIN <= v <= _INT64_MAX
            else None for v in values]
    return pd.array(kept, dtype="Int64")


def _floats(values: Sequence[float | None]) -> Any:
    """A nullable Float64 column keeping NaN and inf as values: <NA> only where there is no number."""
    missing = np.array([v is None for v in values], dtype=bool)
    numbers = np.array([0.0 if v is None else float(v) for v in values], dtype=float)
    return pd.arrays.FloatingArray(numbers, missing)


def _by_time(frame: pd.DataFrame, times: pd.Series, name: str | None) -> pd.DataFrame:
    """`frame` indexed by `times` (UTC), sorted, untimed rows last in their order; by position when
    no row has a time."""
    if not times.notna().any():
        return frame.reset_index(drop=True)
    frame.index = pd.DatetimeIndex(times.to_numpy(), name=name)
    return frame.sort_index(kind="stable", na_position="last")


def _step_times(steps: pd.DataFrame) -> pd.Series:
    """Each record's instant, from `epoch_s` (a time printed without an offset was read in the
    `timezone` setting when it was parsed)."""
    return pd.to_datetime(steps["epoch_s"], unit="s", utc=True).dt.round("us").astype("datetime64[us, UTC]")


def _steps_frame(collectors: Sequence[_Collector]) -> pd.DataFrame:
    frames = [
        pd.DataFrame({key: _integers(values) if key in STEP_INTEGERS else values for key, values in c.columns.items()})
        for c in collectors if c.columns["line"]
    ]
    if not frames:
        return _empty_steps()
    steps = pd.concat(frames, ignore_index=True)
    for key in STEP_COLUMNS:
        if key not in STEP_INTEGERS:
            steps[key] = pd.to_numeric(steps[key], errors="coerce").astype(float)
    return _by_time(steps, _step_times(steps), "time")


def events_frame(events: Sequence[Event], zone: dt.tzinfo | None = None) -> pd.DataFrame:
    """The events as a DataFrame, one row each, with the contract's fields typed (see the module
    docstring); `zone` is the one offset-less log times are read in (default `log_zone()`)."""
    frame = pd.DataFrame([event.to_dict(zone) for event in events], columns=EVENT_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True, errors="coerce", format="ISO8601")
    for key, dtype in EVENT_CATEGORIES.items():
        frame[key] = frame[key].astype(dtype)
    for key in EVENT_INTEGERS:
        frame[key] = _integers([getattr(event, key) for event in events])
    for key in ("value", "baseline"):
        frame[key] = _floats([getattr(event, key) for event in events])
    frame["persistent"] = pd.array([event.persistent for event in events], dtype="boolean")
    frame = _by_time(frame, frame["time"], None)
    frame.attrs["schema_version"] = SCHEMA_VERSION
    return frame


PARQUET_SUFFIX = ".parquet"


@dataclasses.dataclass
class _EventFiles:
    """The Parquet files among the paths: events files and file-summary files."""

    events: list[str] = dataclasses.field(default_factory=list)
    summaries: list[str] = dataclasses.field(default_factory=list)

    def add(self, path: str) -> None:
        name = os.path.basename(path)
        target = self.summaries if name.startswith("files-") else self.events
        if path not in target:
            target.append(path)
        if name.startswith("events-"):  # its scan's file summaries, when they lie beside it
            beside = os.path.join(os.path.dirname(path), "files-" + name[len("events-"):])
            if os.path.isfile(beside) and beside not in self.summaries:
                self.summaries.append(beside)

    def __bool__(self) -> bool:
        return bool(self.events or self.summaries)


def _is_parquet(path: str) -> bool:
    return path.lower().endswith(PARQUET_SUFFIX)


def _events_directory(path: str) -> list[str]:
    """The Parquet files of a directory that holds events files (none when it holds none)."""
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return []
    if not any(n.startswith("events-") and _is_parquet(n) for n in names):
        return []
    return [os.path.join(path, n) for n in names if n.startswith(("events-", "files-")) and _is_parquet(n)]


def split_paths(paths: Sequence[str]) -> tuple[list[str], _EventFiles]:
    """Tell the logs to scan from the event files to read: a `.parquet` file, or a directory holding
    `events-*.parquet` files, is read; a glob's matches are told apart one by one."""
    logs: list[str] = []
    found = _EventFiles()
    for path in paths:
        if _is_parquet(path) and (os.path.isfile(path) or not glob.has_magic(path)):
            found.add(path)  # a missing one is reported when it is read
        elif os.path.isdir(path):
            files = _events_directory(path)
            if files:
                for file in files:
                    found.add(file)
            else:
                logs.append(path)
        elif glob.has_magic(path) and not os.path.exists(path):
            matches = sorted(glob.glob(path, recursive=True))
            event_matches = [m for m in matches if (os.path.isfile(m) and _is_parquet(m)) or _events_directory(m)]
            if not event_matches:
                logs.append(path)  # expand_paths reports a glob that matches nothing
                continue
            for match in matches:
                if match in event_matches:
                    for file in (_events_directory(match) or [match]):
                        found.add(file)
                else:
                    logs.append(match)
        else:
            logs.append(path)
    return logs, found


def _restore_role(event: Event, catalog: Any) -> Event:
    """The role an event had before the correlation of its own scan, so that the merged correlation
    decides afresh: a root fault that scan made the cascade of a hardware fault is a root again. (A
    cascade the parsers found, a traceback's exception after a fault in it, says so in its message:
    "(after CODE)"; it stays one.)"""
    if event.role is not Role.CASCADE or "(after " in event.message:
        return event
    definition = catalog.by_code.get(event.code or "")
    if definition is None or definition.role is not Role.ROOT:
        return event
    return dataclasses.replace(event, role=Role.ROOT, cause=None)


def _relabel(file: str | None, host: str, qualified: set[str]) -> str | None:
    return f"{host}:{file}" if file in qualified else file


def _read_event_files(
    found: _EventFiles, catalog: Sequence[str], errors: list[str], scanned: set[str]
) -> tuple[list[Event], list[SourceSummary]]:
    """The events and summaries of event files, the same file scanned on several nodes told apart.

    A log that two nodes scanned with the same summary (a shared file system) counts once: its
    events are taken from the first node that holds it. Node-local logs of the same name
    (/var/log/kern.log on every node) are named `HOST:PATH`. A log whose real path is among
    `scanned` (the logs this call scans itself) is left to that scan.
    """
    from monitor.sinks.parquet import read_events, read_files, summary_from_dict

    seen: set[str] = set()
    summary_rows: list[dict[str, Any]] = []
    for path in found.summaries:
        if os.path.realpath(path) in seen:
            continue
        seen.add(os.path.realpath(path))
        try:
            summary_rows.extend(read_files(path))
        except (OSError, ValueError, TypeError, KeyError) as err:
            errors.append(f"{path}: not a readable file-summary Parquet file ({err})")
    by_file: dict[str, dict[str, dict[str, Any]]] = {}  # file -> host -> summary
    real: dict[Any, bool] = {}

    def also_scanned(file: Any) -> bool:
        if file not in real:
            real[file] = isinstance(file, str) and os.path.realpath(file) in scanned
        return real[file]

    for row in summary_rows:
        if also_scanned(row.get("file")):
            continue
        host = str(row.get("source_host") or "")
        summary = {k: v for k, v in row.items() if k != "source_host"}
        by_file.setdefault(str(row.get("file")), {}).setdefault(host, summary)
    qualified = {file for file, hosts in by_file.items() if len({repr(v) for v in hosts.values()}) > 1}
    owner = {file: next(iter(hosts)) for file, hosts in by_file.items() if file not in qualified}
    summaries = []
    for file, hosts in by_file.items():
        for host, row in hosts.items():
            if file in qualified or owner[file] == host:
                try:
                    summaries.append(summary_from_dict({**row, "file": _relabel(file, host, qualified)}))
                except (TypeError, ValueError, KeyError) as err:
                    errors.append(f"{file}: a file summary that cannot be read ({err})")
    definitions = load_catalog(tuple(catalog))
    events: list[Event] = []
    for path in found.events:
        if os.path.realpath(path) in seen:
            continue
        seen.add(os.path.realpath(path))
        if not os.path.isfile(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            rows = read_events(path)
        except (OSError, ValueError, TypeError, KeyError) as err:
            errors.append(f"{path}: not a readable events Parquet file ({err})")
            continue
        bad = 0
        for row in rows:
            host = str(row.get("source_host") or "")
            file = row.get("file")
            if also_scanned(file) or (file in owner and owner[file] != host):
                continue  # scanned here, or a shared log whose events another node's file holds
            if file in qualified:
                row = {**row, "file": _relabel(file, host, qualified)}
                if isinstance(row.get("cause"), str):
                    for name in qualified:
                        row["cause"] = row["cause"].replace(f"({name}:", f"({host}:{name}:")
            try:
                if not isinstance(row.get("message"), str):
                    raise ValueError("an event without a message")
                events.append(_restore_role(Event.from_dict(row), definitions))
            except (TypeError, ValueError, KeyError, AttributeError):
                bad += 1
        if bad:
            errors.append(f"{path}: {bad} row(s) that are not events were left out")
    return events, summaries


def load_events(
    paths: Sequence[str] | str, *, catalog: Sequence[str] = ()
) -> Loaded:
    """Read event files (`monitor scan --format parquet -o DIR`, from one node or many) instead of
    scanning logs.

    `paths` are `.parquet` files and directories holding `events-*.parquet` files (with the
    `files-*.parquet` summaries beside them). The events of every file are correlated again, all
    together, so a cascade on one node is folded under its root cause on another (an Xid in one
    node's kernel log, the NCCL timeouts in the job log scanned elsewhere). `steps`, `timers` and
    `pauses` are empty: the files hold no progress records. `catalog` adds fault-catalog files (the
    ones the scans used).

    Raises:
        monitor.sinks.parquet.ParquetUnavailable: pyarrow is not installed.
    """
    if isinstance(paths, str):
        paths = [paths]
    found = _EventFiles()
    errors: list[str] = []
    for path in paths:
        files = _events_directory(path) if os.path.isdir(path) else [path]
        if not files:
            errors.append(f"{path}: directory holds no events-*.parquet files")
        for file in files:
            found.add(file)
    return _loaded([], found, catalog, load_settings(None, ()), errors)


def load(
    paths: Sequence[str] | str,
    *,
    catalog: Sequence[str] = (),
    settings: Settings | None = None,
    config: str | None = None,
    overrides: Sequence[str] = (),
    jobs: int = 1,
    max_rows_per_file: int | None = None,
    on_progress: Progress | None = None,
) -> Loaded:
    """Scan `paths` (files, directories, globs) and return their records and events.

    `jobs` > 1 scans files in that many processes (the result is the same);
    `max_rows_per_file` thins each file's records to about that many while
    reading (every other row dropped when it doubles; rows around restarts
    and non-finite losses are kept), so memory stays bounded on huge logs.

    `settings` (or a `config` file and `overrides`, as on the command line)
    tune the detectors; `catalog` adds fault-catalog files. Event files among
    the paths (a `.parquet` file, a directory of `events-*.parquet` files) are
    read as `load_events` reads them, and their events correlated together
    with those of the logs. `on_progress` is told the on-disk bytes of the logs read so far.
    """
    if isinstance(paths, str):
        paths = [paths]
    settings = settings or load_settings(config, overrides)
    logs, found = split_paths(list(paths))
    return _loaded(logs, found, catalog, settings, [], jobs, max_rows_per_file, on_progress)


def _scanned(
    sources: Sequence[Source],
    catalog: tuple[str, ...],
    settings: Settings,
    jobs: int,
    max_rows: int | None,
    on_progress: Progress | None = None,
) -> Iterator[tuple[_Collector, Any]]:
    """(collector, scan result) per source, in source order; with `jobs` > 1 across processes."""
    counter = ProgressCounter(on_progress)
    if jobs <= 1 or len(sources) < 2:
        for source in sources:
            yield _scan_one(source, catalog, settings, max_rows, counter.within(source))
            counter.add(source_size(source))
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(_scan_one, source, catalog, settings, max_rows) for source in sources]
        for source, future in zip(sources, futures):
            yield future.result()
            counter.add(source_size(source))


def _loaded(
    logs: Sequence[str],
    found: _EventFiles,
    catalog: Sequence[str],
    settings: Settings,
    errors: list[str],
    jobs: int = 1,
    max_rows: int | None = None,
    on_progress: Progress | None = None,
) -> Loaded:
    """Scan and correlate, with offset-less log times read in the `timezone` setting meanwhile."""
    previous = log_zone()
    set_log_zone(settings.zone)
    try:
        return _scan_and_correlate(logs, found, catalog, settings, errors, jobs, max_rows, on_progress)
    finally:
        set_log_zone(previous)


def _scan_and_correlate(
    logs: Sequence[str],
    found: _EventFiles,
    catalog: Sequence[str],
    settings: Settings,
    errors: list[str],
    jobs: int,
    max_rows: int | None,
    on_progress: Progress | None,
) -> Loaded:
    sources, unreadable = expand_paths(list(logs)) if logs else ([], [])
    errors += [f"{e.name}: {e.reason}" for e in unreadable]
    collectors: list[_Collector] = []
    raw: list[Event] = []
    files: list[SourceSummary] = []
    for collector, result in _scanned(sources, tuple(catalog), settings, jobs, max_rows, on_progress):
        collectors.append(collector)
        raw.extend(result.events)
        files.append(result.summary)
        if result.error is not None:
            errors.append(f"{result.error.name}: {result.error.reason}")
    if found:
        scanned = {os.path.realpath(s.path) for s in sources if s.path is not None}
        stored, summaries = _read_event_files(found, catalog, errors, scanned)
        raw.extend(stored)
        files.extend(summaries)
    events = correlate(label_runs(raw, files))
    timers = pd.DataFrame([row for c in collectors for row in c.timers], columns=TIMER_COLUMNS)
    pauses = pd.DataFrame([row for c in collectors for row in c.pauses], columns=PAUSE_COLUMNS)
    clock = {c.name: (c.first, c.last) for c in collectors if c.first is not None and c.last is not None}
    return Loaded(
        _steps_frame(collectors), events_frame(events, settings.zone), events, files, timers, pauses, clock, errors
    )
