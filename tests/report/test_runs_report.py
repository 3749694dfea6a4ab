"""A report over several runs: a table of runs, then one verdict per run, none deciding another's."""

from __future__ import annotations

from pathlib import Path

import monitor
from monitor.report.analysis import build_report
from monitor.report.html import render_html
from monitor.report.markdown import render_markdown

SAMPLES = Path(__file__).resolve().parent.parent.parent / "sample_logs"


def test_each_run_of_the_samples_gets_its_own_verdict() -> None:
    report = build_report(monitor.load(str(SAMPLES)))
    by_run = {run["run"]: run for run in report["runs"]}
    assert len(by_run) == len(report["runs"]) >= 10
    fell_off = by_run["slurm-4242"]
    assert fell_off["verdict"]["outcome"] == "crashed"
    assert fell_off["verdict"]["root_cause"]["code"] == "XID-79"
    assert sorted(Path(f).name for f in fell_off["files"]) == ["node07-kern.log", "slurm-4242.out"]
    assert by_run["slurm-7001"]["verdict"]["root_cause"]["code"] == "XID-48"
    healthy = next(run for name, run in by_run.items() if name.endswith("hf_trainer_healthy.log"))
    assert healthy["verdict"]["outcome"] == "completed" and healthy["verdict"]["root_cause"] is None
    titan = next(run for name, run in by_run.items() if name.endswith("torchtitan_llama3_8b"))
    assert len(titan["files"]) == 4  # one run's four ranks
    markdown = render_markdown(report)
    assert markdown.count("\n### Run ") == len(by_run)
    assert "| `slurm-4242` | 2 | crashed | `XID-79` |" in markdown
    html = render_html(report)
    assert html.count("<h3>Run ") == len(by_run)


def test_one_run_keeps_the_single_verdict_layout() -> None:
    report = build_report(monitor.load(str(SAMPLES / "gpu_fell_off_bus")))
    assert len(report["runs"]) == 1 and report["verdict"] == report["runs"][0]["verdict"]
    assert "### Run " not in render_markdown(report)
