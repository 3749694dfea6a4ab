"""Non-finite numbers in every JSON writer: `report -o x.json`, `scan --format json` and `--format jsonl`.

JSON has no NaN or infinity. An event keeps the spelling in `value` and `baseline` ("nan", "inf"); any
other number that is not finite (chart series, health markers, `details`) is null. Never a crash, never a
bare `NaN` token (Python's json.dumps writes one unless told not to; strict parsers reject it).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from monitor.model import Event, Kind, Severity
from monitor.sinks.json_document import write_json
from monitor.sinks.jsonl import write_jsonl

ROOT = Path(__file__).resolve().parent.parent


def strict(text: str) -> Any:
    """Parse `text` as JSON proper: NaN, Infinity and -Infinity are refused."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def nanogpt_inf_log(path: Path) -> Path:
    """nanoGPT's training loop, whose fp16 loss overflows to inf at step 300: the lines are those of
    `print(f"iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms, mfu {running_mfu*100:.2f}%")` and
    `print(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")` in
    karpathy/nanoGPT train.py (`f"{inf:.4f}"` is "inf")."""
    lines = ["step 0: train loss 11.2449, val loss 11.2602"]
    for step in range(0, 400, 10):
        loss = 4.0 - step / 1000 if step < 300 else float("inf")
        lines.append(f"iter {step}: loss {loss:.4f}, time {1098.96 + step % 7:.2f}ms, mfu {15.32:.2f}%")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_json_of_megatron_gpt_bf16_nan_log(run_cli, tmp_path) -> None:
    out = tmp_path / "report.json"
    result = run_cli("report", ROOT / "sample_logs" / "megatron_gpt_bf16_nan.log", "-o", out)
    assert result.code == 0 and "Traceback" not in result.err
    document = strict(out.read_text())
    assert document["verdict"]["root_cause"]["code"] == "LOSS-NAN"
    assert document["verdict"]["root_cause"]["value"] == "nan"


def test_a_non_finite_number_anywhere_in_a_report_is_null_in_its_json() -> None:
    """Chart series, health tables, goodput, details: whatever the analysis puts in the report."""
    from monitor.report.command import render

    report = {
        "health": {"series": {"loss": [[10, 2.5], [20, float("nan")]]}, "spikes": [{"peak": float("inf")}]},
        "goodput": {"ettr": float("-inf"), "mtbf_s": None},
        "timeline": [{"event": {"details": {"ratio": float("nan")}}}],
    }
    assert strict(render(report, "json")) == {
        "health": {"series": {"loss": [[10, 2.5], [20, None]]}, "spikes": [{"peak": None}]},
        "goodput": {"ettr": None, "mtbf_s": None},
        "timeline": [{"event": {"details": {"ratio": None}}}],
    }


def test_report_and_scan_json_of_a_log_whose_loss_is_inf(run_cli, tmp_path) -> None:
    log = nanogpt_inf_log(tmp_path / "train.log")
    out = tmp_path / "report.json"
    assert run_cli("report", log, "-o", out).code == 0
    document = strict(out.read_text())
    losses = dict(document["health"]["series"]["loss"])
    assert losses[290] == 3.71 and losses[300] is None and losses[390] is None
    scanned = run_cli("scan", "--format", "json", log)
    events = strict(scanned.out)["events"]
    assert {(e["code"], e["value"]) for e in events} >= {("LOSS-NAN", "inf")}
    lines = run_cli("scan", "--format", "jsonl", log).out.splitlines()
    assert [strict(line)["code"] for line in lines] == [e["code"] for e in events]


def test_a_non_finite_number_in_details_is_null_in_json_and_jsonl() -> None:
    event = Event(
        kind=Kind.DIVERGENCE, severity=Severity.CRITICAL, message="grad norm blew up", value=float("inf"),
        baseline=1.5, details={"grad_norm_floor": float("nan"), "ratios": (2.0, float("-inf")), "reason": "x"},
    )
    expected = {"grad_norm_floor": None, "ratios": [2.0, None], "reason": "x"}
    jsonl = io.StringIO()
    write_jsonl([event], jsonl)
    line = strict(jsonl.getvalue())
    assert line["details"] == expected and line["value"] == "inf" and line["baseline"] == 1.5
    document = io.StringIO()
    write_json([event], [], [], document)
    assert strict(document.getvalue())["events"][0]["details"] == expected
