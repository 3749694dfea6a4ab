"""Step-time breakdowns: Megatron-LM timer blocks and `time (ms) | name: value` lines.

Layouts follow NVIDIA/Megatron-LM `megatron/core/timers.py` (`(min, max) time across
ranks (ms):`, `max time across ranks (ms):`, `times across ranks (ms):`, timer names
padded with dots to 48 columns), microsoft/Megatron-DeepSpeed `megatron/timers.py`
(max values under the `(min, max)` header), the one-line `time (ms) | name: value`
of Megatron-LM before 2022 and of deepspeedai/DeepSpeed `deepspeed/utils/timer.py`
(`[Rank 0] time (ms) | ...`, formerly `[Rank 0] rank=0 time (ms) | ...`, and the bare
line in 2020). Values are made up.
"""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.detectors.slowdown import timer_domain
from monitor.model import StepRecord, TimerRecord
from monitor.parsers import new_parsers
from monitor.parsers.base import PENDING, ParseContext
from monitor.parsers.timers import TimersParser
from tests.conftest import parse_text


def timers(text: str) -> list[TimerRecord]:
    return [r for r in parse_text(text) if isinstance(r, TimerRecord)]


def iteration(step: int) -> str:
    return (
        f" iteration {step:8d}/   20000 | consumed samples: {step * 256:12d} | elapsed time per iteration (ms): "
        "1533.7 | learning rate: 3.000000E-04 | global batch size:   256 | lm loss: 7.535963E+00 | loss scale: 1.0 "
        "| grad norm: 1.139 | number of skipped iterations:   0 | number of nan iterations:   0 |"
    )


def item(name: str, value: str) -> str:
    """A timer line as Megatron pads it: `'    {}: {}'.format((name + ' ').ljust(48, '.'), value)`."""
    return f"    {(name + ' ').ljust(48, '.')}: {value}"


MINMAX_BLOCK = "\n".join([
    "(min, max) time across ranks (ms):",
    item("forward-backward", "(4123.45, 4125.02)"),
    item("batch-generator", "(12.10, 30.75)"),
    item("all-grads-sync", "(80.00, 95.50)"),
    item("optimizer-inner-step", "(40.25, 41.00)"),
    item("optimizer", "(60.00, 61.30)"),
])


# -- Megatron-LM blocks ----------------------------------------------------


def test_minmax_block_gives_the_max_and_the_spread_of_each_timer() -> None:
    [r] = timers(MINMAX_BLOCK)
    assert r.timers == {
        "forward-backward": 4125.02,
        "batch-generator": 30.75,
        "all-grads-sync": 95.5,
        "optimizer-inner-step": 41.0,
        "optimizer": 61.3,
    }
    assert r.spread == {
        "forward-backward": 1.57,
        "batch-generator": 18.65,
        "all-grads-sync": 15.5,
        "optimizer-inner-step": 0.75,
        "optimizer": 1.3,
    }
    assert (r.line, r.step) == (1, None)
    assert r.text == MINMAX_BLOCK


def test_block_takes_the_step_of_the_iteration_line_before_it() -> None:
    text = "\n".join([iteration(90), MINMAX_BLOCK, iteration(100), MINMAX_BLOCK])
    records = parse_text(text)
    assert [type(r).__name__ for r in records] == ["StepRecord", "TimerRecord", "StepRecord", "TimerRecord"]
    assert [r.step for r in records] == [90, 90, 100, 100]
    assert [r.line for r in records] == [1, 2, 8, 9]


def test_max_only_block_has_no_spread() -> None:
    text = "\n".join([
        iteration(40),
        "max time across ranks (ms):",
        item("forward-backward", "1533.20"),
        item("optimizer", "48.07"),
    ])
    [r] = timers(text)
    assert r.timers == {"forward-backward": 1533.2, "optimizer": 48.07}
    assert (r.spread, r.step) == (None, 40)


def test_megatron_deepspeed_max_values_under_the_minmax_header() -> None:
    text = "\n".join([
        "(min, max) time across ranks (ms):",
        item("forward-backward", "25871.06"),
        item("optimizer", "(3391.14, 3393.50)"),
    ])
    [r] = timers(text)
    assert r.timers == {"forward-backward": 25871.06, "optimizer": 3393.5}
    assert r.spread == {"optimizer": 2.36}


def test_all_ranks_block_gives_the_slowest_rank_and_the_spread() -> None:
    text = "\n".join([
        iteration(10),
        "times across ranks (ms):",
        "  forward-backward:",
        "     rank  0: 1510.00",
        "     rank  1: 1522.50",
        "     rank 10: 1498.25",
        "  optimizer:",
        "     rank  0: 47.00",
    ])
    [r] = timers(text)
    assert r.timers == {"forward-backward": 1522.5, "optimizer": 47.0}
    assert r.spread == {"forward-backward": 24.25, "optimizer": 0.0}
    assert r.step == 10


def test_block_ends_at_an_iteration_line_and_the_line_is_still_read() -> None:
    text = "\n".join([
        iteration(100),
        "(min, max) time across ranks (ms):",
        item("forward-backward", "(14902.18, 15011.60)"),
        iteration(110),
        item("optimizer", "(39.84, 40.91)"),  # cut off from its block: nobody's line
    ])
    records = parse_text(text)
    assert [type(r).__name__ for r in records] == ["StepRecord", "TimerRecord", "StepRecord"]
    timer = records[1]
    assert isinstance(timer, TimerRecord)
    assert timer.timers == {"forward-backward": 15011.6}
    assert timer.step == 100
    assert records[2].step == 110


def test_block_at_the_end_of_the_input_is_handed_over() -> None:
    [r] = timers(iteration(5) + "\n(min, max) time across ranks (ms):\n" + item("optimizer", "(1.00, 2.00)"))
    assert (r.timers, r.step) == ({"optimizer": 2.0}, 5)


def test_block_with_launcher_prefixes_gets_their_rank() -> None:
    text = "\n".join([
        "[default7]:(min, max) time across ranks (ms):",
        "[default7]:" + item("forward-backward", "(208.72, 219.95)"),
        "[default7]:" + item("optimizer", "(39.84, 40.91)"),
    ])
    [r] = timers(text)
    assert r.timers == {"forward-backward": 219.95, "optimizer": 40.91}
    assert r.rank == 7


def test_names_with_spaces_and_names_too_long_for_dots() -> None:
    long_name = "forward-backward-send-forward-backward-recv-chunk-0"  # 51 characters: no dot padding
    text = "\n".join([
        "(min, max) time across ranks (ms):",
        item("batch generator", "(1.00, 2.50)"),
        item(long_name, "(3.00, 3.25)"),
    ])
    [r] = timers(text)
    assert r.timers == {"batch generator": 2.5, long_name: 3.25}


def test_setup_timers_before_training_have_no_step() -> None:
    text = "\n".join([
        "done with setup ...",
        "(min, max) time across ranks (ms):",
        item("model-and-optimizer-setup", "(5102.33, 5103.01)"),
        item("train/valid/test-data-iterators-setup", "(611.42, 738.90)"),
        "training ...",
    ])
    [r] = timers(text)
    assert r.timers == {"model-and-optimizer-setup": 5103.01, "train/valid/test-data-iterators-setup": 738.9}
    assert r.step is None


def test_header_without_timer_lines_gives_nothing() -> None:
    assert timers("(min, max) time across ranks (ms):\n" + iteration(3)) == []
    assert timers("max time across ranks (ms):") == []


def test_lines_that_are_not_timer_lines_end_the_block() -> None:
    text = "\n".join([
        "(min, max) time across ranks (ms):",
        item("optimizer", "(1.00, 2.00)"),
        "    ninja .................. [OKAY]",
        "  timing_log_option ............................... minmax",
        "    forward-backward ......: (n/a, 1.0)",
    ])
    [r] = timers(text)
    assert r.timers == {"optimizer": 2.0}


def test_a_long_line_ends_the_block_quickly() -> None:
    long_line = "x " * 200_000
    [r] = timers("(min, max) time across ranks (ms):\n" + item("optimizer", "(1.00, 2.00)") + "\n" + long_line)
    assert r.timers == {"optimizer": 2.0}


# -- one-line breakdowns ---------------------------------------------------


def test_old_megatron_line_takes_the_step_of_the_iteration_line() -> None:
    line = (
        "time (ms) | forward-compute: 61.08 | backward-compute: 44.91 | backward-params-all-reduce: 19.87 | "
        "backward-embedding-all-reduce: 0.04 | optimizer-copy-to-main-grad: 6.02 | optimizer: 55.93 | "
        "batch-generator: 4.86"
    )
    [r] = timers(iteration(30) + "\n" + line)
    assert r.timers == {
        "forward-compute": 61.08,
        "backward-compute": 44.91,
        "backward-params-all-reduce": 19.87,
        "backward-embedding-all-reduce": 0.04,
        "optimizer-copy-to-main-grad": 6.02,
        "optimizer": 55.93,
        "batch-generator": 4.86,
    }
    assert (r.spread, r.step, r.line, r.text) == (None, 30, 2, line)


def test_deepspeed_log_dist_line_with_its_rank_and_time() -> None:
    line = (
        "[2024-05-11 14:01:58,917] [INFO] [logging.py:96:log_dist] [Rank 0] time (ms) | fwd_microstep: 1412.08 | "
        "bwd_microstep: 6790.55 | bwd_inner_microstep: 6745.31 | bwd_allreduce_microstep: 45.12 | "
        "step_microstep: 1870.44"
    )
    [r] = timers(line)
    assert r.timers == {
        "fwd_microstep": 1412.08,
        "bwd_microstep": 6790.55,
        "bwd_inner_microstep": 6745.31,
        "bwd_allreduce_microstep": 45.12,
        "step_microstep": 1870.44,
    }
    assert r.spread is None
    assert r.rank == 0
    assert r.time == "2024-05-11T14:01:58.917000"


def test_deepspeed_rank_field_layout() -> None:
    line = (
        "[2023-07-02 11:20:40,904] [INFO] [logging.py:96:log_dist] [Rank 0] rank=0 time (ms) | forward: 1298.41 | "
        "backward: 4702.19 | backward_inner: 4337.60 | backward_allreduce: 364.59 | step: 0.07"
    )
    [r] = timers(line)
    assert r.timers == {
        "forward": 1298.41, "backward": 4702.19, "backward_inner": 4337.6, "backward_allreduce": 364.59, "step": 0.07,
    }
    assert r.rank == 0


def test_deepspeed_print_dist_and_bare_layouts() -> None:
    printed = "[Rank 0] time (ms) | fwd: 395.17 | bwd: 832.48 | bwd_inner: 789.73 | bwd_allreduce: 42.70 | step: 67.64"
    bare = "time (ms) | forward_microstep: 201.37 | backward_microstep: 318.64 | step_microstep: 0.81"
    first, second = timers(printed + "\n" + bare)
    assert first.timers == {"fwd": 395.17, "bwd": 832.48, "bwd_inner": 789.73, "bwd_allreduce": 42.7, "step": 67.64}
    assert second.timers == {"forward_microstep": 201.37, "backward_microstep": 318.64, "step_microstep": 0.81}


def test_deepspeed_lines_take_the_step_of_the_engine_line() -> None:
    text = "\n".join([
        "[2024-05-11 14:02:09,301] [INFO] [logging.py:96:log_dist] [Rank 0] step=2, skipped=0, lr=[0.0003], "
        "mom=[(0.9, 0.999)]",
        "[2024-05-11 14:02:09,302] [INFO] [logging.py:96:log_dist] [Rank 0] time (ms) | fwd: 1402.66 | bwd: 6811.03",
    ])
    records = parse_text(text)
    assert [type(r).__name__ for r in records] == ["StepRecord", "TimerRecord"]
    assert records[1].step == 2


def test_deepspeed_line_glued_to_a_bar_takes_the_bar_step() -> None:
    line = (
        "  5%|▌         | 17/340 [00:11<04:41,  1.15it/s][2023-07-02 11:20:41,218] [INFO] "
        "[logging.py:96:log_dist] [Rank 0] rank=0 time (ms) | optimizer_allgather: 8.12 | optimizer_gradients: 0.03 "
        "| optimizer_step: 58.77"
    )
    [r] = timers(line)
    assert r.timers == {"optimizer_allgather": 8.12, "optimizer_gradients": 0.03, "optimizer_step": 58.77}
    assert (r.step, r.rank) == (17, 0)


def test_fields_that_are_not_numbers_are_skipped() -> None:
    [r] = timers("[Rank 0] time (ms) | fwd: 12.50 | mem_allocated: 1.2345 GB | max_mem_allocated: 3.5000 GB")
    assert r.timers == {"fwd": 12.5}


def test_bare_header_of_bigscience_logs_gives_nothing() -> None:
    records = parse_text(iteration(11446) + "\ntime (ms)\n" + iteration(11447) + "\ntime (ms)")
    assert [type(r) for r in records] == [StepRecord, StepRecord]


# -- what is not taken -----------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Avg step time (ms) | fwd: 1.0 | bwd: 2.0",
        "[INFO] Step time (ms) | fwd: 1.0",
        "time (ms) | note: n/a | other: -",
        "time (ms): 12.5",
        "step time (ms): 12.3",
        "elapsed time per iteration (ms): 1533.7",
        "the (min, max) time across ranks (ms): see below for details",
        "times across ranks (ms): 12",
        "    forward-backward ...............................: (14902.18, 15011.60)",
        "",
    ],
)
def test_garbage_is_not_taken(line: str) -> None:
    parser, ctx = TimersParser(), ParseContext("x.log", None, 2024)
    outcome = parser.parse(line, 1, ctx)
    if outcome is PENDING:
        outcome = parser.finish(ctx)
    assert outcome is None


def test_progress_lines_are_not_timer_lines() -> None:
    parser, ctx = TimersParser(), ParseContext("x.log", None, 2024)
    for line in [
        iteration(120),
        "[2024-02-01 09:12:44,517] [INFO] [logging.py:96:log_dist] [Rank 0] step=250, skipped=3, lr=[0.0003]",
        "[Rank 0] (after 20 iterations) memory (MB) | allocated: 6245.03 | max allocated: 6245.04",
    ]:
        assert parser.parse(line, 1, ctx) is None


BLOCK_LINES = [
    "(min, max) time across ranks (ms):",
    "max time across ranks (ms):",
    "times across ranks (ms):",
    item("forward-backward", "(4123.45, 4125.02)"),
    item("optimizer", "48.07"),
    "  forward-backward:",
    "     rank  0: 1510.00",
]


@pytest.mark.parametrize("line", BLOCK_LINES)
def test_block_lines_are_taken_by_no_other_parser(line: str) -> None:
    for parser in new_parsers():
        if parser.name == TimersParser.name or parser.generic:
            continue
        ctx = ParseContext("x.log", None, 2024)
        outcome = parser.parse(line, 1, ctx) if any(k in line for k in parser.keywords) else None
        if outcome is PENDING:
            outcome = parser.finish(ctx)
        assert outcome is None, parser.name


# -- state -----------------------------------------------------------------


def test_snapshot_taken_in_a_block_is_not_changed_by_later_lines() -> None:
    parser, ctx = TimersParser(), ParseContext("x.log", None, 2024)
    assert parser.parse("(min, max) time across ranks (ms):", 1, ctx) is PENDING
    parser.resume(item("forward-backward", "(1.00, 2.00)"), 2, ctx)
    state = parser.snapshot()
    assert pickle.loads(pickle.dumps(state)) == state
    parser.resume(item("optimizer", "(3.00, 4.00)"), 3, ctx)
    assert parser.snapshot() != state
    parser.restore(state)
    assert parser.snapshot() == state
    record = parser.finish(ctx)
    assert isinstance(record, TimerRecord)
    assert record.timers == {"forward-backward": 2.0}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(), max_size=6))
def test_arbitrary_text_never_raises(lines: list[str]) -> None:
    parser, ctx = TimersParser(), ParseContext("x.log", None, 2024)
    for text in ["(min, max) time across ranks (ms):", *lines, "times across ranks (ms):", *lines]:
        for line in (text, "time (ms) | " + text, "[Rank 0] time (ms) | a: " + text):
            if parser.block is not None:
                parser.resume(line, 1, ctx)
            else:
                parser.parse(line, 1, ctx)
    parser.finish(ctx)


# -- where the time goes ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("all-grads-sync", "interconnect"),
        ("grads-all-reduce", "interconnect"),
        ("grads-reduce-scatter", "interconnect"),
        ("params-all-gather", "interconnect"),
        ("layernorm-grads-all-reduce", "interconnect"),
        ("embedding-grads-all-reduce", "interconnect"),
        ("backward-params-all-reduce", "interconnect"),
        ("backward-reduce-model-grads", "interconnect"),
        ("forward-recv", "interconnect"),
        ("backward-send-forward-recv", "interconnect"),
        ("forward-backward-send-forward-backward-recv", "interconnect"),
        ("backward_allreduce", "interconnect"),
        ("bwd_allreduce", "interconnect"),
        ("bwd_allreduce_microstep", "interconnect"),
        ("backward-allreduce", "interconnect"),
        ("optimizer_allgather", "interconnect"),
        ("pipe_send_output", "interconnect"),
        ("pipe_recv_grad", "interconnect"),
        ("p2p-wait", "interconnect"),
        ("batch-generator", "workload"),
        ("batch generator", "workload"),
        ("batch_input", "workload"),
        ("dataloader", "workload"),
        ("train/valid/test-data-iterators-setup", "workload"),
        ("forward-backward", "compute"),
        ("forward-compute", "compute"),
        ("backward-compute", "compute"),
        ("optimizer", "compute"),
        ("optimizer-inner-step", "compute"),
        ("optimizer-copy-to-main-grad", "compute"),
        ("optimizer-unscale-and-check-inf", "compute"),
        ("optimizer-clip-main-grad", "compute"),
        ("optimizer-count-zeros", "compute"),
        ("optimizer-copy-main-to-model-params", "compute"),
        ("fwd", "compute"),
        ("bwd_inner", "compute"),
        ("fwd_microstep", "compute"),
        ("step", "compute"),
        ("step_microstep", "compute"),
        ("backward_inner", "compute"),
        ("optimizer_step", "compute"),
        ("save-checkpoint", "compute"),
        ("update-ema", "compute"),
        ("", "compute"),
    ],
)
def test_timer_domain(name: str, domain: str) -> None:
    assert timer_domain(name) == domain
