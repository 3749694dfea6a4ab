"""Hugging Face Transformers Trainer: the log dict it prints at each logging step.

Source: huggingface/transformers. `Trainer._maybe_log_save_evaluate`
(`src/transformers/trainer.py`) builds the training record `{'loss': <mean since
the last log, rounded to 4 decimals>, 'grad_norm': <when the trainer has one>,
'learning_rate': <float>, 'epoch': <float>}`; `evaluate` logs `eval_loss`,
`eval_runtime`, `eval_samples_per_second`, ... and `epoch`; the end of `train`
logs a summary with `train_runtime`, `train_loss`, .... `ProgressCallback.on_log`
(`src/transformers/trainer_callback.py`) drops `total_flos`, rounds `epoch` to two
decimals and writes `str(logs)` through the tqdm bar (`PrinterCallback` prints
the same dict when there is no bar): a Python repr, with single quotes and bare
`nan` / `inf` / `-inf`. The newest versions print each float as a quoted
string of 4 significant digits (`'loss': '2.101'`); both are read.

The dict names no step. `ProgressCallback.on_step_end` moves the bar to
`state.global_step` before `on_log` runs, so the step is the training bar's
(`ctx.step`, set by the bar parser from the redraw just before the dict).
Without a bar (output sent to a file), the step is the count of logging
steps so far, so records still follow each other; a dict that names its own
step (`'step'`, `'global_step'`, added by some callbacks) gives that one.
A dict that is the Trainer's but holds no loss (the end-of-training summary)
is `NOT_PROGRESS`: no fallback may read it as a step. Every dict the Trainer
logs names the epoch, and those `evaluate`, `predict` and `train` return
name their runtime (`eval_runtime`, `test_runtime`, `train_runtime`); a dict
with none of these is someone else's (TorchSSL's `{'train/sup_loss':
tensor(...), ...}` inside its own line) and goes on to the fallbacks.

Deliberately not done: evaluating the text (no `eval`, no `ast`); the pairs
are read with one regex, so a dict cut short still gives its first pairs.
Other keys (`grad_norm` aside) and other trainers' dicts that happen to hold
`'loss'` are read the same way: the layout is the Trainer's.
"""

from __future__ import annotations

import re

from monitor.model import StepRecord
from monitor.parsers.base import NOT_PROGRESS, ParseContext, Parser, _NotProgress, to_float

# `'key': value` or `'key': 'value'`; bounded, so a megabyte of junk costs one scan.
_PAIR = re.compile(r"'([A-Za-z_][\w/().-]{0,63})': (?:'([^'\n]{0,64})'|([^,'}\s]{1,64}))")
_OPEN = "{'"
_STEP_KEYS = ("global_step", "step", "current_steps", "train/global_step")


class HFTrainerParser(Parser):
    """Training and evaluation dicts of the Hugging Face Trainer."""

    name = "hf_trainer"
    keywords = ("loss': ",)  # also inside 'eval_loss' and 'train_loss'
    samples = (
        "{'loss': 1.8372, 'grad_norm': 0.9421566724777222, 'learning_rate': 4.8125e-05, 'epoch': 0.15}",
        "{'loss': 2.4716, 'learning_rate': 0.000187, 'epoch': 1.02}",
        "{'eval_loss': 1.9034, 'eval_runtime': 41.82, 'eval_samples_per_second': 23.91, "
        "'eval_steps_per_second': 2.99, 'epoch': 1.0}",
        "{'loss': '1.763', 'grad_norm': '0.8817', 'learning_rate': '3.2e-05', 'epoch': '0.41'}",
    )

    def __init__(self) -> None:
        self.logged = 0  # training dicts seen: their step when no bar gives one

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | _NotProgress | None:
        start = line.find(_OPEN)
        if start < 0:
            return None
        end = line.find("}", start)
        values: dict[str, str] = {}
        for m in _PAIR.finditer(line, start, end if end >= 0 else len(line)):
            value = m.group(2) if m.group(2) is not None else m.group(3)
            values.setdefault(m.group(1), value)
        if "loss" in values:
            loss, eval_loss = to_float(values["loss"]), None
            self.logged += 1
        elif "eval_loss" in values:
            loss, eval_loss = None, to_float(values["eval_loss"])
            if eval_loss is None:
                return None
        elif "epoch" in values or any(key.endswith("_runtime") for key in values):
            return NOT_PROGRESS  # the end-of-training summary (train_loss, train_runtime) or another metric dict
        else:
            return None  # not the Trainer's (its dicts all name the epoch: TorchSSL's `{'train/sup_loss': ...}`)
        step = next((int(v) for k in _STEP_KEYS if (v := to_float(values.get(k))) is not None and v.is_integer()),
                    None)
        if step is None:
            # the bar's position; with no bar (logging to a file), the count of logging steps so far
            step = ctx.step if ctx.step is not None else (self.logged or None)
        time, epoch_s, rank, node = ctx.where(line, start)
        if epoch_s is None and loss is not None:
            epoch_s = ctx.bar_elapsed_s  # no wall clock: the bar's elapsed time at its last redraw
        return StepRecord(
            step,
            loss=loss,
            grad_norm=to_float(values.get("grad_norm")),
            step_time_s=None if loss is None else ctx.bar_step_time_s,  # the bar's rate: the dict has none
            lr=to_float(values.get("learning_rate") or values.get("lr")),
            total_steps=ctx.bar_total,
            epoch=to_float(values.get("epoch")),
            eval_loss=eval_loss,
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
        )
