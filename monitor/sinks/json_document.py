"""A scan as one JSON document: the contract's `schema_version`, the events, a summary per file
(with a `notice` when nothing was recognised in it), and the inputs that could not be read.
Its shape is `monitor/schema/scan-document.schema.json`."""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from monitor.model import SCHEMA_VERSION, Event, SourceSummary


def scan_document(
    events: Sequence[Event], summaries: Sequence[SourceSummary], errors: Sequence[str],
    counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The document's content; `counts` are the raw events per file (before folding; else counted here)."""
    counts = collections.Counter(e.file for e in events) if counts is None else counts
    return {
        "schema_version": SCHEMA_VERSION,
        "events": [e.to_dict() for e in events],
        "files": [{**s.to_dict(), "notice": s.notice(counts.get(s.file, 0))} for s in summaries],
        "errors": list(errors),
    }


def write_json(
    events: Sequence[Event], summaries: Sequence[SourceSummary], errors: Sequence[str], out: TextIO,
    counts: Mapping[str, int] | None = None,
) -> None:
    """Write the document, indented for people and diff tools."""
    json.dump(scan_document(events, summaries, errors, counts), out, indent=2, ensure_ascii=False)
    out.write("\n")
