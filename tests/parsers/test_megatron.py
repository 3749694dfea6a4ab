"""Megatron-LM iteration lines.

Layouts follow `training_log` in NVIDIA/Megatron-LM `megatron/training/training.py`
(` [YYYY-mm-dd HH:MM:SS] iteration {:8d}/{:8d} | <label>: <value> | ...`), the
microsoft/Megatron-DeepSpeed and BigScience forks (`elapsed time per iteration (s)`,
`samples per second`, `TFLOPs`), GPT-NeoX (`samples/sec:` first, `lm_loss`) and
Megatron-LM v1 (no colon after `learning rate` and loss names). Values are made up.
"""

from __future__ import annotations

import math

from tests.conftest import steps

UPSTREAM = (
    " [2024-05-02 10:11:12] iteration      120/    5000 | consumed samples:        61440 | "
    "elapsed time per iteration (ms): 1532.4 | learning rate: 2.997812E-04 | global batch size:   512 | "
    "lm loss: 3.412976E+00 | loss scale: 1.0 | grad norm: 0.712 | number of skipped iterations:   0 | "
    "number of nan iterations:   0 |"
)


def upstream(iteration: int, loss: str = "3.412976E+00", extra: str = "", skipped: int = 0, nan: int = 0) -> str:
    loss_field = f" lm loss: {loss} |" if loss else ""
    return (
        f" [2024-05-02 10:11:12] iteration {iteration:8d}/    5000 | consumed samples: {iteration * 512:12d} | "
        f"elapsed time per iteration (ms): 1532.4 | learning rate: 2.997812E-04 | global batch size:   512 |"
        f"{extra}{loss_field} loss scale: 1.0 | grad norm: 0.712 | number of skipped iterations: {skipped:3d} | "
        f"number of nan iterations: {nan:3d} |"
    )


def test_upstream_line_gives_every_field() -> None:
    [r] = steps(UPSTREAM)
    assert (r.step, r.total_steps) == (120, 5000)
    assert r.loss == 3.412976
    assert r.grad_norm == 0.712
    assert r.lr == 2.997812e-4
    assert r.loss_scale == 1.0
    assert math.isclose(r.step_time_s, 1.5324)
    assert (r.skipped, r.nan_count) == (0, 0)
    assert r.time == "2024-05-02T10:11:12"
    assert r.line == 1 and r.text == UPSTREAM


def test_template_path_gives_the_same_record_as_the_first_reading() -> None:
    """The first line of a layout is read field by field, later ones by the compiled template."""
    first, second = steps(UPSTREAM + "\n" + UPSTREAM.replace("iteration      120", "iteration      121"))
    assert second._replace(step=120, line=1, text=first.text) == first


def test_bigscience_fork_seconds_and_launcher_rank() -> None:
    line = (
        "[default7]: iteration    31020/  115311 | consumed samples:     47371536 | consumed tokens:  97016905728 "
        "| elapsed time per iteration (s): 104.83 | learning rate: 5.287E-05 | global batch size:  2048 | "
        "lm loss: 2.201442E+00 | grad norm: 0.213 | num zeros: 0.0 | number of skipped iterations:   0 | "
        "number of nan iterations:   0 | samples per second: 19.536 | TFLOPs: 149.57 |"
    )
    [r] = steps(line)
    assert (r.step, r.rank, r.step_time_s, r.samples_per_s, r.tflops) == (31020, 7, 104.83, 19.536, 149.57)
    assert r.loss_scale is None  # bf16: no loss scale field


def test_all_skipped_interval_is_not_nan() -> None:
    """fp16 start-up: every iteration of the interval skipped, so no loss is printed."""
    line = (
        " iteration       10/ 1000000 | consumed samples:           40 | elapsed time per iteration (ms): 412.9 "
        "| learning rate: 0.000E+00 | global batch size:     4 | loss scale: 4194304.0 | "
        "number of skipped iterations:  10 | number of nan iterations:   0 |"
    )
    [r] = steps(line)
    assert r.loss is None and r.skipped == 10


def test_vanished_loss_key_is_a_nan() -> None:
    """Megatron prints a loss key only when its interval mean is >= 0: NaN makes it vanish."""
    first, second = steps(upstream(100) + "\n" + upstream(110, loss=""))
    assert first.loss == 3.412976
    assert math.isnan(second.loss)


def test_vanished_loss_key_in_an_all_skipped_interval_is_not_a_nan() -> None:
    first, second = steps(upstream(100) + "\n" + upstream(110, loss="", skipped=10))
    assert second.loss is None


def test_zero_loss_of_an_all_skipped_interval_is_not_a_loss() -> None:
    """Under the newer `>= 0.0` rule an empty interval prints 0.0."""
    first, second = steps(upstream(100) + "\n" + upstream(110, loss="0.000000E+00", skipped=10))
    assert second.loss is None


def test_nan_counter_and_non_finite_grad_norm() -> None:
    [r] = steps(upstream(50, nan=2).replace("grad norm: 0.712", "grad norm: nan"))
    assert r.nan_count == 2 and math.isnan(r.grad_norm)


def test_new_loss_key_keeps_the_main_loss() -> None:
    [r] = steps(upstream(10, extra=" mtp_1 loss: 4.100000E+00 |"))
    assert r.loss == 3.412976


def test_megatron_v1_layout_without_colons() -> None:
    line = (
        " iteration      300/   50000 | elapsed time per iteration (ms): 398.2 | learning rate 1.500E-04 | "
        "lm loss 7.214360E+00 | loss scale 32768.0 |"
    )
    [r] = steps(line)
    assert (r.step, r.lr, r.loss, r.loss_scale) == (300, 1.5e-4, 7.21436, 32768.0)


def test_neox_samples_per_second_prefix_and_underscore_loss() -> None:
    line = (
        " samples/sec: 41.873 | iteration     1200/  320000 | elapsed time per iteration (ms): 12226.9 | "
        "learning rate: 1.194E-04 | approx flops per GPU: 143.2TFLOPS | lm_loss: 2.611250E+00 | "
        "loss scale: 8192.0 | number of skipped iterations:   0 | number of nan iterations:   0 |"
    )
    [r] = steps(line)
    assert (r.step, r.loss, r.samples_per_s, r.tflops, r.loss_scale) == (1200, 2.61125, 41.873, 143.2, 8192.0)


def test_hard_wrapped_record_is_joined() -> None:
    """Reposted logs wrap one record over several lines; `number of nan` / `iterations:` must rejoin."""
    text = (
        "[default0]: iteration   51000/ 115311 | consumed samples:    92381632 | consumed tokens: 189197582336 "
        "| elapsed time per iteration (s): 106.02 | learning\n"
        " rate: 3.911E-05 | global batch size: 2048 | lm loss: 2.051144E+00 | grad norm: 0.121 | num zeros: 0.0 "
        "| number of skipped iterations:  0 | number of nan\n"
        "iterations:  0 | samples per second: 19.317 | TFLOPs: 147.89 |\n"
        "[default0]: iteration   51001/ 115311 | consumed samples:    92383680 | consumed tokens: 189201776640 "
        "| elapsed time per iteration (s): 106.11 | learning\n"
        " rate: 3.911E-05 | global batch size: 2048 | lm loss: 2.049033E+00 | grad norm: 0.118 | num zeros: 0.0 "
        "| number of skipped iterations:  0 | number of nan\n"
        "iterations:  0 | samples per second: 19.301 | TFLOPs: 147.76 |\n"
    )
    first, second = steps(text)
    assert (first.step, first.line, first.lr, first.nan_count, first.tflops) == (51000, 1, 3.911e-5, 0, 147.89)
    assert (second.step, second.line, second.loss) == (51001, 4, 2.049033)


def test_line_cut_short_still_gives_the_step_and_time() -> None:
    [r] = steps(
        " iteration       15/     600 | consumed samples:          960 | "
        "elapsed time per iteration (ms): 142474.1 | learning rate: 1.200E-05 | "
    )
    assert (r.step, r.step_time_s, r.loss) == (15, 142.4741, None)


def test_validation_block_is_an_eval_record() -> None:
    text = (
        "-" * 92 + "\n"
        " validation loss at iteration 2000 | lm loss value: 2.874411E+00 | lm loss PPL: 1.771142E+01 | \n"
        + "-" * 92 + "\n"
    )
    [r] = steps(text)
    assert (r.step, r.eval_loss, r.loss, r.is_eval) == (2000, 2.874411, None, True)


def test_infinity_total_and_trailing_garbage_are_tolerated() -> None:
    [r] = steps(" iteration       40/infinity | consumed samples:          320 | lm loss: 5.500000E+00 |")
    assert (r.step, r.total_steps, r.loss) == (40, None, 5.5)


def test_unreadable_value_becomes_none() -> None:
    [r] = steps(upstream(7).replace("grad norm: 0.712", "grad norm: ???"))
    assert r.grad_norm is None and r.loss == 3.412976


def test_record_cut_mid_line_is_not_a_nan() -> None:
    """A truncated last line lost its loss field to the cut, not to a NaN."""
    cut = upstream(20)[:150]
    first, second = steps(upstream(10) + "\n" + cut)
    assert second.step == 20 and second.loss is None


def test_a_first_line_without_a_loss_though_nothing_was_skipped_is_a_nan() -> None:
    """Megatron-DeepSpeed prints a loss key only when its interval mean is > 0.0 (training.py,
    `training_log`): with no iteration skipped, only a NaN mean leaves no loss at all."""
    [r] = steps(
        " iteration        9/      10 | consumed samples:          108 | elapsed time per iteration (ms): 1979.2 | "
        "learning rate: 4.219E-07 | global batch size:    12 | loss scale: 1.0 | number of skipped iterations:   0 | "
        "number of nan iterations:   0 |"
    )
    assert r.step == 9 and math.isnan(r.loss)


def test_another_frameworks_iteration_counter_is_not_megatrons() -> None:
    """NeMo 2's progress printer writes `iteration i/n |` too, without any of Megatron's labels."""
    [r] = steps(
        "Training epoch 0, iteration 49/99 | lr: 1.5e-05 | global_batch_size: 32 | global_step: 49 | "
        "reduced_train_loss: 3.678 | train_step_timing in s: 0.4512 | consumed_samples: 1600"
    )
    assert (r.step, r.epoch, r.loss, r.step_time_s) == (49, 0.0, 3.678, 0.4512)


def test_the_format_is_learned_from_a_line_that_ends_like_a_shell_message() -> None:
    """Megatron ends its lines with `| ` (a blank): the first line still makes Megatron the source's
    format, so every following line is read by it (with its total), whatever its last character."""
    text = "\n".join(
        f" iteration {step:8d}/     600 | consumed samples: {step * 64:12d} | elapsed time per iteration (ms): "
        f"{840.5 + step:.1f} | learning rate: 8.000E-06 | lm loss: {3.1 - step / 100:.6E} | "
        for step in (10, 15, 20, 25)
    )
    records = steps(text)
    assert [(r.step, r.total_steps) for r in records] == [(10, 600), (15, 600), (20, 600), (25, 600)]
