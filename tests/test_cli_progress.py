"""The progress bar of long scans: on stderr, only when it is a terminal and the input is big enough."""

from __future__ import annotations

import io

import pytest

import monitor.report.command as report_command
from monitor import cli
from monitor.sinks import progress


class FakeTerminal(io.StringIO):
    """Text written to a terminal, kept for the test to read."""

    def isatty(self) -> bool:
        return True


def test_drawn_on_a_terminal_and_filled_by_the_bytes_reported() -> None:
    terminal = FakeTerminal()
    with progress.progress_bar(900, 2, terminal, min_bytes=100) as bar:
        assert isinstance(bar, progress.ScanProgress)
        bar.advance(300)
        bar._progress.refresh()
        assert " 33%" in terminal.getvalue() and "100%" not in terminal.getvalue()
        bar.update(900)
    assert "scanning 2 file(s), 900 bytes" in terminal.getvalue() and "100%" in terminal.getvalue()


def test_it_pulses_until_the_first_count() -> None:
    terminal = FakeTerminal()
    with progress.progress_bar(900, 1, terminal, min_bytes=100):
        pass
    assert "scanning 1 file(s), 900 bytes" in terminal.getvalue() and "%" not in terminal.getvalue()


@pytest.mark.parametrize(("stream", "size"), [(io.StringIO(), 10**9), (FakeTerminal(), 99)])
def test_nothing_on_a_pipe_or_for_a_small_input(stream, size: int) -> None:
    with progress.progress_bar(size, 1, stream, min_bytes=100) as bar:
        bar.advance(size)
    assert isinstance(bar, progress.NoProgress) and stream.getvalue() == ""


@pytest.fixture
def terminal(monkeypatch):
    """stderr seen as a terminal by the commands, with no size threshold."""
    shown = FakeTerminal()
    real = progress.progress_bar

    def bar(total_bytes, files, _stream):
        return real(total_bytes, files, shown, min_bytes=0)

    monkeypatch.setattr(cli, "progress_bar", bar)
    monkeypatch.setattr(report_command, "progress_bar", bar)
    monkeypatch.setattr(report_command, "is_terminal", lambda _stream: True)
    return shown


def test_scan_moves_the_bar_by_each_input_s_size(run_cli, tmp_path, terminal) -> None:
    for name, text in (("a.log", "x" * 100 + "\n"), ("b.log", "y" * 200 + "\n")):
        (tmp_path / name).write_text(text)
    result = run_cli("scan", "--format", "jsonl", tmp_path)
    assert result.code == 0 and result.out == ""  # stdout keeps only the events
    assert "scanning 2 file(s), 302 bytes" in terminal.getvalue() and "100%" in terminal.getvalue()  # 101 + 201


def test_report_fills_the_bar_over_its_inputs_total(run_cli, tmp_path, terminal) -> None:
    """`monitor.load` tells the bytes read, so the report's bar fills as the scan's does."""
    (tmp_path / "a.log").write_text("x" * 500 + "\n")
    assert run_cli("report", tmp_path / "a.log", "-o", tmp_path / "r.md").code == 0
    assert "scanning 1 file(s), 501 bytes" in terminal.getvalue() and "100%" in terminal.getvalue()
