"""NaN detection: one event per non-finite episode, per rank.

A scan emits an episode's event once, when it ended or at `finish()`, with
its extent; the live path announces it at once and updates it."""

from __future__ import annotations

import math

from monitor.detectors.nan import NanDetector
from monitor.model import Kind, Severity
from tests.detectors.records import overflow, step

NAN, INF = math.nan, math.inf


def codes(events: list) -> list[tuple[str, int | None]]:
    return [(e.code, e.step) for e in events]


def run(records: list, detector: NanDetector | None = None) -> list:
    detector = detector or NanDetector()
    return detector.observe(records) + detector.finish()


def test_first_nan_loss_raises_one_event_with_the_last_finite_loss() -> None:
    [event] = run([step(10, loss=2.5), step(20, loss=2.4), step(30, loss=NAN), step(40, loss=NAN)])
    assert (event.kind, event.severity, event.code, event.step) == (Kind.NAN, Severity.ERROR, "LOSS-NAN", 30)
    assert event.baseline == 2.4 and math.isnan(event.value)
    assert "last finite loss 2.4 at step 20" in event.message
    assert event.evidence == "record 30" and event.action
    assert event.count == 2 and event.details["open"] is True


def test_repeated_nan_steps_that_come_back_are_one_event_with_count_and_extent() -> None:
    d = NanDetector()
    records = [step(10, loss=2.5)] + [step(20 + 10 * i, loss=NAN) for i in range(5)] + [step(70, loss=2.4)]
    assert d.observe(records[:4]) == []  # a scan holds the episode until it is over
    [event] = d.observe(records[4:])
    assert (event.code, event.step, event.line, event.count) == ("LOSS-NAN", 20, 20, 5)
    assert event.details["start"] == {"step": 20, "line": 20, "time": None}
    assert event.details["end"] == {"step": 70, "line": 70}
    assert "open" not in event.details and event.details["episode"] == "nan-loss@t.log:20"
    assert "finite again at step 70 after 5 records" in event.message
    assert d.finish() == []


def test_a_loss_nan_to_the_end_of_the_log_is_a_nan_and_a_divergence_of_one_episode() -> None:
    nan, event = run([step(1, loss=2.0)] + [step(i, loss=NAN, grad_norm=NAN) for i in range(2, 8)])
    assert (nan.code, nan.kind, nan.step, nan.count) == ("LOSS-NAN", Kind.NAN, 2, 6)
    assert (event.code, event.kind, event.step, event.count) == ("NAN-DIVERGENCE", Kind.NAN, 2, 6)
    assert event.details["open"] is True and "up to the end of the log" in event.message
    assert nan.details["episode"] == event.details["episode"]


def test_an_infinite_loss_to_the_end_of_the_log_is_a_divergence_however_short() -> None:
    """It blew up: a divergence (INF-DIVERGENCE); a NaN that stays is the NaN's own (NAN-DIVERGENCE)."""
    events = run([step(1, loss=2.0), step(2, loss=INF)])
    assert codes(events) == [("LOSS-NAN", 2), ("INF-DIVERGENCE", 2)]
    assert events[1].kind is Kind.DIVERGENCE and "infinite" in events[1].message
    assert codes(run([step(1, loss=2.0), step(2, loss=NAN)])) == [("LOSS-NAN", 2)]


def test_a_loss_never_finite_in_the_log_is_a_nan_not_a_divergence() -> None:
    """DINOv2's total loss is `inf` from the first logged iteration when its KoLeo term is infinite
    (identical embeddings in a batch): nothing diverged from a finite course, so it is the NaN
    detector's LOSS-NAN (one episode), never a divergence."""
    for value in (INF, NAN):
        events = run([step(i, loss=value) for i in range(40, 100, 10)])
        assert codes(events) == [("LOSS-NAN", 40)] and events[0].count == 6


def test_a_new_episode_after_recovery_raises_again() -> None:
    events = run([step(1, loss=NAN), step(2, loss=1.0), step(3, loss=INF)])
    assert codes(events) == [("LOSS-NAN", 1), ("LOSS-NAN", 3), ("INF-DIVERGENCE", 3)]
    assert "inf" in events[1].message


def test_episode_spans_batches_and_records_without_loss() -> None:
    d = NanDetector()
    assert d.observe([step(1, loss=NAN)]) == []
    assert d.observe([step(2, skipped=1), step(3, loss=NAN)]) == []
    [event] = d.observe([step(4, loss=1.0)])
    assert (event.code, event.step, event.count) == ("LOSS-NAN", 1, 2)


def test_non_finite_grad_norm_with_finite_loss() -> None:
    assert codes(run([step(5, loss=0.0, grad_norm=NAN)])) == [("GRAD-NORM-NAN", 5)]


def test_nan_loss_and_grad_norm_together_are_one_event() -> None:
    [event] = run([step(7, loss=NAN, grad_norm=NAN)])
    assert event.code == "LOSS-NAN" and "grad norm" in event.message


def test_nan_iteration_counter() -> None:
    events = run([step(10, loss=3.0, nan_count=0), step(20, loss=3.0, nan_count=2),
                  step(30, loss=3.0, nan_count=1), step(40, loss=3.0, nan_count=0),
                  step(50, loss=3.0, nan_count=3)])
    assert codes(events) == [("NAN-ITERATIONS", 20), ("NAN-ITERATIONS", 50)]
    assert events[0].value == 3.0 and events[0].count == 2  # two records, three iterations
    assert events[0].details["end"]["step"] == 40 and events[1].details["open"] is True


def test_nan_evaluation_loss() -> None:
    events = run([step(400, loss=0.0), step(400, eval_loss=NAN), step(420, loss=0.0),
                  step(800, eval_loss=NAN)])
    assert codes(events) == [("EVAL-LOSS-NAN", 400)]
    assert events[0].count == 2


def test_a_nan_evaluation_loss_beside_a_finite_training_loss_is_the_evaluations_own_warning() -> None:
    """Text GCN's train.py prints `Epoch: 0061 train_loss= 0.08930 ... val_loss= nan ...` every epoch: the
    weights still train, so the evaluation (its data, labels or metric) makes the NaN. A warning, never a
    divergence; an evaluation NaN with no training loss beside it still is one when it lasts."""
    both = [step(60 + i, loss=0.09 - 0.001 * i, eval_loss=NAN) for i in range(12)]
    [event] = run(both)
    assert (event.code, event.severity, event.step, event.count) == ("EVAL-LOSS-NAN", Severity.WARNING, 60, 12)
    assert "training loss stays finite" in event.message
    alone = [step(100 * i, eval_loss=NAN) for i in range(1, 13)]
    assert [(e.code, e.severity) for e in run(alone)] == [("NAN-DIVERGENCE", Severity.CRITICAL)]
    from tests.conftest import events_both_ways

    text = "\n".join(f"Epoch: {61 + i:04d} train_loss= {0.0893 - 0.002 * i:.5f} train_acc= 0.97893 val_loss= nan "
                      f"val_acc= 0.32117 time= {2.3 + 0.01 * (i % 10):.5f}" for i in range(40))
    events = events_both_ways(text)
    assert "code='EVAL-LOSS-NAN'" in events and "NAN-DIVERGENCE" not in events and "Severity.WARNING" in events


def test_nan_evaluation_loss_and_counter_inside_a_loss_episode_are_that_episode() -> None:
    events = run([step(10, loss=2.0), step(20, loss=NAN, nan_count=4), step(20, eval_loss=NAN),
                  step(30, loss=NAN, nan_count=5)])
    assert codes(events) == [("LOSS-NAN", 20)]
    assert events[0].details["eval_loss_nan_step"] == 20 and events[0].details["nan_iterations"] == 9


def test_ranks_are_independent() -> None:
    events = run([step(1, loss=NAN, rank=0), step(1, loss=NAN, rank=1), step(2, loss=NAN, rank=0)])
    assert [(e.code, e.rank, e.count) for e in events] == [("LOSS-NAN", 0, 2), ("LOSS-NAN", 1, None)]
    assert events[0].details["episode"] != events[1].details["episode"]


def test_live_announces_at_once_and_updates_the_same_episode() -> None:
    d = NanDetector()
    d.live = True
    first = d.observe([step(1, loss=2.0), step(2, loss=NAN)])
    assert [(e.code, e.details["update"]) for e in first] == [("LOSS-NAN", 0)]
    diverged = d.observe([step(3, loss=NAN), step(4, loss=NAN)])  # nan_divergence_records = 3
    assert [(e.code, e.details["update"]) for e in diverged] == [("NAN-DIVERGENCE", 1)]
    back = d.observe([step(5, loss=NAN), step(6, loss=2.1)])
    assert [(e.code, e.details["update"], e.details["end"]["step"]) for e in back] == [("LOSS-NAN", 2, 6)]
    episode = first[0].details["episode"]
    assert all(e.details["episode"] == episode for e in diverged + back)
    assert all(e.step == 2 and e.line == 2 for e in first + diverged + back)
    assert d.finish() == []


def test_overflow_messages_are_ignored() -> None:
    assert NanDetector().observe([overflow(65536, 32768)]) == []


def test_state_snapshot_round_trip() -> None:
    d = NanDetector()
    d.observe([step(1, loss=2.0), step(2, loss=NAN)])
    other = NanDetector()
    other.restore(d.snapshot())
    assert other.snapshot() == d.snapshot()
    assert other.observe([step(3, loss=NAN)]) == []
    assert codes(other.finish()) == codes(d.finish()) == [("LOSS-NAN", 2)]
