"""Events as JSON lines: one contract object per line (the machine interface)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from monitor.model import Event


def write_jsonl(events: Iterable[Event], out: TextIO) -> None:
    """Write each event as one JSON object on its own line."""
    for event in events:
        out.write(json.dumps(event.to_dict(), ensure_ascii=False))
        out.write("\n")
