"""Every word of the slot vocabulary (`monitor/parsers/vocabulary.json`) does what the file says.

Each name of each field is put on a progress line as a label, the way frameworks print them
(`name: value`), and must come out as that field of the record; each unit must imply its field;
each near miss must not be read as the field it resembles. The words are the data; these tests
are their samples.
"""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
from pytest import approx

from monitor.parsers.vocabulary import vocabulary
from tests.conftest import steps

DATA = json.loads(resources.files("monitor.parsers").joinpath("vocabulary.json").read_text(encoding="utf-8"))
NAMES = [(field, name) for field, tiers in DATA["fields"].items() for names in tiers for name in names]
RECORD_FIELD = {
    "loss": "loss", "grad_norm": "grad_norm", "lr": "lr", "loss_scale": "loss_scale", "step_time": "step_time_s",
    "tokens_per_s": "tokens_per_s", "samples_per_s": "samples_per_s", "tflops": "tflops", "mfu": "mfu",
}


def classified(name: str) -> str | None:
    vocab = vocabulary()
    normal, _ = vocab.normalise(name)
    _, base = vocab.split(normal)
    meaning = vocab.classify(base, identifier=" " not in name) if base else None
    if meaning is None or meaning.extras > 1:
        return None  # prose: more than one word in front of a step or loss name (read as the layouts read it)
    return meaning.field


@pytest.mark.parametrize(("field", "name"), NAMES)
def test_every_name_stands_for_its_field(field: str, name: str) -> None:
    assert classified(name) == field


@pytest.mark.parametrize(("field", "name"), [(f, n) for f, n in NAMES if f in RECORD_FIELD])
def test_every_metric_name_on_a_progress_line_fills_its_field(field: str, name: str) -> None:
    [record] = steps(f"step 10 | loss 1.0 | {name}: 2.5")
    got = getattr(record, RECORD_FIELD[field])
    expected = {"step_time": 2.5, "mfu": 2.5, "loss": 1.0}.get(field, 2.5)
    assert got == approx(expected)


@pytest.mark.parametrize("name", [n for f, n in NAMES if f == "step" and n not in ("b", "#")])
def test_every_step_name_gives_the_step(name: str) -> None:
    [record] = steps(f"{name}: 120 | loss: 1.5")
    assert (record.step, record.loss) == (120, 1.5)


def test_a_column_named_hash_is_the_step() -> None:
    """`#` names a column only (spaCy's `E  #  LOSS NER ...`; a label on a line starts with a letter)."""
    records = steps("E    #       LOSS NER  SCORE\n---  ------  --------  ------\n  0     200   4957.37    0.67\n"
                    "  0     400   2680.60    0.75\n")
    assert [(r.step, r.epoch, r.loss) for r in records] == [(200, 0.0, approx(4957.37)), (400, 0.0, approx(2680.60))]


@pytest.mark.parametrize("name", [n for f, n in NAMES if f == "epoch"])
def test_every_epoch_name_gives_the_epoch(name: str) -> None:
    [record] = steps(f"{name}: 3 | step: 120 | loss: 1.5")
    assert (record.epoch, record.step) == (3.0, 120)


@pytest.mark.parametrize("name", [n for f, n in NAMES if f == "perplexity"])
def test_every_perplexity_name_gives_the_loss_as_its_log(name: str) -> None:
    [record] = steps(f"step: 120 | {name}: 20.0")
    assert record.loss == approx(2.995732, rel=1e-6)


@pytest.mark.parametrize(("field", "name"), [(f, n) for f, names in DATA["near_misses"].items() for n in names])
def test_near_misses_are_not_their_look_alike(field: str, name: str) -> None:
    assert classified(name) != field


_GLUED = re.compile(r"[A-Za-z%][A-Za-z%/]{0,15}")


def _after(value: str, unit: str) -> str:
    """`value` with `unit` printed after it, glued where the unit is one token (`36ms`, `4.0s/it`)."""
    return f"{value}{unit}" if _GLUED.fullmatch(unit) else f"{value} {unit}"


@pytest.mark.parametrize("unit", sorted(vocabulary().units))
def test_every_unit_after_a_number_on_a_progress_line_is_read(unit: str) -> None:
    meaning = vocabulary().unit_of(unit)
    assert meaning is not None and meaning.factor > 0
    if meaning.field in ("epoch", "step"):  # glued counters: ESPnet's `3epoch:train:401-500batch:`
        [record] = steps(f"{_after('7', unit)}: loss: 1.5")
        assert (record.epoch if meaning.field == "epoch" else record.step) == 7
    elif meaning.field == "elapsed":  # `100 s elapsed`: the step time is its growth
        first, second = steps(f"step 10 | loss 1.0 | {_after('100', unit)}\nstep 20 | loss 1.0 | {_after('140', unit)}")
        assert (first.step_time_s, second.step_time_s) == (None, approx(4.0))
    else:  # a duration in brackets is per step; every other unit names its field
        [record] = steps(f"step 10 | loss 1.0 | ({_after('4.0', unit)})")
        field = RECORD_FIELD.get(meaning.field or "step_time")
        expected = 1 / 4.0 if meaning.inverse else 4.0 * meaning.factor
        assert getattr(record, field) == approx(expected)


def test_the_triggers_cover_every_loss_and_step_name_that_can_stand_alone() -> None:
    """A line reaches the layout learner only when it holds a trigger: the main loss and step names do."""
    triggers = DATA["triggers"]
    for name in ("loss", "xent", "ppl", "perplexity", "cost", "nll", "objective", "step", "iteration", "iter",
                 "epoch", "global_step", "Up.", "rmse", "mse", "valid_0's l1", "training's l2"):
        assert any(t in name or t in name.title() for t in triggers), name


@pytest.mark.parametrize("head", DATA["loss_prefixes"])
def test_every_loss_prefix_makes_an_identifier_a_component_loss(head: str) -> None:
    """`l_pix`, `l_g_gan` are losses (BasicSR's MessageLogger); the head alone, or words in prose, are not."""
    vocab = vocabulary()
    for name in (f"{head}_pix", f"{head}_g_gan"):
        assert classified(name) == "loss"
        meaning = vocab.classify(vocab.normalise(name)[0])
        assert meaning is not None and meaning.tier >= vocab.classify("loss").tier  # never above a plain `loss`
    assert classified(head) != "loss"
    assert classified(f"{head} pix") != "loss"  # words, not one identifier
    assert classified(f"{head}_max_len") != "loss"  # a summary word: a setting


def test_an_identifier_with_loss_inside_it_is_a_component_loss() -> None:
    """`L1_Charbonnier_loss_color` (zzh-tech/ESTRNN's weighted loss names), `bpp_loss_y`: a loss of one
    output, ranked after a plain `loss`; the same words as prose, or with a summary word, are not."""
    vocab = vocabulary()
    for name in ("L1_Charbonnier_loss_color", "bpp_loss_y"):
        assert classified(name) == "loss"
        meaning = vocab.classify(vocab.normalise(name)[0])
        assert meaning is not None and meaning.tier > vocab.classify("loss").tier
    assert classified("l1 charbonnier loss color") != "loss"  # words, not one identifier
    assert classified("best_loss_color") != "loss"
    assert classified("loss_scale") == "loss_scale"


@pytest.mark.parametrize("name", DATA["nonfinite_only"])
def test_every_nonfinite_only_name_is_the_runs_nan_where_no_loss_is_printed(name: str) -> None:
    """`| KL | nan |` (openai/baselines' logger), `Score at iteration 60 is NaN` (DL4J): not finite, the
    value is the run's NaN where the line prints no loss; finite, it is no loss."""
    bad = steps(f"step 10 | {name}: nan | lr: 0.001\nstep 20 | {name}: nan | lr: 0.001")
    assert bad and all(r.loss is not None and r.loss != r.loss for r in bad)
    fine = steps(f"step 10 | {name}: 0.52 | lr: 0.001\nstep 20 | {name}: 0.48 | lr: 0.001")
    assert all(r.loss is None for r in fine)


@pytest.mark.parametrize("name", DATA["penalties"])
def test_every_penalty_not_finite_beside_a_finite_loss_makes_it_not_finite(name: str) -> None:
    """TRL's GRPO trainer adds `beta * kl` to its loss and logs both: a KL that is not finite is the run's
    NaN though the printed loss is finite; a finite one leaves the loss as printed. A score is no penalty."""
    bad = steps(f"step 10 | loss: 0.0123 | {name}: 0.0004\nstep 20 | loss: 0.0119 | {name}: nan")
    assert bad[0].loss == approx(0.0123) and bad[1].loss != bad[1].loss
    assert name != "score"
    metric = steps("step 10 | loss: 0.0123 | score: nan\nstep 20 | loss: 0.0119 | score: nan")
    assert [r.loss for r in metric] == [approx(0.0123), approx(0.0119)]


@pytest.mark.parametrize("name", DATA["maybe_elapsed"])
def test_every_maybe_elapsed_name_is_the_time_since_the_start_only_when_it_grows_so(name: str) -> None:
    grows = "\n".join(f"step {10 * i} | loss 1.{i} | {name}: {30.0 * i + 2:.1f}" for i in range(1, 9))
    steady = "\n".join(f"step {10 * i} | loss 1.{i} | {name}: {0.5 + 0.01 * (i % 2):.2f}" for i in range(1, 9))
    assert steps(grows)[4].step_time_s == approx(3.0)  # 30 s more every 10 steps
    assert steps(steady)[4].step_time_s == approx(0.51)


@pytest.mark.parametrize("word", DATA["eval_prose"])
def test_every_eval_prose_word_between_the_counter_and_the_metrics_makes_an_evaluation(word: str) -> None:
    """3D Gaussian Splatting's train loop (graphdeco-inria/gaussian-splatting, train.py `training_report`,
    kept by its forks such as TalkingGaussian):
    `print("\\n[ITER {}] Evaluating {}: L1 {} PSNR {}".format(iteration, config['name'], l1_test, psnr_test))`
    between the bar's records: an evaluation's loss, never a spike of the training loss."""
    line = f"[ITER 2000] {word.capitalize()} test: L1 0.0287 PSNR 15.6"
    [record] = steps(f"{line}\n{line.replace('2000', '3000')}")[-1:]
    assert (record.loss, record.eval_loss) == (None, approx(0.0287))


def test_a_training_word_between_the_counter_and_the_metrics_keeps_the_training_loss() -> None:
    [record] = steps("[ITER 2000] Training: L1 0.0312 PSNR 14.2\n[ITER 3000] Training: L1 0.0287 PSNR 15.6")[-1:]
    assert (record.loss, record.eval_loss) == (approx(0.0287), None)


def test_a_name_under_a_namespace_that_is_no_split_is_read_by_its_leaf() -> None:
    """verl's console logger (verl/utils/logger/aggregate_logger.py, `concat_dict_to_str`: `step:{step}`, then
    `f"{k}:{v}"` for each number, joined by `" - "`) prints `actor/pg_loss`, `actor/loss`, `actor/grad_norm`,
    `actor/lr`, `timing_s/step`: the actor's loss, grad norm and learning rate are the record's; its components
    stay components, a timing named `step` is no step counter, a score's statistics are nothing."""
    line = ("step:{s} - actor/entropy:1.21 - actor/pg_loss:{pg} - actor/kl_loss:0.0012 - actor/loss:{loss} - "
            "actor/grad_norm:{g} - actor/lr:1e-06 - critic/score/mean:0.41 - timing_s/step:41 - "
            "training/global_step:{s}")
    text = "\n".join(line.format(s=s, pg=0.02 * s, loss=0.01 * s, g=g) for s, g in ((1, 0.21), (2, 0.25), (3, "nan")))
    records = steps(text)
    assert [r.step for r in records] == [1, 2, 3]
    assert (records[1].loss, records[1].grad_norm, records[1].lr) == (approx(0.02), approx(0.25), approx(1e-6))
    vocab = vocabulary()
    assert vocab.label("charts/learning_rate").meaning.field == "lr"
    assert vocab.label("losses/value_loss").meaning.tier == vocab.label("value_loss").meaning.tier
    assert vocab.label("critic/score/mean").meaning is None
    assert vocab.label("model/norm").meaning is None  # `norm` counts only as the whole label
