"""MindSpore-family progress lines: MindFormers, plain MindSpore and MindYOLO.

Sources (read for the layouts below):
- MindFormers: mindspore-lab/mindformers `mindformers/core/callback/callback.py`,
  `MFLossMonitor.print_output_info` (commit 00745ca0). Two `logger.info` lines
  per print: the step line `{ Epoch:[%3d/%3d], step:[%5d/%5d], loss: %5.3f,
  per_step_time: %dms, lr: %s, overflow cond: %s, loss_scale: %s,
  global_norm: %s` plus `, train_throughput_per_npu: %.3fT` when the model
  FLOPs are known; in non-sink mode the loss is `loss:[%5.3f/%5.3f]`
  (current / mean of the epoch so far); `lr:` is left out when the learning
  rate cannot be computed; `loss_scale` prints `unavailable` without a
  scaler. Newer versions add `lm_loss: %5.3f, ` (and `aux_loss`, `mtp_loss`)
  after the loss. Then the progress line `  %4.1f%% |<50-char bar>| %.5f
  samples/s/p  <H:MM:SS> }`. Mid-2023 versions print `Epoch:[..], step:[..],
  loss:[cur/mean], time:%5.3f ms, lr:%s, overflow cond: %s, loss_scale: %s`
  (the logger puts `print_output_info:` in front). The step counts within
  the epoch (the epoch is printed), so records carry `epoch`.
- plain MindSpore: mindspore-ai/mindspore
  `mindspore/python/mindspore/train/callback/_loss_monitor.py`,
  `LossMonitor.step_end`: `epoch: %s step: %s, loss is %s` (step within the
  epoch). A non-finite loss is never printed: the callback raises
  `ValueError("epoch: E step: S. Invalid loss, terminating training.")`
  (older) or `In epoch: E step: S, loss is NAN or INF, training process
  cannot continue, ...` (newer); both become a record with a nan loss
  (lossy: NAN and INF are not told apart).
- MindYOLO: mindspore-lab/mindyolo `mindyolo/utils/trainer_factory.py`,
  `Trainer.train_step` / `train_epoch`: `Epoch e/E, Step s/S, imgsize (h, w),
  <loss name>: %.4f, ..., cur_lr: <float>` (sink mode has no imgsize), then
  `Epoch e/E, Step s/S, step time: %.2f ms`; older versions print the totals
  first (`Epoch E/e, Step S/s`), so the smaller number is taken as the
  current one. Overflows: `overflow, still update, loss scale adjust to
  <x>`, `overflow, drop step, loss scale adjust to <x>`, `overflow, still
  update.` (gradient accumulation, no scale) and `Epoch e/E, Step s/S,
  accumulate: n, this step grad overflow, drop. Loss scale adjust to <x>`.

The MindFormers and MindYOLO step lines are held back one line (PENDING) so
that their companion line (throughput, step time) joins the same record.

Deliberately not here: MindSpore error lines (`[ERROR] DEVICE(...)`), which
the fault catalog matches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from monitor.model import LossScaleOverflow, StepRecord
from monitor.parsers.base import PENDING, ParseContext, Parser, _Pending

_NUMBER = re.compile(
    r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)", re.IGNORECASE
)


def _value(text: str) -> float | None:
    """A printed number: `2.345`, `[1.e-05]`, `812ms`, `95.400T`, `nan`; None if unreadable.

    The number must open the text (after spaces and brackets); a unit may
    follow it, but `nan`/`inf` must not run on into a word (`information`).
    """
    text = text.lstrip(" \t[(")
    m = _NUMBER.match(text)
    if m is None:
        return None
    end = m.end()
    if end < len(text) and text[end].isalpha() and text[end - 1].isalpha():
        return None
    return float(m.group())


def _milliseconds(text: str) -> float | None:
    value = _value(text)
    return None if value is None else value / 1000.0


def _flag(text: str) -> int | None:
    """`overflow cond: True` → 1 (an overflowed, skipped step), `False` → 0."""
    word = text.strip().strip("[]").strip()
    return 1 if word == "True" else 0 if word == "False" else None


# ---------------------------------------------------------------- MindFormers

_MF_HEADER = re.compile(r"Epoch:\[\s*(\d{1,18})\s*/\s*(\d{1,18})\s*\],\s*step:\[\s*(\d{1,18})\s*/\s*(\d{1,18})\s*\]")
# label → (StepRecord field, converter); labels as MFLossMonitor prints them
_MF_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "loss": ("loss", _value),  # `loss:[cur/mean]` reads the current value
    "per_step_time": ("step_time_s", _milliseconds),
    "time": ("step_time_s", _milliseconds),
    "lr": ("lr", _value),
    "overflow cond": ("skipped", _flag),
    "loss_scale": ("loss_scale", _value),
    "global_norm": ("grad_norm", _value),
    "train_throughput_per_npu": ("tflops", _value),
}
_MF_FALLBACK_LOSS = "lm_loss"
_MF_RATE = "samples/s/p"


class MindFormersParser(Parser):
    """MindFormers `MFLossMonitor` step lines, with the throughput of the progress line after them."""

    name = "mindformers"
    keywords = ("Epoch:[",)
    samples = (
        "2024-03-05 10:11:12,345 - mindformers[mindformers/core/callback/callback.py:318] - INFO - "
        "{ Epoch:[  1/  2], step:[   40/  500], loss: 2.718, per_step_time: 640ms, lr: 2e-05, "
        "overflow cond: False, loss_scale: 1.0, global_norm: [0.987654], train_throughput_per_npu: 101.250T",
        "{ Epoch:[  3/  3], step:[  120/  800], loss:[1.902/1.955], per_step_time: 1033ms, lr: 5e-06, "
        "overflow cond: True, loss_scale: 32768.0, global_norm: [inf]",
        "print_output_info: Epoch:[  2/  4], step:[   60/  300], loss:[4.012/4.187], time:987.125 ms, "
        "lr:[3.e-05], overflow cond: False, loss_scale: 16384.0",
        "{ Epoch:[  1/  1], step:[  250/ 4000], loss: 3.401, lm_loss: 3.377, aux_loss: 0.024, "
        "per_step_time: 2210ms, lr: 1.5e-04, overflow cond: False, loss_scale: 1.0, global_norm: [2.104]",
    )

    def __init__(self) -> None:
        self.pending: StepRecord | None = None

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None | _Pending:
        m = _MF_HEADER.search(line)
        if m is None:
            return None
        fields: dict[str, Any] = {}
        fallback_loss: float | None = None
        for part in line[m.end() :].split(","):
            label, sep, text = part.partition(":")
            if not sep:
                continue
            label = label.strip()
            spec = _MF_FIELDS.get(label)
            if spec is not None:
                fields.setdefault(spec[0], spec[1](text))
            elif label == _MF_FALLBACK_LOSS:
                fallback_loss = _value(text)
        if fields.get("loss") is None and fallback_loss is not None:
            fields["loss"] = fallback_loss
        epoch, epochs, step, steps_per_epoch = (int(g) for g in m.groups())
        start = m.start()
        if line.startswith("{ ", max(start - 2, 0)):
            start -= 2
        time, epoch_s, rank, node = ctx.where(line, start)
        ctx.step = step
        self.pending = StepRecord(
            step, epoch=float(epoch), time=time, epoch_s=epoch_s, rank=rank, node=node,
            file=ctx.file, line=number, text=line, **fields,
        )
        return PENDING

    def resume(self, line: str, number: int, ctx: ParseContext) -> tuple[StepRecord | None, bool]:
        record, self.pending = self.pending, None
        at = line.find(_MF_RATE)
        if record is None or at < 0 or "%" not in line:
            return record, False
        # `  0.8% |███   | 4.92611 samples/s/p  2:41:10 }`: the number just before the unit
        rate = _value(line[:at].rstrip().rpartition(" ")[2])
        return record._replace(samples_per_s=rate), True

    def finish(self, ctx: ParseContext) -> StepRecord | None:
        record, self.pending = self.pending, None
        return record


# ---------------------------------------------------------------- plain MindSpore

_MS_LINE = re.compile(r"epoch: (\d{1,18}) step: (\d{1,18})(?:, loss is |(\. Invalid loss))")
_TENSOR_VALUE = "value="


class MindSporeParser(Parser):
    """MindSpore `LossMonitor` lines and its invalid-loss error."""

    name = "mindspore"
    keywords = ("loss is ", "Invalid loss")
    samples = (
        "epoch: 2 step: 150, loss is 3.2145678",
        "epoch: 1 step: 1875, loss is 0.10734931",
        "ValueError: epoch: 4 step: 37. Invalid loss, terminating training.",
        "ValueError: In epoch: 3 step: 12, loss is NAN or INF, training process cannot continue, "
        "terminating training.",
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        m = _MS_LINE.search(line)
        if m is None:
            return None
        if m.group(3):
            loss: float | None = math.nan  # the callback refuses to print a NaN or infinite loss
        else:
            rest = line[m.end() : m.end() + 200]
            at = rest.find(_TENSOR_VALUE)  # `Tensor(shape=[], dtype=Float32, value= 2.30)`
            loss = _value(rest[at + len(_TENSOR_VALUE) :] if at >= 0 else rest)
        step = int(m.group(2))
        ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, m.start())
        return StepRecord(
            step, loss=loss, epoch=float(m.group(1)), time=time, epoch_s=epoch_s, rank=rank, node=node,
            file=ctx.file, line=number, text=line,
        )


# ---------------------------------------------------------------- MindYOLO

_YOLO_HEADER = re.compile(r"Epoch (\d{1,18})/(\d{1,18}), Step (\d{1,18})/(\d{1,18}), ")
_YOLO_STEP_TIME = re.compile(r"Epoch (\d{1,18})/(\d{1,18}), Step (\d{1,18})/(\d{1,18}), step time: ([\d.]+) ms")
_YOLO_OVERFLOW = re.compile(
    r"overflow, (?:still update|drop step)(?:, loss scale adjust to ([^\s,]+)|\.)"
    r"|grad overflow, drop\. Loss scale adjust to ([^\s,]+)"
)
_YOLO_LOSS_NAMES = ("loss", "loss_item0")  # the first loss item is named `loss` unless unnamed
_YOLO_LR = "cur_lr"


def _current(a: str, b: str) -> tuple[int, int]:
    """(current, total) of a `cur/total` pair that older versions print as `total/cur`."""
    x, y = int(a), int(b)
    return (x, y) if x <= y else (y, x)


class MindYoloParser(Parser):
    """MindYOLO step lines (with the step time after them) and loss-scaler overflow warnings."""

    name = "mindyolo"
    # `oss scale adjust to` covers both `loss scale` and `Loss scale`
    keywords = ("cur_lr: ", "oss scale adjust to", "overflow, still update")
    samples = (
        "2025-01-20 09:14:02,517 [INFO] Epoch 12/300, Step 80/160, imgsize (640, 640), loss: 0.3541, "
        "lbox: 0.1210, lobj: 0.1102, lcls: 0.1229, cur_lr: 0.00951",
        "2025-01-20 09:14:02,519 [INFO] Epoch 12/300, Step 160/160, loss: 0.3377, lbox: 0.1185, "
        "lobj: 0.1063, lcls: 0.1129, cur_lr: 0.009475000160932541",
        "2025-01-20 09:20:41,002 [WARNING] overflow, still update, loss scale adjust to 512.0",
        "2025-01-20 09:20:41,002 [WARNING] Epoch 13/300, Step 20/160, accumulate: 4, this step grad "
        "overflow, drop. Loss scale adjust to 256.0",
    )

    def __init__(self) -> None:
        self.pending: StepRecord | None = None

    def parse(
        self, line: str, number: int, ctx: ParseContext
    ) -> StepRecord | LossScaleOverflow | None | _Pending:
        overflow = _YOLO_OVERFLOW.search(line)
        if overflow is not None:
            return self._overflow(line, number, ctx, overflow)
        m = _YOLO_HEADER.search(line)
        if m is None:
            return None
        values: dict[str, str] = {}
        for part in line[m.end() :].split(", "):
            label, sep, text = part.partition(": ")
            if sep:
                values.setdefault(label.strip(), text)
        loss_text = next((values[k] for k in _YOLO_LOSS_NAMES if k in values), None)
        if loss_text is None and _YOLO_LR not in values:
            return None
        epoch, _ = _current(m.group(1), m.group(2))
        step, _ = _current(m.group(3), m.group(4))
        ctx.step = step
        lr_text = values.get(_YOLO_LR)
        time, epoch_s, rank, node = ctx.where(line, m.start())
        self.pending = StepRecord(
            step, loss=None if loss_text is None else _value(loss_text),
            lr=None if lr_text is None else _value(lr_text), epoch=float(epoch),
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
        )
        return PENDING

    def _overflow(self, line: str, number: int, ctx: ParseContext, m: re.Match[str]) -> LossScaleOverflow:
        scale_text = m.group(1) or m.group(2)
        header = _YOLO_HEADER.search(line, 0, m.start())
        step = _current(header.group(3), header.group(4))[0] if header else ctx.step
        start = header.start() if header else m.start()
        time, epoch_s, rank, node = ctx.where(line, start)
        return LossScaleOverflow(
            scale=None, new_scale=None if scale_text is None else _value(scale_text), step=step,
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
        )

    def resume(self, line: str, number: int, ctx: ParseContext) -> tuple[StepRecord | None, bool]:
        record, self.pending = self.pending, None
        if record is None or "step time: " not in line:
            return record, False
        m = _YOLO_STEP_TIME.search(line)
        if m is None or _current(m.group(3), m.group(4))[0] != record.step:
            return record, False
        return record._replace(step_time_s=_milliseconds(m.group(5))), True

    def finish(self, ctx: ParseContext) -> StepRecord | None:
        record, self.pending = self.pending, None
        return record
