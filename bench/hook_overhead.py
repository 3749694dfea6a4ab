"""Cost of `monitor.hook.step()` to the training loop, in microseconds per call.

    python bench/hook_overhead.py [--calls 200000]

Best of five runs of `calls` back-to-back calls with a loss and three metrics, while the
background writer drains the queue to a file in a temporary directory; also the cost of
`heartbeat()`. The loop pays only for formatting one line and queueing it.
"""

from __future__ import annotations

import argparse
import tempfile
import timeit
from pathlib import Path

from monitor.hook import Hook


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hook = Hook(str(Path(tmp) / "hook-rank{rank}.jsonl"), rank=0, max_queued=10 * args.calls)
        step = min(timeit.repeat(lambda: hook.step(1200, loss=2.345, lr=3e-4, grad_norm=0.91, tokens_per_s=1.2e5),
                                 number=args.calls, repeat=5)) / args.calls
        beat = min(timeit.repeat(hook.heartbeat, number=args.calls, repeat=5)) / args.calls
        hook.close()
        lines = Path(hook.path).read_text(encoding="utf-8").count("\n")
    print(f"step(): {step * 1e6:.2f} µs per call; heartbeat(): {beat * 1e6:.2f} µs per call; "
          f"{lines:,} lines written, {hook.dropped} dropped, {hook.errors} errors")


if __name__ == "__main__":
    main()
