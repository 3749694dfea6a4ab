"""Karpathy's training loops: nanoGPT and llama2.c (`NanoGptParser`), llm.c (`LlmcParser`).

They are plain `print`/`printf` lines, so the formats are the source's
format strings:

nanoGPT, karpathy/nanoGPT `train.py` (commit 005475c4):
- every `log_interval`: `iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms,
  mfu {running_mfu*100:.2f}%`; `dt` is the wall time of the last iteration, so
  the line right after an evaluation includes the evaluation and checkpoint
  (a long step, not a slowdown: that is the detectors' call). `running_mfu`
  starts at -1 and is only estimated from the 5th local iteration on, so the
  first lines print `mfu -100.00%`: a negative mfu is "not yet known", None.
  Early versions print no mfu; some forks add `, lr {lr:.6e}` before it.
- every `eval_interval`: `step {iter_num}: train loss {:.4f}, val loss {:.4f}`:
  an evaluation record (eval_loss = the val loss; the train-split estimate is
  not a training step's loss and is dropped).

llama2.c, karpathy/llama2.c `train.py` (commit 003dca20), derived from nanoGPT:
`{iter_num} | loss {lossf:.4f} | lr {lr:e} | {dt*1000:.2f}ms | mfu {running_mfu*100:.2f}%`
(no `iter` word) and the same `step N: train loss X, val loss Y` eval line.

llm.c, karpathy/llm.c:
- `train_gpt2.cu` (commit 00247dca): `step %4d/%d | loss %7.6f (%+.2fz)| norm %6.4f
  (%+.2fz)| lr %.2e | %.2f ms | %.1f%% bf16 MFU | %.0f tok/s`, the step printed
  1-based (`step + 1`) over `train_num_batches`; builds before the MFU column
  (commit 5afc5706) print the same without it. The tok/s is a bias-corrected
  EMA (it lags real changes).
- 2024 `train_gpt2.cu`: `step %4d/%d: train loss %f (%f ms, %d tok/s)`.
- the PyTorch reference `train_gpt2.py`: `step {:4d}/{} | train loss {:.6f} |
  norm {:.4f} | lr {:.2e} | ({:.2f} ms | {:.0f} tok/s)`.
- CPU `train_gpt2.c`: `step %d: train loss %f (took %f ms)`.
- Validation prints `val loss %f` with no step: not parsed (nothing ties it
  to a step but the line order, and the bare text is too generic to claim).
- `skipping update due to loss z-score of ...` (outlier skips) is not turned
  into `skipped`: that counter means loss-scale overflows to the detectors.

Non-finite values print as `nan`/`inf` (`-nan` from printf) and stay floats.
"""

from __future__ import annotations

import re

from monitor.model import StepRecord
from monitor.parsers.base import ParseContext, Parser, to_float

# nanoGPT iteration line; optional groups in printed order (lr only in forks).
_NANOGPT_ITER = re.compile(
    r"\biter (?P<step>\d{1,18}): loss (?P<loss>[^\s,]+)"
    r"(?:, time (?P<ms>[^\s,]+?)ms)?"
    r"(?:, lr (?P<lr>[^\s,]+))?"
    r"(?:, mfu (?P<mfu>[^\s,%]+)%)?"
)
# llama2.c iteration line: the number is the whole first field.
_LLAMA2C_ITER = re.compile(
    r"(?<![\w.])(?P<step>\d{1,18}) \| loss (?P<loss>[^\s|]+) \| lr (?P<lr>[^\s|]+) \| "
    r"(?P<ms>[^\s|]+?)ms \| mfu (?P<mfu>[^\s|%]+)%"
)
# The evaluation line shared by nanoGPT and llama2.c.
_EVAL = re.compile(r"\bstep (?P<step>\d{1,18}): train loss [^\s,]+, val loss (?P<val>[^\s,]+)")

# llm.c: the step header and loss, in either generation of the layout.
_LLMC_HEAD = re.compile(
    r"\bstep +(?P<step>\d{1,18})(?:"
    r"/(?P<total>\d{1,18}) \| (?:train )?loss (?P<loss>[^\s|(,]+)"
    r"|(?:/(?P<early_total>\d{1,18}))?: train loss (?P<early_loss>[^\s|(,]+) \("
    r")"
)
# llm.c fields after the loss, whichever of them a build prints. A number is read only from its
# first character (the lookbehinds), so a long run of digits and dots is scanned once, not once
# per character.
_LLMC_FIELD = re.compile(
    r"\bnorm (?P<norm>[^\s|(,]+)"
    r"|\blr (?P<lr>[^\s|(,]+)"
    r"|(?<![\d.])(?P<ms>[\d.]+) ms\b"
    r"|(?P<mfu>-?(?<![\d.])[\d.]+)% \w+ MFU"
    r"|(?<![\d.])(?P<tps>[\d.]+) tok/s"
)


def _seconds(ms: str | None) -> float | None:
    value = to_float(ms)
    return None if value is None else value / 1000.0


def _fraction(percent: str | None) -> float | None:
    """A printed MFU percentage as a fraction; negative means not estimated yet."""
    value = to_float(percent)
    return None if value is None or value < 0 else value / 100.0


class NanoGptParser(Parser):
    """nanoGPT `iter N: loss X, ...` and llama2.c `N | loss X | ...` lines, plus their eval line."""

    name = "nanogpt"
    keywords = (": loss ", " | loss ", ", val loss ")
    samples = (
        "iter 1250: loss 3.4821, time 212.37ms, mfu 31.08%",
        "iter 0: loss 10.9917, time 24811.52ms, mfu -100.00%",
        "step 1500: train loss 3.3102, val loss 3.3968",
        "730 | loss 4.9025 | lr 4.981215e-04 | 412.66ms | mfu 7.42%",
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        if ": loss " in line:
            m = _NANOGPT_ITER.search(line)
        elif " | loss " in line:
            m = _LLAMA2C_ITER.search(line)
        else:
            m = None
        if m is None:
            return self._parse_eval(line, number, ctx) if ", val loss " in line else None
        step = int(m.group("step"))
        ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, m.start())
        return StepRecord(
            step,
            loss=to_float(m.group("loss")),
            lr=to_float(m.group("lr")),
            step_time_s=_seconds(m.group("ms")),
            mfu=_fraction(m.group("mfu")),
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
        )

    @staticmethod
    def _parse_eval(line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        m = _EVAL.search(line)
        if m is None:
            return None
        step = int(m.group("step"))
        ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, m.start())
        return StepRecord(
            step, eval_loss=to_float(m.group("val")), time=time, epoch_s=epoch_s, rank=rank, node=node,
            file=ctx.file, line=number, text=line,
        )


class LlmcParser(Parser):
    """llm.c `step N/M | loss X (z)| norm ...` lines and the early `step N: train loss X (...)` lines."""

    name = "llmc"
    keywords = ("| loss ", "| train loss ", ": train loss ")
    samples = (
        "step  118/18865 | loss 6.402113 (+0.41z)| norm 0.8816 (-0.22z)| lr 1.01e-04 | 287.93 ms "
        "| 44.7% bf16 MFU | 1820411 tok/s",
        "step   17/74 | loss 7.113402 (-1.06z)| norm 2.4170 (+0.95z)| lr 1.70e-05 | 301.12 ms | 174108 tok/s",
        "step   40/200: train loss 4.562315 (131.840517 ms, 31066 tok/s)",
        "step 7: train loss 5.021877 (took 1893.411926 ms)",
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        m = _LLMC_HEAD.search(line)
        if m is None:
            return None
        early = m.group("loss") is None
        loss_text = m.group("early_loss") if early else m.group("loss")
        total = m.group("early_total") if early else m.group("total")
        fields: dict[str, str] = {}
        for f in _LLMC_FIELD.finditer(line, m.end()):
            name = f.lastgroup
            if name is not None and name not in fields:
                fields[name] = f.group(name)
        step = int(m.group("step"))
        ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, m.start())
        return StepRecord(
            step,
            loss=to_float(loss_text),
            grad_norm=to_float(fields.get("norm")),
            lr=to_float(fields.get("lr")),
            step_time_s=_seconds(fields.get("ms")),
            tokens_per_s=to_float(fields.get("tps")),
            mfu=_fraction(fields.get("mfu")),
            total_steps=None if total is None else int(total),
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
        )
