"""Stalls and unfinished runs (monitor.detectors.stall)."""

from __future__ import annotations

from monitor.detectors.stall import StallDetector
from monitor.model import Heartbeat, Kind, Severity
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


def test_a_finished_run_or_a_log_that_simply_ends_is_not_unfinished() -> None:
    beat = Heartbeat("t", 1_700_090_000.0, "t.log", 999, "x")
    assert run([*timed(20, total_steps=20), beat]) == []
    assert run(timed(20, total_steps=100)) == []


def test_the_minimum_stall_setting_is_honoured() -> None:
    records = timed(30, every_s=1.0) + timed(5, start_step=31, start_s=1_700_000_000.0 + 29 + 200)
    assert run(records) == []  # 200 s is over 20 x 1 s, but under the 300 s minimum
    assert [e.code for e in run(records, Settings(stall_min_s=60))] == ["STALL"]
