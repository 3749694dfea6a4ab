"""Golden cases: each tests/golden/<case>.log scans to exactly <case>.expected.jsonl.

The logs are real-shaped (framework layouts, values written for the case). Run
`python -m pytest tests/test_golden.py --update-golden` to rewrite the expected
files after a deliberate change, and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.log"))


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 5


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case: str, run_cli, request, monkeypatch) -> None:
    monkeypatch.chdir(GOLDEN)  # so the `file` field is the bare case name
    result = run_cli("scan", "--format", "jsonl", f"{case}.log")
    assert result.code in (0, 1), result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    expected_path = GOLDEN / f"{case}.expected.jsonl"
    if request.config.getoption("--update-golden"):
        expected_path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    expected = [json.loads(line) for line in expected_path.read_text().splitlines()]
    assert events == expected
