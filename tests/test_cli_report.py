"""`monitor report`: exit 0 once the report is written, `--fail-on` opt-in (DESIGN.md, Command line); the
output is checked before any scanning, for the report and for `scan --format parquet -o DIR`."""

from __future__ import annotations

from pathlib import Path

import pytest

import monitor.api
from monitor import cli

ROOT = Path(__file__).resolve().parent.parent
BUS = ROOT / "sample_logs" / "gpu_fell_off_bus"  # an Xid 79 and the crash it caused: critical and errors
HEALTHY = ROOT / "sample_logs" / "hf_trainer_healthy.log"


def test_a_written_report_exits_0_whatever_it_holds(run_cli, tmp_path) -> None:
    out = tmp_path / "report.md"
    result = run_cli("report", BUS, "-o", out)
    assert result.code == 0 and "XID-79" in out.read_text() and "report written to" in result.err


@pytest.mark.parametrize(("fail_on", "code"), [("critical", 1), ("error", 1), ("info", 1)])
def test_fail_on_makes_findings_exit_1_as_in_scan(run_cli, tmp_path, fail_on: str, code: int) -> None:
    out = tmp_path / "report.json"
    assert run_cli("report", BUS, "-o", out, "--fail-on", fail_on).code == code and out.exists()


def test_fail_on_with_nothing_at_or_above_it_exits_0(run_cli, tmp_path) -> None:
    assert run_cli("report", HEALTHY, "-o", tmp_path / "r.html", "--fail-on", "error").code == 0


@pytest.fixture
def no_scan(monkeypatch):
    """Any scan is a failure of the test: the output must be refused before it."""

    def scanned(*_args, **_kwargs):
        raise AssertionError("scanned before the output was checked")

    monkeypatch.setattr(monitor.api, "load", scanned)
    monkeypatch.setattr(cli, "scan", scanned)


def refused(result, *words: str) -> bool:
    return (result.code == 2 and result.out == "" and len(result.err.splitlines()) == 1
            and "Traceback" not in result.err and all(word in result.err for word in words))


def test_a_report_where_no_file_can_be_created_is_refused_before_scanning(run_cli, no_scan) -> None:
    """/proc takes no new file, even for root (whom permission bits let through)."""
    assert refused(run_cli("report", BUS, "-o", "/proc/x.html"), "/proc/x.html", "no file can be created in /proc")


def test_a_report_in_a_missing_directory_or_onto_a_directory_is_refused(run_cli, tmp_path, no_scan) -> None:
    assert refused(run_cli("report", BUS, "-o", tmp_path / "missing" / "r.html"), "no directory")
    (tmp_path / "old.html").mkdir()
    assert refused(run_cli("report", BUS, "-o", tmp_path / "old.html"), "it is a directory")
    assert refused(run_cli("report", BUS, "-o", tmp_path / "r.pdf"), "use .html, .md or .json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.html"]  # the check leaves nothing behind


def test_a_parquet_directory_that_cannot_be_written_is_refused_before_scanning(run_cli, tmp_path, no_scan) -> None:
    (tmp_path / "file").write_text("not a directory")
    assert refused(run_cli("scan", "--format", "parquet", "-o", tmp_path / "file", BUS), "not a directory")
    assert refused(run_cli("scan", "--format", "parquet", "-o", "/proc/events", BUS), "no file can be created")


def test_a_missing_parquet_directory_passes_the_check_and_is_created_by_the_write(run_cli, tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("hello\n")
    result = run_cli("scan", "--format", "parquet", "-o", tmp_path / "new" / "events", log)
    assert result.code == 0 and len(list((tmp_path / "new" / "events").glob("events-*.parquet"))) == 1
