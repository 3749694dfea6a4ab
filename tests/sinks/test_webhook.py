"""The webhook against a real HTTP receiver on an ephemeral port: both body styles,
retries, a dead receiver that never slows the caller, the severity filter, and a hang
alert kept firing at Alertmanager's cadence until progress resumes."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from monitor.live import HangWatch
from monitor.model import Event, Kind, Severity, StepRecord
from monitor.settings import Settings
from monitor.sinks.alert_book import rfc3339
from monitor.sinks.webhook import Webhook, alertmanager_alerts


class Receiver:
    """An HTTP server that records each POST and answers with the next status in `statuses`
    (200 once they run out)."""

    def __init__(self, statuses: list[int] | None = None, port: int = 0) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[str, str, Any]] = []
        self.answered: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append((self.path, self.headers["Content-Type"], json.loads(body)))
                    receiver.answered.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/api/v2/alerts") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def bodies(self) -> list[Any]:
        with self.lock:
            return [body for _, _, body in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def event(severity: Severity = Severity.ERROR, **fields: Any) -> Event:
    values: dict[str, Any] = dict(
        kind=Kind.DEVICE_FAULT,
        severity=severity,
        message="GPU 3 fell off the bus",
        code="XID-79",
        node="gpu7",
        rank=24,
        time="2024-05-01T12:00:00",
        evidence="NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.",
        action="drain the node and run GPU diagnostics",
    )
    values.update(fields)
    return Event(**values)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_alertmanager_style(receiver: Receiver) -> None:
    hook = Webhook(receiver.url(), clock=lambda: 1_714_564_800.0)
    assert hook.submit(event(), run="llama")
    assert hook.close(10)
    assert (hook.sent, hook.failed, hook.dropped) == (1, 0, 0)
    [(path, content_type, body)] = receiver.requests
    assert path == "/api/v2/alerts" and content_type == "application/json"
    assert body == [{
        "labels": {
            "alertname": "MonitorEvent", "kind": "device_fault", "severity": "error", "code": "XID-79",
            "run": "llama", "node": "gpu7",
        },
        "annotations": {
            "summary": "GPU 3 fell off the bus",
            "action": "drain the node and run GPU diagnostics",
            "evidence": "NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.",
        },
        "startsAt": "2024-05-01T12:00:00.000Z",
        "endsAt": "2024-05-01T12:04:00.000Z",  # four resend intervals ahead, as Prometheus sets it
        "generatorURL": "",
    }]


def test_alertmanager_alert_without_time_or_optional_fields_starts_now() -> None:
    bare = Event(kind=Kind.HANG, severity=Severity.CRITICAL, message="no progress for 30 min")
    [alert] = alertmanager_alerts(bare, now=1_714_564_800.25, host="agent1")
    assert alert["labels"] == {"alertname": "MonitorEvent", "kind": "hang", "severity": "critical", "node": "agent1"}
    assert alert["annotations"] == {"summary": "no progress for 30 min"}
    assert alert["startsAt"] == "2024-05-01T12:00:00.250Z"
    offset = alertmanager_alerts(event(time="2024-05-01T14:00:00+02:00"))[0]
    assert offset["startsAt"] == "2024-05-01T12:00:00.000Z"


def test_plain_style(receiver: Receiver) -> None:
    hook = Webhook(receiver.url("/hook"), style="plain")
    hook.submit(event(value=float("nan")))
    hook.submit(event(code="XID-48"), run="llama")
    assert hook.close(10)
    first, second = receiver.bodies()
    assert first == event(value=float("nan")).to_dict()
    assert first["value"] == "nan"
    assert second == {**event(code="XID-48").to_dict(), "run": "llama"}


def test_plain_style_posts_a_non_finite_detail_as_null(receiver: Receiver) -> None:
    """JSON has no NaN: a bare NaN token in the body is refused by strict receivers."""
    hook = Webhook(receiver.url("/hook"), style="plain")
    hook.submit(event(value=float("inf"), details={"grad_norm_floor": float("nan"), "seq": 7}))
    assert hook.close(10)
    [body] = receiver.bodies()
    assert body["details"] == {"grad_norm_floor": None, "seq": 7} and body["value"] == "inf"


def test_retries_after_a_server_error_then_succeeds(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    hook = Webhook(receiver.url(), backoff_s=0.01)
    hook.submit(event())
    assert hook.close(10)
    assert receiver.answered == [500, 503, 200]
    assert (hook.sent, hook.failed) == (1, 0)
    bodies = receiver.bodies()
    assert bodies[0] == bodies[1] == bodies[2]


def test_gives_up_after_the_retries(receiver: Receiver) -> None:
    receiver.statuses = [500] * 10
    hook = Webhook(receiver.url(), retries=2, backoff_s=0.01)
    hook.submit(event())
    hook.submit(event())
    assert hook.close(10)
    assert (hook.sent, hook.failed) == (0, 2)
    assert receiver.answered == [500] * 6


def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400]
    hook = Webhook(receiver.url(), backoff_s=0.01)
    hook.submit(event())
    hook.submit(event())
    assert hook.close(10)
    assert receiver.answered == [400, 200]
    assert (hook.sent, hook.failed) == (1, 1)


def test_a_dead_receiver_never_blocks_submit() -> None:
    hook = Webhook(f"http://127.0.0.1:{closed_port()}/api/v2/alerts", queue_size=100, backoff_s=0.2)
    started = time.perf_counter()
    for _ in range(5000):
        hook.submit(event())
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, elapsed
    assert hook.dropped >= 5000 - 100 - 1
    started = time.perf_counter()
    assert not hook.close(0.3)
    assert time.perf_counter() - started < 3.0
    assert not hook._thread.is_alive()
    assert hook.sent == 0
    assert hook.dropped + hook.failed == 5000


def test_connection_errors_are_retried() -> None:
    port = closed_port()
    hook = Webhook(f"http://127.0.0.1:{port}/", retries=3, backoff_s=0.3)
    hook.submit(event())
    time.sleep(0.1)  # the first attempt was refused; the receiver comes up during the backoff
    late = Receiver(port=port)
    try:
        assert hook.close(10)
        assert (hook.sent, hook.failed) == (1, 0)
        assert len(late.requests) == 1
    finally:
        late.stop()


def test_severity_filter(receiver: Receiver) -> None:
    hook = Webhook(receiver.url(), min_severity=Severity.ERROR)
    assert not hook.submit(event(Severity.INFO))
    assert not hook.submit(event(Severity.WARNING))
    assert hook.submit(event(Severity.ERROR))
    assert hook.submit(event(Severity.CRITICAL))
    assert hook.close(10)
    assert [body[0]["labels"]["severity"] for body in receiver.bodies()] == ["error", "critical"]
    assert (hook.sent, hook.dropped) == (2, 0)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="style"):
        Webhook("http://127.0.0.1:1/", style="slack")
    with pytest.raises(ValueError, match="http"):
        Webhook("ftp://example.org/")


def wait_for(condition: Any, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, "not true by the deadline"
        time.sleep(0.01)


def test_a_hang_alert_is_resent_while_it_lasts_and_resolved_when_progress_resumes(receiver: Receiver) -> None:
    """The live no-progress watch raises NO-PROGRESS and then PROGRESS-RESUMED (severity info, below the
    webhook's threshold, taken all the same because it clears an alert); Alertmanager sees the hang
    posted again and again, then once with endsAt. Alertmanager's API: POST /api/v2/alerts takes a list
    of {labels, annotations, startsAt, endsAt, generatorURL} (prometheus/alertmanager api/v2/openapi.yaml)."""
    watch = HangWatch(Settings(), hang_after=60.0)
    record = StepRecord(step=100, loss=2.0, node="gpu7")
    assert watch.progress("logs/train.log", record, now=0.0) is None
    [hang] = watch.check(now=61.0)
    assert hang.code == "NO-PROGRESS"
    hook = Webhook(receiver.url(), resend_s=0.05, host="agent1")
    assert hook.submit(hang, run="llama")
    wait_for(lambda: len(receiver.bodies()) >= 3)
    resumed = watch.progress("logs/train.log", StepRecord(step=101, loss=2.0, node="gpu7"), now=90.0)
    assert resumed is not None and resumed.code == "PROGRESS-RESUMED" and resumed.severity < Severity.ERROR
    assert hook.submit(resumed, run="llama")
    wait_for(lambda: len(hook.book) == 0)
    assert hook.close(10)
    alerts = [alert for body in receiver.bodies() for alert in body]
    labels = {"alertname": "MonitorEvent", "kind": "hang", "severity": "error", "code": "NO-PROGRESS",
              "run": "llama", "node": "gpu7"}
    assert all(alert["labels"] == labels for alert in alerts)  # one alert, never a second
    assert len({alert["startsAt"] for alert in alerts}) == 1
    *firing, resolved = alerts
    assert len(firing) >= 2  # posted again while the hang lasted
    assert all(alert["endsAt"] > alert["startsAt"] for alert in firing)
    assert resolved["endsAt"] <= rfc3339(time.time())  # over: endsAt is the moment it was resolved
    assert hook.failed == hook.dropped == 0


def test_progress_resumed_on_another_file_does_not_resolve_the_hang(receiver: Receiver) -> None:
    hook = Webhook(receiver.url(), resend_s=60.0, host="agent1")
    hang = event(kind=Kind.HANG, code="NO-PROGRESS", file="a.log", rank=None)
    hook.submit(hang, run="llama")
    hook.submit(event(kind=Kind.HANG, code="PROGRESS-RESUMED", severity=Severity.INFO, file="b.log", rank=None),
                run="llama")
    hook.submit(event(kind=Kind.HANG, code="PROGRESS-RESUMED", severity=Severity.INFO, file="a.log", rank=None),
                run="other-run")
    wait_for(lambda: len(receiver.bodies()) >= 1)
    assert hook.close(10)
    assert len(receiver.bodies()) == 1 and len(hook.book) == 1  # still firing


def test_plain_style_posts_no_resolutions(receiver: Receiver) -> None:
    hook = Webhook(receiver.url("/hook"), style="plain")
    assert not hook.submit(event(kind=Kind.HANG, code="PROGRESS-RESUMED", severity=Severity.INFO))
    assert hook.close(10) and receiver.bodies() == []
