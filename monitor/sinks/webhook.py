"""Events pushed to an HTTP receiver: Alertmanager's v2 API, or any endpoint that takes JSON.

`submit` never blocks the caller: events wait in a bounded queue and one daemon thread
POSTs them, retrying with exponential backoff while the receiver is unreachable or
answers 5xx (or 429). An event that does not fit in the queue is dropped and counted;
one that still fails after the retries is counted as failed. Nothing is raised into
the pipeline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from monitor.model import Event, Severity, epoch_of

STYLES = ("alertmanager", "plain")
_STOP = object()


def alertmanager_alerts(event: Event, run: str | None = None, now: float | None = None) -> list[dict[str, Any]]:
    """`event` as the body of a POST to Alertmanager's /api/v2/alerts: a list of one alert.

    Labels identify the alert (Alertmanager groups and deduplicates by them): kind,
    severity, code, and run and node where known. The message, action and evidence
    are annotations. `startsAt` is the event's time (UTC), or `now` when it has none.
    """
    labels = {"alertname": "MonitorEvent", "kind": str(event.kind), "severity": str(event.severity)}
    if event.code:
        labels["code"] = event.code
    if run:
        labels["run"] = run
    if event.node:
        labels["node"] = event.node
    annotations = {"summary": event.message}
    if event.action:
        annotations["action"] = event.action
    if event.evidence:
        annotations["evidence"] = event.evidence
    epoch = epoch_of(event.time)
    if epoch is None:
        epoch = time.time() if now is None else now
    starts = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds")
    return [{
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts.replace("+00:00", "Z"),
        "generatorURL": "",
    }]


def url_problem(url: str) -> str | None:
    """What makes `url` no receiver's address (one line, naming it), or None when it is an http(s) URL
    with a host and a valid port."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not 0-65535)
    except ValueError as err:
        return f"webhook URL {url!r} is not a valid URL ({err})"
    if parts.scheme not in ("http", "https"):
        return f"webhook URL must be http:// or https://, not {url!r}"
    if not parts.hostname:
        return f"webhook URL {url!r} names no host"
    return None


def plain_body(event: Event, run: str | None = None) -> dict[str, Any]:
    """`event` as its contract JSON object (with the run, when one is given)."""
    body = event.to_dict()
    if run is not None:
        body["run"] = run
    return body


class Webhook:
    """POST events at or above `min_severity` to `url` from a background thread.

    `style` is "alertmanager" (a v2 API alert list; point `url` at
    http://HOST:9093/api/v2/alerts) or "plain" (the event's contract object).
    Up to `queue_size` events wait; `retries` more attempts follow a failed one,
    `backoff_s`, then twice that, and so on apart. Counters: `sent`, `dropped`
    (the queue was full, or `close` gave up on them before they were tried) and
    `failed` (every attempt failed, the receiver refused the request with a 4xx,
    or `close` gave up while it was being retried).
    """

    def __init__(
        self,
        url: str,
        min_severity: Severity = Severity.ERROR,
        style: str = "alertmanager",
        queue_size: int = 1000,
        retries: int = 3,
        timeout_s: float = 5.0,
        backoff_s: float = 0.5,
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"unknown webhook style {style!r}; expected one of {', '.join(STYLES)}")
        problem = url_problem(url)
        if problem is not None:
            raise ValueError(problem)
        self.url = url
        self.min_severity = min_severity
        self.style = style
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._count_lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="monitor-webhook", daemon=True)
        self._thread.start()

    def submit(self, event: Event, run: str | None = None) -> bool:
        """Queue `event` for delivery without waiting; False when it was filtered out by
        severity or dropped (queue full, or the webhook is closed)."""
        if event.severity < self.min_severity:
            return False
        if not self._closed:
            try:
                self._queue.put_nowait((event, run))
                return True
            except queue.Full:
                pass
        with self._count_lock:
            self.dropped += 1
        return False

    def close(self, timeout: float = 10.0) -> bool:
        """Deliver what is queued, waiting at most `timeout` seconds, then stop the thread.
        True when everything queued was handled in time; otherwise the rest is dropped."""
        deadline = time.monotonic() + timeout
        if not self._closed:
            self._closed = True
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if not self._thread.is_alive():
            self._drop_rest()  # anything submitted while closing
            return True
        self._stop.set()  # give up: the thread abandons retries and counts the rest as dropped
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)  # wakes the thread if it waits on an empty queue
        self._thread.join(1.0 + self.timeout_s)
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is _STOP:
                return
            event, run = item
            ok = self._deliver(self._body(event, run))
            with self._count_lock:
                if ok:
                    self.sent += 1
                else:
                    self.failed += 1
        self._drop_rest()

    def _drop_rest(self) -> None:
        """Count what is still queued as dropped."""
        left = 0
        while True:
            try:
                left += self._queue.get_nowait() is not _STOP
            except queue.Empty:
                break
        with self._count_lock:
            self.dropped += left

    def _body(self, event: Event, run: str | None) -> bytes:
        body: Any = alertmanager_alerts(event, run) if self.style == "alertmanager" else plain_body(event, run)
        return json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")

    def _deliver(self, data: bytes) -> bool:
        """POST `data`, retrying transient failures; True once the receiver accepted it."""
        for attempt in range(self.retries + 1):
            if attempt and self._stop.wait(self.backoff_s * 2 ** (attempt - 1)):
                return False
            request = urllib.request.Request(
                self.url, data=data, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                return True
            except urllib.error.HTTPError as error:
                error.close()
                if error.code < 500 and error.code != 429:
                    return False  # the receiver refused this request: sending it again will not help
            except (OSError, ValueError):
                pass  # connection refused or reset, timeout, DNS: try again
        return False
