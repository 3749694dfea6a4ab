"""Every parser's samples: each is a record for its own parser and for no other.

This is what keeps format autodetection exact: a line never belongs to two
framework parsers, so which parser is tried first changes only the speed.
"""

from __future__ import annotations

import pytest

from monitor.parsers import new_parsers
from monitor.parsers.base import PENDING, ParseContext, Parser


def _all_parsers() -> list[Parser]:
    from monitor.parsers import new_bar_parser

    bar = new_bar_parser()
    return [*new_parsers(), *([bar] if bar else [])]


CASES = [(p.name, sample) for p in _all_parsers() for sample in p.samples]


def _parse(parser: Parser, line: str) -> object:
    ctx = ParseContext("sample.log", None, 2024)
    record = parser.parse(line, 1, ctx)
    if record is PENDING:
        record = parser.finish(ctx)
    return record


def test_every_parser_has_samples() -> None:
    assert all(p.samples for p in _all_parsers())


@pytest.mark.parametrize(("name", "sample"), CASES)
def test_sample_is_parsed_by_its_own_parser(name: str, sample: str) -> None:
    [parser] = [p for p in _all_parsers() if p.name == name]
    assert any(k in sample for k in parser.keywords), "a sample must hold one of the parser's keywords"
    assert _parse(parser, sample) is not None


@pytest.mark.parametrize(("name", "sample"), CASES)
def test_sample_is_taken_by_no_other_framework_parser(name: str, sample: str) -> None:
    others = [p for p in _all_parsers() if p.name != name and not p.generic]
    taken = [p.name for p in others if any(k in sample for k in p.keywords) and _parse(p, sample) is not None]
    assert taken == []
