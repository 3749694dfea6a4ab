"""Shared test helpers: parse text with the real parser set, run the CLI in process."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.model import Event, Record, StepRecord
from monitor.parsers import ParseContext, new_parser_set


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/*.expected.jsonl")


def parse_text(text: str, file: str = "test.log", path: str | None = None) -> list[Record]:
    """All records the parser set finds in `text`, as a scan would."""
    parsers = new_parser_set(ParseContext(file, path, 2024))
    records = parsers.parse_lines(enumerate(text.splitlines(), 1))
    return records + parsers.finish()


def fault_events(text: str, file: str = "test.log", catalog_files: tuple[str, ...] = ()) -> list[Event]:
    """The raw events a scan of `text` raises (parsers, fault scanner, detectors), in line order."""
    from monitor.catalog import load
    from monitor.pipeline import SourceScan, in_line_order
    from monitor.sources.files import Source

    scan = SourceScan(Source(file, None), load(catalog_files))
    events = scan.process(enumerate(text.splitlines(), 1))
    return in_line_order(events + scan.finish())


def steps(text: str, **kwargs: object) -> list[StepRecord]:
    """Only the StepRecords."""
    return [r for r in parse_text(text, **kwargs) if isinstance(r, StepRecord)]  # type: ignore[arg-type]


class CliRun:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run `monitor ARGS...` in process; return exit code, stdout, stderr."""

    def run(*args: str | Path) -> CliRun:
        out = io.StringIO()
        code = main([str(a) for a in args], out=out)
        captured = capsys.readouterr()
        return CliRun(code, out.getvalue() + captured.out, captured.err)

    return run


def events_both_ways(text: str, chunks: tuple[int, ...] = (256, 8192)) -> str:
    """The events of a scan of `text`, after checking that the bulk path and the line-by-line path
    give the same events, summary and state for every chunk size in `chunks`."""
    events = ""
    for chunk in chunks:
        bulk, line_by_line = scan_one_way(text, True, chunk), scan_one_way(text, False, chunk)
        assert bulk[:3] == line_by_line[:3], f"bulk and line-by-line scans differ (chunks of {chunk} bytes)"
        events = bulk[0]
    return events


def scan_one_way(text: str, bulk: bool, chunk: int) -> tuple[str, dict[str, object], str, int]:
    """Events, summary and final state of a scan of `text` read in chunks of `chunk` bytes, through the
    bulk path (a layout read a block at a time, detectors screening columns) or line by line, record
    by record (events and state as text: NaN is not equal to itself); and the batches skimmed."""
    from monitor.catalog import load
    from monitor.pipeline import SourceScan, in_line_order
    from monitor.sources.files import Source
    from monitor.sources.lines import ReadStats, read_batches

    scan = SourceScan(Source("run.log", None), load())
    scan.skim = bulk
    events = []
    for batch in read_batches(io.BytesIO(text.encode()), "run.log", ReadStats(), chunk_bytes=chunk):
        events += scan.process(batch if bulk else batch.numbered())
    state = repr(scan.snapshot())
    events += scan.finish()
    return repr(in_line_order(events)), scan.summary.to_dict(), state, scan.skimmed
