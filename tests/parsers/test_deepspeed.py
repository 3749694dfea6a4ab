"""DeepSpeed engine progress, throughput-timer and loss-scaler lines.

Layouts follow deepspeedai/DeepSpeed: `DeepSpeedEngine._report_progress`
(`deepspeed/runtime/engine.py`, `[Rank 0] step=.., skipped=.., lr=[..], mom=[..]`
through `log_dist`), `ThroughputTimer.stop` (`deepspeed/utils/timer.py`, the
`epoch=/micro_step=/global_step=` layout and the older `<epoch>/<step>` ones),
`DynamicLossScaler.update_scale` (`deepspeed/runtime/fp16/loss_scaler.py`), the
`[deepscale]` ZeRO messages, the unfused optimizer's `fp16 dynamic loss scale
overflow!` and the fused optimizer's `Overflow detected.`. Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import LossScaleOverflow, StepRecord
from monitor.parsers.base import ParseContext
from monitor.parsers.deepspeed import DeepSpeedParser
from tests.conftest import parse_text, steps

LOG = "[2024-02-01 09:12:44,517] [INFO] [logging.py:96:log_dist] "
TIMER = "[2024-02-01 09:12:44,519] [INFO] [timer.py:260:stop] "
SCALER = "[2024-02-01 09:13:02,881] [INFO] [loss_scaler.py:183:update_scale] "
MESSAGE = "[deepspeed] OVERFLOW! Rank 0 Skipping step. "
BAR = " 31%|███       | 612/1980 [2:01:10<4:31:05, 11.89s/it]"


def engine(step: int, skipped: int, prefix: str = LOG) -> str:
    return f"{prefix}[Rank 0] step={step}, skipped={skipped}, lr=[0.00029875, 0.00029875], mom=[(0.9, 0.95)]"


def overflows(text: str) -> list[LossScaleOverflow]:
    return [r for r in parse_text(text) if isinstance(r, LossScaleOverflow)]


def test_engine_line_gives_step_lr_time_and_rank() -> None:
    [r] = steps(engine(250, 3))
    assert (r.step, r.lr, r.rank, r.time) == (250, 0.00029875, 0, "2024-02-01T09:12:44.517000")
    assert r.loss is None and r.line == 1


def test_cumulative_skipped_becomes_a_per_record_count() -> None:
    """DeepSpeed counts skipped steps since the start; the record holds those since the previous record."""
    records = steps("\n".join(engine(s, k) for s, k in [(10, 4), (20, 6), (30, 9), (40, 9)]))
    assert [(r.step, r.skipped) for r in records] == [(10, None), (20, 2), (30, 3), (40, 0)]


def test_first_record_keeps_its_count_when_most_steps_were_skipped() -> None:
    """`_report_progress` prints `skipped_steps`, counted (like `global_steps`) from step 0: a first
    line where most steps of the run were skipped is a scale pinned at its floor, whatever came before."""
    records = steps("\n".join(engine(s, k) for s, k in [(2000, 1995), (2010, 2005)]))
    assert [(r.step, r.skipped) for r in records] == [(2000, 1995), (2010, 10)]


def test_first_record_with_half_or_fewer_steps_skipped_has_no_history() -> None:
    """A first line at half the steps skipped or fewer may hold a start-up search of any length: unknown."""
    assert [r.skipped for r in steps(engine(2000, 1000))] == [None]
    assert [r.skipped for r in steps(engine(250, 3))] == [None]


def test_skipped_count_going_down_is_a_restart_with_unknown_history() -> None:
    records = steps("\n".join(engine(s, k) for s, k in [(100, 4), (110, 5), (120, 1), (130, 1)]))
    assert [r.skipped for r in records] == [None, 1, None, 0]


def test_step_going_back_is_a_restart_with_unknown_history() -> None:
    records = steps("\n".join(engine(s, k) for s, k in [(100, 4), (110, 5), (60, 5), (70, 6)]))
    assert [r.skipped for r in records] == [None, 1, None, 1]


def test_skipped_counts_are_kept_per_rank() -> None:
    text = "\n".join([
        engine(10, 2, prefix="[rank0]:" + LOG), engine(10, 5, prefix="[rank8]:" + LOG),
        engine(20, 3, prefix="[rank0]:" + LOG), engine(20, 5, prefix="[rank8]:" + LOG),
    ])
    assert [(r.rank, r.skipped) for r in steps(text)] == [(0, None), (8, None), (0, 1), (8, 0)]


def test_early_engine_line_without_momentum() -> None:
    [r] = steps(f"{LOG}[Rank 0] step=80, skipped=0, lr=[1e-05]")
    assert (r.step, r.lr, r.skipped) == (80, 1e-05, None)


def test_current_timer_layout_uses_the_global_step_and_current_rate() -> None:
    line = (
        f"{TIMER}epoch=0/micro_step=1000/global_step=250, RunningAvgSamplesPerSec=61.40219385810917, "
        "CurrSamplesPerSec=62.0317243551203, MemAllocated=7.43GB, MaxMemAllocated=31.87GB"
    )
    [r] = steps(line)
    assert (r.step, r.samples_per_s, r.epoch) == (250, 62.0317243551203, None)


def test_current_timer_layout_sets_the_step_for_later_lines() -> None:
    text = (
        f"{TIMER}epoch=1/micro_step=1200/global_step=300, RunningAvgSamplesPerSec=60.1, "
        "CurrSamplesPerSec=59.7, MemAllocated=7.43GB, MaxMemAllocated=31.87GB\n"
        f"{SCALER}{MESSAGE}Attempted loss scale: 4096, reducing to 2048"
    )
    [overflow] = overflows(text)
    assert overflow.step == 300


def test_intermediate_timer_layout_takes_the_engine_step() -> None:
    """`<epoch>/<local step>` counts micro-batches of the epoch: the step comes from the engine line."""
    text = (
        engine(20, 0) + "\n"
        f"{TIMER}0/80, RunningAvgSamplesPerSec=232.7340551694273, CurrSamplesPerSec=227.48090316379353, "
        "MemAllocated=0.36GB, MaxMemAllocated=15.06GB"
    )
    _, timer = steps(text)
    assert (timer.step, timer.samples_per_s) == (20, 227.48090316379353)


def test_old_timer_layout_without_an_engine_line_has_no_step() -> None:
    [r] = steps(f"{TIMER}0/40, SamplesPerSec=83.51210084920174, MemAllocated=0.26GB, MaxMemAllocated=9.02GB")
    assert (r.step, r.samples_per_s) == (None, 83.51210084920174)


def test_old_timer_layout_without_memory_fields() -> None:
    _, timer = steps(engine(40, 1) + f"\n{TIMER}2/40, SamplesPerSec=12.5")
    assert (timer.step, timer.samples_per_s) == (40, 12.5)


def test_end_of_epoch_timer_summary_is_not_a_step() -> None:
    assert steps(f"{TIMER}0/500, SamplesPerSec=83.1, SecondsPerEpoch=602.4") == []


def test_overflow_reducing_the_scale() -> None:
    [o] = overflows(f"{SCALER}{MESSAGE}Attempted loss scale: 131072, reducing to 65536")
    assert (o.scale, o.new_scale, o.hysteresis, o.rank, o.step) == (131072.0, 65536.0, False, 0, None)
    assert o.time == "2024-02-01T09:13:02.881000"


def test_overflow_using_up_hysteresis_keeps_the_scale() -> None:
    [o] = overflows(
        f"{SCALER}{MESSAGE}Attempted loss scale: 65536, but hysteresis is 2. Reducing hysteresis to 1"
    )
    assert (o.scale, o.new_scale, o.hysteresis) == (65536.0, 65536.0, True)


def test_old_zero_deepscale_overflow_with_float_scales() -> None:
    [o] = overflows(
        "[2020-10-02 11:40:18,310] [INFO] [stage2.py:1342:step] [deepscale] OVERFLOW! Rank 0 Skipping step. "
        "Attempted loss scale: 1073741824.0, reducing to 536870912.0"
    )
    assert (o.scale, o.new_scale) == (1073741824.0, 536870912.0)


def test_unfused_optimizer_overflow() -> None:
    [o] = overflows(
        "[2024-03-08 16:33:21,416] [INFO] [unfused_optimizer.py:207:step] [deepspeed] fp16 dynamic loss "
        "scale overflow! Skipping step. Attempted loss scale: 8192.0, reducing to 4096.0"
    )
    assert (o.scale, o.new_scale, o.rank) == (8192.0, 4096.0, None)


def test_fused_optimizer_overflow_and_its_companion_lines_count_once() -> None:
    text = (
        "[2024-02-01 09:13:05,003] [INFO] [fused_optimizer.py:344:_update_scale] \n"
        "Grad overflow on iteration 311\n"
        "[2024-02-01 09:13:05,003] [INFO] [fused_optimizer.py:345:_update_scale] Reducing dynamic loss scale "
        "from 16384.0 to 8192.0\n"
        f"{LOG}[Rank 0] Overflow detected. Skipping step. Attempted loss scale: 16384.0, reducing to 8192.0"
    )
    [o] = overflows(text)
    assert (o.scale, o.new_scale, o.rank, o.line) == (16384.0, 8192.0, 0, 4)


def test_bf16_overflow_names_no_scale() -> None:
    [o] = overflows(f"{SCALER}{MESSAGE.rstrip()}")
    assert (o.scale, o.new_scale) == (None, None)


def test_overflow_glued_to_a_bar_gets_the_bar_step() -> None:
    line = f"{BAR}{SCALER}{MESSAGE}Attempted loss scale: 128, reducing to 64"
    [o] = overflows(line)
    assert (o.step, o.scale, o.new_scale, o.time) == (612, 128.0, 64.0, "2024-02-01T09:13:02.881000")


def test_overflow_between_engine_lines_gets_the_latest_step() -> None:
    text = engine(90, 0) + f"\n{SCALER}{MESSAGE}Attempted loss scale: 64, reducing to 32"
    [o] = overflows(text)
    assert o.step == 90


def test_garbage_and_near_misses_give_nothing() -> None:
    parser, ctx = DeepSpeedParser(), ParseContext("x.log", None, 2024)
    for line in [
        "skipped=3 OVERFLOW! SamplesPerSec=",
        "step=abc, skipped=1, lr=[0.1]",
        "Overflow detected. Skipping step.",
        "[deepspeed] OVERFLOW! Rank 0 Skipping",
        "",
    ]:
        assert parser.parse(line, 1, ctx) is None


def test_unreadable_lr_becomes_none() -> None:
    [r] = steps(f"{LOG}[Rank 0] step=5, skipped=0, lr=[tensor(0.1)], mom=[(0.9, 0.95)]")
    assert (r.step, r.lr) == (5, None)


def test_non_finite_rate_stays_a_float() -> None:
    [r] = steps(
        f"{TIMER}epoch=0/micro_step=4/global_step=1, RunningAvgSamplesPerSec=nan, CurrSamplesPerSec=inf, "
        "MemAllocated=1.0GB, MaxMemAllocated=1.0GB"
    )
    assert math.isinf(r.samples_per_s)


def test_state_snapshot_round_trips() -> None:
    parser, ctx = DeepSpeedParser(), ParseContext("x.log", None, 2024)
    parser.parse(engine(10, 2), 1, ctx)
    copy = DeepSpeedParser()
    copy.restore(parser.snapshot())
    assert copy.snapshot() == parser.snapshot()
    record = copy.parse(engine(20, 5), 2, ctx)
    assert isinstance(record, StepRecord) and record.skipped == 3


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    parser, ctx = DeepSpeedParser(), ParseContext("x.log", None, 2024)
    for line in (text, "skipped=" + text, text + "SamplesPerSec=" + text, "[deepspeed] OVERFLOW! " + text):
        parser.parse(line, 1, ctx)
