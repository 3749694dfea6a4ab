"""The post-mortem analysis (monitor.report.analysis) and the notebook API (monitor.load)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

import monitor
from monitor.report.analysis import build_report

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLES = ROOT / "sample_logs"
START = dt.datetime(2025, 5, 6, 10, 0, 0)


def iteration(when: dt.datetime, step: int, total: int = 1500) -> str:
    """Megatron-LM `training_log` with its timestamp (megatron/training/training.py)."""
    return (f" [{when:%Y-%m-%d %H:%M:%S}] iteration {step:8d}/{total:8d} | consumed samples: {step * 64:12d} | "
            f"elapsed time per iteration (ms): 3000.0 | learning rate: 1.000E-04 | global batch size:    64 | "
            f"lm loss: {3.0 - step / 1000:.6E} | loss scale: 65536.0 | grad norm: 1.000 | "
            f"number of skipped iterations:   0 | number of nan iterations:   0 |")


def test_goodput_on_a_run_whose_lost_time_and_recomputed_steps_are_known(tmp_path) -> None:
    """Steps 10..1000 every 10 steps at 3 s a step; down for 20 minutes; resumed from the checkpoint
    at step 800 (201 steps computed again: 801..1000, or 603 s); then on to 1500."""
    lines = [iteration(START + dt.timedelta(seconds=3 * s), s) for s in range(10, 1001, 10)]
    resume = START + dt.timedelta(seconds=3 * 1000 + 1200)
    lines += [iteration(resume + dt.timedelta(seconds=3 * (s - 801)), s) for s in range(801, 1501, 10)]
    (tmp_path / "train.log").write_text("\n".join(lines) + "\n")
    cost = build_report(monitor.load(str(tmp_path / "train.log")))["goodput"]
    first, last = 30.0, 3 * 1000 + 1200 + 3 * (1491 - 801)
    assert cost["span_s"] == pytest.approx(last - first)
    assert cost["restarts"] == 1 and cost["recomputed_steps"] == 1000 - 801 + 1
    assert cost["seconds_per_step"] == pytest.approx(3.0)
    assert cost["badput"]["startup"] == pytest.approx(1200.0)
    assert cost["badput"]["wasted_progress_from_disruption"] == pytest.approx(200 * 3.0)
    assert cost["productive_s"] == pytest.approx(last - first - 1200 - 600)
    assert cost["ettr"] == pytest.approx((last - first - 1800) / (last - first))


def test_the_verdict_names_the_node_rank_and_xid_and_folds_the_timeouts_under_it() -> None:
    report = build_report(monitor.load(str(SAMPLES / "gpu_fell_off_bus")))
    verdict = report["verdict"]
    assert verdict["outcome"] == "crashed"
    assert verdict["root_cause"]["code"] == "XID-79" and verdict["root_cause"]["node"] == "node07"
    assert "node node07" in verdict["summary"] and "rank 2" in verdict["summary"] and "XID-79" in verdict["summary"]
    [root] = report["timeline"]
    assert root["event"]["code"] == "XID-79"
    assert "NCCL-WATCHDOG-TIMEOUT" in [c["code"] for c in root["cascades"]]
    assert report["drain_candidates"] == [{"node": "node07", "root_faults": 1, "codes": ["XID-79"]}]


def test_a_healthy_run_completed_with_no_findings() -> None:
    verdict = build_report(monitor.load(str(SAMPLES / "hf_trainer_healthy.log")))["verdict"]
    assert verdict["outcome"] == "completed" and verdict["root_cause"] is None
    assert "no findings" in verdict["summary"]


def test_a_fault_that_returns_after_each_restart_is_a_persistent_issue_with_its_cost() -> None:
    report = build_report(monitor.load(str(SAMPLES / "persistent_ecc")))
    [issue] = report["persistent"]
    assert (issue["code"], issue["node"], issue["device"]) == ("XID-48", "node12", "0000:b7:00")
    assert issue["count"] == 2 and issue["episodes"] == 2 and issue["time_lost_s"] > 1000
    assert report["scorecard"][0]["domain"] == "hardware" and report["scorecard"][0]["failures"] == 2
    assert report["goodput"]["suggested_checkpoint_interval_s"] is not None


def test_load_gives_dataframes_indexed_by_time() -> None:
    loaded = monitor.load(str(SAMPLES / "megatron_gpt_bf16_nan.log"))
    assert isinstance(loaded.steps.index, pd.DatetimeIndex)
    assert {"step", "loss", "grad_norm", "step_time_s", "file", "rank"} <= set(loaded.steps.columns)
    assert loaded.steps["loss"].isna().any()  # the NaN is data
    assert list(loaded.events["code"][:2]) == ["LOSS-NAN", "NAN-DIVERGENCE"]
    assert str(loaded.events["time"].dtype).startswith("datetime64")


def test_the_report_command_writes_each_format(run_cli, tmp_path) -> None:
    for suffix in (".html", ".md", ".json"):
        out = tmp_path / f"report{suffix}"
        result = run_cli("report", str(SAMPLES / "gpu_fell_off_bus"), "-o", str(out))
        assert result.code == 0 and out.stat().st_size > 1000  # written: success, whatever it holds
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["verdict"]["root_cause"]["code"] == "XID-79"
    assert "<svg" in (tmp_path / "report.html").read_text()
    assert run_cli("report", str(SAMPLES / "hf_trainer_healthy.log"), "-o", "-").code == 0
    bad = run_cli("report", str(SAMPLES / "hf_trainer_healthy.log"), "-o", str(tmp_path / "r.pdf"))
    assert bad.code == 2 and "use .html, .md or .json" in bad.err


def test_the_analysis_does_not_need_progress_records() -> None:
    """Event files (monitor.load_events) carry no progress records: empty frames, even without columns."""
    from monitor.report.command import render

    kernel_log = str(SAMPLES / "gpu_fell_off_bus" / "node07-kern.log")
    for steps in (pd.DataFrame(), monitor.load(kernel_log).steps):
        loaded = monitor.load(kernel_log)
        loaded.steps, loaded.timers, loaded.pauses, loaded.clock = steps, pd.DataFrame(), pd.DataFrame(), {}
        report = build_report(loaded)
        assert report["verdict"]["root_cause"]["code"] == "XID-79"
        assert report["verdict"]["outcome"] == "no training progress"
        assert report["health"]["series"] == {} and report["goodput"]["seconds_per_step"] is None
        assert report["goodput"]["span_s"] is None  # one timed event: no span
        assert "XID-79" in render(report, "html") and "XID-79" in render(report, "markdown")


def test_loading_in_parallel_gives_the_same_records_and_events() -> None:
    serial = monitor.load(str(SAMPLES), jobs=1)
    parallel = monitor.load(str(SAMPLES), jobs=2)
    assert [e.to_dict() for e in serial.event_list] == [e.to_dict() for e in parallel.event_list]
    pd.testing.assert_frame_equal(serial.steps, parallel.steps)


def test_thinning_keeps_memory_bounded_and_the_goodput_right(tmp_path) -> None:
    lines = [iteration(START + dt.timedelta(seconds=3 * s), s) for s in range(10, 1001, 10)]
    resume = START + dt.timedelta(seconds=3 * 1000 + 1200)
    lines += [iteration(resume + dt.timedelta(seconds=3 * (s - 801)), s) for s in range(801, 1501, 10)]
    (tmp_path / "train.log").write_text("\n".join(lines) + "\n")
    full = monitor.load(str(tmp_path / "train.log"))
    thin = monitor.load(str(tmp_path / "train.log"), max_rows_per_file=20)
    assert len(thin.steps) < 40 < len(full.steps)
    assert {1000, 801} <= set(thin.steps["step"])  # the rows around the restart survive
    for key in ("span_s", "recomputed_steps", "seconds_per_step", "productive_s"):
        assert build_report(thin)["goodput"][key] == pytest.approx(build_report(full)["goodput"][key])
