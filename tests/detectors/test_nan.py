"""NaN detection: one event per non-finite episode, per rank."""

from __future__ import annotations

import math

from monitor.detectors.nan import NanDetector
from monitor.model import Kind, Severity
from tests.detectors.records import overflow, step

NAN, INF = math.nan, math.inf


def codes(events: list) -> list[tuple[str, int | None]]:
    return [(e.code, e.step) for e in events]


def test_first_nan_loss_raises_one_event_with_the_last_finite_loss() -> None:
    d = NanDetector()
    events = d.observe([step(10, loss=2.5), step(20, loss=2.4), step(30, loss=NAN), step(40, loss=NAN)])
    [event] = events
    assert (event.kind, event.severity, event.code, event.step) == (Kind.NAN, Severity.ERROR, "LOSS-NAN", 30)
    assert event.baseline == 2.4 and math.isnan(event.value)
    assert "last finite loss 2.4 at step 20" in event.message
    assert event.evidence == "record 30" and event.action


def test_a_new_episode_after_recovery_raises_again() -> None:
    d = NanDetector()
    events = d.observe([step(1, loss=NAN), step(2, loss=1.0), step(3, loss=INF)])
    assert codes(events) == [("LOSS-NAN", 1), ("LOSS-NAN", 3)]
    assert "inf" in events[1].message


def test_episode_spans_batches_and_records_without_loss() -> None:
    d = NanDetector()
    assert codes(d.observe([step(1, loss=NAN)])) == [("LOSS-NAN", 1)]
    assert d.observe([step(2, skipped=1), step(3, loss=NAN)]) == []


def test_non_finite_grad_norm_with_finite_loss() -> None:
    d = NanDetector()
    assert codes(d.observe([step(5, loss=0.0, grad_norm=NAN)])) == [("GRAD-NORM-NAN", 5)]


def test_non_finite_grad_norm_on_a_skipped_step_is_an_overflow_not_a_nan() -> None:
    assert NanDetector().observe([step(5, loss=3.0, grad_norm=INF, skipped=1)]) == []


def test_nan_loss_and_grad_norm_together_are_one_event() -> None:
    [event] = NanDetector().observe([step(7, loss=NAN, grad_norm=NAN)])
    assert event.code == "LOSS-NAN" and "grad norm" in event.message


def test_nan_iteration_counter() -> None:
    d = NanDetector()
    events = d.observe([step(10, loss=3.0, nan_count=0), step(20, loss=3.0, nan_count=2),
                        step(30, loss=3.0, nan_count=1), step(40, loss=3.0, nan_count=0),
                        step(50, loss=3.0, nan_count=3)])
    assert codes(events) == [("NAN-ITERATIONS", 20), ("NAN-ITERATIONS", 50)]
    assert events[0].value == 2.0


def test_nan_evaluation_loss() -> None:
    d = NanDetector()
    events = d.observe([step(400, loss=0.0), step(400, eval_loss=NAN), step(420, loss=0.0),
                        step(800, eval_loss=NAN)])
    assert codes(events) == [("EVAL-LOSS-NAN", 400)]


def test_ranks_are_independent() -> None:
    d = NanDetector()
    events = d.observe([step(1, loss=NAN, rank=0), step(1, loss=NAN, rank=1), step(2, loss=NAN, rank=0)])
    assert [(e.code, e.rank) for e in events] == [("LOSS-NAN", 0), ("LOSS-NAN", 1)]


def test_overflow_messages_are_ignored() -> None:
    assert NanDetector().observe([overflow(65536, 32768)]) == []


def test_state_snapshot_round_trip() -> None:
    d = NanDetector()
    d.observe([step(1, loss=2.0), step(2, loss=NAN)])
    other = NanDetector()
    other.restore(d.snapshot())
    assert other.snapshot() == d.snapshot()
    assert other.observe([step(3, loss=NAN)]) == []
