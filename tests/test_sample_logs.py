"""The shipped sample logs: in sync with their generator, and each reports its known incident."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_logs", ROOT / "scripts" / "make_sample_logs.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


GENERATOR = _generator()


def test_shipped_samples_are_what_the_generator_writes(tmp_path) -> None:
    written = GENERATOR.write_all(tmp_path)
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    shipped = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.is_file())
    assert names == shipped
    for name in names:
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name


@pytest.mark.parametrize("name", sorted(GENERATOR.EXPECTED))
def test_sample_reports_its_incident(run_cli, name: str) -> None:
    result = run_cli("scan", "--format", "jsonl", SAMPLES / name)
    found = [(e["kind"], e["code"]) for e in map(json.loads, result.out.splitlines())]
    assert found == GENERATOR.EXPECTED[name]
    serious = any(e["severity"] in ("error", "critical") for e in map(json.loads, result.out.splitlines()))
    assert result.code == (1 if serious else 0)


def test_every_sample_is_parsed_into_steps(run_cli) -> None:
    document = json.loads(run_cli("scan", "--format", "json", SAMPLES).out)
    no_steps = {f["file"] for f in document["files"] if f["steps"] == 0}
    assert {Path(f).name for f in no_steps} == {"node07-kern.log", "node12-kern.log"}  # kernel logs
    formats = {f["format"] for f in document["files"]}
    assert {"megatron", "hf_trainer", "tqdm", "torchtitan", "nanogpt", "fairseq", "mindformers", "jsonl",
            "olmo", "learned"} <= formats


def test_main_command_on_all_samples_exits_1_and_a_healthy_sample_alone_exits_0(run_cli) -> None:
    assert run_cli("scan", "--format", "jsonl", SAMPLES).code == 1
    assert run_cli("scan", "--format", "jsonl", SAMPLES / "hf_trainer_healthy.log").code == 0


def test_the_mixed_run_shows_the_gpu_that_fell_off_the_bus_as_the_root_of_everything(run_cli) -> None:
    """Scanned together, the kernel log and the job log tell one story: Xid 79 first, every
    later fault (the CUDA error, 15 ranks' NCCL timeouts, torchrun, srun) a cascade of it."""
    result = run_cli("scan", "--format", "jsonl", SAMPLES / "gpu_fell_off_bus")
    events = [json.loads(line) for line in result.out.splitlines()]
    root, *rest = events
    assert (root["code"], root["role"], root["node"], root["device"]) == ("XID-79", "root", "node07", "0000:3b:00")
    assert rest and all(e["role"] == "cascade" and e["cause"].startswith("XID-79 on node07") for e in rest)
    timeouts = next(e for e in rest if e["code"] == "NCCL-WATCHDOG-TIMEOUT")
    assert timeouts["count"] == 15 and len(timeouts["ranks"]) == 15 and 2 not in timeouts["ranks"]
    child = next(e for e in rest if e["code"] == "TORCHELASTIC-CHILD-FAILED")
    assert (child["rank"], child["node"], child["details"]["signal"]) == (2, "node07", "SIGABRT")
    table = run_cli("scan", SAMPLES / "gpu_fell_off_bus").out
    assert table.index("XID-79") < table.index("└ ERROR")
