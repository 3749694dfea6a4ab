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
    assert {f["file"] for f in document["files"] if f["steps"] == 0} == set()
    formats = {f["format"] for f in document["files"]}
    assert {"megatron", "hf_trainer", "tqdm", "torchtitan", "nanogpt", "fairseq", "mindformers", "jsonl",
            "olmo", "generic"} <= formats


def test_main_command_on_all_samples_exits_1_and_a_healthy_sample_alone_exits_0(run_cli) -> None:
    assert run_cli("scan", "--format", "jsonl", SAMPLES).code == 1
    assert run_cli("scan", "--format", "jsonl", SAMPLES / "hf_trainer_healthy.log").code == 0
