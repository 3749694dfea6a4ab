"""The fallback for step lines no framework parser took: `key=value` / `key: value` pairs.

A line is a training record when, among its numeric pairs, it has an
explicit step (`step`, `iter`, `iteration`, `global_step`, `it`, integer
value, optionally `/<total>`) and a loss-like key (ending in `loss`, value
numeric, nan and inf allowed). A loss key under an evaluation split
(`eval`, `val`, `valid`, `validation`, `test`, as a `_`, `/`, `-` or space
prefix) gives `eval_loss`; a line with only evaluation losses is an
evaluation record. Also read when present: `lr` / `learning_rate`,
`grad_norm` / `gnorm`, `loss_scale`, `epoch`.

What keeps it off lines that are not progress lines:
- prose: between the step pair and the loss pair there may only be other
  pairs, separators and short tokens (units); a word of four or more letters
  there (`Resuming from step: 500 with best loss: 2.1`) rejects the line;
- configuration dumps: a repr with keyword arguments (`Namespace(lr=...`,
  `TrainingArguments(output_dir=...`) is never a step line;
- lines longer than `MAX_LINE_CHARS` are skipped (lossy: nobody prints a
  step line that long, and it bounds the work on junk).

It is generic: tried after every framework parser and never made the
source's format (`ParserSet`).
"""

from __future__ import annotations

import re

from monitor.model import StepRecord
from monitor.parsers.base import ParseContext, Parser, to_float

MAX_LINE_CHARS = 4096

STEP_KEYS = frozenset({"step", "iter", "iteration", "global_step", "it"})
EVAL_SPLITS = ("eval", "val", "valid", "validation", "test")
LOSS_SUFFIX = "loss"
FIELD_KEYS: dict[str, str] = {
    "lr": "lr",
    "learning_rate": "lr",
    "grad_norm": "grad_norm",
    "gnorm": "grad_norm",
    "loss_scale": "loss_scale",
    "epoch": "epoch",
}

# A key (optionally after a split word: `train loss`, `val loss`), an optional closing quote,
# `=` or `:`, then a number with an optional `/total` and unit. No nested quantifiers: every
# repeat is bounded or over a class the next token cannot start with. An integer part has at
# most 18 digits (a step must stay an int that floats can hold).
_PAIR = re.compile(
    r"(?<![\w./-])((?:(?:train|eval|val|valid|validation|test) )?[A-Za-z_][\w./-]{0,63})"
    r"['\"]?[ \t]{0,3}[=:][ \t]{0,3}"
    r"([-+]?(?:\d{1,3}(?:,\d{3}){1,5}(?![\d])|\d{1,18}(?![\d])(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
    r"|nan(?![a-z])|inf(?:inity)?(?![a-z]))(?:/(\d{1,18})(?![\d]))?)",
    re.IGNORECASE,
)
_CONFIG_REPR = re.compile(r"\w\(\w+=")
_PROSE_WORD = re.compile(r"[A-Za-z]{4,}")
_SPLIT_SEPARATORS = "_/- "


def _split(key: str) -> tuple[bool, str]:
    """(whether the key is under an evaluation split, the key without its split)."""
    for split in EVAL_SPLITS:
        if key.startswith(split) and len(key) > len(split) + 1 and key[len(split)] in _SPLIT_SEPARATORS:
            return True, key[len(split) + 1 :]
    if key.startswith("train") and len(key) > 6 and key[5] in _SPLIT_SEPARATORS:
        return False, key[6:]
    return False, key


class GenericParser(Parser):
    """Any `step=... loss=...` line (fallback)."""

    name = "generic"
    keywords = ("loss",)
    generic = True
    samples = (
        "2024-05-02 10:11:12 | step=1200 | loss=2.4513 | lr=3.0e-04 | grad_norm=0.811",
        "[rank0]: iter: 350/10000, train_loss: 5.1021, learning_rate: 1.2e-4, epoch: 1",
        "2024-05-02 10:20:00 INFO eval | step=800 | val_loss=3.0125 | val_ppl=20.34",
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None:
        if len(line) > MAX_LINE_CHARS or _CONFIG_REPR.search(line):
            return None
        step_match: re.Match[str] | None = None
        loss_match: re.Match[str] | None = None
        loss_base = ""
        eval_match: re.Match[str] | None = None
        fields: dict[str, float | None] = {}
        pairs: list[re.Match[str]] = []
        for m in _PAIR.finditer(line):
            pairs.append(m)
            key = m.group(1).lower()
            if key in STEP_KEYS:
                if step_match is None and m.group(2).partition("/")[0].replace(",", "").isdigit():
                    step_match = m
                continue
            is_eval, base = _split(key)
            if base.endswith(LOSS_SUFFIX):
                if is_eval:
                    eval_match = eval_match or m
                elif loss_match is None or (base == LOSS_SUFFIX and loss_base != LOSS_SUFFIX):
                    loss_match, loss_base = m, base  # a plain `loss` wins over `d_loss`, `aux_loss`
                continue
            field = FIELD_KEYS.get(base)
            if field is not None and field not in fields:
                fields[field] = to_float(m.group(2).partition("/")[0])
        found = loss_match or eval_match
        if step_match is None or found is None or self._prose_between(line, pairs, step_match, found):
            return None
        step = int(step_match.group(2).partition("/")[0].replace(",", ""))
        total = step_match.group(3)
        loss = None if loss_match is None else to_float(loss_match.group(2).partition("/")[0])
        eval_loss = None if eval_match is None else to_float(eval_match.group(2).partition("/")[0])
        if loss is not None:
            ctx.step = step
        start = min(step_match.start(), found.start())
        time, epoch_s, rank, node = ctx.where(line, start)
        return StepRecord(
            step, loss=loss, eval_loss=eval_loss, total_steps=int(total) if total else None,
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
            **fields,  # type: ignore[arg-type]
        )

    @staticmethod
    def _prose_between(line: str, pairs: list[re.Match[str]], a: re.Match[str], b: re.Match[str]) -> bool:
        """Whether a prose word stands between the pairs `a` and `b` (outside every pair)."""
        first, last = (a, b) if a.start() < b.start() else (b, a)
        gap_start = first.end()
        for m in pairs:
            if m.start() < gap_start:
                continue
            if m.start() > last.start():
                break
            if _PROSE_WORD.search(line, gap_start, m.start()):
                return True
            gap_start = m.end()
        return False
