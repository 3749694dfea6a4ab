"""Property-based hostile input: random bytes, mangled real lines and pathological lines never raise.

Three families, each run through the real parsers and fault scanner (and, for
whole files, the detectors): random bytes decoded the way the reader decodes
them; every parser's samples and every catalog entry's samples and near misses,
mutated (characters inserted, deleted or replaced, fields duplicated, numbers
made huge or NaN/inf, unicode and control characters added, lines cut short);
and lines built to be as hard as possible (a megabyte of one separator, deep
brackets, a million digits, a catalog literal with 100 000 characters of filler).

The hypothesis budget is bounded and derandomized, so a CI run is reproducible
and the file runs in well under a minute.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.catalog import load
from monitor.parsers import ParseContext, new_bar_parser, new_parser_set, new_parsers
from monitor.parsers.faults import FaultScanner
from monitor.pipeline import SourceScan
from monitor.sources.files import Source

BUDGET = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CATALOG = load()
PARSER_SAMPLES = [s for p in [*new_parsers(), new_bar_parser()] if p for s in p.samples]
CATALOG_LINES = [s for e in CATALOG.matchers for s in (*e.samples, *e.near_misses)]
LITERALS = sorted({literal for e in CATALOG.matchers for literal in e.literals})

HUGE_NUMBERS = ("9" * 400, "1" + "0" * 5000, "1e999", "-1e308", "1.7976931348623157e309", "4.9e-325",
                "123456789012345678901234567890", "0x" + "f" * 40, "-0", "+0.0e-99999", "1,234,567,890,123")
NAN_INF = ("nan", "NaN", "NAN", "-nan", "+nan", "nan(ind)", "inf", "-inf", "+inf", "Inf", "INF", "Infinity",
           "-Infinity", "infinity", "1.#INF", "-1.#IND", "1.#QNAN", "∞", "-∞")
ODD_TEXT = ("\u00a0", "\u2028", "\u2029", "\ufeff", "\u200b", "\u0301", "\u202e", "１２３", "٣٤٥", "🙂", "\U0010ffff",
            "\ufffd", "ǅ", "ﬁ", "İ", "ß", "\x00", "\x1b[31m", "\x1b]0;t\x07", "\x7f", "\x08", "\x0b", "\x0c", "\t",
            "\r", "|", ":", "=", ",", "[", "]", "(", ")", "{", "}", "'", '"', "%|", "/", "  ")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?")
_FIELD = re.compile(r"[^\s|,]+(?:[:=] ?[^\s|,]+)?")


def reader_lines(data: bytes) -> list[str]:
    """`data` as the reader turns it into lines: UTF-8 with replacement, cut at newlines and carriage returns."""
    text = data.decode("utf-8", "replace")
    return [piece for line in text.split("\n") for piece in line.split("\r")]


def full_scan(lines: list[str]) -> list[Any]:
    """Parsers, fault scanner and detectors over `lines`; the events they raise."""
    scan = SourceScan(Source("h.log", None))
    events = scan.process(enumerate(lines, 1))
    return events + scan.finish()


def parse_and_scan(lines: list[str]) -> tuple[list[Any], list[Any]]:
    """The parser set and the fault scanner, each offered every line; (records, events)."""
    ctx = ParseContext("h.log", None, 2024)
    parsers = new_parser_set(ctx)
    scanner = FaultScanner(CATALOG, ctx)
    numbered = list(enumerate(lines, 1))
    records = parsers.parse_lines(numbered) + parsers.finish()
    events = scanner.scan([(number, line, None) for number, line in numbered]) + scanner.finish()
    return records, events


def assert_lines_in_range(lines: list[str], records: list[Any], events: list[Any]) -> None:
    for item in (*records, *events):
        assert item.line is None or 1 <= item.line <= len(lines), (item, len(lines))


# -- mutations ---------------------------------------------------------------------------------

def _splice(line: str, start: int, end: int, text: str) -> str:
    return line[:start] + text + line[end:]


@st.composite
def _mutation(draw: st.DrawFn, line: str) -> str:
    """`line` with one random edit."""
    size = len(line)
    at = draw(st.integers(0, size))
    kind = draw(st.sampled_from(
        ("insert", "delete", "replace", "duplicate", "huge", "nan", "unicode", "head", "tail", "repeat")
    ))
    if kind == "insert":
        return _splice(line, at, at, draw(st.text(max_size=12) | st.sampled_from(ODD_TEXT)))
    if kind == "delete":
        return _splice(line, at, at + draw(st.integers(1, 20)), "")
    if kind == "replace":
        return _splice(line, at, at + 1, draw(st.characters() | st.sampled_from(ODD_TEXT)))
    if kind == "duplicate":  # a field printed twice: `loss: 1.0 | loss: 1.0 |`
        fields = list(_FIELD.finditer(line))
        if not fields:
            return line + line
        field = draw(st.sampled_from(fields))
        separator = draw(st.sampled_from((" ", " | ", ", ", "", "\t")))
        return _splice(line, field.end(), field.end(), separator + field.group() * draw(st.integers(1, 3)))
    if kind in ("huge", "nan"):
        numbers = list(_NUMBER.finditer(line))
        replacement = draw(st.sampled_from(HUGE_NUMBERS if kind == "huge" else NAN_INF))
        if not numbers:
            return _splice(line, at, at, replacement)
        number = draw(st.sampled_from(numbers))
        return _splice(line, number.start(), number.end(), replacement)
    if kind == "unicode":
        return _splice(line, at, at + draw(st.integers(0, 1)), draw(st.sampled_from(ODD_TEXT)))
    if kind == "head":  # cut short, as a line still being written is
        return line[:at]
    if kind == "tail":
        return line[at:]
    return line * draw(st.integers(2, 50))


@st.composite
def mutated_lines(draw: st.DrawFn, samples: list[str]) -> list[str]:
    """A few real lines, each with a few edits."""
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        line = draw(st.sampled_from(samples))
        for _ in range(draw(st.integers(1, 4))):
            line = draw(_mutation(line))
        lines.append(line)
    return lines


# -- (a) random bytes --------------------------------------------------------------------------

_ENCODED = [s.encode() for s in PARSER_SAMPLES + CATALOG_LINES]
_JUNK = [b"\n", b"\r", b"\r\n", b"\x00", b"\xff\xfe", b"\xc3", b"\xe2\x82", b"\x1b[31m", b"\x1b[0m", b"%|", b"|"]


@BUDGET
@given(st.binary(max_size=4000))
def test_random_bytes_through_a_full_scan_never_raise(data: bytes) -> None:
    full_scan(reader_lines(data))


@BUDGET
@given(st.lists(st.sampled_from(_ENCODED) | st.sampled_from(_JUNK) | st.binary(max_size=64), max_size=40))
def test_real_lines_glued_with_random_bytes_never_raise(pieces: list[bytes]) -> None:
    lines = reader_lines(b"".join(pieces))
    events = full_scan(lines)
    assert all(e.line is None or 1 <= e.line <= len(lines) for e in events)


# -- (b) mutated real lines --------------------------------------------------------------------

@BUDGET
@given(mutated_lines(PARSER_SAMPLES))
def test_mutated_parser_samples_never_raise(lines: list[str]) -> None:
    assert_lines_in_range(lines, *parse_and_scan(lines))


@BUDGET
@given(mutated_lines(CATALOG_LINES))
def test_mutated_catalog_samples_and_near_misses_never_raise(lines: list[str]) -> None:
    assert_lines_in_range(lines, *parse_and_scan(lines))


@settings(BUDGET, max_examples=150)
@given(mutated_lines(PARSER_SAMPLES + CATALOG_LINES))
def test_mutated_lines_through_a_full_scan_never_raise(lines: list[str]) -> None:
    full_scan(lines)


@pytest.mark.parametrize(("name", "samples"), [("parsers", PARSER_SAMPLES), ("catalog", CATALOG_LINES)])
def test_every_sample_cut_at_every_position_is_survived(name: str, samples: list[str]) -> None:
    for sample in samples:
        heads = [sample[:cut] for cut in range(len(sample))]
        tails = [sample[cut:] for cut in range(1, len(sample))]
        assert_lines_in_range(heads, *parse_and_scan(heads))
        assert_lines_in_range(tails, *parse_and_scan(tails))


def _with_each_number_replaced(sample: str) -> list[list[str]]:
    """For each number in `sample`: the sample with that number made huge, NaN or infinite, every way."""
    return [
        [sample[: m.start()] + text + sample[m.end() :] for text in (*HUGE_NUMBERS, *NAN_INF)]
        for m in _NUMBER.finditer(sample)
    ]


def test_every_number_of_every_sample_made_huge_or_nan_is_survived() -> None:
    for sample in PARSER_SAMPLES + CATALOG_LINES:
        for variants in _with_each_number_replaced(sample):
            lines = [sample, *variants, sample]
            assert_lines_in_range(lines, *parse_and_scan(lines))


def test_every_number_of_every_parser_sample_made_huge_or_nan_is_survived_by_the_detectors() -> None:
    for sample in PARSER_SAMPLES:
        for variants in _with_each_number_replaced(sample):
            for variant in variants:
                full_scan([sample, variant, sample])


_HF = "{'loss': '1.763', 'grad_norm': '%s', 'learning_rate': '3.2e-05', 'epoch': '0.41'}"
_DEEPSPEED = ("[2024-02-01 09:12:44,519] [INFO] [timer.py:260:stop] epoch=0/micro_step=1000/global_step=250, "
              "RunningAvgSamplesPerSec=61.40219385810917, CurrSamplesPerSec=%s, MemAllocated=7.43GB")


def test_negative_and_zero_grad_norms_do_not_break_the_grad_spike_baseline() -> None:
    norms = ("0.8817", "-1e308", "4.9e-325", "123456789012345678901234567890", "-0", "1,234,567,890,123")
    full_scan([_HF % norm for norm in norms])


def test_an_infinite_throughput_does_not_break_the_slowdown_baseline() -> None:
    rates = ("62.03", "9" * 400, "1" + "0" * 5000, "1,234,567,890,123", "62.03")
    full_scan([_DEEPSPEED % rate for rate in rates])


# -- (c) pathological lines --------------------------------------------------------------------

MB = 1_000_000
FILLERS = (" ", "a", "0", ":", "=", "|", ",", "[", "(", ".", "-", "_", "\t", "a0", "{", "]")


def _sample_megabyte(sample: str) -> str:
    return (sample + " ") * (MB // (len(sample) + 1) + 1)


PATHOLOGICAL = {
    **{f"1 MB of {sep!r}": sep * (MB // len(sep)) for sep in ("|", ":", ",", "=", " ", "\t", "[", "]", "(", ")",
                                                               "{", "}", " | ", ": ", ", ", "=[", "%|", "'")},
    "nested [": "[" * MB,
    "nested (": "(" * MB,
    "nested [ and closed": "[" * (MB // 2) + "]" * (MB // 2),
    "nested ( and closed": "(" * (MB // 2) + ")" * (MB // 2),
    "nested {'a': ": "{'a': " * (MB // 6),
    "nested json": '{"step": 1, "loss": ' + '{"a": [' * (MB // 8),
    "a million digits": "9" * MB,
    "a million digits with a sign and a point": "-1." + "9" * MB,
    "a step of a million digits": "iteration " + "9" * MB + "/ 10 | lm loss: 1.0 |",
    "a loss of a million digits": "step=1 loss=" + "1" * MB,
    "control characters": "".join(map(chr, range(32))) * (MB // 32),
    "nul bytes": "\x00" * MB,
    "escape codes": "\x1b[31m" * (MB // 5),
    "unicode separators": "\u2028\u00a0\ufeff\u200b" * (MB // 4),
    "replacement characters": "\ufffd" * MB,
    **{f"1 MB of parser sample {i}": _sample_megabyte(sample) for i, sample in enumerate(PARSER_SAMPLES)},
    **{f"1 MB of catalog sample {i}": _sample_megabyte(sample) for i, sample in enumerate(CATALOG_LINES[::25])},
    "1 MB of a traceback frame": '  File "x.py", line 1, in f' * (MB // 27),
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_a_pathological_line_is_survived(name: str) -> None:
    line = PATHOLOGICAL[name]
    scan = SourceScan(Source("h.log", None))
    for number, text in enumerate(("Traceback (most recent call last):", line, line[: len(line) // 3], "x"), 1):
        scan.process([(number, text)])
    scan.finish()


def test_each_catalog_literal_with_100k_characters_of_filler_is_survived() -> None:
    scan = SourceScan(Source("h.log", None))
    number = 0
    for index, literal in enumerate(LITERALS):
        filler = FILLERS[index % len(FILLERS)]
        run = filler * (100_000 // len(filler))
        for line in (literal + run, run + literal):
            number += 1
            scan.process([(number, line)])
    scan.finish()


def test_a_long_run_of_name_characters_before_a_fault_is_attributed_in_linear_time() -> None:
    # the text before a fault is read for a launcher prefix (`node3: `); a long token of letters and
    # digits there once took seconds per line
    lines = [
        "a0" * 50_000 + "NVRM: Xid (PCI:0000:b7:00): 48, pid=2213, name=python, Ch 00000008, DBE (double bit error)",
        "x1" * 50_000 + " python[1234]: segfault at 0 ip 00007f sp 00007ffd error 4 in libc.so.6[7f+1000]",
    ]
    assert {e.code for e in full_scan(lines)} == {"XID-48", "SEGFAULT"}
