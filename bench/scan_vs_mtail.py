#!/usr/bin/env python3
"""Benchmark `monitor scan` against `mtail --one_shot` on the same big Megatron log.

The log is generated here from a fixed seed: mostly Megatron-LM iteration
lines (upstream layout), plus NCCL INFO chatter and Python/DeepSpeed
warnings, with a NaN stretch and a restart so the scan has something to
find. mtail runs `bench/megatron.mtail`, which extracts the same fields
(step, loss, step time, grad norm, nan-iteration counter) from every
iteration line; both read the same file from the page cache, one after the
other, and each is timed with its peak resident memory.

Usage: python bench/scan_vs_mtail.py [--lines N] [--keep] [--jobs N ...]
Requires: mtail (Debian package `mtail`) and Linux's /proc (memory is the peak
resident size of the whole process tree: the monitor's workers included).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MTAIL_PROGRAM = HERE / "megatron.mtail"

SHARE_ITERATION = 0.60
SHARE_NCCL = 0.32  # the rest are warnings

WARNINGS = [
    "/usr/lib/python3/dist-packages/torch/utils/checkpoint.py:91: UserWarning: None of the inputs have "
    "requires_grad=True. Gradients will be None",
    "[2025-03-04 09:12:44,512] [WARNING] [stage3.py:1991:step] 4 pytorch allocator cache flushes since last "
    "step. this happens when there is high memory pressure and is detrimental to performance.",
    "WARNING: Logging before InitGoogleLogging() is written to STDERR",
    "[W ProcessGroupNCCL.cpp:1856] Warning: 0NCCL_BLOCKING_WAIT is deprecated; use TORCH_NCCL_BLOCKING_WAIT instead",
]


def iteration_line(step: int, loss: float | None, rng: random.Random) -> str:
    loss_field = f" lm loss: {loss:.6E} |" if loss is not None else ""
    grad = "nan" if loss is None else f"{0.8 + rng.random() * 0.4:.3f}"
    return (
        f" iteration {step:8d}/ 2000000 | consumed samples: {step * 512:12d} | "
        f"elapsed time per iteration (ms): {1200 + rng.gauss(0, 15):.1f} | learning rate: {3e-4:.6E} | "
        f"global batch size:   512 |{loss_field} loss scale: 1.0 | grad norm: {grad} | "
        f"number of skipped iterations:   0 | number of nan iterations:   0 |\n"
    )


def generate(path: Path, lines: int, seed: int = 0) -> dict[str, int]:
    """Write the benchmark log; return how many lines of each kind it holds."""
    rng = random.Random(seed)
    counts = {"iteration": 0, "nccl": 0, "warning": 0}
    step = 0
    nan_from, nan_to = int(lines * 0.40), int(lines * 0.40) + 200
    restart_at = int(lines * 0.70)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(lines):
            roll = rng.random()
            if roll < SHARE_ITERATION:
                step += 1
                if restart_at and i >= restart_at:
                    step -= 500  # resumed from an older checkpoint
                    restart_at = 0
                loss = None if nan_from <= i < nan_to else 2.0 + 1.5 / (1 + step / 5000) + rng.gauss(0, 0.01)
                out.write(iteration_line(step, loss, rng))
                counts["iteration"] += 1
            elif roll < SHARE_ITERATION + SHARE_NCCL:
                rank = rng.randrange(8)
                out.write(f"gpu-node{rng.randrange(64):03d}:{20000 + rank}:{20100 + rank} [{rank}] NCCL INFO "
                          f"Channel {rng.randrange(32):02d}/0 : {rank}[{rank}] -> {(rank + 1) % 8}[{(rank + 1) % 8}] "
                          f"via P2P/IPC/read\n")
                counts["nccl"] += 1
            else:
                out.write(WARNINGS[rng.randrange(len(WARNINGS))] + "\n")
                counts["warning"] += 1
    return counts


def _tree_rss_kib(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid and child not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in tree)


def timed(argv: list[str], stdout_path: Path) -> tuple[float, int, int]:
    """Run a command; return (wall seconds, peak resident memory of its whole process tree in KiB,
    exit code). Memory is sampled every 20 ms, so a shorter peak can be missed."""
    with open(stdout_path, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss_kib(process.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - started
    return wall, peak, process.returncode


def warm(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def mtail_steps(output: Path) -> int | None:
    """The last step mtail stored, to check it read every iteration line."""
    document = json.loads(output.read_text() or "{}")
    try:
        return int(document["megatron_step"][0]["LabelValues"][0]["Value"]["Value"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_200_000)
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, os.cpu_count() or 1])
    parser.add_argument("--keep", action="store_true", help="keep the generated log in bench/out/")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the best is reported")
    args = parser.parse_args()
    if not shutil.which("mtail"):
        print("needs mtail: apt-get install mtail", file=sys.stderr)
        return 2
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    log = out_dir / "megatron_bench.log"
    counts = generate(log, args.lines)
    size = log.stat().st_size
    print(f"log: {args.lines:,} lines, {size / 2**20:.0f} MiB ({counts})")
    warm(log)

    results = {}
    with tempfile.TemporaryDirectory() as programs:
        shutil.copy(MTAIL_PROGRAM, programs)
        command = ["mtail", "--one_shot", "--progs", programs, "--logs", str(log), "--logtostderr"]
        runs = [timed(command, out_dir / "mtail.json") for _ in range(args.repeat)]
        results["mtail"] = min(runs)
        seen = mtail_steps(out_dir / "mtail.json")
        print(f"mtail: last step stored {seen}")
    for jobs in args.jobs:
        command = [sys.executable, "-m", "monitor", "scan", "--format", "json", "--jobs", str(jobs), str(log)]
        runs = [timed(command, out_dir / f"monitor-{jobs}.json") for _ in range(args.repeat)]
        results[f"monitor --jobs {jobs}"] = min(runs)
        document = json.loads((out_dir / f"monitor-{jobs}.json").read_text())
        found = sorted({e["code"] for e in document["events"]})
        print(f"monitor --jobs {jobs}: {document['files'][0]['steps']:,} steps, events {found}")

    base = results["mtail"][0]
    print(f"\n{'command':<20} {'wall s':>8} {'lines/s':>12} {'peak MiB':>9} {'vs mtail':>9}")
    for name, (wall, peak, _code) in results.items():
        print(f"{name:<20} {wall:8.2f} {args.lines / wall:12,.0f} {peak / 1024:9.1f} {base / wall:8.2f}x")
    if not args.keep:
        log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
