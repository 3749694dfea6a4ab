"""Stalls and unfinished runs (monitor.detectors.stall)."""

from __future__ import annotations

from monitor.detectors.stall import StallDetector
from monitor.model import Heartbeat, Kind, Pause, Severity
from monitor.settings import Settings
from tests.detectors.records import step


def timed(n: int, start_step: int = 1, start_s: float = 1_700_000_000.0, every_s: float = 10.0, **fields) -> list:
    return [step(start_step + i, epoch_s=start_s + i * every_s, time="t", **fields) for i in range(n)]


def run(records: list, settings: Settings | None = None) -> list:
    detector = StallDetector(settings)
    return detector.observe(records) + detector.finish()


def test_a_long_gap_between_progress_lines_is_a_stall_with_its_duration() -> None:
    records = timed(30) + timed(10, start_step=31, start_s=1_700_000_000.0 + 29 * 10 + 3600)
    [event] = run(records)
    assert (event.kind, event.code, event.severity) == (Kind.HANG, "STALL", Severity.WARNING)
    assert event.step == 30 and event.details["resumed_step"] == 31
    assert event.value == 3600 and event.baseline == 10
    assert "1h 00m" in event.message


def test_a_gap_after_a_checkpoint_save_is_not_a_stall() -> None:
    """Megatron-LM prints `saving checkpoint at iteration N to DIR` before a save (training.py)."""
    records = timed(30)
    records.append(Pause("t.log", 1000, "saving checkpoint at iteration 30 to /ckpt"))
    records += timed(5, start_step=31, start_s=1_700_000_000.0 + 29 * 10 + 3600)
    assert run(records) == []


def test_the_usual_interval_before_enough_gaps_is_the_step_time_times_the_steps_per_line() -> None:
    records = [step(10, step_time_s=2.0, epoch_s=1000.0, time="t"),
               step(36, step_time_s=2.0, epoch_s=1052.0, time="t"),
               step(62, step_time_s=2.0, epoch_s=1104.0, time="t")]
    assert run(records, Settings(stall_min_s=30)) == []  # 52 s for 26 steps of 2 s: on time


def test_gaps_within_the_usual_rhythm_or_holding_an_evaluation_are_not_stalls() -> None:
    records = timed(30)
    records.append(step(30, eval_loss=2.1, line=1000))
    records += timed(5, start_step=31, start_s=1_700_000_000.0 + 29 * 10 + 3600)
    assert run(records) == []
    assert run(timed(500, every_s=10.0)) == []


def test_a_run_that_ends_below_its_total_while_the_log_goes_on_is_unfinished() -> None:
    """BLOOM-176B chronicle: iteration 45000 of 115311, then only hourly PULSE lines for two hours."""
    records = [step(45000, step_time_s=111.0, total_steps=115311, line=1)]
    records += [Heartbeat("2022-05-01T03:56:11", 1651377371.0, "t.log", 5, "PULSE ..."),
                Heartbeat("2022-05-01T05:56:18", 1651384578.0, "t.log", 10, "PULSE ...")]
    [event] = run(records)
    assert (event.code, event.kind, event.severity) == ("UNFINISHED-RUN", Kind.HANG, Severity.ERROR)
    assert event.step == 45000 and event.line == 10
    assert event.value == 7207 and event.details["at_least"] is True


def test_a_run_that_said_it_stops_on_purpose_is_not_unfinished() -> None:
    """Megatron-LM's `--exit-duration-in-mins` prints `[exiting program after N minutes]` (training.py)
    after its last save; the job queue's chatter that follows is no missing progress. A later
    attempt that makes progress again clears it."""
    records = [step(33240, step_time_s=23.5, total_steps=311541, line=1),
               Pause("t.log", 4, "[exiting program after 1190.03 minutes] datetime: 2021-08-08 01:00:51", end=True),
               Heartbeat("2021-08-08T01:49:40", 1628387380.0, "t.log", 5, "***ALERT: not RUNNING***"),
               Heartbeat("2021-08-08T03:56:54", 1628395014.0, "t.log", 7, "is scheduled to start")]
    assert run(records) == []
    again = [step(33300, step_time_s=23.5, total_steps=311541, line=20),
             Heartbeat("2021-08-12T01:49:40", 1628732980.0, "t.log", 25, "x"),
             Heartbeat("2021-08-13T05:56:54", 1628834214.0, "t.log", 30, "y")]
    assert [e.code for e in run(records + again)] == ["UNFINISHED-RUN"]


def test_a_finished_run_or_a_log_that_simply_ends_is_not_unfinished() -> None:
    beat = Heartbeat("t", 1_700_090_000.0, "t.log", 999, "x")
    assert run([*timed(20, total_steps=20), beat]) == []
    assert run(timed(20, total_steps=100)) == []


def test_the_minimum_stall_setting_is_honoured() -> None:
    records = timed(30, every_s=1.0) + timed(5, start_step=31, start_s=1_700_000_000.0 + 29 + 50)
    assert run(records) == []  # 50 s is over 20 x 1 s, but under the 60 s minimum
    assert [e.code for e in run(records, Settings(stall_min_s=30))] == ["STALL"]


def test_a_scan_sees_the_timestamped_lines_after_the_last_step() -> None:
    """Megatron-DeepSpeed iteration lines (no timestamp) followed by BigScience's hourly `PULSE:`
    heartbeat lines (bigscience train/tr11-176B-ml chronicles): the run hung at iteration 45000."""
    from tests.conftest import fault_events

    line = (" iteration    45000/  115311 | consumed samples:     76002224 | elapsed time per iteration (s): 111.00 |"
            " learning rate: 4.298E-05 | global batch size:  2048 | lm loss: 2.113567E+00 | grad norm: 0.139 |"
            " num zeros: 0.0 | number of skipped iterations:   0 | number of nan iterations:   0 |")
    pulse = "[2022-05-01 {}] PULSE: tr11-176B-ml is running for 1-0{}:27:40 since 2022-04-29T20:28:38"
    text = "\n".join([line, pulse.format("03:56:11", 7), pulse.format("04:56:13", 8), pulse.format("05:56:18", 9)])
    [event] = [e for e in fault_events(text) if e.kind is Kind.HANG]
    assert (event.code, event.step, event.line) == ("UNFINISHED-RUN", 45000, 4)
    assert event.value == 7207


def test_a_gap_the_steps_made_in_it_account_for_is_lines_missing_not_a_stall() -> None:
    """An excerpt of a log cut between two of its parts (PaddleOCR prints every 10 steps: steps 170 to
    200, then 1110 on), or logging made sparser: the steps went on at the usual pace through the gap.
    A gap longer than those steps explain is still a stall, by the time they do not explain."""
    every_10 = [step(10 * (i + 1), epoch_s=1_700_000_000.0 + 8.0 * i, time="t") for i in range(6)]
    cut = step(1100, epoch_s=every_10[-1].epoch_s + 109 * 8.0 * 0.9, time="t")  # 109 lines' worth, a bit faster
    assert run([*every_10, cut]) == []
    stuck = step(1100, epoch_s=every_10[-1].epoch_s + 109 * 8.0 + 3600, time="t")  # an hour beyond them
    [event] = run([*every_10, stuck])
    assert event.code == "STALL" and event.step == 60 and event.details["resumed_step"] == 1100


def test_a_new_epoch_at_the_same_step_is_progress_whose_steps_are_unknown() -> None:
    """ESPnet2 (espnet2/train/reporter.py) counts batches within the epoch: `17epoch:train:6376-6750batch`,
    and a log cut between epochs shows `18epoch:train:6376-6750batch` next, minutes later. A new epoch
    is progress, even at the same count, and a count per epoch gives no measure of the steps it made:
    as with one that starts over, the gap is no stall."""
    start = 1_700_000_000.0
    records = [step(375 * (i + 1), epoch=17, epoch_s=start + 5.0 * i, time="t") for i in range(18)]
    records += [step(6750, epoch=18, epoch_s=start + 5.0 * 17 + 108, time="t"),
                step(7125, epoch=18, epoch_s=start + 5.0 * 17 + 113, time="t")]
    assert run(records) == []
    stuck = records[:18] + [step(6750, epoch=17, epoch_s=start + 5.0 * 17 + 900, time="t"),
                            step(7125, epoch=17, epoch_s=start + 5.0 * 17 + 3600, time="t")]
    [event] = run(stuck)
    assert event.code == "STALL" and event.details["resumed_step"] == 7125


def test_a_clock_read_from_an_elapsed_time_is_never_measured_against_stamped_lines() -> None:
    """A record that prints no time of day may hold an elapsed time as its clock (a tqdm bar's
    `[05:12<`, OpenNMT's `21110 sec`): seconds since its run or bar began, not a Unix time. The
    stamped lines after the last record are measured against each other only."""
    records = [step(n, step_time_s=2.0, total_steps=500, epoch_s=2.0 * n) for n in range(1, 41)]
    records += [Heartbeat("2024-05-01T03:00:00", 1714532400.0, "t.log", 50, "NCCL WARN ..."),
                Heartbeat("2024-05-01T05:00:00", 1714539600.0, "t.log", 60, "NCCL WARN ...")]
    [event] = run(records)
    assert event.code == "UNFINISHED-RUN" and event.value == 7200 and event.details["at_least"] is True


def test_before_enough_gaps_a_line_is_due_after_the_step_time_times_the_steps_it_made() -> None:
    """A bar redrawn into the log every 300 steps (ai-toolkit, ostris/ai-toolkit#595): the second line
    comes 541 s after the first, as 300 steps of about 1.8 s make; the bar's rate (an average that
    moves) is no promise for each step, so the interval is judged against the steps the line made."""
    records = [step(299, step_time_s=2.16, epoch_s=644.0), step(599, step_time_s=1.58, epoch_s=1185.0),
               step(899, step_time_s=1.90, epoch_s=1791.0)]
    assert run(records) == []
    hung = records[:2] + [step(899, step_time_s=1.90, epoch_s=1185.0 + 300 * 1.9 + 4 * 3600)]
    [event] = run(hung)
    assert event.code == "STALL" and event.step == 599


def untimed(n: int, start_step: int = 10, every: int = 10, ms: float = 1200.0) -> list:
    return [step(start_step + i * every, step_time_s=ms / 1000 * (1 + 0.01 * (i % 3))) for i in range(n)]


def test_a_printed_step_time_that_holds_a_stall_is_one_without_a_clock() -> None:
    """Megatron-LM's `elapsed time per iteration (ms)` is the mean over the interval since the last line
    (training.py, `training_log`): in a log without timestamps, a stall of 30 minutes inside an interval
    of 10 iterations shows as one line of 181 s per iteration among lines of 1.2 s."""
    records = untimed(20) + [step(210, step_time_s=181.2)] + untimed(10, start_step=220)
    [event] = run(records)
    assert (event.kind, event.code, event.step, event.details["resumed_step"]) == (Kind.HANG, "STALL", 200, 210)
    assert event.details["reason"] == "printed-step-time" and 1790 < event.value < 1810
    assert event.baseline == 1.2 or abs(event.baseline - 1.2) < 0.02


def test_a_long_printed_step_that_is_brief_or_excused_is_no_stall() -> None:
    """20 times slower but under `stall_min_s` lost (a 0.1 s step taking 3 s); an evaluation or a
    save before it; a clock that measures the gap itself (judged by the gap)."""
    fast = [step(10 + i, step_time_s=0.1) for i in range(20)]
    assert run(fast + [step(30, step_time_s=3.0)]) == []
    records = untimed(20)
    records.append(Pause("t.log", 1000, "saving checkpoint at iteration 200 to /ckpt"))
    assert run(records + [step(210, step_time_s=181.2)]) == []
    stamped = [step(10 + 10 * i, step_time_s=1.2, epoch_s=1000.0 + 12 * i, time="t") for i in range(20)]
    assert run(stamped + [step(210, step_time_s=181.2, epoch_s=1000.0 + 12 * 20, time="t")]) == []


def test_megatron_lines_without_a_clock_show_the_stall_both_ways() -> None:
    """The same in Megatron-LM's own layout (training.py `training_log`, no timestamp prefix), read in bulk
    and line by line alike."""
    from tests.conftest import events_both_ways

    rows = []
    for i in range(1, 400):
        ms = 181234.5 if i == 300 else 1200.0 + 7 * (i % 5)
        rows.append(f" iteration {10 * i:8d}/  500000 | consumed samples: {5120 * i:12d} | elapsed time per iteration "
                    f"(ms): {ms:.1f} | learning rate: 1.500000E-04 | global batch size:   512 | lm loss: "
                    f"{3.2 - 0.0001 * i:.6E} | loss scale: 1.0 | grad norm: 0.812 | number of skipped iterations:   0 |"
                    " number of nan iterations:   0 |")
    events = events_both_ways("\n".join(rows) + "\n")
    assert events.count("code='STALL'") == 1 and "step=2990" in events


def test_slow_steps_one_after_another_or_at_the_end_are_no_stall_inside_an_interval() -> None:
    """TensorFlow slim's `global step 674: loss = 1.47 (245.788 sec/step)` after steps of 2.5 s, twice in a
    row (slim learning.py `train_step`): a slow spell, the slowdown detector's; a log that ends on one long
    step does not show that progress went on at the usual pace."""
    records = untimed(20) + [step(210, step_time_s=245.8), step(220, step_time_s=244.7)] + untimed(5, start_step=230)
    assert run(records) == []
    assert run(untimed(20) + [step(210, step_time_s=181.2)]) == []
