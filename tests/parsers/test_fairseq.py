"""fairseq progress lines and overflow messages.

Layouts follow facebookresearch/fairseq `fairseq/logging/progress_bar.py`
(`SimpleProgressBar.log`: `epoch {:03d}:  {:5d} / {} k=v, ...`; `.print`:
`epoch {:03d} | k v | ...`, validation bars prefixed `valid on '<subset>' subset`)
behind 0.9+'s `asctime | INFO | <logger> | ` prefix, the legacy 0.6-0.8 prints
(`| epoch 001:    450 / 1891 ...`, `| epoch 027 | ...`, `valid_loss`), the 2018
fairseq-py layout (`| epoch 010  2000 / 8223 loss=1.27 (1.50), ...`), and the overflow
messages of `fairseq/trainer.py` (0.10+ `NOTE: gradient overflow detected, ignoring
gradient, setting loss scale to: <x>`, 0.9 `NOTE: overflow detected, ...`, legacy
`| WARNING: overflow detected, ...`). Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.detectors.restart import RestartDetector
from monitor.model import LossScaleOverflow, StepRecord
from monitor.parsers.base import NOT_PROGRESS, ParseContext
from monitor.parsers.fairseq import FairseqParser
from tests.conftest import parse_text, steps

INNER = (
    "2021-05-04 17:20:03 | INFO | train_inner | epoch 004:    300 / 1211 loss=5.118, nll_loss=3.902, "
    "ppl=14.95, wps=41873.2, ups=1.65, wpb=25380.1, bsz=842.7, num_updates=3933, lr=0.000504, "
    "gnorm=0.612, loss_scale=16, train_wall=178, gb_free=9.8, wall=2411"
)


def fairseq_records(text: str) -> list[object]:
    """What the fairseq parser alone makes of each line (other parsers may take lines it leaves)."""
    parser, ctx = FairseqParser(), ParseContext("t.log", None, 2024)
    return [r for n, line in enumerate(text.splitlines(), 1)
            if (r := parser.parse(line, n, ctx)) is not None and r is not NOT_PROGRESS]


def overflows(text: str) -> list[LossScaleOverflow]:
    return [r for r in parse_text(text) if isinstance(r, LossScaleOverflow)]


# -- 0.9+ ----------------------------------------------------------------------


def test_train_inner_line_steps_at_num_updates() -> None:
    [r] = steps(INNER)
    assert (r.step, r.epoch, r.total_steps) == (3933, 4.0, None)
    assert (r.loss, r.grad_norm, r.lr) == (5.118, 0.612, 0.000504)
    assert (r.loss_scale, r.tokens_per_s) == (16.0, 41873.2)
    assert r.step_time_s is None  # `ups` has two decimals only: no step time from it
    assert (r.time, r.line, r.text) == ("2021-05-04T17:20:03", 1, INNER)


def test_train_summary_and_valid_summary() -> None:
    text = (
        "2021-05-04 17:41:30 | INFO | train | epoch 004 | loss 5.02 | nll_loss 3.81 | ppl 14.02 | wps 41210 "
        "| ups 1.62 | wpb 25311 | bsz 840.2 | num_updates 4844 | lr 0.000455 | gnorm 0.598 | loss_scale 8 "
        "| train_wall 2790 | wall 3010\n"
        "2021-05-04 17:41:55 | INFO | valid | epoch 004 | valid on 'valid' subset | loss 4.889 | "
        "nll_loss 3.517 | ppl 11.45 | wps 120033 | wpb 8721.3 | bsz 291.4 | num_updates 4844 | "
        "best_loss 4.889\n"
    )
    train, valid = steps(text)
    assert (train.step, train.epoch, train.loss, train.loss_scale) == (4844, 4.0, 5.02, 8.0)
    assert (valid.step, valid.epoch, valid.eval_loss) == (4844, 4.0, 4.889)
    assert (valid.loss, valid.is_eval) == (None, True)


def test_nan_loss_in_an_interval_line() -> None:
    [r] = steps(INNER.replace("loss=5.118", "loss=nan").replace("gnorm=0.612", "gnorm=inf"))
    assert r.step == 3933 and math.isnan(r.loss) and r.grad_norm == math.inf


# -- legacy 0.6-0.8 --------------------------------------------------------------


def test_legacy_interval_line() -> None:
    [r] = steps(
        "[default2]:| epoch 003:    200 / 1500 loss=9.876, nll_loss=9.100, ppl=548.71, wps=51234, ups=0.5, "
        "wpb=102400, bsz=4096, num_updates=3200, lr=0.000125, gnorm=1.234, clip=0%, oom=0, loss_scale=4.000, "
        "wall=3300, train_wall=3000"
    )
    assert (r.step, r.epoch, r.loss, r.loss_scale, r.grad_norm) == (3200, 3.0, 9.876, 4.0, 1.234)
    assert r.rank == 2  # the launcher prefix before fairseq's own `| `


def test_legacy_summary_and_valid_loss_key() -> None:
    text = (
        "| epoch 012 | loss 4.212 | nll_loss 2.703 | ppl 6.51 | wps 98321 | ups 2.1 | wpb 46210 | bsz 1533 "
        "| num_updates 21400 | lr 0.000216 | gnorm 0.288 | clip 0% | oom 0 | loss_scale 8.000 | wall 10233 "
        "| train_wall 9710\n"
        "| epoch 012 | valid on 'valid' subset | valid_loss 5.10221 | valid_nll_loss 3.90112 | "
        "valid_ppl 14.94 "
        "| num_updates 21400 | best 5.10221\n"
    )
    train, valid = steps(text)
    assert (train.step, train.loss, train.lr, train.tokens_per_s) == (21400, 4.212, 0.000216, 98321.0)
    assert (valid.step, valid.eval_loss, valid.is_eval) == (21400, 5.10221, True)


# -- 2018 fairseq-py ---------------------------------------------------------------

PY2018 = (
    "| epoch {epoch:03d}  {i:4d} / 6100 loss={loss} (2.41), wps=1204, wpb=880, bsz=32, lr=0.0005, clip=100%, "
    "gnorm=3.0177"
)


def test_2018_interval_step_is_the_progress_index_with_its_epoch() -> None:
    [r] = steps(PY2018.format(epoch=4, i=1500, loss="2.03"))
    assert (r.step, r.epoch, r.total_steps) == (1500, 4.0, 6100)
    assert r.loss == 2.03  # the interval loss, not the running epoch mean in parentheses
    assert (r.tokens_per_s, r.grad_norm, r.lr) == (1204.0, 3.0177, 0.0005)


def test_2018_new_epoch_restarting_the_index_is_not_a_restart() -> None:
    text = "\n".join([
        PY2018.format(epoch=4, i=5000, loss="1.90"),
        PY2018.format(epoch=4, i=6000, loss="1.85"),
        PY2018.format(epoch=5, i=1000, loss="1.80"),
    ])
    records = steps(text)
    assert [(r.epoch, r.step) for r in records] == [(4.0, 5000), (4.0, 6000), (5.0, 1000)]
    assert RestartDetector().observe(records) == []  # fails if the epoch is dropped


def test_2018_going_back_within_an_epoch_is_still_seen() -> None:
    text = PY2018.format(epoch=4, i=5000, loss="1.90") + "\n" + PY2018.format(epoch=4, i=2000, loss="2.0")
    records = steps(text)
    [event] = RestartDetector().observe(records)
    assert event.step == 2000


def test_2018_summary_without_num_updates_gives_no_record() -> None:
    text = ("| epoch 004 | train loss 1.98 | train ppl 3.94 | s/checkpoint    6422 | words/s   1203 | "
            "words/batch    880 | bsz    32 | lr 0.000500 | clip 100% | gnorm 3.0011")
    assert fairseq_records(text) == []
    assert steps(text) == []  # and no fallback reads its epoch as a step


def test_2018_validation_progress_line_is_not_a_training_step() -> None:
    text = "\n".join([
        PY2018.format(epoch=4, i=6000, loss="1.85"),
        "| epoch 004 | valid on 'valid' subset  1000 / 1311 loss=2.20",
        "| epoch 004 | valid on 'valid' subset | valid loss 2.31 | valid ppl 4.96",
        PY2018.format(epoch=5, i=1000, loss="1.80"),
    ])
    train, progress, summary, after = steps(text)
    assert (progress.step, progress.eval_loss, progress.loss, progress.is_eval) == (6000, 2.2, None, True)
    assert (summary.step, summary.eval_loss, summary.is_eval) == (6000, 2.31, True)
    assert [r.step for r in (train, after) if not r.is_eval] == [6000, 1000]


# -- overflow messages ------------------------------------------------------------


def test_overflow_notes_take_the_current_step() -> None:
    text = "\n".join([
        INNER,
        "2021-05-04 17:22:40 | INFO | fairseq.trainer | NOTE: gradient overflow detected, ignoring gradient, "
        "setting loss scale to: 8.0",
        "2020-03-23 11:41:18 | INFO | fairseq.trainer | NOTE: overflow detected, setting loss scale to: "
        "0.0009765625",
    ])
    first, second = overflows(text)
    assert (first.scale, first.new_scale, first.step) == (None, 8.0, 3933)
    assert (second.new_scale, second.step, second.line) == (0.0009765625, 3933, 3)
    assert first.time == "2021-05-04T17:22:40"


def test_legacy_overflow_warning() -> None:
    text = (
        "| epoch 009 | loss 6.100 | nll_loss 4.700 | ppl 26.00 | num_updates 5100 | lr 0.0007 | "
        "loss_scale 2.000\n"
        "| WARNING: overflow detected, setting loss scale to: 1.0\n"
        "| WARNING: overflow detected, setting loss scale to: 0.5\n"
    )
    first, second = overflows(text)
    assert (first.new_scale, first.step, second.new_scale, second.step) == (1.0, 5100, 0.5, 5100)


def test_overflow_before_any_step_has_no_step() -> None:
    [r] = overflows(
        "2021-05-04 17:20:03 | INFO | fairseq.trainer | NOTE: overflow detected, setting loss scale to: 64.0"
    )
    assert (r.new_scale, r.step) == (64.0, None)


# -- not ours -------------------------------------------------------------------


def test_json_progress_bar_and_other_lines_are_not_fairseq_records() -> None:
    parser = FairseqParser()
    ctx = ParseContext("t.log", None, 2024)
    lines = [
        '{"epoch": 4, "update": 3.25, "loss": "5.118", "num_updates": "3933", "lr": "0.000504"}',
        '2021-03-08 12:32:33 | INFO | train_inner | {"epoch": 1, "update": 0.0, "loss": "16.446"}',
        "2020-03-23 11:38:37 | INFO | fairseq.checkpoint_utils | saved checkpoint checkpoint2.pt "
        "(epoch 2 @ 695 updates, score 9.393) (writing took 5.76 seconds)",
        "2021-05-04 17:20:00 | INFO | fairseq_cli.train | begin training epoch 4",
        "epoch 4 | loss 3.2 | num_updates 10",  # epoch not zero-padded: not fairseq's
        "epoch 004 | loss 3.2 | lr 0.1",  # a summary with no num_updates has no step
        "epoch 004 | valid on 'valid' subset | ppl 4.1",  # no loss
        "Overflow detected, setting loss scale to: 2.0",
    ]
    answers = [parser.parse(line, 1, ctx) for line in lines]
    assert answers[5] is NOT_PROGRESS  # a summary with no num_updates: fairseq's own, and no step
    assert answers[:5] + answers[6:] == [None] * (len(lines) - 1)


def test_unreadable_values_become_none() -> None:
    [r] = steps(INNER.replace("loss=5.118", "loss=five").replace("num_updates=3933", "num_updates=3.5"))
    assert (r.step, r.loss) == (300, None)  # no whole num_updates: the progress index, with its epoch
    assert r.epoch == 4.0


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    ctx = ParseContext("x.log", None, 2024)
    prefixes = ("", "epoch 001 | ", "| epoch 001:  5 / 9 ", "epoch 001 | valid on 'v' subset | ",
                "NOTE: overflow detected, setting loss scale to: ")
    for line in (prefix + text for prefix in prefixes):
        FairseqParser().parse(line, 1, ctx)


@given(
    st.integers(min_value=1, max_value=999),
    st.integers(min_value=0, max_value=10**9),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=0, max_value=100)),
)
def test_generated_interval_lines_parse_back(epoch: int, updates: int, loss: float) -> None:
    line = f"epoch {epoch:03d}:  {7:5d} / 100 loss={loss:.3f}, num_updates={updates}, lr=0.0001"
    r = FairseqParser().parse(line, 1, ParseContext("x.log", None, 2024))
    expected = float(f"{loss:.3f}")
    assert isinstance(r, StepRecord) and (r.step, r.epoch) == (updates, float(epoch))
    assert (math.isnan(r.loss) and math.isnan(expected)) or r.loss == expected
