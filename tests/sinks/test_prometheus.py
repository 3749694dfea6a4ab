"""The exporter: values read back from a private registry, series identity (rank, else source),
event labels that join with dcgm-exporter, counters with their creation time, the series caps, and
a real scrape over HTTP whose exposition promtool accepts without a word."""

from __future__ import annotations

import math
import threading
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from monitor import __version__
from monitor.model import Event, Kind, Severity, StepRecord
from monitor.sinks.metrics_server import serve, shutdown
from monitor.sinks.prometheus import GAUGES, LiveMetrics, MonitorCollector, device_label
from tests.sinks.test_alert_rules import run_promtool

NOW = 1_700_000_000.0


def registry_for(metrics: LiveMetrics) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(MonitorCollector(metrics))
    return registry


def labels(run: str = "llama", rank: str = "0", node: str = "gpu1", source: str = "") -> dict[str, str]:
    return {"run": run, "rank": rank, "source": source, "node": node}


def event_labels(run: str = "llama", node: str = "host1", device: str = "", kind: str = "device_fault",
                 severity: str = "error", code: str = "XID-79") -> dict[str, str]:
    return {"run": run, "node": node, "device": device, "kind": kind, "severity": severity, "code": code}


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
    metrics.observe("llama", StepRecord(step=7, loss=math.nan), "train.log")
    registry = registry_for(metrics)
    unranked = labels(rank="", node="", source="train.log")
    assert registry.get_sample_value("monitor_step", unranked) == 7
    assert math.isnan(registry.get_sample_value("monitor_loss", unranked))
    names = {m.name for m in registry.collect() for _ in m.samples}
    assert "monitor_learning_rate" not in names
    assert "monitor_last_progress_timestamp_seconds" not in names
    assert "monitor_hang" not in names
    assert "monitor_events" not in names
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name != "monitor_loss":
                assert not math.isnan(sample.value), sample


def test_label_sets() -> None:
    metrics = LiveMetrics(host="host1")
    metrics.observe("llama", full_record(rank=3, node="gpu2"))
    metrics.progress("llama", 3, "gpu2", NOW - 1)
    metrics.hang("llama", 3, False)
    metrics.event("llama", event(file="/logs/rank3.log", step=120, evidence="Xid 79", rank=3, node="gpu2"))
    families = {m.name: m for m in registry_for(metrics).collect()}
    for name in [name for name, _ in GAUGES.values()] + ["monitor_last_progress_timestamp_seconds", "monitor_hang"]:
        assert [s.labels for s in families[name].samples] == [labels(rank="3", node="gpu2")], name
        assert families[name].type == "gauge" and families[name].documentation, name
    counter = families["monitor_events"]
    assert counter.type == "counter" and counter.documentation
    assert [s.labels for s in counter.samples if s.name == "monitor_events_total"] == [event_labels(node="gpu2")]
    assert [s.labels for s in families["monitor_build_info"].samples] == [{"version": __version__}]


def test_events_count_by_kind_severity_and_code() -> None:
    metrics = LiveMetrics(host="host1")
    metrics.event("llama", event())
    metrics.event("llama", event(count=41))
    metrics.event("llama", event(kind=Kind.HANG, severity=Severity.WARNING, code=None))
    metrics.event("mistral", event())
    value = registry_for(metrics).get_sample_value
    key = event_labels()
    assert value("monitor_events_total", key) == 42
    assert value("monitor_events_total", {**key, "run": "mistral"}) == 1
    assert value("monitor_events_total", event_labels(kind="hang", severity="warning", code="")) == 1
    metrics.event("llama", event(count=8))
    assert value("monitor_events_total", key) == 50


def test_last_progress_is_a_timestamp_and_hang() -> None:
    """A timestamp, not "seconds since": a scrape served late cannot understate the silence."""
    metrics = LiveMetrics()
    metrics.progress("llama", 0, "gpu1", NOW - 30)
    metrics.progress("llama", 1, None, NOW - 5)
    metrics.hang("llama", 0, True)
    value = registry_for(metrics).get_sample_value
    assert value("monitor_last_progress_timestamp_seconds", labels()) == NOW - 30
    assert value("monitor_last_progress_timestamp_seconds", labels(rank="1", node="")) == NOW - 5
    assert value("monitor_hang", labels()) == 1
    assert value("monitor_hang", labels(rank="1", node="")) is None
    metrics.hang("llama", 0, False)
    metrics.progress("llama", 0, "gpu1", NOW)
    assert value("monitor_hang", labels()) == 0
    assert value("monitor_last_progress_timestamp_seconds", labels()) == NOW


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
    assert registry.get_sample_value("monitor_last_progress_timestamp_seconds", other) == NOW - 10  # the latest
    metrics.hang("llama", 3, True)
    metrics.hang("llama", 4, False)
    assert registry.get_sample_value("monitor_hang", other) == 1  # rank 3 still hangs
    metrics.hang("llama", 3, False)
    assert registry.get_sample_value("monitor_hang", other) == 0


def test_the_cap_bounds_the_series_whatever_arrives() -> None:
    metrics = LiveMetrics(max_series=10, max_files=20)
    for rank in range(16_384):
        metrics.observe("llama", StepRecord(step=1, loss=1.0, rank=rank))
        metrics.observe("llama", StepRecord(step=1, loss=1.0), f"rank{rank}/train.log")
        metrics.event("llama", event(code=f"CODE-{rank}"))
    families = {m.name: m for m in registry_for(metrics).collect()}
    sources = {s.labels["source"] for s in families["monitor_loss"].samples}
    # 10 series (the first 5 ranks and 5 files), then one rank="other" and one source="other" series
    assert len(families["monitor_loss"].samples) == 12 and {"", "other"} <= sources and len(sources) == 2 + 5
    totals = [s for s in families["monitor_events"].samples if s.name == "monitor_events_total"]
    assert len(totals) == 11
    assert families["monitor_series_dropped"].samples[0].value == 3 * 16_384 - 10 - 10
    assert "other" in {s.labels["code"] for s in totals}


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
    assert registry.get_sample_value("monitor_events_total", {**key, "node": metrics.host, "device": ""}) == 8 * 500
    assert registry.get_sample_value("monitor_step", labels(rank="7", node="")) == 499


def test_describe_lets_a_registry_reject_a_second_copy() -> None:
    registry = CollectorRegistry()
    registry.register(MonitorCollector(LiveMetrics()))
    with pytest.raises(ValueError, match="monitor_step"):
        registry.register(MonitorCollector(LiveMetrics()))


def test_served_over_http_on_an_ephemeral_port_and_promtool_finds_nothing() -> None:
    metrics = LiveMetrics(max_series=2, host="host1")
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
    assert 'monitor_loss{node="gpu1",rank="0",run="llama",source=""} NaN' in text
    assert 'monitor_loss{node="gpu2",rank="1",run="llama",source=""} +Inf' in text
    assert ('monitor_events_total{code="XID-79",device="",kind="device_fault",node="host1",run="llama",'
            'severity="error"} 3.0') in text
    assert 'monitor_events_created{code="XID-79",device="",kind="device_fault",node="host1"' in text
    assert 'rank="other"' in text
    assert "process_start_time_seconds" in text and "process_open_fds" in text  # the agent's own process
    assert "python_gc" not in text  # a private registry, not the global one
    assert "quoted" not in text  # messages are never labels
    checked = run_promtool("check", "metrics", stdin=text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


@pytest.mark.parametrize(("printed", "label"), [
    ("0000:3b:00", "00000000:3B:00.0"),  # NVRM's Xid line: `NVRM: Xid (PCI:0000:3b:00): 79, ...`
    ("0000:3B:00.0", "00000000:3B:00.0"),  # the kernel's and nvidia-smi's domain:bus:device.function
    ("00000000:3B:00.0", "00000000:3B:00.0"),  # NVML's own form, as dcgm-exporter's pci_bus_id label has it
    ("3b:00.1", "00000000:3B:00.1"),
    ("3", "3"),  # a GPU or NPU index, as printed
    (None, ""),
])
def test_device_labels_take_dcgm_exporters_pci_bus_id_form(printed: str | None, label: str) -> None:
    """dcgm-exporter labels every GPU metric with pci_bus_id="00000000:0D:00.0" (NVML's busId; sample
    output in NVIDIA/dcgm-exporter's README), so an event's device must be written the same way to join."""
    assert device_label(printed) == label


def test_events_carry_the_node_and_device_for_a_join_with_dcgm_exporter() -> None:
    metrics = LiveMetrics(host="agent-host")
    metrics.event("llama", event(severity=Severity.CRITICAL, node="gpu7", device="0000:3b:00"))
    metrics.event("llama", event(code="CUDA-ECC-UNCORRECTABLE"))  # the line names no host: the agent's
    value = registry_for(metrics).get_sample_value
    assert value("monitor_events_total", event_labels(node="gpu7", device="00000000:3B:00.0",
                                                      severity="critical")) == 1
    assert value("monitor_events_total", event_labels(node="agent-host", code="CUDA-ECC-UNCORRECTABLE")) == 1


def test_rankless_files_are_series_of_their_own() -> None:
    """Three rank-less logs (nanoGPT, HF Trainer, Megatron print no rank) stay three series."""
    metrics = LiveMetrics()
    for step, source in enumerate(("nanogpt.log", "hf/trainer.log", "megatron.log"), start=1):
        metrics.observe("llama", StepRecord(step=step, loss=float(step)), source)
        metrics.progress("llama", None, None, NOW + step, source)
    metrics.hang("llama", None, True, "megatron.log")
    value = registry_for(metrics).get_sample_value
    assert value("monitor_step", labels(rank="", node="", source="nanogpt.log")) == 1
    assert value("monitor_step", labels(rank="", node="", source="hf/trainer.log")) == 2
    assert value("monitor_loss", labels(rank="", node="", source="megatron.log")) == 3
    hf = labels(rank="", node="", source="hf/trainer.log")
    assert value("monitor_last_progress_timestamp_seconds", hf) == NOW + 2
    assert value("monitor_hang", labels(rank="", node="", source="megatron.log")) == 1
    assert value("monitor_hang", labels(rank="", node="", source="nanogpt.log")) is None


def test_sources_beyond_the_cap_are_aggregated_and_counted() -> None:
    metrics = LiveMetrics(max_files=2)
    for i in range(4):
        metrics.observe("llama", StepRecord(step=10 + i), f"f{i}.log")
    metrics.hang("llama", None, True, "f3.log")
    value = registry_for(metrics).get_sample_value
    assert value("monitor_step", labels(rank="", node="", source="f1.log")) == 11
    assert value("monitor_step", labels(rank="", node="", source="other")) == 13
    assert value("monitor_hang", labels(rank="", node="", source="other")) == 1
    assert value("monitor_series_dropped_total") == 2


def test_counters_carry_their_creation_time() -> None:
    """prometheus_client exposes `_created` for counters; each event series is created when first counted."""
    clock = iter([NOW, NOW + 5, NOW + 9]).__next__
    metrics = LiveMetrics(host="host1", clock=clock)  # started at NOW
    metrics.event("llama", event())  # NOW + 5
    metrics.event("llama", event())  # the same series: no new creation time
    metrics.event("llama", event(code="XID-31"))  # NOW + 9
    value = registry_for(metrics).get_sample_value
    assert value("monitor_events_created", event_labels()) == NOW + 5
    assert value("monitor_events_created", event_labels(code="XID-31")) == NOW + 9
    assert value("monitor_series_dropped_created") == NOW
