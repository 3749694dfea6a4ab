"""Multi-line metric blocks: OLMo and Composer console logs.

Both print one header line naming the step, then one line per metric; the
record is complete at the first line that is not a metric line (or at the
end of input), so a header answers PENDING and the metric lines arrive
through `resume`.

Sources:
- OLMo: allenai/OLMo `olmo/train.py`, `Trainer.log_metrics_to_console`:
  `log.info(f"{prefix}\\n" + "\\n".join(f"    {name}={formatto_float(value)}"))`
  where the training prefix is `[step=<n>/<max>]`, later
  `[step=<n>/<max>,epoch=<e>]`, and all `optim/*` metrics but
  `optim/total_grad_norm` are hidden. `format_float` prints values below
  0.0001 (zero and negatives too) with `str()` (`1.7e-06`), above 1000 as an
  integer with thousands separators (`195,153`), else with 1-4 decimals; NaN
  fails every comparison and prints `nan`. Evaluation blocks are headed by
  the evaluator's label (no step) and hold `eval/<label>/CrossEntropyLoss`:
  those lines give evaluation records at the current step. OLMo-core's
  console (seen in index hits, source not read) keeps the layout with
  `,eta=...` in the header and `train/CE loss`, `throughput/device/TPS`.
- Composer: mosaicml/composer `composer/loggers/console_logger.py`,
  `ConsoleLogger.log_to_console` (commit 02c872e4): header
  `[epoch=<e>][batch=<b>/<n>]` (batch within the epoch) when the run's
  duration is in epochs, else `[<unit>=<cur>/<total>]`, followed by `:` when
  metrics follow; each metric is `\\n\\t <Train |Eval ><name>: <value>`.
  Evaluation blocks start `[Eval batch=<b>/<n>] Eval on <label> data:`.
  Only a `batch` unit is a training step: `[token=...]` and `[sample=...]`
  headers use the `time/batch` metric when the block has one.
"""

from __future__ import annotations

import re

from monitor.model import StepRecord
from monitor.parsers.base import NOT_PROGRESS, PENDING, ParseContext, Parser, _NotProgress, _Pending, to_float

MAX_BLOCK_LINES = 1000  # a runaway block is cut here (lossy) so a record cannot grow without bound
_LAUNCHER = r"^(?:\[[\w-]{1,32}\]: ?)?"  # torchrun's `[rank0]:` / `[default0]:` on every line


class _BlockParser(Parser):
    """A header line, then metric lines until the first line that is not one."""

    def __init__(self) -> None:
        self.pending: StepRecord | None = None
        self.pending_lines = 0

    def _open(self, record: StepRecord) -> _Pending:
        self.pending = record
        self.pending_lines = 0
        return PENDING

    def _metric(self, line: str) -> tuple[str, str] | None:
        """(name, value text) of a metric line of this format; None for any other line."""
        raise NotImplementedError

    def _apply(self, record: StepRecord, name: str, value: float | None) -> StepRecord:
        """The record with one more metric."""
        raise NotImplementedError

    def _close(self, record: StepRecord, ctx: ParseContext) -> StepRecord | None:
        return record

    def resume(self, line: str, number: int, ctx: ParseContext) -> tuple[StepRecord | None | _Pending, bool]:
        record = self.pending
        if record is None:
            return None, False
        metric = self._metric(line) if self.pending_lines < MAX_BLOCK_LINES else None
        if metric is None:
            self.pending = None
            return self._close(record, ctx), False
        self.pending_lines += 1
        self.pending = self._apply(record, metric[0], to_float(metric[1].strip()))
        return PENDING, True

    def finish(self, ctx: ParseContext) -> StepRecord | None:
        record, self.pending = self.pending, None
        return None if record is None else self._close(record, ctx)


# ---------------------------------------------------------------- OLMo

# `(?!\d)`: a step number is never split, so a long run of digits is not backtracked through
_OLMO_HEADER = re.compile(r"\[step=(\d{1,18})(?!\d)(?:/(\d{1,18})(?!\d))?([^\]\n]{0,80})\]\s*$")
_OLMO_EPOCH = re.compile(r",epoch=(\d{1,18})(?!\d)")
_OLMO_METRIC = re.compile(_LAUNCHER + r" {4}([^=\s][^=]*)=([^=\s]*)\s*$")
# metric name → StepRecord field
OLMO_FIELDS: dict[str, str] = {
    "train/CrossEntropyLoss": "loss",
    "train/CE loss": "loss",
    "optim/total_grad_norm": "grad_norm",
    "optim/total grad norm": "grad_norm",
    "throughput/device/tokens_per_second": "tokens_per_s",
    "throughput/device/TPS": "tokens_per_s",
}
OLMO_EVAL_LOSS_SUFFIXES = ("/CrossEntropyLoss", "/CE loss")
_OLMO_EVAL_PREFIX = "eval/"


def _olmo_eval_loss(name: str) -> bool:
    return name.startswith(_OLMO_EVAL_PREFIX) and name.endswith(OLMO_EVAL_LOSS_SUFFIXES)


class OlmoParser(_BlockParser):
    """OLMo `[step=n/max,epoch=e]` blocks of `    name=value` lines, and evaluation losses."""

    name = "olmo"
    keywords = ("[step=", "    eval/")
    samples = (
        "2024-05-02 10:11:12.345 node-7:0  olmo.train:908  INFO    [step=120/739328,epoch=0]",
        "2023-11-20 09:00:01.123\tnode-3:0\tolmo.train:816\tINFO\t[step=41/10000]",
        "    eval/c4_en-validation/CrossEntropyLoss=3.412",
    )

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | _NotProgress | None | _Pending:
        m = _OLMO_HEADER.search(line)
        if m is None:
            return self._eval_line(line, number, ctx)
        step = int(m.group(1))
        epoch = _OLMO_EPOCH.search(m.group(3))
        ctx.step = step
        time, epoch_s, rank, node = ctx.where(line, m.start())
        return self._open(StepRecord(
            step, total_steps=int(m.group(2)) if m.group(2) else None,
            epoch=float(epoch.group(1)) if epoch else None,
            time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
        ))

    def _eval_line(self, line: str, number: int, ctx: ParseContext) -> StepRecord | _NotProgress | None:
        """A metric line outside a training block: an evaluation loss at the current step. The evaluator's
        other metrics (`eval/<label>/Perplexity`, the same loss again) are its lines too: no fallback's."""
        metric = self._metric(line)
        if metric is None or not metric[0].startswith(_OLMO_EVAL_PREFIX):
            return None
        if not _olmo_eval_loss(metric[0]):
            return NOT_PROGRESS
        time, epoch_s, rank, node = ctx.where(line, len(line) - len(line.lstrip()))
        return StepRecord(
            ctx.step, eval_loss=to_float(metric[1]), time=time, epoch_s=epoch_s, rank=rank, node=node,
            file=ctx.file, line=number, text=line,
        )

    def _metric(self, line: str) -> tuple[str, str] | None:
        m = _OLMO_METRIC.match(line)
        return None if m is None else (m.group(1), m.group(2))

    def _apply(self, record: StepRecord, name: str, value: float | None) -> StepRecord:
        field = OLMO_FIELDS.get(name)
        if field is not None:
            return record._replace(**{field: value})
        if _olmo_eval_loss(name) and record.eval_loss is None:
            return record._replace(eval_loss=value)
        return record


# ---------------------------------------------------------------- Composer

_COMPOSER_HEADER = re.compile(
    r"\[(?:epoch=(\d{1,18})\]\[)?(batch|sample|token|iteration|epoch)=(\d{1,18})(?:/(\d{1,18}))?\]:\s*$"
)
_COMPOSER_EVAL_HEADER = re.compile(r"\[Eval batch=\d+/\d+\] Eval on .{0,200} data:\s*$")
_COMPOSER_METRIC = re.compile(_LAUNCHER + r"\t (Train|Eval) ")
_COMPOSER_SEPARATOR = ": "
# metric name → StepRecord field, for `Train` metrics
COMPOSER_FIELDS: dict[str, str] = {
    "loss/train/total": "loss",
    "l2_norm/grad/global": "grad_norm",
    "throughput/samples_per_sec": "samples_per_s",
    "throughput/device/tokens_per_sec": "tokens_per_s",
    "throughput/device/mfu": "mfu",
}
COMPOSER_LR_PREFIX = "lr-"  # LRMonitor: `lr-<optimizer>/group<i>`
COMPOSER_STEP = "time/batch"
COMPOSER_EVAL_LOSS_SUFFIX = "/LanguageCrossEntropy"  # `metrics/<label>/LanguageCrossEntropy`
_NO_STEP = -1  # a block whose header counts tokens or samples: its step comes from `time/batch`


class ComposerParser(_BlockParser):
    """Composer console blocks: `[epoch=e][batch=b/n]:` then `\\t Train <name>: <value>` lines."""

    name = "composer"
    keywords = ("[batch=", "[token=", "[sample=", "[iteration=", "[Eval batch=")
    samples = (
        "[epoch=1][batch=16/200]:",
        "[batch=1200/24000]:",
    )

    def __init__(self) -> None:
        super().__init__()
        self.pending_eval = False

    def parse(self, line: str, number: int, ctx: ParseContext) -> StepRecord | None | _Pending:
        m = _COMPOSER_HEADER.search(line)
        if m is not None:
            epoch, unit, current, total = m.groups()
            step = int(current) if unit == "batch" else _NO_STEP
            time, epoch_s, rank, node = ctx.where(line, m.start())
            self.pending_eval = False
            return self._open(StepRecord(
                step, total_steps=int(total) if total and unit == "batch" else None,
                epoch=float(epoch) if epoch else None,
                time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
            ))
        m = _COMPOSER_EVAL_HEADER.search(line)
        if m is None:
            return None
        time, epoch_s, rank, node = ctx.where(line, m.start())
        self.pending_eval = True
        return self._open(StepRecord(
            ctx.step, time=time, epoch_s=epoch_s, rank=rank, node=node, file=ctx.file, line=number, text=line,
        ))

    def _metric(self, line: str) -> tuple[str, str] | None:
        m = _COMPOSER_METRIC.match(line)
        if m is None:
            return None
        name, sep, value = line[m.end() :].partition(_COMPOSER_SEPARATOR)
        if not sep:
            return None
        return (m.group(1) + " " + name, value)

    def _apply(self, record: StepRecord, name: str, value: float | None) -> StepRecord:
        split, _, name = name.partition(" ")
        if split == "Eval":
            if name.endswith(COMPOSER_EVAL_LOSS_SUFFIX) and record.eval_loss is None:
                return record._replace(eval_loss=value)
            return record
        field = COMPOSER_FIELDS.get(name)
        if field is not None:
            return record._replace(**{field: value})
        if name.startswith(COMPOSER_LR_PREFIX) and record.lr is None:
            return record._replace(lr=value)
        if name == COMPOSER_STEP and record.step == _NO_STEP and value is not None and value.is_integer():
            return record._replace(step=int(value))
        return record

    def _close(self, record: StepRecord, ctx: ParseContext) -> StepRecord | None:
        if self.pending_eval:
            return record if record.eval_loss is not None else None  # eval progress, no result yet
        if record.step == _NO_STEP:
            return None  # neither the header nor the metrics named a step
        ctx.step = record.step
        return record

