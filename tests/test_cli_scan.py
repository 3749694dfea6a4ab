"""`monitor scan` end to end, in process: outputs, exit codes and bad input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

CONTRACT_FIELDS = [
    "kind", "severity", "message", "code", "file", "line", "time", "step", "rank", "node", "device",
    "evidence", "action", "value", "baseline", "domain", "role", "count", "ranks", "nodes", "persistent",
    "cause", "details", "run", "schema_version",
]


def megatron(step: int, loss: str = "2.500000E+00", nan: int = 0) -> str:
    loss_field = f" lm loss: {loss} |" if loss else ""
    return (
        f" iteration {step:8d}/    1000 | consumed samples: {step * 8:12d} | elapsed time per iteration (ms): 812.4 |"
        f" learning rate: 1.000E-04 | global batch size:     8 |{loss_field} loss scale: 1.0 | grad norm: 0.900 |"
        f" number of skipped iterations:   0 | number of nan iterations: {nan:3d} |\n"
    )


@pytest.fixture
def healthy(tmp_path):
    path = tmp_path / "healthy.log"
    path.write_text("".join(megatron(s) for s in range(10, 110, 10)))
    return path


@pytest.fixture
def broken(tmp_path):
    path = tmp_path / "broken.log"
    path.write_text("".join(megatron(s) for s in range(10, 60, 10)) + megatron(60, loss="") + megatron(70, loss=""))
    return path


def test_jsonl_events_carry_every_contract_field_and_exit_1(run_cli, broken) -> None:
    result = run_cli("scan", "--format", "jsonl", broken)
    assert result.code == 1
    events = [json.loads(line) for line in result.out.splitlines()]
    assert [(e["kind"], e["code"], e["step"], e["line"]) for e in events] == [("nan", "LOSS-NAN", 60, 6)]
    assert list(events[0]) == CONTRACT_FIELDS
    assert events[0]["value"] == "nan" and events[0]["baseline"] == 2.5
    assert events[0]["file"] == str(broken) and events[0]["severity"] == "error"


def test_healthy_log_exits_0_with_no_events(run_cli, healthy) -> None:
    result = run_cli("scan", "--format", "jsonl", healthy)
    assert (result.code, result.out, result.err) == (0, "", "")


def test_fail_on_sets_the_threshold(run_cli, tmp_path) -> None:
    path = tmp_path / "fp16.log"
    path.write_text(
        megatron(1000)
        + "".join(
            f"[2024-01-01 00:00:0{i},000] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 "
            f"Skipping step. Attempted loss scale: {2 ** (12 - i)}, reducing to {2 ** (11 - i)}\n"
            for i in range(3)
        )
    )
    assert run_cli("scan", "--format", "jsonl", path).code == 0  # the storm is a warning
    assert run_cli("scan", "--format", "jsonl", "--fail-on", "warning", path).code == 1


def test_json_document_has_events_and_a_summary_per_file(run_cli, broken, healthy) -> None:
    result = run_cli("scan", "--format", "json", healthy, broken)
    document = json.loads(result.out)
    assert [f["file"] for f in document["files"]] == [str(healthy), str(broken)]
    first = document["files"][0]
    assert (first["format"], first["steps"], first["first_step"], first["last_step"], first["last_loss"]) == (
        "megatron", 10, 10, 100, 2.5
    )
    assert [e["code"] for e in document["events"]] == ["LOSS-NAN"]
    assert document["errors"] == []


def test_table_names_files_codes_and_totals(run_cli, broken) -> None:
    result = run_cli("scan", broken)
    assert result.code == 1
    assert "LOSS-NAN" in result.out and "megatron" in result.out and "1 event(s): 1 error" in result.out
    assert "\x1b[" not in result.out  # no colour when not a terminal


def test_unreadable_input_is_named_and_the_rest_still_scanned(run_cli, tmp_path, broken) -> None:
    result = run_cli("scan", "--format", "jsonl", tmp_path / "missing.log", broken)
    assert result.code == 2
    assert f"cannot read {tmp_path / 'missing.log'}: no such file or directory" in result.err
    assert "LOSS-NAN" in result.out
    assert "Traceback" not in result.err


def test_truncated_gzip_reports_what_came_before_the_cut(run_cli, tmp_path) -> None:
    body = "".join(megatron(s) for s in range(1, 3000)) + megatron(3000, loss="")
    data = gzip.compress(body.encode())
    path = tmp_path / "run.log.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    result = run_cli("scan", "--format", "json", path)
    assert result.code == 2
    assert "truncated" in result.err and str(path) in result.err
    assert json.loads(result.out)["files"][0]["steps"] > 1000


def test_binary_junk_and_empty_files_are_scanned_without_a_traceback(run_cli, tmp_path) -> None:
    junk = tmp_path / "junk.bin.log"
    junk.write_bytes(bytes(range(256)) * 100 + b"\n" + megatron(5).encode() + b"\xff\xfe\n")
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    result = run_cli("scan", "--format", "json", junk, empty)
    assert result.code == 0
    assert "not UTF-8" in result.err and "Traceback" not in result.err
    assert [f["steps"] for f in json.loads(result.out)["files"]] == [1, 0]


def test_directory_without_logs_is_an_input_error(run_cli, tmp_path) -> None:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "model.pt").write_bytes(b"\x00\x01")
    result = run_cli("scan", tmp_path / "ckpt")
    assert result.code == 2 and "holds no log files" in result.err


@pytest.mark.parametrize("args", [["scan"], ["scan", "--format", "xml", "x"], ["scan", "--fail-on", "fatal", "x"],
                                  ["scan", "--jobs", "0", "x"], ["frobnicate"]])
def test_usage_errors_exit_2(run_cli, args) -> None:
    result = run_cli(*args)
    assert result.code == 2 and "usage:" in result.err


def test_fail_on_error_message_lists_the_accepted_values(run_cli) -> None:
    result = run_cli("scan", "--fail-on", "fatal", "x")
    assert "expected one of info, warning, error, critical" in result.err


def test_stdin_and_python_dash_m(broken) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "monitor", "scan", "--format", "jsonl", "-"],
        input=broken.read_bytes(), capture_output=True, check=False,
    )
    assert completed.returncode == 1
    [event] = [json.loads(line) for line in completed.stdout.splitlines()]
    assert (event["file"], event["step"]) == ("<stdin>", 60)


def test_a_bug_in_one_source_is_reported_and_the_others_still_scanned(run_cli, monkeypatch, broken, healthy) -> None:
    from monitor.parsers.megatron import MegatronParser

    original = MegatronParser.parse

    def fragile(self, line, number, ctx):
        if ctx.file == str(healthy):
            raise RuntimeError("boom")
        return original(self, line, number, ctx)

    monkeypatch.setattr(MegatronParser, "parse", fragile)
    result = run_cli("scan", "--format", "jsonl", "--jobs", "1", healthy, broken)
    assert result.code == 2
    assert f"cannot read {healthy}: internal error (RuntimeError: boom)" in result.err
    assert "Traceback" not in result.err and "LOSS-NAN" in result.out
