"""The shared vocabulary of the pipeline: records, events and their closed sets.

Everything else imports this module; it imports nothing from the package. The
names and fields are those of the design contract (`DESIGN.md`): an `Event`
serialises to exactly the JSONL object the contract describes.

Deliberately not here: parsing, thresholds, output formatting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import re
from typing import Any, NamedTuple


class Severity(enum.IntEnum):
    """How bad an event is; ordered so that `--fail-on` is a comparison."""

    INFO = 0
    WARNING = 1
    ERROR = 2
    CRITICAL = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse a severity name; raise ValueError naming the accepted ones."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            accepted = ", ".join(str(s) for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {accepted}") from None


class _Name(str, enum.Enum):
    """An enum whose members print as their contract name."""

    def __str__(self) -> str:
        return str(self.value)


class Kind(_Name):
    """What an event is about (the contract's closed list of kinds)."""

    NAN = "nan"
    LOSS_SPIKE = "loss_spike"
    DIVERGENCE = "divergence"
    OVERFLOW = "overflow"
    SLOWDOWN = "slowdown"
    HANG = "hang"
    DEVICE_FAULT = "device_fault"
    COMM_ERROR = "comm_error"
    OOM = "oom"
    CRASH = "crash"
    RESTART = "restart"


class Domain(_Name):
    """Where the cause of an event lies."""

    HARDWARE = "hardware"
    INTERCONNECT = "interconnect"
    SOFTWARE = "software"
    WORKLOAD = "workload"
    INFRASTRUCTURE = "infrastructure"


class Role(_Name):
    """Whether an event can start a failure or follows from an earlier one."""

    ROOT = "root"
    CASCADE = "cascade"


class StepRecord(NamedTuple):
    """One progress line: the training state a framework printed at one step.

    A NamedTuple rather than a dataclass because one is built per progress
    line of multi-GB logs: it is immutable and about three times cheaper to
    create than a frozen dataclass.

    Counters are per record: `skipped` and `nan_count` are the iterations
    skipped (or skipped with a non-finite loss) since the previous record,
    whatever the framework prints (parsers turn cumulative counters into
    per-record ones). Non-finite values stay floats (`nan`, `inf`).
    `eval_loss` is set on evaluation records, which carry no training `loss`.
    `time` is the ISO 8601 text of the line's timestamp, `epoch_s` the same
    instant as seconds (naive timestamps are read in the `timezone` setting); `text` is the line
    as read, kept as evidence.
    """

    step: int | None
    loss: float | None = None
    grad_norm: float | None = None
    lr: float | None = None
    loss_scale: float | None = None
    step_time_s: float | None = None
    tokens_per_s: float | None = None
    samples_per_s: float | None = None
    tflops: float | None = None
    mfu: float | None = None
    skipped: int | None = None
    nan_count: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    eval_loss: float | None = None
    time: str | None = None
    epoch_s: float | None = None
    rank: int | None = None
    node: str | None = None
    file: str | None = None
    line: int | None = None
    text: str | None = None

    @property
    def is_eval(self) -> bool:
        """An evaluation record: it reports a validation loss, not a training step."""
        return self.eval_loss is not None and self.loss is None


class LossScaleOverflow(NamedTuple):
    """A mixed-precision loss scaler reported an overflow and skipped a step.

    `scale` is the scale that overflowed and `new_scale` the one it falls to,
    when the message says so (None otherwise); `hysteresis` is set when the
    scaler only used up hysteresis instead of lowering the scale.
    """

    scale: float | None
    new_scale: float | None
    step: int | None = None
    hysteresis: bool = False
    time: str | None = None
    epoch_s: float | None = None
    rank: int | None = None
    node: str | None = None
    file: str | None = None
    line: int | None = None
    text: str | None = None


class TimerRecord(NamedTuple):
    """A framework's breakdown of recent step time into named timers, in milliseconds
    (Megatron-LM's `(min, max) time across ranks (ms)` block, DeepSpeed's timer lines).

    `timers` maps each timer's name as printed (`forward-backward`,
    `grads-all-reduce`, `optimizer`) to its time, the maximum across ranks
    where the log gives a (min, max) pair; `spread` maps it to max - min
    where given (a large spread points at a straggler).
    """

    timers: dict[str, float]
    spread: dict[str, float] | None = None
    step: int | None = None
    time: str | None = None
    epoch_s: float | None = None
    rank: int | None = None
    node: str | None = None
    file: str | None = None
    line: int | None = None
    text: str | None = None


class Heartbeat(NamedTuple):
    """A line that is not progress but carries a timestamp: proof the log was still being
    written at that time (a stalled run keeps printing heartbeats, warnings, NCCL chatter)."""

    time: str
    epoch_s: float
    file: str | None = None
    line: int | None = None
    text: str | None = None
    step: int | None = None
    rank: int | None = None
    node: str | None = None


class Pause(NamedTuple):
    """A line announcing a checkpoint save: the next gap in progress, and the next slow step,
    are explained (an evaluation record does the same). With `end`, the line says the run is
    stopping on purpose (an exit-duration limit, `max_steps` reached): no progress after it is due."""

    file: str | None = None
    line: int | None = None
    text: str | None = None
    step: int | None = None
    rank: int | None = None
    node: str | None = None
    time: str | None = None
    end: bool = False


Record = StepRecord | LossScaleOverflow | TimerRecord | Heartbeat | Pause

EVIDENCE_MAX_CHARS = 500


def trim_evidence(text: str, limit: int = EVIDENCE_MAX_CHARS) -> str:
    """Keep evidence readable: strip it and cut it to `limit` characters (lossy)."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_number(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: write those as the strings "nan", "inf", "-inf"."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float inside it (dicts, lists, tuples) made None: JSON has no NaN, so
    a numeric field that held one is null (an event keeps the spelling in `value`, see `json_number`)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


SCHEMA_VERSION = 1
"""The version of the design contract the JSON output follows (`schema_version` on every event and
document): raised on any change of meaning, never for an added field."""

_UTC = dt.timezone.utc
_log_zone: dt.tzinfo = _UTC
_ISO_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
_WRITTEN = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?)(?:[+-]\d\d:\d\d|Z)?")
_NO_OFFSET = dt.timedelta(0)
_MINUTE = dt.timedelta(minutes=1)


def set_log_zone(zone: dt.tzinfo) -> None:
    """The zone that times a log printed without an offset are written in, by every output of this
    process that is not given one (the `timezone` setting; the command line sets it once its
    settings are loaded). Internally such times stay naive text, compared as printed; their seconds
    since the epoch (`epoch_of`, the parsers' `epoch_s`) read them in this zone."""
    global _log_zone
    _log_zone = zone


def log_zone() -> dt.tzinfo:
    """The zone set by `set_log_zone` (UTC until then)."""
    return _log_zone


def rfc3339(time: str | None, zone: dt.tzinfo | None = None) -> str | None:
    """`time` (ISO 8601, as the parsers write it) as an RFC 3339 timestamp: with the offset it
    carries (UTC written `Z`), or, when it carries none, read in `zone` (default `log_zone()`).

    An offset of whole seconds that RFC 3339 cannot write (a zone's local mean time before
    1900) gives the same instant in UTC. None when `time` is not a date and time.
    """
    if not time:
        return None
    try:
        stamp = dt.datetime.fromisoformat(time[:-1] + "+00:00" if time[-1:] in "Zz" else time)  # 3.10: no "Z"
        offset = stamp.utcoffset() if stamp.tzinfo is not None else (zone or _log_zone).utcoffset(stamp)
        if offset is None:
            offset = _NO_OFFSET
        if offset.microseconds or offset.seconds % 60:
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=zone or _log_zone)
            stamp, offset = stamp.astimezone(_UTC).replace(tzinfo=None), _NO_OFFSET
            written = None
        else:
            written = _WRITTEN.fullmatch(time)  # the parsers' own `isoformat()` text: reused as it is
    except (ValueError, OverflowError):
        return None
    body = written.group(1) if written else stamp.replace(tzinfo=None).isoformat()
    if not offset:
        return body + "Z"
    minutes = offset // _MINUTE
    hours, minutes = divmod(abs(minutes), 60)
    return f"{body}{'-' if offset < _NO_OFFSET else '+'}{hours:02d}:{minutes:02d}"


def zoned_times(value: Any, zone: dt.tzinfo | None = None) -> Any:
    """`value` with every time in it (a string under a key named `time` or ending in `_time`, in
    dicts and lists at any depth) written as `rfc3339` writes it; other values, and strings there
    that are not a date and time (`"0:10:02"`), as they are."""
    if isinstance(value, dict):
        return {key: _zoned_item(key, item, zone) for key, item in value.items()}
    if isinstance(value, list):
        return [zoned_times(item, zone) for item in value]
    if type(value) is tuple:
        return tuple(zoned_times(item, zone) for item in value)
    return value


def _zoned_item(key: Any, item: Any, zone: dt.tzinfo | None) -> Any:
    if isinstance(item, str):
        if isinstance(key, str) and (key == "time" or key.endswith("_time")) and _ISO_DATE_TIME.match(item):
            return rfc3339(item, zone) or item
        return item
    return zoned_times(item, zone)


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One finding, with the fields of the design contract (null when unknown)."""

    kind: Kind
    severity: Severity
    message: str
    code: str | None = None
    file: str | None = None
    line: int | None = None
    time: str | None = None
    step: int | None = None
    rank: int | None = None
    node: str | None = None
    device: str | None = None
    evidence: str | None = None
    action: str | None = None
    value: float | None = None
    baseline: float | None = None
    domain: Domain | None = None
    role: Role | None = None
    count: int | None = None
    ranks: tuple[int, ...] | None = None
    nodes: tuple[str, ...] | None = None
    persistent: bool | None = None
    cause: str | None = None
    details: dict[str, Any] | None = None
    run: str | None = None

    def label(self) -> str:
        """A short reference to this event: code, place and evidence line (a cascade's `cause`)."""
        where = " ".join(part for part in (
            f"on {self.node}" if self.node else "",
            f"device {self.device}" if self.device else "",
            f"rank {self.rank}" if self.rank is not None else "",
            f"({self.file}:{self.line})" if self.file else "",
        ) if part)
        return f"{self.code or self.kind} {where}".strip()

    def to_dict(self, zone: dt.tzinfo | None = None) -> dict[str, Any]:
        """The contract's JSON object: enums as their names, a non-finite `value` or `baseline` as its
        spelling, a non-finite number in `details` as null, every time as RFC 3339 (a time the log
        printed without an offset read in `zone`, default `log_zone()`; see `rfc3339`)."""
        return {
            "kind": str(self.kind),
            "severity": str(self.severity),
            "message": self.message,
            "code": self.code,
            "file": self.file,
            "line": self.line,
            "time": rfc3339(self.time, zone),
            "step": self.step,
            "rank": self.rank,
            "node": self.node,
            "device": self.device,
            "evidence": self.evidence,
            "action": self.action,
            "value": json_number(self.value),
            "baseline": json_number(self.baseline),
            "domain": None if self.domain is None else str(self.domain),
            "role": None if self.role is None else str(self.role),
            "count": self.count,
            "ranks": None if self.ranks is None else list(self.ranks),
            "nodes": None if self.nodes is None else list(self.nodes),
            "persistent": self.persistent,
            "cause": self.cause,
            "details": json_safe(zoned_times(self.details, zone)),
            "run": self.run,
            "schema_version": SCHEMA_VERSION,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Inverse of `to_dict` (unknown extra fields, `schema_version` among them, are ignored; times
        are kept as written)."""

        def number(v: Any) -> float | None:
            return None if v is None else float(v)

        return cls(
            kind=Kind(data["kind"]),
            severity=Severity.parse(data["severity"]),
            message=data["message"],
            code=data.get("code"),
            file=data.get("file"),
            line=data.get("line"),
            time=data.get("time"),
            step=data.get("step"),
            rank=data.get("rank"),
            node=data.get("node"),
            device=data.get("device"),
            evidence=data.get("evidence"),
            action=data.get("action"),
            value=number(data.get("value")),
            baseline=number(data.get("baseline")),
            domain=None if data.get("domain") is None else Domain(data["domain"]),
            role=None if data.get("role") is None else Role(data["role"]),
            count=data.get("count"),
            ranks=None if data.get("ranks") is None else tuple(data["ranks"]),
            nodes=None if data.get("nodes") is None else tuple(data["nodes"]),
            persistent=data.get("persistent"),
            cause=data.get("cause"),
            details=data.get("details"),
            run=data.get("run"),
        )


@dataclasses.dataclass(slots=True)
class SourceSummary:
    """What one source held: its format, ranks and training progress."""

    file: str
    formats: dict[str, int] = dataclasses.field(default_factory=dict)
    ranks: set[int] = dataclasses.field(default_factory=set)
    steps: int = 0
    first_step: int | None = None
    last_step: int | None = None
    last_loss: float | None = None
    lines: int = 0
    bytes_read: int = 0
    long_lines: int = 0
    first_long_line: int | None = None
    replaced_chars: int = 0
    error: str | None = None
    run_id: str | None = None  # a Slurm job id or torchrun run id the lines name (monitor.runs)
    warning: str | None = None  # what stopped the reading early, everything before it kept (a corrupt record)

    @property
    def format(self) -> str | None:
        """The format with the most records."""
        return max(self.formats, key=self.formats.__getitem__) if self.formats else None

    def notice(self, events: int, named: bool = False) -> str | None:
        """Lines read but no progress and no event from them: said, so 'No events' is never silent."""
        if not self.lines or self.steps or events or self.error is not None:
            return None
        return f"no training progress recognised{f' in {self.file}' if named else ''} ({self.lines} lines)"

    def add_all(self, records: list[Record]) -> None:
        """Count the training records among `records` (evaluation records are not steps)."""
        ranks = self.ranks
        for record in records:
            if type(record) is not StepRecord or (record.loss is None and record.eval_loss is not None):
                continue
            self.steps += 1
            step = record.step
            if step is not None:
                if self.first_step is None:
                    self.first_step = step
                self.last_step = step
            if record.loss is not None:
                self.last_loss = record.loss
            if record.rank is not None:
                ranks.add(record.rank)

    def merge(self, later: SourceSummary) -> None:
        """Fold in the summary of the part of the same source that follows."""
        for name, count in later.formats.items():
            self.formats[name] = self.formats.get(name, 0) + count
        self.ranks |= later.ranks
        self.steps += later.steps
        if self.first_step is None:
            self.first_step = later.first_step
        if later.last_step is not None:
            self.last_step = later.last_step
        if later.last_loss is not None:
            self.last_loss = later.last_loss
        self.lines += later.lines
        self.bytes_read += later.bytes_read
        self.long_lines += later.long_lines
        self.first_long_line = self.first_long_line or later.first_long_line
        self.replaced_chars += later.replaced_chars
        self.error = self.error or later.error
        self.run_id = self.run_id or later.run_id
        self.warning = self.warning or later.warning

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "ranks": sorted(self.ranks),
            "steps": self.steps,
            "first_step": self.first_step,
            "last_step": self.last_step,
            "last_loss": json_number(self.last_loss),
            "lines": self.lines,
            "bytes": self.bytes_read,
            "long_lines": self.long_lines,
            "error": self.error,
        }


TRAINING_KINDS = frozenset({Kind.NAN, Kind.LOSS_SPIKE, Kind.DIVERGENCE, Kind.OVERFLOW, Kind.SLOWDOWN, Kind.RESTART})
MAX_LISTED = 1024
"""At most this many ranks or nodes are listed on one folded event."""
UNCATALOGED = "UNCATALOGED"
"""The code of an error line no catalog entry knows (its masked template in `details.template`)."""
EPISODE_GAP_S = 30 * 60.0
"""Occurrences of a fault further apart than this are separate episodes."""


def fold_key(event: Event) -> tuple[Any, ...]:
    """What makes two events the same finding: the same code (per node and device for a
    device's fault; per step for training health; per masked template for an uncatalogued
    error line; per message when there is no code)."""
    where = (event.node, event.device) if event.device else None
    step = event.step if event.kind in TRAINING_KINDS else None
    text = (event.details or {}).get("template") or (event.message if event.code is None else None)
    return (event.kind, event.code, where, step, text)


def epoch_of(time: str | None) -> float | None:
    """Seconds since the epoch of an event's ISO time (naive times read in `log_zone()`)."""
    if not time:
        return None
    try:
        stamp = dt.datetime.fromisoformat(time[:-1] + "+00:00" if time[-1:] in "Zz" else time)  # 3.10: no "Z"
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_log_zone)
    return stamp.timestamp()


def last_time(event: Event) -> str | None:
    """When a folded event was last seen (its own time when it was seen once)."""
    return (event.details or {}).get("last_time") or event.time


def repeated(first: Event, again: Event) -> Event:
    """One event counting both: the earlier occurrence's fields, the count, ranks and nodes of
    both, and when and where it was last seen."""
    if (again.line or 0) < (first.line or 0) and again.file == first.file:
        first, again = again, first
    ranks = set(first.ranks or ((first.rank,) if first.rank is not None else ()))
    nodes = set(first.nodes or ((first.node,) if first.node else ()))
    for rank in again.ranks or ((again.rank,) if again.rank is not None else ()):
        if len(ranks) < MAX_LISTED:
            ranks.add(rank)
    for node in again.nodes or ((again.node,) if again.node else ()):
        if len(nodes) < MAX_LISTED:
            nodes.add(node)
    details = dict(first.details or {})
    lines = [(e.details or {}).get("last_line") or e.line or 0 for e in (first, again)]
    details["last_line"] = max(lines)
    times = [t for t in (last_time(first), last_time(again)) if t]
    if times:
        details["last_time"] = max(times, key=lambda t: epoch_of(t) or 0.0)
    return dataclasses.replace(
        first,
        count=(first.count or 1) + (again.count or 1),
        ranks=tuple(sorted(ranks)) or None,
        nodes=tuple(sorted(nodes)) or None,
        details=details,
    )
