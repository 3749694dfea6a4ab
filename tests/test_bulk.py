"""The bulk path (a source's main layout read a block at a time into rows, detectors screening
whole batches) gives exactly what the line-by-line path gives: the same events, summary and
parser and detector state, on random Megatron-LM logs with every kind of trouble in them.

Iteration lines follow Megatron-LM `megatron/training/training.py` `training_log` (` iteration
{:8d}/{:8d} |` then ` <label>: <value> |` fields, an optional ` [YYYY-mm-dd HH:MM:SS]` in front);
timer blocks follow its `Timers.log` (`(min, max) time across ranks (ms):` then one indented
`name ....: (min, max)` line per timer); `saving checkpoint at iteration N to DIR` is
`megatron/training/checkpointing.py`; `validation loss at iteration N | lm loss value: ...` is
`evaluate_and_print_results`; `[default3]:` is torchrun's `--tee`/`--log-dir` prefix.
"""

from __future__ import annotations

import gc
import io
import math
import random
import weakref

import pytest

from monitor.catalog import load
from monitor.columns import RecordBatch, StepRows
from monitor.model import StepRecord
from monitor.pipeline import SourceScan
from monitor.sources.files import Source
from monitor.sources.lines import ReadStats, read_batches
from tests.conftest import scan_one_way

_FIELDS = (
    "consumed samples: {samples} | elapsed time per iteration (ms): {ms} | throughput per GPU (TFLOP/s/GPU): "
    "{tflops} | learning rate: {lr} | global batch size: 512 | lm loss: {loss} | loss scale: {scale} | "
    "grad norm: {grad} | number of skipped iterations: {skipped:3d} | number of nan iterations: {nans:3d} |"
)


class _Run:
    """A random Megatron-LM run's log: mostly healthy, with a random mix of what goes wrong."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.stamped = rng.random() < 0.7
        self.prefix = rng.choice(["", "", "[default0]:", "[default3]:"])
        self.ranks = rng.choice([1, 1, 1, 2, 4])  # torchrun's combined output interleaves the ranks' lines
        self.clock = 1_709_632_800.0 + rng.randrange(0, 10**6)
        self.step = rng.randrange(0, 5000)
        self.loss = rng.uniform(2.0, 10.0)
        self.lr = 1.5e-4
        self.warmup = rng.randrange(0, 300) if rng.random() < 0.4 else 0
        self.trouble = {name: rng.choice([0.0, 0.0005, 0.002, 0.01]) for name in (
            "spike", "nan", "grad", "slow", "erratic", "stall", "restart", "repeat", "skip", "zero",
            "noise", "timers", "save", "valid", "bar", "wrapped", "odd", "scale", "climb", "infgrad",
        )}
        self.trouble["noise"] = rng.random() * 0.3
        self.trouble["timers"] = rng.random() * 0.05

    def _stamp(self) -> str:
        if not self.stamped:
            return ""
        return " [" + _format_time(self.clock) + "]"

    def _iteration(self, rank_prefix: str) -> str:
        rng, t = self.rng, self.trouble
        self.step += 1
        if rng.random() < t["restart"]:
            self.step = max(1, self.step - rng.randrange(1, 300))
        if rng.random() < t["repeat"]:
            self.step -= 1
        self.clock += rng.uniform(0.9, 1.1) if rng.random() > t["stall"] else rng.uniform(100, 5000)
        self.loss *= rng.uniform(0.995, 1.004) if rng.random() > t["climb"] * 5 else 1.08
        loss: str = f"{self.loss * rng.uniform(0.99, 1.01):.6E}"
        if rng.random() < t["spike"]:
            loss = f"{self.loss * rng.uniform(1.5, 6):.6E}"
        if rng.random() < t["nan"]:
            loss = rng.choice(["nan", "inf", "-nan"])
        if rng.random() < t["zero"]:
            loss = "0.000000E+00"
        grad = f"{rng.uniform(0.7, 1.3):.3f}"
        if rng.random() < t["grad"]:
            grad = f"{rng.uniform(5, 200):.3f}"
        if rng.random() < t["infgrad"]:
            grad = rng.choice(["nan", "inf", "0.000"])
        if self.step < self.warmup:
            self.lr = 1.5e-4 * self.step / max(1, self.warmup)
        elif rng.random() < 0.01:
            self.lr *= 0.9
        ms = 1200 + rng.gauss(0, 15)
        if rng.random() < t["slow"] * 10:
            ms *= rng.uniform(1.3, 2.0)
        if rng.random() < t["erratic"]:
            ms *= 7
        skipped = 1 if rng.random() < t["skip"] else 0
        scale = "1.0" if rng.random() > t["scale"] else rng.choice(["0.5", "65536.0"])
        fields = _FIELDS.format(
            samples=self.step * 512, ms=f"{ms:.1f}", tflops=f"{400 + rng.gauss(0, 5):.1f}", lr=f"{self.lr:.6E}",
            loss=loss, scale=scale, grad=grad, skipped=skipped, nans=1 if loss in ("nan", "inf", "-nan") else 0,
        )
        if rng.random() < t["odd"]:
            fields = fields.replace("global batch size: 512", rng.choice(["global batch size: 5.1.2",
                                                                           "global batch size: 512x"]))
        line = f"{rank_prefix}{self._stamp()} iteration {self.step:8d}/{10_000_000:8d} | {fields}"
        if rng.random() < t["odd"]:
            line = line.replace(" | lm loss:", " | iteration note | lm loss:")
        return line

    def lines(self, count: int) -> list[str]:
        rng, t = self.rng, self.trouble
        out: list[str] = []
        while len(out) < count:
            rank_prefix = self.prefix if self.ranks == 1 else f"[default{rng.randrange(self.ranks)}]:"
            out.append(self._iteration(rank_prefix))
            if rng.random() < t["noise"]:
                out.append(f"node{rng.randrange(64):03d}:{rng.randrange(99999)}:1 [{rng.randrange(8)}] NCCL INFO "
                           f"Channel {rng.randrange(32):02d}/32 :    0   1   2   3")
            if rng.random() < t["timers"]:
                out.append(f"{rank_prefix}(min, max) time across ranks (ms):")
                for name in ("forward-backward", "optimizer", "grads-all-reduce"):
                    low = rng.uniform(10, 1100)
                    out.append(f"{rank_prefix}    {name} {'.' * 20}: ({low:.2f}, {low + rng.uniform(0, 50):.2f})")
            if rng.random() < t["save"]:
                out.append(f"{rank_prefix}{self._stamp()} saving checkpoint at iteration {self.step:8d} to /ckpt")
            if rng.random() < t["valid"]:
                out.append(f"{rank_prefix} validation loss at iteration {self.step} | lm loss value: "
                           f"{self.loss * 1.05:.6E} | lm loss PPL: {math.exp(min(self.loss, 50)):.6E} | ")
            if rng.random() < t["bar"]:
                out.append(f"{rank_prefix}{self._iteration('')}  45%|####      | 45/100 [00:10<00:12,  4.50it/s]")
            if rng.random() < t["wrapped"]:
                whole = self._iteration(rank_prefix)
                cut = whole.index("| learning rate")
                out += [whole[:cut], whole[cut:]]
            if rng.random() < t["stall"] / 4 and self.stamped:
                out.append(f"[{_format_time(self.clock + 600)}] PULSE: still running")
        return out[:count]


def _format_time(clock: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(int(clock), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("seed", range(40))
def test_bulk_and_line_by_line_agree_on_random_runs(seed: int) -> None:
    run = _Run(seed)
    text = "\n".join(run.lines(run.rng.randrange(200, 4000))) + "\n"
    chunk = run.rng.choice([4096, 16384, 65536, 1 << 20])
    by_line = scan_one_way(text, bulk=False, chunk=chunk)
    bulk = scan_one_way(text, bulk=True, chunk=chunk)
    assert bulk[0] == by_line[0]
    assert bulk[1] == by_line[1]
    assert bulk[2] == by_line[2]


def test_the_random_runs_go_through_both_paths() -> None:
    """The comparison above is not empty: thousands of detector batches are skimmed and thousands
    observed, and the runs hold every kind of event the detectors raise on these logs."""
    skimmed = observed = 0
    codes: set[str] = set()
    for seed in range(40):
        run = _Run(seed)
        text = "\n".join(run.lines(run.rng.randrange(200, 4000))) + "\n"
        scan = SourceScan(Source("run.log", None), load())
        for batch in read_batches(io.BytesIO(text.encode()), "run.log", ReadStats(), chunk_bytes=16384):
            codes.update(e.code for e in scan.process(batch))
        codes.update(e.code for e in scan.finish())
        skimmed += scan.skimmed
        observed += scan.observed
    assert skimmed > 2000 and observed > 2000
    assert {"LOSS-SPIKE", "LOSS-NAN", "GRAD-NORM-SPIKE", "SLOWDOWN", "STALL", "STEP-RESTART"} <= codes


def test_a_row_is_the_record_the_line_gives() -> None:
    """A line read in bulk becomes, when asked for, the very record `parse` makes of it."""
    run = _Run(1)  # one rank, no odd values, bars or wrapped lines
    lines = [line for line in run.lines(400) if " iteration " in line and "%|" not in line]
    scan = SourceScan(Source("run.log", None), load())
    scan.process(enumerate(lines[:1], 1))  # the layout is learned from the first line
    reference = SourceScan(Source("run.log", None), load())
    expected = [r for r in reference.parsers.parse_lines(enumerate(lines, 1)) if type(r) is StepRecord][1:]
    batch = scan.parsers.parse_block(lines[1:], 2)
    assert isinstance(batch, RecordBatch) and isinstance(batch.rows, StepRows)
    assert len(batch.rows) == len(lines) - 1 > 200
    assert repr([r for r in batch.records() if type(r) is StepRecord]) == repr(expected)


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_the_report_keeps_the_same_rows_from_both_paths(seed: int) -> None:
    """`monitor.load` (the report's data) keeps rows read in bulk column by column: the same
    values, types and thinning as record by record."""
    from monitor.api import _Collector

    run = _Run(seed)
    text = "\n".join(run.lines(run.rng.randrange(200, 4000))) + "\n"
    kept = []
    for bulk in (True, False):
        collector = _Collector("run.log", max_rows=run.rng.choice([None, 50, 300]) if bulk else None)
        if not bulk:
            collector.max_rows = kept[0][1]
        scan = SourceScan(Source("run.log", None), load())
        scan.on_records = collector
        for batch in read_batches(io.BytesIO(text.encode()), "run.log", ReadStats(), chunk_bytes=16384):
            scan.process(batch if bulk else batch.numbered())
        scan.finish()
        values = {key: [(type(v).__name__, repr(v)) for v in column] for key, column in collector.columns.items()}
        kept.append((values, collector.max_rows, collector.keep, collector.timers, collector.pauses,
                     collector.first, collector.last))
    assert repr(kept[0]) == repr(kept[1])
    assert len(kept[0][0]["step"]) > 50


def test_a_batch_and_its_columns_are_freed_without_the_garbage_collector() -> None:
    """A batch keeps its columns (and their parts per rank); the columns must not point back at the
    batch, or every batch of a long scan or report would wait for a full garbage collection to be
    freed, and peak memory would follow the collector's timing instead of the batch size."""
    run = _Run(29)  # four ranks behind torchrun's prefixes: the columns have a part per rank
    lines = [line for line in run.lines(400) if " iteration " in line and "%|" not in line]
    scan = SourceScan(Source("run.log", None), load())
    scan.process(enumerate(lines[:1], 1))
    batch = scan.parsers.parse_block(lines[1:], 2)
    columns = batch.columns()
    assert columns is not None
    parts = columns.by_rank()
    assert len(parts) == 4
    watched = [weakref.ref(x) for x in (batch, columns, *parts)]
    enabled = gc.isenabled()
    gc.disable()
    try:
        del batch, columns, parts
        assert [ref() for ref in watched] == [None] * len(watched)
    finally:
        if enabled:
            gc.enable()
