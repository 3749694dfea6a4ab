"""monitor.hook: the JSON lines a training loop writes, read back by the monitor like any log."""

from __future__ import annotations

import json
import math

from monitor.hook import Hook
from tests.conftest import fault_events


def test_steps_and_heartbeats_are_json_lines_the_scan_reads(tmp_path) -> None:
    hook = Hook(str(tmp_path / "run-rank{rank}.jsonl"), rank=3)
    for step in range(1, 61):
        hook.step(step, loss=3.0 * math.exp(-step / 40) + (9.0 if step == 30 else 0.0), lr=3e-4, grad_norm=1.0)
        if step % 20 == 0:
            hook.heartbeat()
    hook.step(61, loss=float("nan"))
    hook.close()
    path = tmp_path / "run-rank3.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 64 and lines[0]["step"] == 1 and lines[0]["time"].endswith("Z")
    assert lines[-1] == {"time": lines[-1]["time"], "step": 61, "loss": "nan"}
    assert {k: v for k, v in lines[20].items() if k != "time"} == {"event": "heartbeat", "last_step": 20}
    codes = {(e.code, e.step) for e in fault_events(path.read_text(), file=str(path))}
    assert ("LOSS-SPIKE", 30) in codes and ("LOSS-NAN", 61) in codes


def test_the_rank_and_the_path_come_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MONITOR_HOOK_FILE", str(tmp_path / "h-{rank}.jsonl"))
    monkeypatch.setenv("RANK", "7")
    hook = Hook()
    hook.step(1, loss=1.0)
    hook.close()
    assert (tmp_path / "h-7.jsonl").exists()


def test_a_full_queue_or_an_unwritable_file_drops_and_counts_never_raises(tmp_path) -> None:
    hook = Hook(str(tmp_path / "missing-dir" / "h.jsonl"), rank=0, max_queued=5)
    for step in range(20):
        hook.step(step, loss=1.0)
    hook.step(21, loss=object())  # not a number: counted, not raised
    hook.close()
    assert hook.dropped >= 15 and hook.errors >= 2
    hook.step(22, loss=1.0)  # after close: dropped
    assert not (tmp_path / "missing-dir").exists()


def test_metrics_with_an_item_method_are_written_by_value(tmp_path) -> None:
    class Scalar:
        def item(self) -> float:
            return 0.25

    hook = Hook(str(tmp_path / "h.jsonl"), rank=0)
    hook.step(4, loss=Scalar(), skipped=2)
    hook.close()
    assert json.loads((tmp_path / "h.jsonl").read_text()) | {"time": None} == {
        "time": None, "step": 4, "loss": 0.25, "skipped": 2,
    }
