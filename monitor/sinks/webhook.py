"""Events pushed to an HTTP receiver: Alertmanager's v2 API, or any endpoint that takes JSON.

`submit` never blocks the caller: events wait in a bounded queue and one daemon thread
POSTs them, retrying with exponential backoff while the receiver is unreachable or
answers 5xx (or 429). An event that does not fit in the queue is dropped and counted;
one that still fails after the retries is counted as failed. Nothing is raised into
the pipeline.

In Alertmanager's style the thread also keeps the firing alerts (`alert_book.AlertBook`):
it posts them again every `resend_s` until they are over, then once more with `endsAt`,
so Alertmanager neither forgets a long hang nor keeps an alert that ended. The plain style
posts each event once.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from monitor.model import Event, Severity, epoch_of
from monitor.sinks.alert_book import AlertBook, alert_annotations, alert_labels, rfc3339

STYLES = ("alertmanager", "plain")
RESEND_S = 60.0
"""Prometheus' --rules.alert.resend-delay default; below Alertmanager's resolve_timeout (5m)."""
FIRING_S = 600.0
"""The window the Prometheus alert rules fire for after an event (deploy/prometheus/alerts.yml)."""
_STOP = object()


def alertmanager_alerts(event: Event, run: str | None = None, now: float | None = None,
                        host: str | None = None) -> list[dict[str, Any]]:
    """`event` as the body of a POST to Alertmanager's /api/v2/alerts: a list of one alert.

    Labels identify the alert (Alertmanager groups and deduplicates by them): kind, severity,
    code, run, node (`host`, default this machine's name, when the line names none) and device
    where known. The message, action and evidence are annotations. `startsAt` is the event's
    time (UTC), or `now` when it has none.
    """
    epoch = epoch_of(event.time)
    if epoch is None:
        epoch = time.time() if now is None else now
    return [{
        "labels": alert_labels(event, run, socket.gethostname() if host is None else host),
        "annotations": alert_annotations(event),
        "startsAt": rfc3339(epoch),
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
    `backoff_s`, then twice that, and so on apart. In Alertmanager's style firing
    alerts are posted again every `resend_s` and resolved as `AlertBook` says (an
    event that clears others, e.g. PROGRESS-RESUMED, is taken whatever its
    severity); `host` is the node label of events that name none (default: this
    machine's name). Counters, in notifications (one event or alert each): `sent`,
    `dropped` (the queue was full, or `close` gave up on them before they were
    tried) and `failed` (every attempt failed, the receiver refused the request
    with a 4xx, or `close` gave up while it was being retried).
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
        resend_s: float = RESEND_S,
        firing_s: float = FIRING_S,
        host: str | None = None,
        clock: Callable[[], float] = time.time,
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
        self.clock = clock
        self.book = AlertBook(resend_s, firing_s, socket.gethostname() if host is None else host)
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
        """Queue `event` (of `run`) for delivery without waiting; False when it was filtered out by
        severity or dropped (queue full, or the webhook is closed)."""
        clears = self.style == "alertmanager" and self.book.clears(event)
        if event.severity < self.min_severity and not clears:
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
        True when everything queued was handled in time; otherwise the rest is dropped.
        Firing alerts are left to expire at their `endsAt` (as Prometheus leaves them)."""
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
            due = self.book.next_due()
            try:
                item = self._queue.get(timeout=None if due is None else max(0.0, due - self.clock()))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if item is not None:
                event, run = item
                self._post(self._bodies(event, run))
            if self.style == "alertmanager":
                self._post(self.book.due(self.clock()))
        self._drop_rest()

    def _bodies(self, event: Event, run: str | None) -> list[Any]:
        """What to post for `event`: alerts (Alertmanager) or the event itself (plain)."""
        if self.style == "alertmanager":
            return self.book.event(event, run, self.clock())
        return [plain_body(event, run)]

    def _post(self, bodies: list[Any]) -> None:
        """POST each plain body, or all the alerts in one list, and count them."""
        if not bodies:
            return
        batches = [bodies] if self.style == "alertmanager" else bodies
        for batch in batches:
            data = json.dumps(batch, ensure_ascii=False, default=str).encode("utf-8")
            ok = self._deliver(data)
            with self._count_lock:
                if ok:
                    self.sent += len(bodies) if batch is bodies else 1
                else:
                    self.failed += len(bodies) if batch is bodies else 1

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
