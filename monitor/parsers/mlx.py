"""mlx-lm (and mlx-examples LoRA) fine-tuning report lines.

Source: ml-explore/mlx-lm `mlx_lm/tuner/trainer.py`, `train` (commit 00e8dc24),
rank-0 `print`s:
- every `steps_per_report`: `Iter {it}: Train loss {:.3f}, Learning Rate {:.3e},
  It/sec {:.3f}, Tokens/sec {:.3f}, Trained Tokens {int}, Peak mem {:.3f} GB`;
  the loss is the mean over the report interval;
- at iteration 1, every `steps_per_eval` and at the end: `Iter {it}: Val loss
  {:.3f}, Val took {:.3f}s` (the DPO trainer adds `Val accuracy`, `Val margin`),
  an evaluation record; the first is measured before any training;
- `Iter {it}: Saved adapter weights to ...`: no record.
Older ml-explore/mlx-examples `lora/lora.py` prints only `Train loss`,
`It/sec` and `Tokens/sec` (or just `It/sec`), and `Val loss`, `Val ppl`,
`Val took`: any field may be missing.

Fields: Learning Rate → lr, Tokens/sec → tokens_per_s. `It/sec` is not
turned into a step time: printed to three decimals it loses most of its
precision for slow fine-tunes (0.012 vs 0.013 it/s is 8%). Peak memory and
trained tokens have no record field.
"""

from __future__ import annotations

import re

from monitor.model import StepRecord
from monitor.parsers.base import ParseContext, Parser, to_float

_HEAD = re.compile(r"\bIter (?P<step>\d{1,18}): (?P<kind>Train|Val) loss (?P<loss>[^\s,]+)")
_FIELD = re.compile(r", (?P<key>Learning Rate|Tokens/sec) (?P<value>[^\s,]+)")


class MlxParser(Parser):
    """mlx-lm `Iter N: Train loss X, ...` and `Iter N: Val loss X, ...` lines."""

    name = "mlx"
    keywords = (": Train loss ", ": Val loss ")
    samples = (
        "Iter 250: Train loss 1.874, Learning Rate 1.000e-05, It/sec 0.612, Tokens/sec 288.905, "
        "Trained Tokens 118230, Peak mem 17.442 GB",
        "Iter 200: Val loss 1.902, Val took 41.730s",
        "Iter 40: Train loss 2.315, It/sec 1.730, Tokens/sec 402.118",
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        m = _HEAD.search(line)
        if m is None:
            return None
        step = int(m.group("step"))
        loss = to_float(m.group("loss"))
        ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, m.start())
        if m.group("kind") == "Val":
            return StepRecord(
                step, eval_loss=loss, time=time, epoch_s=epoch_s, rank=rank, node=node,
                file=ctx.file, line=number, text=line,
            )
        fields = {f.group("key"): f.group("value") for f in _FIELD.finditer(line, m.end())}
        return StepRecord(
            step,
            loss=loss,
            lr=to_float(fields.get("Learning Rate")),
            tokens_per_s=to_float(fields.get("Tokens/sec")),
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
        )
