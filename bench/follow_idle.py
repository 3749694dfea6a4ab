#!/usr/bin/env python3
"""What following idle files costs: CPU seconds per minute of `monitor tail` with nothing new.

Creates FILES logs of a few thousand lines each in a temporary directory,
follows the directory (so each rescan walks it), and polls every INTERVAL
seconds with a rescan every second, as `monitor tail` does. By default the
minute is simulated: the follower's clock is advanced by INTERVAL per poll
and the polls run back to back, so the measurement takes about a second and
counts only the follower's own work. `--real` sleeps between polls instead and
measures the process's CPU time over that wall time.

Usage: python bench/follow_idle.py [--files 64] [--interval 0.25] [--minutes 1] [--real]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.sources.follow import Follower  # noqa: E402


def make_logs(directory: Path, files: int) -> None:
    for rank in range(files):
        lines = (f"[rank{rank}] iteration {i:6d} | lm loss: 2.{i % 97:02d} | grad norm: 1.0\n" for i in range(2000))
        (directory / f"rank{rank}.log").write_text("".join(lines))


def simulated(follower: Follower, clock: list[float], polls: int, interval: float) -> float:
    start = time.process_time()
    for _ in range(polls):
        clock[0] += interval
        assert follower.poll() == []
    return time.process_time() - start


def real(follower: Follower, polls: int, interval: float) -> float:
    start = time.process_time()
    for _ in range(polls):
        assert follower.poll() == []
        time.sleep(interval)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between polls")
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--real", action="store_true", help="sleep between polls instead of simulating time")
    args = parser.parse_args()
    polls = round(args.minutes * 60 / args.interval)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        make_logs(directory, args.files)
        clock = [0.0]
        follower = Follower([str(directory)], clock=(lambda: clock[0]) if not args.real else time.monotonic)
        assert len(follower.followed) == args.files
        follower.poll()
        cpu = real(follower, polls, args.interval) if args.real else simulated(follower, clock, polls, args.interval)
        follower.close()
    per_minute = cpu / args.minutes
    mode = "real time" if args.real else "simulated time"
    print(f"{args.files} idle files, a poll every {args.interval} s, a rescan every 1 s ({mode}, {polls} polls)")
    print(f"cpu_seconds_per_minute={per_minute:.4f}  ({per_minute / 60 * 100:.3f}% of one core)")


if __name__ == "__main__":
    main()
