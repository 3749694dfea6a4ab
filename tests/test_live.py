"""The live pipeline of `monitor tail` (monitor.live): no-progress deadlines, de-duplication, replay.

Time is injected: a fake clock the test moves forward, never sleep.
"""

from __future__ import annotations

import json

from monitor.live import Deduper, HangWatch, LiveScan, Replayer
from monitor.model import Event, Kind, Severity
from monitor.settings import Settings
from monitor.sources.files import Source
from monitor.sources.lines import Batch
from tests.detectors.records import step


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_no_progress_fires_at_the_deadline_and_clears_when_progress_resumes() -> None:
    watch = HangWatch(Settings(hang_factor=10, hang_min_s=60))
    for i in range(6):
        assert watch.progress("r.log", step(100 + i, rank=0), 1000.0 + 10 * i) is None
    assert watch.next_deadline() == 1050.0 + 100.0  # 10 x the usual 10 s
    assert watch.check(1149.9) == []
    [hang] = watch.check(1150.0)
    assert (hang.code, hang.kind, hang.severity, hang.rank, hang.step) == ("NO-PROGRESS", Kind.HANG, Severity.ERROR,
                                                                          0, 105)
    assert watch.check(1200.0) == []  # once per hang
    resumed = watch.progress("r.log", step(106, rank=0), 1300.0)
    assert resumed is not None and (resumed.code, resumed.severity) == ("PROGRESS-RESUMED", Severity.INFO)
    assert watch.hanging() == []


def test_the_floor_the_fixed_deadline_the_start_up_and_the_pause_allowances() -> None:
    settings = Settings(hang_factor=10, hang_min_s=120, hang_init_s=1800, hang_pause_s=900)
    watch = HangWatch(settings)
    watch.progress("r.log", step(1), 0.0)
    assert watch.next_deadline() == 1800.0  # no usual interval yet: the start-up allowance
    for i in range(2, 6):
        watch.progress("r.log", step(i), float(i))
    assert watch.next_deadline() == 5.0 + 120.0  # 10 x 1 s is under the 120 s floor
    watch.pause("r.log", 6.0)
    assert watch.next_deadline() == 6.0 + 900.0
    fixed = HangWatch(settings, hang_after=30.0)
    fixed.progress("r.log", step(1), 0.0)
    assert fixed.next_deadline() == 30.0


def test_a_restart_brings_back_the_start_up_allowance() -> None:
    watch = HangWatch(Settings(hang_init_s=1800, hang_min_s=60))
    for i in range(10):
        watch.progress("r.log", step(500 + i), float(i))
    watch.progress("r.log", step(400), 20.0)  # resumed from an older checkpoint
    assert watch.next_deadline() == 20.0 + 1800.0


def test_a_finding_is_announced_once_per_episode() -> None:
    dedupe = Deduper(gap_s=1800)
    event = Event(kind=Kind.COMM_ERROR, severity=Severity.ERROR, message="x", code="NCCL-REMOTE-ERROR", file="a")
    assert dedupe.fresh(event, 0.0)
    assert not dedupe.fresh(event, 600.0)
    assert dedupe.fresh(event, 600.0 + 1801.0)


def test_live_scan_raises_the_same_events_as_a_scan_and_watches_progress() -> None:
    clock = Clock()
    seen = []
    live = LiveScan(Settings(), hang_after=60.0, on_record=lambda name, record, now: seen.append(record.step),
                    clock=clock, wall=clock)
    lines = [f"step={s} loss=2.{s % 10}" for s in range(1, 6)]
    assert live.feed("train.log", None, Batch(1, lines)) == []
    assert seen == [1, 2, 3, 4, 5]
    fault = "RuntimeError: CUDA error: an illegal memory access was encountered"
    events = live.feed("train.log", None, Batch(6, [fault]))
    assert [e.code for e in events] == ["CUDA-ILLEGAL-ADDRESS"]
    clock.now += 61
    [hang] = live.check()
    assert hang.code == "NO-PROGRESS" and hang.step == 5


def test_replay_paces_lines_by_their_timestamps_at_speed() -> None:
    wall = Clock(0.0)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        wall.now += seconds

    source = Source("t.log", None)
    lines = ["2025-03-04 10:00:00 step=1 loss=2.0", "no time here", "2025-03-04 10:00:30 step=2 loss=2.0",
             "2025-03-04 10:01:30 step=3 loss=2.0"]
    replayer = Replayer([source], speed=10.0, year=2025, sleep=sleep, wall=wall)
    replayer._lines = lambda index, source: iter(  # type: ignore[method-assign]
        [(stamp, index, n, line) for n, (stamp, line) in enumerate(
            [(0.0, lines[0]), (0.0, lines[1]), (30.0, lines[2]), (90.0, lines[3])], 1)]
    )
    delivered = [(batch.first_line, batch.lines[0]) for _source, batch in replayer.batches()]
    assert [n for n, _ in delivered] == [1, 2, 3, 4]
    assert slept == [3.0, 6.0]  # 30 s and 60 s of log time at 10x
    assert replayer.clock() == 90.0  # the log's own time


def test_tail_replay_streams_the_events_of_the_sample_run(run_cli) -> None:
    result = run_cli("tail", "--replay", "1000000", "--format", "jsonl", "sample_logs/gpu_fell_off_bus")
    codes = [json.loads(line)["code"] for line in result.out.splitlines()]
    assert codes[0] == "XID-79"
    assert {"NCCL-WATCHDOG-TIMEOUT", "NO-PROGRESS", "TORCHELASTIC-CHILD-FAILED"} <= set(codes)
    assert codes.index("NO-PROGRESS") < codes.index("NCCL-WATCHDOG-TIMEOUT")  # the hang is seen before NCCL gives up
    assert result.code == 1


def test_tail_links_causes_across_the_files_it_follows(run_cli) -> None:
    """The kernel's Xid in one file is the cause of the job log's NCCL timeout in another, live as in `scan`."""
    result = run_cli("tail", "--replay", "1000000", "--format", "jsonl", "sample_logs/gpu_fell_off_bus")
    events = [json.loads(line) for line in result.out.splitlines()]
    [xid] = [e for e in events if e["code"] == "XID-79"]
    [timeout] = [e for e in events if e["code"] == "NCCL-WATCHDOG-TIMEOUT"]
    assert xid["role"] == "root" and xid["cause"] is None
    assert timeout["role"] == "cascade" and timeout["cause"].startswith("XID-79 on node07")
    assert {e["run"] for e in events} == {"gpu_fell_off_bus"}


def test_the_current_root_cause_is_a_metric() -> None:
    from monitor.correlate import LiveCausality
    from monitor.model import Domain, Event, Kind, Role, Severity
    from monitor.sinks.prometheus import LiveMetrics
    from tests.sinks.test_prometheus import registry_for

    xid = Event(Kind.DEVICE_FAULT, Severity.CRITICAL, "Xid 79", code="XID-79", node="node07", file="kern.log",
                line=4, time="2025-03-04T10:00:00+00:00", domain=Domain.HARDWARE, role=Role.ROOT)
    timeout = Event(Kind.HANG, Severity.ERROR, "NCCL timeout", code="NCCL-WATCHDOG-TIMEOUT", rank=3,
                    file="job.log", line=90, time="2025-03-04T10:30:00+00:00", role=Role.CASCADE)
    causality = LiveCausality("job-1")
    first = causality.explain([xid])
    assert causality.root is None and first[0].run == "job-1"
    [linked] = causality.explain([timeout])
    assert linked.cause == first[0].label() and causality.root == first[0]
    metrics = LiveMetrics()
    metrics.root_cause("job-1", causality.root)
    registry = registry_for(metrics)
    labels = {"run": "job-1", "code": "XID-79", "kind": "device_fault", "node": "node07", "rank": ""}
    assert registry.get_sample_value("monitor_root_cause_info", labels) == 1.0
