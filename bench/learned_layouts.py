#!/usr/bin/env python3
"""Per-line cost of the learned-layout parser against the Megatron parser, on the same run.

What it checks: a long log in a layout that only the learned parser reads should cost
no more per line than the same run in Megatron's layout through the Megatron parser.

One training run is simulated from a fixed seed (steps, loss, learning rate,
step time, grad norm, tokens/s) and written twice:

- `megatron`: Megatron-LM's `training_log` line, newer upstream with the
  ` [YYYY-mm-dd HH:MM:SS]` prefix (`iteration %8d/%8d`, `consumed samples: %12d`,
  `elapsed time per iteration (ms): %.1f`, `learning rate: %.6E`,
  `global batch size: %5d`, `lm loss: %.6E`, `loss scale: %.1f`, `grad norm: %.3f`,
  `number of skipped/nan iterations: %3d`). Megatron prints no tokens/s.
- `opennmt` (default learned layout): OpenNMT-py's `Step i/N; acc: %6.2f; ppl: %5.2f;
  xent: %4.2f; lr: %7.5f; %3.0f/%3.0f tok/s; %6.0f sec` behind its logger prefix
  `[YYYY-mm-dd HH:MM:SS,mmm INFO] `. No framework parser knows it; only the learned-layout
  parser (monitor/parsers/layouts.py, LearnedParser) reads it. It prints no grad norm; the
  step time comes from the growth of the elapsed seconds.
- `fields` (optional learned layout, `--layouts opennmt fields`): a made-up
  `time gstep=i of N :: loss= :: lr= :: grad_norm= :: ms :: tokens/s` line that carries every simulated value.

Each layout is first checked on a 200-line sample (`monitor scan` must name the expected
format and count every step), then `monitor scan --jobs 1 --format json FILE` is timed on each
full log, the layouts taking turns, `--repeat` rounds, median reported. Wall time, CPU time
(user + system) and peak resident memory are those of the scan process (os.wait4), so the
start-up cost is included; the `net` column subtracts the median time of the 200-line sample,
which is mostly start-up. The full scans must also count every step. The exit status is 1
when a learned layout costs more net CPU per line than Megatron's, 0 otherwise.

Usage: python bench/learned_layouts.py [--lines N] [--repeat R] [--seed S] [--out DIR]
                                       [--layouts opennmt fields]
Quick smoke test: python bench/learned_layouts.py --lines 20000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

SAMPLE_LINES = 200
TRAIN_ITERS = 500_000
GLOBAL_BATCH = 512
SEQ_LEN = 2048
START = datetime(2024, 5, 2, 10, 11, 12)


class Step(NamedTuple):
    """One logged step of the simulated run."""

    step: int
    clock: datetime
    elapsed_s: float  # since the start of training
    loss: float
    lr: float
    step_ms: float
    grad_norm: float
    tokens_per_s: float
    accuracy: float


def simulate(count: int, seed: int) -> Iterator[Step]:
    """The run both logs print: a warm-up then cosine learning rate, a decaying noisy loss."""
    rng = random.Random(seed)
    elapsed = 0.0
    warmup = 2000
    for step in range(1, count + 1):
        step_ms = max(200.0, rng.gauss(1530.0, 25.0))
        elapsed += step_ms / 1000
        if step < warmup:
            lr = 3e-4 * step / warmup
        else:
            lr = 3e-5 + 0.5 * (3e-4 - 3e-5) * (1 + math.cos(math.pi * min(1.0, step / TRAIN_ITERS)))
        loss = 2.0 + 9.0 / (1 + step / 400) + rng.gauss(0, 0.02)
        yield Step(
            step=step,
            clock=START + timedelta(seconds=elapsed),
            elapsed_s=elapsed,
            loss=loss,
            lr=lr,
            step_ms=step_ms,
            grad_norm=abs(rng.gauss(0.7, 0.08)),
            tokens_per_s=GLOBAL_BATCH * SEQ_LEN / (step_ms / 1000),
            accuracy=min(99.0, 100 * math.exp(-loss / 3)),
        )


def megatron_line(s: Step) -> str:
    return (
        f" [{s.clock:%Y-%m-%d %H:%M:%S}] iteration {s.step:8d}/{TRAIN_ITERS:8d} |"
        f" consumed samples: {s.step * GLOBAL_BATCH:12d} |"
        f" elapsed time per iteration (ms): {s.step_ms:.1f} |"
        f" learning rate: {s.lr:.6E} |"
        f" global batch size: {GLOBAL_BATCH:5d} |"
        f" lm loss: {s.loss:.6E} |"
        f" loss scale: {1.0:.1f} |"
        f" grad norm: {s.grad_norm:.3f} |"
        f" number of skipped iterations: {0:3d} |"
        f" number of nan iterations: {0:3d} |\n"
    )


def opennmt_line(s: Step) -> str:
    # OpenNMT-py prints tokens/s of source and target; the source side is a bit shorter here.
    return (
        f"[{s.clock:%Y-%m-%d %H:%M:%S},{s.clock.microsecond // 1000:03d} INFO] "
        f"Step {s.step}/{TRAIN_ITERS:5d}; acc: {s.accuracy:6.2f}; ppl: {math.exp(s.loss):5.2f}; "
        f"xent: {s.loss:4.2f}; lr: {s.lr:7.5f}; {s.tokens_per_s * 0.92:3.0f}/{s.tokens_per_s:3.0f} tok/s; "
        f"{s.elapsed_s:6.0f} sec\n"
    )


def fields_line(s: Step) -> str:
    return (
        f"{s.clock:%Y-%m-%dT%H:%M:%S} gstep={s.step} of {TRAIN_ITERS} :: loss={s.loss:.4f} :: lr={s.lr:.3e} :: "
        f"grad_norm={s.grad_norm:.3f} :: {s.step_ms:.1f} ms :: {s.tokens_per_s:.0f} tokens/s\n"
    )


# layout name -> (line writer, the format `monitor scan` must report)
LAYOUTS: dict[str, tuple[Callable[[Step], str], str]] = {
    "megatron": (megatron_line, "megatron"),
    "opennmt": (opennmt_line, "learned"),
    "fields": (fields_line, "learned"),
}


def write_log(path: Path, layout: str, lines: int, seed: int) -> int:
    """Write `lines` records of the simulated run in `layout`; return the file size."""
    line_of = LAYOUTS[layout][0]
    with open(path, "w", encoding="utf-8") as out:
        batch: list[str] = []
        for record in simulate(lines, seed):
            batch.append(line_of(record))
            if len(batch) >= 10_000:
                out.writelines(batch)
                batch.clear()
        out.writelines(batch)
    return path.stat().st_size


class Run(NamedTuple):
    wall_s: float
    cpu_s: float
    peak_kib: int


def scan(log: Path, result: Path) -> tuple[Run, dict]:
    """Time one `monitor scan --jobs 1 --format json LOG`; return the timing and its file summary."""
    argv = [sys.executable, "-m", "monitor", "scan", "--jobs", "1", "--format", "json", str(log)]
    with open(result, "wb") as out, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=errors)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace")
            raise SystemExit(f"monitor scan {log} exited {process.returncode}:\n{message}")
    document = json.loads(result.read_text())
    [summary] = document["files"]
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss), summary


def check(summary: dict, layout: str, lines: int) -> None:
    expected = LAYOUTS[layout][1]
    if summary.get("format") != expected or summary.get("steps") != lines or summary.get("error"):
        raise SystemExit(
            f"FAIL: {layout} log of {lines:,} lines: monitor scan reported format {summary.get('format')!r}, "
            f"{summary.get('steps')} steps, error {summary.get('error')!r}; expected {expected!r}, {lines:,} steps"
        )


def warm(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall_s for r in runs),
        statistics.median(r.cpu_s for r in runs),
        max(r.peak_kib for r in runs),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines (= logged steps) per log")
    parser.add_argument("--repeat", type=int, default=3, help="timed scans of each log; the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the logs here and keep them (default: a temporary directory)")
    parser.add_argument("--layouts", nargs="+", choices=[n for n in LAYOUTS if n != "megatron"], default=["opennmt"],
                        help="learned layouts to compare with Megatron's (default: opennmt)")
    args = parser.parse_args()
    if args.lines <= SAMPLE_LINES or args.repeat < 1:
        parser.error(f"--lines must be over {SAMPLE_LINES} and --repeat at least 1")
    layouts = ["megatron", *dict.fromkeys(args.layouts)]

    with tempfile.TemporaryDirectory(prefix="learned-layouts-") as scratch:
        out_dir = args.out or Path(scratch)
        out_dir.mkdir(parents=True, exist_ok=True)
        result = Path(scratch) / "scan.json"

        samples: dict[str, list[Run]] = {name: [] for name in layouts}
        for name in layouts:
            sample = out_dir / f"{name}-sample.log"
            write_log(sample, name, SAMPLE_LINES, args.seed)
            run, summary = scan(sample, result)
            check(summary, name, SAMPLE_LINES)
            print(f"sample {name}: format {summary['format']!r}, {summary['steps']} steps: ok")

        logs: dict[str, Path] = {}
        sizes: dict[str, int] = {}
        for name in layouts:
            logs[name] = out_dir / f"{name}.log"
            started = time.perf_counter()
            sizes[name] = write_log(logs[name], name, args.lines, args.seed)
            print(f"wrote {logs[name]}: {args.lines:,} lines, {sizes[name] / 2**20:.1f} MiB "
                  f"({time.perf_counter() - started:.1f} s)")
            warm(logs[name])

        runs: dict[str, list[Run]] = {name: [] for name in layouts}
        for round_ in range(args.repeat):
            order = layouts if round_ % 2 == 0 else layouts[::-1]  # take turns, so neither always goes first
            for name in order:
                run, summary = scan(out_dir / f"{name}-sample.log", result)
                samples[name].append(run)
                run, summary = scan(logs[name], result)
                check(summary, name, args.lines)
                runs[name].append(run)
                print(f"round {round_ + 1}/{args.repeat} {name}: wall {run.wall_s:.2f} s, cpu {run.cpu_s:.2f} s")

    medians = {name: median_run(runs[name]) for name in layouts}
    base = {name: median_run(samples[name]) for name in layouts}
    extra = args.lines - SAMPLE_LINES

    def net_cpu_us(name: str) -> float:
        return (medians[name].cpu_s - base[name].cpu_s) / extra * 1e6

    print(f"\n{args.lines:,} lines per log, `monitor scan --jobs 1 --format json`, median of {args.repeat}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    header = (f"{'layout':<9} {'parser':<9} {'B/line':>6} {'wall s':>7} {'cpu s':>7} {'µs/line':>8} "
              f"{'cpu µs/line':>11} {'net cpu µs':>10} {'peak MiB':>8} {'cpu/megatron':>12}")
    print(header)
    print("-" * len(header))
    for name in layouts:
        m = medians[name]
        ratio = m.cpu_s / medians["megatron"].cpu_s
        print(f"{name:<9} {LAYOUTS[name][1]:<9} {sizes[name] / args.lines:6.0f} {m.wall_s:7.2f} {m.cpu_s:7.2f} "
              f"{m.wall_s / args.lines * 1e6:8.2f} {m.cpu_s / args.lines * 1e6:11.2f} {net_cpu_us(name):10.2f} "
              f"{m.peak_kib / 1024:8.1f} {ratio:11.2f}x")
    print(f"(start-up, median scan of a {SAMPLE_LINES}-line sample: "
          + ", ".join(f"{name} {base[name].cpu_s:.2f} s cpu" for name in layouts)
          + "; `net` leaves it out)")
    verdicts = []
    for name in layouts[1:]:
        ratio = net_cpu_us(name) / net_cpu_us("megatron")
        verdicts.append(ratio <= 1.0)
        print(f"learned/megatron, net cpu per line, {name}: {ratio:.2f} -> "
              f"{'ok: no more per line' if ratio <= 1.0 else 'MORE per line than megatron'}")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
