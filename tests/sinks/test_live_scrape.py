"""End to end: a running `monitor tail` follows three runs of different frameworks, none of which
prints a rank, plus a node's kernel log; its /metrics keeps one series per file, labels events with
their node and device, and passes `promtool check metrics` without a word.

The layouts are the frameworks' own (values are ours):
- nanoGPT, karpathy/nanoGPT train.py: `print(f"iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms,
  mfu {running_mfu*100:.2f}%")`;
- HF Trainer, transformers trainer_callback.py ProgressCallback.on_log: the logs dict printed as is;
- Megatron-LM, megatron/training/training.py `training_log` (the iteration line with its `|` fields);
- the kernel's NVRM Xid line (NVIDIA's Xid errors document), in rsyslog's RFC 3339 layout.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import stop
from tests.sinks.test_alert_rules import run_promtool

NANOGPT = "iter {step}: loss {loss:.4f}, time 231.57ms, mfu 38.12%\n"
HF = "{{'loss': {loss}, 'grad_norm': 1.52, 'learning_rate': 4.9e-05, 'epoch': {epoch}}}\n"
MEGATRON = (" iteration {step:8d}/   20000 | consumed samples: {samples:12d} | "
            "elapsed time per iteration (ms): 1544.0 | learning rate: 3.000000E-04 | global batch size:   256 | "
            "lm loss: {loss:.6E} | loss scale: 1.0 |"
            " grad norm: 1.129 | number of skipped iterations:   0 | number of nan iterations:   0 |\n")
XID = "2025-03-04T10:01:07+0000 gpu7 kernel: NVRM: Xid (PCI:0000:3b:00): 79, pid=18234, name=python3, " \
      "GPU has fallen off the bus.\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode("utf-8")
    except OSError:
        return ""


@pytest.fixture
def tail(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    logs = tmp_path / "logs"
    for run in ("nanogpt", "hf", "megatron", "node"):
        (logs / run).mkdir(parents=True)
    (logs / "nanogpt" / "train.log").write_text(NANOGPT.format(step=10, loss=4.31))
    (logs / "hf" / "trainer.log").write_text(HF.format(loss=2.31, epoch=0.01))
    (logs / "megatron" / "train.log").write_text(MEGATRON.format(step=10, samples=2560, loss=10.64))
    (logs / "node" / "kern.log").write_text("")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "tail", "--format", "jsonl", "--from-start", "--poll", "0.1",
         "--metrics-port", str(port), "--run", "three", str(logs)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield logs, port
    finally:
        stop(process)


def test_three_frameworks_three_series_events_with_node_and_device_and_promtool_is_silent(
    tail: tuple[Path, int],
) -> None:
    logs, port = tail
    with open(logs / "nanogpt" / "train.log", "a") as handle:
        handle.write(NANOGPT.format(step=20, loss=4.12))
    with open(logs / "hf" / "trainer.log", "a") as handle:
        handle.write(HF.format(loss=2.2, epoch=0.02))
    with open(logs / "megatron" / "train.log", "a") as handle:
        handle.write(MEGATRON.format(step=20, samples=5120, loss=10.39))
    with open(logs / "megatron" / "train.log", "a") as handle:  # no host on this line: the agent's
        handle.write("RuntimeError: CUDA error: uncorrectable ECC error encountered\n")
    with open(logs / "node" / "kern.log", "a") as handle:
        handle.write(XID)
    wanted = [
        'monitor_step{node="",rank="",run="three",source="nanogpt/train.log"} 20.0',
        'monitor_step{node="",rank="",run="three",source="megatron/train.log"} 20.0',
        'monitor_loss{node="",rank="",run="three",source="hf/trainer.log"} 2.2',
        'code="XID-79",device="00000000:3B:00.0",kind="device_fault",node="gpu7",run="three"',
        f'code="CUDA-ECC-UNCORRECTABLE",device="",kind="device_fault",node="{socket.gethostname()}",run="three"',
    ]
    end = time.monotonic() + 60
    text = scrape(port)
    while not all(line in text for line in wanted) and time.monotonic() < end:
        time.sleep(0.2)
        text = scrape(port)
    assert [line for line in wanted if line not in text] == []
    assert not re.search(r'monitor_step\{node="",rank="",run="three",source=""\}', text)  # nothing collapsed
    assert "process_resident_memory_bytes" in text and "monitor_events_created{" in text
    assert "monitor_follow_loop_last_iteration_timestamp_seconds " in text
    checked = run_promtool("check", "metrics", stdin=text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
