"""Ascend fault lines end to end: the event's kind and code, its time from the CANN stamp and
its device from the line, for the layouts CANN, HCCL, hccn_tool, torch_npu and MindSpore print.
Values are made up; the layouts are those of the catalog entries' references."""

from __future__ import annotations

from monitor.model import Kind
from tests.conftest import fault_events


def _kinds(text: str) -> set[tuple[str, str | None]]:
    return {(e.kind.value, e.code) for e in fault_events(text)}


def test_a_plog_fault_carries_its_time_and_device() -> None:
    [event] = [e for e in fault_events(
        "[ERROR] HCCL(4410,python):2025-03-08-21:17:05.663.002 [exchanger_network.cc:232][4410][4512]"
        "[Wait][AllClientSocketEstab]errNo[0x000000000500000b] client : device[3] rank[3] get socket timeout"
    ) if e.code == "EI0006"]
    assert event.time == "2025-03-08T21:17:05.663002"
    assert event.device == "3"


def test_a_device_named_by_the_line_fills_the_event() -> None:
    [event] = fault_events("        Notify wait execute failed, device_id=5, stream_id=19, task_id=4, flip_num=0")
    assert event.kind is Kind.HANG and event.device == "5"


def test_an_info_level_heartbeat_lost_record_is_a_fault() -> None:
    [event] = fault_events(
        "[INFO] HCCL(7120,python):2025-10-02-11:40:12.331.008 [heartbeat.cc:951] [7291][HCCL_TRACE]rank "
        "[10.4.0.2/2]: rank [10.4.0.3/13] status[LOST] by rank [10.4.0.2/2]"
    )
    assert (event.kind, event.code) == (Kind.COMM_ERROR, "HCCL-HEARTBEAT-LOST")
    assert event.time == "2025-10-02T11:40:12.331008"


def test_a_roce_error_cqe_is_a_comm_error_and_its_register_dump_is_not() -> None:
    events = fault_events(
        "[ERROR] ROCE(9120,python3):2025-06-11-07:08:09.101.202 [hns_roce_lite.c:630]"
        "hns_roce_lite_handle_error_cqe(630) : error cqe status: 0x15\n"
        "[ERROR] ROCE(9120,python3):2025-06-11-07:08:09.101.210 [hns_roce_lite.c:747]dump_err_cqe(747) : CQ(0x8) "
        "CQE(0x2) INDEX(0x00000000): 0x00041580\n"
    )
    assert [(e.kind, e.code) for e in events if e.code == "EI0013"] == [(Kind.COMM_ERROR, "EI0013")]
    assert not any(e.kind is Kind.DEVICE_FAULT for e in events)


def test_a_wrapped_device_report_keeps_its_cann_code() -> None:
    kinds = _kinds(
        "EE9999[PID: 5512] The error from device(chipId:2, dieId:0), serial number is 4.\n"
        "there is a fftsplus sdma error, sdma channel is 3,\n"
        "sdmaState=0x6, sdmaTslotid=0x1, sdmaCxtid=0x2, sdmaThreadid=0x0,\n"
    )
    assert ("device_fault", "EE9999") in kinds
    assert ("device_fault", "507049") in kinds
    assert not any(kind == "hang" for kind, _ in kinds)


def test_device_absent_and_lost_heartbeat_are_device_faults() -> None:
    events = fault_events(
        "[PID: 7121] 2026-02-01-03:04:05.600.700 Device_Absent/Abnormal(EL0001): Device not found or invalid.\n"
        "        TraceBack (most recent call last):\n"
        "        Device[2] lost heartbeat.[FUNC:SyncTask][FILE:direct_hwts_engine.cc][LINE:407]\n"
        "        wait for compute device to finish failed, runtime result = 507010.[FUNC:ReportCallError]"
        "[FILE:log_inner.cpp][LINE:148]\n"
    )
    found = {(e.kind, e.code) for e in events}
    assert (Kind.DEVICE_FAULT, "EL0001") in found and (Kind.DEVICE_FAULT, "507010") in found
    assert next(e for e in events if e.code == "EL0001").time == "2026-02-01T03:04:05.600700"
    assert any(e.device == "2" for e in events if e.code == "507010")


def test_an_old_torch_npu_npu_error_is_a_crash_beside_its_hang() -> None:
    kinds = _kinds(
        "npuSynchronizeDevice:/build/pytorch/torch_npu/csrc/core/npu/NPUStream.cpp:370 NPU error, "
        "error code is 107020.\n"
    )
    assert ("hang", "107020") in kinds
    assert ("crash", "TORCH-NPU-NPU-ERROR") in kinds


def test_a_torch_npu_hccl_code_is_a_comm_error_and_names_the_exception_it_ends() -> None:
    """torch_npu's error codes are ERR<module><type> (torch_npu/utils/error_code.py: type 200 is `call hccl
    api failed`): the collective library failed, a comm_error. Its exceptions print the code on the line
    after their message (`_format_error_msg`), so the crash of that exception takes the code."""
    events = fault_events(
        "  File \"/opt/venv/lib/python3.10/site-packages/torch/distributed/distributed_c10d.py\", line 3439, in "
        "barrier\n"
        "    work = default_pg.barrier(opts=opts)\n"
        "RuntimeError: [ERROR] HCCL error in: torch_npu/csrc/distributed/ProcessGroupHCCL.cpp:64\n"
        "[ERROR] 2025-03-02-10:11:12 (PID:4410, Device:5, RankID:13) ERR02200 DIST call hccl api failed.\n"
    )
    found = {(e.kind, e.code, e.line) for e in events}
    assert (Kind.COMM_ERROR, "ERR02200", 4) in found and (Kind.CRASH, "ERR02200", 3) in found
    head = "[ERROR] 2025-03-02-10:11:12 (PID:4410, Device:5, RankID:13)"
    alone = fault_events(f"{head} ERR01200 OPS call hccl api failed.\n")
    assert [(e.kind, e.code, e.rank) for e in alone] == [(Kind.COMM_ERROR, "ERR01200", 13)]
    other = fault_events(f"{head} ERR00100 PTA call acl api failed.\n")
    assert [(e.kind, e.code) for e in other] == [(Kind.CRASH, "ERR00100")]


def test_a_mindspore_task_failure_is_a_device_fault_and_the_stream_sync_a_crash() -> None:
    events = fault_events(
        "[ERROR] DEVICE(7120,fffd34f491e0,python):2024-03-01-10:00:01.100.200 [mindspore/ccsrc/plugin/device/ascend/"
        "hal/device/ascend_kernel_runtime.cc:674] TaskFailCallback] Execute TaskFailCallback failed. current_graph_ "
        "is nullptr\n"
        "[ERROR] DEVICE(7120,fffd34f491e0,python):2024-03-01-10:00:01.500.300 [mindspore/ccsrc/plugin/device/ascend/"
        "hal/device/ascend_kernel_runtime.cc:1133] SyncStream] Sync default stream failed.\n"
        "[ERROR] DEVICE(7120,fffd34f491e0,python):2024-03-01-10:00:02.700.800 [mindspore/ccsrc/plugin/device/ascend/"
        "hal/device/ascend_kernel_runtime.cc:745] DumpTaskExceptionInfo] Task fail infos task_id: 3, stream_id: 12, "
        "tid: 7120, device_id: 1, retcode: 507011 ( model execute failed)\n"
    )
    by_code = {e.code: e for e in events}
    assert by_code["MINDSPORE-TASK-FAIL"].kind is Kind.DEVICE_FAULT
    assert by_code["MINDSPORE-SYNCSTREAM-FAILED"].kind is Kind.CRASH
    assert by_code["507011"].kind is Kind.DEVICE_FAULT and by_code["507011"].device == "1"
    assert by_code["MINDSPORE-TASK-FAIL"].time == "2024-03-01T10:00:01.100200"


def test_device_side_and_driver_faults() -> None:
    kinds = _kinds(
        "[ERROR] TSCH(-1,null):2022-01-05-04:03:02.001.002 7 (cpuid:0) ai_core_dispatcher.c:1012 "
        "bs_done_exception_proc_timeout: slot_id=2,TS_ctrl=0x4,exception_core_list=0x0,current core usage=0x1,"
        "AI_CORES_COUNT=2, fault_task=9\n"
        "        tsd client wait response fail, device response code[1]. unknown device error.[FUNC:WaitRsp]"
        "[FILE:process_mode_manager.cpp][LINE:290]\n"
        "[rank3]: RuntimeError: synchronize:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:471 NPU function error: "
        "UCE ERROR., error code is 507053\n"
    )
    assert {("device_fault", "507014"), ("device_fault", "TSD-DEVICE-ERROR"), ("device_fault", "507053")} <= kinds


def test_hccn_tool_reports() -> None:
    kinds = _kinds("link status: DOWN\nnet health status: Fault\nlink status: UP\nnet health status: Success\n")
    assert kinds == {("comm_error", "NPU-ROCE-LINK-DOWN"), ("comm_error", "NPU-NET-HEALTH-FAULT")}


def test_communicator_init_failures() -> None:
    events = fault_events(
        "[ERROR] HCCL(3301,python3):2025-04-01-02:03:04.005.006 [op_base.cc:974][3390][Init][CommRootInfoConfig]"
        "errNo[0x0000000005000002]HcclCommInitRootInfo failed.\n"
        "[2025-04-01 02:03:04.01100] [error] [3388] [hccl_runner.cpp:132] AllGatherHcclRunner:0 HcclCommInitRootInfo "
        "fail, error:2, rank:3, rankSize:4\n"
    )
    [event] = events  # the ATB runner's line repeats the plog record's fault: folded into it
    assert (event.kind, event.code, event.count) == (Kind.COMM_ERROR, "HCCL-COMM-INIT-FAILED", 2)
    assert event.time == "2025-04-01T02:03:04.005006"


def test_benign_ascend_lines_raise_nothing() -> None:
    text = (
        "[INFO] HCCL(77120,python3):2025-09-02-07:13:20.118.402 [op_base.cc:1292] [77120]"
        "Entry-HcclCommInitRootInfoInner:ranks[16], rank[9], rootinfo: host ip[10.8.0.2] port[60000]\n"
        "[INFO] HCCL(2211,python):2025-06-03-13:40:20.004.551 [adapter_rts.cc:1021] [2211]HCCL_EXEC_TIMEOUT set by "
        "environment to [1800]s\n"
        "        Health Status                  : OK\n"
        "export HCCL_CONNECT_TIMEOUT=1200 ASCEND_RT_VISIBLE_DEVICES=0,1,2,3\n"
        "vnic link status: UP\n"
    )
    assert fault_events(text) == []


def test_a_cann_code_takes_the_kind_of_a_fault_its_own_line_tells() -> None:
    """`EH9999  wait for compute device to finish failed, runtime result = 107020.` (CANN's error
    manager, LLaMA-Factory on Ascend, hiyouga/LlamaFactory#5347): the code names the module, the
    runtime result on the same line the failure (a task timeout). The code's event takes that kind,
    its evidence still quotes the runtime result; a code whose line tells nothing more stays a crash."""
    events = fault_events(
        "        rtDeviceSynchronize execute failed, reason=[task timeout][FUNC:FuncErrorReason]"
        "[FILE:error_message_manage.cc][LINE:53]\n"
        "EH9999  wait for compute device to finish failed, runtime result = 107020.[FUNC:ReportCallError]"
        "[FILE:log_inner.cpp][LINE:161]\n"
    )
    [code] = [e for e in events if e.code == "EH9999"]
    assert code.kind is Kind.HANG and code.line == 2 and "107020" in code.evidence
    assert any(e.code == "107020" and e.kind is Kind.HANG for e in events)
    [plain] = [e for e in fault_events(
        "EH9999  Kernel launch failed for an unknown operator.[FUNC:ReportCallError][FILE:log_inner.cpp][LINE:161]\n"
    ) if e.code == "EH9999"]
    assert plain.kind is Kind.CRASH


def test_a_cann_header_takes_the_kind_its_cause_lines_tell() -> None:
    """CANN's error manager prints `<code>: Inner Error!` and then the cause, indented, innermost
    failure first (MindSpore's "CANN Common Error Analysis", EE9999 on-chip memory allocation
    failure: halMemAlloc failed ... then `rtMalloc execute failed, reason=[driver error:out of memory]`).
    The header's event becomes the most telling kind its cause lines show; a block whose lines
    tell nothing more stays a crash, and a line after the block changes nothing."""
    [oom] = [e for e in fault_events(
        "EE9999: Inner Error!\n"
        "        [driver interface] halMemAlloc failed: device_id=2, size=21474836480, type=2, env_type=3, "
        "drvRetCode=6![FUNC:ReportError][FILE:npu_driver.cc][LINE:571]\n"
        "        rtMalloc execute failed, reason=[driver error:out of memory][FUNC:ReportError]"
        "[FILE:error_message_manage.cc][LINE:571]\n"
    ) if e.code == "EE9999"]
    assert oom.kind is Kind.OOM and "[cause] rtMalloc execute failed" in oom.message
    [plain] = [e for e in fault_events(
        "EZ9999: Inner Error!\n"
        "        Parse dynamic kernel config fail.[FUNC:ParseDynamicKernelConfig][FILE:op_tiling.cc][LINE:88]\n"
    ) if e.code == "EZ9999"]
    assert plain.kind is Kind.CRASH
    [after] = [e for e in fault_events(
        "EZ9999: Inner Error!\n"
        "epoch: 3 step: 120, loss is 2.0871\n"
        "        rtMalloc execute failed, reason=[driver error:out of memory]\n"
    ) if e.code == "EZ9999"]
    assert after.kind is Kind.CRASH
