"""torchtitan metric lines.

Layouts follow pytorch/torchtitan `torchtitan/components/metrics.py`
`MetricsProcessor.log` / `log_validation` (`step: {:2}  loss: {:7.4f}  grad_norm: ...
memory: {:5.2f}GiB({:.2f}%)  tps: {:,}  tflops: {:,.2f}  mfu: {:.2f}%`, newer builds
`%8.5f` losses, early-2025 builds without grad_norm), the 2024 `train.py` (`wps:`
and no tflops) and the March-2024 torchtrain build (`wps:`, no tflops or mfu),
behind the `[rank0]:[titan] <asctime> - root - INFO - ` prefix. Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.parsers.base import ParseContext
from monitor.parsers.torchtitan import TorchtitanParser
from tests.conftest import steps

PREFIX = "[rank3]:[titan] 2025-06-03 09:14:07,402 - root - INFO - "


def titan_records(text: str) -> list[object]:
    """What the torchtitan parser alone makes of each line (other parsers may take lines it leaves)."""
    parser, ctx = TorchtitanParser(), ParseContext("t.log", None, 2024)
    return [r for n, line in enumerate(text.splitlines(), 1) if (r := parser.parse(line, n, ctx)) is not None]


def test_newer_layout_gives_every_field() -> None:
    line = PREFIX + (
        "step: 40  loss:  4.81234  grad_norm:  1.2031  memory: 31.07GiB(39.24%)  tps: 5,118  "
        "tflops: 296.41  mfu: 29.97%"
    )
    [r] = steps(line)
    assert (r.step, r.loss, r.grad_norm, r.tokens_per_s, r.tflops) == (40, 4.81234, 1.2031, 5118.0, 296.41)
    assert math.isclose(r.mfu, 0.2997)  # a fraction, not a percentage
    assert r.step_time_s is None  # not printed
    assert (r.rank, r.time, r.line, r.text) == (3, "2025-06-03T09:14:07.402000", 1, line)


def test_early_2025_layout_without_grad_norm() -> None:
    [r] = steps(PREFIX + "step:  7  loss:  8.1020  memory:  1.41GiB(1.79%)  tps: 193,804  tflops: 18.31  "
                "mfu: 1.85%")
    assert (r.step, r.loss, r.grad_norm, r.tokens_per_s) == (7, 8.102, None, 193804.0)
    assert math.isclose(r.mfu, 0.0185)


def test_2024_train_py_wps_layout() -> None:
    [r] = steps("[rank0]:2024-06-20 12:01:55,021 - root - INFO - step: 10  loss:  9.8805  "
                "memory: 22.47GiB(28.38%)  wps: 6,012  mfu: 35.20%")
    assert (r.step, r.loss, r.tokens_per_s, r.tflops) == (10, 9.8805, 6012.0, None)
    assert math.isclose(r.mfu, 0.352)


def test_march_2024_torchtrain_layout_has_no_tflops_or_mfu() -> None:
    [r] = steps("[rank0]:2024-03-21 10:05:44,861 - root - INFO - step:  5  loss:  9.4102  "
                "memory: 20.11GiB(25.40%)  wps: 2,345")
    assert (r.step, r.loss, r.tokens_per_s, r.tflops, r.mfu) == (5, 9.4102, 2345.0, None, None)


def test_thousands_separator_in_tflops() -> None:
    [r] = steps(PREFIX + "step: 3  loss:  5.0000  grad_norm:  0.5000  memory: 70.00GiB(88.00%)  "
                "tps: 12,345  tflops: 1,234.56  mfu: 62.40%")
    assert r.tflops == 1234.56


def test_nan_loss_at_the_right_step() -> None:
    text = "\n".join(
        PREFIX + f"step: {s}  loss: {loss}  grad_norm: {grad}  memory:  9.46GiB(64.99%)  tps: 7,300  "
        "tflops: 0.52  mfu: 0.17%"
        for s, loss, grad in (
            (100, " 3.10000", " 0.7000"), (101, "     nan", "    nan"), (102, "     inf", " 1.0000")
        )
    )
    first, second, third = steps(text)
    assert first.loss == 3.1
    assert second.step == 101 and math.isnan(second.loss) and math.isnan(second.grad_norm)
    assert third.step == 102 and third.loss == math.inf


def test_validation_line_is_an_eval_record() -> None:
    [r] = steps(PREFIX + "validate step: 100  loss:  4.2210  memory: 29.83GiB(37.67%)  tps: 14,092")
    assert (r.step, r.eval_loss, r.loss, r.is_eval) == (100, 4.221, None, True)


def test_other_titan_lines_are_not_records() -> None:
    text = "\n".join([
        PREFIX.replace("INFO", "WARNING") + "Dataset c4_test is being re-looped",
        PREFIX + "Training starts at step 1, with local batch size 8, global batch size 64, sequence length "
        "2048, total steps 1000 (warmup 200)",
        PREFIX + "step: abc  loss: 1.0",
        PREFIX + "loss:  1.0000  step: 4",
        "train_step: 5  loss: 1.0",
    ])
    assert titan_records(text) == []


def test_unreadable_loss_becomes_none_but_keeps_the_step() -> None:
    [r] = steps(PREFIX + "step: 12  loss:  ???  memory:  1.00GiB(1.00%)  tps: 10")
    assert (r.step, r.loss, r.tokens_per_s) == (12, None, 10.0)


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    TorchtitanParser().parse(text, 1, ParseContext("x.log", None, 2024))
    TorchtitanParser().parse("step: 1  loss: " + text, 1, ParseContext("x.log", None, 2024))


@given(
    st.integers(min_value=0, max_value=10**9),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=-1e6, max_value=1e6)),
    st.integers(min_value=0, max_value=10**9),
)
def test_generated_lines_parse_back(step: int, loss: float, tps: int) -> None:
    line = (f"{PREFIX}step: {step:2}  loss: {loss:8.5f}  memory:  1.00GiB(1.00%)  tps: {tps:,}  "
            "tflops: 1.00  mfu: 2.00%")
    r = TorchtitanParser().parse(line, 1, ParseContext("x.log", None, 2024))
    assert r is not None and r.step == step and r.tokens_per_s == tps
    expected = float(f"{loss:8.5f}")
    assert (math.isnan(r.loss) and math.isnan(expected)) or r.loss == expected
