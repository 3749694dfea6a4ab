"""Metrics printed as a block of `key | value` rows, one record per block.

Reinforcement-learning loggers dump a whole iteration's diagnostics as a
vertical table, one metric per line:
- OpenAI baselines and stable-baselines (`baselines/logger.py`,
  `HumanOutputFormat.writekvs`): a line of dashes, then `| key | value |`
  per metric (keys padded to one width), then dashes again.
- Stable-Baselines3 (`stable_baselines3/common/logger.py`,
  `HumanOutputFormat.write`): the same frame, with the namespace of
  `train/loss` printed once as a group row (`| train/ |  |`) and its keys
  indented under it (`|    loss | 5.85 |`).
- rllab, garage and rlpyt (`logger.dump_tabular`): `tabulate` rows
  (`key   value`, columns two or more spaces apart) behind the logger's
  `<timestamp> | ` prefix.
- hand-written loops that print the step on a line of its own, then one
  `key: value` line per metric (Lightweight OpenPose's `train.py` and its
  forks: `print('Iter: {}'.format(num_iter))`, then
  `stage{}_pafs_loss:     {}` and `stage{}_heatmaps_loss: {}` per stage). Such a
  block opens only at its step (a step name with a whole number): an epoch
  alone on its line announces the epoch of the progress lines after it (the
  learned layouts read it so), and a lone `Loss: 0.41` line is a learned
  layout's, never a block's.
- a dict printed as indented JSON, one `"key": value,` per line between a
  `{` and a `}` alone on their lines: Chainer's `LogReport` writes its `log`
  file so (`json.dump(self._log, f, indent=4)`: ESPnet1's `main/loss`,
  `validation/main/loss`, `iteration`, `epoch`), as do loops that print
  `json.dumps(metrics, indent=2)`.

A block is read as if its rows were one line of `key: value` pairs, so the
slot vocabulary names its fields exactly as it names a progress line's:
`train/loss` is the loss, `nupdates` or `train/n_updates` the step (counted
blocks stand in for a step when none is printed), `ep_rew_mean` nothing. A
namespace that is not a split is dropped (`time/iterations` is `iterations`).
A statistic's mean stands for the metric (`loss/Average`); its spread does
not (`loss/Std`, `loss/Max`). A block needs `MIN_ROWS` rows and a loss or a
grad norm, or an evaluation's loss alone (the block then stands at the step
the log is at); at most `MAX_ROWS` rows are kept.
"""

from __future__ import annotations

import re
from typing import Any

from monitor.model import StepRecord
from monitor.parsers.base import PENDING, ParseContext, Parser, _Pending
from monitor.parsers.slots import message_start, read, read_slots
from monitor.parsers.vocabulary import vocabulary

MIN_ROWS = 2
MAX_ROWS = 200

# One row: an optional bar, a key (words joined by single spaces, each starting with a letter; a
# namespace; in quotes, as JSON prints it), then a bar, two spaces or a colon, then one number (or
# none: a group row), then an optional closing bar or comma, and nothing else. A word or a sentence
# in the value's place is not a metric's row.
_ROW = re.compile(
    r"[ \t]{0,12}(?:\|[ \t]{0,40})?(?P<quote>\"?)"
    r"(?P<key>[A-Za-z_][\w./%()#-]{0,63}(?: [A-Za-z_][\w./%()#-]{0,62}){0,4})(?P=quote)"
    r"(?:[ \t]{0,40}\|[ \t]{0,40}|[ \t]{2,40}|:[ \t]{1,40})"
    r"(?P<value>[-+]?(?:\d[\w.+-]{0,38}|\.\d[\w.+-]{0,37}|(?i:nan|inf)\w{0,8}))?[ \t]{0,40}[|,]?[ \t]*$"
)
_FRAME = re.compile(r"[ \t]{0,4}-{6,}(?:[ \t]{2,}-{3,})?[ \t]*$")
_BRACE_OPEN = re.compile(r"[ \t]{0,8}\{[ \t]*$")
_BRACE_CLOSE = re.compile(r"[ \t]{0,8}\},?[ \t]*$")
_HEADS = ("Iter", "iter", "ITER", "Step", "step", "STEP")
"""The words a block that opens at its step starts with: the lines the parser must see."""
_MEANS = frozenset({"average", "avg", "mean"})
_SPREADS = frozenset({"std", "median", "min", "max", "stddev", "variance", "var"})


class KeyValueBlockParser(Parser):
    """A block of `| key | value |` rows (baselines, Stable-Baselines3, rllab, garage, rlpyt)."""

    name = "kv_block"
    keywords = ("|", "{", *_HEADS)
    generic = True
    samples = (
        "---------------------------------\n| approxkl           | 0.00042  |\n| nupdates           | 12       |\n"
        "| policy_loss        | -0.0031  |\n| total_timesteps    | 24576    |\n| value_loss         | 41.7     |\n"
        "---------------------------------",
        "| train/                  |             |\n|    entropy_loss         | -0.683      |\n"
        "|    loss                 | nan         |\n|    n_updates            | 30          |",
        "2021-03-02 11:04:17.331052  | Diagnostics/Iteration          7\n"
        "2021-03-02 11:04:17.331120  | loss/Average                   0.412\n"
        "2021-03-02 11:04:17.331188  | loss/Std                       0.051",
    )

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int, str]] = []  # (key, value, line number, line)
        self.group = ""  # Stable-Baselines3's namespace row (`| train/ |  |`) over the indented keys
        self.blocks = 0

    def snapshot(self) -> dict[str, Any]:
        return {"rows": list(self.rows), "group": self.group, "blocks": self.blocks}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.rows, self.group, self.blocks = list(snapshot["rows"]), snapshot["group"], snapshot["blocks"]

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None | _Pending:
        if "|" not in line and _BRACE_OPEN.match(line) is None and not _opens_at_counter(line):
            return None
        for piece in line.split("\n"):  # a sample: the block as printed, up to its closing frame
            if not self._row(piece, number):
                if self.rows and _FRAME.match(piece) is not None:
                    break
                self.rows, self.group = [], ""
                return None
        return PENDING

    def resume(self, line: str, number: int, ctx: ParseContext) -> tuple[StepRecord | None | _Pending, bool]:
        if self._row(line, number):
            return PENDING, True
        framed = _FRAME.match(line) is not None or _BRACE_CLOSE.match(line) is not None
        return self._flush(ctx), framed

    def finish(self, ctx: ParseContext) -> StepRecord | None:
        return self._flush(ctx) if self.rows else None

    def _row(self, line: str, number: int) -> bool:
        """Take one row of the block; False when the line is not one."""
        if _FRAME.match(line) is not None or _BRACE_OPEN.match(line) is not None:
            return not self.rows  # the frame that opens a block
        start = message_start(line)
        m = _ROW.match(line, start)
        if m is None and start:  # what looked like a host's prefix is the key: `stage1_pafs_loss:     4.74`
            start = 0
            m = _ROW.match(line)
        if m is None or len(self.rows) >= MAX_ROWS:
            return False
        key, value = m.group("key"), m.group("value")
        if value is None:
            if not key.endswith("/"):
                return False
            self.group = key
            return True
        indented = line[start:m.start("key")].count(" ") >= 3
        key = (self.group if indented else "") + key
        if any(key == row[0] for row in self.rows):
            return False  # the next dump of the same keys, printed without a frame between them
        self.rows.append((key, value, number, line))
        return True

    def _flush(self, ctx: ParseContext) -> StepRecord | None:
        rows, self.rows, self.group = self.rows, [], ""
        if len(rows) < MIN_ROWS:
            return None
        pairs: list[str] = []
        at: list[int] = []  # the row of each pair
        vocab = vocabulary()
        for index, (key, value, _number, _line) in enumerate(rows):
            head, _, leaf = key.rstrip("/").rpartition("/")
            if head and leaf.lower() in _SPREADS:
                continue
            if head and leaf.lower() in _MEANS:
                key = head
            elif head and head.lower() not in vocab.eval_splits and head.lower() not in vocab.train_splits:
                key = leaf  # a namespace that is not a split: `time/iterations`, `Diagnostics/Iteration`
            pairs.append(f"{key}: {value}")
            at.append(index)
        text = ", ".join(pairs)
        slots = read_slots(text, 0)
        reading = read(text, slots)
        fields = reading.fields
        training = fields.get("loss") is not None or fields.get("grad_norm") is not None
        if not training and reading.eval_fields.get("loss") is None:
            return None
        if training:
            self.blocks += 1
            step = reading.step if reading.step is not None else self.blocks
            ctx.step = step
        else:  # an evaluation's results (`json.dumps(metrics, indent=4)`): at the step the log is at
            step = ctx.step if ctx.step is not None else reading.step
        loss_at = reading.chosen.get("loss", reading.chosen.get("grad_norm", reading.chosen.get("eval_loss")))
        row = rows[at[_pair_of(text, slots, loss_at[0])]] if loss_at is not None else rows[0]
        _key, _value, number, line = row
        time, epoch_s, rank, node = ctx.where(line, message_start(line))
        return StepRecord(
            step, epoch=reading.epoch, total_steps=reading.total, loss=fields.get("loss"),
            eval_loss=reading.eval_fields.get("loss"),
            grad_norm=fields.get("grad_norm"), lr=fields.get("lr"), loss_scale=fields.get("loss_scale"),
            step_time_s=fields.get("step_time"), tokens_per_s=fields.get("tokens_per_s"),
            samples_per_s=fields.get("samples_per_s"), time=time, epoch_s=epoch_s, rank=rank, node=node,
            file=ctx.file, line=number, text=line,
        )


def _opens_at_counter(line: str) -> bool:
    """Whether a line with no `|` opens a block: the step alone, as a whole number (`Iter: 200`)."""
    if not line.rstrip(" \t,|")[-1:].isdigit():
        return False  # the cheap test first: any line holding `step` comes here
    start = message_start(line)
    m = _ROW.match(line, start)
    if m is None or m.group("value") is None or not m.group("value").isdigit():
        return False
    meaning = vocabulary().label(m.group("key")).meaning
    return meaning is not None and meaning.field == "step" and meaning.tier == 0 and meaning.extras == 0


def _pair_of(text: str, slots: list[Any], position: int) -> int:
    """Which `key: value` pair of `text` slot `position` is in."""
    return text.count(", ", 0, slots[position].start)
