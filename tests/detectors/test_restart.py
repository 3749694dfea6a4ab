"""Restart detection: the step counter going back."""

from __future__ import annotations

import re

from monitor.detectors.restart import RestartDetector
from monitor.model import Kind, Severity
from tests.detectors.records import step


def test_step_going_back_is_a_restart_with_the_recomputed_steps() -> None:
    events = RestartDetector().observe([step(4000, loss=2.0), step(4100, loss=2.0), step(3500, loss=2.1)])
    [event] = events
    assert (event.kind, event.severity, event.code) == (Kind.RESTART, Severity.WARNING, "STEP-RESTART")
    assert event.step == 3500
    assert (event.value, event.baseline) == (3500.0, 4100.0)
    assert "steps 3500–4100 again (601 step(s))" in event.message


def test_equal_or_increasing_steps_are_not_restarts() -> None:
    assert RestartDetector().observe([step(1, loss=1.0), step(1, loss=1.0), step(2, loss=1.0)]) == []


def test_per_epoch_step_counters_restart_each_epoch_without_a_restart() -> None:
    records = [step(8000, epoch=10, loss=1.3), step(1000, epoch=11, loss=1.9), step(2000, epoch=11, loss=1.4)]
    assert RestartDetector().observe(records) == []


def test_going_back_an_epoch_is_a_restart() -> None:
    [event] = RestartDetector().observe([step(50, epoch=3, loss=1.0), step(10, epoch=2, loss=1.0)])
    assert "epoch 3 step 50" in event.message and "epoch 2 step 10" in event.message


def test_evaluation_records_are_not_training_steps() -> None:
    records = [step(3000, loss=1.0), step(1000, eval_loss=1.5), step(3010, loss=1.0)]
    assert RestartDetector().observe(records) == []


def test_each_rank_has_its_own_counter() -> None:
    records = [step(10, rank=0, loss=1.0), step(5, rank=1, loss=1.0), step(11, rank=0, loss=1.0)]
    assert RestartDetector().observe(records) == []


def test_restart_across_batches() -> None:
    d = RestartDetector()
    assert d.observe([step(100, loss=1.0)]) == []
    assert [e.step for e in d.observe([step(40, loss=1.0)])] == [40]


def test_a_count_that_reached_its_total_starts_a_new_pass_not_a_restart() -> None:
    """Keras prints each epoch's bar as `i/n` samples and ends it at `n/n`; without the `Epoch e/E`
    header in front (an excerpt, a fit() called in a loop) the next epoch's count is smaller. A count
    short of its total that goes back is still a restart."""
    finished = [step(370784, total_steps=370784, loss=1.9), step(137856, line=1, total_steps=370784, loss=2.1)]
    assert RestartDetector().observe(finished) == []
    cut_short = [step(300000, total_steps=370784, loss=1.9), step(137856, line=1, total_steps=370784, loss=2.1)]
    assert [e.code for e in RestartDetector().observe(cut_short)] == ["STEP-RESTART"]


def test_a_new_pass_after_a_full_count_is_read_the_same_in_bulk() -> None:
    """The batch screen (columns) and the record-by-record reading agree on it."""
    from tests.conftest import scan_one_way

    rows = []
    for attempt in range(3):
        for i in range(1, 6):
            loss = 2.0 - 0.1 * i - 0.01 * attempt
            rows.append(f"{i * 100}/500 [==============================] - 12s - loss: {loss:.4f}")
    rows.append("200/500 [=====>........................] - 12s - loss: 1.5000")
    text = "\n".join(rows * 2) + "\n"
    bulk, line_by_line = scan_one_way(text, True, 4096), scan_one_way(text, False, 4096)
    assert bulk[:3] == line_by_line[:3]
    assert bulk[0].count("STEP-RESTART") == 1  # 200/500 after 500/500 is a new pass; 100/500 after 200/500 is not


def test_a_count_within_one_logging_interval_of_its_total_ends_its_pass() -> None:
    """A per-epoch batch counter printed every 20 of 308 batches ends its epoch at `300/308` (the next
    print would be past the total), so `0/308` after it is a new epoch, not a restart (PccAI's
    `batch count: i/308, iter: i` lines, InterDigitalInc/PccAI issue 1). Going back from further
    than one interval short of the total is still a restart."""
    ended = [step(280, total_steps=308, loss=0.09), step(300, line=1, total_steps=308, loss=0.08),
             step(0, line=2, total_steps=308, loss=0.09)]
    assert RestartDetector().observe(ended) == []
    short = [step(260, total_steps=308, loss=0.09), step(280, line=1, total_steps=308, loss=0.08),
             step(0, line=2, total_steps=308, loss=0.09)]
    assert [e.code for e in RestartDetector().observe(short)] == ["STEP-RESTART"]
    # an uneven last interval: the record after a finished pass begins a new one, and is no pass end itself
    uneven = [step(250, total_steps=308, loss=0.09), step(300, line=1, total_steps=308, loss=0.08),
              step(305, line=2, total_steps=308, loss=0.08), step(0, line=3, total_steps=308, loss=0.09)]
    assert [e.code for e in RestartDetector().observe(uneven)] == ["STEP-RESTART"]


def test_a_pass_ended_short_of_its_total_is_read_the_same_in_bulk() -> None:
    """The batch screen (columns) and the record-by-record reading agree on where passes end."""
    from tests.conftest import scan_one_way

    rows = []
    for epoch in range(4):
        for i in range(0, 308, 20):
            rows.append(f"batch count: {i}/308, iter: {i}, loss: {0.09 - 0.001 * epoch:.6f}, aux_loss: 120.5")
        if epoch == 2:
            rows.append("batch count: 120/308, iter: 120, loss: 0.087000, aux_loss: 120.5")
    text = "\n".join(rows * 2) + "\n"
    bulk, line_by_line = scan_one_way(text, True, 4096), scan_one_way(text, False, 4096)
    assert bulk[:3] == line_by_line[:3]
    # a stray `120/308` after epoch 2 ended starts a pass that `0/308` then goes back from, in both copies
    restarts = re.findall(r"code='STEP-RESTART', file='run.log', line=(\d+)", bulk[0])
    assert restarts == ["50", "115"]


def test_a_pass_summary_without_a_total_keeps_the_pass_finished() -> None:
    """A loop that prints `Iter: [i/N]` and, after its last batch, the epoch's summary with no counter
    (MAR's re-ID trainer: `Iter: [3800/3877] ... loss_total ...`, then `**Train**  loss_total ...`,
    then `Iter: [000/3877]`, KovenYu/MAR issue 35): the summary stands at the step the pass ended on,
    so the next pass's `0` is a new pass. After a pass that did not finish, it changes nothing."""
    ended = [step(3700, total_steps=3877, loss=53.5), step(3800, line=1, total_steps=3877, loss=52.9),
             step(3800, line=2, loss=53.1), step(0, line=3, total_steps=3877, loss=51.0)]
    assert RestartDetector().observe(ended) == []
    short = [step(3600, total_steps=3877, loss=53.5), step(3700, line=1, total_steps=3877, loss=52.9),
             step(3700, line=2, loss=53.1), step(0, line=3, total_steps=3877, loss=51.0)]
    assert [e.code for e in RestartDetector().observe(short)] == ["STEP-RESTART"]


def test_a_pass_summary_is_read_the_same_in_bulk() -> None:
    """The batch screen (columns) and the record-by-record reading agree on passes their summaries
    follow, across batch boundaries too (small chunks)."""
    from tests.conftest import scan_one_way

    rows = []
    for epoch in range(4):
        rows.append(f"==>>[Epoch={epoch:03d}/020] Stage 1")
        for i in range(0, 400, 100):
            rows.append(f"  Iter: [{i:03d}/377]   Freq 143.4   loss_source 0.9{epoch}1   loss_total 53.{epoch}64")
        rows.append(f"  **Train**  loss_source 0.9{epoch}0   loss_total 53.{epoch}00")
        if epoch == 2:  # a pass cut short: its summary does not make the next `000` a new pass
            rows.append("  Iter: [000/377]   Freq 143.4   loss_source 0.921   loss_total 53.264")
            rows.append("  Iter: [100/377]   Freq 143.4   loss_source 0.921   loss_total 53.264")
            rows.append("  **Train**  loss_source 0.920   loss_total 53.200")
    text = "\n".join(rows * 2) + "\n"
    for chunk in (256, 4096):
        bulk, line_by_line = scan_one_way(text, True, chunk), scan_one_way(text, False, chunk)
        assert bulk[:3] == line_by_line[:3]
        restarts = re.findall(r"code='STEP-RESTART', file='run.log', line=(\d+)", bulk[0])
        assert len(restarts) == 2, restarts


def test_a_count_to_another_total_from_its_first_step_is_a_new_stage_not_a_restart() -> None:
    """DINO's pretraining (`Epoch: [99]  [1560/1562]`) then, in the same log, its linear evaluation
    (`Epoch: [0]  [  0/782]`): work of another length started from nothing is a new stage. The
    same count started from nothing again is a restart, and so is another total mid-way."""
    stage = [step(1560, epoch=99, total_steps=1562, loss=3.6), step(0, line=1, epoch=0, total_steps=782, loss=6.9)]
    assert RestartDetector().observe(stage) == []
    again = [step(1560, epoch=99, total_steps=1562, loss=3.6), step(0, line=1, epoch=0, total_steps=1562, loss=6.9)]
    assert [e.code for e in RestartDetector().observe(again)] == ["STEP-RESTART"]
    midway = [step(1560, epoch=99, total_steps=1562, loss=3.6), step(400, line=1, epoch=50, total_steps=782, loss=4.0)]
    assert [e.code for e in RestartDetector().observe(midway)] == ["STEP-RESTART"]


def test_a_count_that_wraps_in_the_logs_rhythm_is_no_restart() -> None:
    """DL4J's ScoreIterationListener (deeplearning4j optimize/listeners/ScoreIterationListener.java)
    prints `Score at iteration {n} is {score}` every few iterations of a count that starts again at 0
    with each fit: 80, then 0 seconds later. A count back at its beginning (within one stride) as soon
    as the next line was due is no restart; one that came back after the time a relaunch takes is, and
    so is one that goes back only part of the way, however soon."""
    def timed(steps: list[int], times: list[float]) -> list:
        return [step(s, loss=0.69, epoch_s=1_700_000_000.0 + t, time="t") for s, t in zip(steps, times)]

    wrapped = timed([0, 20, 40, 60, 80, 0, 20], [0, 7, 14, 21, 28, 35, 42])
    assert RestartDetector().observe(wrapped) == []
    relaunched = timed([0, 20, 40, 60, 80, 0, 20], [0, 7, 14, 21, 28, 628, 635])
    [event] = RestartDetector().observe(relaunched)
    assert event.step == 0 and event.baseline == 80
    resumed = timed([1000, 1020, 1040, 1060, 1080, 1040], [0, 7, 14, 21, 28, 35])
    [event] = RestartDetector().observe(resumed)
    assert event.step == 1040


def test_a_wrapping_count_is_read_the_same_in_bulk() -> None:
    """The batch screen keeps the rhythm (time, interval, stride) that record-by-record reading keeps."""
    from tests.conftest import events_both_ways

    rows = []
    for i in range(400):
        second = 7 * i
        rows.append(f"2024-03-05 10:{second // 60 % 60:02d}:{second % 60:02d} iteration {20 * (i % 5)}: "
                    f"loss {0.69 + 0.001 * (i % 3):.4f}")
    rows.insert(300, "2024-03-05 12:00:00 iteration 0: loss 0.6900")  # back to 0 long after: a relaunch
    events = events_both_ways("\n".join(rows) + "\n", (512, 8192))
    assert events.count("code='STEP-RESTART'") == 1


def test_another_printers_count_is_passed_over_once_a_rank_printed_its_loss() -> None:
    """DeepSpeed-Chat's PPO script (applications/DeepSpeed-Chat/training/step3_rlhf_finetuning/main.py)
    prints `epoch: 0|step: 9|ppo_ep: 1|act_loss: ...` counting from 0, while DeepSpeed's engine logs
    `step=10, skipped=4, lr=[...]` counting its optimizer steps from 1: the loss lines carry the count."""
    records = [step(i, loss=0.3) for i in range(9)] + [step(10), step(9, loss=0.29), step(10, loss=0.28), step(20)]
    assert RestartDetector().observe(records) == []
    resumed = [step(i, loss=0.3) for i in range(9)] + [step(10), step(4, loss=0.31)]
    [event] = RestartDetector().observe(resumed)
    assert event.step == 4 and event.baseline == 8
    bare = [step(10), step(20), step(15)]  # no loss anywhere: the count it has is the count
    [event] = RestartDetector().observe(bare)
    assert event.step == 15


def test_another_printers_count_is_passed_over_in_bulk_too() -> None:
    from tests.conftest import events_both_ways

    rows = []
    for k in range(200):
        if k % 10 == 9:  # the engine's line for this optimizer step comes first, counted from 1
            rows.append(f"[2023-04-18 08:48:36,035] [INFO] [logging.py:96:log_dist] [Rank 0] step={k + 1}, "
                        f"skipped=0, lr=[5.79e-07, 5.79e-07], mom=[(0.9, 0.95), (0.9, 0.95)]")
            rows.append(f"[2023-04-18 08:48:36,058] [INFO] [timer.py:199:stop] epoch=0/micro_step={k + 1}/"
                        f"global_step={k + 1}, RunningAvgSamplesPerSec=86.7, CurrSamplesPerSec=78.8, "
                        f"MemAllocated=10.77GB, MaxMemAllocated=14.2GB")
        rows.append(f"epoch: 0|step: {k}|ppo_ep: 1|act_loss: {0.3 + 0.01 * (k % 4):.4f}|cri_loss: 0.16")
    assert "STEP-RESTART" not in events_both_ways("\n".join(rows) + "\n")


def test_a_count_that_goes_on_across_epochs_counts_the_whole_run() -> None:
    """MiniLLM's PPO training (microsoft/LMOps, minillm; its lines as posted in LMOps issue 130) prints
    `... | ppo epoch:  3/ 4 | global iter:     15/  5000| tot_loss: ...`: the PPO epoch cycles over each
    rollout while the global count goes on. Once the count went on when the epoch changed, an epoch going
    back is no restart; the count going back still is. A count per epoch (it starts again) keeps
    comparing epochs first."""
    records = [step(13, epoch=2, loss=2.3), step(14, epoch=3, loss=3.1), step(15, epoch=3, loss=3.2),
               step(27, epoch=2, loss=1.5), step(28, epoch=2, loss=2.4)]
    assert RestartDetector().observe(records) == []
    [event] = RestartDetector().observe(records + [step(20, epoch=3, loss=2.2)])
    assert event.step == 20
    per_epoch = [step(300, epoch=4, loss=1.0), step(20, epoch=5, loss=1.0), step(400, epoch=4, loss=1.1)]
    [event] = RestartDetector().observe(per_epoch)
    assert event.step == 400


def test_a_log_that_printed_per_epoch_says_nothing_of_how_its_finer_count_goes_on() -> None:
    """MLPerf RNN-T's reference prints an epoch summary whose step is the epoch itself (`epoch 21 | avg
    train utts/s ...`), then, within the next epoch, `epoch 22 | iter 18/181 | loss ...`. Epochs 20 then
    21 read as steps 20 then 21 do not make the count one of the whole run: batch 18 of epoch 22 is no
    step back from 21."""
    records = [step(20, epoch=20, step_time_s=68.0), step(21, epoch=21, step_time_s=67.5),
               step(18, epoch=22, loss=29.3, total_steps=181), step(36, epoch=22, loss=30.1, total_steps=181)]
    assert RestartDetector().observe(records) == []
    records.append(step(20, epoch=22, loss=29.0, total_steps=181))
    [event] = RestartDetector().observe(records)
    assert event.step == 20
