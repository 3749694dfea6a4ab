"""Prometheus metrics for live following: the latest training state per run and rank,
event counters, and an HTTP endpoint that serves them.

`LiveMetrics` is the state the follower writes into as records and events arrive;
`MonitorCollector` turns a snapshot of it into fresh metric families on every scrape
(prometheus_client's custom-collector pattern); `serve` exposes it on its own
`CollectorRegistry`, never the process-global one.

Labels come only from bounded sets: run (named by the caller), rank, node, an
event's kind, severity and catalog code, and a followed file (capped, below).
Messages, evidence and steps are never labels.

Self-observability: how the monitor itself reads (`reading`): per followed file
(labelled by its path relative to the followed directory, at most `max_files`
of them, the rest aggregated under file="other") the lines and bytes read, the
rotations, truncations and read errors seen, and the bytes not read yet; the
internal errors caught while scanning a followed file; and the events the
webhook dropped or failed to deliver.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor import __version__
from monitor.model import Event, StepRecord

OTHER = "other"
"""The rank label (and event code) that series beyond the cap are aggregated under."""

SERIES_LABELS = ("run", "rank", "node")
EVENT_LABELS = ("run", "kind", "severity", "code")

# StepRecord field -> (metric name, help text); one gauge per (run, rank)
GAUGES: dict[str, tuple[str, str]] = {
    "step": ("monitor_step", "Latest training step seen."),
    "loss": ("monitor_loss", "Latest training loss seen (NaN when the run printed a non-finite loss)."),
    "grad_norm": ("monitor_grad_norm", "Latest gradient norm seen."),
    "lr": ("monitor_learning_rate", "Latest learning rate seen."),
    "loss_scale": ("monitor_loss_scale", "Latest mixed-precision loss scale seen."),
    "step_time_s": ("monitor_step_time_seconds", "Latest time per training step."),
    "tokens_per_s": ("monitor_tokens_per_second", "Latest training throughput in tokens per second."),
    "samples_per_s": ("monitor_samples_per_second", "Latest training throughput in samples per second."),
}
FIELDS = tuple(GAUGES)


# FileReading field -> (counter name without _total, help text); one counter per followed file
FILE_COUNTERS: dict[str, tuple[str, str]] = {
    "lines": ("monitor_lines_read", "Lines read from the followed file."),
    "bytes": ("monitor_bytes_read", "Bytes read from the followed file."),
    "rotations": ("monitor_file_rotations", "Times the followed file was rotated (renamed, replaced or re-pointed)."),
    "truncations": ("monitor_file_truncations", "Times the followed file was truncated (read again from its start)."),
    "read_errors": ("monitor_read_errors", "Failed attempts to open or read the followed file."),
}


class FileReading(NamedTuple):
    """How the follower has read one file so far: counters since the monitor started, and the bytes
    not read yet (None when the file is not open now)."""

    lines: int = 0
    bytes: int = 0
    rotations: int = 0
    truncations: int = 0
    read_errors: int = 0
    behind: int | None = None


def rank_label(rank: int | str | None) -> str:
    """The rank as a label value: "" when the record carries none."""
    return "" if rank is None else str(rank)


class _Series:
    """What is known of one (run, rank): its node, the latest values, progress and hang state."""

    __slots__ = ("node", "values", "progress", "hang", "hanging")

    def __init__(self) -> None:
        self.node = ""
        self.values: dict[str, float] = {}
        self.progress: float | None = None
        self.hang: bool | None = None
        self.hanging: set[str] = set()  # the "other" series: which of its ranks hang


class LiveMetrics:
    """The live state the exporter reads; safe to update from any thread.

    Series are kept per (run, rank) with the latest value of each gauge, the node
    last seen for that rank, the time of its last progress and whether it hangs.
    Only values that were seen are kept (a rank that never printed a learning rate
    has no learning-rate sample); a NaN loss is a value and is kept.

    Cardinality cap: at most `max_series` distinct (run, rank) pairs get their own
    series. Once the cap is reached, updates for any further pair are aggregated
    under rank="other" (node="") of the same run: each gauge there holds the latest
    value from any of those ranks, progress is the most recent progress of any of
    them, and hang is 1 while any of them hangs. Every step record aggregated this
    way, and every event counted under the code "other" (the same cap applies to
    the distinct (run, kind, severity, code) sets of the event counter), is counted
    in `monitor_series_dropped_total`. So the exporter serves at most `max_series`
    rank series plus one rank="other" series per run, and at most `max_series`
    event series plus one code="other" series per run, kind and severity.
    """

    def __init__(self, max_series: int = 1000, max_files: int = 1000) -> None:
        if max_series < 1 or max_files < 1:
            raise ValueError(f"max_series and max_files must be at least 1, not {max_series} and {max_files}")
        self.max_series = max_series
        self.max_files = max_files
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Series] = {}
        self._other: dict[str, _Series] = {}
        self._events: dict[tuple[str, str, str, str], float] = {}
        self._dropped = 0
        self._files: dict[str, FileReading] = {}  # file label -> its reading (summed over the paths it names)
        self._file_slots: dict[str, str] = {}  # file label as given -> the label served (itself or "other")
        self._own_files = 0  # labels served as themselves
        self._parse_errors = 0
        self._webhook = (0, 0)  # (dropped, failed)
        self._roots: dict[str, tuple[str, str, str, str, str]] = {}  # run -> the current root cause's labels

    def _slot(self, run: str, rank: str) -> tuple[_Series, bool]:
        """The series for (run, rank), created if the cap allows, else the run's "other"
        series; and whether it is the latter. Call with the lock held."""
        key = (run, rank)
        series = self._series.get(key)
        if series is not None:
            return series, False
        if len(self._series) < self.max_series:
            series = self._series[key] = _Series()
            return series, False
        other = self._other.get(run)
        if other is None:
            other = self._other[run] = _Series()
        return other, True

    def observe(self, run: str, record: StepRecord) -> None:
        """Keep the values `record` carries as the latest of its run and rank."""
        values = {name: float(v) for name in FIELDS if (v := getattr(record, name)) is not None}
        with self._lock:
            series, other = self._slot(run, rank_label(record.rank))
            if other:
                self._dropped += 1
            elif record.node:
                series.node = record.node
            series.values.update(values)

    def progress(self, run: str, rank: int | str | None, node: str | None, wall_time: float) -> None:
        """The run's rank made progress at `wall_time` (seconds since the epoch, on the
        collector's clock)."""
        with self._lock:
            series, other = self._slot(run, rank_label(rank))
            if not other and node:
                series.node = node
            if not other or series.progress is None or wall_time > series.progress:
                series.progress = wall_time  # the "other" series keeps the most recent

    def root_cause(self, run: str, event: Event) -> None:
        """The root of the run's current incident (one per run: the latest replaces it)."""
        labels = (run, event.code or str(event.kind), str(event.kind), event.node or "", rank_label(event.rank))
        with self._lock:
            if run in self._roots or len(self._roots) < self.max_series:
                self._roots[run] = labels

    def hang(self, run: str, rank: int | str | None, hanging: bool) -> None:
        """The run's rank is (or is no longer) hanging."""
        label = rank_label(rank)
        with self._lock:
            series, other = self._slot(run, label)
            if other:
                if hanging:
                    series.hanging.add(label)
                else:
                    series.hanging.discard(label)
                series.hang = bool(series.hanging)
            else:
                series.hang = hanging

    def event(self, run: str, event: Event) -> None:
        """Count `event` (as many times as it was folded) by kind, severity and code."""
        key = (run, str(event.kind), str(event.severity), event.code or "")
        amount = event.count or 1
        with self._lock:
            if key not in self._events and len(self._events) >= self.max_series:
                key = key[:3] + (OTHER,)
                self._dropped += amount
            self._events[key] = self._events.get(key, 0) + amount

    def reading(self, files: Iterable[tuple[str, FileReading]]) -> None:
        """The follower's counters now, as (file label, reading) pairs for every file it has seen
        (the counters are totals since it started: they replace the previous ones, and files that
        share a label are added up). The first `max_files` labels keep their own series for good;
        any later one is added into file="other"."""
        with self._lock:
            served: dict[str, FileReading] = {}
            for label, reading in files:
                slot = self._file_slots.get(label)
                if slot is None:
                    slot = label if self._own_files < self.max_files and label != OTHER else OTHER
                    self._file_slots[label] = slot
                    self._own_files += slot != OTHER
                served[slot] = _add(served[slot], reading) if slot in served else reading
            for label, reading in self._files.items():  # a file forgotten by the caller keeps its counts
                if label not in served:
                    served[label] = reading._replace(behind=None)
            self._files = served

    def parse_errors(self, total: int) -> None:
        """The internal errors caught while scanning followed files so far."""
        with self._lock:
            self._parse_errors = max(self._parse_errors, total)

    def webhook(self, dropped: int, failed: int) -> None:
        """The webhook's counts so far of events dropped (queue full) and failed (not delivered)."""
        with self._lock:
            self._webhook = (max(self._webhook[0], dropped), max(self._webhook[1], failed))

    def snapshot(self) -> Snapshot:
        """A consistent copy of the state, taken under the lock."""
        with self._lock:
            rows = [
                Row(run, rank, s.node, dict(s.values), s.progress, s.hang) for (run, rank), s in self._series.items()
            ]
            rows += [Row(run, OTHER, "", dict(s.values), s.progress, s.hang) for run, s in self._other.items()]
            return Snapshot(rows, dict(self._events), self._dropped, dict(self._files), self._parse_errors,
                            *self._webhook, list(self._roots.values()))


def _add(a: FileReading, b: FileReading) -> FileReading:
    behind = None if a.behind is None and b.behind is None else (a.behind or 0) + (b.behind or 0)
    return FileReading(*(x + y for x, y in zip(a[:5], b[:5])), behind)


class Row(NamedTuple):
    """One series in a snapshot."""

    run: str
    rank: str
    node: str
    values: dict[str, float]
    progress: float | None
    hang: bool | None


class Snapshot(NamedTuple):
    """The state at one instant: one row per series, the event counts and the drop count; the
    reading per file label, the parse errors and the webhook's dropped and failed counts."""

    rows: list[Row]
    events: dict[tuple[str, str, str, str], float]
    dropped: int
    files: dict[str, FileReading]
    parse_errors: int
    webhook_dropped: int
    webhook_failed: int
    roots: list[tuple[str, str, str, str, str]] = []


class MonitorCollector:
    """A custom collector: fresh metric families from a snapshot of `metrics` on each
    scrape. `clock` gives the current time for seconds-since-progress (the clock the
    progress times were taken on)."""

    def __init__(self, metrics: LiveMetrics, clock: Callable[[], float] = time.time) -> None:
        self.metrics = metrics
        self.clock = clock

    def describe(self) -> Iterator[Metric]:
        """The families' names, so that a registry can reject a duplicate."""
        gauges, *others = _families()
        counters, behind, *own = _self_families()
        return iter([*gauges.values(), *others, *counters.values(), behind, *own])

    def collect(self) -> Iterator[Metric]:
        snap = self.metrics.snapshot()
        now = self.clock()
        yield from self._training(snap, now)
        yield from self._self(snap)

    def _self(self, snap: Snapshot) -> Iterator[Metric]:
        counters, behind, parse_errors, webhook_dropped, webhook_failed = _self_families()
        for label, reading in snap.files.items():
            for field, family in counters.items():
                family.add_metric([label], getattr(reading, field))
            if reading.behind is not None:
                behind.add_metric([label], reading.behind)
        for family in (*counters.values(), behind):
            if family.samples:
                yield family
        parse_errors.add_metric([], snap.parse_errors)
        webhook_dropped.add_metric([], snap.webhook_dropped)
        webhook_failed.add_metric([], snap.webhook_failed)
        yield from (parse_errors, webhook_dropped, webhook_failed)

    def _training(self, snap: Snapshot, now: float) -> Iterator[Metric]:
        gauges, since, hang, events, dropped, build = _families()
        for row in snap.rows:
            labels = [row.run, row.rank, row.node]
            for name, value in row.values.items():
                gauges[name].add_metric(labels, value)
            if row.progress is not None:
                since.add_metric(labels, max(0.0, now - row.progress))
            if row.hang is not None:
                hang.add_metric(labels, 1.0 if row.hang else 0.0)
        for key, count in snap.events.items():
            events.add_metric(list(key), count)
        root = GaugeMetricFamily(
            "monitor_root_cause_info",
            "The root fault of the run's current incident (the latest root that other events were traced to); "
            "always 1.",
            labels=["run", "code", "kind", "node", "rank"],
        )
        for labels in snap.roots:
            root.add_metric(list(labels), 1.0)
        if root.samples:
            yield root
        dropped.add_metric([], snap.dropped)
        build.add_metric([__version__], 1.0)
        for family in (*gauges.values(), since, hang, events):
            if family.samples:
                yield family
        yield dropped
        yield build


def _families() -> tuple[
    dict[str, GaugeMetricFamily],
    GaugeMetricFamily,
    GaugeMetricFamily,
    CounterMetricFamily,
    CounterMetricFamily,
    GaugeMetricFamily,
]:
    """Empty families, one of each metric the collector serves."""
    gauges = {field: GaugeMetricFamily(name, text, labels=SERIES_LABELS) for field, (name, text) in GAUGES.items()}
    since = GaugeMetricFamily(
        "monitor_seconds_since_progress", "Seconds since the rank last made training progress.", labels=SERIES_LABELS
    )
    hang = GaugeMetricFamily(
        "monitor_hang", "1 while the rank is hanging (no progress for too long), else 0.", labels=SERIES_LABELS
    )
    events = CounterMetricFamily(
        "monitor_events", "Events found, by kind, severity and catalog code (folded events count each time).",
        labels=EVENT_LABELS,
    )
    dropped = CounterMetricFamily(
        "monitor_series_dropped",
        'Step records and events aggregated under rank="other" or code="other" because the series cap was reached.',
    )
    build = GaugeMetricFamily("monitor_build_info", "The monitor's version; always 1.", labels=["version"])
    return gauges, since, hang, events, dropped, build


def _self_families() -> tuple[
    dict[str, CounterMetricFamily], GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily, CounterMetricFamily
]:
    """Empty families of the monitor's own metrics."""
    counters = {
        field: CounterMetricFamily(name, text, labels=["file"]) for field, (name, text) in FILE_COUNTERS.items()
    }
    behind = GaugeMetricFamily(
        "monitor_bytes_behind", "Bytes of the followed file not read yet (its size minus the bytes read).",
        labels=["file"],
    )
    parse_errors = CounterMetricFamily(
        "monitor_parse_errors", "Internal errors caught while scanning followed files (those lines were skipped).",
    )
    webhook_dropped = CounterMetricFamily(
        "monitor_webhook_events_dropped", "Events not sent to the webhook: its queue was full or it was closing.",
    )
    webhook_failed = CounterMetricFamily(
        "monitor_webhook_events_failed", "Events the webhook receiver never accepted (every retry failed, or a 4xx).",
    )
    return counters, behind, parse_errors, webhook_dropped, webhook_failed


def serve(metrics: LiveMetrics, addr: str = "127.0.0.1", port: int = 9108) -> tuple[WSGIServer, threading.Thread]:
    """Serve `metrics` at http://ADDR:PORT/metrics from a daemon thread, on a private registry.

    Port 0 binds an ephemeral port: the bound one is `server.server_port`. Stop it with
    `shutdown(server, thread)`.
    """
    registry = CollectorRegistry()
    registry.register(MonitorCollector(metrics))
    server, thread = start_http_server(port, addr, registry=registry)
    return server, thread


def shutdown(server: WSGIServer, thread: threading.Thread, timeout: float = 5.0) -> None:
    """Stop a server started by `serve` and release its port."""
    server.shutdown()
    server.server_close()
    thread.join(timeout)

