"""Huawei Ascend lines: CANN / plog timestamps, device ids and whole host names.

Layouts as CANN, HCCL, the Ascend driver, torch_npu and MindSpore print them: the plog record
`[<LEVEL>] <MODULE>(<pid>,<proc>):YYYY-MM-DD-HH:MM:SS.mmm.uuu [<file>:<line>]...`, the error
manager's `<CODE>: YYYY-MM-DD-HH:MM:SS.mmm.uuu  <message>` and `[PID: <n>] <timestamp>`.
Values are made up.
"""

from __future__ import annotations

import pytest

from monitor.parsers.attribution import attribute_path, attribute_prefix, device_of
from monitor.parsers.base import ParseContext
from monitor.parsers.timestamps import find_timestamp


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("[ERROR] RUNTIME(30412,python3):2025-05-06-09:12:44.310.228 ", "2025-05-06T09:12:44.310228"),
        ("[INFO] HCCL(2211,python):2024-12-19-02:31:07.052.010 [heartbeat.cc:951] ", "2024-12-19T02:31:07.052010"),
        ("[ERROR] HCCL(88120,):2025-08-19-03:11:40.228.517 ", "2025-08-19T03:11:40.228517"),  # empty process name
        ("[ERROR]HCCL(99120,python3):2025-12-02-03:18:44.120.551[task.cc:610]", "2025-12-02T03:18:44.120551"),
        ("[ERROR] TSCH(-1,null):2021-03-09-22:01:51.004.009 12 (cpuid:0) ", "2021-03-09T22:01:51.004009"),
        ("[WARNING] MD(5120,fffd117fa1e0,python):2023-11-02-10:00:09.990.101 [data_queue_op.cc:832] ",
         "2023-11-02T10:00:09.990101"),
        ("EZ9999: 2024-11-02-08:14:37.215.904  ", "2024-11-02T08:14:37.215904"),
        ("[PID: 3120] 2025-12-01-08:40:11.207.664 Get_Socket_Timeout(EI0006): ", "2025-12-01T08:40:11.207664"),
        ("[2025-08-21 11:07:42.29810] [error] [60671] ", "2025-08-21T11:07:42.298100"),  # ATB runner log
    ],
)
def test_cann_timestamps(text: str, iso: str) -> None:
    found = find_timestamp(text, 2020)
    assert found is not None and found.iso == iso and found.printed_year == int(iso[:4])


@pytest.mark.parametrize(
    "text", ["plog-30412_20250506091244310.log ", "2025-05-06-0912 ", "serial number is 2025-13-06-09:12:44.310.228"]
)
def test_not_cann_timestamps(text: str) -> None:
    assert find_timestamp(text, 2020) is None


def test_a_plog_fault_line_gets_its_time() -> None:
    ctx = ParseContext("plog-4410.log", "/var/log/npu-node07/plog-4410.log", 2020)
    line = ("[ERROR] HCCL(4410,python):2025-03-08-21:17:05.663.002 [exchanger_network.cc:232][4410][4512]"
            "[Wait][AllClientSocketEstab] client : device[3] rank[3] get socket timeout")
    time, seconds, rank, node = ctx.where(line, line.index("device[3]"))
    assert time == "2025-03-08T21:17:05.663002" and seconds is not None
    assert (rank, node) == (None, "npu-node07")


@pytest.mark.parametrize(
    ("line", "device"),
    [
        ("The error from device(chipId:5, dieId:0), serial number is 3, there is an aicore error", "5"),
        ("The extend info from device(2), serial number is 8, there is aicore error", "2"),
        ("Notify wait execute failed, device_id=3, stream_id=19, task_id=4", "3"),
        ("Task fail infos task_id: 2, stream_id: 7, tid: 8812, device_id: 6, retcode: 507011", "6"),
        ("[hccl_runner.cpp:88] InitComm deviceId=4, rank:1", "4"),
        ("Fail to get sq reg virtual addr, deviceId=2, sqId=40.", "2"),
        ("localInfo{server[10.8.0.2],deviceId[1],deviceIp[192.168.10.2]}", "1"),
        ("RuntimeError: context_extends.cc:105 OpenTsd] Device 7 call rtSetDevice failed, ret[107001]", "7"),
        ("[ERROR] 2024-10-09-17:22:41 (PID:5521, Device:0, RankID:-1) ERR00100 PTA call acl api failed", "0"),
        ("        Device[1] lost heartbeat.[FUNC:SyncTask][FILE:direct_hwts_engine.cc][LINE:407]", "1"),
        ("DEVICE[4] PID[8812]:", "4"),
        ("[device 5]link up count : 3", "5"),
        ("[devid 3]     Thu Oct 16 04:12:55 2025     LINK DOWN", "3"),
        ("drvDeviceGetBareTgid failed, devid=2, ret=87", "2"),
        ("halGetDeviceInfo failed, DevId 6", "6"),
        ("set device failed, device id is 3", "3"),
        ("Tried to allocate 2.00 GiB on npu:3", "3"),
    ],
)
def test_device_ids(line: str, device: str) -> None:
    assert device_of(line) == device


@pytest.mark.parametrize(
    "line",
    [
        "device count 8",
        "Device count: 8",
        "device_count=8",
        "devices: 8",
        "visible devices 0,1,2,3",
        "ASCEND_RT_VISIBLE_DEVICES=0,1,2,3",
        "Device 0 of 8 is ready",
        "device 2, 3 and 4 are in use",
        "Device 3.5 GB free",
        "device_id=-1",
        "deviceLogicId[1]",
        "Device: Ascend910B3",
        "torch.npu.set_device(3)",
        "RuntimeError: CUDA error on cuda:0",  # an NVIDIA placement is not read as an NPU id
        "no device named here",
    ],
)
def test_no_device_id(line: str) -> None:
    assert device_of(line) is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("logs/npu-node07/plog-123.log", (None, "npu-node07")),
        ("/data/logs/worker-npu-node07.log", (None, "npu-node07")),
        ("/data/logs/stdout-ascend-node3.log", (None, "ascend-node3")),
        ("/data/logs/rank3-npu-node12.out", (3, "npu-node12")),
        ("/logs/stdout-node12.log", (None, "node12")),
        ("/logs/job/train-node_4.log", (None, "node_4")),
        ("/logs/npu-node07/rank_5.log", (5, "npu-node07")),
    ],
)
def test_host_names_are_kept_whole(path: str, expected: tuple[int | None, str | None]) -> None:
    assert attribute_path(path) == expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("npu-node07: ", (None, "npu-node07")),
        ("npu-node07: 3: ", (3, "npu-node07")),
        ("Mar  4 10:01:07 npu-node07 kernel: ", (None, "npu-node07")),
    ],
)
def test_host_names_in_prefixes_are_kept_whole(prefix: str, expected: tuple[int | None, str | None]) -> None:
    assert attribute_prefix(prefix) == expected
