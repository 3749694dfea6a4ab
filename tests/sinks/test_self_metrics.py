"""The monitor's own health on /metrics: what the follower read per file (with a bounded `file` label),
the bytes it is behind, internal errors caught while scanning, and the webhook's dropped and failed
events; read from a private registry, over HTTP with promtool's approval, and from a running tail."""

from __future__ import annotations

import io
import json
import os
import types
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.cli import main
from monitor.sinks.metrics_server import serve, shutdown
from monitor.sinks.prometheus import FileReading, LiveMetrics, MonitorCollector
from monitor.sources.follow import Follower
from monitor.tail import file_labels
from tests.sinks.test_alert_rules import run_promtool
from tests.test_cli_scan import megatron

FILE_COUNTERS = {
    "monitor_lines_read_total": "lines",
    "monitor_read_bytes_total": "bytes",
    "monitor_file_rotations_total": "rotations",
    "monitor_file_truncations_total": "truncations",
    "monitor_read_errors_total": "read_errors",
}


def registry_for(metrics: LiveMetrics) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(MonitorCollector(metrics))
    return registry


def samples(registry: CollectorRegistry, name: str) -> dict[str, float]:
    """file label -> value of one self-metric."""
    return {s.labels["file"]: s.value for m in registry.collect() for s in m.samples if s.name == name}


def test_counters_and_bytes_behind_per_file() -> None:
    metrics = LiveMetrics()
    metrics.reading([
        ("rank0.log", FileReading(lines=120, bytes=9000, rotations=1, truncations=2, read_errors=3, behind=512)),
        ("rank1.log", FileReading(lines=7, bytes=700, behind=0)),
    ])
    registry = registry_for(metrics)
    value = registry.get_sample_value
    assert value("monitor_lines_read_total", {"file": "rank0.log"}) == 120
    assert value("monitor_read_bytes_total", {"file": "rank0.log"}) == 9000
    assert value("monitor_file_rotations_total", {"file": "rank0.log"}) == 1
    assert value("monitor_file_truncations_total", {"file": "rank0.log"}) == 2
    assert value("monitor_read_errors_total", {"file": "rank0.log"}) == 3
    assert value("monitor_file_behind_bytes", {"file": "rank0.log"}) == 512
    assert value("monitor_lines_read_total", {"file": "rank1.log"}) == 7
    assert value("monitor_file_behind_bytes", {"file": "rank1.log"}) == 0
    families = {m.name: m for m in registry.collect()}
    for name in FILE_COUNTERS:
        family = families[name.removesuffix("_total")]
        assert family.type == "counter" and family.documentation, name
    assert families["monitor_file_behind_bytes"].type == "gauge"
    assert value("monitor_parse_errors_total") == 0
    assert value("monitor_webhook_events_dropped_total") == 0
    assert value("monitor_webhook_events_failed_total") == 0


def test_no_file_series_before_anything_was_followed() -> None:
    names = {m.name for m in registry_for(LiveMetrics()).collect() if m.samples}
    assert "monitor_lines_read" not in names and "monitor_file_behind_bytes" not in names
    assert {"monitor_parse_errors", "monitor_webhook_events_dropped", "monitor_webhook_events_failed"} <= names


def test_totals_replace_the_previous_ones_files_sharing_a_label_add_up_and_a_closed_file_keeps_its_counts() -> None:
    metrics = LiveMetrics()
    metrics.reading([("a.log", FileReading(lines=5, behind=10)), ("b.log", FileReading(lines=1, behind=0))])
    metrics.reading([("a.log", FileReading(lines=8, behind=0)), ("a.log", FileReading(lines=2, behind=4))])
    registry = registry_for(metrics)
    assert samples(registry, "monitor_lines_read_total") == {"a.log": 10, "b.log": 1}
    assert samples(registry, "monitor_file_behind_bytes") == {"a.log": 4}  # b.log is no longer open


def test_the_file_label_is_capped_and_the_rest_aggregated_under_other() -> None:
    metrics = LiveMetrics(max_files=3)
    readings = [(f"rank{i}.log", FileReading(lines=i, bytes=10 * i, rotations=1, behind=i)) for i in range(5)]
    metrics.reading(readings)
    registry = registry_for(metrics)
    assert samples(registry, "monitor_lines_read_total") == {"rank0.log": 0, "rank1.log": 1, "rank2.log": 2,
                                                             "other": 3 + 4}
    assert samples(registry, "monitor_file_rotations_total")["other"] == 2
    assert samples(registry, "monitor_file_behind_bytes")["other"] == 7
    # the label a file got is kept: a file beyond the cap stays under "other", counters never go back
    metrics.reading([("rank9.log", FileReading(lines=100)), *readings[::-1]])
    lines = samples(registry_for(metrics), "monitor_lines_read_total")
    assert lines == {"rank0.log": 0, "rank1.log": 1, "rank2.log": 2, "other": 107}


def test_the_cap_bounds_the_series_whatever_arrives() -> None:
    metrics = LiveMetrics()
    metrics.reading((f"rank{i}/train.log", FileReading(lines=1, behind=1)) for i in range(16_384))
    registry = registry_for(metrics)
    lines = samples(registry, "monitor_lines_read_total")
    assert len(lines) == 1001 and lines["other"] == 16_384 - 1000
    assert len(samples(registry, "monitor_file_behind_bytes")) == 1001


def test_parse_errors_and_webhook_counters_never_go_back() -> None:
    metrics = LiveMetrics()
    metrics.parse_errors(3)
    metrics.webhook(dropped=2, failed=5)
    metrics.webhook(dropped=1, failed=5)
    value = registry_for(metrics).get_sample_value
    assert value("monitor_parse_errors_total") == 3
    assert value("monitor_webhook_events_dropped_total") == 2
    assert value("monitor_webhook_events_failed_total") == 5


def test_records_over_the_rank_caps_are_counted() -> None:
    metrics = LiveMetrics()
    value = registry_for(metrics).get_sample_value
    assert value("monitor_records_over_rank_cap_total") == 0
    metrics.over_rank_caps(40)
    metrics.over_rank_caps(12)  # a total never goes back
    assert value("monitor_records_over_rank_cap_total") == 40


def test_max_files_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_files"):
        LiveMetrics(max_files=0)


def test_served_over_http_promtool_finds_nothing() -> None:
    metrics = LiveMetrics(max_files=2)
    metrics.reading([
        ("rank0.log", FileReading(lines=3, bytes=30, behind=0)),
        ('odd "name"\\with\nnewline.log', FileReading(lines=1, bytes=5, read_errors=1, behind=2)),
        ("rank2.log", FileReading(lines=4, truncations=1, behind=None)),
    ])
    metrics.parse_errors(1)
    metrics.webhook(dropped=4, failed=2)
    server, thread = serve(metrics, port=0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as response:
            text = response.read().decode("utf-8")
    finally:
        shutdown(server, thread)
    assert 'monitor_lines_read_total{file="rank0.log"} 3.0' in text
    assert 'monitor_file_truncations_total{file="other"} 1.0' in text
    assert "monitor_parse_errors_total 1.0" in text
    assert "monitor_webhook_events_dropped_total 4.0" in text and "monitor_webhook_events_failed_total 2.0" in text
    checked = run_promtool("check", "metrics", stdin=text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_file_labels_are_relative_to_the_followed_directory(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "logs" / "a").mkdir(parents=True)
    (tmp_path / "logs" / "b").mkdir()
    (tmp_path / "kern.log").write_text("")
    monkeypatch.chdir(tmp_path)
    one = file_labels(["logs/a"])
    assert one(str(tmp_path / "logs" / "a" / "rank0.log")) == "rank0.log"
    assert one(str(tmp_path / "logs" / "a" / "x" / "rank1.log")) == os.path.join("x", "rank1.log")
    assert one("/elsewhere/other.log") == "/elsewhere/other.log"
    two = file_labels([str(tmp_path / "logs" / "a"), "logs/b", "kern.log"])
    assert two(str(tmp_path / "logs" / "a" / "rank0.log")) == os.path.join("a", "rank0.log")
    assert two(str(tmp_path / "logs" / "b" / "rank0.log")) == os.path.join("b", "rank0.log")
    assert two(str(tmp_path / "kern.log")) == "kern.log"  # named on its own: as given
    pattern = file_labels(["logs/*/rank*.log"])
    assert pattern(str(tmp_path / "logs" / "b" / "rank3.log")) == os.path.join("b", "rank3.log")


def test_the_follower_tells_its_offsets_and_the_sizes_it_saw(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("x" * 99 + "\n")
    with Follower([str(tmp_path)], from_start=True, max_bytes_per_poll=40, clock=lambda: 0.0) as follower:
        path = str(log)
        assert follower.offsets() == {path: 0} and follower.sizes() == {path: 100}
        follower.poll()
        assert follower.behind and follower.offsets() == {path: 40}
        while follower.behind:
            follower.poll()
        assert follower.offsets() == follower.sizes() == {path: 100}
        assert follower.counters[path].lines == 1 and follower.counters[path].bytes_read == 100


class FakeWebhook:
    def __init__(self, *_args: object, **_kwargs: object) -> None:
        self.dropped, self.failed, self.submitted = 2, 1, []

    def submit(self, event: object, run: object = None) -> bool:
        self.submitted.append(event)
        return True

    def close(self, _timeout: float) -> bool:
        return True


def test_a_running_tail_serves_its_own_counters_and_survives_an_internal_error(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """In process: `monitor tail` follows a directory while a script (run at each of its sleeps)
    writes lines, two of which make the scan fail, then rotates the log; the loop ends with Ctrl-C."""
    import monitor.live
    import monitor.sinks.metrics_server
    import monitor.sinks.webhook
    import monitor.tail

    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "train.log"
    log.write_text("")
    served: list[LiveMetrics] = []
    monkeypatch.setattr(monitor.sinks.metrics_server, "serve",
                        lambda metrics, *a, **k: served.append(metrics) or (None, None))
    monkeypatch.setattr(monitor.sinks.metrics_server, "shutdown", lambda *a: None)
    monkeypatch.setattr(monitor.sinks.webhook, "Webhook", FakeWebhook)
    monkeypatch.setattr(monitor.tail, "_stop_on_sigterm", lambda: None)
    feed = monitor.live.LiveScan.feed

    def failing_feed(self, name, path, batch):  # type: ignore[no-untyped-def]
        if any("BOOM" in text for _, text in batch.numbered()):
            raise RuntimeError("a bug in a parser")
        return feed(self, name, path, batch)

    monkeypatch.setattr(monitor.live.LiveScan, "feed", failing_feed)

    def append(text: str) -> None:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(text)

    script = [
        lambda: append(megatron(10) + megatron(20) + megatron(30)),
        lambda: append("BOOM one\n"),
        lambda: append("BOOM two\n"),
        lambda: (log.rename(tmp_path / "train.log.1"), log.write_text(megatron(40))),
        lambda: append("RuntimeError: CUDA error: an illegal memory access was encountered\n"),
        lambda: None,
    ]

    def sleep(_seconds: float) -> None:
        if not script:
            raise KeyboardInterrupt
        script.pop(0)()

    monkeypatch.setattr(monitor.tail, "time", types.SimpleNamespace(
        sleep=sleep, monotonic=monitor.tail.time.monotonic, time=monitor.tail.time.time,
    ))
    out = io.StringIO()
    code = main(["tail", "--format", "jsonl", "--from-start", "--metrics-port", "0", "--webhook", "http://x/",
                 str(logs)], out=out)
    assert code == 0
    codes = [json.loads(line)["code"] for line in out.getvalue().splitlines()]
    assert "CUDA-ILLEGAL-ADDRESS" in codes  # raised after the failing batches: following went on
    err = capsys.readouterr().err
    assert err.count("internal error while scanning") == 1 and "RuntimeError: a bug in a parser" in err
    [metrics] = served
    registry = registry_for(metrics)
    value = registry.get_sample_value
    assert value("monitor_parse_errors_total") == 2
    assert value("monitor_lines_read_total", {"file": "train.log"}) == 3 + 2 + 1 + 1
    assert value("monitor_read_bytes_total", {"file": "train.log"}) == (
        len(megatron(10)) * 3 + len("BOOM one\nBOOM two\n") + len(megatron(40))
        + len("RuntimeError: CUDA error: an illegal memory access was encountered\n")
    )
    assert value("monitor_file_rotations_total", {"file": "train.log"}) == 1
    assert value("monitor_file_behind_bytes", {"file": "train.log"}) == 0
    assert value("monitor_webhook_events_dropped_total") == 2
    assert value("monitor_webhook_events_failed_total") == 1
    # still following after the errors
    assert value("monitor_step", {"run": "logs", "rank": "", "source": "train.log", "node": ""}) == 40
    assert value("monitor_follow_loop_last_iteration_timestamp_seconds") > 0  # the loop's liveness
