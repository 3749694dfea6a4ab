"""End to end: a real Prometheus scrapes a running `monitor tail` while a log grows.

Debian's `prometheus` package provides the server (.ci/run installs it). The
test starts both on loopback ports, appends Megatron-LM iteration lines and a
CUDA error line to the followed log, and asks Prometheus's HTTP API
(/api/v1/query) for the loss series and the event counter.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iteration(step: int, loss: float) -> str:
    """Megatron-LM `training_log` layout (megatron/training/training.py)."""
    return (f" iteration {step:8d}/   50000 | consumed samples: {step * 256:12d} | elapsed time per iteration (ms): "
            f"1532.4 | learning rate: 3.000E-04 | global batch size:   256 | lm loss: {loss:.6E} | loss scale: "
            f"65536.0 | grad norm: 1.204 | number of skipped iterations:   0 | number of nan iterations:   0 |\n")


def query(port: int, expression: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


def wait_for(port: int, expression: str, deadline_s: float = 40.0) -> list[dict]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            result = query(port, expression)
        except OSError:
            result = []
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never returned {expression}")


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_prometheus_scrapes_the_loss_and_the_event_counter(tmp_path: Path, processes) -> None:
    server = shutil.which("prometheus")
    assert server, "install Debian's prometheus package (apt-get install prometheus): .ci/run does"
    log = tmp_path / "train.log"
    log.write_text(iteration(10, 7.5))
    metrics_port, prometheus_port = free_port(), free_port()
    processes.append(subprocess.Popen(
        [sys.executable, "-m", "monitor", "tail", "--format", "jsonl", "--from-start", "--poll", "0.1",
         "--metrics-port", str(metrics_port), "--run", "itest", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    ))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: monitor\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
    )
    processes.append(subprocess.Popen(
        [server, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ))
    wait_for(prometheus_port, 'up{job="monitor"} == 1')
    with log.open("a") as handle:
        for step, loss in ((20, 6.9), (30, 6.2), (40, 5.8)):
            handle.write(iteration(step, loss))
        handle.write("RuntimeError: CUDA error: uncorrectable ECC error encountered\n")
    [loss] = wait_for(prometheus_port, 'monitor_loss{run="itest"} < 6')
    assert float(loss["value"][1]) == pytest.approx(5.8)
    assert loss["metric"]["job"] == "monitor"
    [counter] = wait_for(prometheus_port, 'monitor_events_total{run="itest",code="CUDA-ECC-UNCORRECTABLE"}')
    assert float(counter["value"][1]) == 1.0
    assert counter["metric"]["kind"] == "device_fault" and counter["metric"]["severity"] == "critical"
