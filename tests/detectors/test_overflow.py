"""Loss-scale overflow episodes: start-up search, routine, storm, collapse."""

from __future__ import annotations

from monitor.detectors.overflow import OverflowDetector
from monitor.model import Kind, Severity
from tests.detectors.records import overflow, step


def run(*batches: list) -> list:
    d = OverflowDetector()
    events = [e for batch in batches for e in d.observe(batch)]
    return events + d.finish()


def test_start_up_search_from_a_high_scale_is_one_info_event() -> None:
    scales = [2.0**32 / 2**i for i in range(9)]
    messages = [overflow(a, b, line=i) for i, (a, b) in enumerate(zip(scales, scales[1:]), 1)]
    [event] = run(messages)
    assert (event.kind, event.code, event.severity) == (Kind.OVERFLOW, "LOSS-SCALE-SEARCH", Severity.INFO)
    assert (event.count, event.line, event.baseline, event.value) == (8, 1, 2.0**32, 2.0**24)


def test_megatron_all_skipped_first_interval_is_the_search() -> None:
    [event] = run([step(10, skipped=10, loss_scale=8388608.0), step(20, loss=9.1, skipped=0, loss_scale=8388608.0)])
    assert (event.code, event.count, event.step) == ("LOSS-SCALE-SEARCH", 10, 10)


def test_isolated_mid_run_overflow_is_routine_info() -> None:
    events = run([step(3500, loss=0.5), overflow(2048, 1024, step=3590), step(3600, loss=0.44)])
    assert [(e.code, e.severity, e.count) for e in events] == [("LOSS-SCALE-OVERFLOW", Severity.INFO, 1)]


def test_three_overflows_in_a_row_mid_run_is_a_storm_raised_at_once() -> None:
    d = OverflowDetector()
    d.observe([step(370, loss=2.0)])
    assert d.observe([overflow(64, 32, step=378), overflow(32, 16, step=379)]) == []
    [event] = d.observe([overflow(16, 8, step=380, line=3)])
    assert (event.code, event.severity, event.step, event.count) == ("LOSS-SCALE-STORM", Severity.WARNING, 378, 3)
    assert (event.baseline, event.value) == (64, 8)
    assert d.observe([overflow(8, 4, step=381)]) == [] and d.finish() == []


def test_scale_falling_below_one_is_a_collapse() -> None:
    events = run([step(10198, loss=6.3), overflow(None, 0.25, step=10198), overflow(None, 0.125, step=10198)])
    assert [(e.code, e.severity) for e in events] == [("LOSS-SCALE-COLLAPSE", Severity.WARNING)]


def test_record_loss_scale_below_one_is_a_collapse_raised_once() -> None:
    events = run([step(1, loss=1.0, loss_scale=0.5), step(2, loss=1.0, loss_scale=0.5)])
    assert [e.code for e in events] == ["LOSS-SCALE-COLLAPSE"]


def test_messages_and_skip_counters_are_not_counted_twice() -> None:
    events = run([
        step(100, loss=1.0, skipped=0),
        overflow(1024, 512, step=101),
        step(110, loss=1.0, skipped=1),
        step(120, loss=1.0, skipped=0),
    ])
    assert [(e.code, e.count) for e in events] == [("LOSS-SCALE-OVERFLOW", 1)]


def test_mid_run_skips_from_megatron_counters() -> None:
    events = run([step(1000, loss=2.0, skipped=0), step(1010, loss=2.0, skipped=3), step(1020, loss=2.0, skipped=0)])
    assert [(e.code, e.severity) for e in events] == [("LOSS-SCALE-STORM", Severity.WARNING)]


def test_after_a_restart_the_search_is_start_up_again() -> None:
    events = run([
        step(5000, loss=2.0, skipped=0),
        step(4000, skipped=10, loss_scale=65536.0),
        step(4010, loss=2.1, skipped=0),
    ])
    assert [e.code for e in events] == ["LOSS-SCALE-SEARCH"]


def test_evaluation_records_neither_close_nor_open_episodes() -> None:
    events = run([step(1, loss=1.0), overflow(1024, 512, step=2), step(2, eval_loss=1.0)])
    assert [e.code for e in events] == ["LOSS-SCALE-OVERFLOW"]  # closed only by finish


def test_a_new_epoch_restarting_its_step_count_is_not_a_restart_of_the_search() -> None:
    """MindSpore-style per-epoch steps: an overflow early in epoch 2 is mid-run, not start-up."""
    events = run([step(480, epoch=1, loss=1.0, skipped=0), step(3, epoch=2, loss=1.0, skipped=1),
                  step(4, epoch=2, loss=1.0, skipped=0)])
    assert [e.code for e in events] == ["LOSS-SCALE-OVERFLOW"]


def test_rankless_progress_closes_the_episode_of_the_only_named_rank() -> None:
    """DeepSpeed tags its scaler messages [Rank 0]; the HF dicts of the same process carry no rank."""
    events = run([overflow(65536, 32768, step=1, rank=0), overflow(32768, 16384, step=2, rank=0),
                  step(20, loss=2.0), overflow(8192, 4096, step=388, rank=0),
                  overflow(4096, 2048, step=389, rank=0), overflow(2048, 1024, step=390, rank=0)])
    assert [(e.code, e.step) for e in events] == [("LOSS-SCALE-SEARCH", 1), ("LOSS-SCALE-STORM", 388)]


def test_unnamed_history_becomes_the_first_named_rank() -> None:
    events = run([step(500, loss=2.0), overflow(64, 32, step=501, rank=0), overflow(32, 16, step=502, rank=0),
                  overflow(16, 8, step=503, rank=0)])
    assert [e.code for e in events] == ["LOSS-SCALE-STORM"]  # rank 0 had progressed: not start-up


_DS = "[2021-11-26 03:07:16,494] [INFO] [logging.py:69:log_dist] [Rank 0] "


def _hf_then_engine(skipped: int) -> str:
    """Hugging Face Trainer loss dicts (`Trainer.log`, transformers/trainer.py) and the DeepSpeed
    engine's progress line (`DeepSpeedEngine._report_progress`, deepspeed/runtime/engine.py,
    through `log_dist`), whose `skipped` counts the skipped steps since step 0."""
    return "\n".join([
        "{'loss': 3.4121, 'learning_rate': 0.0001, 'epoch': 0.41}",
        "{'loss': 3.3907, 'learning_rate': 0.0001, 'epoch': 0.42}",
        f"{_DS}step=3000, skipped={skipped}, lr=[0.0001, 0.0001], mom=[[0.9, 0.999], [0.9, 0.999]]",
        "{'loss': 3.3877, 'learning_rate': 0.0001, 'epoch': 0.43}",
    ])


def test_a_first_engine_line_with_most_steps_skipped_is_a_storm_at_that_line() -> None:
    """The first engine line of the log says 2990 of 3000 steps were skipped: the scale is pinned
    at its floor and every step overflows, however the excerpt began."""
    from tests.conftest import fault_events

    events = [e for e in fault_events(_hf_then_engine(2990)) if e.kind == Kind.OVERFLOW]
    assert [(e.code, e.severity, e.step, e.line, e.count) for e in events] == [
        ("LOSS-SCALE-STORM", Severity.WARNING, 3000, 3, 2990)
    ]
    assert "2990 steps skipped" in events[0].message


def test_a_first_engine_line_with_a_few_steps_skipped_says_nothing() -> None:
    """A handful of skipped steps by step 3000 is the start-up scale search, long over."""
    from tests.conftest import fault_events

    assert [e for e in fault_events(_hf_then_engine(14)) if e.kind == Kind.OVERFLOW] == []


def test_a_printed_scale_that_halves_without_messages_or_counters_is_an_overflow() -> None:
    """A dynamic loss scaler lowers its scale only on an overflow (torch.cuda.amp.GradScaler and apex
    multiply it by the backoff factor, 0.5, for each step with non-finite gradients). A loop that
    prints the scale but neither a scaler message nor a skip counter (a hand-written TF/PyTorch loop's
    `loss_scale: 32768.0000`) still shows them: one overflow per halving between two records."""
    routine = [step(1000, loss=0.5, loss_scale=65536.0), step(1100, loss=0.49, loss_scale=32768.0),
               step(1200, loss=0.48, loss_scale=32768.0)]
    assert [(e.code, e.severity, e.count, e.step) for e in run(routine)] == [
        ("LOSS-SCALE-OVERFLOW", Severity.INFO, 1, 1100)]
    falling = [step(0, loss=0.94, loss_scale=32768.0), step(100, loss=0.91, loss_scale=785.42),
               step(200, loss=0.9, loss_scale=1.0)]
    [event] = run(falling)
    assert (event.code, event.count, event.step) == ("LOSS-SCALE-STORM", 5, 100)
    assert "printed scale fell" in event.message
    growing = [step(1000 + 100 * i, loss=0.5, loss_scale=2.0 ** (10 + i)) for i in range(5)]
    assert run(growing) == []


def test_a_scale_fall_beside_a_skip_counter_or_after_messages_is_not_counted_again() -> None:
    counted = [step(3500, loss=0.5, skipped=0, loss_scale=4096.0), step(3600, loss=0.44, skipped=1, loss_scale=2048.0)]
    assert [(e.code, e.count) for e in run(counted)] == [("LOSS-SCALE-OVERFLOW", 1)]
    told = [step(3500, loss=0.5, loss_scale=4096.0), overflow(4096, 2048, step=3590),
            step(3600, loss=0.44, loss_scale=2048.0)]
    assert [(e.code, e.count) for e in run(told)] == [("LOSS-SCALE-OVERFLOW", 1)]


def test_a_printed_scale_fall_is_read_the_same_in_bulk() -> None:
    """The batch screen (columns) and the record-by-record reading agree on inferred overflows."""
    from tests.conftest import scan_one_way

    rows, scale = [], 65536.0
    for i in range(1, 400):
        if i % 97 == 0:
            scale /= 2
        elif i % 151 == 0:
            scale /= 8
        rows.append(f"{i:05d}: train iter: {i * 10} loss_net: {1.0 - i * 0.001:.4f} loss_scale: {scale:.4f} "
                    f"norm: 2.1000 seconds: 12.300")
    text = "\n".join(rows) + "\n"
    bulk, line_by_line = scan_one_way(text, True, 2048), scan_one_way(text, False, 2048)
    assert bulk[:3] == line_by_line[:3]
    # four halvings (one overflow each) and two falls by 8 (three in a row: a storm)
    assert bulk[0].count("code='LOSS-SCALE-OVERFLOW'") == 4 and bulk[0].count("code='LOSS-SCALE-STORM'") == 2


def test_a_loss_scale_of_minus_one_is_no_scale() -> None:
    """Megatron-DeepSpeed prints `loss scale: -1.0` on every iteration when no dynamic loss scaler runs
    (bf16 or fp32 training, e.g. BigScience's gpt2-meg-ds-3d runs): a sentinel, not a collapse."""
    records = [step(i, loss=12.4 - i / 10, loss_scale=-1.0, skipped=0) for i in range(1, 30)]
    assert run(records) == []
    assert [e.code for e in run([step(1, loss=2.0, loss_scale=0.5, skipped=0)])] == ["LOSS-SCALE-COLLAPSE"]
