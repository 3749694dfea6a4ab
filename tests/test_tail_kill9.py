"""`monitor tail --state` killed with SIGKILL (kill -9, the OOM killer) while a writer logs at 5,000
lines a second, then started again with the same state file: no event is announced twice, on stdout
or to the webhook. An event is announced only once the state that holds it (the offsets past its line)
is saved, so the lines read again after the restart are those whose events were never announced.

The fault lines are NVIDIA's Xid kernel message (docs.nvidia.com/deploy/xid-errors: `NVRM: Xid (PCI:
DOMAIN:BUS:DEVICE): 79, pid=..., name=..., GPU has fallen off the bus.`), one per device so each is
its own finding; the progress lines are Megatron-LM's iteration line. Our own values.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAULTS = 400


def xid(n: int) -> str:
    pci = f"{n // 256:04x}:{n % 256:02x}:00"
    return f"NVRM: Xid (PCI:{pci}): 79, pid={1000 + n}, name=python, GPU has fallen off the bus.\n"


def write_log(log: Path, started: threading.Event) -> None:
    """25 progress lines and one fault line per burst, 200 bursts a second: 5,200 lines a second."""
    with log.open("a") as handle:
        for n in range(FAULTS):
            handle.write("".join(f" iteration {n * 25 + i:8d}/ 1000000 | lm loss: 2.000000E+00 |\n" for i in range(25)))
            handle.write(xid(n))
            handle.flush()
            started.set()
            time.sleep(0.005)


class Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("Content-Length") or 0)
        Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def start(log: Path, state: Path, out: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "tail", "--format", "jsonl", "--from-start", "--poll", "0.05",
         "--state", str(state), "--webhook", f"http://127.0.0.1:{port}/", "--webhook-style", "plain",
         "--webhook-severity", "info", str(log)],
        stdout=out.open("w"), stderr=subprocess.DEVNULL, cwd=ROOT,
    )


def announced(out: Path) -> list[tuple[str, int]]:
    """(code, line) of each complete event line written (a kill may cut the last one short)."""
    text = out.read_text()
    complete = text[: text.rfind("\n") + 1]
    return [(e["code"], e["line"]) for e in map(json.loads, complete.splitlines())]


def wait_for(condition, deadline_s: float = 60.0) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_killed_with_sigkill_and_restarted_announces_nothing_twice(tmp_path: Path) -> None:
    Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log, state = tmp_path / "kern.log", tmp_path / "state.json"
    log.write_text("")
    first_out, second_out = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first = start(log, state, first_out, server.server_port)
    started = threading.Event()
    writer = threading.Thread(target=write_log, args=(log, started), daemon=True)
    writer.start()
    try:
        assert wait_for(lambda: len(announced(first_out)) >= 20)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        second = start(log, state, second_out, server.server_port)
        writer.join(timeout=60)
        last = sum(26 for _ in range(FAULTS))  # the line of the last fault
        assert wait_for(lambda: ("XID-79", last) in announced(second_out))
        assert wait_for(lambda: any(b.get("line") == last for b in Receiver.bodies), 20.0)
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    finally:
        server.shutdown()
        for process in (first, locals().get("second")):
            if process is not None and process.poll() is None:
                process.kill()
    stdout = announced(first_out) + announced(second_out)
    assert len(stdout) == len(set(stdout)) and len(set(stdout)) > 20
    posted = [(b["code"], b["line"]) for b in Receiver.bodies]
    assert len(posted) == len(set(posted)) and set(posted) <= set(stdout)
