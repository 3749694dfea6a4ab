"""The catalog: what each event code means and what to do about it, as data.

Each `*.json` file in this package holds entries keyed by a stable `code`.
This module loads and validates them once; detectors look definitions up by
code and copy `kind`, `severity`, `domain`, `role` and `action` into the
events they raise, so wording and severities are changed here, not in code.

Deliberately not here: matching log lines against patterns.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources
from typing import Any

from monitor.model import Domain, Kind, Role, Severity

_REQUIRED = ("code", "kind", "severity", "domain", "role", "meaning", "action", "reference")


class CatalogError(ValueError):
    """A catalog file or entry is invalid; the message names the file, entry and field."""


@dataclasses.dataclass(frozen=True, slots=True)
class Definition:
    """One catalog entry."""

    code: str
    kind: Kind
    severity: Severity
    domain: Domain | None
    role: Role | None
    meaning: str
    action: str
    reference: str


def _definition(file: str, entry: dict[str, Any]) -> Definition:
    code = entry.get("code", "?")
    where = f"{file}: entry {code!r}"
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise CatalogError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(entry) - set(_REQUIRED))
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(unknown)}")
    try:
        return Definition(
            code=entry["code"],
            kind=Kind(entry["kind"]),
            severity=Severity.parse(entry["severity"]),
            domain=None if entry["domain"] is None else Domain(entry["domain"]),
            role=None if entry["role"] is None else Role(entry["role"]),
            meaning=entry["meaning"],
            action=entry["action"],
            reference=entry["reference"],
        )
    except ValueError as err:
        raise CatalogError(f"{where}: {err}") from None


@functools.cache
def definitions() -> dict[str, Definition]:
    """All shipped definitions, by code (loaded and validated once)."""
    found: dict[str, Definition] = {}
    for item in sorted(resources.files(__package__).iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".json"):
            continue
        document = json.loads(item.read_text(encoding="utf-8"))
        for entry in document.get("entries", []):
            definition = _definition(item.name, entry)
            if definition.code in found:
                raise CatalogError(f"{item.name}: entry {definition.code!r}: duplicate code")
            found[definition.code] = definition
    return found


def definition(code: str) -> Definition:
    """The definition of `code`; KeyError names the code when there is none."""
    try:
        return definitions()[code]
    except KeyError:
        raise KeyError(f"no catalog entry for code {code!r}") from None
