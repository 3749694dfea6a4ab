#!/usr/bin/env python3
"""Scan speed and memory against a tuned mtail program, side by side on the same logs.

Logs: the throughput benchmark's generator (a Megatron-style mix: iteration lines, NCCL INFO
chatter, warnings, timer blocks, one NaN, one Xid, one watchdog timeout), as written, and a
variant with a timestamp in front of every line, as `kubectl logs --timestamps` prints it
(RFC 3339 with nanoseconds, `2024-03-05T10:00:01.000000000Z `).

Commands, alternated and repeated (the median is reported): `mtail --one_shot` with the peer
program, `monitor scan --jobs 1`, `monitor scan` (default jobs), `monitor report -o X.html`.
For each: wall time, CPU time (user + system, the workers included) and peak resident memory
(the largest single process, from wait4). Then the ratios the speed goals are stated in, a
check that the serial and parallel scans report identical events, a check that the bulk path
(the main layout read a block at a time, detectors screening whole batches) and the
line-by-line path give identical events, detector state and summary (with the CPU time of each,
in this process), and, with `--memory-lines`, the serial scan's peak memory on a bigger log
(memory must not grow with log size).

Usage: python bench/speed_vs_mtail.py [--lines 1000000] [--repeat 3] [--memory-lines 5000000]
       [--generator ../shared/bench/gen_log.py] [--program ../shared/bench/training.mtail]
Requires mtail (Debian package `mtail`) and Linux.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"


def run(argv: list[str], stdout: Path) -> tuple[float, float, int, int]:
    """(wall s, CPU s of the process and every descendant it waited for, peak RSS MiB, exit code)."""
    with open(stdout, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def stamped(source: Path, target: Path) -> None:
    """Every line of `source` behind an RFC 3339 timestamp, a millisecond apart."""
    base = 1_709_632_801  # 2024-03-05T10:00:01Z
    with open(source, encoding="utf-8") as lines, open(target, "w", encoding="utf-8") as out:
        for n, line in enumerate(lines):
            seconds, millis = divmod(n, 1000)
            clock = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + seconds))
            out.write(f"{clock}.{millis:03d}000000Z {line}")


def codes(path: Path) -> list[tuple[str, int | None]]:
    document = json.loads(path.read_text() or "{}")
    return sorted((event["code"], event.get("line")) for event in document.get("events", []))


def events(path: Path) -> list[dict]:
    document = json.loads(path.read_text() or "{}")
    return document.get("events", [])


def mtail_command(log: Path, program: Path) -> list[str]:
    """The peer: mtail reading `log` once with `program`."""
    return ["mtail", "--one_shot", "--one_shot_format=prometheus", "--progs", str(program), "--logs", str(log),
            "--logtostderr"]


def arguments(description: str, lines: int, memory: bool = False) -> argparse.Namespace | None:
    """The benchmarks' command line (the log's size, repeats, the generator and the peer program), or
    None, with the reason on stderr, when mtail or the shared benchmark files are missing."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=lines)
    parser.add_argument("--repeat", type=int, default=3)
    if memory:
        parser.add_argument("--memory-lines", type=int, default=0, help="also measure the serial scan's memory here")
    parser.add_argument("--generator", type=Path, default=SHARED / "gen_log.py")
    parser.add_argument("--program", type=Path, default=SHARED / "training.mtail")
    args = parser.parse_args()
    if not shutil.which("mtail"):
        print("needs mtail: apt-get install mtail", file=sys.stderr)
        return None
    if not args.generator.is_file() or not args.program.is_file():
        print(f"needs the benchmark generator and mtail program: {args.generator}, {args.program}", file=sys.stderr)
        return None
    return args


def bench(log: Path, program: Path, repeat: int, work: Path) -> dict[str, tuple[float, float, int]]:
    commands = {
        "mtail": mtail_command(log, program),
        "scan --jobs 1": [sys.executable, "-m", "monitor", "scan", "--format", "json", "--jobs", "1", str(log)],
        "scan": [sys.executable, "-m", "monitor", "scan", "--format", "json", str(log)],
        "report": [sys.executable, "-m", "monitor", "report", str(log), "-o", str(work / "report.html")],
    }
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():  # alternated: a slow phase of the machine hits every command
            wall, cpu, rss, _code = run(argv, work / f"{name.replace(' ', '_')}.out")
            samples[name].append((wall, cpu, rss))
    same = events(work / "scan_--jobs_1.out") == events(work / "scan.out")
    found = codes(work / "scan_--jobs_1.out")
    print(f"  events (serial): {[code for code, _ in found]}; parallel scan identical: {same}")
    return {
        name: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs), max(s[2] for s in runs))
        for name, runs in samples.items()
    }


def paths_agree(log: Path) -> None:
    """Scan `log` in this process through the bulk path and line by line; print whether events,
    summary and final state agree, and each path's CPU time."""
    sys.path.insert(0, str(HERE.parent))
    from monitor.catalog import load
    from monitor.pipeline import SourceScan, in_line_order
    from monitor.sources.files import Source
    from monitor.sources.lines import ReadStats, read_batches

    outcome = {}
    for bulk in (True, False):
        scan = SourceScan(Source(log.name, str(log)), load())
        scan.skim = bulk
        found = []
        started = time.process_time()
        with open(log, "rb") as stream:
            for batch in read_batches(stream, log.name, ReadStats()):
                found += scan.process(batch if bulk else batch.numbered())
        state = repr(scan.snapshot())
        found += scan.finish()
        cpu = time.process_time() - started
        outcome[bulk] = (repr(in_line_order(found)), scan.summary.to_dict(), state, cpu, scan.skimmed, scan.observed)
    bulk, by_line = outcome[True], outcome[False]
    print(f"  bulk and line-by-line paths: events identical {bulk[0] == by_line[0]}, summary {bulk[1] == by_line[1]}, "
          f"state {bulk[2] == by_line[2]}; cpu {bulk[3]:.2f} s against {by_line[3]:.2f} s; detector batches "
          f"skimmed {bulk[4]}, read record by record {bulk[5]}")


def table(name: str, results: dict[str, tuple[float, float, int]]) -> None:
    mtail_wall, mtail_cpu, _ = results["mtail"]
    print(f"\n{name}\n{'command':<16} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'wall/mtail':>11} {'cpu/mtail':>10}")
    for command, (wall, cpu, rss) in results.items():
        print(f"{command:<16} {wall:8.2f} {cpu:8.2f} {rss:9d} {wall / mtail_wall:11.2f} {cpu / mtail_cpu:10.2f}")


def main() -> int:
    args = arguments(__doc__ or "", 1_000_000, memory=True)
    if args is None:
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plain, every = work / "bench.log", work / "bench-stamped.log"
        subprocess.run([sys.executable, str(args.generator), str(plain), "--lines", str(args.lines)], check=True)
        stamped(plain, every)
        for name, log in (("as generated", plain), ("a timestamp on every line", every)):
            print(f"{name}: {args.lines:,} lines, {log.stat().st_size / 2**20:.0f} MiB")
            table(name, bench(log, args.program, args.repeat, work))
            paths_agree(log)
        if args.memory_lines:
            big = work / "big.log"
            subprocess.run([sys.executable, str(args.generator), str(big), "--lines", str(args.memory_lines)],
                           check=True)
            plain.unlink()
            every.unlink()
            argv = [sys.executable, "-m", "monitor", "scan", "--format", "json", "--jobs", "1"]
            small = run([*argv, str(big)], work / "big.out")  # warm the page cache for the timed run
            wall, cpu, rss, _ = run([*argv, str(big)], work / "big.out")
            print(f"\nserial scan of {args.memory_lines:,} lines: wall {wall:.1f} s, cpu {cpu:.1f} s, "
                  f"peak {rss} MiB (first run {small[2]} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
