"""Every regex a scan runs stays fast on hostile lines: no pattern backtracks catastrophically.

Each compiled pattern of every catalog matcher, and every module-level compiled
regex of `monitor.parsers.*`, is searched on lines built from the pattern's own
literal text (and, for a catalog entry, its prefilter literals) and typical
fillers: each literal followed and preceded by a long run of one filler, and
the literal repeated. Catastrophic backtracking is exponential (or at least
quadratic in a long line) and blows far past the bound, which is generous on
purpose: a timing assertion must not fail on a slow or busy CI machine.

The slowest search is shown in the terminal summary and recorded per test
(`record_property`), so a regression toward the bound is visible before it fails.
`bench/adversarial_lines.py` runs the same lines through the whole line pipeline.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

import monitor.parsers
from monitor.catalog import load

try:  # Python 3.11+
    import re._constants as sre_constants
    import re._parser as sre_parse
except ImportError:  # Python 3.10
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

FILLERS = (" ", "a", "0", ":", "=", "[", "(", ",", ".", "-", "\t", "_", "|", "]", ")", "/", "a0")
RUN = 20_000  # filler characters before or after a literal
REPEATS = 2_000  # times a literal is repeated
BOUND_S = 1.0  # generous: a pattern that backtracks catastrophically takes far longer

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_REPEATS |= {getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT)}


class Checked(NamedTuple):
    """One pattern to check: where it comes from, the pattern, and the literals to build lines from."""

    name: str
    pattern: re.Pattern[str]
    literals: tuple[str, ...]


def pattern_literals(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """The runs of plain characters in `pattern` (`Xid \\((?P<x>\\d+)` gives `Xid (`), longest first."""
    found: set[str] = set()

    def walk(items: Any) -> None:
        run: list[str] = []
        for op, value in items:
            if op is sre_constants.LITERAL:
                run.append(chr(value))
                continue
            if run:
                found.add("".join(run))
                run = []
            if op in _REPEATS:
                walk(value[2])
            elif op is sre_constants.SUBPATTERN:
                walk(value[-1])
            elif op is sre_constants.BRANCH:
                for branch in value[1]:
                    walk(branch)
            elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                walk(value[1])
            elif op is getattr(sre_constants, "ATOMIC_GROUP", None):
                walk(value)
        if run:
            found.add("".join(run))

    walk(sre_parse.parse(pattern.pattern, pattern.flags))
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


def catalog_patterns() -> list[Checked]:
    """Every pattern of every catalog matcher, with the entry's prefilter literals."""
    return [
        Checked(f"{entry.file}:{entry.id}#{index}", pattern, entry.literals)
        for entry in load().matchers
        for index, pattern in enumerate(entry.patterns)
    ]


def parser_patterns() -> list[Checked]:
    """Every compiled regex at module level in `monitor.parsers.*` (each once, under its first name)."""
    found: list[Checked] = []
    seen: set[tuple[str, int]] = set()
    for module_info in sorted(pkgutil.iter_modules(monitor.parsers.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"monitor.parsers.{module_info.name}")
        for name, value in sorted(vars(module).items()):
            if isinstance(value, re.Pattern) and (value.pattern, value.flags) not in seen:
                seen.add((value.pattern, value.flags))
                found.append(Checked(f"{module.__name__}.{name}", value, ()))
    return found


def adversarial_lines(literals: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(kind, line) pairs: each literal (and none) followed and preceded by a run of each filler,
    and each literal repeated."""
    for literal in ("", *dict.fromkeys(literals)):
        for filler in FILLERS:
            run = filler * (RUN // len(filler))
            yield f"{literal!r} + {RUN} x {filler!r}", literal + run
            if literal:
                yield f"{RUN} x {filler!r} + {literal!r}", run + literal
        if literal:
            yield f"{REPEATS} x {literal!r}", literal * REPEATS


def lines_for(checked: Checked) -> Iterator[tuple[str, str]]:
    """The adversarial lines of one pattern: from its own literal runs and its entry's literals."""
    return adversarial_lines((*checked.literals, *pattern_literals(checked.pattern)))


def slowest_search(pattern: re.Pattern[str], lines: Iterator[tuple[str, str]]) -> tuple[float, str]:
    """The longest `pattern.search` over `lines`, in seconds, and the kind of line that took it."""
    worst = (0.0, "")
    clock = time.perf_counter
    for kind, line in lines:
        start = clock()
        pattern.search(line)
        elapsed = clock() - start
        if elapsed > worst[0]:
            worst = (elapsed, kind)
    return worst


PATTERNS = catalog_patterns() + parser_patterns()
_SLOWEST: list[tuple[float, str, str]] = []


class _Summary:
    """Prints the slowest searches after the run (a plugin registered by the fixture below)."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not _SLOWEST:
            return
        terminalreporter.section("slowest pattern searches")
        for seconds, name, kind in sorted(_SLOWEST, reverse=True)[:5]:
            terminalreporter.write_line(f"{seconds * 1000:9.1f} ms  {name}  on  {kind}")


@pytest.fixture(scope="module", autouse=True)
def _report_slowest(request: pytest.FixtureRequest) -> Iterator[None]:
    plugins = request.config.pluginmanager
    if not plugins.has_plugin("pattern-safety-summary"):
        plugins.register(_Summary(), "pattern-safety-summary")
    yield


def test_every_catalog_matcher_and_parser_module_has_patterns_to_check() -> None:
    names = {c.name.split(":", 1)[0] for c in PATTERNS}
    assert {"nvidia_xid.json", "nccl.json", "hccl.json", "linux.json"} <= names
    assert any(c.name.startswith("monitor.parsers.megatron.") for c in PATTERNS)
    assert any(c.name.startswith("monitor.parsers.faults.") for c in PATTERNS)
    assert len(PATTERNS) >= 200


def test_literal_runs_are_read_from_the_pattern() -> None:
    pattern = re.compile(r"NVRM: Xid \((?P<device>[^)]{1,20})\): (?P<xid>\d+)|foo+bar")
    assert pattern_literals(pattern) == ("NVRM: Xid (", "): ", "bar", "fo", "o")


@pytest.mark.parametrize("checked", PATTERNS, ids=lambda c: c.name)
def test_a_search_on_adversarial_lines_finishes_quickly(checked: Checked, record_property: Any) -> None:
    seconds, kind = slowest_search(checked.pattern, lines_for(checked))
    _SLOWEST.append((seconds, checked.name, kind))
    record_property("slowest_search_s", round(seconds, 4))
    record_property("slowest_input", kind)
    assert seconds < BOUND_S, f"{checked.pattern.pattern!r} took {seconds:.2f} s on {kind}"
