"""Microsoft DeepSpeed: engine progress, throughput timer and fp16 loss-scaler lines.

Sources (deepspeedai/DeepSpeed, formerly microsoft/DeepSpeed):
- `deepspeed/runtime/engine.py`, `DeepSpeedEngine._report_progress`: every
  `steps_per_print` steps, rank 0 logs through `log_dist` (so `[Rank 0] ` comes
  first) `step={step}, skipped={self.skipped_steps}, lr={lr}, mom={mom}`; `lr` is
  a list with one entry per parameter group (the first is kept), and early
  versions print no `mom`. `skipped` is cumulative since the run started.
- `deepspeed/utils/timer.py`, `ThroughputTimer.stop`: current versions print
  `epoch={e}/micro_step={m}/global_step={g}, RunningAvgSamplesPerSec={f},
  CurrSamplesPerSec={f}, MemAllocated={x}GB, MaxMemAllocated={y}GB`; older ones
  `{epoch}/{local_step}, RunningAvgSamplesPerSec=..., CurrSamplesPerSec=...` and,
  older still, `{epoch}/{local_step}, SamplesPerSec={f}[, MemAllocated=...]`.
- `deepspeed/runtime/fp16/loss_scaler.py`, `DynamicLossScaler.update_scale`:
  `[deepspeed] OVERFLOW! Rank {rank} Skipping step.`, followed for fp16 by
  ` Attempted loss scale: {int}, reducing to {int}` or, while hysteresis is
  left, ` Attempted loss scale: {int}, but hysteresis is {h}. Reducing
  hysteresis to {h-1}` (bf16 prints no scales). Older ZeRO code
  (`stage2.py`/`stage3.py`) tags the same sentence `[deepscale]` and prints
  float scales; the unfused optimizer and early ZeRO write `[deepspeed] fp16
  dynamic loss scale overflow! [Rank {r} ]Skipping step. Attempted loss scale:
  {x}, reducing to {y}`; the fused fp16 optimizer (`fused_optimizer.py`,
  `FP16_Optimizer.step`) logs `Overflow detected. Skipping step. Attempted loss
  scale: {x}, reducing to {y}`. Its companion lines `Grad overflow on
  iteration` / `Reducing dynamic loss scale from` describe the same overflow
  and are deliberately not read (that would count it twice).

Traps handled here:
- `skipped` is turned into a per-record count (what `StepRecord.skipped`
  means): the difference from the previous record of the same rank. A record
  after a restart (the step or the cumulative count went back) has no history
  (None). The first record of a rank has none either, as a rule: its count
  covers the whole run up to it (`global_steps` and `skipped_steps` both count
  from step 0 and are restored together on resume), start-up scale search
  included, and a log excerpt says nothing about when those steps were
  skipped. Only when more of the run's steps were skipped than went through
  (`skipped` above half of `step`, e.g. `step=2000, skipped=1995`: a scale
  pinned at its floor, every step overflowing) is the count kept: no start-up
  search comes near that past its first few steps, and the overflow detector
  tells a search (early steps) from a persistent overflow.
- the older timer layouts print the micro-step within the epoch
  (`local_step_count` grows on every `engine.step()` call, i.e. per
  micro-batch), which is the optimizer step only without gradient
  accumulation; so those records take the step of the latest engine line
  (`ctx.step`) instead, or none. The timer's epoch counter is not put on the
  record: DeepSpeed only advances it when the training script calls
  `update_epoch_count`, so it would contradict other epoch counts of the
  same stream (a Hugging Face log dict's fractional epoch).
- overflow messages print no step: they take `ctx.step` (the tqdm bar glued
  in front of them, or the latest progress line), and are found anywhere in
  the line because tqdm glues them after a bar. Their rank is the launcher
  prefix's or else the one the message names, so that they share the rank of
  the engine lines (`[Rank 0]`) whose skip counters report the same overflows.

Deliberately not here: the flops profiler's table (not a per-step record),
the "Current loss scale already at minimum" exception (a crash: the fault
catalog's business).
"""

from __future__ import annotations

import re
from typing import Any

from monitor.model import LossScaleOverflow, StepRecord
from monitor.parsers.base import ParseContext, Parser, to_float

_PROGRESS = re.compile(r"\bstep=(\d{1,18}), skipped=(\d{1,18})(?!\d)(?:, lr=\[([^\],\s]*))?")
_TIMER = re.compile(
    r"(?:epoch=\d+/micro_step=\d+/global_step=(\d{1,18})|\b\d+/\d+), "
    r"(?:RunningAvgSamplesPerSec=[^,\s]+, CurrSamplesPerSec=([^,\s]+)"
    r"|SamplesPerSec=([^,\s]+)(?=, MemAllocated|\s*$))"
)
_OVERFLOW = re.compile(
    r"\[(?:deepspeed|deepscale)\] (?:fp16 dynamic loss scale overflow|OVERFLOW)! "
    r"(?:Rank (\d{1,18}) )?Skipping step\."
    r"(?: Attempted loss scale: ([^,\s]+)(?:, reducing to ([^,\s]+)|, but (hysteresis) is \d+))?"
    r"|Overflow detected\. Skipping step\. Attempted loss scale: ([^,\s]+), reducing to ([^,\s]+)"
)


class DeepSpeedParser(Parser):
    """DeepSpeed engine progress, throughput-timer and loss-scaler overflow lines."""

    name = "deepspeed"
    keywords = ("skipped=", "SamplesPerSec=", "OVERFLOW!", "scale overflow!", "Overflow detected.")
    samples = (
        "[2024-02-01 09:12:44,517] [INFO] [logging.py:96:log_dist] [Rank 0] step=250, skipped=3, "
        "lr=[0.00029875, 0.00029875], mom=[(0.9, 0.95), (0.9, 0.95)]",
        "[2024-02-01 09:12:44,519] [INFO] [timer.py:260:stop] epoch=0/micro_step=1000/global_step=250, "
        "RunningAvgSamplesPerSec=61.40219385810917, CurrSamplesPerSec=62.0317243551203, "
        "MemAllocated=7.43GB, MaxMemAllocated=31.87GB",
        "[2021-05-11 14:20:03,102] [INFO] [timer.py:157:stop] 0/120, SamplesPerSec=47.193326582, "
        "MemAllocated=1.12GB, MaxMemAllocated=10.5GB",
        "[2024-02-01 09:13:02,881] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 "
        "Skipping step. Attempted loss scale: 131072, reducing to 65536",
        "[2024-02-01 09:13:05,004] [INFO] [logging.py:96:log_dist] [Rank 0] Overflow detected. "
        "Skipping step. Attempted loss scale: 16384.0, reducing to 8192.0",
    )

    def __init__(self) -> None:
        # per rank (None: unknown): the last cumulative `skipped` and its step
        self.cumulative_skipped: dict[int | None, int] = {}
        self.last_step: dict[int | None, int] = {}

    def snapshot(self) -> dict[str, Any]:
        return {"cumulative_skipped": dict(self.cumulative_skipped), "last_step": dict(self.last_step)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.cumulative_skipped = dict(snapshot["cumulative_skipped"])
        self.last_step = dict(snapshot["last_step"])

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | LossScaleOverflow | None:
        if "skipped=" in line:
            m = _PROGRESS.search(line)
            if m is not None:
                return self._progress(line, number, ctx, m)
        if "SamplesPerSec=" in line:
            m = _TIMER.search(line)
            if m is not None:
                return self._throughput(line, number, ctx, m)
        m = _OVERFLOW.search(line)
        if m is not None:
            return self._overflow(line, number, ctx, m)
        return None

    def _progress(self, line: str, number: int, ctx: ParseContext, m: re.Match[str]) -> StepRecord:
        step, cumulative = int(m.group(1)), int(m.group(2))
        time, epoch_s, rank, node = ctx.where(line, m.start())
        previous = self.cumulative_skipped.get(rank)
        previous_step = self.last_step.get(rank)
        restarted = previous_step is not None and step < previous_step
        if previous is None:
            # the first record: its count covers the run since step 0; kept only when most steps were skipped
            skipped = cumulative if not restarted and 2 * cumulative > step else None
        else:
            skipped = None if cumulative < previous or restarted else cumulative - previous
        self.cumulative_skipped[rank] = cumulative
        self.last_step[rank] = step
        ctx.step = step
        return StepRecord(
            step, lr=to_float(m.group(3)), skipped=skipped, time=time, epoch_s=epoch_s,
            rank=rank, node=node, file=ctx.file, line=number, text=line,
        )

    def _throughput(self, line: str, number: int, ctx: ParseContext, m: re.Match[str]) -> StepRecord:
        global_step = m.group(1)
        if global_step is not None:
            step: int | None = int(global_step)
            ctx.step = step
        else:
            step = ctx.step  # older layouts print the micro-step of the epoch, not the step
        rate = to_float(m.group(2) if m.group(2) is not None else m.group(3))
        time, epoch_s, rank, node = ctx.where(line, m.start())
        return StepRecord(
            step, samples_per_s=rate, time=time, epoch_s=epoch_s,
            rank=rank, node=node, file=ctx.file, line=number, text=line,
        )

    @staticmethod
    def _overflow(line: str, number: int, ctx: ParseContext, m: re.Match[str]) -> LossScaleOverflow:
        time, epoch_s, rank, node = ctx.where(line, m.start())
        if rank is None and m.group(1) is not None:
            rank = int(m.group(1))
        if m.group(5) is not None:  # fused optimizer
            scale, new_scale, hysteresis = to_float(m.group(5)), to_float(m.group(6)), False
        else:
            scale = to_float(m.group(2))
            hysteresis = m.group(4) is not None
            new_scale = scale if hysteresis else to_float(m.group(3))
        return LossScaleOverflow(
            scale, new_scale, step=ctx.step, hysteresis=hysteresis, time=time, epoch_s=epoch_s,
            rank=rank, node=node, file=ctx.file, line=number, text=line,
        )
