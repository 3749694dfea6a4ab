"""Metric records written as one JSON object per line.

Layouts follow hiyouga/LLaMA-Factory `src/llamafactory/train/callbacks.py`
(`LogCallback.on_log` writing `trainer_log.jsonl` with `json.dumps`: `current_steps`,
`total_steps`, `loss` or `eval_loss`, `lr`, `epoch`, ...; NaN as the bare token `NaN`;
`on_prediction_step` progress objects without a loss) and facebookresearch/fairseq
`fairseq/logging/progress_bar.py` (`JsonProgressBar`: `epoch`, `update` as a fractional
epoch, string-valued stats, `<tag>_`-prefixed keys from `print`), plus wandb-style
`train/...` keys. Values are made up.
"""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.parsers.base import ParseContext
from monitor.parsers.jsonlines import MAX_JSON_CHARS, JsonLinesParser
from tests.conftest import steps


def llamafactory(step: int, loss: str = "1.2345", key: str = "loss") -> str:
    return (
        f'{{"current_steps": {step}, "total_steps": 3000, "{key}": {loss}, "lr": 4.8e-05, "epoch": 0.12, '
        f'"percentage": 4.0, "elapsed_time": "0:10:02", "remaining_time": "4:00:48"}}'
    )


FAIRSEQ_INNER = (
    '2021-06-01 08:00:00 | INFO | train_inner | {"epoch": 2, "update": 1.25, "loss": "7.913", '
    '"nll_loss": "6.402", "ppl": "84.57", "wps": "30112.4", "ups": "0.21", "wpb": "143360", "bsz": "1120", '
    '"num_updates": "1400", "lr": "0.000175", "gnorm": "0.882", "loss_scale": "8", "train_wall": "48", '
    '"wall": "6720"}'
)


def test_llamafactory_training_record() -> None:
    [r] = steps(llamafactory(120))
    assert (r.step, r.total_steps, r.loss, r.lr, r.epoch) == (120, 3000, 1.2345, 4.8e-5, 0.12)
    assert r.eval_loss is None and r.line == 1


def test_llamafactory_nan_eval_loss_is_an_eval_record_at_its_step() -> None:
    train, evaluation, later = steps(
        llamafactory(400, "0.0") + "\n" + llamafactory(400, "NaN", key="eval_loss") + "\n" + llamafactory(420)
    )
    assert (train.step, train.loss, train.is_eval) == (400, 0.0, False)
    assert evaluation.step == 400 and evaluation.is_eval and math.isnan(evaluation.eval_loss)
    assert evaluation.loss is None
    assert later.step == 420


def test_llamafactory_nan_training_loss_is_found_at_its_step() -> None:
    records = steps("\n".join(llamafactory(s, "NaN" if s == 60 else "1.5") for s in (20, 40, 60, 80)))
    assert [r.step for r in records if r.loss is not None and math.isnan(r.loss)] == [60]


def test_infinity_tokens_and_string_nan() -> None:
    plus, minus, text = steps(
        '{"step": 1, "loss": Infinity}\n{"step": 2, "loss": -Infinity}\n{"step": 3, "loss": "nan"}'
    )
    assert plus.loss == math.inf and minus.loss == -math.inf and math.isnan(text.loss)


def test_prediction_progress_without_a_loss_is_not_a_record() -> None:
    line = '{"current_steps": 5, "total_steps": 50, "percentage": 10.0, "elapsed_time": "0:00:09"}'
    assert steps(line) == []


def test_fairseq_json_bar_with_string_values() -> None:
    [r] = steps(FAIRSEQ_INNER)
    assert (r.step, r.loss, r.grad_norm, r.lr, r.loss_scale) == (1400, 7.913, 0.882, 0.000175, 8.0)
    assert (r.tokens_per_s, r.epoch) == (30112.4, 2.0)
    assert r.time == "2021-06-01T08:00:00"


def test_fairseq_update_is_a_fractional_epoch_not_a_step() -> None:
    assert steps('{"epoch": 13, "update": 12.5, "loss": "4.1"}') == []
    assert steps('{"epoch": 13, "update": 12.0, "loss": "4.1"}') == []


def test_fairseq_validation_print_is_an_eval_record() -> None:
    line = (
        '2021-06-01 08:05:00 | INFO | valid | {"epoch": 2, "valid_loss": "7.702", "valid_nll_loss": "6.188", '
        '"valid_ppl": "72.9", "valid_num_updates": "1500", "valid_best_loss": "7.702"}'
    )
    [r] = steps(line)
    assert (r.step, r.eval_loss, r.loss, r.is_eval, r.epoch) == (1500, 7.702, None, True, 2.0)


def test_a_record_whose_mode_is_val_is_an_evaluation_record() -> None:
    """mmcv's TextLoggerHook (mmcv/runner/hooks/logger/text.py, `_dump_log`) writes every record of
    `log.json` with `mode` first: `"mode": "val"` records carry the same `loss` and `time` keys as
    training ones, and their `iter` counts validation batches. They are evaluation records: no training
    loss, no step time, and their count going back is no restart."""
    from tests.conftest import fault_events

    rows = [
        {"mode": "train", "epoch": 7, "iter": 10 * i, "lr": 0.0004, "loss": 0.41 - 0.001 * i, "time": 0.012}
        for i in range(1, 9)
    ]
    rows.append({"mode": "val", "epoch": 7, "iter": 25, "lr": 0.0004, "loss": 0.52, "time": 0.13})
    rows += [
        {"mode": "train", "epoch": 8, "iter": 10 * i, "lr": 0.0004, "loss": 0.39, "time": 0.012} for i in (1, 2)
    ]
    text = "\n".join(json.dumps(row) for row in rows)
    read = steps(text)
    val = read[8]
    assert (val.step, val.loss, val.eval_loss, val.step_time_s) == (25, None, 0.52, None)
    assert read[7].loss == rows[7]["loss"] and read[7].step_time_s == 0.012
    assert not fault_events(text)
    [phase] = steps(json.dumps({"phase": "Validation", "step": 300, "loss": 1.5}))
    assert (phase.loss, phase.eval_loss) == (None, 1.5)
    [train] = steps(json.dumps({"mode": "train", "step": 300, "loss": 1.5}))
    assert (train.loss, train.eval_loss) == (1.5, None)


def test_wandb_style_split_keys() -> None:
    line = json.dumps({
        "train/global_step": 700, "train/loss": 2.25, "train/grad_norm": 0.5, "train/learning_rate": 1e-4,
        "eval/loss": 2.5, "_runtime": 61.2,
    })
    [r] = steps(line)
    assert (r.step, r.loss, r.grad_norm, r.lr, r.eval_loss, r.is_eval) == (700, 2.25, 0.5, 1e-4, 2.5, False)


def test_nested_values_are_ignored() -> None:
    assert steps('{"step": 1, "loss": {"total": 2.0}}') == []
    [r] = steps('{"step": 3, "loss": 2.0, "extra": {"loss": 5.0, "step": 9}}')
    assert (r.step, r.loss) == (3, 2.0)


def test_step_must_be_integral_and_loss_numeric() -> None:
    assert steps('{"step": 3.5, "loss": 2.0}') == []
    assert steps('{"step": true, "loss": 2.0}') == []
    assert steps('{"step": 3, "loss": "n/a"}') == []
    assert steps('{"step": 3, "loss": true}') == []


def test_bad_json_returns_none_without_raising() -> None:
    parser, ctx = JsonLinesParser(), ParseContext("x.log", None, 2024)
    too_long = '{"step": 1, "loss": 2.0, "pad": "' + "x" * MAX_JSON_CHARS + '"}'
    deep = '{"loss": ' * 5000 + "1" + "}" * 5000
    digits = '{"step": 1, "loss": 2.0, "big": 1' + "0" * 5000 + "}"  # over Python's int-parsing limit
    for line in (too_long, deep, digits, '{"step": 1, "loss": 2.0', '{"step": 1 "loss" 2}', '["loss"]',
                 '{"' * (1 << 19)):
        assert parser.parse(line, 1, ctx) is None


def test_huge_integer_value_becomes_none() -> None:
    [r] = steps('{"step": 4, "loss": 1.5, "lr": 1' + "0" * 400 + "}")
    assert (r.step, r.loss, r.lr) == (4, 1.5, None)


@given(st.dictionaries(st.text(max_size=12), st.one_of(st.none(), st.booleans(), st.floats(), st.integers(),
                                                       st.text(max_size=8)), max_size=8))
def test_arbitrary_objects_never_raise(data: dict) -> None:
    parser, ctx = JsonLinesParser(), ParseContext("x.log", None, 2024)
    data.setdefault("loss", 1.0)
    parser.parse(json.dumps(data), 1, ctx)


@given(st.integers(min_value=0, max_value=10**9), st.floats(allow_nan=True, allow_infinity=True))
def test_generated_records_parse_back(step: int, loss: float) -> None:
    [r] = steps(json.dumps({"current_steps": step, "loss": loss}))
    assert r.step == step
    assert (math.isnan(r.loss) and math.isnan(loss)) or r.loss == loss


def test_a_time_field_and_namespaced_keys_give_the_clock_and_the_step_time() -> None:
    """A JSON-lines logger that writes its own clock: an ISO `time`, or epoch seconds under `timestamp`
    or wandb's `_timestamp`; `train/step_time_s` is read through the slot vocabulary."""
    records = steps(
        '{"time": "2025-03-04T10:31:08.412Z", "step": 2580, "train/loss": 3.09, "train/step_time_s": 0.40}\n'
        '{"_timestamp": 1741085468.5, "step": 2590, "train/loss": 3.08, "train/step_time_ms": 410.0}'
    )
    assert [r.step for r in records] == [2580, 2590]
    assert records[0].time == "2025-03-04T10:31:08.412000+00:00" and records[0].step_time_s == 0.40
    assert records[1].epoch_s == 1741085468.5 and abs(records[1].step_time_s - 0.41) < 1e-9


def test_a_twenty_minute_gap_between_json_records_is_a_stall_and_growing_step_time_a_slowdown() -> None:
    from tests.conftest import fault_events

    rows = []
    clock = 1_741_000_000.0
    for i in range(40):
        step_time = 0.4 if i < 30 else 1.2
        clock += step_time * 10 + (1200 if i == 20 else 0)
        rows.append(f'{{"timestamp": {clock}, "step": {10 * i}, "train/loss": {3.0 - i * 0.01:.3f}, '
                    f'"train/step_time_s": {step_time}}}')
    codes = {e.code for e in fault_events("\n".join(rows))}
    assert {"STALL", "SLOWDOWN"} <= codes
