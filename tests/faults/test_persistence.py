"""Persistence across attempts: a fault that comes back on the same node and device after the
run restarted is `persistent`, even when the restarts show only in another file of the run.

Layouts: CANN's device error report `EZ9999[PID: n] YYYY-MM-DD-hh:mm:ss.mmm.uuu (EZ9999):  The
error from device(chipId:c, dieId:d), ...` (CANN 8 runtime, device_error_proc.cc) and plog
`[INFO] RUNTIME(pid,python):time [file:line]`; torchelastic's agent
`Worker group FAILED. n/m attempts left; will restart worker group`
(torch/distributed/elastic/agent/server/api.py, `_invoke_run`).
"""

from __future__ import annotations

from monitor import api
from monitor.model import Kind


def _aicore(pid: int, time: str, serial: int) -> str:
    return (
        f"EZ9999[PID: {pid}] {time} (EZ9999):  The error from device(chipId:5, dieId:0), serial number is "
        f"{serial}, there is an aicore error exception, core id is 12, error code = 95, dump info: pc start: "
        "0x124400081000, current: 0x12440008129c.[FUNC:ProcessStarsCoreErrorInfo][FILE:device_error_proc.cc]"
        "[LINE:1211]"
    )


def _restart(time: str, left: int) -> str:
    return (
        f"[{time}] torch.distributed.elastic.agent.server.api: [INFO] [default] Worker group FAILED. "
        f"{left}/3 attempts left; will restart worker group"
    )


def test_an_aicore_fault_in_three_attempts_is_persistent_on_its_node_and_device(tmp_path) -> None:
    run = tmp_path / "job-311"
    run.mkdir()
    (run / "npu-node07-plog.log").write_text("\n".join([
        "[INFO] RUNTIME(20411,python):2025-06-02-09:40:12.118.220 [runtime.cc:1402] 20411 Init: device 5 opened",
        _aicore(20411, "2025-06-02-09:42:58.199.118", 3),
        "[INFO] RUNTIME(21877,python):2025-06-02-09:49:40.001.100 [runtime.cc:1402] 21877 Init: device 5 opened",
        _aicore(21877, "2025-06-02-09:51:07.560.402", 1),
        "[INFO] RUNTIME(23004,python):2025-06-02-09:58:02.450.900 [runtime.cc:1402] 23004 Init: device 5 opened",
        _aicore(23004, "2025-06-02-09:59:31.004.877", 2),
    ]) + "\n")
    (run / "npu-node01-launcher.log").write_text("\n".join([
        _restart("2025-06-02 09:43:20,511", 2),
        _restart("2025-06-02 09:51:30,870", 1),
        _restart("2025-06-02 09:59:52,210", 0),
    ]) + "\n")
    faults = [e for e in api.load(str(run)).event_list if e.kind is Kind.DEVICE_FAULT]
    assert [e.code for e in faults] == ["EZ9999"] * 3
    assert {(e.node, e.device) for e in faults} == {("npu-node07", "5")}
    assert all(e.persistent for e in faults)
    assert [e.details["episode"] for e in faults] == [1, 2, 3]
    assert faults[0].time.startswith("2025-06-02T09:42:58.199")


def test_restarts_in_another_file_of_the_run_split_episodes_without_a_pid(tmp_path) -> None:
    """The same device fault twice, minutes apart, from lines without a PID: only the run's restart
    between them (in the launcher's file) makes them two attempts."""
    run = tmp_path / "job-4"
    run.mkdir()
    xid = "{t} gpu-c3 kernel: NVRM: Xid (PCI:0000:b7:00): 94, Contained: CE User Channel (0x9). RST: No, D-RST: No"
    # journalctl -k --output=short-iso
    (run / "gpu-c3-kern.log").write_text(
        xid.format(t="2025-06-02T09:42:58+0000") + "\n" + xid.format(t="2025-06-02T09:47:10+0000") + "\n"
    )
    (run / "launcher.log").write_text(_restart("2025-06-02 09:44:00,000", 2) + "\n")
    alone = [e for e in api.load(str(run / "gpu-c3-kern.log")).event_list if e.kind is Kind.DEVICE_FAULT]
    assert len(alone) == 1 and not alone[0].persistent
    both = [e for e in api.load(str(run)).event_list if e.kind is Kind.DEVICE_FAULT]
    assert len(both) == 2 and all(e.persistent for e in both)


def test_a_restart_of_another_run_does_not_split_episodes(tmp_path) -> None:
    ours, theirs = tmp_path / "job-1", tmp_path / "job-2"
    ours.mkdir()
    theirs.mkdir()
    xid = "{t} gpu-c3 kernel: NVRM: Xid (PCI:0000:b7:00): 94, Contained: CE User Channel (0x9). RST: No, D-RST: No"
    # journalctl -k --output=short-iso, kept beside the job's own output
    (ours / "gpu-c3-kern.log").write_text(
        xid.format(t="2025-06-02T09:42:58+0000") + "\n" + xid.format(t="2025-06-02T09:47:10+0000") + "\n"
    )
    (ours / "slurm-5001.out").write_text("step 1 loss 2.5\n")
    (theirs / "slurm-5002.out").write_text(_restart("2025-06-02 09:44:00,000", 2) + "\n")
    loaded = api.load(str(tmp_path))
    faults = [e for e in loaded.event_list if e.kind is Kind.DEVICE_FAULT]
    assert len(faults) == 1 and not faults[0].persistent and faults[0].run == "slurm-5001"
    assert {e.run for e in loaded.event_list if e.kind is Kind.RESTART} == {"slurm-5002"}
