"""A file cut into ranges and scanned by several processes gives exactly the serial result."""

from __future__ import annotations

import random

import pytest

from monitor import parallel
from monitor.pipeline import SourceScan, scan
from monitor.sources.files import Source


def megatron(step: int, loss: str | None, skipped: int = 0, nan: int = 0, scale: float = 1.0) -> str:
    loss_field = f" lm loss: {loss} |" if loss else ""
    return (
        f" iteration {step:8d}/  100000 | consumed samples: {step * 8:12d} | elapsed time per iteration (ms): 812.4 |"
        f" learning rate: 1.000E-04 | global batch size:     8 |{loss_field} loss scale: {scale} | grad norm: 0.9 |"
        f" number of skipped iterations: {skipped:3d} | number of nan iterations: {nan:3d} |\n"
    )


FAULT_BLOCKS = [
    ["[rank3]: Traceback (most recent call last):\n", '[rank3]:   File "/w/train.py", line 9, in <module>\n',
     "[rank3]:     step()\n", "[rank3]: RuntimeError: CUDA error: an illegal memory access was encountered\n"],
    ["[rank5]:[E304 10:31:08.412345678 ProcessGroupNCCL.cpp:632] [Rank 5] Watchdog caught collective operation "
     "timeout: WorkNCCL(SeqNum=77, OpType=ALLREDUCE, NumelIn=8, NumelOut=8, Timeout(ms)=600000) ran for 600031 "
     "milliseconds before timing out.\n"],
    ["torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n", "Root Cause (first observed failure):\n",
     "[0]:\n", "  host      : node3\n", "  rank      : 6 (local_rank: 6)\n", "  exitcode  : -9 (pid: 4242)\n",
     "  traceback : Signal 9 (SIGKILL) received by PID 4242\n"],
]


def eventful_log(seed: int, lines: int) -> str:
    """Progress with NaN episodes, overflow counters, restarts, faults (some spanning several lines)
    and noise, at random places."""
    rng = random.Random(seed)
    out = []
    step = 0
    for _ in range(lines):
        roll = rng.random()
        step += 1
        if roll < 0.01:
            out.append(megatron(step, None))  # vanished loss key: NaN
        elif roll < 0.02:
            out.append(megatron(step, "2.0", skipped=rng.randint(1, 4), scale=2.0 ** rng.randint(-2, 8)))
        elif roll < 0.025:
            step = max(1, step - rng.randint(10, 300))  # restart from an older checkpoint
            out.append(megatron(step, "2.1"))
        elif roll < 0.03:
            out.append(megatron(step, "2.0", nan=1))
        elif roll < 0.034:
            out.extend(FAULT_BLOCKS[rng.randrange(len(FAULT_BLOCKS))])
        elif roll < 0.3:
            out.append(f"node3:1234:1240 [{rng.randint(0, 7)}] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P\n")
        else:
            out.append(megatron(step, f"{2 + rng.random():.6E}"))
    return "".join(out)


def outcome(results: list) -> list:
    """What a scan reports, as comparable data (NaN values compare equal as "nan")."""
    return [([e.to_dict() for e in r.events], r.summary.to_dict(), r.summary.formats, r.error) for r in results]


@pytest.fixture
def small_ranges(monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 16 << 10)
    monkeypatch.setattr(parallel, "WARMUP_BYTES", 8 << 10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parallel_scan_equals_serial_scan(tmp_path, small_ranges, seed) -> None:
    path = tmp_path / f"run{seed}.log"
    path.write_text(eventful_log(seed, 3000))
    other = tmp_path / "other.log"
    other.write_text(eventful_log(seed + 10, 200))
    sources = [Source(str(path), str(path)), Source(str(other), str(other))]
    serial = outcome(list(scan(sources, jobs=1)))
    assert parallel._splittable(sources[0]) and len(list(parallel._ranges(sources[0], 2))) > 2
    assert outcome(list(scan(sources, jobs=2))) == serial
    assert any(events for events, *_ in serial)


def test_a_range_whose_warm_up_fell_short_is_rescanned(tmp_path, small_ranges, monkeypatch) -> None:
    """Without warm-up, range starts disagree with the serial state: the merge rescans them."""
    monkeypatch.setattr(parallel, "WARMUP_BYTES", 0)
    rescans = []
    original = SourceScan.restore

    def counting(self, snapshot):
        rescans.append(snapshot)
        return original(self, snapshot)

    monkeypatch.setattr(SourceScan, "restore", counting)
    path = tmp_path / "run.log"
    path.write_text(eventful_log(7, 3000))
    source = Source(str(path), str(path))
    serial = outcome(list(scan([source], jobs=1)))
    assert outcome(list(scan([source], jobs=2))) == serial
    assert rescans  # rescans run in this process, from the state the previous range ended in


def test_same_state_treats_nan_as_equal_and_catches_differences() -> None:
    from monitor.model import StepRecord

    nan_record = StepRecord(step=3, loss=float("nan"))
    assert parallel.same_state({"r": [nan_record, 1.0]}, {"r": [StepRecord(step=3, loss=float("nan")), 1.0]})
    assert not parallel.same_state({"r": [nan_record]}, {"r": [StepRecord(step=4, loss=float("nan"))]})
    assert not parallel.same_state({"a": 1}, {"b": 1})


def learned_log(seed: int, lines: int) -> str:
    """A layout only the learned parser reads (OpenNMT-py's), with an elapsed-time clock, NaN stretches,
    a vanished loss, restarts, epoch summaries of another shape, bare-counter lines and noise."""
    rng = random.Random(seed)
    out = []
    step = elapsed = 0
    for _ in range(lines):
        roll = rng.random()
        step += 50
        elapsed += 60 + rng.randint(0, 5)
        xent = "nan" if 0.4 < roll < 0.42 else f"{2 + rng.random():.2f}"
        if roll < 0.01:
            step = max(50, step - 50 * rng.randint(2, 20))  # resumed from an older checkpoint
        if roll < 0.05:
            out.append(f"[2024-01-01 00:00:00,000 INFO] Step {step}/100000; acc: 51.2; lr: 0.0007; 1320/1445 tok/s; "
                       f"{elapsed:6d} sec\n")  # no xent: vanished
        elif roll < 0.08:
            out.append(f"Epoch {step // 5000} summary: valid ppl {3 + rng.random():.2f}\n")
        elif roll < 0.1:
            out.append(f"{step} | loss {xent} | lr 1e-4\n")
        elif roll < 0.3:
            out.append(f"node3:1234:1240 [{rng.randint(0, 7)}] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P\n")
        else:
            out.append(f"[2024-01-01 00:00:00,000 INFO] Step {step}/100000; acc: 51.2; ppl: 8.4; xent: {xent}; "
                       f"lr: 0.0007; 1320/1445 tok/s; {elapsed:6d} sec\n")
    return "".join(out)


@pytest.mark.parametrize("seed", [4, 5])
def test_parallel_scan_of_a_learned_layout_equals_serial_scan(tmp_path, small_ranges, seed) -> None:
    path = tmp_path / f"learned{seed}.log"
    path.write_text(learned_log(seed, 3000))
    sources = [Source(str(path), str(path))]
    serial = outcome(list(scan(sources, jobs=1)))
    assert serial[0][1]["format"] == "learned" and serial[0][1]["steps"] > 1000
    assert outcome(list(scan(sources, jobs=2))) == serial
    assert any(events for events, *_ in serial)


XID = ("Mar  5 10:11:12 node07 kernel: NVRM: Xid (PCI:0000:3b:00): 79, pid=4242, name=python, "
       "GPU has fallen off the bus.\n")
"""NVIDIA's kernel driver prints `NVRM: Xid (PCI:<bus id>): <code>, pid=..., name=..., <text>`; syslog's prefix
names no year, so the parsers' state does not depend on having seen this line."""
CHATTER = "node07:4242:4250 [{}] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/IPC\n"
WARNING = ("[2024-03-05 10:0{}:12,512] [WARNING] [stage3.py:1991:step] 4 pytorch allocator cache flushes since last "
           "step. this happens when there is high memory pressure and is detrimental to performance.\n")
"""DeepSpeed's ZeRO-3 warning, through its logger's `[asctime] [LEVEL] [file:line:func]` prefix."""


def chatter(count: int) -> list[str]:
    """NCCL INFO lines, and a timestamped warning every 50 (a log still being written)."""
    return [WARNING.format(n // 50 % 10) if n % 50 == 0 else CHATTER.format(n % 8) for n in range(count)]


def test_a_fault_held_across_ranges_costs_only_a_fault_rescan(tmp_path, small_ranges, monkeypatch) -> None:
    """An Xid early in the file is held (folded with its repeats) and remembered for later cascades:
    no warm-up can rebuild that. The merge runs only the fault scanner of the later
    ranges again, from the true state, and the output still equals the serial scan's."""
    restores, refaults = [], []  # in this process: a full rescan restores a state, so does a fault rescan
    restore, refault = SourceScan.restore, parallel._refault

    def counting_restore(self, snapshot):
        restores.append(1)
        return restore(self, snapshot)

    def counting_refault(*args, **kwargs):
        refaults.append(1)
        return refault(*args, **kwargs)

    monkeypatch.setattr(SourceScan, "restore", counting_restore)
    monkeypatch.setattr(parallel, "_refault", counting_refault)
    lines = [*chatter(20), XID, *chatter(3000), XID, FAULT_BLOCKS[1][0], *chatter(100)]  # the Xid again, then a timeout
    path = tmp_path / "run.log"
    path.write_text("".join(lines))
    source = Source(str(path), str(path))
    serial = outcome(list(scan([source], jobs=1)))
    assert len(list(parallel._ranges(source, 2))) > 3
    assert outcome(list(scan([source], jobs=2))) == serial
    events = serial[0][0]
    assert sorted(event["code"] for event in events) == ["NCCL-WATCHDOG-TIMEOUT", "XID-79"]
    assert next(event for event in events if event["code"] == "XID-79")["count"] == 2  # folded across ranges
    assert refaults and len(restores) == len(refaults)  # fault rescans only, never a full one
