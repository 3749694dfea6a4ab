"""The metrics server under load and abuse: many scrapers at once, clients that never finish their
request, and /healthz telling a stuck follow loop from a live one. Loopback only."""

from __future__ import annotations

import concurrent.futures
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from monitor.model import StepRecord
from monitor.sinks.metrics_server import serve, shutdown
from monitor.sinks.prometheus import LiveMetrics


@pytest.fixture
def served() -> Iterator[tuple[LiveMetrics, int]]:
    metrics = LiveMetrics()
    metrics.observe("llama", StepRecord(step=5, loss=2.0, rank=0))
    server, thread = serve(metrics, port=0, workers=4, timeout_s=0.5)
    try:
        yield metrics, server.server_port
    finally:
        shutdown(server, thread)


def scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8")


def dropped(metrics: LiveMetrics) -> int:
    return metrics.snapshot().http_dropped


def test_two_hundred_concurrent_scrapes_are_all_answered(served: tuple[LiveMetrics, int]) -> None:
    """More scrapers than workers (4) and than socketserver's default backlog (5): none is refused."""
    metrics, port = served
    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        answers = list(pool.map(lambda _: scrape(port), range(200)))
    assert [status for status, _ in answers] == [200] * 200
    assert all('monitor_step{node="",rank="0",run="llama",source=""} 5.0' in body for _, body in answers)
    assert dropped(metrics) == 0


def test_a_half_sent_request_is_dropped_after_the_timeout(served: tuple[LiveMetrics, int]) -> None:
    metrics, port = served
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: monitor\r\n")  # never the blank line that ends it
        assert client.recv(1024) == b""  # the server closed it (the client's own 30 s limit would raise)
    deadline = time.monotonic() + 30
    while dropped(metrics) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dropped(metrics) == 1
    assert scrape(port)[0] == 200  # and the worker it held is free again


def test_a_request_sent_one_byte_at_a_time_is_dropped_at_the_deadline(served: tuple[LiveMetrics, int]) -> None:
    """The deadline covers the whole request head, not each byte: trickling cannot hold a worker."""
    metrics, port = served
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        closed = False
        for byte in b"GET /metrics HTTP/1.1\r\nHost: monitor\r\nX-Padding: " + b"x" * 10_000:
            try:
                client.sendall(bytes([byte]))
            except OSError:  # reset by the server
                closed = True
                break
            time.sleep(0.05)
        assert closed or client.recv(1024) == b""


def test_clients_holding_every_worker_do_not_stop_scrapes_for_long(served: tuple[LiveMetrics, int]) -> None:
    """Four half-sent requests hold the four workers; a scrape behind them is answered once they are dropped."""
    metrics, port = served
    holders = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(4)]
    try:
        for holder in holders:
            holder.sendall(b"GET /metrics HTTP/1.1\r\n")
        assert scrape(port)[0] == 200
    finally:
        for holder in holders:
            holder.close()


def test_healthz_follows_the_follow_loop() -> None:
    now = [1000.0]
    metrics = LiveMetrics(clock=lambda: now[0])
    server, thread = serve(metrics, port=0, stale_after_s=60.0)
    try:
        port = server.server_port
        assert scrape(port, "/healthz") == (200, "ok\n")  # no loop yet (or replay): nothing to judge
        metrics.iteration()
        now[0] += 59
        assert scrape(port, "/healthz")[0] == 200
        now[0] += 2
        status, body = scrape(port, "/healthz")
        assert status == 503 and "no iteration for 61 s" in body
        metrics.iteration()
        assert scrape(port, "/healthz")[0] == 200
        status, body = scrape(port, "/metrics")
        assert "monitor_follow_loop_last_iteration_timestamp_seconds 1061.0" in body
    finally:
        shutdown(server, thread)


def test_a_port_in_use_is_an_os_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            serve(LiveMetrics(), port=taken.getsockname()[1])
