"""Prometheus metrics for live following: the latest training state per series, event counters,
and the monitor's own health.

`LiveMetrics` is the state the follower writes into as records and events arrive;
`MonitorCollector` turns a snapshot of it into fresh metric families on every scrape
(prometheus_client's custom-collector pattern). Serving it over HTTP is `metrics_server`'s job.

Series identity. A training series is one (run, rank) where the line names its rank, else one
(run, source): `source` is the followed file's label, so rank-less logs of different frameworks
never collapse into one `rank=""` series. Event counters carry `node` (the line's host, else the
host this monitor runs on) and `device` (a PCI bus id in DCGM's form `00000000:3B:00.0`, else the
GPU or NPU index as the line prints it), so they join with dcgm-exporter's `Hostname` and
`pci_bus_id` labels and the Ascend NPU exporter's device id.

Labels come only from bounded sets: run (named by the caller), rank, source and file (capped),
node, device, an event's kind, severity and catalog code. Messages, evidence and steps are never
labels. Times are served as Unix timestamps (`..._timestamp_seconds`), never as "seconds since",
so a stale scrape does not lie; counters carry their creation time (`_created`).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor import __version__
from monitor.model import Event, StepRecord

OTHER = "other"
"""The rank, source, file or code label that series beyond a cap are aggregated under."""

SERIES_LABELS = ("run", "rank", "source", "node")
EVENT_LABELS = ("run", "node", "device", "kind", "severity", "code")

# StepRecord field -> (metric name, help text); one gauge per series
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
    "bytes": ("monitor_read_bytes", "Bytes read from the followed file."),
    "rotations": ("monitor_file_rotations", "Times the followed file was rotated (renamed, replaced or re-pointed)."),
    "truncations": ("monitor_file_truncations", "Times the followed file was truncated (read again from its start)."),
    "read_errors": ("monitor_read_errors", "Failed attempts to open or read the followed file."),
}

# A PCI address as logs print it: [domain:]bus:device[.function] (NVRM's Xid lines print `0000:3b:00`)
_PCI = re.compile(r"(?:(?P<domain>[0-9A-Fa-f]{1,8}):)?(?P<bus>[0-9A-Fa-f]{2}):(?P<dev>[0-9A-Fa-f]{2})"
                  r"(?:\.(?P<fn>[0-7]))?")
_MAX_LABEL_CHARS = 128


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


def device_label(device: str | None) -> str:
    """An event's device as a label: a PCI address in the form dcgm-exporter's `pci_bus_id` label has
    (NVML's bus id: 8-digit domain, upper case, with the function: `00000000:3B:00.0`), any other id
    (a GPU or NPU index) as printed, "" when unknown."""
    if not device:
        return ""
    pci = _PCI.fullmatch(device.strip())
    if pci is None:
        return device.strip()[:_MAX_LABEL_CHARS]
    domain = int(pci["domain"] or "0", 16)
    return f"{domain:08X}:{pci['bus'].upper()}:{pci['dev'].upper()}.{pci['fn'] or '0'}"


class _Series:
    """What is known of one series: its node, the latest values, progress and hang state."""

    __slots__ = ("node", "values", "progress", "hang", "hanging")

    def __init__(self) -> None:
        self.node = ""
        self.values: dict[str, float] = {}
        self.progress: float | None = None
        self.hang: bool | None = None
        self.hanging: set[tuple[str, str]] = set()  # an "other" series: which of its members hang


class _Labels:
    """A capped label: the first `cap` distinct values are served as themselves, any later one
    as "other" (for good: a value never moves between the two)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._own: dict[str, float] = {}  # value -> when it was first seen

    def slot(self, value: str, now: float) -> str:
        if value in self._own:
            return value
        if value != OTHER and len(self._own) < self.cap:
            self._own[value] = now
            return value
        return OTHER


class LiveMetrics:
    """The live state the exporter reads; safe to update from any thread.

    Series are kept per (run, rank), or per (run, source) for records without a rank, with the
    latest value of each gauge, the node last seen, the time of the last progress and whether it
    hangs. Only values that were seen are kept (a rank that never printed a learning rate has no
    learning-rate sample); a NaN loss is a value and is kept.

    Cardinality caps: at most `max_files` distinct source labels (the rest are served as
    source="other") and at most `max_series` training series. Updates for a series beyond the
    caps are aggregated under rank="other" (or source="other") of the same run: each gauge there
    holds the latest value from any of its members, progress the most recent, and hang is 1
    while any of them hangs. The event counter keeps at most `max_series` label sets, then counts
    under code="other". Every record and event aggregated this way is counted in
    `monitor_series_dropped_total`.

    `host` is the node label of events whose line names no host (default: this machine's name);
    `clock` gives the wall time for counters' creation and the follow loop's liveness.
    """

    def __init__(self, max_series: int = 1000, max_files: int = 1000, host: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if max_series < 1 or max_files < 1:
            raise ValueError(f"max_series and max_files must be at least 1, not {max_series} and {max_files}")
        self.max_series = max_series
        self.max_files = max_files
        self.host = socket.gethostname() if host is None else host
        self.clock = clock
        self.started = clock()
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._other: dict[tuple[str, str, str], _Series] = {}
        self._sources = _Labels(max_files)
        self._events: dict[tuple[str, ...], list[float]] = {}  # labels -> [count, created]
        self._dropped = 0
        self._files: dict[str, FileReading] = {}  # file label -> its reading (summed over the paths it names)
        self._file_labels = _Labels(max_files)
        self._file_created: dict[str, float] = {}
        self._parse_errors = 0
        self._over_rank_caps = 0
        self._webhook = (0, 0)  # (dropped, failed)
        self._http_dropped = 0
        self._roots: dict[str, tuple[str, str, str, str, str]] = {}  # run -> the current root cause's labels
        self._last_iteration: float | None = None

    def _slot(self, run: str, rank: int | str | None, source: str) -> tuple[_Series, tuple[str, str] | None]:
        """The series for a record, created if the caps allow, else the run's aggregate; and, for the
        latter, the member (rank, source) it stands for. Call with the lock held."""
        rank_l = rank_label(rank)
        src = "" if rank_l else self._sources.slot(source, self.clock())
        key = (run, rank_l, src)
        series = self._series.get(key)
        if series is not None:
            return series, None
        if src != OTHER and len(self._series) < self.max_series:
            series = self._series[key] = _Series()
            return series, None
        other_key = (run, "", OTHER) if src == OTHER else (run, OTHER, "")
        other = self._other.get(other_key)
        if other is None:
            other = self._other[other_key] = _Series()
        return other, (rank_l, source)

    def observe(self, run: str, record: StepRecord, source: str = "") -> None:
        """Keep the values `record` (read from the file labelled `source`) carries as the latest of its series."""
        values = {name: float(v) for name in FIELDS if (v := getattr(record, name)) is not None}
        with self._lock:
            series, member = self._slot(run, record.rank, source)
            if member is not None:
                self._dropped += 1
            elif record.node:
                series.node = record.node
            series.values.update(values)

    def progress(self, run: str, rank: int | str | None, node: str | None, wall_time: float,
                 source: str = "") -> None:
        """The series made progress at `wall_time` (seconds since the epoch)."""
        with self._lock:
            series, member = self._slot(run, rank, source)
            if member is None and node:
                series.node = node
            if member is None or series.progress is None or wall_time > series.progress:
                series.progress = wall_time  # an aggregate keeps the most recent

    def hang(self, run: str, rank: int | str | None, hanging: bool, source: str = "") -> None:
        """The series is (or is no longer) hanging."""
        with self._lock:
            series, member = self._slot(run, rank, source)
            if member is None:
                series.hang = hanging
                return
            if hanging:
                series.hanging.add(member)
            else:
                series.hanging.discard(member)
            series.hang = bool(series.hanging)

    def root_cause(self, run: str, event: Event) -> None:
        """The root of the run's current incident (one per run: the latest replaces it)."""
        labels = (run, event.code or str(event.kind), str(event.kind), event.node or "", rank_label(event.rank))
        with self._lock:
            if run in self._roots or len(self._roots) < self.max_series:
                self._roots[run] = labels

    def event(self, run: str, event: Event) -> None:
        """Count `event` (as many times as it was folded) by node, device, kind, severity and code."""
        key = (run, event.node or self.host, device_label(event.device), str(event.kind), str(event.severity),
               event.code or "")
        amount = event.count or 1
        with self._lock:
            if key not in self._events and len(self._events) >= self.max_series:
                key = key[:5] + (OTHER,)
                self._dropped += amount
            entry = self._events.get(key)
            if entry is None:
                entry = self._events[key] = [0.0, self.clock()]
            entry[0] += amount

    def reading(self, files: Iterable[tuple[str, FileReading]]) -> None:
        """The follower's counters now, as (file label, reading) pairs for every file it has seen
        (the counters are totals since it started: they replace the previous ones, and files that
        share a label are added up). The first `max_files` labels keep their own series for good;
        any later one is added into file="other"."""
        with self._lock:
            now = self.clock()
            served: dict[str, FileReading] = {}
            for label, reading in files:
                slot = self._file_labels.slot(label, now)
                self._file_created.setdefault(slot, now)
                served[slot] = _add(served[slot], reading) if slot in served else reading
            for label, reading in self._files.items():  # a file forgotten by the caller keeps its counts
                if label not in served:
                    served[label] = reading._replace(behind=None)
            self._files = served

    def parse_errors(self, total: int) -> None:
        """The internal errors caught while scanning followed files so far."""
        with self._lock:
            self._parse_errors = max(self._parse_errors, total)

    def over_rank_caps(self, total: int) -> None:
        """The step records so far that were not checked: their file or the agent had reached its cap of
        ranks (`tail_max_ranks_per_file`, `tail_max_ranks`)."""
        with self._lock:
            self._over_rank_caps = max(self._over_rank_caps, total)

    def webhook(self, dropped: int, failed: int) -> None:
        """The webhook's counts so far of notifications dropped (queue full) and failed (not delivered)."""
        with self._lock:
            self._webhook = (max(self._webhook[0], dropped), max(self._webhook[1], failed))

    def http_dropped(self) -> None:
        """The metrics server dropped a connection (its request was not complete in time, or it was reset)."""
        with self._lock:
            self._http_dropped += 1

    def iteration(self, wall_time: float | None = None) -> None:
        """The follow loop started an iteration (at `wall_time`, default now): its liveness signal."""
        with self._lock:
            self._last_iteration = self.clock() if wall_time is None else wall_time

    def stale_for(self, now: float | None = None) -> float | None:
        """Seconds since the follow loop last started an iteration; None when it never did."""
        with self._lock:
            last = self._last_iteration
        return None if last is None else max(0.0, (self.clock() if now is None else now) - last)

    def snapshot(self) -> Snapshot:
        """A consistent copy of the state, taken under the lock."""
        with self._lock:
            rows = [Row(run, rank, src, s.node, dict(s.values), s.progress, s.hang)
                    for (run, rank, src), s in (*self._series.items(), *self._other.items())]
            events = {key: (count, created) for key, (count, created) in self._events.items()}
            return Snapshot(
                rows, events, self._dropped, dict(self._files), dict(self._file_created), self._parse_errors,
                *self._webhook, self._http_dropped, list(self._roots.values()), self.started, self._last_iteration,
                self._over_rank_caps,
            )


def _add(a: FileReading, b: FileReading) -> FileReading:
    behind = None if a.behind is None and b.behind is None else (a.behind or 0) + (b.behind or 0)
    return FileReading(*(x + y for x, y in zip(a[:5], b[:5])), behind)


class Row(NamedTuple):
    """One training series in a snapshot."""

    run: str
    rank: str
    source: str
    node: str
    values: dict[str, float]
    progress: float | None
    hang: bool | None


class Snapshot(NamedTuple):
    """The state at one instant: the training series, the event counts (with their creation
    times), the drop count; the reading per file label and when each label appeared; the parse
    errors, the webhook's dropped and failed counts, the metrics server's dropped connections;
    the root causes; when the monitor started and when the follow loop last ran; the records over
    the rank caps."""

    rows: list[Row]
    events: dict[tuple[str, ...], tuple[float, float]]
    dropped: int
    files: dict[str, FileReading]
    file_created: dict[str, float]
    parse_errors: int
    webhook_dropped: int
    webhook_failed: int
    http_dropped: int
    roots: list[tuple[str, str, str, str, str]]
    started: float
    last_iteration: float | None
    over_rank_caps: int = 0


class MonitorCollector:
    """A custom collector: fresh metric families from a snapshot of `metrics` on each scrape."""

    def __init__(self, metrics: LiveMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        """The families' names, so that a registry can reject a duplicate."""
        return iter([*_training_families().values(), *_self_families().values()])

    def collect(self) -> Iterator[Metric]:
        snap = self.metrics.snapshot()
        yield from self._training(snap)
        yield from self._self(snap)

    def _training(self, snap: Snapshot) -> Iterator[Metric]:
        families = _training_families()
        for row in snap.rows:
            labels = [row.run, row.rank, row.source, row.node]
            for name, value in row.values.items():
                families[name].add_metric(labels, value)
            if row.progress is not None:
                families["progress"].add_metric(labels, row.progress)
            if row.hang is not None:
                families["hang"].add_metric(labels, 1.0 if row.hang else 0.0)
        for key, (count, created) in snap.events.items():
            families["events"].add_metric(list(key), count, created=created)
        for labels in snap.roots:
            families["root"].add_metric(list(labels), 1.0)
        families["dropped"].add_metric([], snap.dropped, created=snap.started)
        families["build"].add_metric([__version__], 1.0)
        yield from (family for family in families.values() if family.samples)

    def _self(self, snap: Snapshot) -> Iterator[Metric]:
        families = _self_families()
        for label, reading in snap.files.items():
            created = snap.file_created.get(label, snap.started)
            for field in FILE_COUNTERS:
                families[field].add_metric([label], getattr(reading, field), created=created)
            if reading.behind is not None:
                families["behind"].add_metric([label], reading.behind)
        families["parse_errors"].add_metric([], snap.parse_errors, created=snap.started)
        families["over_rank_caps"].add_metric([], snap.over_rank_caps, created=snap.started)
        families["webhook_dropped"].add_metric([], snap.webhook_dropped, created=snap.started)
        families["webhook_failed"].add_metric([], snap.webhook_failed, created=snap.started)
        families["http_dropped"].add_metric([], snap.http_dropped, created=snap.started)
        if snap.last_iteration is not None:
            families["iteration"].add_metric([], snap.last_iteration)
        yield from (family for family in families.values() if family.samples)


def _training_families() -> dict[str, Metric]:
    """Empty families of the training metrics, by StepRecord field or role."""
    families: dict[str, Metric] = {
        field: GaugeMetricFamily(name, text, labels=SERIES_LABELS) for field, (name, text) in GAUGES.items()
    }
    families["progress"] = GaugeMetricFamily(
        "monitor_last_progress_timestamp_seconds",
        "When the series last made training progress (Unix time the progress line was read).", labels=SERIES_LABELS,
    )
    families["hang"] = GaugeMetricFamily(
        "monitor_hang", "1 while the series is hanging (no progress for too long), else 0.", labels=SERIES_LABELS,
    )
    families["events"] = CounterMetricFamily(
        "monitor_events", "Events found, by node, device, kind, severity and catalog code (folded events count "
        "each time).", labels=EVENT_LABELS,
    )
    families["root"] = GaugeMetricFamily(
        "monitor_root_cause_info",
        "The root fault of the run's current incident (the latest root that other events were traced to); always 1.",
        labels=["run", "code", "kind", "node", "rank"],
    )
    families["dropped"] = CounterMetricFamily(
        "monitor_series_dropped",
        'Step records and events aggregated under rank, source or code "other" because a series cap was reached.',
    )
    families["build"] = GaugeMetricFamily("monitor_build_info", "The monitor's version; always 1.", labels=["version"])
    return families


def _self_families() -> dict[str, Metric]:
    """Empty families of the monitor's own metrics."""
    families: dict[str, Metric] = {
        field: CounterMetricFamily(name, text, labels=["file"]) for field, (name, text) in FILE_COUNTERS.items()
    }
    families["behind"] = GaugeMetricFamily(
        "monitor_file_behind_bytes", "Bytes of the followed file not read yet (its size minus the bytes read).",
        labels=["file"],
    )
    families["parse_errors"] = CounterMetricFamily(
        "monitor_parse_errors", "Internal errors caught while scanning followed files (those lines were skipped).",
    )
    families["over_rank_caps"] = CounterMetricFamily(
        "monitor_records_over_rank_cap",
        "Step records not checked because their file or the agent had reached its cap of ranks "
        "(settings tail_max_ranks_per_file, tail_max_ranks).",
    )
    families["webhook_dropped"] = CounterMetricFamily(
        "monitor_webhook_events_dropped",
        "Notifications not sent to the webhook: its queue was full or it was closing.",
    )
    families["webhook_failed"] = CounterMetricFamily(
        "monitor_webhook_events_failed",
        "Notifications the webhook receiver never accepted (every retry failed, or a 4xx).",
    )
    families["http_dropped"] = CounterMetricFamily(
        "monitor_http_connections_dropped",
        "Connections to the metrics server dropped: the request was not complete in time, or was reset.",
    )
    families["iteration"] = GaugeMetricFamily(
        "monitor_follow_loop_last_iteration_timestamp_seconds",
        "When the follow loop last started an iteration (Unix time): a stuck monitor stops moving it.",
    )
    return families
