"""A scan as one JSON document: the events, a summary per file, and the
inputs that could not be read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from monitor.model import Event, SourceSummary


def scan_document(
    events: Sequence[Event], summaries: Sequence[SourceSummary], errors: Sequence[str]
) -> dict[str, Any]:
    """The document's content."""
    return {
        "events": [e.to_dict() for e in events],
        "files": [s.to_dict() for s in summaries],
        "errors": list(errors),
    }


def write_json(
    events: Sequence[Event], summaries: Sequence[SourceSummary], errors: Sequence[str], out: TextIO
) -> None:
    """Write the document, indented for people and diff tools."""
    json.dump(scan_document(events, summaries, errors), out, indent=2, ensure_ascii=False)
    out.write("\n")
