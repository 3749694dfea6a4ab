"""Karpathy's training loops: nanoGPT, llama2.c and llm.c.

Layouts follow the print/printf format strings in karpathy/nanoGPT `train.py`
(`iter {}: loss {:.4f}, time {:.2f}ms, mfu {:.2f}%` and `step {}: train loss {:.4f},
val loss {:.4f}`), karpathy/llama2.c `train.py` (`{} | loss {:.4f} | lr {:e} | {:.2f}ms |
mfu {:.2f}%`) and karpathy/llm.c `train_gpt2.cu` (`step %4d/%d | loss %7.6f (%+.2fz)|
norm %6.4f (%+.2fz)| lr %.2e | %.2f ms | %.1f%% bf16 MFU | %.0f tok/s`, the earlier
`step %4d/%d: train loss %f (%f ms, %d tok/s)`), `train_gpt2.py` (`step {:4d}/{} | train
loss {:.6f} | norm {:.4f} | lr {:.2e} | ({:.2f} ms | {:.0f} tok/s)`) and `train_gpt2.c`
(`step %d: train loss %f (took %f ms)`). Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.parsers import ParseContext, new_parser_set
from monitor.parsers.nanogpt import LlmcParser, NanoGptParser
from tests.conftest import steps


def karpathy_records(text: str) -> list[object]:
    """What the nanoGPT and llm.c parsers alone make of each line (others may take lines they leave)."""
    parsers, ctx = (NanoGptParser(), LlmcParser()), ParseContext("t.log", None, 2024)
    lines = enumerate(text.splitlines(), 1)
    return [r for n, line in lines for p in parsers if (r := p.parse(line, n, ctx)) is not None]


def detected_format(text: str) -> str | None:
    parsers = new_parser_set(ParseContext("t.log", None, 2024))
    parsers.parse_lines(enumerate(text.splitlines(), 1))
    counts = parsers.records_by_format.most_common(1)
    return counts[0][0] if counts else None


# -- nanoGPT -------------------------------------------------------------------


def test_nanogpt_iteration_line() -> None:
    [r] = steps("iter 1250: loss 3.4821, time 212.37ms, mfu 31.08%")
    assert (r.step, r.loss) == (1250, 3.4821)
    assert math.isclose(r.step_time_s, 0.21237) and math.isclose(r.mfu, 0.3108)
    assert detected_format("iter 1250: loss 3.4821, time 212.37ms, mfu 31.08%") == "nanogpt"


def test_nanogpt_mfu_not_yet_estimated_is_none() -> None:
    """`running_mfu` starts at -1: the first iterations print -100.00%."""
    [r] = steps("iter 0: loss 10.9917, time 24811.52ms, mfu -100.00%")
    assert (r.step, r.loss, r.mfu) == (0, 10.9917, None)


def test_nanogpt_early_layout_without_mfu() -> None:
    [r] = steps("iter 40: loss 6.0102, time 98.10ms")
    assert (r.step, r.loss, r.mfu) == (40, 6.0102, None) and math.isclose(r.step_time_s, 0.0981)


def test_nanogpt_nan_behind_a_posters_quote_and_timestamp() -> None:
    text = (
        "> 2023-05-09 14:00:01 iter 5200: loss 3.7101, time 998.12ms, mfu 12.50%\n"
        "> \n"
        "> 2023-05-09 14:00:11 iter 5210: loss nan, time 1002.40ms, mfu 12.52%\n"
    )
    first, second = steps(text)
    assert first.loss == 3.7101
    assert second.step == 5210 and math.isnan(second.loss)
    assert second.time == "2023-05-09T14:00:11" and second.line == 3


def test_nanogpt_eval_line_is_an_eval_record() -> None:
    [r] = steps("step 1500: train loss 3.3102, val loss 3.3968")
    assert (r.step, r.eval_loss, r.loss, r.is_eval) == (1500, 3.3968, None, True)


def test_nanogpt_nan_val_loss_stays_a_float() -> None:
    [r] = steps("step 2000: train loss nan, val loss nan")
    assert r.step == 2000 and math.isnan(r.eval_loss) and r.loss is None


# -- llama2.c ------------------------------------------------------------------


def test_llama2c_iteration_line() -> None:
    [r] = steps("730 | loss 4.9025 | lr 4.981215e-04 | 412.66ms | mfu 7.42%")
    assert (r.step, r.loss, r.lr) == (730, 4.9025, 4.981215e-04)
    assert math.isclose(r.step_time_s, 0.41266) and math.isclose(r.mfu, 0.0742)


def test_llama2c_nan_and_warm_up_mfu() -> None:
    [r] = steps("12 | loss nan | lr 1.200000e-05 | 380.02ms | mfu -100.00%")
    assert r.step == 12 and math.isnan(r.loss) and r.mfu is None


def test_llama2c_other_prints_are_not_records() -> None:
    text = "Created a PretokDataset with rng seed 42\nsaving checkpoint to out\nwrote out/model.bin\n"
    assert karpathy_records(text) == []


# -- llm.c ---------------------------------------------------------------------


def test_llmc_current_layout_with_mfu() -> None:
    line = ("step  118/18865 | loss 6.402113 (+0.41z)| norm 0.8816 (-0.22z)| lr 1.01e-04 | 287.93 ms "
            "| 44.7% bf16 MFU | 1820411 tok/s")
    [r] = steps(line)
    assert (r.step, r.total_steps, r.loss, r.grad_norm, r.lr) == (118, 18865, 6.402113, 0.8816, 1.01e-4)
    assert math.isclose(r.step_time_s, 0.28793) and math.isclose(r.mfu, 0.447)
    assert r.tokens_per_s == 1820411.0
    assert detected_format(line) == "llmc"


def test_llmc_layout_before_the_mfu_column() -> None:
    [r] = steps("step   17/74 | loss 7.113402 (-1.06z)| norm 2.4170 (+0.95z)| lr 1.70e-05 | 301.12 ms "
                "| 174108 tok/s")
    assert (r.step, r.total_steps, r.loss, r.grad_norm, r.mfu, r.tokens_per_s) == (
        17, 74, 7.113402, 2.417, None, 174108.0
    )


def test_llmc_unknown_device_mfu_is_none() -> None:
    [r] = steps("step    3/74 | loss 9.001200 (+0.00z)| norm 5.1000 (+0.00z)| lr 6.00e-06 | 350.00 ms "
                "| -100.0% bf16 MFU | 150000 tok/s")
    assert r.mfu is None and r.loss == 9.0012


def test_llmc_nan_loss_and_norm() -> None:
    [r] = steps("step  901/18865 | loss nan (+nanz)| norm -nan (+nanz)| lr 5.99e-04 | 288.10 ms "
                "| 44.6% bf16 MFU | 1819000 tok/s")
    assert r.step == 901 and math.isnan(r.loss) and math.isnan(r.grad_norm)


def test_llmc_2024_layout() -> None:
    [r] = steps("step   40/200: train loss 4.562315 (131.840517 ms, 31066 tok/s)")
    assert (r.step, r.total_steps, r.loss, r.tokens_per_s) == (40, 200, 4.562315, 31066.0)
    assert math.isclose(r.step_time_s, 0.131840517)


def test_llmc_pytorch_reference_layout() -> None:
    [r] = steps("step   12/50 | train loss 6.918204 | norm 3.1021 | lr 6.00e-05 | (402.77 ms | 40680 tok/s)")
    assert (r.step, r.total_steps, r.loss, r.grad_norm, r.lr, r.tokens_per_s) == (
        12, 50, 6.918204, 3.1021, 6e-05, 40680.0
    )
    assert math.isclose(r.step_time_s, 0.40277)


def test_llmc_early_cpu_layout() -> None:
    [r] = steps("step 7: train loss 5.021877 (took 1893.411926 ms)")
    assert (r.step, r.total_steps, r.loss) == (7, None, 5.021877)
    assert math.isclose(r.step_time_s, 1.893411926)


def test_llmc_lines_without_a_step_are_not_records() -> None:
    text = (
        "val loss 4.213305\n"
        "skipping update due to loss z-score of 3.912000\n"
        "total average iteration time: 288.1 ms\n"
    )
    assert karpathy_records(text) == []


# -- all of them ---------------------------------------------------------------


def test_garbage_lines_are_not_records() -> None:
    text = "\n".join([
        "iter : loss 3.0, time 1ms",
        "iteration 5: loss 3.0",
        "step 5: train loss 3.1",  # cut short: neither the eval line nor llm.c's
        "5 | loss 1.0 | lr x",
        "step x/74 | loss 1.0",
        "loss 1.0 | lr 1e-4 | 10ms | mfu 1%",
    ])
    assert karpathy_records(text) == []


def test_unreadable_values_become_none() -> None:
    [r] = steps("iter 9: loss 1.2.3, time 10.0.0ms, mfu 1.2.3%")
    assert (r.step, r.loss, r.step_time_s, r.mfu) == (9, None, None, None)


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    ctx = ParseContext("x.log", None, 2024)
    for parser in (NanoGptParser(), LlmcParser()):
        for line in (text, "iter 1: loss " + text, "step 1/2 | loss " + text, "1 | loss " + text):
            parser.parse(line, 1, ctx)


@given(
    st.integers(min_value=0, max_value=10**9),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=0, max_value=100)),
    st.floats(min_value=0, max_value=1e7),
)
def test_generated_nanogpt_lines_parse_back(step: int, loss: float, ms: float) -> None:
    line = f"iter {step}: loss {loss:.4f}, time {ms:.2f}ms, mfu 12.00%"
    r = NanoGptParser().parse(line, 1, ParseContext("x.log", None, 2024))
    expected = float(f"{loss:.4f}")
    assert r is not None and r.step == step and math.isclose(r.step_time_s, float(f"{ms:.2f}") / 1000)
    assert (math.isnan(r.loss) and math.isnan(expected)) or r.loss == expected
