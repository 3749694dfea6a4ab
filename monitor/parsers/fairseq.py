"""fairseq progress lines in the simple/pipe layouts, and its loss-scale overflow messages.

Source: facebookresearch/fairseq `fairseq/logging/progress_bar.py` (commit
0400ebb5). `BaseProgressBar` builds the prefix `epoch {:03d}`, plus
` | valid on '<subset>' subset` for validation bars; every stat is
pre-formatted (`{:g}` numbers, `{:.3f}` meters).
- `SimpleProgressBar.log` (every `log_interval` updates, logger `train_inner`):
  `{prefix}:  {i+1:5d} / {size} k=v, k=v, ...`;
- `SimpleProgressBar.print` / `TqdmProgressBar.print` (end of epoch, and
  validation, loggers `train` / `valid`): `{prefix} | k v | k v | ...`.
0.9+ logs through Python logging (`YYYY-mm-dd HH:MM:SS | INFO | train_inner | `).
Older layouts (observed in posted logs):
- 0.6-0.8 `print`s each line with a leading `| `: `| epoch 001:    450 / 1891 k=v, ...`,
  `| epoch 027 | loss 6.343 | ...`, validation keys prefixed (`valid_loss`);
- 2018 fairseq-py: `| epoch 010  2000 / 8223 loss=1.27 (1.50), ...` (no colon;
  the interval loss, then the running epoch mean in parentheses), summaries
  `| epoch 010 | train loss 1.44 | ...` and `| epoch 010 | valid on 'valid'
  subset | valid loss 1.94 | ...`, and validation progress lines
  `| epoch 010 | valid on 'valid' subset  1000 / 1311 loss=1.60`.

Steps: `num_updates` (global) when the line prints it; otherwise the progress
index within the epoch, with `epoch` and `total_steps` (the epoch's size) set
so that the restart detector compares (epoch, step). `epoch` is set on every
record. An end-of-epoch summary without `num_updates` (2018 layout) has no
step to stand at and gives no record. Validation lines are evaluation
records (eval_loss) at the training step (`num_updates`, else the current
step), never training steps.

Field mapping: `loss` (interval average), `gnorm` → grad_norm, `lr`,
`loss_scale` (an interval average too: it can print `0` once rounded, or a
non-power-of-two mean such as `1399`; kept as printed), `wps`/`words/s` →
tokens_per_s (target words per second; intervals that end on a tiny batch
print a low value that is not a slowdown). `ups` is printed with two
decimals only, so no step time is derived from it.

Overflow messages, one per overflowing update, become `LossScaleOverflow`
(new scale only) at the current step:
- `fairseq/trainer.py` (0.10+): `NOTE: gradient overflow detected, ignoring
  gradient, setting loss scale to: <x>` (logger `fairseq.trainer`);
- 0.9: `NOTE: overflow detected, setting loss scale to: <x>`;
- 0.6-0.8: `| WARNING: overflow detected, setting loss scale to: <x>`.
The text after "setting loss scale to:" comes from the optimizer's
`OverflowError` message.

Deliberately not here: the JSON progress bar (`{"epoch": 1, ...}` lines, the
JSON-lines parser's) and tqdm bars (the bar parser's).
"""

from __future__ import annotations

import re

from monitor.model import LossScaleOverflow, StepRecord
from monitor.parsers.base import NOT_PROGRESS, ParseContext, Parser, _NotProgress, to_float

# `epoch NNN` then either an interval (`:  i / n ` or the 2018 `  i / n `) or ` | `.
_ANCHOR = re.compile(r"\bepoch (?P<epoch>\d{3,18})(?::? +(?P<i>\d{1,18}) / (?P<n>\d{1,18}) | \| )")
# What follows `epoch NNN | ` on validation lines: a summary or a progress line.
_VALID = re.compile(r"valid on '[^']*' subset(?::? +(?P<i>\d{1,18}) / (?P<n>\d{1,18}) | \| )")
_OVERFLOW = re.compile(
    r"(?:NOTE: |\| WARNING: )(?:gradient )?overflow detected, (?:ignoring gradient, )?"
    r"setting loss scale to: (?P<scale>[^\s,]+)"
)

# printed key → StepRecord field
_FIELDS = {
    "loss": "loss",
    "train loss": "loss",
    "gnorm": "grad_norm",
    "lr": "lr",
    "loss_scale": "loss_scale",
    "wps": "tokens_per_s",
    "words/s": "tokens_per_s",
}
_EVAL_KEYS = ("loss", "valid_loss", "valid loss")


def _updates(text: str | None) -> int | None:
    value = to_float(text)
    return int(value) if value is not None and value.is_integer() else None


def _commas(text: str) -> dict[str, str]:
    """`k=v, k=v (avg), ...` → {k: v}, the first word of each value."""
    stats: dict[str, str] = {}
    for part in text.split(", "):
        key, sep, value = part.partition("=")
        if sep:
            stats[key.strip()] = value.strip().split(" ", 1)[0]
    return stats


def _pipes(text: str) -> dict[str, str]:
    """`k v | k v | ...` → {k: v}; keys may hold spaces (`train loss`, `s/checkpoint`)."""
    stats: dict[str, str] = {}
    for part in text.split(" | "):
        key, _, value = part.strip().rpartition(" ")
        if key:
            stats[key.strip()] = value
    return stats


class FairseqParser(Parser):
    """fairseq `train_inner` interval lines, `train`/`valid` summaries and overflow messages."""

    name = "fairseq"
    keywords = ("epoch ", "setting loss scale to: ")
    samples = (
        "2021-05-04 17:20:03 | INFO | train_inner | epoch 004:    300 / 1211 loss=5.118, nll_loss=3.902, "
        "ppl=14.95, wps=41873.2, ups=1.65, wpb=25380.1, bsz=842.7, num_updates=3933, lr=0.000504, "
        "gnorm=0.612, loss_scale=16, train_wall=178, gb_free=9.8, wall=2411",
        "| epoch 012 | loss 4.212 | nll_loss 2.703 | ppl 6.51 | wps 98321 | ups 2.1 | wpb 46210 | bsz 1533 "
        "| num_updates 21400 | lr 0.000216 | gnorm 0.288 | clip 0% | oom 0 | loss_scale 8.000 | wall 10233 "
        "| train_wall 9710",
        "| epoch 004  1500 / 6100 loss=2.03 (2.41), wps=1204, wpb=880, bsz=32, lr=0.0005, clip=100%, "
        "gnorm=3.0177",
        "2021-05-04 17:41:55 | INFO | valid | epoch 004 | valid on 'valid' subset | loss 4.889 | "
        "nll_loss 3.517 | ppl 11.45 | wps 120033 | wpb 8721.3 | bsz 291.4 | num_updates 4844 | "
        "best_loss 4.889",
        "2021-05-04 17:22:40 | INFO | fairseq.trainer | NOTE: gradient overflow detected, ignoring gradient, "
        "setting loss scale to: 8.0",
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | LossScaleOverflow | _NotProgress | None:
        m = _ANCHOR.search(line)
        if m is None:
            return self._parse_overflow(line, number, ctx) if "setting loss scale to: " in line else None
        epoch = int(m.group("epoch"))
        start = m.start()
        if start >= 2 and line.startswith("| ", start - 2) and line.rfind("|", 0, start - 2) == -1:
            start -= 2  # legacy `| epoch`: the pipe is fairseq's own text
        if m.group("i") is not None:
            return self._interval(line, number, ctx, start, epoch, m)
        rest = m.end()
        v = _VALID.match(line, rest)
        if v is not None:
            return self._validation(line, number, ctx, start, epoch, v)
        stats = _pipes(line[rest:])
        step = _updates(stats.get("num_updates"))
        if step is None:
            return NOT_PROGRESS  # a 2018 epoch summary: no global step to put it at, and nobody else's
        return self._record(line, number, ctx, start, epoch, step, None, stats)

    def _interval(
        self, line: str, number: int, ctx: ParseContext, start: int, epoch: int, m: re.Match[str]
    ) -> StepRecord:
        stats = _commas(line[m.end():])
        step = _updates(stats.get("num_updates"))
        total = None
        if step is None:
            step, total = int(m.group("i")), int(m.group("n"))
        return self._record(line, number, ctx, start, epoch, step, total, stats)

    def _record(
        self, line: str, number: int, ctx: ParseContext, start: int, epoch: int, step: int,
        total: int | None, stats: dict[str, str],
    ) -> StepRecord:
        values = {field: to_float(stats.get(key)) for key, field in _FIELDS.items() if key in stats}
        ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, start)
        return StepRecord(
            step, total_steps=total, epoch=float(epoch), time=time, epoch_s=epoch_s, rank=rank, node=node,
            file=ctx.file, line=number, text=line, **values,
        )

    @staticmethod
    def _validation(
        line: str, number: int, ctx: ParseContext, start: int, epoch: int, v: re.Match[str]
    ) -> StepRecord | None:
        progress = v.group("i") is not None
        stats = _commas(line[v.end():]) if progress else _pipes(line[v.end():])
        for key in _EVAL_KEYS:
            if key in stats:
                eval_loss = to_float(stats[key])
                break
        else:
            return None
        step = _updates(stats.get("num_updates"))
        if step is None:
            step = ctx.step  # the validation progress index is not a training step
        else:
            ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, start)
        return StepRecord(
            step, eval_loss=eval_loss, epoch=float(epoch), time=time, epoch_s=epoch_s, rank=rank, node=node,
            file=ctx.file, line=number, text=line,
        )

    @staticmethod
    def _parse_overflow(line: str, number: int, ctx: ParseContext) -> LossScaleOverflow | None:
        m = _OVERFLOW.search(line)
        if m is None:
            return None
        time, epoch_s, rank, node = ctx.where(line, m.start())
        return LossScaleOverflow(
            None, to_float(m.group("scale")), step=ctx.step, time=time, epoch_s=epoch_s, rank=rank,
            node=node, file=ctx.file, line=number, text=line,
        )
