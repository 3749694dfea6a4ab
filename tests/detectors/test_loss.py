"""Loss spikes, divergence, collapse and grad-norm spikes (monitor.detectors.loss).

Sequences are hand-made: a loss curve with a little noise, then an incident
at a known step. The tests check the event, its step and its numbers, not
the thresholds' exact values.
"""

from __future__ import annotations

import math
import random

from monitor.detectors.loss import LossDetector
from monitor.detectors.nan import NanDetector
from monitor.model import Kind, Severity
from monitor.settings import Settings
from tests.detectors.records import step


def curve(n: int, start: int = 1000, every: int = 10, level: float = 2.5, noise: float = 0.01, seed: int = 1,
          **fields) -> list:
    rng = random.Random(seed)
    return [step(start + i * every, loss=level * (1 + rng.gauss(0, noise)), **fields) for i in range(n)]


def run(records: list, settings: Settings | None = None) -> list:
    detector = LossDetector(settings)
    return detector.observe(records) + detector.finish()


def test_a_spike_that_recovers_is_one_event_at_its_start_with_peak_magnitude_and_recovery() -> None:
    records = curve(30)
    records += [step(1300, loss=7.5), step(1310, loss=6.0), step(1320, loss=3.4), step(1330, loss=2.55)]
    records += curve(10, start=1340, seed=2)
    [event] = run(records)
    assert (event.kind, event.code, event.severity) == (Kind.LOSS_SPIKE, "LOSS-SPIKE", Severity.WARNING)
    assert event.step == 1300 and event.value == 7.5
    assert 2.4 < event.baseline < 2.6
    assert event.details["peak_step"] == 1300
    assert event.details["recovered_after_steps"] == 30
    assert 2.9 < event.details["magnitude"] < 3.1


def test_noise_bumps_are_not_spikes() -> None:
    assert run(curve(400, noise=0.03, seed=5)) == []


def test_a_spike_that_never_comes_back_is_a_divergence() -> None:
    """The log ends inside the jump, still far above its baseline, after `divergence_records`: one
    event, a divergence where it began, open."""
    records = curve(30) + [step(1300 + 10 * i, loss=8.0 + i * 0.1) for i in range(15)]
    [event] = run(records, Settings(divergence_records=10))
    assert (event.kind, event.code, event.severity) == (Kind.DIVERGENCE, "DIVERGENCE", Severity.ERROR)
    assert event.step == 1300 and event.details["reason"] == "jump"
    assert event.details["open"] is True and event.details["peak"] == {"step": 1440, "value": 8.0 + 14 * 0.1}


def test_a_steady_climb_is_a_divergence_where_it_crossed() -> None:
    records = curve(30) + [step(1300 + 10 * i, loss=2.5 * 1.12 ** (i + 1)) for i in range(6)]
    [event] = run(records)
    assert event.code == "DIVERGENCE" and event.details["reason"] == "climb"
    assert event.step == 1320  # 2.5 x 1.12^3 = 3.51: the first record 1.3x above the baseline


def test_near_miss_a_noisy_loss_is_no_climb_from_its_first_value() -> None:
    """A log tail of six records of a small noisy loss (a GAN trainer's per-100-step loss): the
    first value is no baseline a climb can be measured from, so ending 1.5x above it, and above the
    two values before, is no divergence. The same ending after a baseline is one (the next test)."""
    losses = [0.0175, 0.0221, 0.0301, 0.0230, 0.0240, 0.0265]
    assert run([step(199600 + 100 * i, loss=v, line=8 * i) for i, v in enumerate(losses)]) == []


def test_a_climb_over_a_baseline_is_a_divergence_at_the_end_of_a_log() -> None:
    losses = [0.0175, 0.0176, 0.0174, 0.0175, 0.0181, 0.0226, 0.0240, 0.0265]
    events = run([step(199600 + 100 * i, loss=v, line=8 * i) for i, v in enumerate(losses)])
    assert [e.kind for e in events] == [Kind.DIVERGENCE]


def test_a_climb_the_loss_falls_back_under_mid_log_is_a_loss_spike() -> None:
    """A noisy loss rises record after record from 2.5 to 5.6, wanders, and falls back under 1.3x where
    it climbed from before the log goes on: the climb came back (as it would have, had the log ended
    there), so it is a loss spike, not a divergence that `kept rising`."""
    up = [2.5 * 1.12 ** (i + 1) for i in range(7)]
    wander = [4.8, 5.9, 4.1, 3.6, 3.1, 2.9]  # 2.9 < 1.3 x 2.5
    records = curve(30) + [step(1300 + 10 * i, loss=loss) for i, loss in enumerate(up + wander)]
    records += [step(1430 + 10 * i, loss=loss) for i, loss in enumerate([3.0, 3.2, 2.9, 3.1, 3.0, 2.9])]
    [event] = run(records)
    assert (event.code, event.details["reason"]) == ("LOSS-SPIKE", "climb")
    assert event.details["peak"]["value"] == 5.9


def test_a_spike_cut_off_by_the_end_of_the_log_is_still_reported() -> None:
    """Coming back but not yet back (1.2x) when the log ends: a spike, not a divergence."""
    [event] = run(curve(20) + [step(1200, loss=4.0), step(1210, loss=3.0)])
    assert event.code == "LOSS-SPIKE" and event.details["recovered_after_steps"] is None


def test_a_spike_still_high_when_the_log_ends_soon_after_is_both_views_of_one_episode() -> None:
    """Too short to tell a spike the log cut off from a divergence: both, under one episode id."""
    spike, divergence = run(curve(20) + [step(1200, loss=4.0)])
    assert (spike.code, divergence.code, divergence.details["open"]) == ("LOSS-SPIKE", "DIVERGENCE", True)
    assert spike.details["episode"] == divergence.details["episode"]


def test_a_jump_that_turns_into_non_finite_values_to_the_end_is_only_a_divergence() -> None:
    """The PyTorch C++ API regression example's loss went 644, 1.5e7, 1.0e38, then `-nan` for every
    epoch after: the log shows it never came back, so no spike cut off by the end of the log."""
    [event] = run(curve(20) + [step(1200, loss=9e6), step(1210, loss=math.nan), step(1220, loss=math.nan)])
    assert (event.code, event.step) == ("DIVERGENCE", 1200)
    # finite again before the log ends: too short to tell, both views as before
    spike, divergence = run(curve(20) + [step(1200, loss=9e6), step(1210, loss=math.nan), step(1220, loss=9e6)])
    assert (spike.code, divergence.code) == ("LOSS-SPIKE", "DIVERGENCE")


def test_a_short_spike_already_falling_from_its_peak_when_the_log_ends_is_only_a_spike() -> None:
    """2.6x, then on its way back (1.7x) as the log ends: coming back, not diverged."""
    [event] = run(curve(20, level=0.39) + [step(1200, loss=1.0), step(1210, loss=0.65)])
    assert event.code == "LOSS-SPIKE" and event.step == 1200


def test_a_jump_to_many_times_the_baseline_at_the_end_of_the_log_is_also_a_divergence() -> None:
    spike, divergence = run(curve(20) + [step(1200, loss=9.0)])
    assert (spike.code, divergence.code, divergence.step) == ("LOSS-SPIKE", "DIVERGENCE", 1200)


def test_a_loss_non_finite_to_the_end_of_the_log_is_left_to_the_nan_detector() -> None:
    """One episode, one event: the NaN detector's NAN-DIVERGENCE (tests/detectors/test_nan.py)."""
    assert run(curve(5) + [step(1050, loss=math.inf)]) == []


def test_a_jump_during_the_warm_up_is_excused_unless_it_is_several_times_the_baseline() -> None:
    rising = [step(10 * i, loss=2.5 - 0.01 * i, lr=1e-5 * i) for i in range(1, 8)]
    assert run(rising + [step(80, loss=4.0, lr=8e-5)]) == []  # 1.6x during the warm-up: excused
    spike, divergence = run(rising + [step(80, loss=11.0, lr=8e-5)])  # the log ends with it
    assert (spike.code, spike.step, divergence.code) == ("LOSS-SPIKE", 80, "DIVERGENCE")


def test_a_learning_rate_that_creeps_up_is_a_schedules_long_rise_not_a_warm_up() -> None:
    """mmdetection3d's cyclic schedule (BEVFusion's lidar config) raises the learning rate for 40% of
    training: mmengine prints `Epoch(train)  [5][4600/7724]  lr: 6.5426e-04 ... loss: 3.1877` with the rate up
    by 0.2% over 50 iterations. That is no warm-up, and the loss tripling while it creeps up is reported; a
    warm-up's rate rises by a share per step that only a warm-up of more than 20000 steps would not reach."""
    slow = [step(4600 + 50 * i, loss=value, lr=6.5426e-4 * (1 + 0.0017 * i))
            for i, value in enumerate([3.19, 3.14, 3.28, 3.59, 8.52, 8.68, 8.34, 8.23, 8.41])]
    assert "DIVERGENCE" in [e.code for e in run(slow)]
    warm = [step(4600 + 50 * i, loss=value, lr=1e-5 * (1 + 0.03 * i))
            for i, value in enumerate([3.19, 3.14, 3.28, 3.59, 8.52, 8.68, 8.34, 8.23, 8.41])]
    assert run(warm) == []  # 0.06% a step: a warm-up (of about 1700 steps) excuses a jump under 3x


def test_a_big_jump_during_the_warm_up_that_comes_back_at_once_is_a_recovered_spike() -> None:
    """The learning rate still rising must not hide the way back: the spike follows every loss."""
    rising = [step(10 * i, loss=2.5 - 0.01 * i, lr=1e-5 * i) for i in range(1, 8)]
    [spike] = run([*rising, step(80, loss=900.0, lr=8e-5), step(90, loss=2.41, lr=9e-5)])
    assert (spike.code, spike.step) == ("LOSS-SPIKE", 80)
    assert "recovered" in spike.message


def test_the_evaluation_loss_is_watched_as_its_own_series() -> None:
    evals = [step(1000 * i, eval_loss=53.9 - 0.5 * i) for i in range(1, 5)] + [step(5000, eval_loss=75.2)]
    spike, divergence = run(evals)
    assert (spike.code, spike.step, divergence.code) == ("LOSS-SPIKE", 5000, "DIVERGENCE")
    assert spike.message.startswith("evaluation loss")
    assert run(curve(20) + [step(1100, eval_loss=3.0)]) == []  # an evaluation is not compared with training


def test_a_running_mean_that_restarts_with_a_new_epoch_is_no_spike() -> None:
    """Per-epoch counters restart with a per-epoch running mean (OpenNMT-py's 2017 layout, Keras): its
    first value is not compared with the end of the last epoch."""
    records = [step(50 * i, loss=1.8 - 0.02 * i, epoch=20.0) for i in range(1, 15)]
    records += [step(50, loss=2.0, epoch=21.0), step(100, loss=1.95, epoch=21.0)]
    assert run(records) == []


def test_a_loss_stuck_at_zero_is_a_collapse() -> None:
    records = curve(5) + [step(1050 + 10 * i, loss=0.0) for i in range(4)]
    [event] = run(records)
    assert (event.code, event.kind, event.step) == ("LOSS-COLLAPSE", Kind.DIVERGENCE, 1050)


def test_a_zero_loss_while_the_gradients_flow_is_not_a_collapse() -> None:
    """TRL's GRPOTrainer logs `'loss': 0.0` by construction with one policy update per generation (the
    loss is beta times a KL of about 5e-4), while `grad_norm` stays positive and moves: not a broken
    run. A zero loss with a zero grad norm is still one."""
    flowing = curve(5) + [step(1050 + 10 * i, loss=0.0, grad_norm=0.08 + 0.01 * i) for i in range(6)]
    assert run(flowing) == []
    stuck = curve(5) + [step(1050 + 10 * i, loss=0.0, grad_norm=0.0) for i in range(4)]
    assert [e.code for e in run(stuck)] == ["LOSS-COLLAPSE"]


def test_a_zero_loss_beside_a_non_finite_grad_norm_is_the_nans_not_a_collapse() -> None:
    """HF Trainer logs `{'loss': 0.0, 'grad_norm': nan, ...}` for steps whose gradients were not finite
    (the optimizer step is skipped and the logged loss is zero): the NaN detector reports those
    steps; the zeros are their symptom, not a second, collapsed-loss finding."""
    skipped = curve(5) + [step(1050 + 10 * i, loss=0.0, grad_norm=math.nan) for i in range(6)]
    assert run(skipped) == []
    infinite = curve(5) + [step(1050 + 10 * i, loss=0.0, grad_norm=math.inf) for i in range(6)]
    assert run(infinite) == []


def test_a_single_zero_is_not_a_collapse() -> None:
    assert run(curve(5) + [step(1050, loss=0.0)] + curve(5, start=1060)) == []


def test_a_loss_that_stays_nan_is_a_critical_divergence() -> None:
    records = curve(5) + [step(1050 + 10 * i, loss=math.nan) for i in range(3)]
    assert run(records) == []  # the NaN detector's episode
    nan = NanDetector()
    _, event = nan.observe(records) + nan.finish()
    assert (event.code, event.severity, event.step) == ("NAN-DIVERGENCE", Severity.CRITICAL, 1050)


def test_learning_rate_warm_up_is_never_a_spike() -> None:
    records = [step(10 * i, loss=10.0 / (1 + i) * (3.0 if i == 6 else 1.0), lr=1e-5 * (i + 1)) for i in range(10)]
    assert run(records) == []


def test_warmup_steps_setting_skips_the_first_steps() -> None:
    records = [step(10, loss=2.0), step(20, loss=2.0), step(30, loss=9.0), step(40, loss=2.0)]
    assert [e.code for e in run(records)] == ["LOSS-SPIKE"]
    assert run(records, Settings(warmup_steps=50)) == []


def test_a_grad_norm_spike_warns_and_the_loss_spike_after_it_names_it() -> None:
    records = [step(1000 + 10 * i, loss=2.5 + 0.01 * (i % 3), grad_norm=1.0 + 0.02 * (i % 4)) for i in range(30)]
    records += [step(1300, loss=2.51, grad_norm=40.0), step(1310, loss=8.0, grad_norm=30.0),
                step(1320, loss=2.52, grad_norm=1.0)]
    grad, loss = run(records)
    assert (grad.code, grad.step, grad.severity) == ("GRAD-NORM-SPIKE", 1300, Severity.WARNING)
    assert loss.code == "LOSS-SPIKE" and loss.details["grad_norm_spike_step"] == 1300


def test_ranks_are_watched_separately() -> None:
    records = [step(100 + i, loss=2.0, rank=r, line=2 * i + r) for i in range(20) for r in (0, 1)]
    records += [step(130, loss=6.0, rank=1, line=100), step(131, loss=2.0, rank=1, line=101)]
    [event] = run(records)
    assert event.rank == 1


def test_an_excerpt_with_one_record_of_history_still_sees_a_big_jump() -> None:
    """BigScience tr8-104B chronicle (bigscience-workshop/bigscience train/tr8-104B-wide/chronicles.md):
    lm loss 6.44 at iteration 7000, then 11.42 at 7010, then back to 7.16 by 7220."""
    [event] = run([step(7000, loss=6.44), step(7010, loss=11.42), step(7220, loss=7.16)])
    assert event.kind is Kind.LOSS_SPIKE and event.step == 7010


def test_a_short_jump_at_the_end_over_a_baseline_of_one_value_is_a_spike_not_a_divergence() -> None:
    """WeNet prints each rank's own mini-batch loss (`... loss 12.646465 ... rank 0`); an excerpt holds a
    couple of lines per rank. One earlier value and a 2x jump as the log ends is a loss spike; that the
    run diverged needs a baseline. With one, the same ending is reported both ways."""
    events = run([step(203700, loss=12.65), step(203800, loss=25.62)])
    assert [e.code for e in events] == ["LOSS-SPIKE"]
    events = run(curve(8) + [step(2000, loss=9.0)])
    assert sorted(e.code for e in events) == ["DIVERGENCE", "LOSS-SPIKE"]
    # held for three records or more (BigScience tr8b-104B's chronicle: 2.67, then 4.4 and staying after an
    # optimizer reset), the jump over a thin baseline is no single mini-batch's noise: both ways too
    held = run([step(17060, loss=2.67), step(17061, loss=2.66), step(17062, loss=4.41), step(17063, loss=4.37),
                step(17064, loss=4.30)])
    assert sorted(e.code for e in held) == ["DIVERGENCE", "LOSS-SPIKE"]


def test_a_jump_over_a_thin_baseline_that_falls_half_way_back_is_noise_not_a_divergence() -> None:
    """The BasicSR family logs each hundredth iteration's own loss (EDVR codes/models/base_model.py,
    `<epoch: 16, iter:   3,800, lr:3.000e-04> l_all: 3.4186e+00`); a pixel loss per mini-batch swings
    by half. After one earlier value, 6.3 then 4.6 (back more than half the way) then 6.9 is that
    swing, not a run that diverged; a new level that holds, or climbs, still is one."""
    noisy = run([step(3800, loss=3.42), step(3900, loss=6.29), step(4000, loss=4.81), step(4100, loss=4.57),
                 step(4200, loss=6.91)])
    assert [e.code for e in noisy] == ["LOSS-SPIKE"]
    climbing = run([step(3800, loss=3.42), step(3900, loss=5.0), step(4000, loss=6.2), step(4100, loss=7.4),
                    step(4200, loss=8.9)])
    assert "DIVERGENCE" in [e.code for e in climbing]


def test_state_snapshots_compare_equal_and_restore() -> None:
    records = curve(30)
    a, b = LossDetector(), LossDetector()
    a.observe(records)
    b.restore(a.snapshot())
    assert a.snapshot() == b.snapshot()
    tail = [step(1300, loss=9.0), step(1310, loss=2.5)]
    assert a.observe(tail) == b.observe(tail)



def _hf_dicts(pairs: list[tuple[float, float]]) -> str:
    """Hugging Face Trainer log dicts (`Trainer._maybe_log_save_evaluate` → `Trainer.log`,
    transformers/trainer.py: `{'loss': ..., 'grad_norm': ..., 'learning_rate': ..., 'epoch': ...}`),
    with a learning rate that decays after its warm-up."""
    lines = []
    for i, (loss, grad) in enumerate(pairs):
        lr = 0.0005 - i * 4e-10
        lines.append(f"{{'loss': {loss}, 'grad_norm': {grad}, 'learning_rate': {lr!r}, 'epoch': {0.1 + i / 100:.2f}}}")
    return "\n".join(lines)


# a noisy fine-tuning loss (one small batch per record) and a calm grad norm
_BEFORE = [(0.62, 0.2711), (0.48, 0.2602), (0.55, 0.2495), (0.47, 0.2688), (0.58, 0.2574), (0.52, 0.2633),
           (0.45, 0.2705), (0.60, 0.2551)]
_RISEN = [0.66, 0.79, 0.64, 0.70, 0.86, 0.82]
_BLOWN = [17.22, 7.117, 21.81, 23.02, 3.769, 14.41]


def _divergences(text: str) -> list:
    from tests.conftest import fault_events

    return [e for e in fault_events(text) if e.kind == Kind.DIVERGENCE]


def test_a_log_ending_in_a_grad_norm_blow_up_with_the_loss_risen_is_a_divergence() -> None:
    """The grad norm jumps from ~0.26 to 4-23 and stays there; the noisy loss creeps from ~0.5 to
    0.64-0.86 and is still well above its floor at the end: no record stands out of the noise as a
    spike, yet the run is diverging. The event is where the loss first stood `climb_ratio` above
    its floor (the lowest median of three records before the blow-up, 0.48)."""
    [event] = _divergences(_hf_dicts(_BEFORE + list(zip(_RISEN, _BLOWN))))
    assert (event.code, event.line, event.details["reason"]) == ("DIVERGENCE", 9, "grad-norm-blowup")
    assert event.details["blowup_since_step"] == 9
    assert (event.baseline, event.value) == (0.48, 0.82)


def test_a_grad_norm_blow_up_the_loss_came_back_from_is_no_divergence() -> None:
    back = [0.66, 0.79, 0.64, 0.50, 0.47, 0.52]
    assert _divergences(_hf_dicts(_BEFORE + list(zip(back, _BLOWN)))) == []


def test_a_loss_that_rose_with_a_steady_grad_norm_is_not_a_blow_up() -> None:
    steady = [0.29, 0.31, 0.27, 0.30, 0.28, 0.26]
    assert _divergences(_hf_dicts(_BEFORE + list(zip(_RISEN, steady)))) == []


def test_a_grad_norm_blow_up_of_too_few_records_at_the_end_is_not_yet_a_divergence() -> None:
    late = [0.29, 0.31, 0.27, 0.30, 3.769, 14.41]
    assert _divergences(_hf_dicts(_BEFORE + list(zip(_RISEN, late)))) == []


# -- episodes: one event each, with its extent ------------------------------------------------


def test_a_divergence_that_stays_diverged_is_one_event_however_often_it_climbs_again() -> None:
    """A loss that climbs, dips a little and climbs again for hundreds of records: one episode."""
    rng = random.Random(3)
    records = curve(40)
    loss = 2.5
    for i in range(300):
        loss = loss * (1.03 if i % 7 else 0.95) if loss < 12 else loss * (1 + rng.gauss(0, 0.02))
        records.append(step(1400 + 10 * i, loss=loss))
    [event] = run(records)
    assert (event.code, event.details["reason"]) == ("DIVERGENCE", "climb")
    assert event.details["open"] is True and event.details["peak"]["value"] >= 12


def test_a_spike_long_enough_to_be_called_a_divergence_that_came_back_is_a_loss_spike() -> None:
    records = curve(30) + [step(1300 + 10 * i, loss=7.0) for i in range(70)]  # 70 records > divergence_records
    records += curve(20, start=2000, seed=4)
    detector = LossDetector()
    events = detector.observe(records)
    [event] = events + detector.finish()
    assert (event.code, event.kind, event.step) == ("LOSS-SPIKE", Kind.LOSS_SPIKE, 1300)
    assert event.details["end"] == {"step": 2000, "line": 2000} and event.details["records"] == 70
    assert event.details["start"] == {"step": 1300, "line": 1300, "time": None}
    assert event.details["peak"] == {"step": 1300, "value": 7.0}


def test_a_spike_the_batch_scan_holds_until_it_is_over() -> None:
    detector = LossDetector()
    assert detector.observe(curve(30) + [step(1300, loss=7.5), step(1310, loss=6.0)]) == []
    [event] = detector.observe([step(1320, loss=2.5)])
    assert event.code == "LOSS-SPIKE" and event.details["end"]["step"] == 1320
    assert detector.finish() == []


def test_the_event_stands_on_the_first_anomalous_record() -> None:
    """An interval mean (Megatron-LM prints one) shows a jump late in its interval only in part: the
    episode starts on that record, not on the next one, which is the first over the threshold."""
    records = curve(30) + [step(1300, loss=2.8), step(1310, loss=7.5), step(1320, loss=7.4), step(1330, loss=2.5)]
    [event] = run(records)
    assert (event.code, event.step, event.line) == ("LOSS-SPIKE", 1300, 1300)
    assert event.details["peak"] == {"step": 1310, "value": 7.5}


def test_live_announces_a_spike_early_then_updates_the_same_episode() -> None:
    detector = LossDetector(Settings(divergence_records=5))
    detector.live = True
    first = detector.observe(curve(30) + [step(1300, loss=7.0)])
    diverged = detector.observe([step(1310 + 10 * i, loss=7.0) for i in range(6)])
    back = detector.observe([step(1400, loss=2.5)])
    emitted = first + diverged + back + detector.finish()
    assert [(e.code, e.details["update"]) for e in emitted] == [("LOSS-SPIKE", 0), ("DIVERGENCE", 1), ("LOSS-SPIKE", 2)]
    assert len({e.details["episode"] for e in emitted}) == 1
    assert all(e.step == 1300 and e.line == 1300 for e in emitted)
    assert "open" in first[0].details and back[0].details["end"]["step"] == 1400


def test_a_grad_norm_spike_is_one_event_per_episode() -> None:
    records = curve(30, grad_norm=1.0) + [step(1300 + 10 * i, loss=2.5, grad_norm=40.0 + i) for i in range(5)]
    records += curve(5, start=1350, grad_norm=1.0)
    [event] = [e for e in run(records) if e.code == "GRAD-NORM-SPIKE"]
    assert (event.step, event.count, event.details["end"]["step"]) == (1300, 5, 1350)
    assert event.details["peak"] == {"step": 1340, "value": 44.0}


def test_a_few_losses_that_already_range_widely_set_the_bar_for_the_next() -> None:
    """Before a noise estimate (fewer than `noise_records` losses), a value must also stand well above
    the range the held losses already span: per-step diffusion losses (0.061, 0.057, 0.036) make 0.119
    ordinary, while the same jump after steady losses is a spike."""
    noisy = [step(i, line=i, loss=v) for i, v in enumerate((0.0614, 0.0571, 0.0359, 0.1193), 1)]
    assert [e.kind for e in run(noisy)] == []
    steady = [step(i, line=i, loss=v) for i, v in enumerate((0.0614, 0.0601, 0.0596, 0.1193), 1)]
    assert Kind.LOSS_SPIKE in [e.kind for e in run(steady)]


def test_two_losses_that_differ_set_a_bar_as_high_in_noise_as_three() -> None:
    """Two held losses range over less than three with the same noise (1.13 against 1.69 standard
    deviations), so their range counts 2.25 times: a GAN's per-100-step loss (0.0175, 0.0221, as a
    committed P2I-GAN training log prints them) does not make 0.0301 a spike; after two equal losses
    it is one."""
    noisy = [step(i, line=i, loss=v) for i, v in enumerate((0.0175, 0.0221, 0.0301, 0.0230), 1)]
    assert [e.kind for e in run(noisy)] == []
    steady = [step(i, line=i, loss=v) for i, v in enumerate((0.0198, 0.0199, 0.0301, 0.0199), 1)]
    assert [e.kind for e in run(steady)] == [Kind.LOSS_SPIKE]


def test_a_log_that_ends_below_its_peak_but_far_above_the_level_ends_diverged() -> None:
    """One record after the peak and lower is a spike on its way down only when it is nearer the level
    than the peak: 4977 then 155 over a level of 0.27 has not come down (a char-CNN's loss exploding
    after step 3870, cut where the excerpt ends)."""
    losses = [0.43, 0.48, 0.26, 0.27, 0.23, 0.31, 0.25, 3.61, 8.54, 5.26, 322.3, 21.85, 131.2, 4977.2, 155.7]
    records = [step(3863 + i, line=i + 1, loss=v) for i, v in enumerate(losses)]
    assert Kind.DIVERGENCE in [e.kind for e in run(records)]


def test_training_that_starts_over_is_judged_as_a_new_run() -> None:
    """A second job in the same log (DINO's linear evaluation printed after its pretraining, in
    `Epoch: [e]  [i/n]` lines): the epoch goes back to 0 and the count to its first step, so the new
    loss is no spike over the old run's level. A climb left open by the first run is decided where it
    ended."""
    first = [step(1500 + 10 * i, line=i, loss=3.6 - 0.001 * i, epoch=99, total_steps=1562) for i in range(10)]
    second = [step(20 * i, line=100 + i, loss=6.9 - 0.05 * i, epoch=0, total_steps=782) for i in range(10)]
    assert run(first + second) == []
    climbing = [step(1500 + 10 * i, line=i, loss=3.6 * 1.04**i, epoch=99, total_steps=1562) for i in range(12)]
    events = run(climbing + second)
    assert [e.code for e in events] == ["DIVERGENCE"] and events[0].line < 100


def test_a_run_that_starts_over_is_read_the_same_in_bulk() -> None:
    """The batch screen and the record-by-record reading agree where training starts over, in
    any batch."""
    from tests.conftest import scan_one_way

    rows = [f"Epoch: [{e}]  [{i:4d}/1562]  lr: 0.000001  loss: {3.6 + 0.01 * (i % 7):.6f}  time: 0.50"
            for e in (98, 99) for i in range(0, 1562, 20)]
    rows += [f"Epoch: [{e}]  [{i:3d}/782]  lr: 0.000500  loss: {6.9 - 0.002 * i:.6f}  time: 0.15"
             for e in (0,) for i in range(0, 782, 20)]
    text = "\n".join(rows) + "\n"
    for chunk in (512, 8192):
        bulk, line_by_line = scan_one_way(text, True, chunk), scan_one_way(text, False, chunk)
        assert bulk[:3] == line_by_line[:3]
        assert "LOSS-SPIKE" not in bulk[0] and "STEP-RESTART" not in bulk[0]


def test_a_negative_loss_that_blows_up_by_orders_of_magnitude() -> None:
    """A flow's negative log-likelihood (WaveGlow around -5.4) has no ratio to its level, but one value
    a thousand times its size, of either sign, is a numeric blow-up: a loss spike when the size comes
    back, a divergence when the log ends first. Ordinary moves of a negative loss (SI-SNR from -5 to
    -15 as it trains) are none."""
    values = [-5.48, -5.35, -5.30, -5.46, 40490.18, -3.48, -2.22]
    [event] = run([step(100 + i, line=i, loss=v) for i, v in enumerate(values)])
    assert (event.code, event.step, event.value) == ("LOSS-SPIKE", 104, 40490.18)
    assert event.details["end"]["step"] == 105
    exploding = [-8.46, -8.57, -8.71, -8.6e29, -1e30]
    [event] = run([step(None, line=i, loss=v) for i, v in enumerate(exploding)])
    assert (event.code, event.line) == ("DIVERGENCE", 3) and "at line 3" in event.message
    training = [-5.0 - 0.5 * i for i in range(20)] + [3.0, -14.0]
    assert run([step(i, line=i, loss=v) for i, v in enumerate(training)]) == []


def test_a_negative_loss_that_comes_back_from_a_blow_up_far_worse_has_diverged() -> None:
    """WaveGlow (NVIDIA/waveglow train.py prints `{iteration}:\t{loss:.9f}`): a negative log-likelihood
    near -5.4 blows up to +40490 for one iteration, then settles near -1.5 and stays: the spike came
    back in size, but the model it left is far worse (the loss of its first iterations). Besides the
    spike, a divergence where it came back, once `blowup_records` records stay far above the level
    before (by `climb_ratio` of its size and 3 noise deviations). Back near the old level, only the spike."""
    before = [-5.41, -5.36, -5.52, -5.30, -5.47, -5.39, -5.44, -5.33]
    after = [-3.41, -2.18, -1.69, -1.47, -1.52, -1.38, -1.61]
    values = before + [38211.5] + after
    spike, divergence = run([step(500 + i, line=i, loss=v) for i, v in enumerate(values)])
    assert (spike.code, spike.step) == ("LOSS-SPIKE", 508)
    assert (divergence.code, divergence.step, divergence.value) == ("DIVERGENCE", 509, -3.41)
    assert divergence.details["records"] == 7 and "stayed there" in divergence.message
    recovered = before + [38211.5] + [-4.2, -5.1, -5.35, -5.42, -5.38, -5.46]
    [only] = run([step(500 + i, line=i, loss=v) for i, v in enumerate(recovered)])
    assert only.code == "LOSS-SPIKE"


def test_a_negative_loss_is_read_the_same_in_bulk() -> None:
    """A negative loss is judged record by record in both paths, its blow-up included."""
    from tests.conftest import scan_one_way

    rows = [f"{100 + i}:\t{-5.4 + 0.01 * (i % 9):.9f}" for i in range(300)]
    rows[150] = "250:\t40490.179687500"
    text = "\n".join(rows) + "\n"
    for chunk in (256, 8192):
        bulk, line_by_line = scan_one_way(text, True, chunk), scan_one_way(text, False, chunk)
        assert bulk[:3] == line_by_line[:3]
        assert bulk[0].count("LOSS-SPIKE") == 1


def test_a_record_printed_twice_is_read_once() -> None:
    """TensorFlow's slim `train` (tf_slim/learning.py `train_step`: `global step %d: loss = %.4f (%.3f sec/step)`)
    logged through two handlers prints every line twice: the copies would halve the loss's noise
    estimate (every other difference 0), and an ordinary wobble would pass for a spike."""
    losses = [0.1225, 0.1975, 0.1816, 0.1463, 0.3145, 0.2371, 0.2558, 0.1591, 0.0917, 0.1846,
              0.2140, 0.1702, 0.0855, 0.1398, 0.1998, 0.2432, 0.2112, 0.1650, 0.1290, 0.2210]
    once = [step(300 + i, line=i, loss=v) for i, v in enumerate(losses)]
    twice = [step(300 + i // 2, line=i, loss=losses[i // 2]) for i in range(2 * len(losses))]
    codes = [e.code for e in run(twice)]
    assert codes == [e.code for e in run(once)]
    assert "DIVERGENCE" not in codes


def test_a_record_printed_twice_is_read_once_in_bulk() -> None:
    from tests.conftest import events_both_ways

    rows = []
    for i in range(300):
        row = f"INFO:tensorflow:global step {100 + i}: loss = {0.2 + 0.05 * ((i * 7) % 5):.4f} (1.200 sec/step)"
        rows += [row, row]
    assert "DIVERGENCE" not in events_both_ways("\n".join(rows) + "\n")


def test_a_record_that_triples_the_one_before_is_a_jump_even_while_the_loss_climbs() -> None:
    """HiFi-GAN's train.py prints each `stdout_interval`-th step's generator loss
    (`Steps : 30, Gen Loss Total : 64922832.000, Mel-Spec. Error : 1.813, s/b : 0.454`): a loss rising
    94, 141, 196 over three records is climbing, and one record of millions after it is a loss spike,
    back at the next record, not the top of the climb."""
    losses = [101.3, 135.1, 106.8, 94.1, 141.4, 196.5, 64922832.0, 199.7, 120.5, 118.0, 126.2]
    [event] = run([step(5 * i, loss=value) for i, value in enumerate(losses)])
    assert event.code == "LOSS-SPIKE" and event.details["peak_step"] == 30 and "reason" not in event.details
    # the same run turning NaN after it: the spike, then the NaN detector's events, and no climb that never came back
    events = run([step(5 * i, loss=value) for i, value in enumerate(losses[:8] + [math.nan] * 4)])
    assert "LOSS-SPIKE" in [e.code for e in events] and "DIVERGENCE" not in [e.code for e in events]


def test_zeros_of_a_series_that_printed_a_negative_zero_are_rounding_not_a_collapse() -> None:
    """The Hugging Face notebook table prints each loss to six decimals (transformers/utils/notebook.py),
    and TRL's GRPO loss is about beta times the KL, so its first rows read `0.000000` and `-0.000000`: a
    negative zero is a tiny value rounded, and so are the zeros beside it. A loss of exactly 0.0 that
    never prints a sign is still a collapse."""
    grpo = [step(i, loss=value) for i, value in enumerate([0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-4], 1)]
    assert [e.code for e in run(grpo)] == []
    broken = [step(i, loss=0.0) for i in range(1, 10)]
    assert "LOSS-COLLAPSE" in [e.code for e in run(broken)]
