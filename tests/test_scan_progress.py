"""The scan tells its caller how far it has read (the progress bar's input), serial or parallel."""

from __future__ import annotations

from monitor import parallel
from monitor.api import load
from monitor.pipeline import scan
from monitor.sources.files import Source
from tests.test_parallel import eventful_log


def test_a_serial_scan_counts_bytes_as_it_reads(tmp_path, monkeypatch) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text(eventful_log(1, 6000))
    second.write_text(eventful_log(2, 100))
    told: list[int] = []
    sources = [Source(str(first), str(first)), Source(str(second), str(second))]
    results = list(scan(sources, jobs=1, on_progress=told.append))
    total = first.stat().st_size + second.stat().st_size
    assert len(results) == 2
    assert told == sorted(told) and told[-1] == total  # never backwards, and all of it at the end
    assert len(told) > 2  # more than once per file: the big one reports batch by batch
    assert any(first.stat().st_size < n < total for n in told) or first.stat().st_size in told


def test_a_parallel_scan_counts_ranges_as_they_are_taken_in(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 16 << 10)
    path = tmp_path / "run.log"
    path.write_text(eventful_log(3, 3000))
    told: list[int] = []
    list(scan([Source(str(path), str(path))], jobs=2, on_progress=told.append))
    assert len(told) > 2 and told == sorted(told) and told[-1] == path.stat().st_size


def test_load_counts_bytes_too(tmp_path) -> None:
    path = tmp_path / "run.log"
    path.write_text(eventful_log(4, 2000))
    told: list[int] = []
    load(str(path), on_progress=told.append)
    assert told and told[-1] == path.stat().st_size
