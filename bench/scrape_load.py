"""Scrape the metrics server hard: N concurrent scrapers, some clients that never finish their request.

Fills a `LiveMetrics` with a big job's state (`--ranks` ranks, `--events` event label sets), serves it
on loopback, then runs `--rounds` rounds of `--scrapers` concurrent GETs of /metrics while `--stuck`
clients hold connections with half-sent requests. Reports the scrape latency (p50, p99, max), the
scrapes that failed, the size of one exposition and the connections the server dropped.

    python bench/scrape_load.py --scrapers 200 --stuck 8
"""

from __future__ import annotations

import argparse
import concurrent.futures
import random
import socket
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.model import Event, Kind, Severity, StepRecord  # noqa: E402
from monitor.sinks.metrics_server import serve, shutdown  # noqa: E402
from monitor.sinks.prometheus import LiveMetrics  # noqa: E402


def fill(metrics: LiveMetrics, ranks: int, events: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for rank in range(ranks):
        metrics.observe("bench", StepRecord(step=1000, loss=rng.uniform(1, 3), grad_norm=rng.uniform(0.5, 2),
                                            lr=3e-4, step_time_s=rng.uniform(1, 2), rank=rank,
                                            node=f"gpu{rank // 8:04d}"))
        metrics.progress("bench", rank, f"gpu{rank // 8:04d}", time.time())
    for i in range(events):
        metrics.event("bench", Event(Kind.DEVICE_FAULT, Severity.ERROR, "x", code=f"XID-{i % 100}",
                                     node=f"gpu{i // 100:04d}", device=f"0000:{i % 256:02x}:00"))


def scrape(port: int) -> tuple[float, int]:
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as response:
            size = len(response.read())
    except OSError:
        return time.perf_counter() - start, -1
    return time.perf_counter() - start, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stuck", type=int, default=8, help="clients that send half a request and wait")
    parser.add_argument("--ranks", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=10.0, help="the server's request deadline")
    args = parser.parse_args()
    metrics = LiveMetrics(max_series=args.ranks + 10, max_files=10)
    fill(metrics, args.ranks, args.events)
    server, thread = serve(metrics, port=0, timeout_s=args.timeout)
    port = server.server_port
    stuck = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.stuck)]
    for client in stuck:
        client.sendall(b"GET /metrics HTTP/1.1\r\n")
    times: list[float] = []
    failed = 0
    size = 0
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.scrapers) as pool:
        for _ in range(args.rounds):
            for elapsed, got in pool.map(lambda _: scrape(port), range(args.scrapers)):
                times.append(elapsed)
                failed += got < 0
                size = max(size, got)
    wall = time.perf_counter() - started
    for client in stuck:
        client.close()
    shutdown(server, thread)
    times.sort()
    print(f"{len(times)} scrapes ({args.scrapers} at a time, {args.stuck} stuck clients): "
          f"p50 {statistics.median(times) * 1000:.0f} ms, p99 {times[int(len(times) * 0.99) - 1] * 1000:.0f} ms, "
          f"max {times[-1] * 1000:.0f} ms; {failed} failed; {len(times) / wall:.0f} scrapes/s; "
          f"{size / 1024:.0f} KiB each; {metrics.snapshot().http_dropped} connections dropped")


if __name__ == "__main__":
    main()
