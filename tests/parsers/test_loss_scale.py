"""NVIDIA apex loss-scaler overflow messages.

Layouts from NVIDIA/apex: `apex/amp/handle.py` (`skip_step`: `Gradient overflow.
Skipping step, loss scaler <id> reducing loss scale to <x>`, two spaces after the
first period) and `apex/fp16_utils/fp16_optimizer.py` (`FP16_Optimizer.step`:
`OVERFLOW! Skipping step. Attempted loss scale: <x>, reducing to <y>`). Values
are made up.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import LossScaleOverflow
from monitor.parsers.base import ParseContext
from monitor.parsers.loss_scale import ApexLossScaleParser
from tests.conftest import parse_text


def overflows(text: str) -> list[LossScaleOverflow]:
    return [r for r in parse_text(text) if isinstance(r, LossScaleOverflow)]


def test_amp_message_gives_the_new_scale() -> None:
    [o] = overflows("Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 16384.0")
    assert (o.scale, o.new_scale, o.hysteresis, o.step) == (None, 16384.0, False, None)


def test_amp_message_glued_to_a_bar_gets_the_bar_step() -> None:
    [o] = overflows(
        " 41%|████      | 412/1000 [03:10<04:31,  2.17it/s]Gradient overflow.  Skipping step, loss scaler 0 "
        "reducing loss scale to 2048.0"
    )
    assert (o.step, o.new_scale) == (412, 2048.0)


def test_amp_message_without_a_loss_id() -> None:
    [o] = overflows("Gradient overflow.  Skipping step, loss scaler reducing loss scale to 512.0")
    assert o.new_scale == 512.0


def test_amp_message_with_a_launcher_prefix_gets_its_rank() -> None:
    [o] = overflows("[rank3]:Gradient overflow.  Skipping step, loss scaler 1 reducing loss scale to 8192.0")
    assert (o.rank, o.new_scale) == (3, 8192.0)


def test_fp16_optimizer_message_gives_both_scales() -> None:
    [o] = overflows("OVERFLOW! Skipping step. Attempted loss scale: 1024.0, reducing to 512.0")
    assert (o.scale, o.new_scale) == (1024.0, 512.0)


def test_first_fp16_optimizer_message_names_only_the_attempted_scale() -> None:
    [o] = overflows("OVERFLOW! Skipping step. Attempted loss scale: 4294967296")
    assert (o.scale, o.new_scale) == (4294967296.0, None)


def test_each_message_in_a_run_is_one_record() -> None:
    scales = (32768.0, 16384.0, 8192.0)
    message = "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to "
    text = "\n".join(f"{message}{s}" for s in scales)
    assert [o.new_scale for o in overflows(text)] == list(scales)


def test_deepspeed_messages_are_not_apex_messages() -> None:
    parser, ctx = ApexLossScaleParser(), ParseContext("x.log", None, 2024)
    for line in [
        "[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, reducing to 32768",
        "[deepscale] OVERFLOW! Skipping step. Attempted loss scale: 65536, reducing to 32768",
        "Overflow detected. Skipping step. Attempted loss scale: 65536, reducing to 32768.0",
    ]:
        assert parser.parse(line, 1, ctx) is None


def test_garbage_gives_nothing() -> None:
    parser, ctx = ApexLossScaleParser(), ParseContext("x.log", None, 2024)
    near_misses = ["Gradient overflow.", "OVERFLOW! Skipping step.", "Gradient overflow detected. Skipping."]
    for line in near_misses:
        assert parser.parse(line, 1, ctx) is None


def test_paddlenlp_optimizer_not_run_is_an_overflow_with_both_scales() -> None:
    """PaddleNLP, PaddlePaddle/PaddleNLP paddlenlp/trainer/trainer.py (the GradScaler step): when the
    scaler found inf it skips the step and logs `optimizer not run, scale_before: {x}, scale_after: {y}`
    through PaddleNLP's logger (`[time] [ WARNING] - message`)."""
    [o] = overflows("[2023-11-02 10:11:12,345] [ WARNING] - optimizer not run, scale_before: 0.5, scale_after: 0.25")
    assert (o.scale, o.new_scale) == (0.5, 0.25)


def test_dllogger_loss_scale_parameter_is_an_overflow_with_the_reduced_scale() -> None:
    """NVIDIA DeepLearningExamples BERT (PyTorch/LanguageModeling/BERT/run_pretraining.py,
    `take_optimizer_step`): on an overflow it skips the step and logs `dllogger.log(step="PARAMETER",
    data={"loss_scale": scaler.loss_scale()})`, which DLLogger's stdout backend prints as `DLL <time> -
    PARAMETER loss_scale : <scale>`. Other PARAMETER lines are the run's settings."""
    found = overflows(
        "DLL 2020-06-02 11:04:31.118204 - PARAMETER learning_rate : 0.006 \n"
        "DLL 2020-06-02 11:05:40.002113 - PARAMETER loss_scale : 65536.0 \n"
        "DLL 2020-06-02 11:07:12.440950 - PARAMETER loss_scale : 32768.0 "
    )
    assert [(o.scale, o.new_scale) for o in found] == [(None, 65536.0), (None, 32768.0)]


def test_unreadable_scale_becomes_none() -> None:
    [o] = overflows("Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to tensor(8.)")
    assert o.new_scale is None


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    parser, ctx = ApexLossScaleParser(), ParseContext("x.log", None, 2024)
    amp, fp16_optimizer = "Gradient overflow.  Skipping step, loss scaler ", "OVERFLOW! Skipping step. "
    for line in (text, amp + text, fp16_optimizer + text):
        parser.parse(line, 1, ctx)


def test_marian_cost_scaling_messages_are_overflows() -> None:
    """Marian, marian-nmt/marian src/training/graph_group.cpp `GraphGroup::decreaseCostScaleFactor`: its
    loss scale is the cost-scaling factor; past the NaN/Inf tolerance it warns that it reduces the
    factor, or that the factor is already at its minimum (still overflowing, at the floor). Its
    `Increasing cost-scaling factor` note after clean updates is no overflow."""
    [reduced] = overflows(
        "[2023-01-12 04:10:02] NaN/Inf percentage 0.30 in 20 gradient updates, reducing cost-scaling factor to 4096")
    assert (reduced.scale, reduced.new_scale) == (None, 4096.0)
    [floor] = overflows(
        "[2023-01-12 05:22:48] NaN/Inf percentage 0.65 in 20 gradient updates, but cost-scaling factor 7.62939e-06 "
        "is already at minimum")
    assert floor.scale == floor.new_scale == 7.62939e-06
    assert overflows("[2023-01-12 06:00:00] Increasing cost-scaling factor to 8192") == []


def test_guided_diffusion_logs_the_scale_as_its_base_2_logarithm() -> None:
    """openai/guided-diffusion guided_diffusion/fp16_util.py (MixedPrecisionTrainer.optimize_fp16):
    `Found NaN, decreased lg_loss_scale to {lg}` after a step it skipped. The scale is 2**lg; one far
    below a float's range is 0, one far above it unknown."""
    [a, b, c] = [ApexLossScaleParser().parse(line, 1, ParseContext("t.log")) for line in (
        "Found NaN, decreased lg_loss_scale to 19.000",
        "Found NaN, decreased lg_loss_scale to -16199.354",
        "Found NaN, decreased lg_loss_scale to 5000.5",
    )]
    assert isinstance(a, LossScaleOverflow) and a.new_scale == 2.0**19
    assert b.new_scale == 0.0 and c.new_scale is None


def test_paddle_prints_the_scale_it_lowers_and_the_ratio() -> None:
    """PaddlePaddle python/paddle/amp/grad_scaler.py (AmpScaler._update; earlier
    paddle/fluid/dygraph/amp/loss_scaler.py): `Found inf or nan, current scale is: {scale}, decrease
    to: {scale}*{decr_ratio}` when it lowers the scale after steps with inf or nan gradients. The new
    scale is the product; a scale already far down stays an overflow (PaddleOCR's AMP runs)."""
    [first] = overflows("Found inf or nan, current scale is: 32768.0, decrease to: 32768.0*0.5")
    assert (first.scale, first.new_scale) == (32768.0, 16384.0)
    [tiny] = overflows("Found inf or nan, current scale is: 1.7763568394002505e-15, decrease to: "
                       "1.7763568394002505e-15*0.5")
    assert tiny.new_scale == 1.7763568394002505e-15 * 0.5
    assert overflows("Found inf or nan in the input tensor, skipping") == []


def test_colossalai_zero_skips_a_step_without_printing_its_scale() -> None:
    """Colossal-AI colossalai/zero/sharded_optim/sharded_optim_v2.py (ShardedOptimizerV2.step): `found inf
    during ShardedOptimV2 step` when the grad scaler found an overflow; colossalai/zero/low_level/
    low_level_optim.py (LowLevelZeroOptimizer.step): `Found overflow. Skip step`. Colossal-AI's logger is
    rich's, which wraps the message under its column, so its second line alone is the overflow too."""
    [whole] = overflows("[03/18/23 14:02:09] WARNING  colossalai - ShardedOptimizerV2 - WARNING: found inf during "
                        "ShardedOptimV2 step")
    assert (whole.scale, whole.new_scale) == (None, None)
    assert len(overflows("                             inf during ShardedOptimV2 step                ")) == 1
    assert len(overflows("[07/02/24 08:15:40] INFO     colossalai - colossalai - INFO: Found overflow. Skip step")) == 1
    assert overflows("                    WARNING  colossalai - ShardedOptimizerV2 - WARNING: found   ") == []
    assert overflows("INFO: no overflow found, step 120 applied") == []


def test_torch_npu_grad_scaler_lowers_its_scale_on_a_line_of_its_own() -> None:
    """torch_npu torch_npu/npu/amp/grad_scaler.py: `_maybe_opt_step` prints `Gradient overflow. Skipping
    step` and `_npu_update_scale` then `Loss scaler reducing loss scale to {scale}` (the new scale). One
    overflow per skipped step: the line with the scale; growing the scale back is none."""
    [o] = overflows("Gradient overflow. Skipping step\nLoss scaler reducing loss scale to 2048.0")
    assert (o.scale, o.new_scale) == (None, 2048.0)
    [glued] = overflows("Loss scaler reducing loss scale to 64.0Loss scaler reducing loss scale to 64.0")
    assert glued.new_scale == 64.0
    assert overflows("Loss scaler increasing loss scale to 4096.0") == []
    [apex] = overflows("Gradient overflow.  Skipping step, loss scaler reducing loss scale to 512.0")
    assert apex.new_scale == 512.0
