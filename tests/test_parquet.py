"""Events as data: `monitor scan --format parquet -o DIR`, and `monitor report` / `monitor.load` reading the
files back, one node's or many nodes' together."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import monitor  # noqa: E402
from monitor.api import Loaded, load_events  # noqa: E402
from monitor.report.analysis import build_report  # noqa: E402
from monitor.sinks import parquet  # noqa: E402
from tests.test_cli_scan import CONTRACT_FIELDS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUS = ROOT / "sample_logs" / "gpu_fell_off_bus"
KERNEL, JOB = BUS / "node07-kern.log", BUS / "slurm-4242.out"


COLUMNS = [*(f for f in CONTRACT_FIELDS if f != "schema_version"), "time_offset_minutes", "source_host"]
"""The events file's columns: the contract's fields (`schema_version` is file metadata), the offset of
`time` and the scanning host."""


def parquet_files(directory: Path, prefix: str) -> list[Path]:
    return sorted(directory.glob(f"{prefix}*.parquet"))


def contract(value: object) -> object:
    """A Parquet cell as the JSON-lines output writes it."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def instant(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def scan_as_node(run_cli, monkeypatch, host: str, directory: Path, *paths: Path) -> None:
    monkeypatch.setattr(parquet, "host_name", lambda: host)
    result = run_cli("scan", "--format", "parquet", "-o", directory, *paths)
    assert result.code in (0, 1), result.err


def test_events_and_file_summaries_match_the_json_lines_field_for_field(run_cli, tmp_path) -> None:
    jsonl = run_cli("scan", "--format", "jsonl", BUS)
    document = json.loads(run_cli("scan", "--format", "json", BUS).out)
    result = run_cli("scan", "--format", "parquet", "-o", tmp_path / "events", BUS)
    assert (result.code, result.out) == (jsonl.code, "")
    assert "written to" in result.err
    [events_file] = parquet_files(tmp_path / "events", "events-")
    [files_file] = parquet_files(tmp_path / "events", "files-")
    host = parquet.host_name()
    assert events_file.name.startswith(f"events-{host}-") and files_file.name == "files-" + events_file.name[7:]

    table = pq.read_table(events_file)
    assert table.column_names == COLUMNS
    assert table.schema.metadata[b"schema_version"] == b"1"
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("value").type == pa.float64() and table.schema.field("baseline").type == pa.float64()
    assert table.schema.field("ranks").type == pa.list_(pa.int64())
    assert table.schema.field("nodes").type == pa.list_(pa.string())
    assert table.schema.field("details").type == pa.string()
    expected = [json.loads(line) for line in jsonl.out.splitlines()]
    rows = table.to_pylist()
    assert len(rows) == len(expected) == 8
    for row, event in zip(rows, expected):
        assert row.pop("source_host") == host
        assert event.pop("schema_version") == 1
        assert row.pop("time_offset_minutes") == (None if event["time"] is None else 0)  # these logs: UTC
        assert row.pop("time") == instant(event.pop("time"))
        details = row.pop("details")
        assert (json.loads(details) if details is not None else None) == event.pop("details")
        event.pop("details", None)
        assert {k: contract(v) for k, v in row.items()} == event
        for name in ("value", "baseline"):
            assert row[name] is None or isinstance(row[name], float)

    summaries = pq.read_table(files_file).to_pylist()
    for summary in summaries:
        assert summary.pop("source_host") == host
    # the notice of a silent file is the JSON document's (it depends on the whole scan's events)
    files = [{k: v for k, v in entry.items() if k != "notice"} for entry in document["files"]]
    assert [{k: contract(v) for k, v in s.items()} for s in summaries] == files


def test_a_non_finite_value_is_a_nan_float_and_reads_back_as_the_contract_string(run_cli, tmp_path) -> None:
    log = ROOT / "sample_logs" / "nanogpt_fp16_nan.log"
    run_cli("scan", "--format", "parquet", "-o", tmp_path, log)
    [events_file] = parquet_files(tmp_path, "events-")
    frame = pq.read_table(events_file).to_pandas()
    nan = frame[frame["code"] == "LOSS-NAN"].iloc[0]
    assert math.isnan(nan["value"]) and nan["baseline"] == pytest.approx(3.0631)
    [back] = [e for e in parquet.read_events(str(events_file)) if e["code"] == "LOSS-NAN"]
    first = json.loads(run_cli("scan", "--format", "jsonl", log).out.splitlines()[0])
    assert {k: v for k, v in back.items() if k != "source_host"} == {
        k: v for k, v in first.items() if k != "schema_version"}


def test_a_scan_without_events_still_writes_typed_columns(run_cli, tmp_path) -> None:
    result = run_cli("scan", "--format", "parquet", "-o", tmp_path, ROOT / "sample_logs" / "hf_trainer_healthy.log")
    assert result.code == 0
    [events_file] = parquet_files(tmp_path, "events-")
    table = pq.read_table(events_file)
    assert table.num_rows == 0 and table.column_names == COLUMNS
    assert table.schema.field("line").type == pa.int64()
    assert pq.read_table(parquet_files(tmp_path, "files-")[0]).num_rows == 1


def test_a_second_scan_of_the_same_process_keeps_the_first_ones_files(run_cli, tmp_path) -> None:
    run_cli("scan", "--format", "parquet", "-o", tmp_path, KERNEL)
    run_cli("scan", "--format", "parquet", "-o", tmp_path, JOB)
    assert len(parquet_files(tmp_path, "events-")) == len(parquet_files(tmp_path, "files-")) == 2
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_output_directory_is_required_with_parquet_and_refused_with_the_other_formats(run_cli, tmp_path) -> None:
    result = run_cli("scan", "--format", "parquet", BUS)
    assert result.code == 2 and "-o DIR" in result.err and result.out == ""
    for fmt in ("table", "jsonl", "json"):
        result = run_cli("scan", "--format", fmt, "-o", tmp_path / "x", BUS)
        assert result.code == 2 and "--format parquet" in result.err and result.out == "", fmt
    assert not (tmp_path / "x").exists()


def test_without_pyarrow_parquet_exits_2_naming_the_extra(run_cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)  # import pyarrow now fails
    result = run_cli("scan", "--format", "parquet", "-o", tmp_path, BUS)
    assert result.code == 2 and "install training-monitor[parquet]" in result.err
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "events-x-1.parquet").write_bytes(b"PAR1")
    result = run_cli("report", tmp_path, "-o", tmp_path / "r.json")
    assert result.code == 2 and "install training-monitor[parquet]" in result.err


def test_an_unwritable_output_directory_exits_2(run_cli, tmp_path) -> None:
    (tmp_path / "file").write_text("not a directory")
    result = run_cli("scan", "--format", "parquet", "-o", tmp_path / "file", BUS)
    assert result.code == 2 and "cannot write" in result.err


def test_report_from_event_files_names_the_same_root_cause_as_from_the_logs(run_cli, tmp_path) -> None:
    run_cli("scan", "--format", "parquet", "-o", tmp_path / "events", BUS)
    from_logs = run_cli("report", BUS, "-o", tmp_path / "logs.json")
    from_files = run_cli("report", tmp_path / "events", "-o", tmp_path / "files.json")
    assert from_files.code == from_logs.code == 0, from_files.err
    logs = json.loads((tmp_path / "logs.json").read_text())
    files = json.loads((tmp_path / "files.json").read_text())
    root = files["verdict"]["root_cause"]
    assert (root["code"], root["node"]) == ("XID-79", "node07")
    assert files["verdict"] == logs["verdict"]
    for section in ("timeline", "faults", "persistent", "drain_candidates", "events", "inputs"):
        assert files[section] == logs[section], section
    assert [row["domain"] for row in files["scorecard"]] == ["hardware"]
    assert files["health"]["series"] == {}  # no progress records in event files
    assert files["goodput"]["span_s"] == pytest.approx(1808.443, abs=0.01)  # from the events' times


def test_per_node_event_files_merged_by_one_report_fold_the_timeouts_under_the_xid(
    run_cli, tmp_path, monkeypatch
) -> None:
    shared = tmp_path / "events"
    scan_as_node(run_cli, monkeypatch, "node07", shared, KERNEL)  # the kernel log, on the node that has it
    scan_as_node(run_cli, monkeypatch, "login1", shared, JOB)  # the job log, elsewhere
    hosts = {pq.read_table(f).column("source_host")[0].as_py() for f in parquet_files(shared, "events-")}
    assert hosts == {"node07", "login1"}
    # alone, the job log's timeouts blame the CUDA error: the Xid is in the other file
    alone = [json.loads(line) for line in run_cli("scan", "--format", "jsonl", JOB).out.splitlines()]
    assert all("XID-79" not in (e["cause"] or "") for e in alone)
    result = run_cli("report", shared, "-o", tmp_path / "merged.json")
    assert result.code == 0, result.err
    report = json.loads((tmp_path / "merged.json").read_text())
    assert report["verdict"]["root_cause"]["code"] == "XID-79"
    [root] = report["timeline"]
    assert root["event"]["code"] == "XID-79" and root["event"]["node"] == "node07"
    cascades = {c["code"]: c for c in root["cascades"]}
    assert cascades["NCCL-WATCHDOG-TIMEOUT"]["count"] == 15
    assert cascades["CUDA-UNKNOWN-ERROR"]["role"] == "cascade"
    assert cascades["CUDA-UNKNOWN-ERROR"]["cause"].startswith("XID-79 on node07")
    direct = build_report(monitor.load(str(BUS)))
    assert report["events"] == direct["events"]


def test_load_mixes_logs_and_event_files_and_correlates_them_together(run_cli, tmp_path, monkeypatch) -> None:
    scan_as_node(run_cli, monkeypatch, "node07", tmp_path, KERNEL)
    [events_file] = parquet_files(tmp_path, "events-")
    loaded = monitor.load([str(events_file), str(JOB)])
    assert not loaded.steps.empty  # the log was scanned: its progress records are there
    assert sorted(f.file for f in loaded.files) == sorted([str(KERNEL), str(JOB)])
    timeouts = loaded.events[loaded.events["code"] == "NCCL-WATCHDOG-TIMEOUT"].iloc[0]
    assert timeouts["cause"].startswith("XID-79 on node07")
    assert build_report(loaded)["health"]["series"]["loss"]


def test_load_events_reads_files_and_directories(run_cli, tmp_path) -> None:
    run_cli("scan", "--format", "parquet", "-o", tmp_path, BUS)
    [events_file] = parquet_files(tmp_path, "events-")
    for loaded in (
        load_events(str(tmp_path)), load_events([str(events_file)]), monitor.load(str(tmp_path)),
        monitor.load(str(tmp_path / "*.parquet")), monitor.load_events(str(events_file)),
    ):
        assert loaded.steps.empty and loaded.timers.empty and loaded.pauses.empty
        assert list(loaded.events["code"])[0] == "XID-79" and len(loaded.event_list) == 8
        assert len(loaded.files) == 2 and loaded.errors == []  # the summaries beside the events file
        assert str(loaded.events["time"].dtype).startswith("datetime64")


def test_a_log_both_scanned_and_in_an_event_file_counts_once(run_cli, tmp_path) -> None:
    run_cli("scan", "--format", "parquet", "-o", tmp_path, BUS)
    loaded = monitor.load([str(tmp_path), "sample_logs/gpu_fell_off_bus/slurm-4242.out"])
    timeouts = loaded.events[loaded.events["code"] == "NCCL-WATCHDOG-TIMEOUT"]
    assert list(timeouts["count"]) == [15]
    assert len(loaded.files) == 2


def test_a_shared_log_scanned_on_every_node_counts_once_and_node_local_logs_are_told_apart(
    run_cli, tmp_path, monkeypatch
) -> None:
    local = tmp_path / "var" / "kern.log"
    local.parent.mkdir()
    for host in ("node07", "node08"):  # /var/log/kern.log on each node, each its own
        text = KERNEL.read_text() if host == "node07" else "2025-03-04T09:58:12+0000 node08 kernel: all well\n"
        local.write_text(text)
        scan_as_node(run_cli, monkeypatch, host, tmp_path / "events", local, JOB)  # the job log is shared
    loaded = load_events(str(tmp_path / "events"))
    assert sorted(f.file for f in loaded.files) == sorted([f"node07:{local}", f"node08:{local}", str(JOB)])
    xid = loaded.events[loaded.events["code"] == "XID-79"].iloc[0]
    assert xid["file"] == f"node07:{local}"
    timeouts = loaded.events[loaded.events["code"] == "NCCL-WATCHDOG-TIMEOUT"]
    assert list(timeouts["count"]) == [15]  # not 30: the shared log is read once
    assert timeouts.iloc[0]["cause"] == xid_label(loaded)


def xid_label(loaded: Loaded) -> str:
    [xid] = [e for e in loaded.event_list if e.code == "XID-79"]
    return xid.label()


def test_a_corrupt_or_foreign_parquet_file_is_an_error_not_a_crash(run_cli, tmp_path) -> None:
    (tmp_path / "events-bad-1.parquet").write_bytes(b"not parquet at all")
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "events-foreign-1.parquet")
    result = run_cli("report", tmp_path, "-o", tmp_path / "r.json")
    assert result.code == 2
    assert "events-bad-1.parquet" in result.err and "events-foreign-1.parquet" in result.err
    loaded = load_events(str(tmp_path / "missing.parquet"))
    assert loaded.event_list == [] and "no such file" in loaded.errors[0]


def test_progress_told_by_the_file_summaries_when_steps_are_empty(run_cli, tmp_path) -> None:
    run_cli("scan", "--format", "parquet", "-o", tmp_path, ROOT / "sample_logs" / "hf_trainer_healthy.log")
    report = build_report(load_events(str(tmp_path)))
    assert report["verdict"]["outcome"] == "completed" and report["verdict"]["root_cause"] is None
    assert "last step" in report["verdict"]["summary"]


def test_rows_that_are_not_events_are_left_out_and_said(run_cli, tmp_path) -> None:
    run_cli("scan", "--format", "parquet", "-o", tmp_path, BUS)
    [events_file] = parquet_files(tmp_path, "events-")
    table = pq.read_table(events_file)
    rows = table.to_pylist()
    rows[1]["kind"], rows[2]["severity"], rows[0]["message"] = "bogus", None, None
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), events_file)
    loaded = load_events(str(tmp_path))
    assert len(loaded.event_list) == 5 and "XID-79" not in {e.code for e in loaded.event_list}
    assert loaded.errors == [f"{events_file}: 3 row(s) that are not events were left out"]
