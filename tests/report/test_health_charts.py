"""The training-health charts show the incident: fault, hang, NaN and restart markers on the curves,
outages as gaps, a wall-time axis over the whole log, the eval loss, and the step time of tqdm bars.

The sample logs are the ones the README uses: a GPU on node07 falls off the bus (XID-79) and the run
hangs until the NCCL watchdog fires; an uncorrectable ECC error on node12 kills the job twice and the
scheduler restarts it; a Megatron run whose loss turns NaN; a healthy Hugging Face Trainer run.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import monitor
from monitor.model import Event, Kind, Role, Severity
from monitor.parsers.bars import BarParser
from monitor.parsers.base import ParseContext
from monitor.parsers.hf_trainer import HFTrainerParser
from monitor.report.analysis import _derived_step_time, health
from monitor.report.axes import number_label, time_axis
from monitor.report.charts import LEFT, RIGHT, line_chart
from monitor.report.html import render_html

SAMPLES = Path(__file__).resolve().parents[2] / "sample_logs"
SCRIPT = "<script>alert(1)</script>"


def health_of(sample: str) -> dict[str, Any]:
    loaded = monitor.load(str(SAMPLES / sample))
    return health(loaded, loaded.event_list)


def charts(html: str) -> list[ET.Element]:
    """Every chart of the page, parsed as XML (so the markup must be well formed)."""
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def titled(html: str, title: str) -> list[ET.Element]:
    """The charts with this title: the one over steps first, then the one over wall time."""
    return [svg for svg in charts(html) if svg.get("aria-label") == title]


def incidents(svg: ET.Element, css: str) -> list[str]:
    """The tooltips of the incident markers of one class."""
    return [g.findtext("title") or "" for g in svg.iter("g") if f"incident-{css}" in (g.get("class") or "").split()
            and "key" not in (g.get("class") or "").split()]


def segments(svg: ET.Element, series: str = "s0") -> list[str]:
    return [p.get("d") or "" for p in svg.iter("path") if (p.get("class") or "").split() == ["line", series]]


def x_of(d: str) -> list[float]:
    return [float(point.split(",")[0]) for point in d.lstrip("M").split("L")]


def page(health_doc: dict[str, Any]) -> str:
    return render_html({"health": health_doc})


# the samples, rendered


def test_the_xid_and_the_hang_are_marked_on_the_loss_chart_over_steps_and_over_time() -> None:
    by_step, by_time = titled(page(health_of("gpu_fell_off_bus")), "Loss")
    for svg in (by_step, by_time):
        faults, hangs = incidents(svg, "fault"), incidents(svg, "hang")
        assert len(faults) == 1 and "XID-79" in faults[0]
        assert len(hangs) == 1 and "NCCL-WATCHDOG-TIMEOUT x15" in hangs[0]
        legend = [t.text for t in svg.iter("text")]
        assert "fault" in legend and "hang" in legend
    # the cascades of the Xid fold into its marker instead of a line each
    assert "CUDA-UNKNOWN-ERROR" in incidents(by_time, "fault")[0]
    assert "10:31:08 UTC" in incidents(by_time, "hang")[0]


def test_the_wall_time_axis_runs_to_the_last_timestamp_and_the_silent_end_is_an_outage() -> None:
    doc = health_of("gpu_fell_off_bus")
    first, last = doc["clock"]
    assert last == pytest.approx(1741084275.443)  # srun's last line at 10:31:15, half an hour after the last step
    last_progress = max(x for x, _ in doc["series_by_time"]["loss"])
    assert last - last_progress > 1700
    (outage,) = doc["outages"]
    assert outage["to_step"] is None and outage["to_s"] == last
    _, by_time = titled(page(doc), "Loss")
    width = float(by_time.get("viewBox", "").split()[2])
    (band,) = [r for r in by_time.iter("rect") if r.get("class") == "outage"]
    assert float(band.get("x", 0)) + float(band.get("width", 0)) == pytest.approx(width - RIGHT, abs=0.2)
    assert "to the end of the logs" in (band.findtext("title") or "")
    # the curve stops well before the right edge: empty space, then the hang marker near the end
    line_end = max(x for d in segments(by_time) for x in x_of(d))
    hang_x = float(next(g for g in by_time.iter("g") if g.get("class") == "incident incident-hang")
                   .find("line").get("x1"))  # type: ignore[union-attr]
    assert line_end < width - RIGHT - 300 < hang_x
    assert "10:30" in [t.text for t in by_time.iter("text")]


def test_a_restart_s_down_time_breaks_the_line_over_wall_time() -> None:
    doc = health_of("persistent_ecc")
    assert len(doc["outages"]) == 2
    by_step, by_time = titled(page(doc), "Loss")
    assert len(segments(by_time)) == 3  # three stretches of progress, two outages between them
    # the axis starts with the kernel log, nine minutes before the first step
    assert doc["clock"][0] < min(x for x, _ in doc["series_by_time"]["loss"]) - 500
    assert min(x_of(segments(by_time)[0])) > LEFT + 60 and "09:00" in [t.text for t in by_time.iter("text")]
    assert len(incidents(by_time, "restart")) == 2 and all("STEP-RESTART" in t for t in incidents(by_time, "restart"))
    assert len(incidents(by_time, "fault")) == 2 and all("XID-48" in t for t in incidents(by_time, "fault"))
    assert len(segments(by_step)) == 3  # over steps, each restart steps back
    assert len(incidents(by_step, "restart")) == 2


def test_the_nan_is_marked_where_the_loss_stops() -> None:
    loaded = monitor.load(str(SAMPLES / "megatron_gpt_bf16_nan.log"))
    found = [e for e in loaded.event_list if e.kind in (Kind.NAN, Kind.DIVERGENCE)]
    assert found and min(e.step for e in found if e.step is not None) == 1460
    by_step, by_time = titled(page(health(loaded, loaded.event_list)), "Loss")
    for svg in (by_step, by_time):
        (nan,) = incidents(svg, "nan")  # the NaN and the divergence it starts share one marker
        assert all(e.code in nan for e in found) and "step 1,460" in nan


def test_the_eval_loss_and_the_bar_s_step_time_of_a_trainer_run() -> None:
    doc = health_of("hf_trainer_healthy.log")
    assert doc["series"]["eval_loss"] and doc["series"]["step_time_s"][0] == [25.0, 0.61]
    # the bar's elapsed time is the stall detector's clock, not a time of day: no chart over time
    assert doc["series_by_time"] == {}
    assert monitor.load(str(SAMPLES / "hf_trainer_healthy.log")).steps["epoch_s"].isna().all()
    html = page(doc)
    (loss,) = titled(html, "Loss")
    assert [t.text for t in loss.iter("text") if t.get("y") == "18"][1:] == ["loss", "eval loss"]  # the legend
    assert any(c.get("class") == "s1" for c in loss.iter("circle"))  # one evaluation: a dot in the second colour
    assert titled(html, "Step time")
    assert "step time" not in html[html.index("Not in the logs"):]


# charts


def test_an_outage_splits_a_line_into_two_paths_and_only_an_outage_does() -> None:
    pairs = [[t, 1.0 + t / 1000] for t in range(0, 600, 30)] + [[t, 2.0] for t in range(1800, 2400, 30)]
    broken = ET.fromstring(line_chart({"loss": pairs}, title="Loss", x_label="t", y_label="loss",
                                      outages=[(570, 1800, "no progress for 20m 30s")]))
    bridged = ET.fromstring(line_chart({"loss": pairs}, title="Loss", x_label="t", y_label="loss"))
    assert len(segments(broken)) == 2 and len(segments(bridged)) == 1
    assert x_of(segments(broken)[0])[-1] < x_of(segments(broken)[1])[0]


def test_the_x_range_stretches_the_axis_past_the_data() -> None:
    start = 1_741_078_860.0
    svg = ET.fromstring(line_chart({"loss": [[start + 60 * i, 1.0] for i in range(61)]}, title="Loss",
                                   x_label="time", y_label="loss", x_time=True, x_range=(start, start + 5400)))
    (d,) = segments(svg)
    assert max(x_of(d)) < 900 - RIGHT - 250
    assert [t.text for t in svg.iter("text")][-8:-2] == ["09:15", "09:30", "09:45", "10:00", "10:15", "10:30"]


def test_incident_tooltips_are_escaped_and_a_storm_shares_one_marker() -> None:
    storm = [(100 + i * 0.01, "fault", f"fault: XID-{i} {SCRIPT}") for i in range(40)]
    svg = line_chart({"loss": [[0, 1.0], [200, 2.0]]}, title="Loss", x_label="step", y_label="loss",
                     incidents=[*storm, (150, "restart", "restart: STEP-RESTART"), (150, "bogus", "x")])
    assert "<script" not in svg and "&lt;script&gt;" in svg
    parsed = ET.fromstring(svg)
    (fault,) = incidents(parsed, "fault")
    assert "XID-0 " in fault and "… and 28 more" in fault
    assert len(incidents(parsed, "restart")) == 1 and not incidents(parsed, "bogus")


def test_a_cascade_storm_folds_into_its_root_and_each_restart_keeps_its_marker() -> None:
    def event(code: str, kind: Kind, role: Role, line: int, **fields: Any) -> Event:
        return Event(kind=kind, severity=Severity.ERROR, message=code, code=code, file="train.log", line=line,
                     step=100, role=role, **fields)

    root = event("XID-79", Kind.DEVICE_FAULT, Role.ROOT, 1, time="2025-03-04T10:00:00Z")
    storm = [event("NCCL-SYSTEM-ERROR", Kind.COMM_ERROR, Role.CASCADE, 10 + i, cause=root.label()) for i in range(100)]
    hangs = [event("NCCL-WATCHDOG-TIMEOUT", Kind.HANG, Role.CASCADE, 200 + i, cause=root.label()) for i in range(50)]
    restarts = [event("STEP-RESTART", Kind.RESTART, Role.CASCADE, 300 + i) for i in range(2)]
    loaded = monitor.load(str(SAMPLES / "megatron_gpt_bf16_nan.log"))
    found = health(loaded, [root, *storm, *hangs, *restarts])["incidents"]
    assert sorted(i["class"] for i in found) == ["fault", "hang", "restart", "restart"]
    fault = next(i for i in found if i["class"] == "fault")
    assert fault["codes"] == [["XID-79", 1], ["NCCL-SYSTEM-ERROR", 100]]


def test_step_time_comes_from_the_timestamps_when_the_log_prints_none() -> None:
    rows = pd.DataFrame({"epoch_s": [0.0, 20.0, 40.0, 2000.0, 2020.0], "step": [0, 10, 20, 30, 40]})
    derived = _derived_step_time(rows, limit=300.0).tolist()
    assert derived[1:3] == [2.0, 2.0] and derived[4] == 2.0
    assert math.isnan(derived[0]) and math.isnan(derived[3])  # the outage is no step time


# parsers: tqdm's rate is the step time


@pytest.mark.parametrize("line, seconds", [
    ("Epoch 2:  40%|████      | 8/20 [00:31<00:47,  3.92s/it, loss=4.51, v_num=7]", 3.92),
    ("Epoch 0:  63%|██████▎   | 630/1000 [05:12<03:03,  2.50it/s, v_num=3, train_loss_step=0.482]", 0.4),
    ("Epoch 0:  0%|          | 1/1000 [00:01<?, ?it/s, loss=4.51]", None),
])
def test_a_bar_s_rate_is_its_records_step_time(line: str, seconds: float | None) -> None:
    record = BarParser().parse(line, 1, ParseContext("train.log"))
    assert record is not None and record.step_time_s == seconds


def test_a_trainer_dict_takes_the_step_time_of_the_bar_before_it() -> None:
    ctx = ParseContext("train.log")
    assert BarParser().parse("  6%|          | 25/400 [00:15<03:48, 0.61s/it]", 1, ctx) is None
    record = HFTrainerParser().parse("{'loss': 2.126, 'grad_norm': 0.5792, 'epoch': 0.12}", 2, ctx)
    assert record is not None and record.step == 25 and record.step_time_s == 0.61
    restored = ParseContext("train.log")
    restored.restore(ctx.snapshot())
    assert restored.bar_step_time_s == 0.61
    restored.restore((25, 400, 2025))  # a state saved before the rate was kept
    assert restored.bar_step_time_s is None


# tick labels


@pytest.mark.parametrize("values, step, expected", [
    ([0, 500, 1000, 1500, 2000], 500, ["0", "500", "1,000", "1,500", "2,000"]),
    ([0, 5000, 10000, 15000], 5000, ["0", "5k", "10k", "15k"]),
    ([2.5e6, 3e6], 5e5, ["2.5M", "3M"]),
    ([0.0001, 0.00025], 0.00015, ["1e-4", "2.5e-4"]),
    ([0.1, 0.15, 0.2], 0.05, ["0.1", "0.15", "0.2"]),
])
def test_every_axis_formats_numbers_by_one_rule(values: list[float], step: float, expected: list[str]) -> None:
    assert number_label(values, step) == expected


def test_time_ticks_read_as_clock_times_and_as_dates_over_long_spans() -> None:
    start = 1_741_078_860.0  # 2025-03-04 09:01 UTC
    assert time_axis([start, start + 5400], 0, 100).labels == ("09:15", "09:30", "09:45", "10:00", "10:15", "10:30")
    assert time_axis([start, start + 20 * 86400], 0, 100).labels[0] == "Mar 06"
    overnight = time_axis([start + 12 * 3600, start + 20 * 3600], 0, 100).labels
    assert overnight[0].endswith(":00") and any(label.startswith("Mar 05 ") for label in overnight)


def test_outage_spans_are_found_as_a_scan_of_every_band_finds_them() -> None:
    """A chart line is broken where it would span a whole outage band; the lookup over sorted
    bands (a report of a long log has thousands) answers as checking every band does."""
    import math
    import random

    from monitor.report.charts import _Outages

    rng = random.Random(5)
    for _ in range(200):
        bands = []
        for _ in range(rng.randrange(0, 12)):
            lo = rng.uniform(0, 100)
            bands.append((lo, lo + rng.uniform(0, 20), "gap"))
        outages = _Outages(bands)
        for _ in range(50):
            a, b = sorted((rng.uniform(-10, 130), rng.uniform(-10, 130)))
            assert outages.spanned(a, b) == any(a <= lo and b >= hi for lo, hi, _ in bands)
        assert not outages.spanned(math.nan, 200.0)
