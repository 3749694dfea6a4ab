"""The HTTP endpoint that serves `/metrics` (and `/healthz`) to many scrapers at once, and never
lets a slow or broken client hold the monitor.

What prometheus_client's `start_http_server` leaves open, and this server closes:

- **Listen backlog**: socketserver's default is 5 pending connections; a fleet of scrapers (two
  Prometheus replicas, a federation, the kubelet's probes) connecting at once overflows it. Here
  it is `BACKLOG` (the kernel caps it at `net.core.somaxconn`).
- **Request deadline**: the whole request head must arrive within `timeout_s` (a client that sends
  half a request, or one byte at a time, is dropped then), and each later send waits at most as long.
- **Bounded concurrency**: at most `workers` requests are served at a time, by a pool of threads.
  While all are busy the server accepts nothing more: further clients wait in the kernel's backlog
  (and give up by their own scrape timeout). Every connection dropped (a request not complete in
  time, a reset) is counted (`monitor_http_connections_dropped_total`); nothing is printed.

`/healthz` answers 200 while the follow loop keeps iterating (or before it started: replay mode
has none) and 503 once it has not started an iteration for `stale_after_s`: a liveness probe
restarts a monitor whose loop is stuck. Every other path serves the metrics, as prometheus_client
does (with gzip, OpenMetrics negotiation and `name[]` filtering).

It registers the monitor's collector and prometheus_client's `ProcessCollector` (the agent's own
CPU, memory, file descriptors and start time as `process_*`) on a private `CollectorRegistry`,
never the process-global one.
"""

from __future__ import annotations

import concurrent.futures
import io
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, ProcessCollector, make_wsgi_app

from monitor.sinks.prometheus import LiveMetrics, MonitorCollector

DEFAULT_PORT = 19108
"""The metrics port. Prometheus keeps a register of exporters' default ports
(https://github.com/prometheus/prometheus/wiki/Default-port-allocations); its 9100-9999 range is
fully allocated (9108 is graphite_exporter's) and allocations continue upwards from 10000. 19108
lies beyond them and below Linux's ephemeral range (32768-60999), so no outgoing connection holds it."""
BACKLOG = 1024
WORKERS = 8
TIMEOUT_S = 10.0
"""Prometheus' default scrape_timeout: a real scraper sends its whole request at once."""
MAX_HEAD_BYTES = 64 * 1024


class _Handler(WSGIRequestHandler):
    """One request: its head read under a deadline, then handed to the WSGI app; never logs."""

    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.timeout_s  # each later send or receive
        super().setup()
        self.rfile = io.BytesIO(self._head())

    def _head(self) -> bytes:
        """The request up to its blank line, read within `timeout_s` in all (raises TimeoutError)."""
        deadline = time.monotonic() + self.server.timeout_s
        head = b""
        while b"\r\n\r\n" not in head and b"\n\n" not in head and len(head) < MAX_HEAD_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request head not complete in time")
            self.connection.settimeout(left)
            chunk = self.connection.recv(4096)
            if not chunk:
                break
            head += chunk
        self.connection.settimeout(self.server.timeout_s)
        return head

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def get_stderr(self) -> io.StringIO:
        """wsgiref prints a failed response's traceback here: a client that went away is not news."""
        return io.StringIO()


class _Server(WSGIServer):
    """A WSGI server with a deep backlog, a bounded pool of workers and per-request deadlines."""

    request_queue_size = BACKLOG
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], workers: int, timeout_s: float, on_drop: Callable[[], None]) -> None:
        self.timeout_s = timeout_s
        self.on_drop = on_drop
        self._slots = threading.BoundedSemaphore(workers)
        self._closing = False
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="monitor-metrics")
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        while not self._slots.acquire(timeout=0.5):  # all workers busy: the rest wait in the backlog
            if self._closing:
                self.shutdown_request(request)
                return
        try:
            self._pool.submit(self._work, request, client_address)
        except RuntimeError:  # the pool is shut down: we are closing
            self._slots.release()
            self.shutdown_request(request)

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # a timed-out, reset or malformed request: the client's problem, counted
            self.on_drop()
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def shutdown(self) -> None:
        self._closing = True
        super().shutdown()

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _family(addr: str, port: int) -> socket.AddressFamily:
    """The address family `addr` binds with (IPv6 for "::" or an IPv6 address)."""
    infos = socket.getaddrinfo(addr or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return infos[0][0]


def health_app(metrics: LiveMetrics, stale_after_s: float, metrics_app: Callable[..., Iterable[bytes]]
               ) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: /healthz from the follow loop's liveness, any other path the metrics."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return metrics_app(environ, start_response)
        stale = metrics.stale_for()
        if stale is not None and stale > stale_after_s:
            status, body = "503 Service Unavailable", f"follow loop stuck: no iteration for {stale:.0f} s\n"
        else:
            status, body = "200 OK", "ok\n"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [body.encode("utf-8")]

    return app


def serve(metrics: LiveMetrics, addr: str = "127.0.0.1", port: int = DEFAULT_PORT, *, workers: int = WORKERS,
          timeout_s: float = TIMEOUT_S, stale_after_s: float = 60.0) -> tuple[WSGIServer, threading.Thread]:
    """Serve `metrics` at http://ADDR:PORT/metrics (and /healthz) from a daemon thread.

    Port 0 binds an ephemeral port: the bound one is `server.server_port`. Stop it with
    `shutdown(server, thread)`. Raises OSError when the address cannot be bound.
    """
    registry = CollectorRegistry()
    registry.register(MonitorCollector(metrics))
    ProcessCollector(registry=registry)
    server_class = type("MetricsServer", (_Server,), {"address_family": _family(addr, port)})
    server = server_class((addr, port), workers, timeout_s, metrics.http_dropped)
    server.set_app(health_app(metrics, stale_after_s, make_wsgi_app(registry)))
    thread = threading.Thread(target=server.serve_forever, name="monitor-metrics-accept", daemon=True)
    thread.start()
    return server, thread


def shutdown(server: WSGIServer, thread: threading.Thread, timeout: float = 5.0) -> None:
    """Stop a server started by `serve` and release its port."""
    server.shutdown()
    server.server_close()
    thread.join(timeout)
