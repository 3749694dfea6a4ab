"""NVIDIA apex loss-scaler overflow messages (apex AMP and apex's FP16_Optimizer).

Sources (NVIDIA/apex):
- `apex/amp/handle.py`, `scale_loss`: when the scaler found an overflow it
  patches the optimizer's next `step` with `skip_step`, which prints
  `Gradient overflow.  Skipping step, loss scaler {loss_id} reducing loss scale
  to {loss_scaler.loss_scale()}` (two spaces after the first period; the scale
  is already the reduced one, a float). An older variant prints no loss id
  (`... loss scaler reducing loss scale to {x}`).
- `apex/fp16_utils/fp16_optimizer.py`, `FP16_Optimizer.step` (also vendored by
  early Megatron-LM and Tacotron 2 / WaveGlow): `OVERFLOW! Skipping step.
  Attempted loss scale: {scale}, reducing to {new scale}`; its first version
  printed only `OVERFLOW! Skipping step. Attempted loss scale: {scale}`.

PaddleNLP's trainer (`paddlenlp/trainer/trainer.py`, its GradScaler step) prints the same event as
`optimizer not run, scale_before: {scale}, scale_after: {new scale}`. NVIDIA DeepLearningExamples'
BERT (`PyTorch/LanguageModeling/BERT/run_pretraining.py`, `take_optimizer_step`) logs the reduced
scale through DLLogger only when it skipped an overflowed step: `dllogger.log(step="PARAMETER",
data={"loss_scale": scaler.loss_scale()})`, printed as `DLL <time> - PARAMETER loss_scale : 32768.0`.
Marian (`src/training/graph_group.cpp`, `GraphGroup::decreaseCostScaleFactor`) calls its loss scale
the cost-scaling factor and warns `NaN/Inf percentage {p} in {n} gradient updates, reducing
cost-scaling factor to {x}`, or `... but cost-scaling factor {x} is already at minimum`. OpenAI's
guided-diffusion and improved-diffusion keep the scale's base-2 logarithm
(`guided_diffusion/fp16_util.py`, `MixedPrecisionTrainer.optimize_fp16`) and log `Found NaN,
decreased lg_loss_scale to {lg}`. PaddlePaddle's dynamic loss scaler (`python/paddle/amp/grad_scaler.py`,
`AmpScaler._update`, and the older `paddle/fluid/dygraph/amp/loss_scaler.py`) prints `Found inf or nan,
current scale is: {scale}, decrease to: {scale}*{decr_ratio}` each time it lowers the scale.
Colossal-AI's ZeRO optimizers skip a step whose gradients overflowed without printing the scale:
`ShardedOptimizerV2.step` (`colossalai/zero/sharded_optim/sharded_optim_v2.py`) logs `found inf during
ShardedOptimV2 step`, the low-level and Gemini optimizers (`colossalai/zero/low_level/low_level_optim.py`,
`colossalai/zero/gemini/gemini_optimizer.py`) `Found overflow. Skip step`. torch_npu's GradScaler
(`torch_npu/npu/amp/grad_scaler.py`) prints `Gradient overflow. Skipping step` when it skips the
step and `Loss scaler reducing loss scale to {scale}` when it lowers the scale after it: the second
line, which has the new scale, is the overflow (its bare first line is not counted again). Colossal-AI logs through
rich, which wraps a long message under its own column: `found` may end one line and `inf during
ShardedOptimV2 step` begin the next, so the message is found from `inf`.

None of these messages names a step: the record takes `ctx.step` (a tqdm bar glued in
front, or the latest progress line). The messages may follow a bar or a
launcher prefix on the same line, so they are searched for, not anchored.

Deliberately not here: DeepSpeed's tagged variants (`[deepspeed] OVERFLOW!
Rank 0 ...`, `deepspeed.py`), fairseq's and MindSpore's own scaler messages.
"""

from __future__ import annotations

import re

from monitor.model import LossScaleOverflow
from monitor.parsers.base import ParseContext, Parser, to_float

# DeepSpeed tags its own messages (`[deepspeed] OVERFLOW! ...`): those are not apex's.
_OVERFLOW = re.compile(
    r"Gradient overflow\. {1,2}Skipping step, loss scaler (?:\d+ )?reducing loss scale to ([^\s,]+)"
    r"|(?<!\] )OVERFLOW! Skipping step\. Attempted loss scale: ([^\s,]+)(?:, reducing to ([^\s,]+))?"
    r"|optimizer not run, scale_before: ([^\s,]+), scale_after: ([^\s,]+)"
    r"|\bPARAMETER loss_scale : ([^\s,]+)"
    r"|NaN/Inf percentage [\d.]+ in \d+ gradient updates, (?:reducing cost-scaling factor to ([^\s,]+)"
    r"|but cost-scaling factor ([^\s,]+) is already at minimum)"
    r"|Found NaN, decreased lg_loss_scale to ([^\s,]+)"
    r"|Found inf or nan, current scale is: ([^\s,]+), decrease to: [^\s,*]+\*([^\s,]+)"
    r"|\binf during ShardedOptimV2 step|Found overflow\. Skip step"
    r"|(?<![\w,] )Loss scaler reducing loss scale to (\d[\d.]*(?:e[+-]?\d+)?)"
)



def _scale(text: str | None) -> float | None:
    """A scale as printed, tolerating the sentence's full stop (`1024.0.`)."""
    return None if text is None else to_float(text.rstrip("."))


def _power_of_two(lg: float | None) -> float | None:
    """The scale whose base-2 logarithm is printed (None when it is not a float's)."""
    if lg is None:
        return None
    try:
        return 2.0**lg
    except OverflowError:
        return None


class ApexLossScaleParser(Parser):
    """apex AMP `Gradient overflow.` and FP16_Optimizer `OVERFLOW! Skipping step.` messages."""

    name = "apex"
    keywords = (
        "Gradient overflow.", "OVERFLOW! Skipping step.", "optimizer not run, scale_before", "PARAMETER loss_scale",
        "cost-scaling factor", "decreased lg_loss_scale", "Found inf or nan, current scale",
        "inf during ShardedOptimV2 step", "Found overflow. Skip step", "Loss scaler reducing loss scale to",
    )
    samples = (
        "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 16384.0",
        " 41%|████      | 412/1000 [03:10<04:31,  2.17it/s]Gradient overflow.  Skipping step, loss scaler 0 "
        "reducing loss scale to 2048.0",
        "OVERFLOW! Skipping step. Attempted loss scale: 1024.0, reducing to 512.0",
        "[2023-11-02 10:11:12,345] [ WARNING] - optimizer not run, scale_before: 0.5, scale_after: 0.25",
        "DLL 2020-06-02 11:04:31.118204 - PARAMETER loss_scale : 32768.0 ",
        "[2023-01-12 04:10:02] NaN/Inf percentage 0.30 in 20 gradient updates, reducing cost-scaling factor to 4096",
        "[2023-01-12 05:22:48] NaN/Inf percentage 0.65 in 20 gradient updates, but cost-scaling factor 7.62939e-06 is "
        "already at minimum",
        "Found NaN, decreased lg_loss_scale to 19.000",
        "Found inf or nan, current scale is: 65536.0, decrease to: 65536.0*0.5",
        "[10/02/22 11:20:41] WARNING  colossalai - ShardedOptimizerV2 - WARNING: found inf during ShardedOptimV2 step",
        "                             inf during ShardedOptimV2 step                     ",
        "[11/14/23 09:02:17] INFO     colossalai - colossalai - INFO: Found overflow. Skip step",
        "Loss scaler reducing loss scale to 1024.0",
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> LossScaleOverflow | None:
        m = _OVERFLOW.search(line)
        if m is None:
            return None
        if m.group(1) is not None:
            scale, new_scale = None, _scale(m.group(1))
        elif m.group(4) is not None:
            scale, new_scale = _scale(m.group(4)), _scale(m.group(5))
        elif m.group(6) is not None:
            scale, new_scale = None, _scale(m.group(6))
        elif m.group(7) is not None:
            scale, new_scale = None, _scale(m.group(7))
        elif m.group(8) is not None:
            scale = new_scale = _scale(m.group(8))  # overflowing still, at the floor
        elif m.group(9) is not None:
            scale, new_scale = None, _power_of_two(_scale(m.group(9)))
        elif m.group(10) is not None:
            scale, ratio = _scale(m.group(10)), _scale(m.group(11))
            new_scale = scale * ratio if scale is not None and ratio is not None else None
        elif m.group(12) is not None:
            scale, new_scale = None, _scale(m.group(12))
        else:
            scale, new_scale = _scale(m.group(2)), _scale(m.group(3))
        time, epoch_s, rank, node = ctx.where(line, m.start())
        return LossScaleOverflow(
            scale, new_scale, step=ctx.step, time=time, epoch_s=epoch_s,
            rank=rank, node=node, file=ctx.file, line=number, text=line,
        )
