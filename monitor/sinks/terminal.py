"""Text from logs and file names made safe to print on a terminal: no control reaches it.

A log line or a file name is written by whoever writes the logs. On a
terminal, an escape sequence in it can set the window title (OSC 0), fill the
clipboard (OSC 52), reset the screen (`ESC c`), move the cursor (`ESC 7`,
`ESC 8`, CSI) or ring the bell. `printable` removes complete escape sequences
(7-bit `ESC ...` and the 8-bit C1 forms U+009B CSI, U+009D OSC, ...) and then
every remaining C0 control but the tab, DEL, and every C1 control (ECMA-48).

Deliberately not here: markup escaping for rich (the table and the dashboard)
and JSON output, which keeps the raw text JSON-escaped (`jsonl` evidence).
"""

from __future__ import annotations

import re

_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: cursor moves, colours, erase
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]"  # two-byte escapes: ESC c (reset), ESC 7 / ESC 8 (cursor), ESC ( B (charset)
)
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # C0 but the tab, DEL, C1


def printable(text: str) -> str:
    """`text` without escape sequences and control characters (tabs kept), for a terminal."""
    if text.isprintable():
        return text
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))
