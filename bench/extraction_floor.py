#!/usr/bin/env python3
"""What the progress lines alone cost to extract in this process, against mtail's whole scan.

The speed goal for `monitor scan --jobs 1` is stated as a fraction of mtail's CPU time on the
throughput benchmark's log. This measures the floor any Python reader of that log pays before
parsing a timestamp, building a record or running a detector: reading and splitting the lines,
one search of Megatron-LM's compiled layout (the one the monitor's bulk path uses) over the
text with its values taken out of the matches, and the values the monitor's records keep converted
to float64 columns.
With polars installed, its per-field `str.extract` (Rust's regex engine) is measured too. Each
figure is the median of `--repeat` runs, beside mtail's median CPU time on the same log and the
full `monitor scan --jobs 1`.

Usage: python bench/extraction_floor.py [--lines 300000] [--repeat 3]
       [--generator ../shared/bench/gen_log.py] [--program ../shared/bench/training.mtail]
Requires mtail (Debian package `mtail`) and Linux.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench/ is not a package: the peer's command and the runner are speed_vs_mtail's
from speed_vs_mtail import arguments, mtail_command, run  # noqa: E402


def cpu_of(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def template(lines: list[str]):  # type: ignore[no-untyped-def]
    """Megatron-LM's layout as the monitor compiles it for a block of lines, learned from the log, and
    the groups of it that the monitor's records keep as numbers."""
    sys.path.insert(0, str(HERE.parent))
    from monitor.parsers.base import ParseContext
    from monitor.parsers.megatron import MegatronParser

    parser, ctx = MegatronParser(), ParseContext("bench.log")
    for number, line in enumerate(lines[:200], 1):
        if "iteration" in line:
            parser.parse(line, number, ctx)
    pattern = parser.bulk_template()
    if pattern is None:
        raise SystemExit("the log's iteration lines gave no compiled layout")
    kept = sorted({group for group, _how, _constant in parser.bulk_rows("bench.log").fields.values()})
    return pattern, kept


def main() -> int:
    args = arguments(__doc__ or "", 300_000)
    if args is None:
        return 2
    import numpy as np

    with tempfile.TemporaryDirectory() as work:
        log = Path(work) / "bench.log"
        subprocess.run([sys.executable, str(args.generator), "--lines", str(args.lines), str(log)], check=True)
        text_bytes = log.read_bytes()
        lines = text_bytes.decode().splitlines()
        pattern, numeric = template(lines)
        text = "\n".join(lines)

        def extract() -> list[tuple[str, ...]]:
            return [m.groups() for m in pattern.finditer(text)]

        rows = extract()

        def convert() -> list[np.ndarray]:
            return [np.array([row[i] for row in rows], dtype=np.float64) for i in numeric]

        measures: dict[str, list[float]] = {
            "mtail --one_shot (whole scan)": [], "monitor scan --jobs 1 (whole scan)": [],
            "read and split the lines": [], "Megatron template: finditer + groups": [],
            "values to float64 columns": [],
        }
        try:
            import polars as pl
        except ImportError:
            pl = None
        if pl is not None:
            measures["polars: str.extract per field"] = []
            fields = [r"iteration +(\d+)/", r"per iteration \(ms\): (\S+)", r"TFLOP/s/GPU\): (\S+)",
                      r"learning rate: (\S+)", r"lm loss: (\S+)", r"loss scale: (\S+)", r"grad norm: (\S+)",
                      r"skipped iterations: +(\S+)", r"nan iterations: +(\S+)"]
            series = pl.Series("line", lines)
        mtail = mtail_command(log, args.program)
        scan = [sys.executable, "-m", "monitor", "scan", "--format", "json", "--jobs", "1", str(log)]
        output = Path(work) / "out"
        for _ in range(args.repeat):  # alternated
            measures["mtail --one_shot (whole scan)"].append(run(mtail, output)[1])
            measures["monitor scan --jobs 1 (whole scan)"].append(run(scan, output)[1])
            measures["read and split the lines"].append(cpu_of(lambda: log.read_bytes().decode().splitlines()))
            measures["Megatron template: finditer + groups"].append(cpu_of(extract))
            measures["values to float64 columns"].append(cpu_of(convert))
            if pl is not None:
                measures["polars: str.extract per field"].append(
                    cpu_of(lambda: [series.str.extract(f, 1).cast(pl.Float64, strict=False) for f in fields]))
        medians = {name: statistics.median(values) for name, values in measures.items()}
        base = medians["mtail --one_shot (whole scan)"]
        print(f"{args.lines:,} lines, {len(rows):,} iteration lines, {len(text_bytes) / 2**20:.0f} MiB; "
              f"median CPU of {args.repeat}")
        print(f"{'':<40} {'cpu s':>7} {'/ mtail':>8}")
        for name, value in medians.items():
            print(f"{name:<40} {value:7.2f} {value / base:8.2f}")
        floor = (medians["read and split the lines"] + medians["Megatron template: finditer + groups"]
                 + medians["values to float64 columns"])
        print(f"{'floor: read + template + columns':<40} {floor:7.2f} {floor / base:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
