"""The HTML and Markdown renderings of a report document, and the inline SVG charts.

The report is written by hand in the shape of the report schema: a GPU on node07
fell off the bus (XID-79) and three cascades followed; earlier a loss spike, a
NaN loss and a persistent XID-48 on node03.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from typing import Any

import pytest

from monitor.model import Event
from monitor.report.axes import log_axis, round_ticks, tick_labels
from monitor.report.charts import line_chart
from monitor.report.html import render_html
from monitor.report.markdown import SECTIONS, duration_text, md_code, ranks_text, render_markdown

HEADINGS = [heading for _, heading in SECTIONS]
SCRIPT = "<script>alert(1)</script>"
START = 1_795_892_400.0  # 2026-11-28T19:00:00Z
SECONDS_PER_STEP = 8.2


def event(**fields: Any) -> dict[str, Any]:
    """An Event.to_dict() with every contract field, null unless given."""
    return {field.name: None for field in dataclasses.fields(Event)} | fields


XID79 = event(
    kind="device_fault", severity="critical", code="XID-79", file="node07/kern.log", line=4812,
    time="2026-11-28T23:14:05Z", step=1840, rank=56, node="node07", device="0000:3b:00.0", domain="hardware",
    role="root", message="GPU 0000:3b:00.0 has fallen off the bus (Xid 79)",
    evidence="[Sat Nov 28 23:14:05 2026] NVRM: Xid (PCI:0000:3b:00): 79, pid=48213, name=python, "
             "GPU has fallen off the bus.",
    action="drain node07 and run GPU diagnostics (nvidia-smi -q, dcgmi diag -r 3); reseat or replace the GPU",
)
CAUSE = "XID-79 on node07 device 0000:3b:00.0 rank 56 (node07/kern.log:4812)"
CASCADES = [
    event(kind="hang", severity="error", code="NCCL-WATCHDOG-TIMEOUT", file="train.log", line=90211,
          time="2026-11-28T23:24:06Z", step=1840, rank=0, node="node01", domain="interconnect", role="cascade",
          count=63, ranks=[r for r in range(64) if r != 56], nodes=[f"node{i:02d}" for i in range(1, 9)],
          message="NCCL watchdog: a collective timed out after 600000 ms", cause=CAUSE,
          evidence="[rank0]:[E1128 23:24:06.311] [PG 0 Rank 0] Watchdog caught collective operation timeout: "
                   "WorkNCCL(SeqNum=91244, OpType=ALLREDUCE, Timeout(ms)=600000) ran for 600034 milliseconds"),
    event(kind="crash", severity="error", code="TORCH-CHILD-FAILED", file="train.log", line=90377,
          time="2026-11-28T23:24:09Z", rank=56, node="node07", domain="software", role="cascade", cause=CAUSE,
          message="torchrun: a worker process failed (exit code 1)",
          evidence=f"[rank56]: RuntimeError: CUDA error: unspecified launch failure (sample {SCRIPT})"),
    event(kind="crash", severity="error", code="SLURM-TASK-FAILED", file="slurm-88231.out", line=52,
          time="2026-11-28T23:24:11Z", node="node07", domain="infrastructure", role="cascade", cause=CAUSE,
          message="srun: task 56 exited with exit code 1",
          evidence="srun: error: node07: task 56: Exited with exit code 1"),
]
XID48 = event(
    kind="device_fault", severity="critical", code="XID-48", file="node03/kern.log", line=211,
    time="2026-11-28T19:02:11Z", node="node03", device="0000:86:00.0", domain="hardware", role="root", count=4,
    persistent=True, message="Double-bit ECC error on GPU 0000:86:00.0 (Xid 48)",
    evidence="[Sat Nov 28 19:02:11 2026] NVRM: Xid (PCI:0000:86:00): 48, pid=1182, DBE (0x1) 0x0f3a2c40",
    action="drain node03; the GPU needs a reset and, if it repeats, replacement",
)
SPIKE = event(
    kind="loss_spike", severity="warning", code="LOSS-SPIKE", file="train.log", line=71804,
    time="2026-11-28T23:06:00Z", step=1800, rank=0, node="node01", value=9.41, baseline=2.35, role="root",
    message="loss 9.41 at step 1,800, 4.0x its recent level | recovered after 12 steps",
    evidence=" iteration     1800/   10000 | consumed samples:       921600 | lm loss: 9.410000E+00 "
             "| `scale` 65536.0 |",
)
NAN = event(
    kind="nan", severity="error", code="LOSS-NAN", file="train.log", line=73380, time="2026-11-28T23:13:10Z",
    step=1838, rank=0, node="node01", value="nan", role="root", message="loss is nan at step 1,838",
    evidence=" iteration     1838/   10000 | consumed samples:       941056 | lm loss: nan |",
)


def loss(step: int) -> float:
    if step in (1838, 1839):
        return math.nan
    if 1800 <= step < 1812:
        return 9.41 - (step - 1800) * 0.55
    return 2.3 + 8.0 * math.exp(-step / 250)


def series(steps: range) -> dict[str, list[list[float]]]:
    return {
        "loss": [[s, loss(s)] for s in steps],
        "grad_norm": [[s, 1.0 + 0.3 * math.sin(s / 40) + (30.0 if s == 1800 else 0.0)] for s in steps],
        "step_time_s": [[s, SECONDS_PER_STEP + (4.0 if s % 500 == 0 else 0.0)] for s in steps],
        "throughput": [[s, 1_000_000 / SECONDS_PER_STEP] for s in steps],
        "loss_scale": [[s, 2.0 ** (16 - (1 if 1800 <= s < 1812 else 0))] for s in steps],
    }


def by_time(by_step: dict[str, list[list[float]]]) -> dict[str, list[list[float]]]:
    return {key: [[START + x * SECONDS_PER_STEP, y] for x, y in pairs] for key, pairs in by_step.items()}


def sample_report() -> dict[str, Any]:
    """A realistic report: a GPU fell off the bus after a spike and a NaN loss."""
    steps = series(range(0, 1841))
    return {
        "title": "monitor report", "generated": "2026-11-29T01:20:00Z", "version": "0.1.0",
        "inputs": [
            {"file": "train.log", "format": "megatron", "ranks": [0], "steps": 1841, "first_step": 0,
             "last_step": 1840, "last_loss": "nan", "lines": 90412, "bytes": 18_204_113, "long_lines": 0,
             "error": None},
            {"file": "node07/kern.log", "format": None, "ranks": [], "steps": 0, "first_step": None,
             "last_step": None, "last_loss": None, "lines": 5120, "bytes": 611_004, "long_lines": 0, "error": None},
        ],
        "verdict": {
            "outcome": "crashed",
            "summary": "The run crashed at step 1,840 after 4h 24m: GPU 0000:3b:00.0 on node07 fell off the bus "
                       "(XID-79); 63 ranks then timed out in NCCL and the job step failed.",
            "root_cause": XID79,
            "meaning": "The GPU stopped answering on the PCIe bus: a hardware, power or thermal fault.",
            "action": XID79["action"],
        },
        "timestamps_missing": False,
        "timeline": [
            {"event": XID48, "cascades": []},
            {"event": SPIKE, "cascades": []},
            {"event": NAN, "cascades": []},
            {"event": XID79, "cascades": CASCADES},
        ],
        "health": {
            "series": steps, "series_by_time": by_time(steps), "throughput_unit": "tokens/s",
            "restarts": [{"step": 1200, "epoch_s": START + 1200 * SECONDS_PER_STEP}],
            "markers": [
                {"step": 1800, "epoch_s": START + 1800 * SECONDS_PER_STEP, "kind": "loss_spike",
                 "code": "LOSS-SPIKE", "value": 9.41},
                {"step": 1838, "epoch_s": START + 1838 * SECONDS_PER_STEP, "kind": "nan", "code": "LOSS-NAN",
                 "value": None},
            ],
            "spikes": [{"step": 1800, "peak": 9.41, "baseline": 2.35, "magnitude": 4.0, "recovered_after_steps": 12,
                        "rank": 0}],
        },
        "goodput": {
            "span_s": 15_840.0, "productive_s": 13_650.0, "ettr": 13_650.0 / 15_840.0,
            "badput": {"startup": 420.0, "checkpoint_restore": 310.0, "wasted_progress_from_disruption": 656.0,
                       "stalls_and_hangs": 604.0, "other": 200.0},
            "recomputed_steps": 80, "restarts": 1, "failures": 2, "mtbf_s": 7_920.0, "checkpoint_cost_s": 38.0,
            "suggested_checkpoint_interval_s": 776.0,
            "notes": ["the last 10 minutes are the NCCL watchdog timeout: counted as a stall"],
        },
        "persistent": [
            {"code": "XID-48", "kind": "device_fault", "domain": "hardware", "node": "node03",
             "device": "0000:86:00.0", "count": 4, "episodes": 2, "first_time": "2026-11-28T19:02:11Z",
             "last_time": "2026-11-28T21:40:52Z", "time_lost_s": 410.0, "trend": "steady",
             "meaning": "Double-bit ECC error: GPU memory returned corrupt data.", "action": XID48["action"]},
        ],
        "scorecard": [
            {"domain": "hardware", "failures": 2, "mtbf_s": 7_920.0, "codes": ["XID-48", "XID-79"],
             "time_lost_s": 1_420.0},
        ],
        "faults": [
            {"code": "XID-79", "kind": "device_fault", "severity": "critical", "domain": "hardware", "count": 1,
             "ranks": [56], "nodes": ["node07"], "first_time": "2026-11-28T23:14:05Z",
             "last_time": "2026-11-28T23:14:05Z", "meaning": "GPU has fallen off the bus.",
             "action": XID79["action"]},
            {"code": "NCCL-WATCHDOG-TIMEOUT", "kind": "hang", "severity": "error", "domain": "interconnect",
             "count": 63, "ranks": CASCADES[0]["ranks"], "nodes": CASCADES[0]["nodes"],
             "first_time": "2026-11-28T23:24:06Z", "last_time": "2026-11-28T23:24:06Z",
             "meaning": "A collective did not finish within the timeout.", "action": "look for the rank that stopped"},
        ],
        "drain_candidates": [{"node": "node07", "root_faults": 1, "codes": ["XID-79"]},
                             {"node": "node03", "root_faults": 1, "codes": ["XID-48"]}],
        "events": [XID48, SPIKE, NAN, XID79, *CASCADES],
    }


def empty_report() -> dict[str, Any]:
    """A run with no findings: no events, no series."""
    return {
        "title": "monitor report", "generated": "2026-11-29T01:20:00Z", "version": "0.1.0", "inputs": [],
        "verdict": {"outcome": "completed", "summary": "No findings: the run completed with no fault, spike or stall.",
                    "root_cause": None, "meaning": None, "action": None},
        "timestamps_missing": True, "timeline": [],
        "health": {"series": {}, "series_by_time": {}, "throughput_unit": None, "restarts": [], "markers": [],
                   "spikes": []},
        "goodput": {"span_s": None, "productive_s": None, "ettr": None, "badput": {}, "recomputed_steps": 0,
                    "restarts": 0, "failures": 0, "mtbf_s": None, "checkpoint_cost_s": None,
                    "suggested_checkpoint_interval_s": None, "notes": ["no timestamps: wall time unknown"]},
        "persistent": [], "scorecard": [], "faults": [], "drain_candidates": [], "events": [],
    }


def section(html: str, key: str) -> str:
    start = html.index(f'<section id="{key}">')
    return html[start:html.index("</section>", start)]


# HTML


def test_sections_come_in_order_with_the_verdict_first() -> None:
    html = render_html(sample_report())
    positions = [html.index(f"<h2>{heading}</h2>") for heading in HEADINGS]
    assert positions == sorted(positions)
    assert HEADINGS[0] == "Verdict"


def test_the_verdict_names_the_outcome_and_the_root_cause() -> None:
    verdict = section(render_html(sample_report()), "verdict")
    assert '<span class="badge bad">crashed</span>' in verdict
    assert "GPU 0000:3b:00.0 on node07 fell off the bus (XID-79)" in verdict
    for text in ("<code>XID-79</code>", "node07", "0000:3b:00.0", "<dd>56</dd>", "stopped answering on the PCIe bus",
                 "drain node07 and run GPU diagnostics"):
        assert text in verdict


def test_cascades_are_folded_under_their_root() -> None:
    timeline = section(render_html(sample_report()), "timeline")
    root = timeline.index("<code>XID-79</code>")
    opened, closed = timeline.index("<details>"), timeline.index("</details>")
    assert timeline.count("<details>") == 1
    assert root < opened
    assert "<summary>3 cascades: NCCL-WATCHDOG-TIMEOUT x63, TORCH-CHILD-FAILED x1, SLURM-TASK-FAILED x1" in timeline
    for cascade in CASCADES:
        assert opened < timeline.index(f"<code>{cascade['code']}</code>") < closed
    # roots in time order
    codes = [timeline.index(f"<code>{code}</code>") for code in ("XID-48", "LOSS-SPIKE", "LOSS-NAN", "XID-79")]
    assert codes == sorted(codes)


def test_log_text_is_shown_escaped_and_never_run() -> None:
    report = sample_report()
    report["verdict"]["summary"] += f" Last line: {SCRIPT}"
    report["inputs"][0]["file"] = 'a"><img src=x>.log'
    html = render_html(report)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "a&quot;&gt;&lt;img src=x&gt;.log" in html


def test_the_page_loads_nothing_from_outside() -> None:
    html = render_html(sample_report())
    assert html.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in html
    assert "prefers-color-scheme: dark" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    for forbidden in ('src="http', "<link", "@import", "url(", "http://", "https://", "<script", "<iframe"):
        assert forbidden not in html.lower()


def test_the_page_stays_small_with_long_series_and_many_events() -> None:
    report = sample_report()
    report["health"]["series"] = series(range(0, 15_000, 10))  # 1,500 points each
    report["health"]["series_by_time"] = by_time(report["health"]["series"])
    roots = [copy.deepcopy(XID79) | {"line": 5000 + i, "message": f"fault {i}"} for i in range(250)]
    report["timeline"] = [{"event": root, "cascades": copy.deepcopy(CASCADES)} for root in roots]
    report["events"] = [e for entry in report["timeline"] for e in (entry["event"], *entry["cascades"])]
    assert len(report["events"]) == 1000
    html = render_html(report)
    assert len(html.encode()) < 2_000_000
    assert "Showing 500 of 1,000 events; 500 left out" in html
    assert len(render_markdown(report).encode()) < 2_000_000


def test_the_timeline_says_when_it_is_ordered_by_file_and_line() -> None:
    report = sample_report()
    report["timestamps_missing"] = True
    assert "No timestamps: ordered by file and line." in section(render_html(report), "timeline")
    assert "No timestamps: ordered by file and line." in render_markdown(report)


def test_an_empty_report_says_the_run_has_no_findings() -> None:
    html = render_html(empty_report())
    assert "No findings: the run completed with no fault, spike or stall." in section(html, "verdict")
    assert "No root cause identified." in html
    assert "No events." in section(html, "timeline")
    assert "<svg" not in html
    assert '<p class="none">none</p>' in section(html, "persistent")
    assert "Wall time unknown" in section(html, "cost")
    markdown = render_markdown(empty_report())
    assert "No findings: the run completed with no fault, spike or stall." in markdown
    assert render_html({}) and render_markdown({})


def test_charts_over_steps_and_over_wall_time() -> None:
    health = section(render_html(sample_report()), "health")
    assert health.count("<svg") == 10
    assert "time (UTC), 2026-11-28" in health and ">19:00<" in health
    assert 'class="restart"' in health and 'class="nonfinite"' in health
    assert "<title>nan LOSS-NAN at step 1,838</title>" in health
    assert "<td>after 12 steps</td>" in health


def test_cost_accounting_shows_ettr_and_a_stacked_bar_only_when_wall_time_is_known() -> None:
    cost = section(render_html(sample_report()), "cost")
    assert '<div class="big">86.2%</div>' in cost
    assert cost.count('<span class="b-') == 6
    assert "productive: 3h 47m 30s (86.2%)" in cost
    assert "<dt>Suggested checkpoint interval (Young/Daly)</dt><dd>12m 56s</dd>" in cost
    report = sample_report()
    report["goodput"] |= {"span_s": None, "productive_s": None, "ettr": None}
    cost = section(render_html(report), "cost")
    assert 'class="bar"' not in cost and "Wall time unknown" in cost and "unknown</div>" in cost


# Markdown


def table_rows(markdown: str, header: str) -> list[str]:
    lines = markdown.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def cells(row: str) -> list[str]:
    """The cells of a table row, split on pipes that are not escaped."""
    return re.split(r"(?<!\\)\|", row)[1:-1]


def test_markdown_has_the_same_sections_in_the_same_order() -> None:
    markdown = render_markdown(sample_report())
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings == HEADINGS
    assert headings == re.findall(r"<h2>(.+?)</h2>", render_html(sample_report()))
    assert "Charts are omitted here" in markdown


def test_markdown_verdict_and_cascade_summary() -> None:
    markdown = render_markdown(sample_report())
    assert "**Outcome: crashed.** The run crashed at step 1,840" in markdown
    assert "**Root cause:** `XID-79`" in markdown
    assert "+3 cascades: NCCL-WATCHDOG-TIMEOUT x63, TORCH-CHILD-FAILED x1, SLURM-TASK-FAILED x1" in markdown


def test_markdown_table_cells_escape_pipes_backticks_and_newlines() -> None:
    report = sample_report()
    report["timeline"][0]["event"] = XID48 | {"message": "first line\nsecond | line"}
    report["verdict"]["summary"] += f" Last line: {SCRIPT}"
    markdown = render_markdown(report)
    header = "| Time | Severity | Kind | Code | Where | Message | Count | Cascades |"
    rows = table_rows(markdown, header)
    assert len(rows) == 2 + 4
    assert all(len(cells(row)) == 8 for row in rows)
    assert "first line second \\| line" in markdown
    spike = next(row for row in rows if "LOSS-SPIKE" in row)
    assert "level \\| recovered" in spike
    assert "``" in spike  # the evidence holds a backtick: a longer fence
    assert "\\<script\\>" in markdown and SCRIPT not in markdown


def test_md_code_cannot_be_closed_by_the_text() -> None:
    assert md_code("plain") == "`plain`"
    assert md_code("a `b` c") == "``a `b` c``"
    assert md_code("`x") == "`` `x ``"
    assert md_code("a|b") == "`a\\|b`"
    assert md_code("a|b", in_table=False) == "`a|b`"


def test_plain_text_pieces() -> None:
    assert duration_text(None) == "-"
    assert duration_text("nan") == "-"
    assert duration_text(0.0) == "0 s"
    assert duration_text(2.5) == "2.5 s"
    assert duration_text(42) == "42 s"
    assert duration_text(725) == "12m 05s"
    assert duration_text(15_840) == "4h 24m 00s"
    assert duration_text(2 * 86400 + 3600) == "2d 01h 00m"
    assert ranks_text([3, 0, 1, 2, 7]) == "0–3, 7 (5)"
    assert ranks_text([]) == "-"


# charts


def polylines(svg: str) -> list[str]:
    """The point lists of the series' line segments ("x,y x,y ..."), one per `<path>`."""
    return [d.replace("L", " ") for d in re.findall(r'<path class="line [^"]*" d="M([^"]*)"', svg)]


def test_chart_draws_nan_as_a_gap_with_a_red_tick() -> None:
    svg = line_chart({"loss": [[0, 1.0], [1, 2.0], [2, math.nan], [3, "inf"], [4, 3.0], [5, 4.0]]},
                     title="Loss", x_label="step", y_label="loss")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert len(polylines(svg)) == 2
    assert svg.count('class="nonfinite"') == 2


def test_chart_copes_with_a_single_point_equal_values_and_no_data() -> None:
    single = line_chart({"loss": [[7, 2.5]]}, title="Loss", x_label="step", y_label="loss")
    assert '<circle class="s0"' in single and "nan" not in single
    flat = line_chart({"loss": [[0, 1.0], [10, 1.0]]}, title="Loss", x_label="step", y_label="loss")
    assert len(polylines(flat)) == 1 and "nan" not in flat
    empty = line_chart({}, title="Loss", x_label="step", y_label="loss")
    assert "no data" in empty
    all_nan = line_chart({"loss": [[0, math.nan], [1, math.nan]]}, title="Loss", x_label="step", y_label="loss")
    assert all_nan.count('class="nonfinite"') == 2


def test_chart_thins_long_series_but_keeps_the_extremes() -> None:
    pairs = [[i, 1.0 + (i % 7) * 0.01] for i in range(6000)]
    pairs[4321][1] = 50.0
    svg = line_chart({"loss": pairs}, title="Loss", x_label="step", y_label="loss", width=900, height=260)
    points = [p for line in polylines(svg) for p in line.split()]
    assert len(points) <= 2000
    assert min(float(p.split(",")[1]) for p in points) == 30.0  # the spike still reaches the top


def test_chart_restarts_markers_and_log_axis() -> None:
    svg = line_chart({"loss scale": [[s, 2.0 ** (16 - s // 100)] for s in range(600)]}, title="Loss scale",
                     x_label="step", y_label="scale", log_y=True, vlines=[300],
                     markers=[(250, 2.0**14, f"spike {SCRIPT}", "loss_spike")])
    assert svg.count('class="restart"') == 1
    assert '<circle class="marker marker-loss_spike"' in svg
    assert "&lt;script&gt;" in svg and "<script" not in svg
    assert "65.5k" in svg or "100k" in svg


def test_a_step_back_in_x_starts_a_new_line() -> None:
    svg = line_chart({"loss": [[0, 3.0], [100, 2.0], [50, 2.5], [150, 1.5]]}, title="Loss", x_label="step",
                     y_label="loss")
    assert len(polylines(svg)) == 2


@pytest.mark.parametrize("lo, hi", [(0, 1), (2.1, 2.9), (0, 12345), (1e-5, 3e-5), (-3, 7), (99.5, 100.5),
                                    (1.6e9, 1.6e9 + 7200), (0.001, 1000)])
def test_axes_have_four_to_six_distinct_ticks_covering_the_range(lo: float, hi: float) -> None:
    first, last, ticks, step = round_ticks(lo, hi)
    assert 4 <= len(ticks) <= 6
    assert first <= lo + step * 1e-9 and last >= hi - step * 1e-9
    labels = tick_labels(ticks, step)
    assert len(set(labels)) == len(labels)


@pytest.mark.parametrize("lo, hi, expected", [
    (32768, 65536, ["30k", "40k", "50k", "60k", "70k"]),
    (1, 800, ["1", "10", "100", "1,000"]),
    (1, 100, ["1", "3", "10", "30", "100"]),
    (1e-2, 1e9, ["0.001", "1", "1,000", "1M", "1G"]),
])
def test_log_axes_tick_at_round_values(lo: float, hi: float, expected: list[str]) -> None:
    axis = log_axis([math.log10(lo), math.log10(hi)], 0, 100)
    assert list(axis.labels) == expected
    assert axis.lo <= math.log10(lo) and axis.hi >= math.log10(hi)
