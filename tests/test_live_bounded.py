"""The live state stays bounded however many ranks and files come and go (monitor.live): a per-node
agent runs for months. Ranks beyond the caps are counted, not watched; deleted, finished and long
idle files are let go; a finished or deleted run is never called hung.

Time is injected; the lines are Megatron-LM's iteration log line (megatron/training/training.py,
`training_log`: `iteration {iteration:8d}/{train_iters:8d} | ... | lm loss: ... |`), prefixed with
`[rankN]:` as torchrun's `--tee`/`--log-dir` prefix prints it, with our own values.
"""

from __future__ import annotations

from monitor.live import FINISHED_QUIET_S, SWEEP_EVERY_S, LiveScan
from monitor.model import Event, Kind, Severity
from monitor.settings import Settings
from monitor.sources.lines import Batch

FINISHED = "Training completed. Do not forget to share your model on huggingface.co/models =)"
"""transformers/trainer.py, Trainer._inner_training_loop: logged once training ends."""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def iteration(rank: int, step: int) -> str:
    return f"[rank{rank}]: iteration {step:8d}/  100000 | lm loss: 2.000000E+00 | grad norm: 1.000 |"


def live(clock: Clock, **settings: object) -> LiveScan:
    return LiveScan(Settings(**settings), hang_after=60.0, clock=clock, wall=clock)  # type: ignore[arg-type]


def test_ranks_beyond_the_caps_are_counted_not_watched() -> None:
    clock = Clock()
    scan = live(clock, tail_max_ranks_per_file=3, tail_max_ranks=5)
    scan.feed("a.log", None, Batch(1, [iteration(rank, 1) for rank in range(10)]))
    assert sorted(rank for _, rank in scan.hangs.ranks) == [0, 1, 2]
    assert scan.records_dropped == 7
    scan.feed("b.log", None, Batch(1, [iteration(rank, 1) for rank in range(10)]))
    assert len(scan.hangs.ranks) == 5 and scan.records_dropped == 15  # the total cap: two more ranks
    assert sorted(scan.hangs.ranks) == [("a.log", 0), ("a.log", 1), ("a.log", 2), ("b.log", 0), ("b.log", 1)]
    scan.forget("a.log")  # room again in the total
    scan.feed("b.log", None, Batch(11, [iteration(7, 2), iteration(8, 2)]))
    assert ("b.log", 7) in scan.hangs.ranks and ("b.log", 8) not in scan.hangs.ranks  # b.log's own cap is 3
    assert scan.records_dropped == 16


def test_a_deleted_file_raises_no_hang() -> None:
    clock = Clock()
    scan = live(clock)
    scan.feed("job1.log", None, Batch(1, [iteration(0, s) for s in range(1, 6)]))
    scan.forget("job1.log")
    clock.now += 3600
    assert scan.check() == []
    assert scan.scans == {} and scan.hangs.ranks == {} and scan.let_go() == ["job1.log"]


def test_a_run_that_said_it_finished_raises_no_hang_and_is_let_go_once_quiet() -> None:
    clock = Clock()
    scan = live(clock)
    scan.feed("done.log", None, Batch(1, [iteration(0, s) for s in range(1, 6)] + [FINISHED]))
    scan.feed("hung.log", None, Batch(1, [iteration(0, s) for s in range(1, 6)]))
    clock.now += 61
    assert [(e.code, e.file) for e in scan.check()] == [("NO-PROGRESS", "hung.log")]
    clock.now += FINISHED_QUIET_S + SWEEP_EVERY_S
    assert scan.sweep() == ["done.log"]
    assert set(scan.scans) == {"hung.log"}


def test_progress_after_the_finish_line_is_a_new_attempt_watched_again() -> None:
    clock = Clock()
    scan = live(clock)
    scan.feed("train.log", None, Batch(1, [iteration(0, 5), FINISHED]))
    scan.feed("train.log", None, Batch(3, [iteration(0, 1)]))  # the next job of the array appends
    clock.now += FINISHED_QUIET_S + SWEEP_EVERY_S
    assert scan.sweep() == []
    clock.now += 61  # past --hang-after
    assert [e.code for e in scan.check()] == ["NO-PROGRESS"]


def test_idle_files_are_forgotten_and_the_file_cap_lets_go_of_the_least_recently_active() -> None:
    clock = Clock()
    scan = live(clock, tail_max_files=2, tail_forget_idle_seconds=600.0)
    scan.feed("a.log", None, Batch(1, ["some text"]))
    clock.now += 1
    scan.feed("b.log", None, Batch(1, ["some text"]))
    clock.now += 1
    scan.feed("a.log", None, Batch(2, ["more"]))
    scan.feed("c.log", None, Batch(1, ["some text"]))  # the third: b.log, least recently active, goes
    assert set(scan.scans) == {"a.log", "c.log"} and scan.let_go() == ["b.log"]
    clock.now += 600 + SWEEP_EVERY_S
    assert scan.sweep() == ["a.log", "c.log"]
    assert scan.forgotten == 3


def test_announced_findings_older_than_an_episode_are_let_go() -> None:
    clock = Clock()
    scan = live(clock)
    event = Event(kind=Kind.COMM_ERROR, severity=Severity.ERROR, message="x", code="NCCL-REMOTE-ERROR", file="a")
    assert scan.announce([event]) == [event]
    clock.now += scan.dedupe.gap_s + SWEEP_EVERY_S + 1
    scan.sweep()
    assert scan.dedupe.announced == {}
