"""Ctrl-C: exit 130 (128 + SIGINT, as a shell reports it) with one line on stderr and no traceback, for
every command, including one that catches the interrupt to shut down cleanly (`tail` saves its state)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from monitor import cli

ROOT = Path(__file__).resolve().parent.parent
BUS = ROOT / "sample_logs" / "gpu_fell_off_bus"


def interrupted(result) -> bool:
    return result.code == 130 and result.err == "monitor: interrupted\n" and result.out == ""


def press_ctrl_c(*_args, **_kwargs):
    signal.raise_signal(signal.SIGINT)  # what the terminal sends; the handler of `main` turns it into the exit
    raise AssertionError("the interrupt did not stop the command")


def test_scan(run_cli, monkeypatch) -> None:
    monkeypatch.setattr(cli, "scan", press_ctrl_c)
    assert interrupted(run_cli("scan", BUS))


def test_report(run_cli, monkeypatch, tmp_path) -> None:
    import monitor.api

    monkeypatch.setattr(monitor.api, "load", press_ctrl_c)
    assert interrupted(run_cli("report", BUS, "-o", tmp_path / "r.html"))
    assert list(tmp_path.iterdir()) == []


def test_a_command_that_catches_the_interrupt_to_shut_down_still_exits_130(run_cli, monkeypatch) -> None:
    import monitor.tail

    def tail_that_saves_its_state_and_returns(*_args):
        try:
            press_ctrl_c()
        except KeyboardInterrupt:
            return cli.EXIT_OK
        raise AssertionError("no KeyboardInterrupt")

    monkeypatch.setattr(monitor.tail, "run_tail", tail_that_saves_its_state_and_returns)
    assert interrupted(run_cli("tail", BUS))


def test_the_previous_handler_is_back_after_the_command(run_cli, tmp_path) -> None:
    before = signal.getsignal(signal.SIGINT)
    log = tmp_path / "train.log"
    log.write_text("hello\n")
    run_cli("scan", log)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_forked_worker_exits_quietly_and_leaves_the_message_to_the_main_process() -> None:
    """Ctrl-C reaches every process of the terminal's foreground group, scan workers included."""
    interrupts = cli._Interrupts()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: stderr goes to the pipe
        os.close(read)
        os.dup2(write, 2)
        interrupts.handle(signal.SIGINT, None)
        os._exit(99)  # not reached
    os.close(write)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read) as stderr:
        assert (os.waitstatus_to_exitcode(status), stderr.read()) == (130, "")


@pytest.fixture
def following(tmp_path):
    """`monitor tail` in its own process, following a log that already holds an error (read first): PyTorch's
    CUDA out-of-memory message as its caching allocator words it (c10/cuda/CUDACachingAllocator.cpp)."""
    log = tmp_path / "train.log"
    log.write_text("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                   "capacity of 79.10 GiB of which 1.12 GiB is free.\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "tail", "--from-start", "--format", "jsonl", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def test_ctrl_c_stops_a_real_tail_with_130_and_one_line(following) -> None:
    """Once the first event is out, the process is in its following loop: interrupt it there."""
    first = []
    reader = threading.Thread(target=lambda: first.append(following.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert first and '"kind": "oom"' in first[0]
    following.send_signal(signal.SIGINT)
    out, err = following.communicate(timeout=60)
    assert following.returncode == 130
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "monitor: interrupted"
