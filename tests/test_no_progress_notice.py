"""A file with lines but no recognised progress and no fault is named, never a silent 'No events'."""

from __future__ import annotations

import json

PROSE = "The quick brown fox jumps over the lazy dog.\nNothing here looks like training.\nJust words.\n"
PROGRESS = "step=1 loss=2.0\nstep=2 loss=1.9\nstep=3 loss=1.8\n"
XID = "NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, GPU has fallen off the bus.\n"


def test_prose_file_is_named_on_stderr_and_under_the_tables(run_cli, tmp_path) -> None:
    prose = tmp_path / "notes.log"
    prose.write_text(PROSE)
    result = run_cli("scan", prose)
    assert result.code == 0
    assert f"monitor: no training progress recognised in {prose} (3 lines)" in result.err.splitlines()
    footer = f"no training progress recognised in {prose} (3 lines)"
    assert "".join(footer.split()) in "".join(result.out.split())  # the table may wrap a long path
    assert "monitor:" not in result.out


def test_json_notice_for_the_silent_file_and_null_for_the_progressing_one(run_cli, tmp_path) -> None:
    prose, progress = tmp_path / "notes.log", tmp_path / "train.log"
    prose.write_text(PROSE)
    progress.write_text(PROGRESS)
    result = run_cli("scan", "--format", "json", prose, progress)
    files = {f["file"]: f for f in json.loads(result.out)["files"]}
    assert files[str(progress)]["steps"] == 3
    assert files[str(prose)]["notice"] == "no training progress recognised (3 lines)"
    assert files[str(progress)]["notice"] is None
    assert str(progress) not in result.err


def test_a_fault_or_an_empty_file_gets_no_notice(run_cli, tmp_path) -> None:
    kernel, empty = tmp_path / "kern.log", tmp_path / "empty.log"
    kernel.write_text(XID)
    empty.write_text("")
    result = run_cli("scan", "--format", "json", kernel, empty)
    assert result.code == 1  # the Xid is critical
    assert "no training progress" not in result.err
    assert [f["notice"] for f in json.loads(result.out)["files"]] == [None, None]
    table = run_cli("scan", kernel, empty)
    assert "no training progress" not in table.out + table.err


def test_jsonl_stdout_stays_one_event_per_line(run_cli, tmp_path) -> None:
    prose, kernel = tmp_path / "notes.log", tmp_path / "kern.log"
    prose.write_text(PROSE)
    kernel.write_text(XID)
    result = run_cli("scan", "--format", "jsonl", prose, kernel)
    events = [json.loads(line) for line in result.out.splitlines()]
    assert events and all("kind" in event for event in events)
    assert "no training progress" not in result.out
    assert f"no training progress recognised in {prose} (3 lines)" in result.err
