"""Chatter never raises a fault: the noise an on-call engineer must not be paged for.

Each block is modelled on real output of the program named (values are
ours): NCCL's INFO debug lines (NCCL_DEBUG=INFO, src/init.cc, transport/*),
CANN plog INFO/EVENT records (hiascend plog layout), torchrun's launch-config
dump (torch/distributed/elastic/agent/server/api.py), training configs printed
at start-up, Python warnings that merely name a fault, healthy `nvidia-smi`
and `npu-smi info` tables, and ProcessGroupHCCL's "never timeout" notice.
"""

from __future__ import annotations

import pytest

from monitor.model import Severity
from tests.conftest import fault_events

NOISE = {
    "nccl-info": """\
gpu-node17:41233:41233 [0] NCCL INFO Bootstrap : Using ib0:10.12.3.17<0>
gpu-node17:41233:41233 [0] NCCL INFO NET/Plugin: No plugin found (libnccl-net.so), using internal implementation
gpu-node17:41233:41290 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB [1]mlx5_3:1/IB ; OOB ib0:10.12.3.17<0>
gpu-node17:41233:41290 [0] NCCL INFO Channel 00/24 :    0   1   2   3   4   5   6   7
gpu-node17:41233:41290 [0] NCCL INFO comm 0x5581e2c0 rank 0 nranks 16 cudaDev 0 busId 18000 commId 0x9a1f - Init COMPLETE
gpu-node17:41233:41301 [0] NCCL INFO transport/net.cc:1044 -> 6
gpu-node17:41233:41301 [0] NCCL INFO Call to connect returned Connection timed out, retrying
""",
    "plog-info-event": """\
[INFO] HCCL(81234,python):2025-03-04-10:02:11.204.118 [op_base.cc:312][81234]Entry-HcclCommInitRootInfo:ranks[16], rank[3], rootinfo: host ip[10.0.3.7] port[60000] nicDeploy[1] identifier[10.0.3.7%enp_60000_0_1741082531], deviceLogicId[3]
[EVENT] RUNTIME(81234,python):2025-03-04-10:02:11.553.007 [runtime.cc:1544]81234 Init:runtime init success, this is a event log
[INFO] ASCENDCL(81234,python):2025-03-04-10:02:11.553.900 [acl.cpp:160]81234 aclInit: start to execute aclInit
[EVENT] DRV(81234,python):2025-03-04-10:02:12.001.221 [devmm_svm.c:402]81234 mem stats: total 65536MB, used 1204MB
""",
    "launch-config": """\
[INFO] 2025-03-04 10:00:01,050 api: Starting elastic_operator with launch configs:
  entrypoint       : pretrain_gpt.py
  min_nodes        : 2
  max_nodes        : 2
  nproc_per_node   : 8
  rdzv_backend     : c10d
  rdzv_configs     : {'timeout': 900}
  max_restarts     : 3
  monitor_interval : 5
""",
    "training-config": """\
  ddp_timeout ..................................... 1800
  loss_scale_window ............................... 1000
  nan_check_frequency ............................. 100
  check_for_nan_in_loss_and_grad .................. True
  distributed_timeout_minutes ..................... 30
  exit_on_missing_checkpoint ...................... False
  error_on_nan: true
  on_error: abort
""",
    "warnings": """\
/opt/conda/lib/python3.10/site-packages/torch/utils/data/dataloader.py:557: UserWarning: This DataLoader will create 16 worker processes in total. Our suggested max number of worker in current system is 8, which is smaller than what this DataLoader is going to create. Please be aware that excessive worker creation might get DataLoader running slow or even freeze, lower the worker number to avoid potential slowness/freeze if necessary.
  warnings.warn(_create_warning_msg(
[W304 10:02:11.412000000 ProcessGroupNCCL.cpp:4561] Warning: TORCH_NCCL_AVOID_RECORD_STREAMS is the default now, this environment variable is thus deprecated. (function operator())
/usr/local/lib/python3.10/dist-packages/torch_npu/utils/_path_manager.py:82: UserWarning: Warning: The /usr/local/Ascend/ascend-toolkit/latest owner does not match the current user.
[W compiler_depend.ts:623] Warning: expandable_segments currently defaults to false. You can enable this feature by `export PYTORCH_NPU_ALLOC_CONF = expandable_segments:True`. (function operator())
""",
    "hccl-never-timeout": """\
[W compiler_depend.ts:190] Warning: HCCL execution timeout 0 is set to never timeout, which is bigger than the watchdog timeout 1800000ms. (function ProcessGroupHCCL)
""",
    "nvidia-smi-healthy": """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|=========================================+========================+======================|
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:18:00.0 Off |                    0 |
| N/A   34C    P0             71W /  700W |       1MiB /  81559MiB |      0%      Default |
    Remapped Rows
        Correctable Error                 : 0
        Uncorrectable Error               : 0
        Pending                           : No
        Remapping Failure Occurred        : No
""",
    "npu-smi-healthy": """\
+------------------------------------------------------------------------------------------------+
| npu-smi 23.0.rc3                 Version: 23.0.rc3                                             |
+---------------------------+---------------+----------------------------------------------------+
| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
+===========================+===============+====================================================+
| 0     910B3               | OK            | 91.8        37                0    / 0             |
| 0                         | 0000:C1:00.0  | 0           0    / 0          3161 / 65536         |
""",
    "healthy-progress": """\
 [2025-03-04 10:00:00] iteration      100/   50000 | consumed samples:        25600 | elapsed time per iteration (ms): 1532.4 | learning rate: 3.000E-04 | global batch size:   256 | lm loss: 6.102E+00 | loss scale: 65536.0 | grad norm: 1.204 | number of skipped iterations:   0 | number of nan iterations:   0 |
{'loss': 1.0312, 'grad_norm': 0.8125, 'learning_rate': 1.9e-05, 'epoch': 0.42}
""",
}


@pytest.mark.parametrize("name", sorted(NOISE))
def test_chatter_raises_no_fault(name: str) -> None:
    events = [e for e in fault_events(NOISE[name]) if e.severity >= Severity.WARNING]
    assert events == [], [(e.code, e.evidence) for e in events]
