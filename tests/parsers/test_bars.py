"""tqdm progress bars: the training bar's position and Lightning's postfix metrics.

Layouts follow tqdm `format_meter` (`{desc}: {pct:3.0f}%|{bar}| {n}/{total}
[{elapsed}<{remaining}, {rate}{postfix}]`), PyTorch Lightning's
`TQDMProgressBar` (`src/lightning/pytorch/callbacks/progress/tqdm_progress.py`:
`Epoch N` description, per-epoch `n`, metrics in the postfix) and NeMo's
`MegatronProgressBar` (no rate, `Epoch N: :`, `reduced_train_loss`,
`global_step`). Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.detectors.restart import RestartDetector
from monitor.parsers.bars import BarParser
from monitor.parsers.base import ParseContext
from tests.conftest import events_both_ways, steps


def offer(*lines: str) -> tuple[ParseContext, list[object]]:
    """Offer lines to a fresh bar parser; return the context and what each line gave."""
    parser, ctx = BarParser(), ParseContext("x.log", None, 2024)
    return ctx, [parser.parse(line, i, ctx) for i, line in enumerate(lines, 1)]


def lightning(epoch: int, n: int, total: int, metrics: str) -> str:
    pct = round(100 * n / total)
    return f"Epoch {epoch}: {pct:3d}%|████      | {n}/{total} [00:31<00:47,  3.92s/it, {metrics}]"


def test_plain_training_bar_moves_the_step_and_gives_no_record() -> None:
    ctx, results = offer("  5%|▌         | 72/1398 [1:12:34<24:31:08, 66.57s/it]")
    assert results == [None]
    assert (ctx.step, ctx.bar_total) == (72, 1398)


def test_bar_before_the_first_update_and_ascii_bars() -> None:
    ctx, _ = offer("  0%|          | 0/500 [00:00<?, ?it/s]", " 10%|#    | 50/500 [00:21<03:09,  2.38it/s]")
    assert (ctx.step, ctx.bar_total) == (50, 500)


def test_bars_with_a_smaller_total_do_not_move_the_step() -> None:
    ctx, _ = offer(
        " 50%|█████     | 500/1000 [10:00<10:00,  1.20s/it]",
        " 40%|████      | 20/50 [00:05<00:07,  4.01it/s]",
        "100%|██████████| 50/50 [00:12<00:00,  4.02it/s]",
    )
    assert (ctx.step, ctx.bar_total) == (500, 1000)


def test_bars_with_other_descriptions_do_not_move_the_step() -> None:
    ctx, results = offer(
        "Map: 100%|██████████| 52002/52002 [00:03<00:00, 14231.55 examples/s]",
        "Running tokenizer on dataset:  37%|███▋      | 19000/52002 [00:02<00:04, 7431.20it/s]",
        "Loading checkpoint shards: 100%|██████████| 4/4 [00:09<00:00,  2.31s/it]",
        "Sanity Checking DataLoader 0: 100%|██████████| 2/2 [00:00<00:00,  5.12it/s]",
        "Epoch 0: 100%|██████████| 20/20 [01:10<00:00,  3.50s/it, loss=2.31, v_num=4]",
        "Validation DataLoader 0:  60%|██████    | 300/500 [00:40<00:26,  7.50it/s]",
        "#3:  50%|█████     | 9000/18000 [00:01<00:01, 8000.00ex/s]",
    )
    assert (ctx.step, ctx.bar_total) == (20, 20)
    assert [r is not None for r in results] == [False, False, False, False, True, False, False]


def test_bar_counting_something_other_than_iterations_is_not_the_training_bar() -> None:
    ctx, _ = offer("100%|██████████| 3668/3668 [00:01<00:00, 2874.11 examples/s]")
    assert (ctx.step, ctx.bar_total) == (None, None)


def test_launcher_prefix_before_a_bar_without_description() -> None:
    ctx, _ = offer("[rank0]:  12%|█▏        | 120/1000 [02:00<14:40,  1.00s/it]")
    assert (ctx.step, ctx.bar_total) == (120, 1000)


def test_lightning_bar_is_a_record_with_epoch_and_loss() -> None:
    [r] = steps(lightning(2, 8, 20, "loss=4.51, v_num=7"))
    assert (r.step, r.epoch, r.loss, r.total_steps, r.line) == (8, 2.0, 4.51, None, 1)


def test_lightning_redraws_across_an_epoch_boundary_keep_the_epoch() -> None:
    text = "\n".join([
        lightning(0, 19, 20, "loss=2.41, v_num=1"),
        lightning(0, 20, 20, "loss=2.38, v_num=1"),
        lightning(1, 1, 20, "loss=2.36, v_num=1"),
        lightning(1, 2, 20, "loss=2.33, v_num=1"),
    ])
    records = steps(text)
    assert [(r.epoch, r.step) for r in records] == [(0.0, 19), (0.0, 20), (1.0, 1), (1.0, 2)]
    assert RestartDetector().observe(records) == []  # a new epoch restarting n is not a restart


def test_lightning_logged_metric_names() -> None:
    [a, b] = steps(
        lightning(0, 630, 1000, "v_num=3, train_loss_step=0.482") + "\n"
        + lightning(0, 640, 1000, "v_num=3, train_loss=0.475")
    )
    assert (a.loss, b.loss) == (0.482, 0.475)


def test_lightning_bar_without_a_loss_only_moves_the_step() -> None:
    ctx, results = offer(lightning(3, 12, 40, "v_num=0, acc=0.91"))
    assert results == [None] and ctx.step == 12


def test_nan_loss_in_the_postfix() -> None:
    [r] = steps(lightning(1, 5, 20, "loss=nan, v_num=2"))
    assert math.isnan(r.loss)


def test_nemo_bar_uses_global_step_and_reads_its_metrics() -> None:
    line = (
        "Epoch 0: :  12%|█▏        | 120/1000 [01:10<08:30, v_num=0, reduced_train_loss=3.21, "
        "global_step=119.0, consumed_samples=30720.0, train_step_timing in s=1.204]"
    )
    [r] = steps(line)
    assert (r.step, r.epoch, r.loss, r.step_time_s) == (119, 0.0, 3.21, 1.204)


def test_nemo_global_step_in_three_digit_form_only_confirms_the_bar_position() -> None:
    """tqdm writes 1999 as `2e+3`: the exact step is lost, so `n` is used when it fits."""
    near = "Epoch 0: : 100%|██████████| 2000/2000 [43:24:54<00:00, reduced_train_loss=0.14, global_step=2e+3]"
    far = "Epoch 3: :  10%|█         | 50/500 [00:30<04:30, reduced_train_loss=0.139, global_step=1.23e+5]"
    [a] = steps(near)
    [b] = steps(far)
    assert (a.step, b.step, b.loss) == (2000, None, 0.139)


def test_nemo_global_step_sets_the_context_step() -> None:
    ctx, _ = offer("Epoch 0: :  12%|█▏   | 120/1000 [01:10<08:30, reduced_train_loss=3.2, global_step=119.0]")
    assert ctx.step == 119


def test_rank_from_a_launcher_prefix_before_the_description() -> None:
    [r] = steps("[default0]:" + lightning(1, 4, 20, "loss=1.25, v_num=0"))
    assert (r.rank, r.epoch, r.step) == (0, 1.0, 4)


def test_undescribed_bar_with_a_loss_postfix_is_a_record() -> None:
    [r] = steps(" 30%|███       | 300/1000 [02:41<06:16,  1.86it/s, loss=1.93]")
    assert (r.step, r.loss, r.epoch, r.total_steps) == (300, 1.93, None, 1000)


def test_bar_cut_short_still_moves_the_step() -> None:
    ctx, _ = offer(" 42%|████▏     | 420/1000 [05:0")
    assert ctx.step == 420


def test_garbage_lines_with_the_bar_mark_give_nothing() -> None:
    ctx, results = offer(
        "%|", "100%| no bar here", "abc 50%|█| 1/2 [00:01<00:01, 1.00it/s]", "50%|██| x/2", "%|█| 3/4 [",
    )
    assert results == [None] * 5
    assert ctx.step is None


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_arbitrary_text_never_raises(left: str, right: str) -> None:
    parser, ctx = BarParser(), ParseContext("x.log", None, 2024)
    epoch = "Epoch 1: 10%|█| 1/10 [00:01<00:09, "
    for line in (left + "%|" + right, left + " 50%|█| 1/2 [" + right, epoch + right):
        parser.parse(line, 1, ctx)


def test_a_steps_bar_of_an_accelerate_script_is_a_training_bar_with_its_step_loss() -> None:
    """accelerate / diffusers example scripts: `tqdm(range(max_train_steps), desc="Steps")` with
    `set_postfix(step_loss=..., lr=...)`; a loss-scaler message glued after the bar is still read."""
    line = ("Steps:   0%|          | 1/2000 [00:14<8:16:07, 14.89s/it, lr=1e-5, step_loss=nan, td=2.85s]"
            "[2024-07-10 15:50:50,576] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 "
            "Skipping step. Attempted loss scale: 131072, reducing to 65536")
    from tests.conftest import parse_text

    records = parse_text(line)
    [bar] = [r for r in records if type(r).__name__ == "StepRecord"]
    [overflow] = [r for r in records if type(r).__name__ == "LossScaleOverflow"]
    assert bar.step == 1 and math.isnan(bar.loss)
    assert (overflow.scale, overflow.new_scale, overflow.step) == (131072, 65536, 1)


def lightning_default(epoch: int, n: int, total: int) -> str:
    """Lightning's training bar when nothing is logged with `prog_bar=True`: `TQDMProgressBar.BAR_FORMAT`
    (`{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]`, so always
    `it/s`), `Epoch {current_epoch}`, `n = batch_idx + 1` and only `v_num` in the postfix (the layout in
    `ProgressBar.get_metrics`' docstring, src/lightning/pytorch/callbacks/progress/progress_bar.py)."""
    return f"Epoch {epoch}: {100 * n / total:3.0f}%|████      | {n}/{total} [00:31<01:37, 10.84it/s, v_num=10]"


def test_lightning_bars_over_several_epochs_are_no_step_restart() -> None:
    """The per-epoch counter restarting at each epoch is not a restart, with a loss in the postfix or
    without one (then no other parser may read the bar: a learned layout took `Epoch N` for the step)."""
    from tests.conftest import fault_events, parse_text

    plain = [lightning_default(epoch, n, 1095) for epoch in range(3) for n in range(100, 1001, 100)]
    assert parse_text("\n".join(plain)) == []
    with_loss = [line.replace("v_num=10", f"v_num=10, train_loss={2.0 - n / 1e4:.3f}")
                 for n, line in zip(range(3000), plain)]
    for lines in (plain, with_loss):
        assert [e.code for e in fault_events("\n".join(lines))] == []


def test_a_traceback_glued_after_a_lightning_bar_is_followed() -> None:
    """tqdm ends a bar with `\\r`, not a newline: another rank's stderr then starts on the bar's line. The
    traceback is read from that line, with the other rank's prefix (torchrun's `[rank1]:`)."""
    from tests.conftest import fault_events

    traceback = [
        "[rank1]: Traceback (most recent call last):",
        '[rank1]:   File "/workspace/train.py", line 88, in <module>',
        "[rank1]:     trainer.fit(model, datamodule=dm)",
        "[rank1]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 1 has a total "
        "capacity of 79.10 GiB of which 1.02 GiB is free.",
    ]
    for bar in (lightning_default(0, 450, 1095), lightning_default(0, 450, 1095)[:-1] + ", train_loss=0.482]"):
        events = fault_events("\n".join([bar + traceback[0], *traceback[1:]]))
        assert [(e.code, e.line, e.rank) for e in events] == [("CUDA-OOM", 4, 1), ("PYTHON-EXCEPTION", 4, 1)]
        assert events[1].details is not None and events[1].details["traceback_line"] == 1


def test_the_bar_s_elapsed_time_is_the_clock_where_no_time_of_day_is_printed() -> None:
    """tqdm prints the time since the bar began as `format_interval` writes it (tqdm/std.py:
    `MM:SS`, `H:MM:SS` from an hour on). Beside the Hugging Face Trainer's bar, its dict lines
    print no time: the bar's elapsed time at its last redraw is their clock, so a step that hung
    for half an hour is a stall."""
    ctx, found = offer("Epoch 1:  40%|████      | 8/20 [1:02:31<00:47,  3.92s/it, loss=4.51, v_num=7]",
                       " 30%|███       | 300/1000 [?<?, ?it/s, loss=1.93]")
    assert found[0] is not None and found[0].epoch_s == 3751.0 and found[0].time is None
    assert found[1] is not None and found[1].epoch_s is None
    lines, elapsed = [], 0.0
    for n in range(1, 201):
        elapsed += 0.74 if n != 150 else 1805.0
        minutes, seconds = divmod(int(elapsed), 60)
        rate = "1805.00s/it" if n == 150 else "1.35it/s"
        lines.append(f" {n * 100 // 500:2d}%|▌         | {n}/500 [{minutes:02d}:{seconds:02d}<05:00, {rate}]")
        if n % 10 == 0:
            loss = 2.5 - n * 0.001
            lines.append(f"{{'loss': {loss:.4f}, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'epoch': {n / 500}}}")
    events = events_both_ways("\n".join(lines) + "\n")
    assert events.count("code='STALL'") == 1 and "step=140" in events and "no progress for 30m 1" in events


def test_a_bar_named_after_its_run_that_shows_a_loss_is_the_training_bar() -> None:
    """ai-toolkit names its bar after the job and writes its postfix as one string (`lr: 2.0e-04 loss:
    5.226e-01`, as ostris/ai-toolkit#595 shows): a description without a training word is the training
    bar when its postfix holds a loss; an evaluation word or no loss still rules a bar out."""
    ctx, found = offer(
        "flux-lora-7:  10%|9         | 299/3000 [10:44<1:37:05,  2.16s/it, lr: 2.0e-04 loss: 5.226e-01]",
        "Validation:  10%|9         | 30/300 [00:44<05:05,  1.16s/it, loss: 5.9e-01]",
        "flux-lora-7:  20%|##        | 20/100 [00:09<00:36,  2.20it/s]",
    )
    record = found[0]
    assert record is not None and (record.step, record.loss, record.lr) == (299, 0.5226, 0.0002)
    assert record.step_time_s == 2.16 and record.epoch_s == 644.0
    assert found[1:] == [None, None] and ctx.step == 299


def test_a_bar_s_whole_seconds_are_never_the_step_time() -> None:
    """VeOmni's bar (`Epoch 1/1:   0%|  | 2/3828049 [00:05<2936:58:47,  2.76s/it, loss: 11.58, grad_norm:
    29.12, lr: 2.24e-08]`, ByteDance-Seed/VeOmni#269) first redraws without a rate (`?it/s`). Its
    elapsed time counts whole seconds: steps of 1.75 s read from it are 1 s, then mostly 2 s,
    which is no slowdown; the step time is the bar's rate."""
    def bar(n: int, elapsed: float, rate: str, loss: float) -> str:
        return (f"Epoch 1/1:   0%|          | {n}/3828049 [00:{int(elapsed):02d}<1877:57:20, {rate}, "
                f"loss: {loss:.2f}, grad_norm: 29.50, lr: {1.12e-08 * (n + 1):.2e}]")

    lines, elapsed, loss = [bar(0, 4.0, "?it/s", 11.4)], 4.0, 11.4
    for n in range(1, 30):  # the count moves on, then the postfix: two redraws a step
        rate = f"{1.5 + 2.5 / n:.2f}s/it"
        lines.append(bar(n, elapsed, rate, loss))
        elapsed, loss = elapsed + 1.75, loss - 0.01
        lines.append(bar(n, elapsed, rate, loss))
    events = events_both_ways("\n".join(lines) + "\n")
    assert "SLOWDOWN" not in events
    assert [r.loss for r in steps("\n".join(lines[:3]) + "\n")] == [11.4, 11.4, 11.39]


def gluonts_epoch(epoch: int, seconds: int, loss: float, at: str) -> list[str]:
    """One epoch of GluonTS's MXNet trainer (gluonts/mx/trainer/_base.py): the epoch's bar, closed at
    100% with `epoch=N/M` and `avg_epoch_loss` in its postfix, then the trainer's own log lines about
    the epoch that ended (counted from 0 where the bar counts from 1)."""
    rate = 600 / seconds
    return [
        f"100%|██████████| 600/600 [{seconds // 60:02d}:{seconds % 60:02d}<00:00,  {rate:.2f}it/s, "
        f"epoch={epoch + 1}/40, avg_epoch_loss={loss:.3f}]",
        f"2021-03-02 {at},101 : INFO : Epoch[{epoch}] Elapsed time {seconds + 0.214:.3f} seconds",
        f"2021-03-02 {at},102 : INFO : Epoch[{epoch}] Evaluation metric 'epoch_loss'={loss + 0.0003:.6f}",
        f"2021-03-02 {at},110 : INFO : Epoch[{epoch + 1}] Learning rate is 0.001",
    ]


def test_an_epoch_in_the_postfix_is_the_bars_epoch() -> None:
    """GluonTS's bar counts the batches of one epoch and names the epoch in its postfix (`epoch=3/40`):
    each closed bar is that epoch's record, so its rate is a step time of its own (not another line
    about the same step), and the trainer's per-epoch summaries, counted from 0, are no restart."""
    steady = [line for e, t in enumerate(("10:02:00", "10:04:10", "10:06:20", "10:08:30"))
              for line in gluonts_epoch(e, 130, 5.1 - 0.2 * e, t)]
    bars = [r for r in steps(lines(*steady)) if r.step == 600]
    assert [r.epoch for r in bars] == [1, 2, 3, 4]
    assert [r.step_time_s for r in bars] == [1 / 4.62] * 4  # the bar's rate, 4.62it/s
    assert events_both_ways(lines(*steady)) == "[]"
    slower = steady[:4] + [line for e, t in enumerate(("10:07:30", "10:10:50", "10:14:10", "10:17:30"), 1)
                           for line in gluonts_epoch(e, 200, 5.1 - 0.2 * e, t)]
    events = events_both_ways(lines(*slower))
    assert "code='SLOWDOWN'" in events and "STEP-RESTART" not in events


def lines(*text: str) -> str:
    return "\n".join(text) + "\n"
