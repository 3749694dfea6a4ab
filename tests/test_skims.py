"""The bulk path gives what the line-by-line path gives on logs in many layouts: learned layouts read
a block at a time into rows, and detectors screening a batch as columns (records read line by line
included), against every line parsed and every record observed one by one: the same events,
summary and state.

The layouts follow the frameworks' own print statements (values are made up):
- nanoGPT, karpathy/nanoGPT train.py: `iter {}: loss {:.4f}, time {:.2f}ms, mfu {:.2f}%` and the
  evaluation `step {}: train loss {:.4f}, val loss {:.4f}`.
- Hugging Face Trainer, huggingface/transformers trainer.py `_maybe_log_save_evaluate` printed by
  `ProgressCallback.on_log`: the dict after the tqdm bar; evaluation dicts with `eval_loss`.
- OpenNMT-py, OpenNMT/OpenNMT-py onmt/utils/statistics.py (`Step %s; acc: %6.2f; ppl: %5.2f; xent:
  %4.2f; lr: %7.5f; %3.0f/%3.0f tok/s; %6.0f sec`), behind its logger's `[time,ms INFO] ` prefix:
  read by the learned-layout parser.
- mmengine, open-mmlab/mmengine mmengine/runner/log_processor.py: `Epoch(train)  [e][ i/n]` then
  two-space separated `key: value` items; the batch counter starts again every epoch.
- JSON lines with namespaced keys and an ISO `time` (the learned JSON reading).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import random

import pytest

from monitor.catalog import load
from monitor.pipeline import SourceScan
from monitor.sources.files import Source
from monitor.sources.lines import ReadStats, read_batches
from tests.conftest import scan_one_way

LAYOUTS = ("nanogpt", "hf", "opennmt", "mmengine", "jsonl")


class _Run:
    """A random run in one layout: mostly healthy, with a random mix of what goes wrong."""

    def __init__(self, seed: int, layout: str) -> None:
        self.rng = rng = random.Random(seed)
        self.layout = layout
        self.clock = 1_709_632_800.0 + rng.randrange(0, 10**6)
        self.step = rng.randrange(0, 3000)
        self.epoch = 1
        self.loss = rng.uniform(2.0, 9.0)
        self.lr = 3e-4
        self.ms = rng.uniform(100, 900)
        self.trouble = {name: rng.choice([0.0, 0.001, 0.004, 0.02]) for name in (
            "spike", "nan", "grad", "slow", "stall", "restart", "climb", "eval", "noise",
        )}

    def _values(self) -> dict[str, str]:
        rng, t = self.rng, self.trouble
        self.step += 1
        if rng.random() < t["restart"]:
            self.step = max(1, self.step - rng.randrange(1, 300))
        self.loss *= rng.uniform(0.995, 1.004) if rng.random() > t["climb"] * 5 else 1.1
        loss = self.loss * rng.uniform(0.99, 1.01)
        if rng.random() < t["spike"]:
            loss *= rng.uniform(1.5, 6)
        ms = self.ms * rng.uniform(0.97, 1.03)
        if rng.random() < t["slow"] * 10:
            ms *= rng.uniform(1.5, 3.0)
        gap = ms / 1000 if rng.random() > t["stall"] else rng.uniform(300, 4000)
        self.clock += gap
        if rng.random() < 0.01:
            self.lr *= 0.9
        grad = rng.uniform(0.5, 1.5) if rng.random() > t["grad"] else rng.uniform(20, 300)
        values = {"loss": f"{loss:.4f}", "grad": f"{grad:.4f}", "ms": f"{ms:.2f}", "lr": f"{self.lr:.4e}"}
        if rng.random() < t["nan"]:
            values["loss"] = rng.choice(["nan", "inf"])
            values["grad"] = rng.choice(["nan", values["grad"]])
        return values

    def _stamp(self, sep: str = " ") -> str:
        return dt.datetime.fromtimestamp(self.clock, dt.timezone.utc).strftime(f"%Y-%m-%d{sep}%H:%M:%S")

    def lines(self, count: int) -> list[str]:
        rng, t = self.rng, self.trouble
        out: list[str] = []
        per_epoch = rng.choice([200, 500, 2000])
        while len(out) < count:
            v = self._values()
            if self.layout == "nanogpt":
                out.append(f"iter {self.step}: loss {v['loss']}, time {v['ms']}ms, mfu {rng.uniform(30, 32):.2f}%")
                if rng.random() < t["eval"]:
                    out.append(f"step {self.step}: train loss {v['loss']}, val loss {self.loss * 1.05:.4f}")
            elif self.layout == "hf":
                total = 100_000
                out.append(f"{self.step * 100 // total:3d}%|▌         | {self.step}/{total} "
                           f"[08:37<2:15:24,  {float(v['ms']) / 1000:.2f}s/it]")
                out.append(f"{{'loss': {v['loss']}, 'grad_norm': {v['grad']}, 'learning_rate': {v['lr']}, "
                           f"'epoch': {self.step / 5000:.2f}}}")
                if rng.random() < t["eval"]:
                    out.append(f"{{'eval_loss': {self.loss * 1.05:.4f}, 'eval_runtime': 12.3, "
                               f"'epoch': {self.step / 5000:.2f}}}")
            elif self.layout == "opennmt":
                ppl = "nan" if v["loss"] in ("nan", "inf") else f"{math.exp(min(float(v['loss']), 50)):.2f}"
                out.append(f"[{self._stamp()},{rng.randrange(1000):03d} INFO] Step {self.step}/500000; "
                           f"acc: {rng.uniform(30, 60):6.2f}; ppl: {ppl:>5}; xent: {v['loss']}; lr: 0.00070; "
                           f"{rng.randrange(1500, 2000)}/{rng.randrange(1500, 2000)} tok/s; "
                           f"{int(self.clock) % 100000:6d} sec")
            elif self.layout == "mmengine":
                batch = self.step % per_epoch
                if batch == 0:
                    self.epoch += 1
                    continue
                out.append(f"{self._stamp().replace('-', '/')} - mmengine - INFO - Epoch(train)  "
                           f"[{self.epoch}][{batch:4d}/{per_epoch}]  lr: {v['lr']}  eta: 1:23:45  "
                           f"time: {float(v['ms']) / 1000:.4f}  data_time: 0.0123  memory: 4521  "
                           f"grad_norm: {v['grad']}  loss: {v['loss']}")
            else:
                record = {"time": self._stamp("T") + "Z", "step": self.step, "train/loss": float(v["loss"]),
                          "train/grad_norm": float(v["grad"]), "train/step_time_s": float(v["ms"]) / 1000}
                out.append(json.dumps(record))
            if rng.random() < t["noise"] * 20:
                out.append(f"[{self._stamp()}] INFO dataloader: prefetching shard {rng.randrange(999)}")
        return out[:count]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seed", range(8))
def test_screening_records_read_line_by_line_changes_nothing(layout: str, seed: int) -> None:
    run = _Run(seed, layout)
    text = "\n".join(run.lines(run.rng.randrange(300, 3000))) + "\n"
    chunk = run.rng.choice([4096, 16384, 65536])
    by_record = scan_one_way(text, bulk=False, chunk=chunk)
    screened = scan_one_way(text, bulk=True, chunk=chunk)
    assert screened[:3] == by_record[:3]


def test_the_layouts_are_screened_and_raise_events() -> None:
    """The comparison above is not empty: every layout is read, screened in many batches, and the
    runs raise the detectors' events."""
    codes: set[str] = set()
    for layout in LAYOUTS:
        skimmed = steps = 0
        for seed in range(8):
            run = _Run(seed, layout)
            text = "\n".join(run.lines(run.rng.randrange(300, 3000))) + "\n"
            events, summary, _, count = scan_one_way(text, bulk=True, chunk=16384)
            skimmed += count
            steps += int(summary["steps"])  # type: ignore[call-overload]
            codes.update(code for code in ("LOSS-SPIKE", "LOSS-NAN", "SLOWDOWN", "STALL", "STEP-RESTART")
                         if f"'{code}'" in events)
        assert steps > 4000, layout
        assert skimmed > 100, layout
    assert {"LOSS-SPIKE", "LOSS-NAN", "SLOWDOWN", "STALL", "STEP-RESTART"} <= codes


def test_the_learned_layouts_are_read_in_bulk() -> None:
    """The comparison covers the bulk reading of learned layouts: their lines become rows, not records."""
    for layout in ("opennmt", "mmengine"):
        run = _Run(3, layout)
        text = "\n".join(run.lines(2000)) + "\n"
        scan = SourceScan(Source("run.log", None), load())
        rows = 0
        for batch in read_batches(io.BytesIO(text.encode()), "run.log", ReadStats(), chunk_bytes=16384):
            found = scan.parsers.parse_block(batch.lines, batch.first_line, [], batch.text)
            rows += len(found.rows) if found.rows is not None else 0
        assert rows > 1000, layout
