"""The catalog: every event code, what it means, what to do, and the log lines that show it.

Each `*.json` file in this package holds the entries of one vendor or
library (`nvidia_xid.json`, `nccl.json`, `ascend_cann.json`, ...). An entry
has a stable `id`, an event `code`, the `kind`, `severity`, `domain` and
`role` its events carry, a one-line `meaning`, the operator's `action` and a
`reference`. A *matcher* entry also has `patterns` (regexes with named groups
for rank, node, device and details), `literals` (plain substrings, one of
which must be in a line before its patterns are tried), `samples` that must
raise it and `near_misses` that must not. An entry without patterns is a
*definition*: a matcher whose code is a template such as `XID-{xid}` takes
its fields from the definition of the code it matched.

Matchers are tried from specific to generic; the order is computed from the
samples (an entry that matches many other entries' samples is generic), not
kept by hand. A line raises at most one event per kind: the first matcher
of that kind wins.

Users add or override entries (by `id`) with their own files (`--catalog`).
Their patterns are checked like the shipped ones: at most 2000 characters, and
no repeat nested in an unbounded repeat (`(a+)+`, `(\\w+\\s*)+`), the shape that
backtracks catastrophically on a long line that almost matches.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from monitor.model import Domain, Kind, Role, Severity
from monitor.substrings import cover

try:  # Python 3.11+
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_REQUIRED = ("code", "kind", "severity", "domain", "role", "meaning", "action", "reference")
_OPTIONAL = ("id", "message", "resolution", "notes", "literals", "patterns", "samples", "near_misses")
_TEMPLATE = re.compile(r"\{(\w+)\}")
MAX_PATTERN_CHARS = 2000

_BACKTRACKING_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT)
_ATOMIC = tuple(op for op in (getattr(_sre, "POSSESSIVE_REPEAT", None), getattr(_sre, "ATOMIC_GROUP", None)) if op)


class CatalogError(ValueError):
    """A catalog file or entry is invalid; the message names the file, entry and field."""


@dataclasses.dataclass(frozen=True, slots=True)
class Definition:
    """One catalog entry."""

    id: str
    code: str
    kind: Kind
    severity: Severity
    domain: Domain | None
    role: Role | None
    meaning: str
    action: str
    reference: str
    file: str = ""
    message: str | None = None
    resolution: str | None = None
    literals: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    samples: tuple[str, ...] = ()
    near_misses: tuple[str, ...] = ()

    @property
    def is_matcher(self) -> bool:
        return bool(self.patterns)

    @property
    def is_template(self) -> bool:
        return "{" in self.code

    def search(self, line: str) -> re.Match[str] | None:
        """The first of this entry's patterns found in `line` (literals checked first)."""
        for literal in self.literals:
            if literal in line:
                break
        else:
            return None
        for pattern in self.patterns:
            found = pattern.search(line)
            if found is not None:
                return found
        return None


class Match(NamedTuple):
    """One matcher's hit on a line, resolved to the definition whose fields the event takes."""

    matcher: Definition
    definition: Definition
    code: str
    found: re.Match[str]


def _parts(op: Any, value: Any) -> list[Any]:
    """The subpatterns inside one parsed regex item."""
    if op in _BACKTRACKING_REPEATS or op is getattr(_sre, "POSSESSIVE_REPEAT", None):
        return [value[2]]
    if op is _sre.SUBPATTERN:
        return [value[-1]]
    if op is _sre.BRANCH:
        return list(value[1])
    if op in (_sre.ASSERT, _sre.ASSERT_NOT):
        return [value[1]]
    if op is getattr(_sre, "ATOMIC_GROUP", None):
        return [value]
    if op is _sre.GROUPREF_EXISTS:
        return [part for part in value[1:] if part is not None]
    return []


def _has_unbounded_repeat(items: Any) -> bool:
    """Whether a repeat without an upper bound (`*`, `+`, `{n,}`) that can backtrack is in `items`
    (possessive repeats and atomic groups never give characters back)."""
    for op, value in items:
        if op in _BACKTRACKING_REPEATS and value[1] == _sre.MAXREPEAT:
            return True
        if op not in _ATOMIC and any(_has_unbounded_repeat(part) for part in _parts(op, value)):
            return True
    return False


def nested_repetition(pattern: str) -> bool:
    """Whether `pattern` has an unbounded repeat whose subpattern holds another unbounded repeat
    (`(a+)+`, `(.*)*`, `(\\w+\\s*)+`): on a long line that almost matches, the ways to split it
    between the two repeats grow exponentially, and a search can run for hours."""

    def walk(items: Any) -> bool:
        for op, value in items:
            if op in _BACKTRACKING_REPEATS and value[1] == _sre.MAXREPEAT and _has_unbounded_repeat(value[2]):
                return True
            if any(walk(part) for part in _parts(op, value)):
                return True
        return False

    return walk(_sre_parse.parse(pattern))


MAX_CATALOG_BYTES = 4 << 20
"""A user's catalog file larger than this is refused; all the shipped files together are far smaller."""

MAX_NESTED_REPEATS = 100
"""A bounded repeat inside another may try at most this many splits (`(?:x{1,50}){1,50}` tries 2500)."""


def _re2() -> Any:
    try:
        import re2  # google-re2: linear-time matching
    except ImportError:  # pragma: no cover - a dependency; Python's `re` with the strict check below
        return None
    return re2


def _user_pattern(where: str, text: str, compiled: re.Pattern[str]) -> Any:
    """A user's pattern as it will run. RE2 (google-re2) matches in time linear in the line, so any
    pattern it takes runs there (RE2's `\\d`, `\\w` and `\\s` are ASCII only). A pattern RE2 cannot
    take (lookaround, backreferences) runs under `re`, so it must pass a stricter check: no
    alternatives under an unbounded repeat, no bounded repeats nested past `MAX_NESTED_REPEATS`
    splits, and at most one unbounded repeat (`.*.*Z` already takes seconds on a 3 KB line).

    Raises:
        CatalogError: the pattern needs `re` and could backtrack for long.
    """
    re2 = _re2()
    if re2 is not None:
        options = re2.Options()
        options.log_errors = False
        try:
            return re2.compile(text, options)
        except re2.error:
            pass
    problem = _slow_shape(_sre_parse.parse(text), 1, False)
    if problem is None and _unbounded_repeats(_sre_parse.parse(text)) > 1:
        problem = "more than one unbounded repeat (`.*`, `+`, `{n,}`)"
    if problem is not None:
        raise CatalogError(
            f"{where}: pattern may backtrack catastrophically: {problem} in {text!r} (RE2 cannot run it: "
            "drop the lookaround or backreference, or bound the repeats)"
        )
    return compiled


def _unbounded_repeats(items: Any) -> int:
    count = 0
    for op, value in items:
        if op in _BACKTRACKING_REPEATS and value[1] == _sre.MAXREPEAT:
            count += 1
        count += sum(_unbounded_repeats(part) for part in _parts(op, value))
    return count


def _slow_shape(items: Any, splits: int, repeated: bool) -> str | None:
    """Alternatives under an unbounded repeat, or bounded repeats nested past `MAX_NESTED_REPEATS`."""
    for op, value in items:
        inner_splits, inner_repeated = splits, repeated
        if op in _BACKTRACKING_REPEATS:
            low, high = value[0], value[1]
            if high == _sre.MAXREPEAT:
                inner_repeated = True
            elif high != low:
                inner_splits = splits * high
                if splits > 1 and inner_splits > MAX_NESTED_REPEATS:
                    return f"nested repeats that may split a match {inner_splits} ways"
        if op is _sre.BRANCH and repeated:
            return "alternatives under an unbounded repeat"
        for part in _parts(op, value):
            problem = _slow_shape(part, inner_splits, inner_repeated)
            if problem is not None:
                return problem
    return None


def _strings(where: str, entry: dict[str, Any], key: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CatalogError(f"{where}: field {key!r} must be a list of non-empty strings")
    return tuple(value)


def _definition(file: str, entry: Any, user: bool = False, shipped: bool = False) -> Definition:
    if not isinstance(entry, dict):
        raise CatalogError(f"{file}: every entry must be a JSON object, got {type(entry).__name__}")
    where = f"{file}: entry {entry.get('id', entry.get('code', '?'))!r}"
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise CatalogError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for key in ("code", "meaning", "action", "reference"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise CatalogError(f"{where}: field {key!r} must be a non-empty string")
    patterns = []
    for text in _strings(where, entry, "patterns"):
        if len(text) > MAX_PATTERN_CHARS:
            raise CatalogError(
                f"{where}: pattern is {len(text)} characters long, more than {MAX_PATTERN_CHARS}: {text[:60]!r}..."
            )
        try:
            patterns.append(re.compile(text))
        except re.error as err:
            raise CatalogError(f"{where}: pattern {text!r} does not compile: {err}") from None
        if not shipped and nested_repetition(text):  # the shipped patterns are checked by the tests
            raise CatalogError(
                f"{where}: pattern may backtrack catastrophically: nested repetition in {text!r} "
                "(a repeat inside an unbounded repeat; bound one of them, e.g. {0,200}, or anchor the alternatives)"
            )
        if user:
            patterns[-1] = _user_pattern(where, text, patterns[-1])
    literals = _strings(where, entry, "literals")
    if patterns and not literals:
        raise CatalogError(f"{where}: an entry with patterns needs 'literals' (substrings that prefilter lines)")
    groups = {name for p in patterns for name in p.groupindex}
    for name in _TEMPLATE.findall(entry["code"]):
        if name not in groups:
            raise CatalogError(f"{where}: code template names group {name!r}, which no pattern has")
    try:
        return Definition(
            id=entry.get("id", entry["code"]),
            code=entry["code"],
            kind=Kind(entry["kind"]),
            severity=Severity.parse(entry["severity"]),
            domain=None if entry["domain"] is None else Domain(entry["domain"]),
            role=None if entry["role"] is None else Role(entry["role"]),
            meaning=entry["meaning"],
            action=entry["action"],
            reference=entry["reference"],
            file=file,
            message=entry.get("message"),
            resolution=entry.get("resolution"),
            literals=literals,
            patterns=tuple(patterns),
            samples=_strings(where, entry, "samples"),
            near_misses=_strings(where, entry, "near_misses"),
        )
    except ValueError as err:
        raise CatalogError(f"{where}: {err}") from None


def read_entries(name: str, text: str, *, user: bool = False, shipped: bool = False) -> list[Definition]:
    """The entries of one catalog document (`name` is used in error messages; `user`: a user's
    file, whose patterns run under RE2 where it takes them, see `_user_pattern`; `shipped`: one of
    the project's files, whose patterns the tests check for nested repetition, so start-up does not)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise CatalogError(f"{name}: not valid JSON: {err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise CatalogError(f"{name}: expected an object with an 'entries' list")
    return [_definition(name, entry, user, shipped) for entry in document["entries"]]


def read_file(path: str | Path) -> list[Definition]:
    """The entries of a user's catalog file; CatalogError names what is wrong."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_CATALOG_BYTES + 1)  # bounded: `--catalog /dev/zero` must not fill memory
        if len(data) > MAX_CATALOG_BYTES:
            raise CatalogError(f"{path}: the catalog file is larger than {MAX_CATALOG_BYTES >> 20} MiB; "
                               "split it or name a smaller file")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CatalogError(f"{path}: cannot read the catalog file: {err}") from None
    return read_entries(str(path), text, user=True)


class Catalog:
    """Validated entries, matchers in specific-to-generic order, and the line prefilter."""

    def __init__(self, entries: Iterable[Definition]) -> None:
        by_id: dict[str, Definition] = {}
        for entry in entries:
            by_id[entry.id] = entry  # a later file overrides an earlier entry with the same id
        self.entries = list(by_id.values())
        self.by_code: dict[str, Definition] = {}
        for entry in self.entries:
            if not entry.is_matcher:
                self.by_code.setdefault(entry.code, entry)
        for entry in self.entries:  # a fixed-code matcher also defines its code, unless a definition does
            if entry.is_matcher and not entry.is_template:
                self.by_code.setdefault(entry.code, entry)
        self.matchers = _specific_first([e for e in self.entries if e.is_matcher])
        literals = sorted({literal for m in self.matchers for literal in m.literals})
        self.triggers = cover(tuple(literals)) if literals else ()
        # two levels of plain substring checks before any regex: a trigger, then the literals holding it
        self._by_trigger = [(t, tuple(lit for lit in literals if t in lit)) for t in self.triggers]
        self._by_literal = {
            lit: tuple(i for i, m in enumerate(self.matchers) if lit in m.literals) for lit in literals
        }

    def definition(self, code: str) -> Definition:
        """The definition of `code`; KeyError names the code when there is none."""
        try:
            return self.by_code[code]
        except KeyError:
            raise KeyError(f"no catalog entry for code {code!r}") from None

    def match(self, line: str) -> list[Match]:
        """The matchers `line` raises: at most one per kind, the most specific first."""
        candidates: set[int] = set()
        for trigger, literals in self._by_trigger:
            if trigger in line:
                for literal in literals:
                    if literal in line:
                        candidates.update(self._by_literal[literal])
        if not candidates:
            return []
        hits: list[Match] = []
        kinds: set[Kind] = set()
        for index in sorted(candidates):
            matcher = self.matchers[index]
            if matcher.kind in kinds and not matcher.is_template:
                continue
            for pattern in matcher.patterns:
                found = pattern.search(line)
                if found is not None:
                    break
            else:
                continue
            hit = self.resolve(matcher, found)
            if hit.definition.kind in kinds:
                continue
            kinds.add(hit.definition.kind)
            hits.append(hit)
        return hits

    def resolve(self, matcher: Definition, found: re.Match[str]) -> Match:
        """The code a hit stands for and the definition its event takes its fields from."""
        if not matcher.is_template:
            return Match(matcher, matcher, matcher.code, found)
        groups = found.groupdict()
        code = _TEMPLATE.sub(lambda m: (groups.get(m.group(1)) or "?").strip(), matcher.code)
        definition = self.by_code.get(code, matcher)
        return Match(matcher, definition, code, found)

    def problems(self) -> list[str]:
        """What is wrong with the entries' samples and near misses (empty when all is well)."""
        found: list[str] = []
        for entry in self.entries:
            where = f"{entry.file}: entry {entry.id!r}"
            if entry.is_matcher and not entry.samples:
                found.append(f"{where}: a matcher needs at least one sample")
            for sample in entry.samples:
                if not any(hit.matcher is entry for hit in self.match(sample)):
                    raisers = [f"{h.matcher.id} ({h.definition.kind})" for h in self.match(sample)]
                    found.append(f"{where}: sample does not raise it (raised: {raisers or 'nothing'}): {sample!r}")
            for near_miss in entry.near_misses:
                if any(hit.matcher is entry for hit in self.match(near_miss)):
                    found.append(f"{where}: near miss raises it: {near_miss!r}")
        return found


def _specific_first(matchers: Sequence[Definition]) -> list[Definition]:
    """Matchers sorted by how many other matchers' samples they match (fewest first)."""

    def generality(entry: Definition) -> int:
        return sum(
            1 for other in matchers if other is not entry for sample in other.samples if entry.search(sample)
        )

    rank = {id(entry): (generality(entry), position) for position, entry in enumerate(matchers)}
    return sorted(matchers, key=lambda e: rank[id(e)])


def _shipped_entries() -> list[Definition]:
    entries: list[Definition] = []
    for item in sorted(resources.files(__package__).iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json"):
            entries.extend(read_entries(item.name, item.read_text(encoding="utf-8"), shipped=True))
    return entries


def load(extra_files: Sequence[str] = ()) -> Catalog:
    """The shipped catalog, with the entries of `extra_files` added or
    overriding shipped ones by id (cached; CatalogError when invalid)."""
    return _load(tuple(extra_files))


@functools.cache
def _load(extra_files: tuple[str, ...]) -> Catalog:
    """`load`, cached by the files' names: `load()` and `load(())` are the same catalog."""
    entries = _shipped_entries()
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.id in seen:
            raise CatalogError(f"{entry.file}: entry {entry.id!r}: duplicate id (also in {seen[entry.id]})")
        seen[entry.id] = entry.file
    for path in extra_files:
        entries.extend(read_file(path))
    return Catalog(entries)


def definition(code: str) -> Definition:
    """The shipped definition of `code`; KeyError names the code when there is none."""
    return load().definition(code)
