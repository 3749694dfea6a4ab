"""The labelled synthetic runs of `bench/health_runs.py`: deterministic, read by the monitor's parsers into
exactly the progress lines written, labels consistent with the runs; and the scorer's matching rules.

Nothing here needs the training-health detectors: parsing is checked at the parser layer and through
`scan --format json` step counts, never through the events a detector raises.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
from pathlib import Path

import pytest

from monitor.model import StepRecord
from tests.conftest import parse_text

BENCH = Path(__file__).resolve().parent.parent / "bench"


if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))  # bench/ is not a package; health_eval imports health_runs by name
health_runs = importlib.import_module("health_runs")
health_eval = importlib.import_module("health_eval")

# one small run per format and layout, with incidents that change what the lines print
SMALL = [(fmt, style) for fmt in health_runs.FORMATS for style in health_runs.STYLES[fmt]]


def _small(fmt: str, style: str, variants: list[str], index: int = 1):
    return health_runs.make_run(5, index, fmt=fmt, style=style, total_steps=2000, log_interval=10, variants=variants)


def _training_records(text: str) -> list[StepRecord]:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # the reader strips torchtitan's colours before the parsers
    return [r for r in parse_text(text) if isinstance(r, StepRecord) and not (r.loss is None and r.eval_loss)]


def test_a_run_is_the_same_for_the_same_seed_and_index() -> None:
    first, again = health_runs.make_run(11, 4), health_runs.make_run(11, 4)
    assert first.lines == again.lines
    assert first.label() == again.label()
    assert health_runs.make_run(11, 5).lines != first.lines
    assert health_runs.make_run(12, 4).lines != first.lines


@pytest.mark.parametrize(("fmt", "style"), SMALL)
def test_every_progress_line_is_parsed_as_one_step(fmt: str, style: str) -> None:
    timed = fmt != "hf_trainer" or style == "logged"
    run = _small(fmt, style, ["spike", "stall", "nan"] if timed else ["spike", "collapse"])
    records = _training_records(run.text())
    assert [r.step for r in records] == run.steps
    assert len(run.steps) >= 150


@pytest.mark.parametrize("fmt", health_runs.FORMATS)
def test_scan_counts_every_progress_line(run_cli, tmp_path: Path, fmt: str) -> None:
    run = _small(fmt, health_runs.STYLES[fmt][-1], ["spike", "slowdown"], index=2)
    log, _ = health_runs.write_run(run, tmp_path)
    document = json.loads(run_cli("scan", "--format", "json", "--jobs", "1", log).out)
    (summary,) = document["files"]
    assert summary["format"] == fmt
    assert (summary["steps"], summary["first_step"], summary["last_step"]) == (
        len(run.steps), run.steps[0], run.steps[-1])


@pytest.mark.parametrize("fmt", health_runs.FORMATS)
def test_the_printed_loss_shows_the_labelled_incidents(fmt: str) -> None:
    run = _small(fmt, health_runs.STYLES[fmt][0], ["spike", "collapse"], index=3)
    spike, collapse = run.incidents
    loss = {r.step: r.loss for r in _training_records(run.text())}
    before = sorted(loss[s] for s in run.steps[spike.start_index - 10:spike.start_index])
    assert loss[spike.peak_step] > 1.2 * before[len(before) // 2]
    assert all(loss[s] == 0.0 for s in run.steps[collapse.start_index:])
    run = _small(fmt, health_runs.STYLES[fmt][0], ["nan"], index=3)
    (nan,) = run.incidents
    loss = {r.step: r.loss for r in _training_records(run.text())}
    assert all(math.isnan(loss[s]) for s in run.steps[nan.start_index:])
    assert not any(math.isnan(loss[s]) for s in run.steps[:nan.start_index])


def test_labels_are_consistent_with_their_runs() -> None:
    for index in range(16):
        run = health_runs.make_run(3, index, total_steps=3000)
        label = json.loads(json.dumps(run.label()))
        steps = run.steps
        assert label["logged_steps"] == len(steps) and steps == sorted(set(steps))
        covered: set[int] = set()
        for incident in label["incidents"]:
            start, end = incident["start_index"], incident["end_index"]
            assert 0 <= start <= end < len(steps)
            assert (steps[start], steps[end]) == (incident["start_step"], incident["end_step"])
            assert not covered & set(range(start, end + 1)), "incidents overlap"
            covered |= set(range(start, end + 1))
            kind, family, code = health_runs.VARIANTS[incident["variant"]]
            assert (incident["kind"], incident["code_family"], incident["code"]) == (kind, family, code)
            if family in ("divergence", "unfinished"):
                assert end == len(steps) - 1
            if family == "unfinished":
                assert steps[-1] < label["planned_total_steps"]
        assert label["healthy_steps"] == len(steps) - len(covered)


def test_a_terminal_incident_comes_last_and_only_one_is_kept() -> None:
    run = health_runs.make_run(2, 0, fmt="megatron", total_steps=6000, log_interval=10,
                               variants=["unfinished", "jump", "spike"])
    assert [i.variant for i in run.incidents] == ["spike", "unfinished"]
    assert "[after training is done]" not in run.text()


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        health_runs.make_run(0, 0, fmt="keras")
    with pytest.raises(ValueError, match="unknown variant"):
        health_runs.make_run(0, 0, variants=["meltdown"])


# -- the scorer's matching rules ----------------------------------------------------------------
def _scanned(events: list[dict], incidents: list[dict], steps: list[int] | None = None):
    steps = steps or list(range(10, 1010, 10))
    label = {"name": "r", "format": "megatron", "log_interval": 10, "incidents": incidents,
             "healthy_steps": len(steps) - sum(i["end_index"] - i["start_index"] + 1 for i in incidents)}
    return health_eval.ScannedRun(label, steps, events)


def _incident(variant: str, start: int, end: int, steps: list[int] | None = None) -> dict:
    steps = steps or list(range(10, 1010, 10))
    kind, family, code = health_runs.VARIANTS[variant]
    return {"kind": kind, "code_family": family, "code": code, "variant": variant, "start_step": steps[start],
            "end_step": steps[end], "factor": 2.0, "start_index": start, "end_index": end}


def test_an_event_matches_within_one_logged_step_early_to_five_or_the_incident_length_late() -> None:
    spike = _incident("spike", 40, 42)  # steps 410 .. 430; window 400 .. 460
    for step, detected in ((390, False), (400, True), (410, True), (460, True), (470, False)):
        run = _scanned([{"kind": "loss_spike", "code": "LOSS-SPIKE", "step": step}], [spike])
        score = health_eval.score_row("spike", [run])
        assert (score.detected, score.false_events) == ((1, 0) if detected else (0, 1)), step
    run = _scanned([{"kind": "loss_spike", "code": "LOSS-SPIKE", "step": 440}], [spike])
    assert health_eval.score_row("spike", [run]).delays == [3]


def test_kinds_fit_their_families_and_the_loss_families_are_also_scored_together() -> None:
    spike, nan = _incident("spike", 20, 22), _incident("nan", 60, 99)
    events = [{"kind": "divergence", "code": "DIVERGENCE", "step": 210},  # a spike called divergence
              {"kind": "nan", "code": "LOSS-NAN", "step": 610},
              {"kind": "loss_spike", "code": "GRAD-NORM-SPIKE", "step": 200}]
    run = _scanned(events, [spike, nan])
    scores = {row: health_eval.score_row(row, [run]) for row in ("spike", "divergence", "spike+divergence")}
    assert (scores["spike"].detected, scores["spike"].false_events) == (0, 0)
    assert (scores["divergence"].detected, scores["divergence"].false_events) == (1, 1)
    assert (scores["spike+divergence"].detected, scores["spike+divergence"].false_events) == (2, 0)
    assert health_eval.grad_norm_line([run])["in_all_runs"] == 1


def test_a_hang_event_on_the_sibling_hang_incident_is_not_a_false_alarm() -> None:
    stall, unfinished = _incident("stall", 30, 31), _incident("unfinished", 99, 99)
    events = [{"kind": "hang", "code": "STALL", "step": 310}, {"kind": "hang", "code": "UNFINISHED-RUN", "step": 1000},
              {"kind": "hang", "code": "STALL", "step": 700}]
    run = _scanned(events, [stall, unfinished])
    stall_score = health_eval.score_row("stall", [run])
    unfinished_score = health_eval.score_row("unfinished", [run])
    assert (stall_score.detected, stall_score.false_events, stall_score.false_alarms) == (1, 1, 1)
    assert (unfinished_score.detected, unfinished_score.false_events) == (1, 0)
