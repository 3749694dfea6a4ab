"""`monitor tail` usage errors: one line on stderr and exit code 2 (the design contract), never a traceback."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "sample_logs" / "olmo_healthy.log"


def assert_usage_error(result, *words: str) -> None:
    assert result.code == 2 and result.out == ""
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    assert result.err.startswith("monitor: ") and all(word in result.err for word in words)


def test_tail_of_standard_input_is_refused_with_what_to_do_instead(run_cli) -> None:
    """Following needs a path to reopen and an offset to resume from; a pipe has neither."""
    assert_usage_error(run_cli("tail", "-"), "standard input", "monitor scan -")
    assert_usage_error(run_cli("tail", "--format", "jsonl", LOG, "-"), "standard input")


@pytest.mark.parametrize("url", ["notaurl", "ftp://x", "http://", "http://[::1", "http://example.org:99999/"])
def test_a_webhook_url_that_is_no_http_receiver_is_refused(run_cli, url: str) -> None:
    assert_usage_error(run_cli("tail", "--webhook", url, LOG), repr(url))


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_metrics_port_out_of_range_is_refused(run_cli, port: str) -> None:
    assert_usage_error(run_cli("tail", "--metrics-port", port, LOG), "0 to 65535", port)


@pytest.fixture
def sigterm():
    """`tail` installs a SIGTERM handler before it opens the metrics port; put the test process's back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def test_a_metrics_port_already_in_use_is_named(run_cli, sigterm) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("tail", "--format", "jsonl", "--metrics-port", port, LOG)
    assert_usage_error(result, f"127.0.0.1:{port}", "in use")


def test_a_replay_speed_that_is_not_above_zero_is_refused(run_cli) -> None:
    assert_usage_error(run_cli("tail", "--replay", "0", LOG), "--replay", "above 0")
