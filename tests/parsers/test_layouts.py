"""The layout learner's own rules: slots and their names, steps from context and repeats, the
vanished-loss NaN, elapsed time, tables, bounded memory and hostile lines.

The layouts of real frameworks, each modelled on its print statement, are in
`test_learned_layouts.py`; the lines here are hand-written loops (`step=... loss=...`) and
minimal shapes that isolate one rule. Values are made up.
"""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest import approx

from monitor.parsers import ParseContext, new_parser_set
from monitor.parsers.layouts import MAX_LINE_CHARS, MAX_SHAPES, LearnedParser
from monitor.parsers.slots import message_start, read_slots
from tests.conftest import steps


def parse(line: str):
    return LearnedParser().parse(line, 1, ParseContext("x.log", None, 2024))


def lines(*text: str) -> str:
    return "\n".join(text)


# ---------------------------------------------------------------- slots


@pytest.mark.parametrize(
    ("line", "name", "text", "unit"),
    [
        ("loss: 1.25", "loss", "1.25", None),
        ("loss=1.25", "loss", "1.25", None),
        ("'loss': 1.25", "loss", "1.25", None),
        ('"train/loss": 1.25', "train/loss", "1.25", None),
        ("| loss     nan (+nanz)|", "loss", "nan", None),
        ("Cost 5.21 :", "cost", "5.21", None),
        ("elapsed time per iteration (ms): 412.5 |", "elapsed time per iteration", "412.5", "ms"),
        ("Time 61.2s :", "time", "61.2", "s"),
        ("lr: 2.0000e-03", "lr", "2.0000e-03", None),
        ("Sen. 1,052,108 :", "sen.", "1,052,108", None),
    ],
)
def test_a_slot_is_named_by_the_label_before_it(line: str, name: str, text: str, unit: str | None) -> None:
    [slot] = read_slots(line, 0)
    assert (slot.text, slot.unit) == (text, unit)
    assert name.endswith(slot.name) or slot.split is not None


def test_units_after_a_number_glued_or_spaced() -> None:
    slots = read_slots("| 36.58 ms | 9.2% bf16 MFU | 112241 tok/s | 3.33s/it | 9390M", 0)
    assert [s.unit for s in slots] == ["ms", "% bf16 mfu", "tok/s", "s/it", "m"]


def test_non_finite_spellings_are_values() -> None:
    values = [s.value for s in read_slots("a: nan b: -nan c: NaN d: inf e: -Infinity f: 1.#INF g: -1.#IND", 0)]
    assert [math.isnan(v) for v in values] == [True, True, True, False, False, False, True]
    assert values[3:6] == [math.inf, -math.inf, math.inf]


def test_a_non_finite_value_with_a_message_glued_to_it_is_a_value() -> None:
    """Keras redraws its bar in place, and another generator's `Epoch 1/1000` lands right after the
    loss (ReLERNN's issue 26 log: `loss: nanEpoch 1/1000`). A word that only starts like one
    (`nanoGPT`, `InfoNCE`, `INFO`) is no value."""
    [_bar, _eta, loss, epoch] = read_slots(" 99/100 [=======>.] - ETA: 3s - loss: nanEpoch 1/1000", 0)
    assert loss.name == "loss" and math.isnan(loss.value) and epoch.text == "1/1000"
    assert [s.text for s in read_slots("infEpoch 2", 0)][0] == "inf"
    assert [s.text for s in read_slots("INFO nanoGPT InfoNCE Information 7", 0)] == ["7"]


def test_identifiers_and_dates_are_not_numbers() -> None:
    assert [s.text for s in read_slots("model fp16 bf16 R-50 v2 loss: 2.5", 0)] == ["2.5"]


def test_a_printed_tensor_is_read_as_its_value() -> None:
    records = steps(lines(
        "epoch 3 step 100 loss: tensor(2.3012, device='cuda:0', grad_fn=<NllLossBackward0>)",
        "Iteration 120, loss = tensor([nan], device='cuda:0')",
    ))
    assert [r.step for r in records] == [100, 120]
    assert records[0].loss == approx(2.3012) and math.isnan(records[1].loss)


def test_an_index_between_a_name_and_a_colon_is_the_step_of_the_value_after_it() -> None:
    """Apex's speech examples: `Validation loss 8416:  0.711720`."""
    records = steps("Validation loss 7890:  0.148049\nValidation loss 8416:  0.711720")
    assert [(r.step, r.eval_loss, r.loss) for r in records] == [(7890, 0.148049, None), (8416, 0.71172, None)]


def test_clock_durations_are_one_slot() -> None:
    [eta, loss] = read_slots("eta: 2 days, 3:04:05  loss: 1.5", 0)
    assert eta.value == 2 * 86400 + 3 * 3600 + 4 * 60 + 5 and loss.value == 1.5


@pytest.mark.parametrize(
    "prefix",
    ["", "[1744] ", "worker-3: ", "[default0]:", "[rank1]:", "3: ", "2024-05-02 10:11:12,123 INFO ",
     "[2024-05-02 10:11:12] ", "I0502 10:11:12.123456 4321 train.py:48] ", "[05/02 10:11:12 d2.utils.events]: ",
     # absl-py (absl/logging/__init__.py, get_absl_log_prefix) prints Python's thread id, a 64-bit number
     "E0526 15:34:12.011717 140569525946176 basic_session_run_hooks.py:760] "],
)
def test_the_message_starts_after_every_prefix(prefix: str) -> None:
    line = prefix + "step 12 | loss 2.5"
    assert line[message_start(line):].lstrip().startswith("step 12")


def test_a_thread_id_is_no_step() -> None:
    """TensorFlow's NaN guard through absl logging: the thread id in front is not the step."""
    [record] = steps("E0526 15:34:12.011717 140569525946176 basic_session_run_hooks.py:760] "
                     "Model diverged with loss = NaN.")
    assert record.step is None and math.isnan(record.loss)


# ---------------------------------------------------------------- records


def test_pipe_separated_pairs_with_a_timestamp() -> None:
    [r] = steps("2024-05-02 10:11:12 | step=1200 | loss=2.4513 | lr=3.0e-04 | grad_norm=0.811")
    assert (r.step, r.loss, r.lr, r.grad_norm) == (1200, 2.4513, 3e-4, 0.811)
    assert r.time == "2024-05-02T10:11:12"


def test_colon_pairs_with_a_total_a_split_prefix_an_epoch_and_a_rank() -> None:
    [r] = steps("[rank3]: iter: 350/10000, train_loss: 5.1021, learning_rate: 1.2e-4, epoch: 1, time: 0.51s")
    assert (r.step, r.total_steps, r.loss, r.lr, r.epoch, r.rank) == (350, 10000, 5.1021, 1.2e-4, 1.0, 3)
    assert r.step_time_s == approx(0.51)


def test_a_plain_loss_wins_over_component_losses() -> None:
    [r] = steps("step=10 aux_loss=0.01 loss=3.25 z_loss=0.002")
    assert r.loss == 3.25


def test_perplexity_alone_gives_the_loss_as_its_log() -> None:
    [r] = steps("step 100 | ppl 20.0 | lr 1e-4")
    assert r.loss == approx(math.log(20.0))


def test_eval_only_line_is_an_eval_record() -> None:
    [r] = steps("2024-05-02 10:20:00 INFO eval | step=800 | val_loss=3.0125 | val_ppl=20.34")
    assert (r.step, r.eval_loss, r.loss, r.is_eval) == (800, 3.0125, None, True)
    [both] = steps("step: 900, loss: 2.9, valid loss: 3.1")
    assert (both.loss, both.eval_loss, both.is_eval) == (2.9, 3.1, False)


def test_a_line_marked_as_validation_gives_evaluation_values() -> None:
    [r] = steps("[valid] Ep. 2 : Up. 80000 : cross-entropy : 53.94 : new best")
    assert (r.step, r.eval_loss, r.loss) == (80000, 53.94, None)


def test_ms_rates_and_intervals_become_seconds_per_step() -> None:
    records = steps(lines(
        "step 1 | loss 2.0 | 350.0 ms", "step 2 | loss 1.9 | 2.5 it/s", "step 3 | loss 1.8 | (1.25 sec/step)",
    ))
    assert [r.step_time_s for r in records] == [approx(0.35), approx(0.4), approx(1.25)]


def test_an_elapsed_time_gives_the_step_time_and_the_clock() -> None:
    """OpenNMT-py's trailing `N sec` is the time since the start: its growth per step is the step
    time, and with no timestamp printed it is the clock the stall detector reads."""
    records = steps(lines(
        "Step 100/1000; xent: 3.00; 1200 tok/s;    100 sec",
        "Step 150/1000; xent: 2.90; 1210 tok/s;    150 sec",
        "Step 200/1000; xent: 2.85; 1190 tok/s;    400 sec",
    ))
    assert [r.step_time_s for r in records] == [None, approx(1.0), approx(5.0)]
    assert [r.epoch_s for r in records] == [None, 150.0, 400.0]


def test_epoch_alone_is_the_step_of_a_run_that_logs_per_epoch() -> None:
    records = steps("epoch: 82 | loss: 0.79\nepoch: 83 | loss: 0.87")
    assert [(r.step, r.epoch, r.loss) for r in records] == [(82, 82.0, 0.79), (83, 83.0, 0.87)]


def test_a_counter_with_a_total_after_the_epoch_counts_batches_within_it() -> None:
    [r] = steps("Epoch 3, 1500/2000; loss: 2.5")
    assert (r.step, r.epoch, r.total_steps) == (1500, 3.0, 2000)


def test_an_epoch_announced_on_its_own_line_holds_for_the_lines_after_it() -> None:
    records = steps(lines("Epoch 2/10", "100/100 [======] - 12s 120ms/step - loss: 0.5 - acc: 0.9"))
    assert [(r.step, r.epoch) for r in records] == [(100, 2.0)]


# ---------------------------------------------------------------- repeats


def test_an_unnamed_counter_is_learned_when_it_rises_on_a_repeated_shape() -> None:
    records = steps(lines("100 | loss 2.50 | lr 1e-4", "200 | loss 2.40 | lr 1e-4", "300 | loss nan | lr 1e-4"))
    assert [r.step for r in records] == [200, 300]
    assert math.isnan(records[-1].loss)


def test_a_line_with_no_counter_takes_the_step_the_log_is_at_once_it_repeats() -> None:
    """TF's two-line epoch record: the epoch line gives the step, the time line follows it."""
    records = steps(lines(
        "Epoch: 0001 cost= 29.86", "time this epoch= 1.75", "Epoch: 0002 cost= 22.11", "time this epoch= 1.87",
    ))
    assert [(r.step, r.loss, r.step_time_s) for r in records] == [
        (1, 29.86, None), (2, 22.11, None), (2, None, 1.87),
    ]


def test_a_non_finite_loss_or_grad_norm_counts_even_without_a_step() -> None:
    records = steps(lines(
        "iteration 5/50 | elapsed time per iteration: 21392.5 ms |", "loss scale: 1.0 | grad norm: nan |",
    ))
    assert any(r.grad_norm is not None and math.isnan(r.grad_norm) for r in records)


def test_a_loss_that_every_line_printed_and_this_one_lacks_was_nan() -> None:
    """Frameworks print a loss only when its mean is >= 0, which NaN is not: the field vanishes."""
    records = steps(lines(
        "iter 10 | loss 2.5 | lr 1e-4 | grad_norm 1.2",
        "iter 20 | loss 2.4 | lr 1e-4 | grad_norm 1.1",
        "iter 30 | lr 1e-4 | grad_norm 9.9",
    ))
    assert [r.step for r in records] == [10, 20, 30]
    assert math.isnan(records[-1].loss)


def test_a_different_metric_on_the_same_step_is_no_vanished_loss() -> None:
    """MXNet's Speedometer prints each metric on its own line."""
    records = steps(lines(*[
        f"Epoch[0] Batch [{i}]\tSpeed: 95.7 samples/sec\t{name}={value}"
        for i in (20, 40, 60) for name, value in (("Train-CrossEntropy", 3.1), ("Train-SmoothL1", 0.7))
    ]))
    assert not any(r.loss is not None and math.isnan(r.loss) for r in records)


def test_a_table_row_takes_its_names_from_the_header() -> None:
    records = steps(lines(
        "epoch       iteration   main/loss   validation/main/loss  lr",
        "0           1000        4.5                               0.01",
        "1           2000        3.9         3.7                   0.01",
        "training finished",
        "7           7000        1.0",
    ))
    assert [(r.step, r.epoch, r.loss, r.eval_loss) for r in records] == [(1000, 0.0, 4.5, None), (2000, 1.0, 3.9, 3.7)]


# ---------------------------------------------------------------- the format and the dispatcher


def test_a_learned_layout_becomes_the_format_and_framework_lines_still_meet_their_parser() -> None:
    parsers = new_parser_set(ParseContext("x.log", None, 2024))
    records = parsers.parse_lines(enumerate([
        "step=1 loss=2.0", "step=2 loss=1.9", "step=3 loss=1.8",
        " iteration       40/    1000 | consumed samples:          160 | elapsed time per iteration (ms): 356.2 | "
        "learning rate: 1.000E-04 | global batch size:     4 | lm loss: 7.1E+00 | loss scale: 1.0 | "
        "number of skipped iterations:   0 | number of nan iterations:   0 |",
    ], 1))
    assert [r.step for r in records] == [1, 2, 3, 40]
    assert parsers.primary is not None and parsers.primary.name == "learned"
    assert parsers.records_by_format["megatron"] == 1


def test_the_state_round_trips_through_snapshot_and_pickle() -> None:
    parser, ctx = LearnedParser(), ParseContext("x.log", None, 2024)
    for i, line in enumerate(["100 | loss 2.5", "200 | loss 2.4", "Epoch 3/9"], 1):
        parser.parse(line, i, ctx)
    state = pickle.loads(pickle.dumps(parser.snapshot()))
    other = LearnedParser()
    other.restore(state)
    assert other.snapshot() == parser.snapshot()
    assert other.parse("300 | loss 2.3", 4, ctx).step == 300


# ---------------------------------------------------------------- near misses and hostile input


def test_configuration_dumps_are_not_step_lines() -> None:
    assert parse("Namespace(batch_size=32, fp16=True, loss_scale=None, lr=0.0003, max_epochs=10, seed=1234)") is None
    assert parse("Namespace(step=0, loss=0.5, loss_scale=None, lr=0.0003)") is None
    assert parse("TrainingArguments(output_dir='out', logging_steps=10, step=0, loss=1.0)") is None


def test_prose_mentioning_a_step_and_a_loss_is_not_a_step_line() -> None:
    assert parse("Resuming training from step: 5000 with best loss: 2.13 from the previous run") is None
    assert parse("the loss went up at step 300 and the loss scale dropped") is None
    assert parse("Warning: loss is not decreasing since iteration 20") is None


def test_keys_that_only_look_like_steps_or_losses() -> None:
    assert parse("loss_scale=1024 step=5") is None  # a loss scale is not a loss
    assert parse("step=1.5 loss=2.0") is None  # not a whole step
    assert parse("step=5 loss=ce") is None  # the loss is a name, not a value
    assert parse("global_step=-1 loss=2.0") is None


def test_huge_and_garbage_lines_return_none() -> None:
    assert parse("step=1 loss=2.0 " + "x" * MAX_LINE_CHARS) is None
    assert parse(("step=" + "loss=" * 100) * 2) is None
    assert parse("\x00\ufffd step=\x00 loss=\ufffd") is None


def test_shapes_held_per_source_are_bounded() -> None:
    parser, ctx = LearnedParser(), ParseContext("x.log", None, 2024)
    for i in range(MAX_SHAPES * 3):
        parser.parse(f"step {i} | metric_{i}_x loss {1.0 + i} |" + " ." * (i % 7), i + 1, ctx)
    assert len(parser.shapes) <= MAX_SHAPES


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.text(max_size=120), min_size=2, max_size=6))
def test_random_text_repeated_never_raises(texts: list[str]) -> None:
    text = "\n".join(t.replace("\n", " ") for t in texts)
    steps(text + "\n" + text)


_PLAIN_WORDS = ["node", "worker", "alpha", "files", "queue", "host", "path", "rows", "cache", "size", "bytes", "chunk"]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(_PLAIN_WORDS), min_size=1, max_size=6), st.integers(min_value=2, max_value=6),
       st.sampled_from([" ", " | ", ", ", ": ", "="]))
def test_a_rising_counter_without_a_metric_never_becomes_a_layout(words: list[str], repeats: int, sep: str) -> None:
    """A layout needs a counter that rises on a repeated shape and a metric: a repeated line of plain
    words and numbers, every number rising, gives no record."""
    text = lines(*[sep.join(f"{word} {100 * i + k}" for k, word in enumerate(words)) for i in range(1, repeats + 1)])
    assert steps(text) == []


_SAMPLES = LearnedParser.samples


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(_SAMPLES), st.integers(min_value=0, max_value=400), st.text(max_size=8))
def test_mutated_progress_lines_never_raise(line: str, at: int, insert: str) -> None:
    at = min(at, len(line))
    mutated = line[:at] + insert + line[at + len(insert):]
    parse(mutated)
    steps(f"{mutated}\n{mutated}")


@given(st.integers(min_value=0, max_value=10**9), st.floats(allow_nan=True, allow_infinity=True, width=32))
def test_generated_lines_parse_back(step: int, loss: float) -> None:
    r = parse(f"step={step} loss={loss!r}")
    assert r is not None and r.step == step
    assert (math.isnan(r.loss) and math.isnan(loss)) or r.loss == loss


# ---------------------------------------------------------------- the compiled fast path


_LAYOUTS = [
    "[2018-11-26 14:47:{s:02d},759 INFO] Step {i}/50000; acc:  51.25; ppl:  8.43; xent: {x}; lr: 0.00066; "
    "1320/1445 tok/s;  {e} sec",
    "2024/05/10 15:46:{s:02d} - mmengine - INFO - Epoch(train)  [2][{i:>3}/788]  lr: 2.0000e-03  eta: 4:14:00  "
    "time: 0.8167  data_time: 0.0169  memory: 15943  grad_norm: 3.4572  loss: {x}  loss_cls: 0.8781",
    "INFO:tensorflow:global step {i}: loss = {x} (0.646 sec/step)",
    "[2021-07-17 12:54:{s:02d}] Ep. 1 : Up. {i} : Sen. 965,843 : Cost {x} : Time 359.59s : 3007.81 words/s",
    "{i} | loss {x} | lr 1e-4 | ppl 12.0",
]


@pytest.mark.parametrize("layout", _LAYOUTS)
def test_the_compiled_layout_gives_the_records_of_the_full_reading(layout: str, monkeypatch) -> None:
    """Once a shape repeats it is read by one regex match: every field, the clock from an elapsed
    slot and a NaN must come out as the full reading gives them."""
    losses = ["2.13", "2.11", "nan", "2.05", "inf", "1,024.5", "1.98"]
    text = lines(*[layout.format(i=100 * (k + 1), x=x, s=k, e=1000 + 50 * k) for k, x in enumerate(losses)])
    fast = steps(text)
    monkeypatch.setattr(LearnedParser, "_compile", lambda *args: None)
    slow = steps(text)
    assert len(fast) == len(slow) == len(losses) - ("{i} |" in layout)
    for a, b in zip(fast, slow):
        assert all(x == y or (x != x and y != y) for x, y in zip(a, b)), (a, b)


def test_a_repeated_shape_is_compiled_and_read_on_the_fast_path() -> None:
    parser, ctx = LearnedParser(), ParseContext("x.log", None, 2024)
    for i in range(1, 4):
        parser.parse(f"step {i} | loss {2.0 - i / 10} | lr 1e-4", i, ctx)
    assert len(parser.fast) == 1
    record = parser.parse_known("step 9 | loss 1.5 | lr 1e-4", 9, ctx)
    assert (record.step, record.loss, record.lr) == (9, 1.5, 1e-4)
    assert parser.parse_known("step 9 | loss 1.5 | lr 1e-4 | extra 3", 10, ctx) is None


def test_a_planned_total_printed_beside_the_step_is_its_total_on_both_paths(monkeypatch) -> None:
    text = lines(*[f"total_steps: {t} | step: {s} | loss: 1.5" for s, t in
                   ((10, "5000"), (20, "5000"), (30, "5000"), (40, "5,000"), (50, "5000.5"))])
    fast = [(r.step, r.total_steps) for r in steps(text)]
    monkeypatch.setattr(LearnedParser, "_compile", lambda *args: None)
    assert fast == [(r.step, r.total_steps) for r in steps(text)] == [
        (10, 5000), (20, 5000), (30, 5000), (40, 5000), (50, None)]


@pytest.mark.parametrize(
    "line",
    [
        "ValueError: Current global norm [52.118404] of step 7 has been 3 consecutive times greater than threshold 5.0",
        "[rank3]: torch.OutOfMemoryError: step 12: tried to allocate 2.00 GiB; loss 3.1",
        "RuntimeError: step 400 loss 2.5 grad_norm 1.2 mismatch",
    ],
)
def test_an_exception_line_is_never_a_record(line: str) -> None:
    """A Python exception's message quotes numbers (`... of step 7 ...`); the line is the fault
    scanner's (MindFormers' callback raises `ValueError(f"Current global norm {norm} of step {step} ...")`,
    mindformers/core/callback/callback.py)."""
    assert steps(line + "\n" + line) == []
