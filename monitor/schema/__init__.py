"""The JSON Schemas (draft 2020-12) of the machine contract, shipped as package data.

`event.schema.json` is one event (a line of `monitor scan --format jsonl`, an item of every
`events` list); `scan-document.schema.json` is `monitor scan --format json`;
`report.schema.json` is the outline of `monitor report -o FILE.json` (its `events` are events,
the rest is the report's own and may grow). Each schema's `$id` is a URN, so a validator resolves
the documents' references to the event schema offline (see `resources`).

Deliberately not here: validation itself (`jsonschema` is a test dependency, not a runtime one).
"""

from __future__ import annotations

import json
from importlib import resources as _files
from typing import Any

NAMES = ("event", "scan-document", "report")


def load(name: str) -> dict[str, Any]:
    """The schema called `name` (one of `NAMES`), as a dict.

    Raises:
        ValueError: `name` is not one of `NAMES`.
    """
    if name not in NAMES:
        raise ValueError(f"unknown schema {name!r}; expected one of {', '.join(NAMES)}")
    text = _files.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def resources() -> dict[str, dict[str, Any]]:
    """Every schema by its `$id`, for a validator's reference registry."""
    schemas = [load(name) for name in NAMES]
    return {schema["$id"]: schema for schema in schemas}
