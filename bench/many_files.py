#!/usr/bin/env python3
"""Parallel post-mortem over many rank logs: `monitor scan` (and `monitor report`) serial vs `--jobs`.

Writes `--files` rank logs of `--lines` lines each (Megatron-LM iteration
lines of one rank, NCCL INFO chatter and warnings, in the proportions of
bench/scan_vs_mtail.py; one rank hits a CUDA error at the end), then times
`monitor scan --format json` with --jobs 1 and --jobs N, checks the outputs
are identical, and prints the speed-up. `--report` also times `monitor report`.

Usage: python bench/many_files.py [--files 512] [--lines 20000] [--jobs 2] [--report]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rank_log(path: Path, rank: int, lines: int, seed: int) -> None:
    rng = random.Random(seed)
    step = 0
    with path.open("w") as out:
        for i in range(lines):
            roll = rng.random()
            if roll < 0.6:
                step += 1
                loss = 2.0 + 8.0 / (1 + step / 200) + rng.gauss(0, 0.01)
                out.write(
                    f"[rank{rank}]: iteration {step:8d}/  100000 | consumed samples: {step * 512:12d} | "
                    f"elapsed time per iteration (ms): {800 + rng.random() * 8:.1f} | learning rate: 1.000E-04 | "
                    f"global batch size:   512 | lm loss: {loss:.6E} | loss scale: 65536.0 | grad norm: "
                    f"{0.8 + rng.random() * 0.4:.3f} | number of skipped iterations:   0 | "
                    f"number of nan iterations:   0 |\n"
                )
            elif roll < 0.92:
                out.write(f"gpu-node{rank // 8:03d}:{20000 + rank}:{20100 + rank} [{rank % 8}] NCCL INFO Channel "
                          f"{i % 32:02d}/0 : {rank}[{rank % 8}] -> {(rank + 1) % 512}[{(rank + 1) % 8}] via P2P/IPC\n")
            else:
                out.write("[W ProcessGroupNCCL.cpp:1856] Warning: TORCH_NCCL_AVOID_RECORD_STREAMS is the default now\n")
        if rank == 137:
            out.write(f"[rank{rank}]: RuntimeError: CUDA error: an illegal memory access was encountered\n")


def timed(argv: list[str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, check=False)
    return time.perf_counter() - started, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=512)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--report", action="store_true", help="also time monitor report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ranks"
        folder.mkdir()
        for rank in range(args.files):
            rank_log(folder / f"rank_{rank}.log", rank, args.lines, seed=rank)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{args.files} files x {args.lines:,} lines, {size / 2**20:.0f} MiB")
        scan = [sys.executable, "-m", "monitor", "scan", "--format", "json"]
        serial, out1 = timed([*scan, "--jobs", "1", str(folder)])
        parallel, outn = timed([*scan, "--jobs", str(args.jobs), str(folder)])
        same = json.loads(out1) == json.loads(outn)
        print(f"scan --jobs 1: {serial:.1f} s; --jobs {args.jobs}: {parallel:.1f} s; "
              f"speed-up {serial / parallel:.2f}x; identical output: {same}")
        if args.report:
            report = [sys.executable, "-m", "monitor", "report", "-o", str(Path(tmp) / "r.json")]
            serial, _ = timed([*report, "--jobs", "1", str(folder)])
            parallel, _ = timed([*report, "--jobs", str(args.jobs), str(folder)])
            print(f"report --jobs 1: {serial:.1f} s; --jobs {args.jobs}: {parallel:.1f} s; "
                  f"speed-up {serial / parallel:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
