"""`monitor tail --state`: a state save that fails is told on stderr once per distinct error (the
periodic saves, the save before an announcement, and the save at SIGTERM), and the events are still
announced; SIGTERM stops the loop between two polls. `--rescan` sets how often directories and globs
are listed again (default 10 s)."""

from __future__ import annotations

import io
import json
import time
import types

import monitor.sources.follow
from monitor import tail
from monitor.cli import main

FAULT = "RuntimeError: CUDA error: an illegal memory access was encountered\n"


def run(monkeypatch, argv: list[str], script: list) -> str:
    """`monitor tail ARGV` in process; each wait runs the next step of `script`, then SIGTERM comes."""
    stop = tail._Stop()
    monkeypatch.setattr(tail, "_stop_on_sigterm", lambda: stop)

    def sleep(_seconds: float) -> None:
        if script:
            script.pop(0)()
        else:
            stop(15, None)  # what the SIGTERM handler does

    monkeypatch.setattr(tail, "time", types.SimpleNamespace(sleep=sleep, monotonic=time.monotonic, time=time.time))
    out = io.StringIO()
    assert main(["tail", "--format", "jsonl", *argv], out=out) == 0
    return out.getvalue()


def test_a_failing_save_is_told_once_and_the_events_still_announced(tmp_path, monkeypatch, capsys) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    state = tmp_path / "missing" / "state.json"
    other = FAULT.replace("illegal", "x")
    script = [lambda: log.write_text(FAULT), lambda: None, lambda: log.write_text(FAULT + other)]
    out = run(monkeypatch, ["--state", str(state), str(log)], script)
    codes = [json.loads(line)["code"] for line in out.splitlines()]
    assert codes == ["CUDA-ILLEGAL-ADDRESS", "UNCATALOGED"]  # two announcements, each after a failed save
    err = capsys.readouterr().err
    assert err.count(f"cannot save the state to {state}: No such file or directory; will retry") == 1


def test_the_save_at_sigterm_is_not_silent(tmp_path, monkeypatch, capsys) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    state = tmp_path / "state.json"
    state.mkdir()  # a directory where the file should be: the save cannot replace it
    assert run(monkeypatch, ["--state", str(state), str(log)], []) == ""
    err = capsys.readouterr().err
    assert f"cannot save the state to {state}: " in err and err.count("cannot save the state") == 1


def test_sigterm_saves_the_state_of_whole_batches(tmp_path, monkeypatch) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    state = tmp_path / "state.json"
    run(monkeypatch, ["--state", str(state), str(log)], [lambda: log.write_text("a\nb\n")])
    saved, _ = monitor.sources.follow.load_state(str(state))
    assert saved is not None and saved["files"][str(log)]["offset"] == 4


def test_rescan_defaults_to_ten_seconds_and_is_passed_on(tmp_path, monkeypatch) -> None:
    seen: list[float] = []
    real = monitor.sources.follow.Follower

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            seen.append(kwargs["rescan_every"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(monitor.sources.follow, "Follower", Recording)
    (tmp_path / "train.log").write_text("")
    run(monkeypatch, [str(tmp_path)], [])
    run(monkeypatch, ["--rescan", "30", str(tmp_path)], [])
    assert seen == [10.0, 30.0]


def test_a_negative_rescan_is_a_usage_error(run_cli, tmp_path) -> None:
    result = run_cli("tail", "--rescan", "-1", tmp_path)
    assert result.code == 2 and "--rescan SECONDS must be 0 or more, not -1" in result.err
