"""mlx-lm fine-tuning report lines.

Layouts follow ml-explore/mlx-lm `mlx_lm/tuner/trainer.py` (`Iter {it}: Train loss {:.3f},
Learning Rate {:.3e}, It/sec {:.3f}, Tokens/sec {:.3f}, Trained Tokens {}, Peak mem {:.3f} GB`,
`Iter {it}: Val loss {:.3f}, Val took {:.3f}s`, `Iter {it}: Saved adapter weights to ...`)
and the older ml-explore/mlx-examples `lora/lora.py` (`Train loss`, `It/sec`,
`Tokens/sec` only; `Val loss`, `Val ppl`, `Val took`). Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.parsers.base import ParseContext
from monitor.parsers.mlx import MlxParser
from tests.conftest import steps


def mlx_records(text: str) -> list[object]:
    """What the mlx parser alone makes of each line (other parsers may take lines it leaves)."""
    parser, ctx = MlxParser(), ParseContext("t.log", None, 2024)
    return [r for n, line in enumerate(text.splitlines(), 1) if (r := parser.parse(line, n, ctx)) is not None]


def test_current_layout_gives_every_field() -> None:
    line = ("Iter 250: Train loss 1.874, Learning Rate 1.000e-05, It/sec 0.612, Tokens/sec 288.905, "
            "Trained Tokens 118230, Peak mem 17.442 GB")
    [r] = steps(line)
    assert (r.step, r.loss, r.lr, r.tokens_per_s) == (250, 1.874, 1e-5, 288.905)
    assert r.step_time_s is None and r.eval_loss is None
    assert (r.line, r.text) == (1, line)


def test_older_lora_layout_without_learning_rate() -> None:
    [r] = steps("Iter 40: Train loss 2.315, It/sec 1.730, Tokens/sec 402.118")
    assert (r.step, r.loss, r.lr, r.tokens_per_s) == (40, 2.315, None, 402.118)


def test_oldest_lora_layout_with_only_it_per_sec() -> None:
    [r] = steps("Iter 10: Train loss 3.902, It/sec 2.114")
    assert (r.step, r.loss, r.tokens_per_s) == (10, 3.902, None)


def test_val_lines_are_eval_records() -> None:
    first, second = steps(
        "Iter 1: Val loss 2.411, Val took 12.018s\nIter 400: Val loss 1.702, Val ppl 5.485, Val took 9.9s"
    )
    assert (first.step, first.eval_loss, first.loss, first.is_eval) == (1, 2.411, None, True)
    assert (second.step, second.eval_loss, second.is_eval) == (400, 1.702, True)


def test_nan_train_loss_at_its_iteration() -> None:
    text = (
        "Iter 90: Train loss 1.512, Learning Rate 2.000e-05, It/sec 0.700, Tokens/sec 301.000, "
        "Trained Tokens 40000, Peak mem 9.100 GB\n"
        "Iter 100: Train loss nan, Learning Rate 2.000e-05, It/sec 0.702, Tokens/sec 300.100, "
        "Trained Tokens 44000, Peak mem 9.100 GB\n"
    )
    first, second = steps(text)
    assert first.loss == 1.512
    assert second.step == 100 and math.isnan(second.loss)


def test_other_lines_are_not_records() -> None:
    text = "\n".join([
        "Starting training..., iters: 1000",
        "Iter 100: Saved adapter weights to adapters/adapters.safetensors and "
        "adapters/0000100_adapters.safetensors.",
        "Saved final weights to adapters/adapters.safetensors.",
        "Iter x: Train loss 1.0",
        "Iter 5: Test loss 1.0",
        "iter 5: Train loss 1.0",
    ])
    assert mlx_records(text) == []


def test_unreadable_values_become_none() -> None:
    [r] = steps("Iter 7: Train loss 1.2.3, Learning Rate fast, Tokens/sec 10.0")
    assert (r.step, r.loss, r.lr, r.tokens_per_s) == (7, None, None, 10.0)


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    ctx = ParseContext("x.log", None, 2024)
    for line in (text, "Iter 1: Train loss " + text, "Iter 1: Val loss 1.0, " + text):
        MlxParser().parse(line, 1, ctx)


@given(
    st.integers(min_value=1, max_value=10**9),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=0, max_value=100)),
    st.floats(min_value=0, max_value=1e6),
)
def test_generated_lines_parse_back(step: int, loss: float, tokens: float) -> None:
    line = (f"Iter {step}: Train loss {loss:.3f}, Learning Rate 1.000e-05, "
            f"It/sec 1.000, Tokens/sec {tokens:.3f}")
    r = MlxParser().parse(line, 1, ParseContext("x.log", None, 2024))
    expected = float(f"{loss:.3f}")
    assert r is not None and r.step == step and r.tokens_per_s == float(f"{tokens:.3f}")
    assert (math.isnan(r.loss) and math.isnan(expected)) or r.loss == expected
