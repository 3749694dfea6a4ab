"""Stopping the real processes some tests start (monitor tail, Prometheus, Alertmanager)."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
