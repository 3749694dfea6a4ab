"""Whatever bytes come in, the scan pipeline never raises, and a parsed line keeps its number."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.parsers import new_bar_parser, new_parsers
from monitor.pipeline import SourceScan
from monitor.sources.files import Source
from monitor.sources.lines import ReadStats, read_batches

SAMPLES = [s for p in [*new_parsers(), new_bar_parser()] if p for s in p.samples]


def scan_bytes(data: bytes) -> list:
    scan = SourceScan(Source("fuzz.log", None))
    events = []
    for batch in read_batches(io.BytesIO(data), "fuzz.log", ReadStats(), chunk_bytes=257):
        events.extend(scan.process(batch.numbered()))
    return events + scan.finish()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(data: bytes) -> None:
    scan_bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SAMPLES), st.integers(0, 400), st.text(max_size=8)), max_size=12))
def test_mutated_real_lines_never_raise(edits: list[tuple[str, int, str]]) -> None:
    lines = []
    for sample, position, insert in edits:
        cut = position % (len(sample) + 1)
        lines.append(sample[:cut] + insert + sample[cut + len(insert):])
    text = "\n".join(lines)
    events = scan_bytes(text.encode("utf-8", "surrogatepass"))
    physical = text.count("\n") + 1
    assert all(e.line is None or 1 <= e.line <= physical for e in events)


def test_pathological_lines_are_survived() -> None:
    lines = [
        "|" * 200_000,
        "{'loss': " * 20_000,
        "[" * 100_000 + "]" * 100_000,
        "9" * 1_000_000,
        " iteration 1/ 2 |" + " lm loss: 1.0 |" * 20_000,
        "step=1 loss=" + "1" * 300_000,
        '{"step": 1, "loss": ' + "[" * 50_000,
    ]
    scan_bytes("\n".join(lines).encode())
