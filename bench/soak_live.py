#!/usr/bin/env python3
"""Soak `monitor tail` as the per-node agent runs it: memory, idle CPU, state size and alerts.

Runs the real command (`monitor tail --format jsonl --state FILE DIR`) in a
subprocess and reads its peak and current resident memory (VmHWM, VmRSS) and
CPU time from /proc, in two scenarios:

- ranks: one ~1 MB log naming RANKS distinct ranks (Megatron-LM iteration
  lines, `[rankN]: iteration ...`); then QUIET seconds with nothing new, over
  which the idle CPU share is measured. Expected: peak RSS <= 150 MB (the
  ranks beyond `tail_max_ranks_per_file` are not watched), a state file that
  is not rewritten while idle.
- churn: FILES short-lived rank logs appear in the followed directory in
  waves and are deleted again; one in ten says it finished (HF Trainer's
  `Training completed.` line) and stays until the next wave is written (the
  last wave's, to the end). `--hang-after` is short (20 s; the
  run then waits past it), so any hang watch kept for a deleted or finished
  file would raise NO-PROGRESS. Expected: RSS at the end within 20% of its
  level after the first WARM_WAVES waves (the working set of one wave), no
  alert for a deleted or finished file.

Numbers vary with the machine; they are printed, never asserted by the test
suite.

Usage: python bench/soak_live.py [--ranks 20000] [--files 20000] [--wave 500] [--quiet 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
FINISHED = "Training completed. Do not forget to share your model on huggingface.co/models =)\n"
"""transformers/trainer.py, Trainer._inner_training_loop (logger.info at the end of training)."""
HANG_AFTER_S = 20
WARM_WAVES = 5
"""Waves before the churn's baseline: the first waves grow the heap to the working set of one wave
(hundreds of files open and scanned at once); after that, resident memory must not grow with the files
seen."""


def memory_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of `pid` in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICKS  # utime, stime


def iteration(rank: int, step: int) -> str:
    return f"[rank{rank}]: iteration {step:8d}/  100000 | lm loss: 2.000000E+00 |\n"


def start(directory: Path, state: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "tail", "--format", "jsonl", "--from-start", "--poll", "0.25",
         "--rescan", "0.5", "--state", str(state), *extra, str(directory)],
        stdout=out.open("w"), stderr=(out.parent / (out.name + ".err")).open("w"), cwd=ROOT,
    )


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def settle(pid: int, seconds: float = 1.0, limit: float = 300.0) -> None:
    """Wait until `pid` used under 5% of a core over `seconds` (it has read what there is)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = cpu_seconds(pid)
        time.sleep(seconds)
        if cpu_seconds(pid) - before < 0.05 * seconds:
            return


def ranks(tmp: Path, count: int, quiet: float) -> None:
    logs = tmp / "ranks"
    logs.mkdir()
    log = logs / "combined.log"
    log.write_text("".join(iteration(rank, 10) for rank in range(count)))
    state, out = tmp / "ranks.state", tmp / "ranks.jsonl"
    process = start(logs, state, out)
    try:
        settle(process.pid)
        time.sleep(6.0)  # the periodic save of what was read
        size_before, mtime_before = state.stat().st_size, state.stat().st_mtime_ns
        cpu0 = cpu_seconds(process.pid)
        time.sleep(quiet)
        idle = (cpu_seconds(process.pid) - cpu0) / quiet
        rss, peak = memory_mb(process.pid)
        rewritten = state.stat().st_mtime_ns != mtime_before
    finally:
        stop(process)
    print(f"ranks: {count:,} ranks in one {log.stat().st_size / 1e6:.1f} MB log")
    print(f"  peak RSS {peak:.0f} MB (now {rss:.0f} MB); idle CPU {idle * 100:.2f}% of a core over {quiet:g} s")
    print(f"  state file {size_before / 1e6:.2f} MB, rewritten while idle: {rewritten}; "
          f"alerts {len(events(out))}")


def churn(tmp: Path, files: int, wave: int) -> None:
    logs = tmp / "churn"
    logs.mkdir()
    state, out = tmp / "churn.state", tmp / "churn.jsonl"
    process = start(logs, state, out, "--hang-after", str(HANG_AFTER_S))
    finished: list[str] = []
    seen: list[float] = []  # RSS after each wave
    baseline = None
    try:
        settle(process.pid, 0.5)
        for first in range(0, files, wave):
            names = [f"job{n}.rank0.log" for n in range(first, min(files, first + wave))]
            for n, name in enumerate(names, first):
                text = "".join(iteration(0, step) for step in range(1, 6))
                (logs / name).write_text(text + (FINISHED if n % 10 == 0 else ""))
            time.sleep(1.0)  # a rescan and a read
            for name in finished:  # the finished files of the wave before: cleaned up a wave later
                (logs / name).unlink()
            finished = []
            for n, name in enumerate(names, first):
                if n % 10 == 0:
                    finished.append(name)
                else:
                    (logs / name).unlink()
            time.sleep(0.5)
            seen.append(memory_mb(process.pid)[0])
            if len(seen) == WARM_WAVES:
                baseline = seen[-1]
        # the last wave's finished files stay: past --hang-after, any hang watch kept for them would fire
        # past --hang-after (a file still watched would raise NO-PROGRESS), the time a finished file's state
        # is kept (live.FINISHED_QUIET_S and a sweep) and the next periodic save
        time.sleep(HANG_AFTER_S + 15.0)
        settle(process.pid, 0.5)
        rss, peak = memory_mb(process.pid)
        state_size = state.stat().st_size
    finally:
        stop(process)
    found = events(out)
    hangs = [e for e in found if e.get("code") == "NO-PROGRESS"]
    baseline = baseline if baseline is not None else seen[-1]
    print(f"churn: {files:,} files in waves of {wave} "
          "(a tenth finished and kept a wave longer; the last wave's to the end)")
    print(f"  RSS after the first wave {seen[0]:.0f} MB, after {min(WARM_WAVES, len(seen))} waves {baseline:.0f} MB, "
          f"at the end {rss:.0f} MB ({(rss / baseline - 1) * 100:+.0f}% of the latter), peak {peak:.0f} MB")
    print(f"  RSS after each wave: {' '.join(f'{mb:.0f}' for mb in seen)}")
    print(f"  state file {state_size / 1e6:.2f} MB; alerts {len(found)}, NO-PROGRESS {len(hangs)} "
          "(every file was deleted or finished: any is a false alarm)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--wave", type=int, default=500)
    parser.add_argument("--quiet", type=float, default=10.0, help="idle seconds measured in the ranks scenario")
    parser.add_argument("--only", choices=("ranks", "churn"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("SOAK_DIR")) as tmp:
        if args.only in (None, "ranks"):
            ranks(Path(tmp), args.ranks, args.quiet)
        if args.only in (None, "churn"):
            churn(Path(tmp), args.files, args.wave)
    return 0


if __name__ == "__main__":
    sys.exit(main())
