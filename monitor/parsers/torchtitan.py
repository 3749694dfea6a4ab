"""torchtitan (and its March-2024 torchtrain ancestor) per-step metric lines.

Source: pytorch/torchtitan `torchtitan/components/metrics.py`,
`MetricsProcessor.log` (commit 00fbaafa): one `logger.info` line per logged
step, fields separated by two spaces, each wrapped in an ANSI colour (the
reader strips colours before parsers see the line):

    step: {step:2}  loss: {loss:7.4f}  grad_norm: {grad_norm:7.4f}  memory: {GiB:5.2f}GiB({pct:.2f}%)
    tps: {round(tps):,}  tflops: {tflops:,.2f}  mfu: {mfu:.2f}%

and `MetricsProcessor.log_validation`: `validate step: {step:2}  loss: {loss:7.4f}
memory: ...  tps: ...`. Variants: newer builds print the loss `%8.5f`;
early-2025 builds have no `grad_norm`; the 2024 `train.py` (commit 0011fb90)
prints `wps:` (tokens per second "by convention") instead of `tps:` and no
`tflops:`; the March-2024 torchtrain build has neither tflops nor mfu. Some
forks label evaluation lines `context: val  step: ...`. The logging prefix
is `[titan] YYYY-mm-dd HH:MM:SS,mmm - root - INFO - `, usually behind a
torchrun `[rank0]:`.

Fields: `tps`/`wps` → tokens_per_s (per device), `tflops`, `mfu` (printed as a
percentage, stored as a fraction 0-1 like every `StepRecord.mfu`),
`grad_norm`. The memory field has no record field and is skipped. No step
time is printed, so `step_time_s` stays None. A NaN loss prints as `nan`
and stays a float.

Deliberately not here: the TensorBoard/W&B metrics, the "Training starts at
step" banner and the dataset re-loop warning (no step record).
"""

from __future__ import annotations

import re

from monitor.model import StepRecord
from monitor.parsers.base import ParseContext, Parser, to_float

# One pass over the fields in their printed order; every field after the
# loss is optional so all the builds above fit. No nested quantifiers.
_LINE = re.compile(
    r"(?<![\w/])(?P<val>validate |context: ?val\w* +)?step: *(?P<step>\d{1,18})  +loss: *(?P<loss>[^\s]+)"
    r"(?:  +grad_norm: *(?P<grad>[^\s]+))?"
    r"(?:  +memory: *[\d.]+GiB\([\d.]+%\))?"
    r"(?:  +(?:tps|wps): *(?P<tps>[\d,.]+))?"
    r"(?:  +tflops: *(?P<tflops>[\d,.]+))?"
    r"(?:  +mfu: *(?P<mfu>-?[\d.]+)%)?"
)


class TorchtitanParser(Parser):
    """torchtitan `step: N  loss: X  ...` lines and `validate step:` lines."""

    name = "torchtitan"
    keywords = ("  loss: ",)
    samples = (
        "[rank0]:[titan] 2025-06-03 09:14:07,402 - root - INFO - step: 40  loss:  4.81234  "
        "grad_norm:  1.2031  memory: 31.07GiB(39.24%)  tps: 5,118  tflops: 296.41  mfu: 29.97%",
        "[rank0]:[titan] 2025-02-11 18:02:33,117 - root - INFO - step: 12  loss:  7.9310  "
        "memory:  2.86GiB(3.61%)  tps: 88,412  tflops: 8.37  mfu: 0.85%",
        "[rank0]:2024-03-21 10:05:44,861 - root - INFO - step:  5  loss:  9.4102  "
        "memory: 20.11GiB(25.40%)  wps: 2,345",
        "[rank0]:[titan] 2025-06-03 09:20:11,008 - root - INFO - validate step: 100  loss:  4.2210  "
        "memory: 29.83GiB(37.67%)  tps: 14,092",
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        m = _LINE.search(line)
        if m is None:
            return None
        step = int(m.group("step"))
        loss = to_float(m.group("loss"))
        ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, m.start())
        if m.group("val") is not None:
            return StepRecord(
                step, eval_loss=loss, time=time, epoch_s=epoch_s, rank=rank, node=node,
                file=ctx.file, line=number, text=line,
            )
        mfu = to_float(m.group("mfu"))
        return StepRecord(
            step,
            loss=loss,
            grad_norm=to_float(m.group("grad")),
            tokens_per_s=to_float(m.group("tps")),
            tflops=to_float(m.group("tflops")),
            mfu=None if mfu is None else mfu / 100.0,
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
        )
