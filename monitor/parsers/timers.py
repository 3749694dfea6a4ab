"""Step-time breakdowns: Megatron-LM timer blocks and `time (ms) | name: value` lines.

Sources:
- NVIDIA/Megatron-LM `megatron/core/timers.py`, `Timers.get_all_timers_string`
  (commit 00caa53a), called by `training_log` in `megatron/training/training.py`
  as `timers.log(timers_to_log, normalizer=args.log_interval)` right after the
  iteration line (values are per iteration of the logging interval). The
  layout follows `--timing-log-option`:
  - `minmax`: a header `(min, max) time across ranks (ms):`, then one line per
    timer `'\\n    {}: ({:.2f}, {:.2f})'.format((name + ' ').ljust(48, '.'), min, max)`;
  - `max`: the header `max time across ranks (ms):` and `    <name> ....: {:.2f}`
    lines; microsoft/Megatron-DeepSpeed `megatron/timers.py` (commit 45abca2e)
    prints its `max` values under the `(min, max)` header;
  - `all`: `times across ranks (ms):`, then per timer `  <name>:` and one
    `     rank {:2d}: {:.2f}` line per rank that ran it.
  Timers a rank never started are left out, so a block lists only what ran.
  The same blocks follow start-up (`model-and-optimizer-setup`,
  `train/valid/test-data-iterators-setup`) and checkpoint saves (`save-checkpoint`).
- Megatron-LM before those blocks (2022 and earlier) and the BigScience and
  early Megatron-DeepSpeed forks: one line, `time (ms)` followed by
  ` | {name}: {:.2f}` per timer (`forward-compute`, `backward-params-all-reduce`,
  `optimizer`, `batch-generator`); with no timer to show only `time (ms)` is
  printed (BLOOM's logs), which is not a record. GPT-NeoX's `training_log`
  names a `batch generator` timer, with a space.
- deepspeedai/DeepSpeed `deepspeed/utils/timer.py` (commit 038beb63),
  `SynchronizedWallClockTimer.log`: the same `time (ms) | {name}: {:.2f}`
  line, printed through `print_dist` on rank 0, so `[Rank 0] ` precedes it;
  earlier versions log it through `log_dist` (after the logging prefix) and
  some wrote `rank={rank} time (ms) | ...` (microsoft/DeepSpeed commit
  026f4453); 2020 versions printed the bare line. With `wall_clock_breakdown`
  the engine logs the micro-step timers (`fwd_microstep`, `bwd_microstep`,
  `bwd_inner_microstep`, `bwd_allreduce_microstep`, `step_microstep`; older
  `forward_microstep`, ...) and the global ones (`fwd`, `bwd`, `bwd_inner`,
  `bwd_allreduce`, `step`; older `forward`, `backward`, `backward_inner`,
  `backward_allreduce`, `step`); ZeRO adds `optimizer_allgather |
  optimizer_gradients | optimizer_step`, the pipeline engine `batch_input`,
  `pipe_send_output`, `pipe_recv_grad`, ...
- Observed in posted logs: https://github.com/deepspeedai/DeepSpeed/issues/255
  (bare line), https://github.com/EleutherAI/gpt-neox/issues/965 and
  https://github.com/huggingface/accelerate/issues/1589 (`rank=0`),
  https://github.com/NVIDIA/nccl/issues/743 and
  https://github.com/NVIDIA/Megatron-LM/issues/184 (Megatron's line), and
  `ALCF/README.md` of samanta-amit/Megatron-DeepSpeed, a fork of
  argonne-lcf's (the `(min, max)` blocks next to DeepSpeed's `[Rank 0] time
  (ms)` lines).

Records: one `TimerRecord` per line or block, `timers` in ms as printed (the
maximum across ranks where the log gives min and max, or every rank's time),
`spread` = max - min per timer where both are known. None of these lines
names a step: the record takes the step the stream is at (`ctx.step`: the
iteration line Megatron prints just before its timers, DeepSpeed's
`step=` line, or the training bar).

Traps handled here:
- a block is read until the first line that is not one of its timer lines (an
  iteration line, another rank's message), which is then parsed as usual; a
  block with no timer line gives no record;
- names may hold spaces (`batch generator`) and the dot padding vanishes for
  names of 47 characters or more (`<name> : (...)`);
- a `time (ms)` line must start its message (after a launcher or logging
  prefix, `rank=N `, or a bar glued in front), so prose such as `step time
  (ms) | ...` is not taken; fields whose value is not a number
  (`mem_allocated: 1.2 GB`) are skipped.

Known limits: DeepSpeed's ZeRO `optimizer_*` line prints before the engine's
`step=` line of the same step, so it carries the previous step; a block cut by
another rank's line loses its remaining timers.
"""

from __future__ import annotations

import re
from typing import Any

from monitor.model import TimerRecord
from monitor.parsers.base import PENDING, ParseContext, Parser, _Pending, to_float

_HEADER = re.compile(r"(?:\(min, max\) |max )?time across ranks \(ms\):\s*$|times across ranks \(ms\):\s*$")
# `    forward-backward ......: (4123.45, 4125.02)` or `...: 4125.02`
_ITEM = re.compile(
    r"\s(?P<name>[^\s.:](?:[^\s:]| (?=[^\s.:])){0,127}?) \.*: "
    r"(?:\((?P<min>[^\s,()]+), (?P<max>[^\s()]+)\)|(?P<value>[^\s()]+))\s*$"
)
# `times across ranks (ms):` layout: `  forward-backward:` then `     rank  0: 123.45` lines
_ALL_NAME = re.compile(r"\s(?P<name>[^\s:]+):\s*$")
_ALL_RANK = re.compile(r"\srank\s+\d+: (?P<value>[^\s()]+)\s*$")
_LINE_MARK = "time (ms)"
# what may precede `time (ms)`: nothing, a bracketed or labelled prefix, a quote, then an optional `rank=N `
_LINE_PREFIX = re.compile(r"(?:^[\s>]*|[\]:] ?)(?:rank=\d+ )?$")
_RANK_FIELD = re.compile(r"rank=\d+ $")
_MAX_TEXT_LINES = 64
_MAX_ITEM_CHARS = 512  # a timer line is short; longer lines end the block without a regex run

def _spread(low: float, high: float) -> float:
    return round(high - low, 6)  # values are printed with 2 decimals: drop the float noise


class TimersParser(Parser):
    """Step-time breakdowns: Megatron-LM `time across ranks (ms)` blocks, Megatron and DeepSpeed `time (ms)` lines."""

    name = "timers"
    companion = True
    keywords = (_LINE_MARK, "time across ranks (ms):", "times across ranks (ms):")
    samples = (
        "[2024-05-11 14:01:58,917] [INFO] [logging.py:96:log_dist] [Rank 0] time (ms) | fwd_microstep: 1412.08 | "
        "bwd_microstep: 6790.55 | bwd_inner_microstep: 6745.31 | bwd_allreduce_microstep: 45.12 | "
        "step_microstep: 1870.44",
        "[2023-07-02 11:20:40,904] [INFO] [logging.py:96:log_dist] [Rank 0] rank=0 time (ms) | forward: 1298.41 | "
        "backward: 4702.19 | backward_inner: 4337.60 | backward_allreduce: 364.59 | step: 0.07",
        "time (ms) | forward_microstep: 201.37 | backward_microstep: 318.64 | backward_inner_microstep: 318.52 | "
        "backward_allreduce_microstep: 0.06 | step_microstep: 0.81",
        "time (ms) | forward-compute: 61.08 | backward-compute: 44.91 | backward-params-all-reduce: 19.87 | "
        "backward-embedding-all-reduce: 0.04 | optimizer-copy-to-main-grad: 6.02 | optimizer-unscale-and-check-inf: "
        "3.51 | optimizer-clip-main-grad: 1.27 | optimizer: 55.93 | batch-generator: 4.86",
    )

    def __init__(self) -> None:
        # the block being read: None, or its header's facts and the timers so far
        self.block: dict[str, Any] | None = None

    # -- state ---------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"block": _copy_block(self.block)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.block = _copy_block(snapshot["block"])

    # -- lines ---------------------------------------------------------
    def parse(self, line: str, number: int, ctx: ParseContext) -> TimerRecord | None | _Pending:
        start = line.find(_LINE_MARK)
        if start >= 0:
            return self._line(line, start, number, ctx)
        m = _HEADER.search(line)
        if m is None:
            return None
        time, epoch_s, rank, node = ctx.where(line, m.start())
        self.block = {
            "step": ctx.step, "where": (time, epoch_s, rank, node), "number": number, "lines": [line],
            "timers": {}, "spread": {}, "low": {}, "all": m.group(0).startswith("times"), "current": None,
        }
        return PENDING

    def resume(self, line: str, number: int, ctx: ParseContext) -> tuple[TimerRecord | None | _Pending, bool]:
        block = self.block
        assert block is not None
        if self._item(block, line):
            if len(block["lines"]) < _MAX_TEXT_LINES:
                block["lines"].append(line)
            return PENDING, True
        return self._flush(ctx), False

    def finish(self, ctx: ParseContext) -> TimerRecord | None:
        return self._flush(ctx) if self.block is not None else None

    @staticmethod
    def _item(block: dict[str, Any], line: str) -> bool:
        """Add a timer line of the block being read; False when `line` is not one."""
        if len(line) > _MAX_ITEM_CHARS or not _may_be_item(line):
            return False
        timers, spread, low = block["timers"], block["spread"], block["low"]
        m = _ITEM.search(line)
        if m is not None:
            name = m.group("name")
            if m.group("value") is not None:
                value = to_float(m.group("value"))
                if value is None:
                    return False
                timers[name] = value
                return True
            smallest, largest = to_float(m.group("min")), to_float(m.group("max"))
            if smallest is None or largest is None:
                return False
            timers[name] = largest
            spread[name] = _spread(smallest, largest)
            return True
        m = _ALL_RANK.search(line)
        if m is not None and block["current"] is not None:
            value = to_float(m.group("value"))
            if value is None:
                return False
            name = block["current"]
            if name in timers:
                timers[name] = max(timers[name], value)
                low[name] = min(low[name], value)
            else:
                timers[name] = low[name] = value
            spread[name] = _spread(low[name], timers[name])
            return True
        m = _ALL_NAME.search(line)
        if m is not None and block["all"]:
            block["current"] = m.group("name")
            return True
        return False

    def _flush(self, ctx: ParseContext) -> TimerRecord | None:
        block, self.block = self.block, None
        if block is None or not block["timers"]:
            return None
        time, epoch_s, rank, node = block["where"]
        return TimerRecord(
            block["timers"], spread=block["spread"] or None, step=block["step"], time=time, epoch_s=epoch_s,
            rank=rank, node=node, file=ctx.file, line=block["number"], text="\n".join(block["lines"]),
        )

    @staticmethod
    def _line(line: str, start: int, number: int, ctx: ParseContext) -> TimerRecord | None:
        """A one-line `time (ms) | name: value | ...` breakdown."""
        before = line[:start]
        if _LINE_PREFIX.search(before) is None:
            return None
        rest = line[start + len(_LINE_MARK):].strip()
        if not rest.startswith("|"):
            return None  # the bare `time (ms)` header, or prose
        timers: dict[str, float] = {}
        for part in rest.split("|"):
            label, sep, value = part.rpartition(":")
            label = label.strip()
            if not sep or not label:
                continue
            number_value = to_float(value.strip())
            if number_value is not None:
                timers[label] = number_value
        if not timers:
            return None
        rank_field = _RANK_FIELD.search(before)
        message = rank_field.start() if rank_field is not None else start
        time, epoch_s, rank, node = ctx.where(line, message)
        return TimerRecord(
            timers, step=ctx.step, time=time, epoch_s=epoch_s, rank=rank, node=node,
            file=ctx.file, line=number, text=line,
        )


def _may_be_item(line: str) -> bool:
    """Whether `line` can be a timer line at all: each ends with `name:` or with `: ` and a value
    that holds no blank (a `(min, max)` pair aside), so the line that ends a block (an iteration
    line, a message) is turned away without a regex run."""
    text = line.rstrip()
    if text.endswith(":"):
        return True
    colon = text.rfind(": ")
    if colon < 0:
        return False
    value = text[colon + 2 :]
    return value.startswith("(") or " " not in value


def _copy_block(block: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy that later lines cannot change (snapshots are compared and pickled)."""
    if block is None:
        return None
    copied = dict(block)
    for key in ("lines", "timers", "spread", "low"):
        copied[key] = type(block[key])(block[key])
    return copied
