"""The generic `key=value` / `key: value` fallback and the lines it must leave alone.

No framework defines these layouts: they are the shapes hand-written training loops print
(`step=... loss=...`, `iter: n/N, train_loss: ...`). The near-misses are what it must
not take: prose that mentions a step and a loss, configuration dumps (an argparse
`Namespace(...)` with `loss_scale=None`), keys that only look like steps or losses.
Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.parsers import ParseContext, new_parser_set
from monitor.parsers.generic import MAX_LINE_CHARS, GenericParser
from tests.conftest import steps


def parse(line: str):
    return GenericParser().parse(line, 1, ParseContext("x.log", None, 2024))


def test_pipe_separated_pairs() -> None:
    [r] = steps("2024-05-02 10:11:12 | step=1200 | loss=2.4513 | lr=3.0e-04 | grad_norm=0.811")
    assert (r.step, r.loss, r.lr, r.grad_norm) == (1200, 2.4513, 3e-4, 0.811)
    assert r.time == "2024-05-02T10:11:12"


def test_colon_pairs_with_total_split_prefix_and_epoch() -> None:
    [r] = steps("[rank3]: iter: 350/10000, train_loss: 5.1021, learning_rate: 1.2e-4, epoch: 1, time: 0.51s")
    assert (r.step, r.total_steps, r.loss, r.lr, r.epoch, r.rank) == (350, 10000, 5.1021, 1.2e-4, 1.0, 3)


def test_plain_loss_is_preferred_over_component_losses() -> None:
    [r] = steps("step=10 aux_loss=0.01 loss=3.25 z_loss=0.002")
    assert r.loss == 3.25


def test_nan_and_inf_losses_are_kept() -> None:
    records = steps("step=1 loss=2.0\nstep=2 loss=nan\nstep=3 loss=inf\nstep=4 loss: -Infinity")
    assert [r.step for r in records if math.isnan(r.loss)] == [2]
    assert [r.loss for r in records[2:]] == [math.inf, -math.inf]


def test_eval_only_line_is_an_eval_record() -> None:
    [r] = steps("2024-05-02 10:20:00 INFO eval | step=800 | val_loss=3.0125 | val_ppl=20.34")
    assert (r.step, r.eval_loss, r.loss, r.is_eval) == (800, 3.0125, None, True)
    [both] = steps("step: 900, loss: 2.9, valid loss: 3.1")
    assert (both.loss, both.eval_loss, both.is_eval) == (2.9, 3.1, False)


def test_quoted_keys_of_a_printed_dict() -> None:
    """Alone, the fallback reads a printed dict (in a scan the Hugging Face parser sees it first)."""
    r = parse("{'step': 42, 'loss': 1.75, 'lr': 0.001}")
    assert r is not None
    assert (r.step, r.loss, r.lr) == (42, 1.75, 0.001)


def test_framework_parser_wins_and_generic_never_becomes_the_format() -> None:
    parsers = new_parser_set(ParseContext("x.log", None, 2024))
    records = parsers.parse_lines(enumerate(["step=1 loss=2.0", "step=2 loss=1.9"], 1))
    assert len(records) == 2 and parsers.primary is None
    [r] = steps("epoch: 2 step: 150, loss is 3.2145678")  # plain MindSpore, not generic
    assert r.epoch == 2.0


# ---------------------------------------------------------------- near-misses


def test_argparse_namespace_dump_is_not_a_step_line() -> None:
    assert parse(
        "Namespace(batch_size=32, fp16=True, loss_scale=None, lr=0.0003, max_epochs=10, seed=1234)"
    ) is None
    assert parse("Namespace(step=0, loss=0.5, loss_scale=None, lr=0.0003)") is None
    assert parse("TrainingArguments(output_dir='out', logging_steps=10, step=0, loss=1.0)") is None


def test_prose_mentioning_a_step_and_a_loss_is_not_a_step_line() -> None:
    assert parse("Resuming training from step: 5000 with best loss: 2.13 from the previous run") is None
    assert parse("the loss went up at step 300 and the loss scale dropped") is None
    assert parse("Warning: loss is not decreasing since iteration 20") is None


def test_keys_that_only_look_like_steps_or_losses() -> None:
    assert parse("loss_scale=1024 step=5") is None  # a loss scale is not a loss
    assert parse("steps=100 loss=2.0") is None  # a count of steps is not a step
    assert parse("epoch=3 loss=2.0") is None  # no explicit step
    assert parse("step=1.5 loss=2.0") is None  # not an integer step
    assert parse("step=5 loss=ce") is None  # the loss is a name, not a value
    assert parse("global_step=-1 loss=2.0") is None


def test_huge_and_garbage_lines_return_none() -> None:
    assert parse("step=1 loss=2.0 " + "x" * MAX_LINE_CHARS) is None
    assert parse(("step=" + "loss=" * 100) * 2) is None
    assert parse("\x00\ufffd step=\x00 loss=\ufffd") is None


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    parse(text)
    parse("step=1 " + text + " loss=2.0")


@given(st.integers(min_value=0, max_value=10**9), st.floats(allow_nan=True, allow_infinity=True, width=32))
def test_generated_lines_parse_back(step: int, loss: float) -> None:
    r = parse(f"step={step} loss={loss!r}")
    assert r is not None and r.step == step
    assert (math.isnan(r.loss) and math.isnan(loss)) or r.loss == loss
