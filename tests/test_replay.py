"""`monitor tail --replay SPEED`: a silent stretch of the log is played compressed by SPEED, and a hang is
raised during it, at its deadline in the log's time, as it would be live.

Time is injected (a fake wall clock that moves only when the replayer sleeps); nothing sleeps for real.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from monitor.live import LiveScan, Replayer
from monitor.settings import Settings
from monitor.sources.files import Source
from tests.test_live import Clock

START = dt.datetime(2025, 3, 4, 10, 0, 0)


def iteration(when: dt.datetime, step: int) -> str:
    """Megatron-LM `training_log` with its timestamp (megatron/training/training.py)."""
    return (f" [{when:%Y-%m-%d %H:%M:%S}] iteration {step:8d}/   50000 | consumed samples: {step * 256:12d} | "
            f"elapsed time per iteration (ms): 6001.2 | learning rate: 3.000000E-04 | global batch size:   256 | "
            f"lm loss: {4.5 - step / 1000:.6E} | loss scale: 65536.0 | grad norm: 1.234 | "
            f"number of skipped iterations:   0 | number of nan iterations:   0 |")


def watchdog_timeout(when: dt.datetime) -> str:
    """PyTorch's NCCL watchdog giving up (torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp, glog-style
    prefix under torchrun's `[rank0]:`)."""
    return (f"[rank0]:[E{when:%m%d %H:%M:%S}.412345678 ProcessGroupNCCL.cpp:632] [Rank 0] Watchdog caught "
            f"collective operation timeout: WorkNCCL(SeqNum=4242, OpType=ALLREDUCE, NumelIn=262144, "
            f"NumelOut=262144, Timeout(ms)=1800000) ran for 1800040 milliseconds before timing out.")


def hung_run(path: Path) -> Path:
    """Steps 10..60 a minute apart, then 30 minutes of silence until NCCL's watchdog gives up."""
    lines = [iteration(START + dt.timedelta(minutes=i), 10 * (i + 1)) for i in range(6)]
    lines.append(watchdog_timeout(START + dt.timedelta(minutes=5, seconds=1800)))
    path.write_text("\n".join(lines) + "\n")
    return path


def replay(path: Path, speed: float) -> tuple[list[tuple[float, str, str]], list[float]]:
    """Play `path` as `monitor tail --replay` does; return (log time, code, message) of each event as it
    is raised, and the sleeps asked for."""
    wall = Clock(0.0)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        wall.now += seconds

    replayer = Replayer([Source(path.name, str(path))], speed, 2025, sleep=sleep, wall=wall)
    live = LiveScan(Settings(), clock=replayer.clock, wall=replayer.clock)
    raised: list[tuple[float, str, str]] = []
    for source, batch in replayer.batches(live.hangs.next_deadline):
        raised += [(replayer.clock(), e.code or "", e.message) for e in live.check()]
        if batch is not None:
            raised += [(replayer.clock(), e.code or "", e.message) for e in live.feed(source.name, source.path, batch)]
    return raised, slept


def test_replay_raises_no_progress_during_the_silent_stretch(tmp_path) -> None:
    raised, slept = replay(hung_run(tmp_path / "slurm-1.out"), speed=1000.0)
    last_step = (START + dt.timedelta(minutes=5)).replace(tzinfo=dt.timezone.utc).timestamp()
    [(when, message)] = [(when, message) for when, code, message in raised if code == "NO-PROGRESS"]
    [nccl] = [when for when, code, _ in raised if code == "NCCL-WATCHDOG-TIMEOUT"]
    assert when == last_step + 600.0  # 10 x the usual minute, not when the next line comes
    assert "no progress for 10m 00s after step 60" in message
    assert nccl - when == pytest.approx(1200.0, abs=1.0)  # 20 minutes of the log's time before NCCL gives up
    assert sum(slept) == pytest.approx((5 * 60 + 1800.412345) / 1000.0)  # the whole log, compressed by SPEED


def test_replay_cuts_a_long_wait_and_keeps_the_pace_after_it(tmp_path) -> None:
    """At SPEED 1 each wait in the 30-minute gap (to the deadline, then to the watchdog's line) is cut to
    `MAX_WAIT_S`; the line after it comes its own minute later (less the watchdog line's fraction of a
    second), not after another cut wait."""
    path = hung_run(tmp_path / "slurm-1.out")
    with path.open("a") as log:
        log.write(iteration(START + dt.timedelta(minutes=36), 70) + "\n")
    _, slept = replay(path, speed=1.0)
    assert slept == pytest.approx([60.0] * 5 + [Replayer.MAX_WAIT_S, Replayer.MAX_WAIT_S, 60.0 - 0.412345], abs=1e-6)


def test_the_readme_replay_demo_shows_the_hang_before_the_watchdog(run_cli) -> None:
    """README: `monitor tail --replay 1000000 --format jsonl sample_logs/gpu_fell_off_bus/` shows the
    no-progress alert 20 minutes (of the log's time) before NCCL's own watchdog gives up."""
    result = run_cli("tail", "--replay", "1000000", "--format", "jsonl", "sample_logs/gpu_fell_off_bus/")
    [hang] = [e for e in map(json.loads, result.out.splitlines()) if e["code"] == "NO-PROGRESS"]
    assert hang["message"].startswith("no progress for 10m 10s after step 610")  # 10:11:43; NCCL: 10:31:08
