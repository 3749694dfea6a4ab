"""`monitor tail --state`: a monitor stopped and started again neither misses lines nor repeats alerts.

Runs the real command in a subprocess: it follows a log, is stopped with
SIGTERM (as systemd, Kubernetes or Slurm stop it), lines are appended while it
is down, and a new monitor with the same state file picks up exactly there.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path


def fault(n: int) -> str:
    return f"[rank{n}]: RuntimeError: CUDA error: uncorrectable ECC error encountered\n"


def start(log: Path, state: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "tail", "--format", "jsonl", "--from-start", "--poll", "0.05",
         "--state", str(state), str(log)],
        stdout=out.open("w"), stderr=subprocess.PIPE,
    )


def events(out: Path, until: int, deadline_s: float = 20.0) -> list[dict]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        if len(found) >= until:
            return found
        time.sleep(0.05)
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)


def test_a_restart_with_state_resumes_exactly(tmp_path: Path) -> None:
    log, state = tmp_path / "train.log", tmp_path / "state.json"
    log.write_text("starting\n" + "RuntimeError: CUDA error: an illegal memory access was encountered\n")
    first = start(log, state, tmp_path / "first.jsonl")
    assert [e["code"] for e in events(tmp_path / "first.jsonl", 1)] == ["CUDA-ILLEGAL-ADDRESS"]
    stop(first)
    assert state.exists()
    with log.open("a") as handle:  # written while no monitor runs
        handle.write("torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, remote process "
                     "exited or there was a network error, NCCL version 2.21.5\n")
    second = start(log, state, tmp_path / "second.jsonl")
    found = events(tmp_path / "second.jsonl", 1)
    time.sleep(0.5)  # anything repeated would arrive now
    stop(second)
    found = [json.loads(line) for line in (tmp_path / "second.jsonl").read_text().splitlines() if line.strip()]
    # only the new line's events: the NCCL error and the process it ended (an uncaught exception's line)
    assert [(e["code"], e["line"]) for e in found] == [("NCCL-REMOTE-ERROR", 3), ("UNCATALOGED", 3)]
