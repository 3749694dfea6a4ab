"""Hugging Face Trainer log dicts.

Layout from huggingface/transformers `Trainer._maybe_log_save_evaluate`
(`trainer.py`) as printed by `ProgressCallback.on_log` (`trainer_callback.py`):
`str()` of the dict, written through the tqdm bar right after the bar reached the
step; the newest versions quote every float as a string. Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.parsers.base import NOT_PROGRESS, ParseContext
from monitor.parsers.hf_trainer import HFTrainerParser
from tests.conftest import steps


def bar(n: int, total: int = 1000) -> str:
    pct = round(100 * n / total)
    return f"{pct:3d}%|▌         | {n}/{total} [08:37<2:15:24,  8.62s/it]"


def test_training_dict_takes_the_step_of_the_bar_before_it() -> None:
    text = (
        bar(59) + "\n" + bar(60) + "\n" + " " * 60 + "\n"
        "{'loss': 1.8372, 'grad_norm': 0.9421566724777222, 'learning_rate': 4.8125e-05, 'epoch': 0.15}\n"
        + bar(60) + "\n" + bar(61)
    )
    [r] = steps(text)
    assert (r.step, r.loss, r.grad_norm, r.lr, r.epoch, r.total_steps) == (
        60, 1.8372, 0.9421566724777222, 4.8125e-05, 0.15, 1000
    )
    assert (r.line, r.is_eval) == (4, False)


def test_nan_loss_is_found_at_the_right_step() -> None:
    text = bar(60) + "\n{'loss': nan, 'grad_norm': nan, 'learning_rate': 9.5e-06, 'epoch': 0.06}"
    [r] = steps(text)
    assert r.step == 60 and math.isnan(r.loss) and math.isnan(r.grad_norm)


def test_zero_loss_with_nan_grad_norm_keeps_both() -> None:
    """A broken run prints `'loss': 0.0` with `'grad_norm': nan`: the NaN is in the grad norm."""
    [r] = steps(bar(120) + "\n{'loss': 0.0, 'grad_norm': nan, 'learning_rate': 3.2e-06, 'epoch': 0.04}")
    assert r.loss == 0.0 and math.isnan(r.grad_norm)


def test_infinite_values_stay_floats() -> None:
    [r] = steps("{'loss': inf, 'grad_norm': -inf, 'learning_rate': 1e-05, 'epoch': 2.0}")
    assert r.loss == math.inf and r.grad_norm == -math.inf


def test_dict_without_grad_norm() -> None:
    [r] = steps(bar(400) + "\n{'loss': 2.4716, 'learning_rate': 0.000187, 'epoch': 1.02}")
    assert (r.step, r.loss, r.grad_norm, r.lr) == (400, 2.4716, None, 0.000187)


def test_newest_layout_with_quoted_values() -> None:
    quoted = "{'loss': '1.763', 'grad_norm': 'nan', 'learning_rate': '3.2e-05', 'epoch': '0.4'}"
    [r] = steps(bar(90) + "\n" + quoted)
    assert (r.step, r.loss, r.lr, r.epoch) == (90, 1.763, 3.2e-05, 0.4)
    assert math.isnan(r.grad_norm)


def test_dict_glued_to_a_bar_gets_that_bar_step() -> None:
    line = " 64%|██████▍   | 640/1000 [05:29<01:08,  7.08it/s]{'loss': 0.6791, 'learning_rate': 1.2e-05}"
    [r] = steps(line)
    assert (r.step, r.loss) == (640, 0.6791)


def test_evaluation_dict_is_an_eval_record_and_its_bar_does_not_move_the_step() -> None:
    text = (
        bar(500) + "\n"
        "{'loss': 1.9922, 'grad_norm': 1.03, 'learning_rate': 2.5e-05, 'epoch': 1.0}\n"
        " 40%|████      | 20/50 [00:05<00:07,  4.01it/s]\n"
        "100%|██████████| 50/50 [00:12<00:00,  4.02it/s]\n"
        "{'eval_loss': 1.9034, 'eval_runtime': 41.82, 'eval_samples_per_second': 23.91, "
        "'eval_steps_per_second': 2.99, 'epoch': 1.0}"
    )
    train, evaluation = steps(text)
    assert (evaluation.step, evaluation.eval_loss, evaluation.loss) == (500, 1.9034, None)
    assert evaluation.is_eval
    assert not train.is_eval


def test_nan_eval_loss_is_kept() -> None:
    [r] = steps("{'eval_loss': nan, 'eval_runtime': 12.5, 'epoch': 0.5}")
    assert r.is_eval and math.isnan(r.eval_loss)


def test_final_summary_is_not_a_step() -> None:
    text = (
        bar(1000) + "\n"
        "{'train_runtime': 8123.4471, 'train_samples_per_second': 15.76, 'train_steps_per_second': 0.123, "
        "'train_loss': 1.7420918, 'epoch': 3.0}"
    )
    assert steps(text) == []


def test_dicts_without_a_bar_count_logging_steps() -> None:
    """Logging to a file (no bar): the step is the count of logging steps, so records still follow
    each other; evaluation dicts stand at the last one."""
    records = steps("{'loss': 3.1, 'learning_rate': 5e-05, 'epoch': 0.01}\n{'loss': 3.0, 'learning_rate': 5e-05, "
                    "'epoch': 0.02}\n{'eval_loss': 2.9, 'epoch': 0.02}")
    assert [(r.step, r.loss, r.eval_loss) for r in records] == [(1, 3.1, None), (2, 3.0, None), (2, None, 2.9)]


def test_a_dict_that_names_its_step_stands_there() -> None:
    [r] = steps("{'step': 42, 'loss': 1.75, 'lr': 0.001}")
    assert (r.step, r.loss, r.lr) == (42, 1.75, 0.001)


def test_unreadable_value_becomes_none() -> None:
    [r] = steps("{'loss': 2.5, 'grad_norm': tensor(0.7, device='cuda:0'), 'learning_rate': 5e-05, "
                "'epoch': 0.2}")
    assert (r.loss, r.grad_norm, r.lr, r.epoch) == (2.5, None, 5e-05, 0.2)


def test_truncated_dict_still_gives_its_first_pairs() -> None:
    [r] = steps("{'loss': 2.25, 'grad_norm': 0.5, 'learnin")
    assert (r.loss, r.grad_norm, r.lr) == (2.25, 0.5, None)


def test_garbage_and_other_dicts_give_nothing() -> None:
    parser, ctx = HFTrainerParser(), ParseContext("x.log", None, 2024)
    for line in [
        "loss': ",
        "{\"loss\": 2.0, \"lr\": 1e-4}",
        "{'eval_loss': 'n/a'}",
        "{'loss'",
    ]:
        assert parser.parse(line, 1, ctx) is None


def test_the_trainers_own_dicts_without_a_loss_are_nobodys_step() -> None:
    """The end-of-training summary (`train_loss`, `train_runtime`) and other metric dicts are the
    Trainer's lines but no step: no fallback may read `epoch` or `train_loss` from them."""
    parser, ctx = HFTrainerParser(), ParseContext("x.log", None, 2024)
    assert parser.parse("{'accuracy': 0.5, 'eval_accuracy': 0.9, 'epoch': 2.0}", 1, ctx) is NOT_PROGRESS
    assert parser.parse("{'test_accuracy': 0.91, 'test_runtime': 12.5, 'test_samples_per_second': 80.1}", 1,
                        ctx) is NOT_PROGRESS  # `trainer.predict(...).metrics` names no epoch
    # someone else's dict, with losses under other names and no epoch: the fallbacks read it
    assert parser.parse("7000 iteration, {'train/total_loss': tensor(0.52, device='cuda:0'), 'lr': 0.03}", 1,
                        ctx) is None
    summary = ("{'train_runtime': 812.4, 'train_samples_per_second': 15.76, 'train_steps_per_second': 0.123, "
               "'train_loss': 1.7420918, 'epoch': 3.0}")
    assert parser.parse(summary, 1, ctx) is NOT_PROGRESS
    assert steps(summary) == []


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    parser, ctx = HFTrainerParser(), ParseContext("x.log", None, 2024)
    for line in (text, "{'loss': " + text, "{'eval_loss': " + text + "}"):
        parser.parse(line, 1, ctx)
