"""Events and file summaries as Parquet files, for merging the scans of many nodes in one report.

`monitor scan --format parquet -o DIR` writes one pair of files per scan:
`DIR/events-<host>-<pid>.parquet` (one row per event: every field of the
contract, and `source_host`, the machine that scanned it; the contract's
`schema_version` is in the file's key-value metadata) and
`DIR/files-<host>-<pid>.parquet` (one row per file scanned, the fields of
`SourceSummary.to_dict`, and `source_host`). Each file is written to a
temporary name and renamed, so a report reading DIR meanwhile never sees half
of one. `read_events` and `read_files` give the rows back as the contract's
dicts (non-finite numbers as the strings "nan", "inf", "-inf", `details` as an
object), ready for `Event.from_dict`.

Column types: text fields are strings; `time` a `timestamp[us, tz=UTC]` (the
instant) with `time_offset_minutes` beside it (the offset the time was written
with, so it reads back as the same RFC 3339 text: the log's own offset, or the
`timezone` setting's); `line`, `step`, `rank`, `count` 64-bit integers; `value`
and `baseline` doubles (NaN and infinities as themselves); `ranks` and `nodes`
lists; `persistent` a boolean; `details` the JSON text of the object. Unknown
fields are nulls (and so is an integer beyond 64 bits, which no log means).
Files written before `time` was a timestamp hold it as text; they are still
read, their text kept as it is (an offset-less time is then written in the
`timezone` setting like a log's).

pyarrow is an optional dependency (the `parquet` extra): without it every
function here raises `ParquetUnavailable`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
from collections.abc import Sequence
from typing import Any

from monitor import __version__
from monitor.atomic import replacing
from monitor.model import SCHEMA_VERSION, Event, SourceSummary, json_number, rfc3339

EVENTS_PREFIX = "events-"
FILES_PREFIX = "files-"
SUFFIX = ".parquet"
INSTALL_HINT = "install training-monitor[parquet] (pip install 'training-monitor[parquet]')"

_STRING, _INT, _FLOAT, _BOOL, _INTS, _STRINGS, _JSON = "string", "int", "float", "bool", "ints", "strings", "json"
_TIME = "time"
OFFSET = "time_offset_minutes"
EVENT_TYPES: dict[str, str] = {
    "kind": _STRING, "severity": _STRING, "message": _STRING, "code": _STRING, "file": _STRING, "line": _INT,
    "time": _TIME, "step": _INT, "rank": _INT, "node": _STRING, "device": _STRING, "evidence": _STRING,
    "action": _STRING, "value": _FLOAT, "baseline": _FLOAT, "domain": _STRING, "role": _STRING, "count": _INT,
    "ranks": _INTS, "nodes": _STRINGS, "persistent": _BOOL, "cause": _STRING, "details": _JSON,
    "run": _STRING,
    OFFSET: _INT,
    "source_host": _STRING,
}
_OPTIONAL = {"source_host", OFFSET}
"""Columns a file may lack: files written before they were added are still read."""
FILE_TYPES: dict[str, str] = {
    "file": _STRING, "format": _STRING, "ranks": _INTS, "steps": _INT, "first_step": _INT, "last_step": _INT,
    "last_loss": _FLOAT, "lines": _INT, "bytes": _INT, "long_lines": _INT, "error": _STRING,
    "source_host": _STRING,
}


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MINUTE = dt.timedelta(minutes=1)


class ParquetUnavailable(ImportError):
    """pyarrow is not installed."""


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ParquetUnavailable(f"Parquet event files need pyarrow: {INSTALL_HINT}") from None
    return pyarrow, pyarrow.parquet


def available() -> bool:
    """Whether pyarrow can be imported."""
    try:
        _pyarrow()
    except ParquetUnavailable:
        return False
    return True


def host_name() -> str:
    """This machine's name, safe in a file name: letters, digits, '.', '_' and '-' only."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()).lstrip(".")
    return name[:128] or "host"


def _schema(types: dict[str, str]) -> Any:
    pa, _ = _pyarrow()
    arrow = {
        _STRING: pa.string(), _INT: pa.int64(), _FLOAT: pa.float64(), _BOOL: pa.bool_(),
        _INTS: pa.list_(pa.int64()), _STRINGS: pa.list_(pa.string()), _JSON: pa.string(),
        _TIME: pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([(name, arrow[kind]) for name, kind in types.items()], metadata={
        b"training-monitor": __version__.encode("ascii"),
        b"schema_version": str(SCHEMA_VERSION).encode("ascii"),
    })


def _to_column(value: Any, kind: str) -> Any:
    """A contract value as the column stores it."""
    if value is None:
        return None
    if kind == _FLOAT:
        return float(value)  # the contract's "nan" / "inf" strings become the numbers again
    if kind == _JSON:
        return json.dumps(value, ensure_ascii=False, default=str)
    if kind == _TIME:
        return _instant(value)
    if kind == _INT:
        return value if _INT64_MIN <= value <= _INT64_MAX else None  # a number no log means: unknown
    if kind == _INTS:
        return [v if _INT64_MIN <= v <= _INT64_MAX else None for v in value]
    return value


def _from_column(value: Any, kind: str) -> Any:
    """A stored value as the contract writes it."""
    if value is None:
        return None
    if kind == _FLOAT:
        return json_number(float(value))
    if kind == _JSON:
        return json.loads(value)
    if kind == _TIME and not isinstance(value, (dt.datetime, str)):
        raise ValueError(f"column time holds {type(value).__name__}, not a timestamp")
    return value


def _instant(time: str) -> dt.datetime | None:
    """An event's RFC 3339 `time` as an aware datetime (None when it is not one)."""
    try:
        stamp = dt.datetime.fromisoformat(time[:-1] + "+00:00" if time[-1:] in "Zz" else time)
    except (TypeError, ValueError):
        return None
    return stamp if stamp.tzinfo is not None else None


def _with_offset(row: dict[str, Any]) -> dict[str, Any]:
    """The row with the offset its `time` was written with, in minutes (None without a time)."""
    stamp = _instant(row["time"]) if isinstance(row.get("time"), str) else None
    offset = None if stamp is None else stamp.utcoffset()
    return {**row, OFFSET: None if offset is None else offset // _MINUTE}


def _written(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row's `time` as the RFC 3339 text it was written as: the instant at its offset."""
    offset = row.pop(OFFSET, None)
    stamp = row.get("time")
    if isinstance(stamp, dt.datetime):
        if isinstance(offset, int) and abs(offset) < 24 * 60:
            stamp = stamp.astimezone(dt.timezone(offset * _MINUTE))
        row["time"] = rfc3339(stamp.isoformat())
    return row


def _table(rows: list[dict[str, Any]], types: dict[str, str], host: str) -> Any:
    pa, _ = _pyarrow()
    columns = {name: [_to_column(row.get(name), kind) for row in rows] for name, kind in types.items()}
    columns["source_host"] = [host] * len(rows)
    return pa.Table.from_pydict(columns, schema=_schema(types))


def _write(table: Any, path: str) -> None:
    """Write atomically (a report reading the directory never sees half a file)."""
    _, pq = _pyarrow()
    with replacing(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")


def write_scan(
    directory: str, events: Sequence[Event], summaries: Sequence[SourceSummary], host: str | None = None,
    zone: dt.tzinfo | None = None,
) -> tuple[str, str]:
    """Write a scan's events and file summaries into `directory` (created if missing); returns the
    two paths. A second scan of the same process into the same directory gets `-2`, `-3`, ... after
    the process id instead of replacing the first one's files. `zone` is the one offset-less log
    times are read in (default `monitor.model.log_zone()`).

    Raises:
        ParquetUnavailable: pyarrow is not installed.
        OSError: the directory or the files cannot be written.
    """
    host = host or host_name()
    events_table = _table([_with_offset(e.to_dict(zone)) for e in events], EVENT_TYPES, host)
    files_table = _table([s.to_dict() for s in summaries], FILE_TYPES, host)
    os.makedirs(directory, exist_ok=True)
    stem, number = f"{host}-{os.getpid()}", 1
    while any(os.path.exists(os.path.join(directory, f"{p}{stem}{SUFFIX}")) for p in (EVENTS_PREFIX, FILES_PREFIX)):
        number += 1
        stem = f"{host}-{os.getpid()}-{number}"
    events_path = os.path.join(directory, f"{EVENTS_PREFIX}{stem}{SUFFIX}")
    files_path = os.path.join(directory, f"{FILES_PREFIX}{stem}{SUFFIX}")
    _write(files_table, files_path)
    _write(events_table, events_path)
    return events_path, files_path


def _read(path: str, types: dict[str, str]) -> list[dict[str, Any]]:
    _, pq = _pyarrow()
    table = pq.read_table(path)
    missing = [name for name in types if name not in _OPTIONAL and name not in table.column_names]
    if missing:
        raise ValueError(f"not a monitor Parquet file of this kind: no column {', '.join(missing)}")
    rows = []
    for stored in table.to_pylist():
        row = {name: _from_column(stored.get(name), kind) for name, kind in types.items()}
        for name, kind in types.items():
            if kind in (_INTS, _STRINGS) and row[name] is not None and not isinstance(row[name], list):
                raise ValueError(f"column {name} holds {type(row[name]).__name__}, not a list")
        rows.append(_written(row) if OFFSET in types else row)
    return rows


def read_events(path: str) -> list[dict[str, Any]]:
    """The events of an events file, as contract dicts (with `source_host`).

    Raises:
        ParquetUnavailable: pyarrow is not installed.
        OSError, ValueError: the file cannot be read or is not an events file (pyarrow's errors
            derive from these).
    """
    return _read(path, EVENT_TYPES)


def read_files(path: str) -> list[dict[str, Any]]:
    """The file summaries of a files file, as `SourceSummary.to_dict` dicts (with `source_host`)."""
    return _read(path, FILE_TYPES)


def summary_from_dict(row: dict[str, Any]) -> SourceSummary:
    """A `SourceSummary` again from its dict (the format counts only the records of its main format)."""

    def count(value: Any) -> int:
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0

    last_loss = row.get("last_loss")
    return SourceSummary(
        file=str(row["file"]),
        formats={str(row["format"]): max(count(row.get("steps")), 1)} if row.get("format") else {},
        ranks={int(r) for r in row.get("ranks") or () if r is not None},
        steps=count(row.get("steps")),
        first_step=row.get("first_step"),
        last_step=row.get("last_step"),
        last_loss=None if last_loss is None else float(last_loss),
        lines=count(row.get("lines")),
        bytes_read=count(row.get("bytes")),
        long_lines=count(row.get("long_lines")),
        error=row.get("error"),
    )
