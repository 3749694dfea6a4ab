#!/usr/bin/env python3
"""Measure `monitor tail` live: line-to-metric latency, hang-alert delay, idle CPU, ingest rate.

1. Latency: a Megatron-LM iteration line with a unique loss is appended every
   `--interval` seconds; a scraper polls /metrics every 5 ms and notes when
   each loss shows up. Reported: p50 / p99 / max over `--lines` lines.
2. Hang-alert delay: with `--hang-after 2`, the time from the deadline (the
   last progress line + 2 s) to the NO-PROGRESS line on stdout.
3. Idle CPU: 64 followed files, nothing written, for `--idle` seconds; CPU
   time of the monitor process from /proc, as a share of one core.
4. Ingest: a file of `--ingest-lines` lines read with --from-start; lines per
   second until the step gauge reaches the last step.

Usage: python bench/tail_latency.py [--lines 1000] [--idle 30] [--ingest-lines 1000000]
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iteration(step: int, loss: float) -> str:
    return (f" iteration {step:8d}/ 9000000 | consumed samples: {step * 256:12d} | elapsed time per iteration (ms): "
            f"812.4 | learning rate: 3.000E-04 | global batch size:   256 | lm loss: {loss:.9E} | loss scale: "
            f"65536.0 | grad norm: 1.204 | number of skipped iterations:   0 | number of nan iterations:   0 |\n")


def tail(paths: list[str], *extra: str, stdout: int | None = subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "monitor", "tail", "--format", "jsonl", *extra, *paths],
                            stdout=stdout, stderr=subprocess.DEVNULL, text=True)


def scrape(port: int, pattern: re.Pattern[str]) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return pattern.findall(response.read().decode())
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(workdir: Path, lines: int, interval: float) -> list[float]:
    """Per line: the first scrape whose step gauge reached the line's step, minus the line's write time."""
    log = workdir / "latency.log"
    log.write_text("")
    port = free_port()
    process = tail([str(log)], "--metrics-port", str(port), "--run", "bench")
    pattern = re.compile(r'monitor_step\{[^}]*\} ([0-9.e+]+)')
    written: list[float] = []
    samples: list[tuple[float, float]] = []  # (time, step shown)
    done = threading.Event()

    def scraper() -> None:
        while not done.is_set():
            values = scrape(port, pattern)
            if values:
                samples.append((time.monotonic(), float(values[0])))
            time.sleep(0.005)

    try:
        while not scrape(port, re.compile("monitor_build_info")):
            time.sleep(0.05)
        thread = threading.Thread(target=scraper, daemon=True)
        thread.start()
        with log.open("a") as handle:
            for step in range(1, lines + 1):
                handle.write(iteration(step, 2.0 + step * 1e-6))
                handle.flush()
                written.append(time.monotonic())
                time.sleep(interval)
        time.sleep(2.0)
        done.set()
        thread.join()
    finally:
        process.terminate()
        process.wait()
    delays = []
    position = 0
    for step, when in enumerate(written, 1):
        while position < len(samples) and samples[position][1] < step:
            position += 1
        if position < len(samples):
            delays.append(samples[position][0] - when)
    return delays


def hang_delay(workdir: Path) -> float | None:
    log = workdir / "hang.log"
    log.write_text("")
    process = tail([str(log)], "--hang-after", "2", stdout=subprocess.PIPE)
    try:
        time.sleep(1.0)
        with log.open("a") as handle:
            for step in range(1, 6):
                time.sleep(0.1)
                handle.write(iteration(step, 2.0))
                handle.flush()
                last = time.monotonic()
        assert process.stdout is not None
        line = process.stdout.readline()
        arrived = time.monotonic()
        return arrived - (last + 2.0) if "NO-PROGRESS" in line else None
    finally:
        process.terminate()
        process.wait()


def idle_cpu(workdir: Path, seconds: float) -> float:
    folder = workdir / "idle"
    folder.mkdir()
    for rank in range(64):
        (folder / f"rank_{rank}.log").write_text(iteration(1, 2.0))
    process = tail([str(folder)])
    try:
        time.sleep(3.0)  # start-up
        before = cpu_seconds(process.pid)
        time.sleep(seconds)
        return (cpu_seconds(process.pid) - before) / seconds
    finally:
        process.terminate()
        process.wait()


def ingest(workdir: Path, lines: int) -> float:
    log = workdir / "ingest.log"
    with log.open("w") as handle:
        for step in range(1, lines + 1):
            handle.write(iteration(step, 2.0 + (step % 100) * 1e-3))
    port = free_port()
    pattern = re.compile(r'monitor_step\{[^}]*\} ([0-9.e+]+)')
    started = time.monotonic()
    process = tail([str(log)], "--from-start", "--metrics-port", str(port))
    try:
        while True:
            values = scrape(port, pattern)
            if values and float(values[0]) >= lines:
                return lines / (time.monotonic() - started)
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--ingest-lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        delays = sorted(latency(workdir, args.lines, args.interval))
        if delays:
            p99 = delays[min(len(delays) - 1, int(0.99 * len(delays)))]
            print(f"line-to-metric latency over {len(delays)}/{args.lines} lines: "
                  f"p50 {statistics.median(delays):.3f} s, p99 {p99:.3f} s, max {delays[-1]:.3f} s")
        delay = hang_delay(workdir)
        print("hang alert delay past the deadline: " + ("not seen" if delay is None else f"{delay:.3f} s"))
        print(f"idle CPU with 64 followed files: {100 * idle_cpu(workdir, args.idle):.2f}% of one core")
        print(f"sustained ingest (--from-start, {args.ingest_lines:,} lines): {ingest(workdir, args.ingest_lines):,.0f}"
              " lines/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
