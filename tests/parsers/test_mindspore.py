"""MindSpore-family progress lines: MindFormers, plain MindSpore and MindYOLO.

Layouts follow mindspore-lab/mindformers `mindformers/core/callback/callback.py`
(`MFLossMonitor.print_output_info`: `{ Epoch:[%3d/%3d], step:[%5d/%5d], loss: %5.3f,
per_step_time: %dms, lr: %s, overflow cond: %s, loss_scale: %s, global_norm: %s`, the
non-sink `loss:[cur/mean]`, the newer `lm_loss:` fields, the mid-2023 `time:%5.3f ms`
layout, and the `samples/s/p` progress line after each step line),
mindspore-ai/mindspore `train/callback/_loss_monitor.py` (`epoch: %s step: %s, loss is %s`
and its invalid-loss ValueError, old and new wording) and mindspore-lab/mindyolo
`mindyolo/utils/trainer_factory.py` (`Epoch e/E, Step s/S, imgsize ..., loss: ...,
cur_lr: ...`, the `step time` companion, the older total-first order, and the overflow
warnings). Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.model import LossScaleOverflow
from monitor.parsers.base import PENDING, ParseContext
from monitor.parsers.mindspore import MindFormersParser, MindSporeParser, MindYoloParser
from tests.conftest import parse_text, steps

MF_PREFIX = "2024-03-05 10:11:12,345 - mindformers[mindformers/core/callback/callback.py:318] - INFO - "
MF_SINK = (
    MF_PREFIX + "{ Epoch:[  1/  2], step:[   40/  500], loss: 2.718, per_step_time: 640ms, lr: 2e-05, "
    "overflow cond: False, loss_scale: 1.0, global_norm: [0.987654], train_throughput_per_npu: 101.250T"
)
MF_BAR = MF_PREFIX + "   4.0% |" + "██".ljust(50) + "| 6.25000 samples/s/p  1:02:03 }"


def mf_line(
    step: int, loss: str = "2.718", overflow: str = "False", norm: str = "[0.987654]", epoch: int = 1
) -> str:
    return (
        f"{MF_PREFIX}{{ Epoch:[{epoch:3d}/  2], step:[{step:5d}/  500], loss:[{loss}/2.801], "
        f"per_step_time: 640ms, lr: 2e-05, overflow cond: {overflow}, loss_scale: 65536.0, "
        f"global_norm: {norm}"
    )


# ---------------------------------------------------------------- MindFormers


def test_mindformers_sink_line_gives_every_field() -> None:
    [r] = steps(MF_SINK)
    assert (r.step, r.epoch, r.loss, r.lr, r.loss_scale) == (40, 1.0, 2.718, 2e-5, 1.0)
    assert (r.grad_norm, r.tflops, r.skipped) == (0.987654, 101.25, 0)
    assert math.isclose(r.step_time_s, 0.64)
    assert r.time == "2024-03-05T10:11:12.345000"
    assert r.line == 1 and r.text == MF_SINK


def test_mindformers_progress_line_gives_samples_per_second_to_the_step_before() -> None:
    [r] = steps(MF_SINK + "\n" + MF_BAR)
    assert (r.step, r.samples_per_s, r.line) == (40, 6.25, 1)


def test_mindformers_progress_line_that_does_not_follow_a_step_is_ignored() -> None:
    records = parse_text(MF_SINK + "\nsomething else\n" + MF_BAR)
    assert [(r.step, r.samples_per_s) for r in records] == [(40, None)]


def test_mindformers_non_sink_loss_takes_the_current_value_not_the_mean() -> None:
    [r] = steps(mf_line(120, loss="1.902"))
    assert (r.step, r.loss, r.loss_scale) == (120, 1.902, 65536.0)


def test_mindformers_overflow_cond_true_is_a_skipped_step() -> None:
    first, second = steps(mf_line(10) + "\n" + mf_line(11, overflow="True", norm="[inf]"))
    assert (first.skipped, second.skipped) == (0, 1)
    assert math.isinf(second.grad_norm)


def test_mindformers_nan_loss_is_found_at_its_step() -> None:
    records = steps("\n".join(mf_line(s, loss="nan" if s == 13 else "2.500") for s in range(11, 16)))
    assert [r.step for r in records if math.isnan(r.loss)] == [13]


def test_mindformers_lm_loss_variant_keeps_the_total_loss() -> None:
    line = (
        "{ Epoch:[  1/  1], step:[  250/ 4000], loss: 3.401, lm_loss: 3.377, aux_loss: 0.024, "
        "per_step_time: 2210ms, lr: 1.5e-04, overflow cond: False, loss_scale: 1.0, global_norm: [2.104]"
    )
    [r] = steps(line)
    assert (r.step, r.loss, r.grad_norm, r.step_time_s) == (250, 3.401, 2.104, 2.21)


def test_mindformers_mid_2023_print_output_info_layout() -> None:
    line = (
        "2023-07-10 08:00:00,001 - mindformers - INFO - print_output_info: Epoch:[  2/  4], "
        "step:[   60/  300], loss:[4.012/4.187], time:987.125 ms, lr:[3.e-05], overflow cond: False, "
        "loss_scale: 16384.0"
    )
    [r] = steps(line)
    assert (r.step, r.epoch, r.loss, r.lr, r.loss_scale, r.skipped) == (60, 2.0, 4.012, 3e-5, 16384.0, 0)
    assert math.isclose(r.step_time_s, 0.987125)


def test_mindformers_unavailable_scale_and_missing_lr_become_none() -> None:
    line = (
        "{ Epoch:[  1/  3], step:[    5/  100], loss: 6.001, per_step_time: 300ms, overflow cond: False, "
        "loss_scale: unavailable, global_norm: None"
    )
    [r] = steps(line)
    assert (r.loss, r.lr, r.loss_scale, r.grad_norm) == (6.001, None, None, None)


def test_mindformers_steps_count_within_the_epoch() -> None:
    records = steps(mf_line(500, epoch=1) + "\n" + mf_line(1, epoch=2))
    assert [(r.epoch, r.step) for r in records] == [(1.0, 500), (2.0, 1)]


def test_mindformers_record_at_end_of_input_is_flushed() -> None:
    parser, ctx = MindFormersParser(), ParseContext("x.log", None, 2024)
    assert parser.parse(MF_SINK, 7, ctx) is PENDING
    record = parser.finish(ctx)
    assert record is not None and record.line == 7 and ctx.step == 40
    assert parser.finish(ctx) is None


# ---------------------------------------------------------------- plain MindSpore


def test_loss_monitor_line() -> None:
    [r] = steps("epoch: 2 step: 150, loss is 3.2145678")
    assert (r.step, r.epoch, r.loss) == (150, 2.0, 3.2145678)


def test_loss_monitor_tensor_and_array_values() -> None:
    first, second = steps(
        "epoch: 1 step: 10, loss is Tensor(shape=[], dtype=Float32, value= 2.30258)\n"
        "epoch: 1 step: 20, loss is [2.1034]"
    )
    assert (first.loss, second.loss) == (2.30258, 2.1034)


def test_loss_monitor_invalid_loss_errors_are_nan_at_their_step() -> None:
    old, new = steps(
        "ValueError: epoch: 4 step: 37. Invalid loss, terminating training.\n"
        "ValueError: In epoch: 3 step: 12, loss is NAN or INF, training process cannot continue, "
        "terminating training."
    )
    assert (old.epoch, old.step) == (4.0, 37) and math.isnan(old.loss)
    assert (new.epoch, new.step) == (3.0, 12) and math.isnan(new.loss)


def test_loss_monitor_source_line_in_a_traceback_is_not_a_record() -> None:
    line = '    raise ValueError("epoch: {} step: {}. Invalid loss, terminating training.".format('
    assert steps(line) == []


# ---------------------------------------------------------------- MindYOLO

YOLO = "2025-01-20 09:14:02,517 [INFO] "


def yolo_step(epoch: int, step: int, loss: str = "0.3541") -> str:
    return (
        f"{YOLO}Epoch {epoch}/300, Step {step}/160, imgsize (640, 640), loss: {loss}, lbox: 0.1210, "
        f"lobj: 0.1102, lcls: 0.1229, cur_lr: 0.00951\n"
        f"{YOLO}Epoch {epoch}/300, Step {step}/160, step time: 812.50 ms"
    )


def test_mindyolo_step_and_step_time_make_one_record() -> None:
    [r] = steps(yolo_step(12, 80))
    assert (r.epoch, r.step, r.loss, r.lr, r.step_time_s) == (12.0, 80, 0.3541, 0.00951, 0.8125)
    assert r.time == "2025-01-20T09:14:02.517000" and r.line == 1


def test_mindyolo_sink_mode_line_without_imgsize() -> None:
    [r] = steps(f"{YOLO}Epoch 7/50, Step 160/160, loss: 0.4012, lbox: 0.1300, cur_lr: 0.0095")
    assert (r.epoch, r.step, r.loss, r.step_time_s) == (7.0, 160, 0.4012, None)


def test_mindyolo_older_total_first_order() -> None:
    """Older trainer_factory printed `Epoch {epochs}/{cur_epoch}, Step {steps_per_epoch}/{cur_step}`."""
    [r] = steps(f"{YOLO}Epoch 300/12, Step 160/40, imgsize (640, 640), loss: 0.3300, cur_lr: 0.0090")
    assert (r.epoch, r.step) == (12.0, 40)


def test_mindyolo_nan_loss_is_found_at_its_epoch_and_step() -> None:
    records = steps("\n".join(yolo_step(e, 160, "nan" if e == 14 else "0.3500") for e in range(12, 16)))
    assert [(r.epoch, r.step) for r in records if math.isnan(r.loss)] == [(14.0, 160)]


def test_mindyolo_overflow_warning_takes_the_current_step() -> None:
    warning = "2025-01-20 09:20:41,002 [WARNING] overflow, still update, loss scale adjust to 1024.0"
    records = parse_text(yolo_step(37, 4) + "\n" + warning)
    overflow = records[-1]
    assert isinstance(overflow, LossScaleOverflow)
    assert (overflow.scale, overflow.new_scale, overflow.step, overflow.line) == (None, 1024.0, 4, 3)


def test_mindyolo_overflow_variants() -> None:
    drop, accumulate, unscaled = parse_text(
        "[WARNING] overflow, drop step, loss scale adjust to [512.]\n"
        "[WARNING] Epoch 13/300, Step 20/160, accumulate: 4, this step grad overflow, drop. "
        "Loss scale adjust to 256.0\n"
        "[WARNING] overflow, still update."
    )
    assert isinstance(drop, LossScaleOverflow) and drop.new_scale == 512.0
    assert isinstance(accumulate, LossScaleOverflow)
    assert (accumulate.step, accumulate.new_scale) == (20, 256.0)
    assert isinstance(unscaled, LossScaleOverflow) and unscaled.new_scale is None


def test_mindyolo_step_time_of_another_step_is_not_merged() -> None:
    text = (
        f"{YOLO}Epoch 3/300, Step 80/160, imgsize (640, 640), loss: 0.3541, cur_lr: 0.00951\n"
        f"{YOLO}Epoch 3/300, Step 40/160, step time: 812.50 ms"
    )
    [r] = steps(text)
    assert r.step == 80 and r.step_time_s is None


# ---------------------------------------------------------------- bad input

JUNK = ("Epoch:[ step:[ loss is epoch: 1 step: cur_lr: Epoch 1/2, Step overflow, still update " * 13000)
JUNK = JUNK[: 1 << 20]


def test_huge_junk_lines_are_not_records() -> None:
    ctx = ParseContext("x.log", None, 2024)
    for parser in (MindFormersParser(), MindSporeParser(), MindYoloParser()):
        assert parser.parse(JUNK, 1, ctx) is None
        assert parser.parse("\x00\ufffd{ Epoch:[ 1/", 2, ctx) is None


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    ctx = ParseContext("x.log", None, 2024)
    for parser in (MindFormersParser(), MindSporeParser(), MindYoloParser()):
        for line in (text, "{ Epoch:[  1/  2], step:[   3/   9], " + text, "Epoch 1/2, Step 3/4, " + text):
            if parser.parse(line, 1, ctx) is PENDING:
                parser.resume(text, 2, ctx)
                parser.finish(ctx)
