"""The notebook API: `monitor.load(paths)` gives the step records and the events as DataFrames.

The same scan as `monitor scan` runs (parsers, fault catalog, detectors,
correlation); besides the events it keeps every progress record, so a user
can do their own post-mortem in Jupyter, and `monitor report` is built on it.

`Loaded.steps` columns: file, line, rank, node, step, epoch, loss, eval_loss,
grad_norm, lr, loss_scale, step_time_s, tokens_per_s, samples_per_s, tflops,
mfu, skipped, nan_count, total_steps, epoch_s (seconds since the epoch, NaN
without a timestamp); indexed by `time` (UTC) when every record has a
timestamp, else by position. `Loaded.events` has one row per event, with the
fields of the design contract (`time` parsed to UTC, NaT when unknown).
`Loaded.timers` has one row per timer of each step-time breakdown (file,
line, step, epoch_s, name, ms); `Loaded.pauses` one per announced checkpoint
save (file, line, step); `Loaded.clock` the first and last timestamp seen
per file, progress or not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from monitor.correlate import correlate
from monitor.model import Event, Heartbeat, Kind, Pause, Severity, SourceSummary, StepRecord, TimerRecord
from monitor.pipeline import scan_source
from monitor.settings import Settings, load_settings
from monitor.sources.files import expand_paths

STEP_COLUMNS = (
    "step", "epoch", "loss", "eval_loss", "grad_norm", "lr", "loss_scale", "step_time_s", "tokens_per_s",
    "samples_per_s", "tflops", "mfu", "skipped", "nan_count", "total_steps", "epoch_s",
)


EVENT_COLUMNS = list(Event(kind=Kind.NAN, severity=Severity.INFO, message="").to_dict())


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


class _Collector:
    """Keeps the records of one file in columns (lists), cheaper than a list of records."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.columns: dict[str, list[Any]] = {key: [] for key in ("file", "line", "rank", "node", *STEP_COLUMNS)}
        self.timers: list[tuple[Any, ...]] = []
        self.pauses: list[tuple[Any, ...]] = []
        self.first: float | None = None
        self.last: float | None = None

    def _seen(self, epoch: float | None) -> None:
        if epoch is None or not math.isfinite(epoch):
            return
        self.first = epoch if self.first is None else min(self.first, epoch)
        self.last = epoch if self.last is None else max(self.last, epoch)

    def __call__(self, records: list[Any]) -> None:
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
                self._seen(record.epoch_s)
            elif kind is TimerRecord:
                for timer, ms in record.timers.items():
                    self.timers.append((self.name, record.line, record.step, record.epoch_s, timer, ms))
            elif kind is Pause:
                self.pauses.append((self.name, record.line, record.step))
            elif kind is Heartbeat:
                self._seen(record.epoch_s)


def _steps_frame(collectors: Sequence[_Collector]) -> pd.DataFrame:
    frames = [pd.DataFrame(c.columns) for c in collectors if c.columns["line"]]
    if not frames:
        return pd.DataFrame(columns=["file", "line", "rank", "node", *STEP_COLUMNS])
    steps = pd.concat(frames, ignore_index=True)
    for key in STEP_COLUMNS:
        steps[key] = pd.to_numeric(steps[key], errors="coerce")
    if steps["epoch_s"].notna().all():
        steps.index = pd.DatetimeIndex(pd.to_datetime(steps["epoch_s"], unit="s", utc=True), name="time")
    return steps


def events_frame(events: Sequence[Event]) -> pd.DataFrame:
    """The events as a DataFrame, one row each, with the contract's fields."""
    frame = pd.DataFrame([event.to_dict() for event in events], columns=EVENT_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True, errors="coerce", format="ISO8601")
    return frame


def load(
    paths: Sequence[str] | str,
    *,
    catalog: Sequence[str] = (),
    settings: Settings | None = None,
    config: str | None = None,
    overrides: Sequence[str] = (),
) -> Loaded:
    """Scan `paths` (files, directories, globs) and return their records and events.

    `settings` (or a `config` file and `overrides`, as on the command line)
    tune the detectors; `catalog` adds fault-catalog files.
    """
    if isinstance(paths, str):
        paths = [paths]
    settings = settings or load_settings(config, overrides)
    sources, unreadable = expand_paths(list(paths))
    errors = [f"{e.name}: {e.reason}" for e in unreadable]
    collectors: list[_Collector] = []
    raw: list[Event] = []
    files: list[SourceSummary] = []
    for source in sources:
        collector = _Collector(source.name)
        result = scan_source(source, tuple(catalog), settings, on_records=collector)
        collectors.append(collector)
        raw.extend(result.events)
        files.append(result.summary)
        if result.error is not None:
            errors.append(f"{result.error.name}: {result.error.reason}")
    events = correlate(raw)
    timers = pd.DataFrame(
        [row for c in collectors for row in c.timers], columns=["file", "line", "step", "epoch_s", "name", "ms"]
    )
    pauses = pd.DataFrame([row for c in collectors for row in c.pauses], columns=["file", "line", "step"])
    clock = {c.name: (c.first, c.last) for c in collectors if c.first is not None and c.last is not None}
    return Loaded(_steps_frame(collectors), events_frame(events), events, files, timers, pauses, clock, errors)
