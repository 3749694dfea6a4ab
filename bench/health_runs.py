#!/usr/bin/env python3
"""Labelled synthetic training runs, for scoring the training-health detectors.

Each run is one log in a real framework layout plus a JSON sidecar naming the
incidents injected into it, so a scorer (`bench/health_eval.py`) can compare
what `monitor scan` reports with what is known to be there. Runs are made
from a seed and an index only: the same pair always gives the same bytes.

What a run holds:
- a loss curve L(t) = a + b * (t + t0)^-alpha with multiplicative noise of
  0.3% .. 3% per training step; formats that print an interval mean (Megatron,
  Hugging Face) show that noise averaged over the logging interval, the
  others print one step's loss;
- logging every 1 .. 100 steps, 2,000 .. 30,000 planned steps;
- the learning rate: linear warm-up, then cosine decay (printed where the
  format prints it);
- a noisy grad norm, higher during warm-up; a step time with small jitter
  (a slow first interval: compilation and start-up);
- harmless things a detector must tolerate: evaluation and checkpoint pauses
  (a long wall-clock gap next to an eval or checkpoint line), one-logged-step
  loss bumps of +3 .. +10%, small step-time blips, and, in some runs,
  timestamped heartbeat / NCCL WARN chatter throughout.

Incidents (zero or more per run; about a third of runs have none), each
labelled with `code_family`, `start_step`, `end_step` (as printed steps) and
`factor`:
- spike: the loss rises 1.5x .. 5x within 0 .. 2 logged steps and comes back
  over 1 .. 50 logged steps, usually after a grad-norm spike 1 .. 3 logged
  steps earlier;
- divergence: the loss jumps 2x .. 5x, or climbs to 2x .. 5x, and never comes
  back (variants `jump`, `climb`); or turns NaN and stays (`nan`); or
  collapses to exactly 0.0 and stays (`collapse`);
- slowdown: step time 1.3x .. 3x (throughput down by the same factor) to the
  end of the run or for a long stretch;
- stall: one wall-clock gap of 20x .. 200x the usual interval between two
  progress lines, then progress resumes (start = the last step before the
  gap, end = the first one after it);
- unfinished: progress stops at a step below the planned total while
  timestamped non-progress lines (heartbeat, NCCL WARN) keep coming for a
  long time (start = end = the last step printed).
Step and factor are measured on the logged values: a spike of factor 3 is a
logged loss 3x its clean value, whatever the logging interval.

Incidents are only injected where the format can show them: a slowdown needs
a step time, a throughput or a timestamp on the progress line (the Hugging
Face dicts carry none unless they are logged through Python logging, the
`logged` style); a stall needs a timestamp on the progress line (nanoGPT has
one only in the `ts` style); an unfinished run needs one too, and the
planned total on the progress line (Megatron's `iteration N/ TOTAL`, the
Trainer's bar `n/total`), so it is never drawn for nanoGPT or torchtitan.
Forced variants (`make_run(variants=...)`) skip these checks.

Layouts. Every progress line is one the monitor's own parser reads (the
tests check the step count of each format); the layouts come from:
- Megatron-LM `training_log` iteration lines with the newer upstream
  ` [YYYY-mm-dd HH:MM:SS]` prefix (with or without microseconds), optional
  `throughput per GPU (TFLOP/s/GPU)`, the validation block between rulers,
  `saving checkpoint at iteration` / `successfully saved checkpoint from
  iteration`, and the `[before the start of training step] datetime:` and
  `[after training is done] datetime:` markers: `monitor/parsers/megatron.py`
  (docstring and `MegatronParser.samples`) and progress-formats.md section 1
  "NVIDIA Megatron-LM". A NaN interval drops the `lm loss` field and prints
  `grad norm: nan` (the `>= 0.0` rule noted there).
- Hugging Face Trainer log dicts (`'loss'` rounded to 4 decimals,
  `'grad_norm'`, `'learning_rate'`, `'epoch'` rounded to 2; or every value a
  quoted 4-significant-digit string, the newest variant), written after the
  tqdm training bar that gives them their step, evaluation bars and
  `eval_*` dicts, the end-of-training summary dict, and transformers'
  `[INFO|file.py:line] YYYY-mm-dd HH:MM:SS,mmm >> ` logging lines:
  `monitor/parsers/hf_trainer.py`, `monitor/parsers/bars.py` (docstrings
  and samples) and progress-formats.md sections 4 "Hugging Face
  Transformers Trainer" and 0 "Things that wrap every format" (logging
  prefixes).
- nanoGPT `iter N: loss X, time Yms, mfu Z%` (`mfu -100.00%` for the first 5
  local iterations; a fork variant prints `, lr ...` before mfu), the
  `step N: train loss X, val loss Y` eval line and `saving checkpoint to
  out`, optionally behind a `YYYY-mm-dd HH:MM:SS ` prefix as added by
  posters: `monitor/parsers/nanogpt.py` and progress-formats.md section 7
  "nanoGPT and llama2.c-style loops".
- torchtitan `[rank0]:[titan] YYYY-mm-dd HH:MM:SS,mmm - root - INFO - step: N
  loss: X  grad_norm: Y  memory: ...GiB(...%)  tps: T  tflops: F  mfu: M%`,
  ANSI colours or not, the `validate step:` line and the checkpoint
  messages: `monitor/parsers/torchtitan.py` and progress-formats.md section 6
  "torchtitan".
- timestamps of non-progress lines: `monitor/parsers/timestamps.py`.

Usage: python bench/health_runs.py --out DIR [--runs N] [--seed S]
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import datetime as dt
import json
import math
import random
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

FORMATS = ("megatron", "hf_trainer", "nanogpt", "torchtitan")
FAMILIES = ("spike", "divergence", "slowdown", "stall", "unfinished")
STYLES = {
    "megatron": ("seconds", "micro"),
    "hf_trainer": ("bare", "quoted", "logged"),
    "nanogpt": ("plain", "ts"),
    "torchtitan": ("colour", "plain"),
}
# variant -> (event kind a detector should raise, code_family, expected code)
VARIANTS = {
    "spike": ("loss_spike", "spike", "LOSS-SPIKE"),
    "jump": ("divergence", "divergence", "DIVERGENCE"),
    "climb": ("divergence", "divergence", "DIVERGENCE"),
    "nan": ("nan", "divergence", "NAN-DIVERGENCE"),
    "collapse": ("divergence", "divergence", "LOSS-COLLAPSE"),
    "slowdown": ("slowdown", "slowdown", "SLOWDOWN"),
    "stall": ("hang", "stall", "STALL"),
    "unfinished": ("hang", "unfinished", "UNFINISHED-RUN"),
}
TERMINAL = ("jump", "climb", "nan", "collapse", "unfinished")
HEALTHY_SHARE = 1 / 3
GAP_BETWEEN_INCIDENTS = 25  # logged steps of clean baseline before each incident
TAIL_AFTER_TERMINAL = 30  # logged steps printed after a divergence begins
_BAR_EIGHTHS = " ▏▎▍▌▋▊▉"
_COLOURS = {"red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m", "blue": "\x1b[34m",
            "cyan": "\x1b[36m", "magenta": "\x1b[35m", "reset": "\x1b[39m"}


@dataclasses.dataclass(frozen=True)
class Incident:
    """One injected incident; steps are the steps the log prints, indices count progress lines."""

    kind: str
    code_family: str
    code: str
    variant: str
    start_step: int
    end_step: int
    factor: float | None
    start_index: int
    end_index: int
    peak_step: int | None = None
    seconds: float | None = None  # stall: the wall-clock gap; unfinished: how long the log goes on

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Run:
    """A generated run: its log lines, its progress steps and its labels."""

    name: str
    seed: int
    index: int
    format: str
    style: str
    total_steps: int
    log_interval: int
    steps: list[int]
    incidents: list[Incident]
    lines: list[str]
    chatter: bool = False

    @property
    def healthy_steps(self) -> int:
        """Logged steps outside every incident's [start, end]."""
        inside: set[int] = set()
        for incident in self.incidents:
            inside.update(range(incident.start_index, incident.end_index + 1))
        return len(self.steps) - len(inside)

    def label(self) -> dict[str, object]:
        return {
            "name": self.name,
            "log": f"{self.name}.log",
            "seed": self.seed,
            "index": self.index,
            "format": self.format,
            "style": self.style,
            "planned_total_steps": self.total_steps,
            "log_interval": self.log_interval,
            "logged_steps": len(self.steps),
            "healthy_steps": self.healthy_steps,
            "first_step": self.steps[0],
            "last_step": self.steps[-1],
            "chatter": self.chatter,
            "incidents": [incident.to_json() for incident in self.incidents],
        }

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _first_at_least(values: Sequence[int], target: float) -> int:
    return bisect.bisect_left(values, target)


@dataclasses.dataclass
class _Series:
    """Per progress line: what the log will print, before formatting."""

    steps: list[int]
    loss: list[float]
    grad: list[float]
    lr: list[float]
    step_time: list[float]  # mean seconds per training step over the interval (stalls included, pauses not)
    last_time: list[float]  # seconds of the interval's last iteration (nanoGPT's `time`)
    pause: list[float]  # eval / checkpoint seconds spent in the gap before this line
    wall: list[float]  # seconds since the start at which the line is printed
    evals: set[int]  # indices after (or, for nanoGPT, before) which an evaluation runs
    checkpoints: set[int]


class _Builder:
    """Draws one run's parameters, its clean series, its incidents, then renders the log."""

    def __init__(self, seed: int, index: int, fmt: str | None, style: str | None, total_steps: int | None,
                 log_interval: int | None, variants: Sequence[str] | None, healthy: bool | None) -> None:
        self.seed, self.index = seed, index
        self.rng = rng = random.Random(f"health-runs/{seed}/{index}")
        self.fmt = fmt or rng.choice(FORMATS)
        self.style = style or rng.choice(STYLES[self.fmt])
        self.total = total_steps or rng.randint(2000, 30000)
        k_max = max(1, min(100, self.total // 150))
        self.k = log_interval or max(1, min(k_max, round(_log_uniform(rng, 1, k_max + 0.49))))
        if total_steps is None and rng.random() < 0.7:
            self.total -= self.total % self.k  # most runs plan a multiple of the logging interval
        self.start = dt.datetime(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 700), seconds=rng.randint(0, 86399))
        self.steps = self._logged_steps()
        self.requested_variants = variants
        self.healthy = healthy
        self.chatter = self.fmt in ("megatron", "torchtitan") or self.style == "logged"
        self.chatter = self.chatter and rng.random() < 0.4
        self.node = f"node{rng.randint(1, 96):02d}"

    # -- what the format can show ------------------------------------------
    @property
    def has_timing(self) -> bool:
        return self.fmt != "hf_trainer" or self.style == "logged"

    @property
    def has_clock(self) -> bool:
        return self.fmt in ("megatron", "torchtitan") or self.style in ("logged", "ts")

    @property
    def has_total(self) -> bool:
        return self.fmt in ("megatron", "hf_trainer")

    def _logged_steps(self) -> list[int]:
        k, total = self.k, self.total
        if self.fmt == "nanogpt":
            return list(range(0, total + 1, k))
        if self.fmt == "torchtitan":
            return sorted({1, *range(k, total + 1, k)})
        return list(range(k, total + 1, k))

    # -- the clean run ----------------------------------------------------------
    def series(self) -> _Series:
        rng, steps = self.rng, self.steps
        n = len(steps)
        averaged = self.fmt in ("megatron", "hf_trainer")
        if self.fmt == "hf_trainer":
            a = rng.uniform(0.3, 1.5)
            start_loss = a + rng.uniform(0.8, 2.5)
        else:
            a = rng.uniform(1.8, 3.5)
            start_loss = rng.uniform(9.0, 11.5)
        alpha, t0 = rng.uniform(0.25, 0.8), rng.uniform(20, 500)
        b = (start_loss - a) * t0**alpha
        sigma = _log_uniform(rng, 0.003, 0.03)
        self.sigma = sigma
        peak_lr = _log_uniform(rng, 1e-5, 2e-4) if self.fmt == "hf_trainer" else _log_uniform(rng, 1e-4, 6e-4)
        min_lr = peak_lr * rng.uniform(0.0, 0.1)
        self.warmup = warmup = max(10, int(self.total * rng.uniform(0.005, 0.05)))
        g0, boost, grad_sd = _log_uniform(rng, 0.15, 2.0), rng.uniform(1.0, 4.0), rng.uniform(0.05, 0.2)
        base_time = {"megatron": (0.25, 30.0), "hf_trainer": (0.15, 8.0), "nanogpt": (0.05, 1.5),
                     "torchtitan": (0.2, 6.0)}[self.fmt]
        self.t0 = t_base = _log_uniform(rng, *base_time)
        jitter = rng.uniform(0.003, 0.02)

        loss, grad, lr, step_time, last_time = [], [], [], [], []
        previous = 0 if self.fmt != "nanogpt" else -1
        for step in steps:
            width = max(1, step - previous)
            previous = step
            clean = a + b * (step + t0) ** -alpha
            sd = sigma / math.sqrt(width) if averaged else sigma
            loss.append(clean * (1 + rng.gauss(0, sd)))
            if step < warmup:
                lr.append(peak_lr * step / warmup)
            else:
                progress = (step - warmup) / max(1, self.total - warmup)
                lr.append(min_lr + 0.5 * (peak_lr - min_lr) * (1 + math.cos(math.pi * min(1.0, progress))))
            grad.append(g0 * (1 + boost * math.exp(-step / warmup)) * math.exp(rng.gauss(0, grad_sd)))
            step_time.append(t_base * (1 + rng.gauss(0, jitter / math.sqrt(width))))
            last_time.append(t_base * (1 + rng.gauss(0, jitter)))
        self.clean = [a + b * (s + t0) ** -alpha for s in steps]

        # harmless: one-step loss bumps, step-time blips
        for i in range(n):
            if rng.random() < 0.005:
                loss[i] *= 1 + rng.uniform(0.03, 0.10)
            if rng.random() < 0.003:
                blip = rng.uniform(1.1, 1.4)
                step_time[i] *= blip
                last_time[i] *= blip
        # start-up: the first interval is slow (compilation, warm caches)
        overhead = rng.uniform(5, 60)
        first_width = max(1, steps[0] - (0 if self.fmt != "nanogpt" else -1))
        step_time[0] += overhead / first_width
        last_time[0] += overhead

        # evaluations and checkpoints land on logged steps
        every = self.k * max(1, round(n / rng.uniform(6, 30)))
        save_every = every * rng.choice((1, 1, 2))
        evals = {i for i, s in enumerate(steps) if s > 0 and s % every == 0 and i < n - 1}
        if self.fmt == "nanogpt":
            evals.add(0)
        checkpoints = {i for i, s in enumerate(steps) if s > 0 and s % save_every == 0 and i < n - 1}
        pause = [0.0] * n
        self.eval_seconds = {i: rng.uniform(8, 150) for i in sorted(evals)}
        self.save_seconds = {i: rng.uniform(5, 240) for i in sorted(checkpoints)}
        for i in sorted(evals | checkpoints):
            spent = self.eval_seconds.get(i, 0.0) + self.save_seconds.get(i, 0.0)
            # nanoGPT evaluates at the top of the loop, before the logged iteration; the others after the log
            target = i if self.fmt == "nanogpt" else i + 1
            if target < n:
                pause[target] += spent
        if self.fmt == "nanogpt":
            for i in evals:
                last_time[i] += pause[i]
        return _Series(steps, loss, grad, lr, step_time, last_time, pause, [0.0] * n, evals, checkpoints)

    # -- incidents ---------------------------------------------------------------
    def choose_variants(self) -> list[str]:
        rng = self.rng
        if self.requested_variants is not None:
            return list(self.requested_variants)
        healthy = self.healthy if self.healthy is not None else rng.random() < HEALTHY_SHARE
        if healthy:
            return []
        weights = {"spike": 4.0, "jump": 1.0, "climb": 1.0, "nan": 1.0, "collapse": 1.0}
        if self.has_timing:
            weights["slowdown"] = 2.5
        if self.has_clock:
            weights["stall"] = 2.5
        if self.has_clock and self.has_total:  # only about a quarter of the runs can show one
            weights["unfinished"] = 5.0
        count = rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]
        names, w = list(weights), list(weights.values())
        chosen: list[str] = []
        for _ in range(count):
            variant = rng.choices(names, w)[0]
            if variant in TERMINAL and any(v in TERMINAL for v in chosen):
                variant = rng.choice([v for v in ("spike", "stall", "slowdown") if v in weights])
            chosen.append(variant)
        rng.shuffle(chosen)
        chosen.sort(key=lambda v: v in TERMINAL)  # the terminal one last
        return chosen

    def inject(self, s: _Series, variants: list[str]) -> list[Incident]:
        n = len(s.steps)
        lo = max(30, _first_at_least(s.steps, 1.5 * self.warmup), int(0.08 * n))
        if not variants or lo >= n - TAIL_AFTER_TERMINAL:
            return []
        terminal = [v for v in variants if v in TERMINAL][:1]  # at most one, and last
        variants = [v for v in variants if v not in TERMINAL] + terminal
        part = (n - lo) / len(variants)
        incidents: list[Incident] = []
        for j, variant in enumerate(variants):
            first = int(lo + j * part) + (GAP_BETWEEN_INCIDENTS if j else 0)
            last = int(lo + (j + 1) * part) - 1
            last_variant = j == len(variants) - 1
            incident = self._place(s, variant, first, last, last_variant)
            if incident is not None:
                incidents.append(incident)
        return incidents

    def _place(self, s: _Series, variant: str, first: int, last: int, is_last: bool) -> Incident | None:
        rng, n = self.rng, len(s.steps)
        kind, family, code = VARIANTS[variant]

        def made(start: int, end: int, factor: float | None, peak: int | None = None,
                 seconds: float | None = None) -> Incident:
            return Incident(kind, family, code, variant, s.steps[start], s.steps[end], factor, start, end,
                            None if peak is None else s.steps[peak], seconds)

        if variant == "spike":
            rise = rng.choices((0, 1, 2), (0.8, 0.15, 0.05))[0]
            room = last - first - rise - 1
            if room < 1:
                return None
            recovery = min(rng.randint(1, 50), room)
            start = rng.randint(first, last - rise - recovery - 1)
            factor = rng.uniform(1.5, 5.0)
            peak, end = start + rise, start + rise + recovery
            for j in range(start, end + 1):
                if j <= peak:
                    m = 1 + (factor - 1) * (j - start + 1) / (rise + 1)
                else:
                    m = 1 + (factor - 1) * (1 - (j - peak) / (recovery + 1)) ** 1.5
                s.loss[j] = self.clean[j] * m * (1 + rng.gauss(0, self.sigma / 3))
                s.grad[j] *= 1 + (m - 1) * rng.uniform(0.5, 2.0)
            if rng.random() < 0.8:
                lead = rng.randint(1, 3)
                if start - lead >= 0:
                    s.grad[start - lead] *= rng.uniform(3, 20)
            return made(start, end, round(factor, 3), peak)

        if variant in ("jump", "climb", "nan", "collapse"):
            hi = min(last, n - TAIL_AFTER_TERMINAL) if is_last else n - TAIL_AFTER_TERMINAL
            if hi < first:
                return None
            start = rng.randint(first, hi)
            factor: float | None = None
            if variant == "jump":
                factor = rng.uniform(2.0, 5.0)
                creep = rng.uniform(0, 0.002)
                for j in range(start, n):
                    m = factor * (1 + creep * (j - start))
                    s.loss[j] = self.clean[j] * m * (1 + rng.gauss(0, self.sigma))
                    s.grad[j] *= rng.uniform(1.5, 5.0)
            elif variant == "climb":
                factor = rng.uniform(2.0, 5.0)
                length = max(5, min(rng.randint(20, 200), n - start - 1))
                for j in range(start, n):
                    m = 1 + (factor - 1) * min(1.0, (j - start + 1) / length)
                    s.loss[j] = self.clean[j] * m * (1 + rng.gauss(0, self.sigma))
                    s.grad[j] *= 1 + (m - 1) * rng.uniform(0.5, 1.5)
            elif variant == "nan":
                for j in range(start, n):
                    s.loss[j] = math.nan
                    s.grad[j] = math.nan
            else:
                factor = 0.0
                for j in range(start, n):
                    s.loss[j] = 0.0
                    s.grad[j] = 0.0
            return made(start, n - 1, None if factor is None else round(factor, 3))

        if variant == "slowdown":
            factor = rng.uniform(1.3, 3.0)
            to_end = is_last and rng.random() < 0.5
            if to_end:
                hi = min(last, n - 40)
                if hi < first:
                    return None
                start, end = rng.randint(first, hi), n - 1
            else:
                room = last - first
                if room < 30:
                    return None
                length = rng.randint(30, min(400, room))
                start = rng.randint(first, last - length + 1)
                end = start + length - 1
            for j in range(start, end + 1):
                s.step_time[j] *= factor
                s.last_time[j] *= factor
            return made(start, end, round(factor, 3))

        usual = self.k * self.t0
        if variant == "stall":
            candidates = [i for i in range(first, min(last, n - 2) + 1) if s.pause[i + 1] == 0 and s.pause[i] == 0]
            if not candidates:
                return None
            start = rng.choice(candidates)
            factor = rng.uniform(20, 200)
            extra = (factor - 1) * usual
            width = s.steps[start + 1] - s.steps[start]
            s.step_time[start + 1] += extra / width
            if rng.randint(1, width) == width:  # the hung iteration is the interval's last: nanoGPT shows it
                s.last_time[start + 1] += extra
            return made(start, start + 1, round(factor, 2), seconds=round(factor * usual, 1))

        # unfinished: progress stops at `start`; the log goes on with chatter
        lo = max(first, int(0.3 * n))
        hi = min(n - 2, int(0.95 * n))
        if not is_last or hi < lo:
            return None
        start = rng.randint(lo, hi)
        self.stop_at = start
        self.tail_seconds = max(rng.uniform(20, 240) * 60, rng.uniform(10, 40) * usual)
        return made(start, start, None, seconds=round(self.tail_seconds, 1))

    # -- wall clock -----------------------------------------------------------------
    def clock(self, s: _Series) -> None:
        wall = 0.0
        previous = 0 if self.fmt != "nanogpt" else -1
        for i, step in enumerate(s.steps):
            width = max(1, step - previous)
            previous = step
            wall += width * s.step_time[i] + s.pause[i]
            s.wall[i] = wall

    # -- the whole run ----------------------------------------------------------------
    def build(self) -> Run:
        self.stop_at: int | None = None
        s = self.series()
        incidents = self.inject(s, self.choose_variants())
        self.clock(s)
        if self.stop_at is not None:
            keep = self.stop_at + 1
            for field in ("steps", "loss", "grad", "lr", "step_time", "last_time", "pause", "wall"):
                setattr(s, field, getattr(s, field)[:keep])
            s.evals = {i for i in s.evals if i < keep - 1}
            s.checkpoints = {i for i in s.checkpoints if i < keep - 1}
        render: Callable[[_Series], list[str]] = getattr(self, f"_render_{self.fmt}")
        lines = render(s)
        name = f"s{self.seed}-r{self.index:04d}-{self.fmt}"
        return Run(name, self.seed, self.index, self.fmt, self.style, self.total, self.k, s.steps, incidents, lines,
                   self.chatter)

    # -- chatter: timestamped non-progress lines ------------------------------------------
    def _chatter_times(self, s: _Series) -> list[float]:
        if not self.chatter:
            return []
        end = s.wall[-1]
        period = max(self.rng.uniform(120, 900), end / 300)
        times, t = [], self.rng.uniform(0, period)
        while t < end:
            times.append(t)
            t += period * self.rng.uniform(0.8, 1.2)
        return times

    def _tail_times(self, s: _Series) -> list[float]:
        """After an unfinished run's last step: chatter for a long time."""
        if self.stop_at is None:
            return []
        duration = self.tail_seconds
        count = max(5, min(200, int(duration / self.rng.uniform(30, 300))))
        return [s.wall[-1] + duration * (j + 1) / count for j in range(count)]

    def _when(self, seconds: float) -> dt.datetime:
        return self.start + dt.timedelta(seconds=seconds)

    def _logging_stamp(self, seconds: float) -> str:
        when = self._when(seconds)
        return f"{when:%Y-%m-%d %H:%M:%S},{when.microsecond // 1000:03d}"

    def _nccl_warn(self, seconds: float, prefix: str = "") -> str:
        # NCCL >= 2.26 prints a timestamp in front of its WARN lines
        return (f"{prefix}[{self._when(seconds):%Y-%m-%d %H:%M:%S}] {self.node}:2231:2518 [0] NCCL WARN "
                f"NET/IB : Got async event : GID table change")

    def _chatter_line(self, seconds: float, j: int) -> str:
        if j % 2:
            return self._nccl_warn(seconds, "[rank0]:" if self.fmt == "torchtitan" else "")
        if self.fmt == "megatron":
            return f"[{self._logging_stamp(seconds)}] [INFO] [heartbeat.py:57:beat] all 8 local ranks alive"
        if self.fmt == "hf_trainer":
            return f"{self._logging_stamp(seconds)} - INFO - __main__ - heartbeat: all 8 local ranks alive"
        return self._nccl_warn(seconds, "[rank0]:")

    def _interleave(self, s: _Series, render_step: Callable[[int], list[str]]) -> list[str]:
        """Progress lines (and what follows each) with the chatter placed by time, then the tail."""
        lines: list[str] = []
        chatter = self._chatter_times(s)
        c = 0
        for i in range(len(s.steps)):
            while c < len(chatter) and chatter[c] < s.wall[i]:
                lines.append(self._chatter_line(chatter[c], c))
                c += 1
            lines.extend(render_step(i))
        for j, t in enumerate(self._tail_times(s)):
            lines.append(self._chatter_line(t, j + c))
        return lines

    # -- Megatron-LM ------------------------------------------------------------------------
    def _megatron_stamp(self, seconds: float) -> str:
        when = self._when(seconds)
        return f"[{when:%Y-%m-%d %H:%M:%S.%f}]" if self.style == "micro" else f"[{when:%Y-%m-%d %H:%M:%S}]"

    def _render_megatron(self, s: _Series) -> list[str]:
        rng = self.rng
        gbs = rng.choice((256, 512, 1024, 2048))
        throughput = rng.random() < 0.5
        tflops = rng.uniform(150, 480)
        save_dir = rng.choice(("/checkpoints/gpt3-8b", "/gpfs/ckpt/llama-13b", "/mnt/ckpt/run7"))
        finished = self.stop_at is None

        def render_step(i: int) -> list[str]:
            step, loss = s.steps[i], s.loss[i]
            ms = s.step_time[i] * 1000.0
            fields = [f" {self._megatron_stamp(s.wall[i])} iteration {step:8d}/{self.total:8d} |",
                      f" consumed samples: {step * gbs:12d} |",
                      f" elapsed time per iteration (ms): {ms:.1f} |"]
            if throughput:
                fields.append(f" throughput per GPU (TFLOP/s/GPU): {tflops * self.t0 * 1000.0 / ms:.1f} |")
            fields.append(f" learning rate: {s.lr[i]:.6E} | global batch size: {gbs:5d} |")
            if loss >= 0.0:  # False for NaN: Megatron then prints no loss field
                fields.append(f" lm loss: {loss:.6E} |")
            fields.append(f" loss scale: 1.0 | grad norm: {s.grad[i]:.3f} |")
            fields.append(" number of skipped iterations:   0 | number of nan iterations:   0 |")
            out = ["".join(fields)]
            if i in s.evals:
                value = self.clean[i] * rng.uniform(1.01, 1.05) if not math.isnan(loss) else math.nan
                ppl = math.exp(min(20.0, value)) if not math.isnan(value) else math.nan
                text = f" validation loss at iteration {step} | lm loss value: {value:.6E} | lm loss PPL: {ppl:.6E} | "
                out += ["-" * (len(text) + 1), text, "-" * (len(text) + 1)]
            if i in s.checkpoints:
                out.append(f"saving checkpoint at iteration {step:7d} to {save_dir}")
                out.append(f"  successfully saved checkpoint from iteration {step:7d} to {save_dir}")
            return out

        lines = ["> building GPT model ...",
                 f"[before the start of training step] datetime: {self._when(0):%Y-%m-%d %H:%M:%S} "]
        lines += self._interleave(s, render_step)
        if finished:
            lines.append(f"[after training is done] datetime: {self._when(s.wall[-1] + 3):%Y-%m-%d %H:%M:%S} ")
        return lines

    # -- Hugging Face Trainer ------------------------------------------------------------------
    def _bar(self, n: int, total: int, elapsed: float, seconds_per_it: float) -> str:
        filled = 10 * n / total
        full = int(filled)
        bar = "█" * full + (_BAR_EIGHTHS[int((filled - full) * 8)] if full < 10 else "")
        rate = f"{seconds_per_it:5.2f}s/it" if seconds_per_it >= 1 else f"{1 / seconds_per_it:5.2f}it/s"
        return (f"{100 * n / total:3.0f}%|{bar:10s}| {n}/{total} "
                f"[{_interval(elapsed)}<{_interval((total - n) * seconds_per_it)}, {rate}]")

    def _hf_dict(self, values: dict[str, float]) -> str:
        if self.style == "quoted":
            return "{" + ", ".join(f"'{k}': '{v:.4g}'" for k, v in values.items()) + "}"
        return str(values)

    def _render_hf_trainer(self, s: _Series) -> list[str]:
        rng = self.rng
        per_epoch = rng.randint(max(50, self.total // 10), self.total)
        batch = rng.choice((8, 16, 32, 64, 128))
        eval_batches = rng.randint(10, 200)
        out_dir = rng.choice(("saves/llama3-8b/lora/sft", "output/qwen2-7b-sft", "runs/mistral-dpo"))
        logged = self.style == "logged"

        def transformers_log(seconds: float, where: str, message: str) -> str:
            return f"[INFO|{where}] {self._logging_stamp(seconds)} >> {message}"

        def render_step(i: int) -> list[str]:
            step = s.steps[i]
            previous = s.steps[i - 1] if i else 0
            begin = (s.wall[i - 1] if i else 0.0) + s.pause[i]
            per_it = (s.wall[i] - begin) / max(1, step - previous)
            shown = sorted({*rng.sample(range(previous + 1, step), min(2, step - previous - 1)), step})
            out = [self._bar(n, self.total, begin + (n - previous) * per_it, per_it) for n in shown]
            if rng.random() < 0.3:
                out.append(" " * rng.choice((60, 80, 120)))
            values = {"loss": round(s.loss[i], 4), "grad_norm": s.grad[i], "learning_rate": s.lr[i],
                      "epoch": round(step / per_epoch, 2)}
            record = self._hf_dict(values)
            out.append(f"{self._logging_stamp(s.wall[i])} - INFO - __main__ - {record}" if logged else record)
            t = s.wall[i]
            if i in s.evals:
                spent = self.eval_seconds[i]
                out.append(transformers_log(t, "trainer.py:4307", ""))
                out.append("***** Running Evaluation *****")
                out.append(transformers_log(t, "trainer.py:4309", f"  Num examples = {eval_batches * batch:,}"))
                out.append(transformers_log(t, "trainer.py:4312", f"  Batch size = {batch}"))
                for j in sorted({1, eval_batches // 2, eval_batches}):
                    out.append(self._bar(j, eval_batches, spent * j / eval_batches, spent / eval_batches))
                value = self.clean[i] * rng.uniform(1.01, 1.06) if not math.isnan(s.loss[i]) else math.nan
                eval_dict = self._hf_dict({"eval_loss": round(value, 4), "eval_runtime": round(spent, 4),
                                           "eval_samples_per_second": round(eval_batches * batch / spent, 3),
                                           "eval_steps_per_second": round(eval_batches / spent, 3),
                                           "epoch": round(step / per_epoch, 2)})
                t += spent
                out.append(f"{self._logging_stamp(t)} - INFO - __main__ - {eval_dict}" if logged else eval_dict)
            if i in s.checkpoints:
                path = f"{out_dir}/checkpoint-{step}"
                out.append(transformers_log(t, "trainer.py:3984", f"Saving model checkpoint to {path}"))
                out.append(transformers_log(t + 1, "configuration_utils.py:472",
                                            f"Configuration saved in {path}/config.json"))
                out.append(transformers_log(t + self.save_seconds[i], "modeling_utils.py:2590",
                                            f"Model weights saved in {path}/model.safetensors"))
            return out

        start = [transformers_log(0, "trainer.py:2128", "***** Running training *****"),
                 transformers_log(0, "trainer.py:2129", f"  Num examples = {per_epoch * batch:,}"),
                 transformers_log(0, "trainer.py:2130", f"  Num Epochs = {math.ceil(self.total / per_epoch)}"),
                 transformers_log(0, "trainer.py:2134", f"  Total optimization steps = {self.total:,}")]
        lines = start + self._interleave(s, render_step)
        if self.stop_at is None:
            per_it = self.t0
            if s.steps[-1] < self.total:
                lines.append(self._bar(self.total, self.total, s.wall[-1] + per_it * (self.total - s.steps[-1]),
                                       per_it))
            runtime = s.wall[-1]
            finite = [v for v in s.loss if not math.isnan(v)]
            lines.append(str({"train_runtime": round(runtime, 4),
                              "train_samples_per_second": round(self.total * batch / runtime, 3),
                              "train_steps_per_second": round(self.total / runtime, 3),
                              "train_loss": statistics.fmean(finite) if finite else math.nan,
                              "epoch": round(self.total / per_epoch, 2)}))
        return lines

    # -- nanoGPT --------------------------------------------------------------------------------
    def _render_nanogpt(self, s: _Series) -> list[str]:
        rng = self.rng
        prefix = self.style == "ts"
        with_lr = rng.random() < 0.5
        mfu_base = rng.uniform(0.08, 0.45)
        running = -1.0

        def stamp(seconds: float) -> str:
            return f"{self._when(seconds):%Y-%m-%d %H:%M:%S} " if prefix else ""

        def render_step(i: int) -> list[str]:
            nonlocal running
            step, loss = s.steps[i], s.loss[i]
            out = []
            dt_s = s.last_time[i]
            began = s.wall[i] - dt_s  # the end of the previous iteration
            if i in s.evals:
                value = self.clean[i] * rng.uniform(1.0, 1.04) if not math.isnan(loss) else math.nan
                train_value = self.clean[i] * rng.uniform(0.99, 1.02) if not math.isnan(loss) else math.nan
                when = began + self.eval_seconds.get(i, 0.0)
                out.append(f"{stamp(when)}step {step}: train loss {train_value:.4f}, val loss {value:.4f}")
                if step > 0:
                    out.append(f"{stamp(when)}saving checkpoint to out")
            local_iter = step  # one process from iteration 0: local and global counts agree
            if local_iter >= 5:
                mfu = mfu_base * self.t0 / dt_s
                running = mfu if running == -1.0 else 0.9 * running + 0.1 * mfu
            lr = f", lr {s.lr[i]:.6e}" if with_lr else ""
            out.append(f"{stamp(s.wall[i])}iter {step}: loss {loss:.4f}, time {dt_s * 1000:.2f}ms{lr}, "
                       f"mfu {running * 100:.2f}%")
            return out

        lines = [f"{stamp(0)}tokens per iteration will be: {rng.choice((491520, 245760, 122880)):,}",
                 f"{stamp(0)}Initializing a new model from scratch",
                 f"{stamp(0)}number of parameters: {rng.uniform(10, 800):.2f}M",
                 f"{stamp(0)}using fused AdamW: True",
                 f"{stamp(0)}compiling the model... (takes a ~minute)"]
        return lines + self._interleave(s, render_step)

    # -- torchtitan ---------------------------------------------------------------------------
    def _render_torchtitan(self, s: _Series) -> list[str]:
        rng = self.rng
        colour = _COLOURS if self.style == "colour" else dict.fromkeys(_COLOURS, "")
        rank = "[rank0]:" if rng.random() < 0.8 else ""
        loss_format = rng.choice(("7.4f", "8.5f"))
        device, capacity = rng.choice((("NVIDIA H100 80GB HBM3", 79.11), ("NVIDIA H100 NVL", 93.12),
                                       ("NVIDIA H200", 139.81)))
        memory = rng.uniform(0.3, 0.9) * capacity
        local_batch, seq = rng.choice((1, 2, 4, 8)), rng.choice((2048, 4096, 8192))
        tps_base = local_batch * seq / self.t0
        mfu_base = rng.uniform(0.15, 0.5)
        peak_tflops = 989.0
        validate = rng.random() < 0.6

        def prefix(seconds: float, level: str = "INFO") -> str:
            return f"{rank}[titan] {self._logging_stamp(seconds)} - root - {level} - "

        def render_step(i: int) -> list[str]:
            step, loss = s.steps[i], s.loss[i]
            previous = s.steps[i - 1] if i else 0
            gap = s.wall[i] - (s.wall[i - 1] if i else 0.0)
            tps = local_batch * seq * (step - previous) / gap
            ratio = tps / tps_base
            mem = memory * (1 + rng.uniform(-0.002, 0.002))
            c = colour
            line = (f"{prefix(s.wall[i])}{c['red']}step: {step:2}  {c['green']}loss: {format(loss, loss_format)}  "
                    f"{c['yellow']}grad_norm: {s.grad[i]:7.4f}  "
                    f"{c['blue']}memory: {mem:5.2f}GiB({100 * mem / capacity:.2f}%)  "
                    f"{c['cyan']}tps: {round(tps):,}  {c['magenta']}tflops: {peak_tflops * mfu_base * ratio:,.2f}  "
                    f"{c['magenta']}mfu: {100 * mfu_base * ratio:.2f}%{c['reset']}")
            out = [line]
            t = s.wall[i]
            if i in s.checkpoints:
                out.append(prefix(t) + "Saving the checkpoint (or staging if async is enabled).")
                t += self.save_seconds[i]
                out.append(prefix(t) + "Finished saving the checkpoint (or staging if async is enabled)"
                           f"in {self.save_seconds[i]:.2f} seconds.")
            if validate and i in s.evals:
                value = self.clean[i] * rng.uniform(1.0, 1.05) if not math.isnan(loss) else math.nan
                t += self.eval_seconds[i]
                out.append(f"{prefix(t)}{c['red']}validate step: {step:2}  {c['green']}loss: "
                           f"{format(value, loss_format)}  {c['blue']}memory: {mem:5.2f}GiB"
                           f"({100 * mem / capacity:.2f}%)  {c['cyan']}tps: {round(tps_base * 3):,}{c['reset']}")
            return out

        lines = [prefix(0) + "Starting job: Llama 3 8B training",
                 prefix(0) + f"CUDA capacity: {device} with {capacity:.2f}GiB memory",
                 prefix(0) + f"Training starts at step 1, with local batch size {local_batch}, global batch size "
                 f"{local_batch * 8}, gradient accumulation steps 1, sequence length {seq}, total steps "
                 f"{self.total} (warmup {self.warmup})"]
        lines += self._interleave(s, render_step)
        if self.stop_at is None:
            lines.append(prefix(s.wall[-1] + 2) + "Training completed")
        return lines


def _interval(seconds: float) -> str:
    """tqdm's `format_interval`: `MM:SS`, or `H:MM:SS` from one hour on."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def make_run(seed: int, index: int, *, fmt: str | None = None, style: str | None = None,
             total_steps: int | None = None, log_interval: int | None = None,
             variants: Sequence[str] | None = None, healthy: bool | None = None) -> Run:
    """Generate one run; the same arguments always give the same run.

    Args:
        seed, index: which run (a run depends on nothing else).
        fmt, style: force the log format (one of FORMATS) and its layout variant (STYLES[fmt]).
        total_steps, log_interval: force the planned length and the logging interval.
        variants: force the incidents, in order (names from VARIANTS; one that does not fit the run's
            length is dropped). None draws them; [] makes a healthy run.
        healthy: when variants is None, force a healthy run (True) or one with incidents (False).

    Raises:
        ValueError: an unknown format, style or variant.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if style is not None and (fmt is None or style not in STYLES[fmt]):
        raise ValueError(f"style {style!r} needs a format it belongs to: {STYLES}")
    for variant in variants or ():
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return _Builder(seed, index, fmt, style, total_steps, log_interval, variants, healthy).build()


def write_run(run: Run, out: Path) -> tuple[Path, Path]:
    """Write `<name>.log` and its `<name>.json` label into `out`; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    log, label = out / f"{run.name}.log", out / f"{run.name}.json"
    log.write_text(run.text(), encoding="utf-8")
    label.write_text(json.dumps(run.label(), indent=1) + "\n", encoding="utf-8")
    return log, label


def generate(out: Path, runs: int, seed: int) -> list[tuple[Path, Path]]:
    """Write runs 0 .. runs-1 of `seed` into `out`."""
    return [write_run(make_run(seed, index), out) for index in range(runs)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write the logs and labels into")
    parser.add_argument("--runs", type=int, default=40, help="runs to write (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    args = parser.parse_args(argv)
    written = generate(args.out, args.runs, args.seed)
    incidents = sum(len(json.loads(label.read_text())["incidents"]) for _, label in written)
    print(f"wrote {len(written)} runs with {incidents} incidents to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
