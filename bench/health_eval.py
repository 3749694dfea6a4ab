#!/usr/bin/env python3
"""Score the training-health detectors: recall, precision, delay and false alarms on labelled runs.

The runs come from `bench/health_runs.py` (seeded, so a score is
reproducible); each is scanned by its own `monitor scan --format jsonl
--jobs 1` subprocess (`--jobs` runs several at once), and the events are
matched against the run's labels. The healthy and negative excerpts of the
development corpus are scanned as well and reported on a line of their own.

Matching. An event matches an incident when its kind fits the incident's
family and its `step` lies in [start - 1 logged step, start + max(5 logged
steps, incident length in logged steps)]:

    family       event kinds that fit
    spike        loss_spike (code LOSS-SPIKE, or any code but GRAD-NORM-SPIKE)
    divergence   divergence; nan too, for the variant where the loss turns NaN and stays
    slowdown     slowdown
    stall        hang
    unfinished   hang

`spike+divergence` scores the two loss families together: any of their
events matches any of their incidents (the acceptance target, F1 >= 0.95, is
for this row). GRAD-NORM-SPIKE warnings are not loss-spike detections; their
rate on healthy runs is reported on a line of its own.

Numbers, per family:
- recall = detected incidents / incidents (an incident is detected when at
  least one event matches it);
- precision = detected incidents / (detected incidents + false events), where
  a false event is one of the family's kinds that matches none of its
  incidents (several events on one incident count once; a `hang` event on an
  incident of the sibling hang family is not counted against either, and a
  false `hang` event counts against unfinished when its code is
  UNFINISHED-RUN, against stall otherwise);
- delay = logged steps from the incident's start to the earliest matching
  event (an event one logged step early, inside the window, counts as 0;
  events before that never match); median and p90 (nearest rank);
- false alarms per 10k healthy logged steps = false events outside every
  incident's window, per 10,000 logged steps outside every incident.
Events without a step cannot be matched and count as false events.

Events per anomaly episode: every injected incident is one episode, and
should be one event. An event belongs to an incident when its step lies in
the incident's window and its kind is one an incident of that family can
show (loss_spike, divergence and nan for the loss families, slowdown for
slowdown, hang for stall and unfinished; GRAD-NORM-SPIKE warnings are left
out, they are reported above); an event in the windows of two incidents
belongs to the first. The line gives attributed events / detected incidents
per family and overall (target <= 1.2), and the most events one incident
drew.

Corpus line: every case under the corpus directory whose `expect` list is
empty, or whose `expect_absent` names loss_spike, divergence, nan or
slowdown, is scanned; any event of a kind its `expect_absent` names is
counted.

Usage:
    python bench/health_eval.py                       # 40 runs x 3 seeds, a temp dir
    python bench/health_eval.py --runs 200 --seeds 5 --jobs 8 --out /tmp/runs --json scores.json
    python bench/health_eval.py --monitor "python -m monitor"   # another way to run the tool
"""

from __future__ import annotations

import argparse
import bisect
import collections
import concurrent.futures
import dataclasses
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import health_runs  # noqa: E402  (bench/ is not a package)

DEFAULT_CORPUS = Path("/work/shared/corpus/dev")
GRAD_NORM_SPIKE = "GRAD-NORM-SPIKE"
UNFINISHED = "UNFINISHED-RUN"
ROWS = ("spike", "divergence", "spike+divergence", "slowdown", "stall", "unfinished")
ROW_FAMILIES = {
    "spike": ("spike",),
    "divergence": ("divergence",),
    "spike+divergence": ("spike", "divergence"),
    "slowdown": ("slowdown",),
    "stall": ("stall",),
    "unfinished": ("unfinished",),
}
SIBLINGS = {"stall": ("unfinished",), "unfinished": ("stall",)}
HEALTH_KINDS = ("loss_spike", "divergence", "nan", "slowdown")
SCORED_KINDS = ("loss_spike", "divergence", "nan", "slowdown", "hang")
BANDS = ("<1m", "1-5m", ">=5m")


# -- what fits what --------------------------------------------------------------------
def is_loss_spike(event: dict[str, Any]) -> bool:
    return event.get("kind") == "loss_spike" and event.get("code") != GRAD_NORM_SPIKE


def scored_by(row: str, event: dict[str, Any]) -> bool:
    """Whether `event` is one of the kinds row `row` scores (a candidate true or false event)."""
    kind = event.get("kind")
    if row == "spike":
        return is_loss_spike(event)
    if row == "divergence":
        return kind in ("divergence", "nan")
    if row == "spike+divergence":
        return is_loss_spike(event) or kind in ("divergence", "nan")
    if row == "slowdown":
        return kind == "slowdown"
    return kind == "hang"


def charged_to(row: str, event: dict[str, Any]) -> bool:
    """Whether a false `event` counts against `row`: a false hang event counts against one hang family
    only, by its code (UNFINISHED-RUN against unfinished, any other code against stall)."""
    if row == "stall":
        return event.get("code") != UNFINISHED
    if row == "unfinished":
        return event.get("code") == UNFINISHED
    return True


def fits(family: str, event: dict[str, Any], incident: dict[str, Any]) -> bool:
    """Whether the event's kind fits an incident of `family`."""
    if incident["code_family"] != family:
        return False
    kind = event.get("kind")
    if family == "spike":
        return is_loss_spike(event)
    if family == "divergence":
        return kind == "divergence" or (kind == "nan" and incident["variant"] == "nan")
    if family == "slowdown":
        return kind == "slowdown"
    return kind == "hang"


def fits_row(row: str, event: dict[str, Any], incident: dict[str, Any]) -> bool:
    if row == "spike+divergence":
        loss_event = is_loss_spike(event) or event.get("kind") == "divergence"
        nan_event = event.get("kind") == "nan" and incident["variant"] == "nan"
        return incident["code_family"] in ROW_FAMILIES[row] and (loss_event or nan_event)
    return fits(ROW_FAMILIES[row][0], event, incident)


# -- steps, counted in logged steps ------------------------------------------------------
@dataclasses.dataclass
class ScannedRun:
    """One run's labels and what the monitor reported on it."""

    label: dict[str, Any]
    steps: list[int]
    events: list[dict[str, Any]]
    error: str | None = None
    parsed_steps: int | None = None

    def index_of(self, step: int) -> int:
        """The logged-step index of `step`: the last progress line at or before it (beyond the last
        line, one more per logging interval)."""
        last = self.steps[-1]
        if step > last:
            return len(self.steps) - 1 + math.ceil((step - last) / self.label["log_interval"])
        return bisect.bisect_right(self.steps, step) - 1

    def step_at(self, index: int) -> int:
        if index < len(self.steps):
            return self.steps[max(0, index)]
        return self.steps[-1] + (index - len(self.steps) + 1) * self.label["log_interval"]

    def window(self, incident: dict[str, Any]) -> tuple[int, int]:
        """Steps [low, high] in which an event may match the incident."""
        start, end = incident["start_index"], incident["end_index"]
        return self.step_at(start - 1), self.step_at(start + max(5, end - start + 1))

    def in_window(self, event: dict[str, Any], incident: dict[str, Any]) -> bool:
        step = event.get("step")
        if not isinstance(step, int):
            return False
        low, high = self.window(incident)
        return low <= step <= high

    def delay(self, event: dict[str, Any], incident: dict[str, Any]) -> int:
        return max(0, self.index_of(event["step"]) - incident["start_index"])

    def inside_any_window(self, event: dict[str, Any]) -> bool:
        return any(self.in_window(event, incident) for incident in self.label["incidents"])


# -- scoring -------------------------------------------------------------------------------
@dataclasses.dataclass
class RowScore:
    row: str
    incidents: int = 0
    detected: int = 0
    false_events: int = 0
    false_alarms: int = 0  # false events outside every incident window
    delays: list[int] = dataclasses.field(default_factory=list)
    by_variant: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    detected_by_variant: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    by_format: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    detected_by_format: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    by_seconds: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    detected_by_seconds: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    @property
    def recall(self) -> float | None:
        return self.detected / self.incidents if self.incidents else None

    @property
    def precision(self) -> float | None:
        flagged = self.detected + self.false_events
        return self.detected / flagged if flagged else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if r is None:
            return None
        if not p or not r:
            return 0.0
        return 2 * p * r / (p + r)

    def percentile(self, q: float) -> int | None:
        if not self.delays:
            return None
        ordered = sorted(self.delays)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def seconds_bucket(seconds: float | None) -> str | None:
    """A stall's gap or an unfinished run's tail, in three bands."""
    if seconds is None:
        return None
    return BANDS[0] if seconds < 60 else BANDS[1] if seconds < 300 else BANDS[2]


def score_row(row: str, runs: Iterable[ScannedRun]) -> RowScore:
    score = RowScore(row)
    families = ROW_FAMILIES[row]
    for run in runs:
        incidents = [i for i in run.label["incidents"] if i["code_family"] in families]
        events = [e for e in run.events if scored_by(row, e)]
        explained: set[int] = set()
        for incident in incidents:
            matched = [j for j, e in enumerate(events) if fits_row(row, e, incident) and run.in_window(e, incident)]
            explained.update(matched)
            fmt, variant = run.label["format"], incident["variant"]
            score.incidents += 1
            score.by_variant[variant] += 1
            score.by_format[fmt] += 1
            bucket = seconds_bucket(incident.get("seconds"))
            if bucket:
                score.by_seconds[bucket] += 1
            if matched:
                score.detected += 1
                score.detected_by_variant[variant] += 1
                score.detected_by_format[fmt] += 1
                if bucket:
                    score.detected_by_seconds[bucket] += 1
                score.delays.append(min(run.delay(events[j], incident) for j in matched))
        sibling_incidents = [i for i in run.label["incidents"] if i["code_family"] in SIBLINGS.get(row, ())]
        for j, event in enumerate(events):
            if j in explained or not charged_to(row, event):
                continue
            if any(fits(i["code_family"], event, i) and run.in_window(event, i) for i in sibling_incidents):
                continue
            score.false_events += 1
            if not run.inside_any_window(event):
                score.false_alarms += 1
    return score


EPISODE_KINDS = {
    "spike": ("loss_spike", "divergence", "nan"),
    "divergence": ("loss_spike", "divergence", "nan"),
    "slowdown": ("slowdown",),
    "stall": ("hang",),
    "unfinished": ("hang",),
}


def episode_events(runs: Iterable[ScannedRun]) -> dict[str, Any]:
    """Events per anomaly episode: each incident's events (see the module docstring) per detected incident."""
    events_by: collections.Counter[str] = collections.Counter()
    detected_by: collections.Counter[str] = collections.Counter()
    most: dict[str, Any] = {"events": 0, "run": None, "family": None}
    for run in runs:
        taken: set[int] = set()
        for incident in sorted(run.label["incidents"], key=lambda i: i["start_index"]):
            family = incident["code_family"]
            kinds = EPISODE_KINDS.get(family, ())
            mine = [j for j, e in enumerate(run.events)
                    if j not in taken and e.get("code") != GRAD_NORM_SPIKE and e.get("kind") in kinds
                    and run.in_window(e, incident)]
            taken.update(mine)
            if not mine:
                continue
            detected_by[family] += 1
            events_by[family] += len(mine)
            if len(mine) > most["events"]:
                most = {"events": len(mine), "run": run.label["name"], "family": family}
    detected, events = sum(detected_by.values()), sum(events_by.values())
    return {
        "events_per_episode": events / detected if detected else None,
        "episodes": detected, "events": events,
        "by_family": {f: events_by[f] / detected_by[f] for f in sorted(detected_by)},
        "most": most,
    }


def episode_line(result: dict[str, Any]) -> str:
    families = ", ".join(f"{f} {v:.2f}" for f, v in result["by_family"].items())
    most = result["most"]
    return (f"events per anomaly episode: {_cell(result['events_per_episode'], 2)} "
            f"({result['events']} events on {result['episodes']} detected incidents; target <= 1.2); "
            f"by family {families or '-'}; most on one incident: {most['events']}"
            + (f" ({most['family']}, {most['run']})" if most["run"] else ""))


def healthy_steps(runs: Iterable[ScannedRun]) -> int:
    return sum(run.label["healthy_steps"] for run in runs)


def grad_norm_line(runs: Sequence[ScannedRun]) -> dict[str, Any]:
    healthy = [run for run in runs if not run.label["incidents"]]
    on_healthy = sum(1 for run in healthy for e in run.events if e.get("code") == GRAD_NORM_SPIKE)
    everywhere = sum(1 for run in runs for e in run.events if e.get("code") == GRAD_NORM_SPIKE)
    steps = healthy_steps(healthy)
    return {"healthy_runs": len(healthy), "healthy_run_steps": steps, "on_healthy_runs": on_healthy,
            "per_10k_healthy_steps": 1e4 * on_healthy / steps if steps else None, "in_all_runs": everywhere}


# -- running the monitor --------------------------------------------------------------------
def default_monitor() -> list[str]:
    script = ROOT / ".venv" / "bin" / "monitor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]


def scan(monitor: Sequence[str], path: Path, fmt: str = "jsonl") -> tuple[list[dict[str, Any]], str | None, Any]:
    """Run the monitor on one file; return (events, error text or None, the json document for --format json)."""
    command = [*monitor, "scan", "--format", fmt, "--jobs", "1", str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as err:
        return [], f"{type(err).__name__}: {err}", None
    error = None
    if done.returncode not in (0, 1):
        tail = done.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        error = f"exit {done.returncode}: {tail[0]}"
    if fmt == "json":
        try:
            document = json.loads(done.stdout)
        except json.JSONDecodeError:
            return [], error or "unreadable json output", None
        return document.get("events", []), error, document
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            error = error or f"unreadable output line: {line[:80]!r}"
    return events, error, None


def scan_run(monitor: Sequence[str], log: Path, label: dict[str, Any], steps: list[int],
             check_parse: bool) -> ScannedRun:
    events, error, document = scan(monitor, log, "json" if check_parse else "jsonl")
    parsed = None
    if document is not None and document.get("files"):
        parsed = document["files"][0].get("steps")
    return ScannedRun(label, steps, events, error, parsed)


def corpus_cases(corpus: Path) -> list[tuple[Path, dict[str, Any]]]:
    cases = []
    for case_file in sorted(corpus.glob("*/case.json")):
        case = json.loads(case_file.read_text(encoding="utf-8"))
        absent = case.get("expect_absent") or []
        if case.get("expect") == [] or any(kind in absent for kind in HEALTH_KINDS):
            cases.append((case_file.parent, case))
    return cases


def score_corpus(monitor: Sequence[str], corpus: Path, jobs: int) -> dict[str, Any]:
    cases = corpus_cases(corpus)

    def one(item: tuple[Path, dict[str, Any]]) -> tuple[str, list[dict[str, Any]], str | None]:
        directory, case = item
        logs = sorted(p for p in directory.iterdir() if p.is_file() and p.name != "case.json")
        events: list[dict[str, Any]] = []
        error = None
        for log in logs:
            found, problem, _ = scan(monitor, log)
            events.extend(found)
            error = error or problem
        absent = set(case.get("expect_absent") or [])
        return directory.name, [e for e in events if e.get("kind") in absent], error

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, cases))
    bad = {name: events for name, events, _ in results if events}
    kinds = collections.Counter(e.get("kind") for events in bad.values() for e in events)
    return {
        "cases": len(cases),
        "events_of_absent_kinds": sum(len(v) for v in bad.values()),
        "cases_with_such_events": len(bad),
        "by_kind": dict(kinds),
        "by_case": {name: [f"{e.get('kind')}/{e.get('code')}@{e.get('step')}" for e in events]
                    for name, events in sorted(bad.items())},
        "errors": {name: error for name, _, error in results if error},
    }


# -- the report --------------------------------------------------------------------------------
def _cell(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(scores: list[RowScore], runs: Sequence[ScannedRun], grad: dict[str, Any]) -> str:
    steps = healthy_steps(runs)
    head = ("| family | incidents | detected | precision | recall | F1 | median delay | p90 delay "
            "| false alarms /10k healthy steps |")
    lines = [head, "|" + " --- |" * 9]
    for s in scores:
        rate = 1e4 * s.false_alarms / steps if steps else None
        lines.append(f"| {s.row} | {s.incidents} | {s.detected} | {_cell(s.precision)} | {_cell(s.recall)} "
                     f"| {_cell(s.f1)} | {_cell(s.percentile(0.5))} | {_cell(s.percentile(0.9))} "
                     f"| {_cell(rate, 2)} ({s.false_alarms}) |")
    lines.append("")
    lines.append(f"healthy logged steps: {steps:,} in {len(runs)} runs "
                 f"({sum(1 for r in runs if not r.label['incidents'])} without any incident)")
    rate = grad["per_10k_healthy_steps"]
    lines.append(f"GRAD-NORM-SPIKE warnings on healthy runs: {grad['on_healthy_runs']} "
                 f"({_cell(rate, 2)} per 10k healthy steps over {grad['healthy_run_steps']:,} steps); "
                 f"{grad['in_all_runs']} in all runs")
    return "\n".join(lines)


def breakdown(scores: list[RowScore]) -> str:
    lines = []
    for s in scores:
        if s.row == "spike+divergence" or not s.incidents:
            continue
        variants = ", ".join(f"{v} {s.detected_by_variant[v]}/{n}" for v, n in sorted(s.by_variant.items()))
        formats = ", ".join(f"{f} {s.detected_by_format[f]}/{n}" for f, n in sorted(s.by_format.items()))
        lines.append(f"- {s.row}: by variant {variants}; by format {formats}")
        if s.by_seconds:
            buckets = ", ".join(f"{b} {s.detected_by_seconds[b]}/{s.by_seconds[b]}" for b in BANDS if s.by_seconds[b])
            lines.append(f"  {s.row} by wall-clock length: {buckets}")
    return "recall by variant and format (detected/incidents):\n" + "\n".join(lines)


def other_events(runs: Sequence[ScannedRun]) -> str:
    counts = collections.Counter(
        f"{e.get('kind')}/{e.get('code')}" for run in runs for e in run.events if e.get("kind") not in SCORED_KINDS
    )
    if not counts:
        return "other events on the synthetic runs: none"
    return "other events on the synthetic runs: " + ", ".join(f"{k} x{n}" for k, n in counts.most_common())


def error_lines(runs: Sequence[ScannedRun]) -> str:
    """Monitor failures grouped by message (the path and line count taken out)."""
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for run in runs:
        if run.error:
            message = re.sub(r"after \d+ lines", "after N lines", re.sub(r"\S+\.log", "<log>", run.error))
            groups[message].append(run.label["name"])
    text = f"monitor errors on {sum(map(len, groups.values()))} runs (the events they printed are scored):"
    for message, names in groups.items():
        text += f"\n- {message}: {', '.join(names)}"
    return text


def corpus_line(result: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k} x{n}" for k, n in sorted(result["by_kind"].items())) or "none"
    text = (f"corpus/dev healthy and negative cases: {result['cases']} scanned, "
            f"{result['events_of_absent_kinds']} events of a kind the case expects absent "
            f"in {result['cases_with_such_events']} cases ({kinds})")
    for name, events in result["by_case"].items():
        text += f"\n- {name}: {', '.join(events)}"
    for name, error in result["errors"].items():
        text += f"\n- {name}: monitor error: {error}"
    return text


# -- main ------------------------------------------------------------------------------------------
def generate_runs(out: Path, runs: int, seeds: int) -> list[tuple[Path, dict[str, Any], list[int]]]:
    made = []
    for seed in range(seeds):
        for index in range(runs):
            run = health_runs.make_run(seed, index)
            log, _ = health_runs.write_run(run, out)
            made.append((log, run.label(), run.steps))
    return made


def evaluate(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    began = time.monotonic()
    monitor = shlex.split(args.monitor) if args.monitor else default_monitor()
    made = generate_runs(out.resolve(), args.runs, args.seeds)
    generated = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(lambda item: scan_run(monitor, *item, args.check_parse), made))
    scanned = time.monotonic()
    scores = [score_row(row, runs) for row in ROWS]
    grad = grad_norm_line(runs)
    print(f"# Training-health detectors on {len(runs)} synthetic runs "
          f"({args.runs} runs x {args.seeds} seeds, {sum(len(r.label['incidents']) for r in runs)} incidents)\n")
    print(markdown(scores, runs, grad))
    episodes = episode_events(runs)
    print(episode_line(episodes))
    print()
    print(breakdown(scores))
    print(other_events(runs))
    errors = [f"{r.label['name']}: {r.error}" for r in runs if r.error]
    if errors:
        print(error_lines(runs))
    mismatched = [f"{r.label['name']} parsed {r.parsed_steps} of {r.label['logged_steps']}"
                  + (" (monitor error)" if r.error else "")
                  for r in runs if args.check_parse and r.parsed_steps != r.label["logged_steps"]]
    if args.check_parse:
        print(f"parse check: {len(runs) - len(mismatched)} of {len(runs)} runs parsed into every progress line"
              + ("; " + "; ".join(mismatched[:5]) if mismatched else ""))
    corpus = None
    if not args.no_corpus and args.corpus.is_dir():
        corpus = score_corpus(monitor, args.corpus, args.jobs)
        print(corpus_line(corpus))
    elif not args.no_corpus:
        print(f"corpus: {args.corpus} not found, skipped")
    finished = time.monotonic()
    print(f"\n(generated in {generated - began:.1f} s, scanned in {scanned - generated:.1f} s, "
          f"corpus in {finished - scanned:.1f} s, {args.jobs} jobs)")
    steps = healthy_steps(runs)
    return {
        "runs": len(runs), "runs_per_seed": args.runs, "seeds": args.seeds, "healthy_steps": steps,
        "families": {s.row: {"incidents": s.incidents, "detected": s.detected, "precision": s.precision,
                             "recall": s.recall, "f1": s.f1, "median_delay": s.percentile(0.5),
                             "p90_delay": s.percentile(0.9), "false_events": s.false_events,
                             "false_alarms": s.false_alarms,
                             "false_alarms_per_10k_healthy_steps": 1e4 * s.false_alarms / steps if steps else None,
                             "recall_by_variant": {v: s.detected_by_variant[v] / n for v, n in s.by_variant.items()},
                             "recall_by_format": {f: s.detected_by_format[f] / n for f, n in s.by_format.items()},
                             "recall_by_wall_clock_length": {b: s.detected_by_seconds[b] / n
                                                             for b, n in s.by_seconds.items()}}
                     for s in scores},
        "grad_norm_spike": grad,
        "episodes": episodes,
        "monitor_errors": errors,
        "parse_mismatches": mismatched,
        "corpus": corpus,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per seed (default 40)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. K-1 (default 3)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="monitor processes at once (default: the number of CPUs)")
    parser.add_argument("--out", type=Path, help="keep the runs in this directory (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument("--monitor", help="command that runs the monitor (default: .venv/bin/monitor)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"default {DEFAULT_CORPUS}")
    parser.add_argument("--no-corpus", action="store_true", help="skip the corpus line")
    parser.add_argument("--check-parse", action="store_true",
                        help="scan with --format json and check every progress line was parsed")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.seeds < 1 or args.jobs < 1:
        parser.error("--runs, --seeds and --jobs must be at least 1")
    if args.out:
        result = evaluate(args, args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="health-runs-") as tmp:
            result = evaluate(args, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
