"""The exporter: values read back from a private registry, counters, the series cap, and a
real scrape over HTTP whose exposition promtool accepts without a word."""

from __future__ import annotations

import math
import threading
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from monitor import __version__
from monitor.model import Event, Kind, Severity, StepRecord
from monitor.sinks.prometheus import GAUGES, LiveMetrics, MonitorCollector, serve, shutdown
from tests.sinks.test_alert_rules import run_promtool

NOW = 1_700_000_000.0


def registry_for(metrics: LiveMetrics, now: float = NOW) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(MonitorCollector(metrics, clock=lambda: now))
    return registry


def labels(run: str = "llama", rank: str = "0", node: str = "gpu1") -> dict[str, str]:
    return {"run": run, "rank": rank, "node": node}


def event(kind: Kind = Kind.DEVICE_FAULT, severity: Severity = Severity.ERROR, code: str | None = "XID-79",
          count: int | None = None, message: str = "GPU fell off the bus", **fields: object) -> Event:
    return Event(kind=kind, severity=severity, message=message, code=code, count=count, **fields)  # type: ignore[arg-type]


def full_record(**fields: object) -> StepRecord:
    values: dict[str, object] = dict(
        step=120, loss=2.5, grad_norm=0.8, lr=3e-4, loss_scale=65536.0, step_time_s=1.25,
        tokens_per_s=52000.0, samples_per_s=12.5, rank=0, node="gpu1",
    )
    values.update(fields)
    return StepRecord(**values)  # type: ignore[arg-type]


def test_latest_values_per_run_and_rank() -> None:
    metrics = LiveMetrics()
    metrics.observe("llama", full_record())
    metrics.observe("llama", StepRecord(step=121, loss=2.4, rank=0, node="gpu1"))
    registry = registry_for(metrics)
    value = registry.get_sample_value
    assert value("monitor_step", labels()) == 121
    assert value("monitor_loss", labels()) == 2.4
    assert value("monitor_grad_norm", labels()) == 0.8  # not in the later record: the earlier value stays
    assert value("monitor_learning_rate", labels()) == 3e-4
    assert value("monitor_loss_scale", labels()) == 65536
    assert value("monitor_step_time_seconds", labels()) == 1.25
    assert value("monitor_tokens_per_second", labels()) == 52000
    assert value("monitor_samples_per_second", labels()) == 12.5
    assert value("monitor_build_info", {"version": __version__}) == 1
    assert value("monitor_series_dropped_total") == 0


def test_only_seen_values_have_samples_and_a_nan_loss_is_one() -> None:
    metrics = LiveMetrics()
    metrics.observe("llama", StepRecord(step=7, loss=math.nan))
    registry = registry_for(metrics)
    unranked = labels(rank="", node="")
    assert registry.get_sample_value("monitor_step", unranked) == 7
    assert math.isnan(registry.get_sample_value("monitor_loss", unranked))
    names = {m.name for m in registry.collect() for _ in m.samples}
    assert "monitor_learning_rate" not in names
    assert "monitor_seconds_since_progress" not in names
    assert "monitor_hang" not in names
    assert "monitor_events" not in names
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name != "monitor_loss":
                assert not math.isnan(sample.value), sample


def test_label_sets() -> None:
    metrics = LiveMetrics()
    metrics.observe("llama", full_record(rank=3, node="gpu2"))
    metrics.progress("llama", 3, "gpu2", NOW - 1)
    metrics.hang("llama", 3, False)
    metrics.event("llama", event(file="/logs/rank3.log", step=120, evidence="Xid 79", rank=3, node="gpu2"))
    families = {m.name: m for m in registry_for(metrics).collect()}
    for name in [name for name, _ in GAUGES.values()] + ["monitor_seconds_since_progress", "monitor_hang"]:
        assert [s.labels for s in families[name].samples] == [labels(rank="3", node="gpu2")], name
        assert families[name].type == "gauge" and families[name].documentation, name
    counter = families["monitor_events"]
    assert counter.type == "counter" and counter.documentation
    assert [s.labels for s in counter.samples] == [
        {"run": "llama", "kind": "device_fault", "severity": "error", "code": "XID-79"}
    ]
    assert [s.labels for s in families["monitor_build_info"].samples] == [{"version": __version__}]


def test_events_count_by_kind_severity_and_code() -> None:
    metrics = LiveMetrics()
    metrics.event("llama", event())
    metrics.event("llama", event(count=41))
    metrics.event("llama", event(kind=Kind.HANG, severity=Severity.WARNING, code=None))
    metrics.event("mistral", event())
    value = registry_for(metrics).get_sample_value
    key = {"run": "llama", "kind": "device_fault", "severity": "error", "code": "XID-79"}
    assert value("monitor_events_total", key) == 42
    assert value("monitor_events_total", {**key, "run": "mistral"}) == 1
    assert value("monitor_events_total", {"run": "llama", "kind": "hang", "severity": "warning", "code": ""}) == 1
    metrics.event("llama", event(count=8))
    assert value("monitor_events_total", key) == 50


def test_seconds_since_progress_and_hang() -> None:
    metrics = LiveMetrics()
    metrics.progress("llama", 0, "gpu1", NOW - 30)
    metrics.progress("llama", 1, None, NOW - 5)
    metrics.hang("llama", 0, True)
    value = registry_for(metrics).get_sample_value
    assert value("monitor_seconds_since_progress", labels()) == 30
    assert value("monitor_seconds_since_progress", labels(rank="1", node="")) == 5
    assert value("monitor_hang", labels()) == 1
    assert value("monitor_hang", labels(rank="1", node="")) is None
    metrics.hang("llama", 0, False)
    metrics.progress("llama", 0, "gpu1", NOW)
    assert value("monitor_hang", labels()) == 0
    assert value("monitor_seconds_since_progress", labels()) == 0


def test_the_node_follows_the_rank() -> None:
    metrics = LiveMetrics()
    metrics.observe("llama", full_record(node="gpu1"))
    metrics.observe("llama", full_record(node="gpu7", step=200))
    value = registry_for(metrics).get_sample_value
    assert value("monitor_step", labels(node="gpu7")) == 200
    assert value("monitor_step", labels(node="gpu1")) is None


def test_series_beyond_the_cap_are_aggregated_under_other() -> None:
    metrics = LiveMetrics(max_series=3)
    for rank in range(5):
        metrics.observe("llama", full_record(rank=rank, step=100 + rank, node=f"gpu{rank}"))
    metrics.observe("llama", full_record(rank=1, step=200, node="gpu1"))  # an existing series stays its own
    metrics.hang("llama", 4, True)
    metrics.progress("llama", 3, "gpu3", NOW - 10)
    metrics.progress("llama", 4, "gpu4", NOW - 20)
    registry = registry_for(metrics)
    steps = {(s.labels["rank"], s.labels["node"]): s.value for m in registry.collect() if m.name == "monitor_step"
             for s in m.samples}
    assert steps == {("0", "gpu0"): 100, ("1", "gpu1"): 200, ("2", "gpu2"): 102, ("other", ""): 104}
    other = labels(rank="other", node="")
    assert registry.get_sample_value("monitor_series_dropped_total") == 2
    assert registry.get_sample_value("monitor_hang", other) == 1
    assert registry.get_sample_value("monitor_seconds_since_progress", other) == 10  # the most recent of them
    metrics.hang("llama", 3, True)
    metrics.hang("llama", 4, False)
    assert registry.get_sample_value("monitor_hang", other) == 1  # rank 3 still hangs
    metrics.hang("llama", 3, False)
    assert registry.get_sample_value("monitor_hang", other) == 0


def test_the_cap_bounds_the_series_whatever_arrives() -> None:
    metrics = LiveMetrics(max_series=10)
    for rank in range(16_384):
        metrics.observe("llama", StepRecord(step=1, loss=1.0, rank=rank))
        metrics.event("llama", event(code=f"CODE-{rank}"))
    families = {m.name: m for m in registry_for(metrics).collect()}
    assert len(families["monitor_loss"].samples) == 11
    assert len(families["monitor_events"].samples) == 11
    assert families["monitor_series_dropped"].samples[0].value == 2 * (16_384 - 10)
    codes = {s.labels["code"] for s in families["monitor_events"].samples}
    assert "other" in codes


def test_max_series_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_series"):
        LiveMetrics(max_series=0)


def test_updates_from_many_threads_are_all_counted() -> None:
    metrics = LiveMetrics()

    def work(rank: int) -> None:
        for step in range(500):
            metrics.observe("llama", StepRecord(step=step, loss=1.0, rank=rank))
            metrics.event("llama", event())

    threads = [threading.Thread(target=work, args=(rank,)) for rank in range(8)]
    for thread in threads:
        thread.start()
    registry = registry_for(metrics)
    while any(t.is_alive() for t in threads):
        list(registry.collect())  # scrapes while the state changes
    for thread in threads:
        thread.join()
    key = {"run": "llama", "kind": "device_fault", "severity": "error", "code": "XID-79"}
    assert registry.get_sample_value("monitor_events_total", key) == 8 * 500
    assert registry.get_sample_value("monitor_step", labels(rank="7", node="")) == 499


def test_describe_lets_a_registry_reject_a_second_copy() -> None:
    registry = CollectorRegistry()
    registry.register(MonitorCollector(LiveMetrics()))
    with pytest.raises(ValueError, match="monitor_step"):
        registry.register(MonitorCollector(LiveMetrics()))


def test_served_over_http_on_an_ephemeral_port_and_promtool_finds_nothing() -> None:
    metrics = LiveMetrics(max_series=2)
    metrics.observe("llama", full_record(loss=math.nan))
    metrics.observe("llama", full_record(rank=1, loss=math.inf, node="gpu2"))
    metrics.observe("llama", full_record(rank=2))  # beyond the cap
    metrics.observe("llama", StepRecord(step=3, loss=2.0))
    metrics.progress("llama", 0, "gpu1", NOW)
    metrics.hang("llama", 0, True)
    metrics.event("llama", event(count=3))
    metrics.event("llama", event(kind=Kind.HANG, code=None, message='a "quoted" \\ message\nover two lines'))
    server, thread = serve(metrics, port=0)
    try:
        port = server.server_port
        assert port != 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.status == 200
            text = response.read().decode("utf-8")
    finally:
        shutdown(server, thread)
    assert not thread.is_alive()
    assert 'monitor_loss{node="gpu1",rank="0",run="llama"} NaN' in text
    assert 'monitor_loss{node="gpu2",rank="1",run="llama"} +Inf' in text
    assert 'monitor_events_total{code="XID-79",kind="device_fault",run="llama",severity="error"} 3.0' in text
    assert 'rank="other"' in text
    assert "python_gc" not in text and "process_" not in text  # a private registry, not the global one
    assert "quoted" not in text  # messages are never labels
    checked = run_promtool("check", "metrics", stdin=text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
