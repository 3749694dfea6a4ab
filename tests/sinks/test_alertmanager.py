"""The shipped Alertmanager configuration (deploy/alertmanager/alertmanager.yml): valid for amtool,
routed as documented, and, in a real Alertmanager fed by the webhook, holding back the cascades of a
critical device fault. Debian's prometheus-alertmanager package ships both binaries (.ci/run installs
it); a missing one fails the test, never skips it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.model import Event, Kind, Severity
from monitor.sinks.webhook import Webhook
from tests.processes import stop

ROOT = Path(__file__).resolve().parent.parent.parent
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install Debian's prometheus-alertmanager package (.ci/run does)")
    return path


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("amtool"), *args], capture_output=True, text=True, timeout=60)


def test_the_configuration_is_valid() -> None:
    done = amtool("check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "4 inhibit rules" in done.stdout


@pytest.mark.parametrize(("labels", "receivers"), [
    (["alertname=MonitorEvent", "run=llama", "kind=device_fault", "severity=critical"],
     "training-page,training-oncall"),
    (["alertname=CommError", "run=llama", "kind=comm_error", "severity=error"], "training-oncall"),
    (["alertname=Slowdown", "run=llama", "kind=slowdown", "severity=warning"], "blackhole"),
    (["alertname=MonitorExporterDown", "severity=warning", "instance=gpu1:19108"], "monitoring-team"),
])
def test_routes(labels: list[str], receivers: str) -> None:
    done = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == receivers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [binary("prometheus-alertmanager"), f"--config.file={CONFIG}", f"--storage.path={tmp_path}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < end and process.poll() is None, "Alertmanager did not start"
                time.sleep(0.1)
        yield url
    finally:
        stop(process)


def alerts(url: str) -> dict[tuple[str, str], dict]:
    """(run, code) -> the alert as Alertmanager's API shows it."""
    with urllib.request.urlopen(url + "/api/v2/alerts", timeout=5) as response:
        return {(a["labels"].get("run", ""), a["labels"].get("code", "")): a for a in json.load(response)}


def test_a_critical_device_fault_holds_back_its_runs_timeouts_and_crashes(alertmanager: str) -> None:
    """Posted through the webhook exactly as `monitor tail --webhook` posts them (Alertmanager's
    POST /api/v2/alerts, prometheus/alertmanager api/v2/openapi.yaml)."""
    hook = Webhook(alertmanager + "/api/v2/alerts", host="agent1")
    xid = Event(Kind.DEVICE_FAULT, Severity.CRITICAL, "GPU fell off the bus", code="XID-79", node="gpu7",
                device="0000:3b:00")
    timeout = Event(Kind.HANG, Severity.ERROR, "NCCL watchdog timeout", code="NCCL-WATCHDOG-TIMEOUT", node="gpu2")
    crash = Event(Kind.CRASH, Severity.ERROR, "ChildFailedError", code="TORCHELASTIC-CHILD-FAILED", node="gpu2")
    for event in (xid, timeout, crash):
        assert hook.submit(event, run="llama")
    assert hook.submit(timeout, run="gpt")  # another run: its own problem
    assert hook.close(10) and hook.failed == 0

    end = time.monotonic() + 30
    while True:
        seen = alerts(alertmanager)
        held = {key for key, alert in seen.items() if alert["status"]["inhibitedBy"]}
        if len(seen) == 4 and len(held) == 2 or time.monotonic() > end:
            break
        time.sleep(0.2)
    assert set(seen) == {("llama", "XID-79"), ("llama", "NCCL-WATCHDOG-TIMEOUT"),
                         ("llama", "TORCHELASTIC-CHILD-FAILED"), ("gpt", "NCCL-WATCHDOG-TIMEOUT")}
    assert held == {("llama", "NCCL-WATCHDOG-TIMEOUT"), ("llama", "TORCHELASTIC-CHILD-FAILED")}
    assert seen[("llama", "XID-79")]["status"]["state"] == "active"
    assert seen[("llama", "XID-79")]["labels"]["device"] == "00000000:3B:00.0"
    assert seen[("gpt", "NCCL-WATCHDOG-TIMEOUT")]["status"]["state"] == "active"
