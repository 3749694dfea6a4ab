#!/usr/bin/env python3
"""Time hostile lines through the whole line pipeline and through each regex alone.

The lines are those of `tests/test_catalog_patterns_safe.py`: for every catalog
matcher pattern and every module-level regex of `monitor.parsers.*`, each of
its literals (the entry's prefilter literals and the runs of plain text in the
pattern) followed and preceded by 20 000 characters of one filler (space, tab,
`a`, `0`, `:`, `=`, brackets, `,`, `.`, `-`, `_`, `|`, `/`, `a0`), and the
literal repeated 2 000 times.

1. Pipeline: every distinct line through one `SourceScan` (progress parsers,
   fault scanner, detectors), one line per `process` call, as a live follow
   would feed them.
2. Patterns: every pattern's `search` on its own lines.

Prints the 10 slowest lines and the 10 slowest patterns in milliseconds, and
the maximum of each; the target is under 50 ms for the slowest line. Exit
status 1 when the slowest line misses the target.

Usage: python bench/adversarial_lines.py [--top 10] [--target-ms 50] [--repeat 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.pipeline import SourceScan  # noqa: E402
from monitor.sources.files import Source  # noqa: E402
from tests.test_catalog_patterns_safe import PATTERNS, lines_for  # noqa: E402


def distinct_lines() -> dict[str, str]:
    """Every adversarial line of every pattern, once, by its kind."""
    lines: dict[str, str] = {}
    for checked in PATTERNS:
        for kind, line in lines_for(checked):
            lines.setdefault(kind, line)
    return lines


def time_pipeline(lines: dict[str, str], repeat: int) -> list[tuple[float, str]]:
    """Seconds each line takes in `SourceScan.process` (the best of `repeat` passes), slowest first."""
    best: dict[str, float] = {}
    clock = time.perf_counter
    for _ in range(repeat):
        scan = SourceScan(Source("adversarial.log", None))
        for number, (kind, line) in enumerate(lines.items(), 1):
            start = clock()
            scan.process([(number, line)])
            elapsed = clock() - start
            best[kind] = min(elapsed, best.get(kind, elapsed))
        start = clock()
        scan.finish()
        best["(finish)"] = min(clock() - start, best.get("(finish)", float("inf")))
    return sorted(((seconds, kind) for kind, seconds in best.items()), reverse=True)


def time_patterns(repeat: int) -> list[tuple[float, str, str]]:
    """The slowest search of each pattern on its own lines (the best of `repeat` passes), slowest first."""
    clock = time.perf_counter
    out = []
    for checked in PATTERNS:
        worst = (0.0, "")
        for kind, line in lines_for(checked):
            elapsed = float("inf")
            for _ in range(repeat):
                start = clock()
                checked.pattern.search(line)
                elapsed = min(elapsed, clock() - start)
            worst = max(worst, (elapsed, kind))
        out.append((worst[0], checked.name, worst[1]))
    return sorted(out, reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=10, help="how many of the slowest to list")
    parser.add_argument("--target-ms", type=float, default=50.0, help="the most the slowest line may take")
    parser.add_argument("--repeat", type=int, default=1, help="passes; each line's best time is kept")
    args = parser.parse_args()

    started = time.perf_counter()
    lines = distinct_lines()
    print(f"{len(PATTERNS)} patterns, {len(lines)} distinct lines "
          f"({sum(len(line) for line in lines.values()) / 1e6:.0f} M characters)")

    by_line = time_pipeline(lines, args.repeat)
    total = sum(seconds for seconds, _ in by_line)
    print(f"\npipeline (SourceScan.process, one line a call): {total:.1f} s in all; the {args.top} slowest lines:")
    for seconds, kind in by_line[: args.top]:
        print(f"  {seconds * 1000:9.2f} ms  {kind}")

    by_pattern = time_patterns(args.repeat)
    print(f"\npatterns (search on their own lines): the {args.top} slowest:")
    for seconds, name, kind in by_pattern[: args.top]:
        print(f"  {seconds * 1000:9.2f} ms  {name}  on  {kind}")

    slowest_line, slowest_pattern = by_line[0], by_pattern[0]
    print(f"\nmax line:    {slowest_line[0] * 1000:.2f} ms  ({slowest_line[1]})")
    print(f"max pattern: {slowest_pattern[0] * 1000:.2f} ms  ({slowest_pattern[1]} on {slowest_pattern[2]})")
    met = slowest_line[0] * 1000 < args.target_ms
    print(f"target: slowest line under {args.target_ms:g} ms: {'met' if met else 'MISSED'}"
          f"  ({time.perf_counter() - started:.0f} s)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
