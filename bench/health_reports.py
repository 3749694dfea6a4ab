#!/usr/bin/env python3
"""Time device health reports through the scan, and what telling them apart costs every other file.

1. Reports: an `nvidia-smi -q -x` report of N GPUs (the faulty fixture's GPUs repeated, PCI ids
   renumbered), a `dcgmi diag -j` report and an `npu-smi info` table, each through `scan_source`.
2. Sniffing: `sniff` on M small text logs (the extra open and 4 KiB read every non-report pays),
   against a plain read of the same files.

Prints milliseconds per report and microseconds per sniffed file.

Usage: python bench/health_reports.py [--gpus 64] [--files 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.pipeline import scan_source  # noqa: E402
from monitor.sources.files import Source  # noqa: E402
from monitor.sources.health_reports import sniff  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "sources" / "fixtures" / "health"


def nvidia_smi_report(gpus: int) -> str:
    text = (FIXTURES / "nvsmi_faulty.xml").read_text()
    head, rest = text.split("\t<gpu ", 1)
    blocks = re.findall(r"\t<gpu .*?</gpu>\n", "\t<gpu " + rest, re.S)
    body = []
    for index in range(gpus):
        block = blocks[index % len(blocks)]
        body.append(re.sub(r"00000000:[0-9A-F]{2}:00\.0", f"00000000:{index % 256:02X}:{index // 256:02X}.0", block))
    return head + "".join(body) + "\n</nvidia_smi_log>\n"


def best_of(repeat: int, work) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=64)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        reports = {
            f"nvidia-smi -q -x, {args.gpus} GPUs": nvidia_smi_report(args.gpus),
            "dcgmi diag -j": (FIXTURES / "dcgm_diag_fail.json").read_text(),
            "npu-smi info": (FIXTURES / "npu_smi_info.txt").read_text(),
        }
        for index, (name, text) in enumerate(reports.items()):
            path = root / f"report{index}"
            path.write_text(text)
            source = Source(str(path), str(path))
            events = len(scan_source(source).events)
            seconds = best_of(args.repeat, lambda source=source: scan_source(source))
            print(f"{name:32s} {len(text) / 1024:8.1f} KiB {seconds * 1e3:8.2f} ms  {events} events")
        logs = root / "logs"
        logs.mkdir()
        for index in range(args.files):
            (logs / f"rank_{index}.log").write_text(f"step {index} loss 2.0\n" * 50)
        sources = [Source(str(p), str(p)) for p in sorted(logs.iterdir())]

        def sniff_all() -> None:
            for source in sources:
                sniff(source)

        def read_all() -> None:
            for source in sources:
                with open(source.path or "", "rb") as handle:
                    handle.read(4096)

        sniffing = best_of(args.repeat, sniff_all) / len(sources)
        reading = best_of(args.repeat, read_all) / len(sources)
        print(f"sniff per text log: {sniffing * 1e6:.1f} us (open + 4 KiB read alone: {reading * 1e6:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
