"""Events as JSON lines: one contract object per line (the machine interface), each valid against
`monitor/schema/event.schema.json`, its times RFC 3339 (see `Event.to_dict`).

Text stays as the log wrote it (evidence is the raw line), JSON-escaped: C0
controls are escaped by JSON itself, and DEL and the C1 controls (U+0080 to
U+009F, e.g. U+009B CSI, U+009D OSC) are written as `\\u00XX` too, so the
stream printed on a terminal cannot drive it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from monitor.model import Event

_C1 = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def write_jsonl(events: Iterable[Event], out: TextIO) -> None:
    """Write each event as one JSON object on its own line."""
    for event in events:
        out.write(json.dumps(event.to_dict(), ensure_ascii=False).translate(_C1))
        out.write("\n")
