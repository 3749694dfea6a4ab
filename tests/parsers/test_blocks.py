"""Metrics printed as a vertical block of `key | value` rows: one record per block.

Layouts, as the loggers print them (values made up):
- OpenAI baselines / stable-baselines `baselines/logger.py` `HumanOutputFormat.writekvs`: dashes,
  `'| %s%s | %s%s |' % (key, pad, val, pad)` per key (sorted), dashes; floats as `'%-8.3g'`.
- Stable-Baselines3 `stable_baselines3/common/logger.py` `HumanOutputFormat.write`: the same frame;
  a key's namespace (`train/`) printed once as a row with an empty value, the key indented by three
  spaces under it; floats as `f"{value:<8.3g}"`.
- rllab / garage / rlpyt `logger.dump_tabular`: `tabulate` rows (`key  value`), each behind the
  logger's `"%s | %s" % (timestamp, line)`; statistics as `loss/Average`, `loss/Std`, ...
"""

from __future__ import annotations

import math

from pytest import approx

from tests.conftest import fault_events, steps


def baselines_block(nupdates: int, policy_loss: str, value_loss: str) -> list[str]:
    dashes = "-" * 38
    return [
        dashes,
        f"| approxkl           | {'0.00031':<13} |",
        f"| ep_rewmean         | {'nan':<13} |",
        f"| nupdates           | {nupdates:<13} |",
        f"| policy_loss        | {policy_loss:<13} |",
        f"| total_timesteps    | {nupdates * 128:<13} |",
        f"| value_loss         | {value_loss:<13} |",
        dashes,
    ]


def test_baselines_blocks_are_records_with_the_step_of_nupdates() -> None:
    text = "\n".join(
        ["Logging to /tmp/openai-2024-01-02", *baselines_block(1, "-0.0042", "38.1"),
         *baselines_block(2, "-0.0017", "31.7"), *baselines_block(3, "nan", "nan")]
    )
    records = steps(text)
    assert [r.step for r in records] == [1, 2, 3]
    assert records[0].loss == approx(-0.0042)  # the first loss of the block; a reward is no loss
    assert math.isnan(records[2].loss)
    assert [r.line for r in records] == [6, 14, 22]  # the loss's own row
    events = fault_events(text)
    assert [(e.code, e.line, e.step) for e in events if str(e.kind) == "nan"][:1] == [("LOSS-NAN", 22, 3)]


def test_a_reward_that_is_nan_is_not_a_nan_loss() -> None:
    """An empty episode buffer prints `ep_rewmean nan`: no loss or grad norm is non-finite."""
    text = "\n".join([*baselines_block(7, "-0.0042", "38.1"), *baselines_block(8, "-0.0040", "36.0")])
    assert [str(e.kind) for e in fault_events(text)] == []
    assert [r.step for r in steps(text)] == [7, 8]


def sb3_block(iteration: int, loss: str) -> list[str]:
    dashes = "-" * 41
    rows = [("rollout/", ""), ("   ep_len_mean", "212"), ("   ep_rew_mean", "212"), ("time/", ""),
            ("   fps", "1490"), ("   iterations", str(iteration)), ("   total_timesteps", str(iteration * 2048)),
            ("train/", ""), ("   entropy_loss", "-0.61"), ("   learning_rate", "0.0003"), ("   loss", loss),
            ("   n_updates", str(iteration * 10)), ("   value_loss", "44.2")]
    return [dashes, *(f"| {key:<23} | {value:<11} |" for key, value in rows), dashes]


def test_stable_baselines3_groups_name_the_keys_under_them() -> None:
    text = "\n".join([*sb3_block(2, "5.85"), *sb3_block(3, "6.1"), *sb3_block(4, "nan")])
    records = steps(text)
    assert [r.step for r in records] == [20, 30, 40]  # train/n_updates: the optimizer's steps
    assert records[0].loss == approx(5.85)  # train/loss itself, not a component
    assert records[0].lr == approx(3e-4)
    assert math.isnan(records[2].loss)


def test_rllab_tabular_rows_behind_the_timestamp() -> None:
    """`loss/Average` is the loss; the spread of a statistic (`loss/Std`, `loss/Max`) is not."""
    rows = []
    for itr, loss in ((10, "0.412"), (11, "0.398"), (12, "nan")):
        for key, value in (("Diagnostics/Iteration", str(itr)), ("Diagnostics/CumSteps", str(itr * 5000)),
                           ("loss/Average", loss), ("loss/Std", "0.05"), ("loss/Max", "9.9")):
            rows.append(f"2024-05-01 10:{itr:02d}:01.112233  | {key:<30} {value}")
    records = steps("\n".join(rows))
    assert [(r.step, r.time) for r in records][:1] == [(10, "2024-05-01T10:10:01.112233")]
    assert [r.step for r in records] == [10, 11, 12]
    assert records[0].loss == approx(0.412)
    assert math.isnan(records[2].loss)


def test_a_block_without_a_step_counts_its_blocks() -> None:
    text = "\n".join(["| policy_loss | 0.5 |", "| value_loss | 3.1 |", "-" * 20,
                      "| policy_loss | 0.4 |", "| value_loss | 2.9 |", "-" * 20])
    assert [(r.step, r.loss) for r in steps(text)] == [(1, approx(0.5)), (2, approx(0.4))]


def test_tables_that_are_not_metric_blocks_give_no_record() -> None:
    """Lightning's model summary, a markdown table of words, one stray row, a progress layout whose
    key ends in a number, and rows with no loss."""
    text = "\n".join([
        "  | Name    | Type             | Params",
        "---------------------------------------------",
        "0 | model   | GPT              | 124 M",
        "1 | loss_fn | CrossEntropyLoss | 0",
        "| Model | Status |",
        "| gpt2  | ready  |",
        "| loss | 0.5 |",
        "",
        "epoch 3 | 0.52",
        "epoch 4 | 0.50",
        "| fps | 1200 |",
        "| iterations | 3 |",
    ])
    assert steps(text) == []


def test_the_line_after_a_block_still_reaches_the_fault_scanner() -> None:
    text = "\n".join([*baselines_block(1, "-0.0042", "38.1")[:-1],
                      "RuntimeError: CUDA error: an illegal memory access was encountered"])
    assert [e.code for e in fault_events(text)][:1] == ["CUDA-ILLEGAL-ADDRESS"]


def openpose_block(iteration: int, pafs: float, heatmaps: float) -> list[str]:
    """Lightweight OpenPose's `train.py` (Daniil-Osokin/lightweight-human-pose-estimation.pytorch):
    `print('Iter: {}'.format(num_iter))`, then per refinement stage
    `print('\\n'.join(['stage{}_pafs_loss:     {}', 'stage{}_heatmaps_loss: {}']).format(...))`."""
    rows = [f"Iter: {iteration}"]
    for stage in (1, 2):
        rows += [f"stage{stage}_pafs_loss:     {pafs * (1 + stage / 100)}",
                 f"stage{stage}_heatmaps_loss: {heatmaps * (1 + stage / 100)}"]
    return rows


def test_a_counter_alone_on_its_line_opens_a_block_of_key_colon_value_rows() -> None:
    text = "\n".join(
        ["Using 4 data loader workers"]
        + [row for it, pafs in ((100, 3.9), (200, 3.1), (300, 2.71), (400, "nan")) for row in openpose_block(
            it, pafs if isinstance(pafs, float) else math.nan, 0.83)]
    )
    records = steps(text)
    assert [r.step for r in records] == [100, 200, 300, 400]
    assert records[1].loss == approx(3.1 * 1.01)  # the first stage's loss: the first loss of the block
    assert [r.line for r in records][:2] == [3, 8]  # the loss's own row
    assert math.isnan(records[3].loss)
    assert [(e.code, e.step) for e in fault_events(text) if str(e.kind) == "nan"][:1] == [("LOSS-NAN", 400)]


def test_a_climb_in_such_blocks_is_a_divergence() -> None:
    """The loss of the first stage climbs 4.7, 7.6, 10.5, 12.7, 14.9 and does not come back."""
    text = "\n".join(row for it, pafs in ((200, 4.75), (300, 7.59), (400, 10.47), (500, 12.69), (600, 14.89))
                     for row in openpose_block(it, pafs, 1.1))
    assert "divergence" in [str(e.kind) for e in fault_events(text)]


def test_lone_key_colon_value_lines_stay_a_learned_layouts() -> None:
    """The PyTorch C++ API linear-regression example prints `std::cout << "Loss: " << loss << ...`
    each epoch (krshrimali/Linear-Regression-using-PyTorch-CPP): no counter opens a block, so each
    line is a record of the learned layout, and a counter followed by prose opens nothing."""
    text = "\n".join(["Iter: 3", "Training on 5000 samples", *[f"Loss: {v}" for v in (812.5, 640.2, 533.0, "-nan")]])
    records = steps(text)
    assert [r.loss for r in records][-3:-1] == [approx(640.2), approx(533.0)]  # once the shape repeats
    assert math.isnan(records[-1].loss)
    assert [e.code for e in fault_events(text)][:1] == ["LOSS-NAN"]


def test_an_indented_json_dict_per_report_is_a_block() -> None:
    """Chainer's `LogReport` (chainer/training/extensions/log_report.py: `json.dump(self._log, f, indent=4)`),
    ESPnet1's `log` file: a list of dicts, one `"key": value` per line (Python 2's json wrote `, ` at the
    line ends). `main/loss` is the loss, `validation/main/loss` the evaluation's, `iteration` the step; a
    report at an iteration before the last one is a resume from a snapshot."""
    def report(iteration: int, loss: float, end: str = ",") -> list[str]:
        return ["    {", f'        "main/loss": {loss}, ', f'        "main/loss_ctc": {loss * 1.4}, ',
                f'        "validation/main/loss": {loss * 0.5}, ', f'        "iteration": {iteration}, ',
                '        "eps": 1e-08, ', '        "epoch": 3', "    }" + end]
    text = "\n".join(["[", *report(1200, 131.5), *report(1300, 128.2), *report(1400, 126.0),
                      *report(1357, 127.1, end=""), "]"])
    records = steps(text)
    assert [r.step for r in records] == [1200, 1300, 1400, 1357]
    assert records[0].loss == approx(131.5) and records[0].epoch == 3
    assert [e.code for e in fault_events(text) if str(e.kind) == "restart"] == ["STEP-RESTART"]


def test_a_json_config_dump_gives_no_record() -> None:
    """`print(json.dumps(vars(args), indent=2))`: numbers, but no loss; a nested dict ends the block."""
    text = "\n".join(["{", '  "lr": 0.0003,', '  "max_grad_norm": 1.0,', '  "optimizer": {', '    "beta1": 0.9',
                      "  },", '  "epochs": 10', "}"])
    assert steps(text) == []


def test_an_epoch_alone_on_its_line_still_announces_the_epoch_of_the_lines_after_it() -> None:
    """`print(f"Epoch: {epoch}")` before each epoch's `step N loss X` lines: the step count starts again
    in every epoch, which is no restart; the epoch line opens no block."""
    rows = []
    for epoch in (1, 2, 3):
        rows += [f"Epoch: {epoch}", *(f"step {s} loss {2.4 - 0.1 * epoch - 0.0001 * s:.3f}" for s in (100, 200, 300))]
    text = "\n".join(rows)
    assert [r.epoch for r in steps(text)][-4:] == [2.0, 3.0, 3.0, 3.0]
    assert [e.code for e in fault_events(text)] == []


def test_an_evaluation_printed_as_indented_json_stands_at_the_current_step() -> None:
    """`print(json.dumps(metrics, indent=4))` after an evaluation (Python's json writes `NaN`): its loss is
    the evaluation's, at the step the training lines reached."""
    text = "\n".join(["step 100 loss 2.31", "step 200 loss 2.12", "{", '    "eval_loss": NaN,',
                      '    "eval_accuracy": 0.51,', '    "epoch": 1.0', "}", "step 300 loss 2.05"])
    evaluation = [r for r in steps(text) if r.is_eval]
    assert [(r.step, r.line) for r in evaluation] == [(200, 4)] and math.isnan(evaluation[0].eval_loss)
    assert [e.code for e in fault_events(text)] == ["EVAL-LOSS-NAN"]
