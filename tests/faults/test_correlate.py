"""Folding, ordering, cascades and persistence across all scanned sources (monitor.correlate)."""

from __future__ import annotations

from monitor.correlate import correlate
from monitor.model import Domain, Event, Kind, Role, Severity


def fault(code: str, kind: Kind = Kind.COMM_ERROR, *, file: str = "rank0.log", line: int = 1,
          time: str | None = None, rank: int | None = None, node: str | None = None,
          device: str | None = None, role: Role | None = Role.ROOT, domain: Domain | None = Domain.SOFTWARE,
          step: int | None = None) -> Event:
    return Event(kind=kind, severity=Severity.ERROR, message=f"{code} happened", code=code, file=file, line=line,
                 time=time, rank=rank, node=node, device=device, role=role, domain=domain, step=step)


def test_the_same_fault_from_many_ranks_folds_into_one_event_with_ranks_and_nodes() -> None:
    events = [
        fault("NCCL-REMOTE-ERROR", file=f"rank{r}.log", line=10, rank=r, node=f"node{r // 8}",
              time="2025-03-04T10:00:00")
        for r in range(64)
    ]
    [folded] = correlate(events)
    assert folded.count == 64
    assert folded.ranks == tuple(range(64))
    assert folded.nodes == tuple(f"node{n}" for n in range(8))
    assert folded.persistent is None


def test_a_line_repeated_ten_thousand_times_is_one_event() -> None:
    events = [fault("CUDA-LAUNCH-FAILURE", Kind.DEVICE_FAULT, line=n) for n in range(1, 10_001)]
    [folded] = correlate(events)
    assert folded.count == 10_000
    assert folded.line == 1


def test_device_faults_fold_per_node_and_device() -> None:
    events = [
        fault("XID-79", Kind.DEVICE_FAULT, node="a", device="0000:3b:00", domain=Domain.HARDWARE, line=1),
        fault("XID-79", Kind.DEVICE_FAULT, node="b", device="0000:3b:00", domain=Domain.HARDWARE, line=2),
        fault("XID-79", Kind.DEVICE_FAULT, node="a", device="0000:3b:00", domain=Domain.HARDWARE, line=3),
    ]
    folded = correlate(events)
    assert [(e.node, e.count) for e in folded] == [("a", 2), ("b", None)]


def test_a_timeout_after_a_gpu_falls_off_the_bus_is_its_cascade() -> None:
    root = fault("XID-79", Kind.DEVICE_FAULT, file="node-a/kern.log", time="2025-03-04T10:01:00", node="node-a",
                 device="0000:3b:00", domain=Domain.HARDWARE)
    timeouts = [
        fault("NCCL-WATCHDOG-TIMEOUT", Kind.HANG, file=f"rank{r}.log", line=50, rank=r, node="node-b",
              time="2025-03-04T10:31:00", role=Role.CASCADE, domain=None)
        for r in range(1, 8)
    ]
    out = correlate([*timeouts, root])
    assert [e.code for e in out] == ["XID-79", "NCCL-WATCHDOG-TIMEOUT"]
    assert out[1].role is Role.CASCADE
    assert out[1].cause == out[0].label()
    assert out[1].count == 7


def test_hardware_faults_of_two_devices_on_one_node_are_two_roots() -> None:
    """One GPU's uncorrectable ECC error does not explain another GPU's row-remap failure; on the
    same GPU it does."""
    first = fault("XID-48", Kind.DEVICE_FAULT, node="node-a", device="0000:3b:00", domain=Domain.HARDWARE,
                  time="2025-03-04T10:01:00")
    other = fault("XID-64", Kind.DEVICE_FAULT, file="b.log", node="node-a", device="0000:86:00",
                  domain=Domain.HARDWARE, time="2025-03-04T10:01:05")
    same = fault("XID-64", Kind.DEVICE_FAULT, file="c.log", node="node-a", device="0000:3b:00",
                 domain=Domain.HARDWARE, time="2025-03-04T10:01:07")
    out = {e.file: e for e in correlate([first, other, same])}
    assert out["rank0.log"].role is Role.ROOT and out["b.log"].role is Role.ROOT and out["b.log"].cause is None
    assert out["c.log"].role is Role.CASCADE and out["c.log"].cause == out["rank0.log"].label()


def test_a_cascade_long_after_the_root_is_not_linked_to_it() -> None:
    root = fault("XID-79", Kind.DEVICE_FAULT, time="2025-03-04T01:00:00", domain=Domain.HARDWARE)
    late = fault("NCCL-WATCHDOG-TIMEOUT", Kind.HANG, file="b.log", time="2025-03-04T09:00:00", role=Role.CASCADE)
    out = correlate([root, late])
    assert out[1].cause is None


def test_a_software_fault_after_a_hardware_fault_on_the_same_node_is_a_cascade() -> None:
    xid = fault("XID-79", Kind.DEVICE_FAULT, file="dmesg.log", node="n1", time="2025-03-04T10:00:00",
                domain=Domain.HARDWARE)
    cuda = fault("CUDA-UNKNOWN-ERROR", Kind.DEVICE_FAULT, file="rank3.log", node="n1", time="2025-03-04T10:00:05")
    elsewhere = fault("CUDA-UNKNOWN-ERROR", Kind.DEVICE_FAULT, file="rank9.log", node="n2",
                      time="2025-03-04T10:00:05", rank=9, device="7")
    out = correlate([xid, cuda, elsewhere])
    assert [(e.code, e.node, e.role) for e in out] == [
        ("XID-79", "n1", Role.ROOT),
        ("CUDA-UNKNOWN-ERROR", "n1", Role.CASCADE),
        ("CUDA-UNKNOWN-ERROR", "n2", Role.ROOT),
    ]
    assert out[1].cause == xid.label()


def test_events_are_ordered_by_time_across_files() -> None:
    late = fault("SLURM-CANCELLED", Kind.CRASH, file="a.log", time="2025-03-04T12:00:00", role=None)
    early = fault("HOST-OOM-KILL", Kind.OOM, file="b.log", time="2025-03-04T11:00:00")
    assert [e.code for e in correlate([late, early])] == ["HOST-OOM-KILL", "SLURM-CANCELLED"]


def test_the_same_fault_after_a_restart_is_a_new_episode_and_persistent() -> None:
    restart = Event(kind=Kind.RESTART, severity=Severity.WARNING, message="restarted", code="STEP-RESTART",
                    file="run.log", line=500)
    first = fault("XID-48", Kind.DEVICE_FAULT, file="run.log", line=100, node="n7", device="0000:3b:00",
                  domain=Domain.HARDWARE)
    again = fault("XID-48", Kind.DEVICE_FAULT, file="run.log", line=900, node="n7", device="0000:3b:00",
                  domain=Domain.HARDWARE)
    out = [e for e in correlate([first, restart, again]) if e.code == "XID-48"]
    assert len(out) == 2
    assert all(e.persistent for e in out)
    assert [e.details["episode"] for e in out] == [1, 2]


def test_a_fault_hours_apart_is_persistent_but_a_burst_is_not() -> None:
    burst = [fault("CUDA-ECC-UNCORRECTABLE", Kind.DEVICE_FAULT, line=n, time=f"2025-03-04T10:00:0{n}")
             for n in range(1, 5)]
    [one] = correlate(burst)
    assert one.count == 4 and one.persistent is None
    later = fault("CUDA-ECC-UNCORRECTABLE", Kind.DEVICE_FAULT, line=99, time="2025-03-04T16:00:00")
    out = correlate([*burst, later])
    assert [e.persistent for e in out] == [True, True]


def test_training_events_fold_only_within_the_same_step() -> None:
    nan = [Event(kind=Kind.NAN, severity=Severity.ERROR, message="loss is nan", code="LOSS-NAN", file=f"r{r}.log",
                 line=5, step=100, rank=r) for r in range(4)]
    later = Event(kind=Kind.NAN, severity=Severity.ERROR, message="loss is nan", code="LOSS-NAN", file="r0.log",
                  line=90, step=900, rank=0)
    out = correlate([*nan, later])
    assert [(e.step, e.count) for e in out] == [(100, 4), (900, None)]
    assert all(e.persistent is None for e in out)  # persistence is for faults, not training health


def test_a_fault_from_a_log_without_times_is_not_folded_with_one_from_a_log_with_times() -> None:
    undated = fault("SRUN-TASK-FAILED", Kind.CRASH, file="old-run.out", line=143, role=Role.CASCADE)
    dated = fault("SRUN-TASK-FAILED", Kind.CRASH, file="new-run.out", line=9, time="2025-03-04T10:31:20",
                  role=Role.CASCADE)
    assert [e.file for e in correlate([undated, dated])] == ["old-run.out", "new-run.out"]
    assert correlate([fault("SRUN-TASK-FAILED", Kind.CRASH, file=f"r{n}.out") for n in range(3)])[0].count == 3
