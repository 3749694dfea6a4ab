"""Issue 15, item 1: the `tail --state` file is data. Loading it runs no code, a file another user
could have written is refused (exit 2), and a malformed one is a warning and a fresh start."""

from __future__ import annotations

import base64
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor import tail
from monitor.live import LiveScan
from monitor.settings import Settings
from monitor.sources import follow
from monitor.sources.follow import StateRefused, load_state, save_state

ROOT = Path(__file__).resolve().parent.parent
NAN_LOG = ROOT / "sample_logs" / "megatron_gpt_bf16_nan.log"


class Payload:
    """Unpickling this creates `marker`: what a planted state file would do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def sigterm():
    """`tail` installs a SIGTERM handler; put the test process's back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def plant(path: Path, extra: object, mode: int = 0o600) -> None:
    path.write_text(json.dumps({"version": follow.STATE_VERSION, "follow": {"version": follow.STATE_VERSION,
                                                                          "files": {}, "rotated": []},
                                "extra": extra}))
    os.chmod(path, mode)


def restore(path: Path) -> LiveScan:
    """Load the state file as `tail` does, into a fresh live scan."""
    notices: list[str] = []
    _, extra = load_state(str(path), notices)
    live = LiveScan(Settings())
    tail._restore(live, extra)
    return live


@pytest.mark.parametrize("version", [1, 2])
def test_issue_15_a_pickle_in_the_state_file_is_never_loaded(tmp_path: Path, capsys, version: int) -> None:
    marker = tmp_path / "pwned"
    blob = base64.b64encode(pickle.dumps({"version": version, "scans": Payload(marker), "announced": {}}))
    state = tmp_path / "state.json"
    for extra in ({"live": blob.decode("ascii")}, {"live": {"version": version, "state": blob.decode("ascii")}}):
        plant(state, extra)
        live = restore(state)
        assert not marker.exists()
        assert live.scans == {} and live.dedupe.announced == {}
    assert "ignoring the saved detector state" in capsys.readouterr().err


def test_issue_15_a_state_file_others_may_write_is_refused_with_exit_2(tmp_path: Path, run_cli, sigterm) -> None:
    state = tmp_path / "state.json"
    plant(state, {}, mode=0o666)
    log = tmp_path / "train.log"
    log.write_text("step 1\n")
    result = run_cli("tail", "--format", "jsonl", "--state", state, log)
    assert result.code == 2 and result.out == "" and "Traceback" not in result.err
    assert "refusing the state file" in result.err and "mode 0666" in result.err and "chmod 600" in result.err


def test_issue_15_a_state_file_of_another_user_is_refused(tmp_path: Path, monkeypatch) -> None:
    state = tmp_path / "state.json"
    plant(state, {})
    monkeypatch.setattr(os, "geteuid", lambda: state.stat().st_uid + 1)
    with pytest.raises(StateRefused, match="owned by user id"):
        load_state(str(state), [])


def test_issue_15_the_state_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    old = os.umask(0o002)
    try:
        save_state(str(state), {"version": follow.STATE_VERSION, "files": {}, "rotated": []}, {})
    finally:
        os.umask(old)
    assert state.stat().st_mode & 0o777 == 0o600
    assert load_state(str(state)) == ({"version": follow.STATE_VERSION, "files": {}, "rotated": []}, {})


@pytest.mark.parametrize("content", [
    "{not json",
    "[" * 200_000 + "]" * 200_000,  # the JSON parser's recursion
    "\xff\xfe binary",
    json.dumps({"version": "1", "follow": [], "extra": 5}),
])
def test_issue_15_a_malformed_state_file_is_a_warning_and_a_fresh_start(tmp_path: Path, content: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(content, encoding="utf-8", errors="surrogateescape")
    os.chmod(state, 0o600)
    notices: list[str] = []
    assert load_state(str(state), notices) == (None, None)
    assert len(notices) == 1 and "starting afresh" in notices[0]


@pytest.mark.parametrize("state_value", [
    [1, 2],
    {"_": "d", "v": [["scans", 5], ["announced", 6]]},  # wrong types
    {"_": "d", "v": [["scans", {"_": "d", "v": [["x.log", {"_": "d", "v": []}]]}], ["announced", {"_": "d", "v": []}]]},
    {"_": "o", "c": "os.system", "v": {}},  # a class outside the monitor's state
    {"_": "nt", "c": "monitor.model.StepRecord", "v": [1]},  # the wrong number of fields
    json.loads("[" * 500 + "]" * 500),  # deeper than any state
])
def test_issue_15_detector_state_of_the_wrong_shape_is_a_warning_and_a_fresh_start(tmp_path, capsys,
                                                                                   state_value) -> None:
    state = tmp_path / "state.json"
    plant(state, {"live": {"version": tail._STATE_VERSION, "state": state_value}})
    live = restore(state)
    assert live.scans == {} and live.dedupe.announced == {}
    assert "ignoring the saved detector state" in capsys.readouterr().err


def test_issue_15_a_huge_state_file_is_not_read(tmp_path: Path, monkeypatch) -> None:
    state = tmp_path / "state.json"
    with state.open("wb") as handle:
        handle.truncate(follow.MAX_STATE_BYTES + 1)  # sparse: no disk used
    os.chmod(state, 0o600)
    notices: list[str] = []
    assert load_state(str(state), notices) == (None, None)
    assert "larger than" in notices[0]


def test_issue_15_a_fifo_as_state_file_does_not_block(tmp_path: Path) -> None:
    state = tmp_path / "state.fifo"
    os.mkfifo(state, 0o600)
    notices: list[str] = []
    assert load_state(str(state), notices) == (None, None)
    assert "not a regular file" in notices[0]


# -- the real command, stopped and started again -----------------------------------------------------------


def start(log: Path, state: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "tail", "--format", "jsonl", "--from-start", "--poll", "0.05",
         "--state", str(state), str(log)],
        stdout=out.open("w"), stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return err


def wait_for_events(out: Path, deadline_s: float = 30.0) -> list[dict]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        text = out.read_text()
        if text.endswith("\n"):
            time.sleep(0.5)  # the rest of the batch
            return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        time.sleep(0.05)
    return []


def test_issue_15_detector_state_round_trips_through_the_file_without_repeated_events(tmp_path: Path) -> None:
    log, state = tmp_path / "train.log", tmp_path / "state.json"
    log.write_bytes(NAN_LOG.read_bytes())
    first = start(log, state, tmp_path / "first.jsonl")
    assert wait_for_events(tmp_path / "first.jsonl")
    assert "Traceback" not in stop(first)
    saved = json.loads(state.read_text())
    assert saved["extra"]["live"]["version"] == tail._STATE_VERSION and isinstance(saved["extra"]["live"]["state"],
                                                                                    dict)
    assert state.stat().st_mode & 0o777 == 0o600
    second = start(log, state, tmp_path / "second.jsonl")
    time.sleep(2.0)  # a repeated event would arrive now
    err = stop(second)
    assert (tmp_path / "second.jsonl").read_text() == ""
    assert "ignoring" not in err and "Traceback" not in err


def test_issue_15_deeply_nested_state_lets_tail_start_afresh(tmp_path: Path) -> None:
    log, state = tmp_path / "train.log", tmp_path / "state.json"
    log.write_bytes(NAN_LOG.read_bytes())
    state.write_text("[" * 200_000 + "]" * 200_000)
    os.chmod(state, 0o600)
    process = start(log, state, tmp_path / "out.jsonl")
    assert wait_for_events(tmp_path / "out.jsonl")
    err = stop(process)
    assert "Traceback" not in err and "nested too deep" in err
