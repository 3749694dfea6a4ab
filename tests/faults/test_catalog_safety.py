"""A catalog pattern cannot make a scan hang: over-long patterns and nested repeats are refused.

A user's catalog file is checked like the shipped ones. A pattern with a repeat
inside an unbounded repeat (`(a+)+`) can take exponential time on a long line
that almost matches, so it is refused when the file is loaded, with a message
naming the file and the entry; so is a pattern longer than 2000 characters.
"""

from __future__ import annotations

import json

import pytest

from monitor.catalog import MAX_PATTERN_CHARS, CatalogError, load, nested_repetition, read_entries

NESTED = "pattern may backtrack catastrophically: nested repetition"


def entry(patterns: list[str], entry_id: str = "site-nested") -> dict:
    return {
        "id": entry_id, "code": "SITE-X", "kind": "crash", "severity": "error", "domain": None, "role": None,
        "meaning": "A site-specific failure.", "action": "Page the on-call engineer.",
        "reference": "https://wiki.example.org/x", "literals": ["boom"], "patterns": patterns,
        "samples": ["boom aaa"], "near_misses": ["bang"],
    }


def document(patterns: list[str], entry_id: str = "site-nested") -> str:
    return json.dumps({"entries": [entry(patterns, entry_id)]})


def test_a_user_file_with_a_nested_repeat_is_refused_naming_the_entry(tmp_path) -> None:
    user = tmp_path / "site.json"
    user.write_text(document(["boom (a+)+$"]))
    with pytest.raises(CatalogError) as caught:
        load((str(user),))
    message = str(caught.value)
    assert NESTED in message
    assert "entry 'site-nested'" in message and str(user) in message and "(a+)+" in message


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+",
        "(.*)*",
        r"(\w+\s*)+",
        r"boom: (?:\d+,?)*$",
        r"(?:x|y+)*z",
        r"boom(?:(?P<word>\w+) )+?end",  # a lazy outer repeat backtracks the same way
        r"(?:\[(?:[^\]]*\])+)+",
        r"(?=x)(?:a(?:b(?:c*)))+",  # however deep the inner repeat sits
        r"(?:ok|(?:a{2,}b)+)",  # `{2,}` has no upper bound
    ],
)
def test_nested_unbounded_repeats_are_refused(pattern: str) -> None:
    assert nested_repetition(pattern)
    with pytest.raises(CatalogError, match="nested repetition") as caught:
        read_entries("site.json", document([r"boom \d+", pattern]))
    assert "site.json: entry 'site-nested'" in str(caught.value)


@pytest.mark.parametrize(
    "pattern",
    [
        r"boom (?P<n>\d+)",
        "(?:ab)+",
        r"(?:a{1,5}b)+",
        r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
        r"(?:, \w{1,20})*",
        r"boom(?: \S{1,64}){0,8}",
        r"[^\n]{0,200}?ExceptionType",
        r"(?:(?:a|b)c)*",
    ],
)
def test_repeats_that_cannot_blow_up_are_accepted(pattern: str) -> None:
    assert not nested_repetition(pattern)
    [definition] = read_entries("site.json", document([pattern]))
    assert definition.patterns[0].pattern == pattern


def test_a_pattern_longer_than_the_limit_is_refused() -> None:
    longest = "boom" + "x" * (MAX_PATTERN_CHARS - 4)
    [definition] = read_entries("site.json", document([longest]))
    assert len(definition.patterns[0].pattern) == MAX_PATTERN_CHARS
    with pytest.raises(CatalogError) as caught:
        read_entries("site.json", document([longest + "x"], "site-long"))
    message = str(caught.value)
    assert "site.json: entry 'site-long'" in message and f"more than {MAX_PATTERN_CHARS}" in message


def test_the_cli_refuses_a_catalog_with_a_nested_repeat_with_exit_2(run_cli, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(document([r"boom (\w+\s*)+!"]))
    log = tmp_path / "a.log"
    log.write_text("boom\n")
    result = run_cli("scan", "--catalog", bad, log)
    assert result.code == 2
    assert NESTED in result.err and "entry 'site-nested'" in result.err and "Traceback" not in result.err


def test_every_shipped_pattern_passes_the_checks() -> None:
    patterns = [(entry.id, p.pattern) for entry in load().entries for p in entry.patterns]
    assert len(patterns) >= 200
    assert [(i, p) for i, p in patterns if nested_repetition(p) or len(p) > MAX_PATTERN_CHARS] == []
