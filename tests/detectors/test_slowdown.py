"""Slowdowns and stragglers (monitor.detectors.slowdown)."""

from __future__ import annotations

import datetime as dt
import random

from monitor.detectors.slowdown import SlowdownDetector, timer_domain
from monitor.model import Domain, Kind, Severity, TimerRecord
from monitor.settings import Settings
from tests.detectors.records import step


def steady(n: int, start: int = 100, seconds: float = 1.50, jitter: float = 0.01, seed: int = 3, **fields) -> list:
    rng = random.Random(seed)
    return [step(start + i, step_time_s=seconds * (1 + rng.gauss(0, jitter)), **fields) for i in range(n)]


def run(records: list, settings: Settings | None = None) -> list:
    detector = SlowdownDetector(settings)
    return detector.observe(records) + detector.finish()


def test_a_sustained_slowdown_is_one_event_where_it_began_with_its_ratio() -> None:
    records = steady(40) + steady(30, start=140, seconds=2.25, seed=4)
    [event] = run(records)
    assert (event.kind, event.code, event.severity) == (Kind.SLOWDOWN, "SLOWDOWN", Severity.WARNING)
    assert event.step == 140
    assert 1.45 < event.details["ratio"] < 1.55
    assert 1.45 < event.baseline < 1.55 and 2.15 < event.value < 2.35


def test_one_slow_step_after_an_eval_or_a_checkpoint_is_not_a_slowdown() -> None:
    records = steady(40) + [step(140, step_time_s=30.0)] + steady(30, start=141, seed=5)
    assert run(records) == []


def test_jitter_is_not_a_slowdown() -> None:
    assert run(steady(2000, jitter=0.03, seed=9)) == []


def test_throughput_falling_is_a_slowdown_of_its_inverse() -> None:
    records = [step(i, tokens_per_s=7300.0 + (i % 3) * 10) for i in range(30)]
    records += [step(30 + i, tokens_per_s=4800.0 + (i % 3) * 10) for i in range(10)]
    [event] = run(records)
    assert event.step == 30 and event.details["metric"] == "tokens_per_s"
    assert 4790 < event.value < 4830 and 7290 < event.baseline < 7330


def test_a_small_drop_in_a_very_steady_run_counts() -> None:
    """BLOOM-176B chronicle: iteration time 105.2 s -> 110.2 s, 111.1 s and staying (one slow GPU)."""
    records = [step(42780, step_time_s=105.16), step(42781, step_time_s=105.17), step(42782, step_time_s=106.25),
               step(42783, step_time_s=110.17), step(42784, step_time_s=111.14)]
    [event] = run(records)
    assert event.step == 42783


def test_the_event_names_the_timer_that_grew_and_where_its_time_goes() -> None:
    records: list = []
    for i in range(30):
        records.append(step(100 + i, line=2 * i, step_time_s=2.0 + 0.01 * (i % 3)))
        records.append(TimerRecord({"forward-backward": 1500.0, "all-grads-sync": 300.0}, step=100 + i,
                                   line=2 * i + 1, file="t.log"))
    for i in range(30, 34):
        records.append(step(100 + i, line=2 * i, step_time_s=3.0))
        records.append(TimerRecord({"forward-backward": 1510.0, "all-grads-sync": 1290.0}, step=100 + i,
                                   line=2 * i + 1, file="t.log"))
    [event] = run(records)
    assert event.details["timer"] == "all-grads-sync" and event.domain is Domain.INTERCONNECT


def test_a_rank_slower_than_its_peers_is_a_straggler() -> None:
    records = []
    for r in range(4):
        records += steady(50, seconds=1.5 if r != 2 else 1.8, seed=r, rank=r)
    [event] = run(records)
    assert (event.code, event.rank) == ("STRAGGLER", 2)
    assert 1.15 < event.details["ratio"] < 1.25


def test_one_interval_per_rank_names_no_straggler() -> None:
    """Ranks that each print once per logging interval, seconds apart (WeNet's `TRAIN Batch` lines,
    one per rank): the first interval of each is when it happened to print, not its speed."""
    def lines(count: int) -> list:
        interval = {0: 133.3, 1: 120.0, 2: 120.5, 3: 119.8}
        return sorted(
            (step(100 * (i + 1), rank=r, epoch_s=1000.0 + 9.0 * r + interval[r] * i, time="t")
             for r in interval for i in range(count)),
            key=lambda record: record.epoch_s,
        )

    assert run(lines(2)) == []
    assert [(e.code, e.rank) for e in run(lines(6))] == [("STRAGGLER", 0)]


def test_settings_change_what_counts() -> None:
    records = steady(40) + steady(30, start=140, seconds=1.65, seed=4)  # +10%
    assert len(run(records)) == 1
    assert run(records, Settings(slow_min_ratio=1.2)) == []


def test_timer_domain_reads_communication_data_and_compute() -> None:
    assert timer_domain("backward-params-all-reduce") == "interconnect"
    assert timer_domain("pipe_recv_grad") == "interconnect"
    assert timer_domain("batch-generator") == "workload"
    assert timer_domain("forward-compute") == "compute"


def test_without_a_step_time_the_timestamps_of_progress_lines_give_one() -> None:
    """HF Trainer logged through Python logging: only the loss dict and the line's timestamp."""
    records = [step(10 * i, loss=2.0, epoch_s=1000.0 + 20.0 * i, time="t") for i in range(30)]
    records += [step(300 + 10 * i, loss=2.0, epoch_s=1000.0 + 580 + 40.0 * (i + 1), time="t") for i in range(5)]
    [event] = run(records)
    assert event.details["metric"] == "seconds_per_step" and event.step == 300
    assert 1.9 < event.details["ratio"] < 2.1


def test_step_times_that_swing_many_times_over_are_an_erratic_slowdown() -> None:
    """NiftyNet-style `(94.56s)` per iteration between 3 s steps: an input pipeline that stalls now
    and then. Swings that large make a rolling median's noise estimate useless, so they are judged
    against the fast steps of the last ten."""
    times = [3.2, 3.1, 3.3, 94.6, 43.0, 3.2, 98.1, 6.3, 3.3, 35.3, 7.0, 79.6]
    [event] = run([step(100 + i, step_time_s=t) for i, t in enumerate(times)])
    assert (event.kind, event.code, event.step) == (Kind.SLOWDOWN, "SLOWDOWN", 103)
    assert event.details["reason"] == "erratic" and event.details["slow_steps"] >= 3


def test_a_few_slow_steps_in_a_steady_run_are_not_erratic() -> None:
    rng = random.Random(3)
    times = [2.0 * (1 + rng.gauss(0, 0.03)) for _ in range(200)]
    times[50] = times[120] = 12.0  # a data-loader hiccup now and then
    assert run([step(i, step_time_s=t) for i, t in enumerate(times)]) == []


def _hand4whole(speeds: list[float], gap_before: int | None, gap_s: float = 300.0) -> str:
    """Hand4Whole-style progress lines (mks0601/Hand4Whole_RELEASE `main/train.py`: `Epoch %d/%d itr
    %d/%d:`, `lr: %g`, `speed: %.2f(%.2fs r%.2f)s/itr` of the running-average timers, `%.2fh/epoch`,
    then the losses; logged with a `%m-%d %H:%M:%S` timestamp), two seconds apart, with a gap of
    `gap_s` before the line at index `gap_before`."""
    import datetime as dt

    clock = dt.datetime(2024, 9, 24, 22, 50, 0)
    lines = []
    losses = [0.2731, 0.2702, 0.2784, 0.2748, 0.2701]
    for i, speed in enumerate(speeds):
        if i == gap_before:
            clock += dt.timedelta(seconds=gap_s)
        lines.append(
            f"{clock:%m-%d %H:%M:%S} Epoch 0/7 itr {60 + i}/3489: lr: 0.0001 speed: {speed:.2f}(0.65s r1.70)s/itr "
            f"{speed / 3600 * 3489:.2f}h/epoch loss_joint_proj: {losses[i % 5]:.4f} loss_smpl_pose: 0.1208"
        )
        clock += dt.timedelta(seconds=2)
    return "\n".join(lines)


def _kinds(text: str) -> list[tuple[str, int | None]]:
    from tests.conftest import fault_events

    return [(e.code, e.step) for e in fault_events(text) if e.kind in (Kind.SLOWDOWN, Kind.HANG)]


def test_progress_that_resumes_slower_after_a_stall_is_a_slowdown_too() -> None:
    """A 5-minute data-read stall, then the printed average step time jumps 1.5x on the line after
    the resumed one, and the log ends: the stall, and the slowdown it left."""
    speeds = [2.40 - 0.005 * i for i in range(14)]
    text = _hand4whole([*speeds, speeds[-1], 3.60], gap_before=14)
    assert _kinds(text) == [("STALL", 73), ("SLOWDOWN", 75)]
    from tests.conftest import fault_events

    [event] = [e for e in fault_events(text) if e.code == "SLOWDOWN"]
    assert event.details["reason"] == "after-stall" and event.details["stall_s"] == 302.0
    assert 1.4 < event.details["ratio"] < 1.6


def test_a_stall_after_which_the_speed_is_unchanged_is_only_a_stall() -> None:
    speeds = [2.40 - 0.005 * i for i in range(14)]
    assert _kinds(_hand4whole([*speeds, speeds[-1], speeds[-1]], gap_before=14)) == [("STALL", 73)]


def test_one_slow_line_at_the_end_without_a_stall_is_not_a_slowdown() -> None:
    speeds = [2.40 - 0.005 * i for i in range(14)]
    assert _kinds(_hand4whole([*speeds, speeds[-1], 3.60], gap_before=None)) == []


def test_a_slow_line_whose_own_interval_holds_the_stall_is_only_the_stall() -> None:
    """The line right after the gap may count the gap in its timing: that says nothing about the
    speed afterwards."""
    speeds = [2.40 - 0.005 * i for i in range(14)]
    assert _kinds(_hand4whole([*speeds, speeds[-1], 3.60], gap_before=15)) == [("STALL", 74)]


def test_a_first_step_far_from_the_next_is_the_warm_up_and_no_baseline() -> None:
    """A first iteration timed at almost nothing (a timer starting) or at a minute (compilation)
    says nothing of the run's pace: neither makes the steady steps after it a slowdown, nor hides one."""
    assert run([step(0, step_time_s=0.0004)] + steady(5, start=20, seconds=1.2)) == []
    records = [step(0, step_time_s=60.0)] + steady(8, start=1, seconds=1.2) + steady(8, start=9, seconds=1.75, seed=4)
    [event] = run(records)
    assert event.step == 9 and 1.15 < event.baseline < 1.25


def test_training_first_steps_settle_before_a_small_drop_counts() -> None:
    """MXNet's Speedometer (`Iter[0] Batch [10]  Speed: 201.07 samples/sec`, python/mxnet/callback.py) at the
    start of a run: throughput drifts down a few percent over its first records and stays. A log that
    begins at training's first logged step needs `slow_short_ratio` until the baseline is full; the same
    drop mid-run, or a clear one at the start, is still a slowdown."""
    start = steady(6, start=1, seconds=1.0, jitter=0.003) + steady(8, start=7, seconds=1.06, jitter=0.003, seed=4)
    assert run(start) == []
    mid_run = steady(6, start=42780, seconds=1.0, jitter=0.003) + steady(8, start=42786, seconds=1.06,
                                                                       jitter=0.003, seed=4)
    [event] = run(mid_run)
    assert event.step == 42786
    clear = steady(6, start=1, seconds=1.0, jitter=0.003) + steady(8, start=7, seconds=1.5, jitter=0.003, seed=4)
    [event] = run(clear)
    assert event.step == 7 and 1.45 < event.details["ratio"] < 1.55
    settled = steady(30, start=1, seconds=1.0, jitter=0.003) + steady(8, start=31, seconds=1.06, jitter=0.003, seed=4)
    [event] = run(settled)
    assert event.step == 31


def test_another_line_about_a_step_already_read_is_passed_over() -> None:
    """DeepSpeed-Chat (applications/DeepSpeed-Chat/.../utils/perf.py `print_throughput`) prints
    `Model Parameters: ..., Latency: 0.54s, TFLOPs: ..., Samples/sec: 3.68, ...` after every micro-step,
    between DeepSpeed's own `step=2330, ...` and `CurrSamplesPerSec=46.8` lines: lines without a step of
    their own take the last one, and their throughput (per micro-step, alternating with gradient
    accumulation) is not the step's. One step's time is read once per rank."""
    records = []
    for k in range(12):
        records.append(step(2330 + 10 * k, samples_per_s=46.8 + 0.05 * (k % 3)))
        records += [step(2330 + 10 * k, samples_per_s=3.68 if i % 2 else 14.08) for i in range(20)]
    assert run(records) == []
    slow = [step(2330 + 10 * k, samples_per_s=46.8 if k < 8 else 15.0) for k in range(12)]
    [event] = run(slow)
    assert event.step == 2410


def test_lines_about_a_step_already_read_are_read_the_same_in_bulk() -> None:
    from tests.conftest import events_both_ways

    rows = []
    for k in range(60):
        rows.append(f"step={100 * k}, skipped=0, CurrSamplesPerSec={46.8 + 0.1 * (k % 3):.2f}, loss=0.5")
        rows += [f"Model Parameters: 0.331 B, Latency: {0.54 if i % 2 else 0.14}s, Samples/sec: "
                 f"{3.68 if i % 2 else 14.08}" for i in range(6)]
    assert "SLOWDOWN" not in events_both_ways("\n".join(rows) + "\n")


def test_a_run_whose_first_lines_print_no_time_still_settles() -> None:
    """A run's first timed record may come a few logging intervals in (modded-nanogpt prints `step_avg:nanms`
    until its timer starts): within `slow_window` intervals of training's start, it is still the start."""
    start = steady(6, start=13, seconds=1.0, jitter=0.003) + steady(8, start=19, seconds=1.06, jitter=0.003, seed=4)
    assert run(start) == []
    later = steady(6, start=400, seconds=1.0, jitter=0.003) + steady(8, start=406, seconds=1.06, jitter=0.003, seed=4)
    [event] = run(later)
    assert event.step == 406


def test_a_step_time_sampled_from_one_step_is_judged_by_the_clock_between_the_lines() -> None:
    """SiamFC-TensorFlow's scripts/train.py times one `sess.run` and prints it every ten steps (`step %d,
    total loss = %.2f, batch loss = %.2f (%.1f examples/sec; %.3f sec/batch; ...)`): three slow samples
    in a row while the time of day shows the ten steps between lines going at their usual pace are no
    slowdown. The same samples with the clock slowing as much are one."""
    from tests.conftest import events_both_ways

    def log(slow_clock: bool) -> str:
        rows, now = [], 1_700_000_000.0
        for i in range(1, 61):
            slow = 40 <= i < 43
            sample = 0.150 if slow else (0.040, 0.046, 0.052)[i % 3]
            now += 0.5 * (3.0 if slow and slow_clock else 1.0) + 0.01 * (i % 4)
            stamp = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
            rows.append(f"INFO - root - {stamp}: step {10 * i}, total loss = 1.2{i % 10}, batch loss = 0.8{i % 7} "
                        f"({32 / sample:.1f} examples/sec; {sample:.3f} sec/batch; 1h:20m:00s remains)")
        return "\n".join(rows) + "\n"

    assert "SLOWDOWN" not in events_both_ways(log(slow_clock=False))
    assert events_both_ways(log(slow_clock=True)).count("code='SLOWDOWN'") == 1

