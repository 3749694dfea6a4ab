"""Issue 15, item 3: no terminal control from a file name or a log line reaches a terminal.

Diagnostics on stderr strip escape sequences and controls from the names they print; the JSON-lines
stream keeps the raw line as evidence, JSON-escaped (C1 controls included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.sinks.terminal import printable

ATTACKS = {
    "osc0-title": "\x1b]0;pwned\x07",
    "osc52-clipboard": "\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x1b\\",
    "reset": "\x1bc",
    "save-restore-cursor": "\x1b7\x1b8",
    "c1-csi": "\x9b2J",
    "c1-osc": "\x9d0;pwned\x9c",
    "bell": "\x07",
}


def controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F]


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_issue_15_printable_strips_sequences_and_controls(attack: str) -> None:
    assert printable(f"rank0{attack}.log\tok") == "rank0.log\tok"


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_issue_15_a_file_name_in_a_diagnostic_cannot_drive_the_terminal(run_cli, tmp_path: Path,
                                                                         attack: str) -> None:
    missing = tmp_path / f"rank0{attack}.log"
    result = run_cli("scan", missing)
    assert result.code == 2 and "no such file" in result.err
    assert controls(result.err) == [] and f"{tmp_path}/rank0.log" in result.err


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_issue_15_a_log_line_stays_raw_in_jsonl_evidence_but_escaped(run_cli, tmp_path: Path, attack: str) -> None:
    log = tmp_path / "train.log"
    log.write_text(f"RuntimeError: CUDA error: an illegal memory access was encountered {attack}\n")
    result = run_cli("scan", "--format", "jsonl", log)
    assert controls(result.out) == []
    [event] = [json.loads(line) for line in result.out.splitlines()]
    assert event["code"] == "CUDA-ILLEGAL-ADDRESS"
    assert event["evidence"].startswith("RuntimeError: CUDA error")
    if attack.startswith(("\x9b", "\x9d")):  # the reader strips escape sequences in their 8-bit C1 forms too
        assert attack[1:3] not in event["evidence"] and "\\u009" not in result.out


def test_a_lone_c1_control_stays_in_jsonl_evidence_json_escaped(run_cli, tmp_path: Path) -> None:
    """Only escape sequences are cut by the reader; a lone control (NEL, U+0085) is data, kept in the
    JSON-lines evidence as an escape, never as the raw character."""
    log = tmp_path / "train.log"
    log.write_text("RuntimeError: CUDA error: an illegal memory access was encountered \x85 here\n")
    result = run_cli("scan", "--format", "jsonl", log)
    assert controls(result.out) == [] and "\\u0085" in result.out
    assert "\x85" in json.loads(result.out)["evidence"]
