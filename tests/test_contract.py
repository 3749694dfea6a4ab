"""The machine contract (DESIGN.md): every JSON output validates against the shipped JSON Schemas, every
time in it is RFC 3339, offset-less log times are read in the `timezone` setting, Parquet stores `time` as
a UTC timestamp, and `monitor.load` gives typed DataFrames."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from monitor import schema
from monitor.api import events_frame, load, load_events
from monitor.model import Domain, Event, Kind, Role, Severity, set_log_zone
from monitor.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p.name for p in (ROOT / "sample_logs").iterdir())

# RFC 3339 section 5.6: date-time = full-date "T" full-time; time-offset = "Z" / time-numoffset (required).
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
REGISTRY = Registry().with_resources(
    (uri, Resource.from_contents(contents)) for uri, contents in schema.resources().items()
)

# dmesg -T (util-linux `dmesg --ctime`) prints local time with no zone; journalctl -o short-iso prints the
# offset (`+0100`, as in sample_logs/gpu_fell_off_bus/node07-kern.log). Xid lines as the NVIDIA driver logs them.
XID_79 = "NVRM: Xid (PCI:0000:3b:00): 79, pid=18234, name=python3, GPU has fallen off the bus."
DMESG_MARCH = f"[Tue Mar  4 10:01:07 2025] {XID_79}\n"
DMESG_JULY = f"[Tue Jul 15 10:01:07 2025] {XID_79}\n"
JOURNAL_CET = f"2025-03-04T11:01:07+0100 node07 kernel: {XID_79}\n"


@pytest.fixture(autouse=True)
def utc_after_each_test() -> Iterator[None]:
    """A scan with `--set timezone=...` sets the process's output zone; later tests start from UTC."""
    yield
    set_log_zone(dt.timezone.utc)


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema.load(name), registry=REGISTRY)


def times_in(value: Any, key: str = "") -> Iterator[str]:
    """Every time in a document: strings under `time`, `*_time` and `generated` keys, at any depth."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from times_in(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from times_in(item, key)
    elif isinstance(value, str) and (key in ("time", "generated") or key.endswith("_time")):
        yield value


def assert_rfc3339(text: str) -> None:
    """Strict RFC 3339 with an offset, readable by `datetime.fromisoformat`; a UTC time is also what jq's
    `fromdateiso8601` reads. jq (1.6, 1.7) parses with strptime("%Y-%m-%dT%H:%M:%SZ"): no fraction, no
    offset (jq manual, "Dates"; jqlang/jq#2224), so jq users strip the fraction first
    (`sub("\\\\.[0-9]+"; "") | fromdateiso8601`); that exact check is made here in place of running jq,
    which a test machine may lack. A time with the log's own offset is beyond jq's parser."""
    assert RFC3339.fullmatch(text), text
    assert dt.datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None
    if text.endswith("Z"):
        time.strptime(re.sub(r"\.[0-9]+", "", text), "%Y-%m-%dT%H:%M:%SZ")


def test_the_schemas_are_valid_draft_2020_12_and_name_the_model_s_closed_sets() -> None:
    for name in schema.NAMES:
        Draft202012Validator.check_schema(schema.load(name))
    event = schema.load("event")["properties"]
    assert set(event["kind"]["enum"]) == {str(k) for k in Kind}
    assert event["severity"]["enum"] == [str(s) for s in sorted(Severity)]
    assert set(event["domain"]["enum"]) == {str(d) for d in Domain} | {None}
    assert set(event["role"]["enum"]) == {str(r) for r in Role} | {None}
    assert schema.load("event")["required"] == list(Event(Kind.NAN, Severity.INFO, "").to_dict())
    with pytest.raises(ValueError, match="expected one of event"):
        schema.load("nope")


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_log_s_json_outputs_validate_and_their_times_are_rfc3339(run_cli, tmp_path, sample) -> None:
    path = ROOT / "sample_logs" / sample
    lines = run_cli("scan", "--format", "jsonl", path)
    assert lines.code in (0, 1), lines.err
    events = [json.loads(line) for line in lines.out.splitlines()]
    document = json.loads(run_cli("scan", "--format", "json", path).out)
    assert run_cli("report", path, "-o", tmp_path / "x.json").code in (0, 1)
    report = json.loads((tmp_path / "x.json").read_text())

    for event in events:
        validator("event").validate(event)
    validator("scan-document").validate(document)
    validator("report").validate(report)
    assert document["events"] == events and report["schema_version"] == document["schema_version"] == 1
    for text in [*times_in(events), *times_in(document), *times_in(report)]:
        assert_rfc3339(text)


def test_the_schema_refuses_an_offset_less_time_and_a_missing_schema_version() -> None:
    event = Event(Kind.HANG, Severity.ERROR, "stalled", time="2025-03-04T10:31:08.412345").to_dict()
    assert event["time"] == "2025-03-04T10:31:08.412345Z"
    validator("event").validate(event)
    assert not validator("event").is_valid({**event, "time": "2025-03-04T10:31:08.412345"})
    assert not validator("event").is_valid({k: v for k, v in event.items() if k != "schema_version"})


def scan_jsonl(run_cli, path: Path, *options: str) -> list[dict[str, Any]]:
    result = run_cli("scan", "--format", "jsonl", *options, path)
    assert result.code == 1, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def test_a_log_without_a_zone_is_read_in_the_timezone_setting_with_its_summer_and_winter_offsets(
    run_cli, tmp_path
) -> None:
    log = tmp_path / "dmesg.log"
    log.write_text(DMESG_MARCH + DMESG_JULY.replace("79,", "48,"))
    assert [e["time"] for e in scan_jsonl(run_cli, log)] == ["2025-03-04T10:01:07Z", "2025-07-15T10:01:07Z"]
    berlin = scan_jsonl(run_cli, log, "--set", "timezone=Europe/Berlin")
    assert [e["time"] for e in berlin] == ["2025-03-04T10:01:07+01:00", "2025-07-15T10:01:07+02:00"]


def test_a_log_that_prints_its_offset_keeps_it_whatever_the_setting(run_cli, tmp_path) -> None:
    log = tmp_path / "kern.log"
    log.write_text(JOURNAL_CET)
    [event] = scan_jsonl(run_cli, log, "--set", "timezone=Asia/Tokyo")
    assert event["time"] == "2025-03-04T11:01:07+01:00"


def test_an_unknown_time_zone_is_a_settings_error_naming_it(run_cli, tmp_path, monkeypatch) -> None:
    log = tmp_path / "kern.log"
    log.write_text(JOURNAL_CET)
    result = run_cli("scan", "--set", "timezone=Mars/Olympus", log)
    assert result.code == 2 and result.out == "" and "Traceback" not in result.err
    assert "'Mars/Olympus'" in result.err and "IANA" in result.err
    (tmp_path / "monitor.toml").write_text('timezone = "../etc/passwd"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=r"monitor.toml: setting 'timezone': unknown time zone '\.\./etc/passwd'"):
        load_settings()
    assert Settings().zone is dt.timezone.utc and str(Settings(timezone="Asia/Tokyo").zone) == "Asia/Tokyo"


def test_parquet_time_is_a_utc_timestamp_and_reads_back_as_the_same_rfc3339_text(run_cli, tmp_path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "dmesg.log").write_text(DMESG_MARCH)
    (tmp_path / "logs" / "kern.log").write_text(JOURNAL_CET.replace("node07", "node08"))
    options = ("--set", "timezone=Asia/Tokyo")
    expected = scan_jsonl(run_cli, tmp_path / "logs", *options)
    assert run_cli("scan", "--format", "parquet", "-o", tmp_path / "out", *options, tmp_path / "logs").code == 1
    [events_file] = (tmp_path / "out").glob("events-*.parquet")
    table = pq.read_table(events_file)
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    stored = sorted(zip(table.column("time").to_pylist(), table.column("time_offset_minutes").to_pylist()))
    utc = dt.timezone.utc
    assert stored == [(dt.datetime(2025, 3, 4, 1, 1, 7, tzinfo=utc), 540),  # Tokyo's 10:01:07
                      (dt.datetime(2025, 3, 4, 10, 1, 7, tzinfo=utc), 60)]  # the log's 11:01:07+01:00
    back = [e.to_dict() for e in load_events(str(tmp_path / "out")).event_list]
    assert sorted(e["time"] for e in back) == sorted(e["time"] for e in expected) == [
        "2025-03-04T10:01:07+09:00", "2025-03-04T11:01:07+01:00"]


def test_an_older_parquet_file_with_text_times_is_still_read(tmp_path) -> None:
    """Files written before `time` was a timestamp hold it as text and have no offset column."""
    from monitor.sinks.parquet import EVENT_TYPES

    row = Event(Kind.DEVICE_FAULT, Severity.CRITICAL, "Xid 79", code="XID-79", file="kern.log", line=4,
                node="node07").to_dict()
    old = {name: [row.get(name)] for name in EVENT_TYPES if name != "time_offset_minutes"}
    old.update(time=["2025-03-04T10:01:07"], source_host=["login1"])  # the offset-less text of older scans
    path = tmp_path / "old" / "events-a-1.parquet"
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pydict(old), path)
    assert pq.read_table(path).schema.field("time").type == pa.string()
    loaded = load_events(str(tmp_path / "old"))
    assert loaded.errors == []
    [event] = loaded.event_list
    assert event.to_dict()["time"] == "2025-03-04T10:01:07Z"
    assert event.to_dict(dt.timezone(dt.timedelta(hours=-5)))["time"] == "2025-03-04T10:01:07-05:00"


def some_events() -> list[Event]:
    return [
        Event(Kind.HANG, Severity.ERROR, "late", time="2025-03-04T10:00:00+01:00", step=7, count=3),
        Event(Kind.CRASH, Severity.CRITICAL, "no time", line=12),
        Event(Kind.NAN, Severity.WARNING, "nan", time="2025-03-04T08:00:00", value=math.nan, baseline=2.5,
              domain=Domain.WORKLOAD, role=Role.ROOT, persistent=True),
        Event(Kind.SLOWDOWN, Severity.INFO, "slow", time="2025-03-04T08:30:00Z", value=math.inf, step=2**70),
    ]


def test_events_frame_is_typed_and_indexed_by_time_with_untimed_rows_last() -> None:
    frame = events_frame(some_events())
    assert list(frame["message"]) == ["nan", "slow", "late", "no time"]
    assert isinstance(frame.index, pd.DatetimeIndex) and str(frame.index.tz) == "UTC"
    assert list(frame.index[:3]) == [pd.Timestamp(f"2025-03-04T{h}", tz="UTC") for h in ("08:00", "08:30", "09:00")]
    assert pd.isna(frame.index[3]) and frame["time"].equals(pd.Series(frame.index, index=frame.index, name="time"))
    assert list(frame[frame.severity >= "error"]["severity"]) == ["error", "critical"]  # critical included
    assert frame["severity"].cat.ordered and not frame["kind"].cat.ordered
    assert set(frame["kind"].cat.categories) == {str(k) for k in Kind}
    assert {str(frame[c].dtype) for c in ("domain", "role")} == {"category"}
    assert {str(frame[c].dtype) for c in ("line", "step", "rank", "count")} == {"Int64"}
    assert frame["step"].isna().tolist() == [True, True, False, True]  # 2**70: beyond 64 bits, unknown
    assert str(frame["value"].dtype) == "Float64" and str(frame["persistent"].dtype) == "boolean"
    value = frame["value"]
    assert math.isnan(value.iloc[0]) and value.isna().tolist() == [False, False, True, True]  # NaN is a value...
    assert value.iloc[1] == math.inf and value.iloc[2] is pd.NA  # ...<NA> is no value at all
    assert frame.attrs["schema_version"] == 1


def test_events_frame_without_any_time_is_indexed_by_position() -> None:
    frame = events_frame([Event(Kind.CRASH, Severity.ERROR, "a"), Event(Kind.OOM, Severity.ERROR, "b")])
    assert isinstance(frame.index, pd.RangeIndex) and list(frame["message"]) == ["a", "b"]
    assert frame["time"].isna().all() and str(frame["time"].dtype).startswith("datetime64")


def test_load_indexes_steps_by_time_read_in_the_timezone_setting(tmp_path) -> None:
    log = ROOT / "sample_logs" / "megatron_gpt_bf16_nan.log"  # Megatron-LM's ` [2024-...]` times: no zone
    utc, tokyo = load(str(log)), load(str(log), settings=Settings(timezone="Asia/Tokyo"))
    for steps in (utc.steps, tokyo.steps):
        assert isinstance(steps.index, pd.DatetimeIndex) and steps.index.name == "time"
        assert steps.index.dropna().is_monotonic_increasing and not steps.index.hasnans
        assert {str(steps[c].dtype) for c in ("line", "rank", "step")} == {"Int64"}
    assert (utc.steps.index - tokyo.steps.index == pd.Timedelta(hours=9)).all()
    shift = utc.steps["epoch_s"].to_numpy() - tokyo.steps["epoch_s"].to_numpy()
    assert (shift == 9 * 3600).all()  # the seconds are the same instants as the index


def test_load_keeps_untimed_step_rows_after_the_timed_ones(tmp_path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("megatron_gpt_bf16_nan.log", "nanogpt_fp16_nan.log"):  # timed, untimed
        (logs / name).write_bytes((ROOT / "sample_logs" / name).read_bytes())
    loaded = load(str(logs))
    steps = loaded.steps
    untimed = steps["epoch_s"].isna()
    assert untimed.any() and (~untimed).any()
    assert steps.index[~untimed].is_monotonic_increasing and steps.index[untimed].isna().all()
    assert list(untimed) == sorted(untimed)  # the untimed rows come last...
    assert steps[untimed]["line"].is_monotonic_increasing  # ...in their own order


def test_the_timezone_setting_moves_every_instant_derived_from_an_offset_less_time(tmp_path) -> None:
    """Seconds since the epoch (stall gaps, Alertmanager's `startsAt`, Prometheus timestamps) and the
    written `time` agree: both read the offset-less stamp in the `timezone` setting."""
    from monitor.model import epoch_of, log_zone
    from monitor.parsers.timestamps import find_timestamp

    previous = log_zone()
    try:
        set_log_zone(ZoneInfo("Europe/Berlin"))
        stamp = find_timestamp(" [2024-03-05 10:00:00] iteration", 2024)
        assert stamp is not None and stamp.iso == "2024-03-05T10:00:00"
        assert stamp.seconds == dt.datetime(2024, 3, 5, 9, tzinfo=dt.timezone.utc).timestamp()
        assert epoch_of("2024-07-05T10:00:00") == dt.datetime(2024, 7, 5, 8, tzinfo=dt.timezone.utc).timestamp()
        assert epoch_of("2024-07-05T10:00:00Z") == dt.datetime(2024, 7, 5, 10, tzinfo=dt.timezone.utc).timestamp()
    finally:
        set_log_zone(previous)
