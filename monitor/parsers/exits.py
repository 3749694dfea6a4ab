"""Planned exits: a run that stops on purpose before its last step (an exit-duration limit,
`max_steps` reached, early stopping, a preemption it saved for) did not hang.

The phrases live in `planned_exits.json` (data, each with its source, samples and near
misses); a line must hold one of the file's `literals` before any pattern runs.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

_NAMED = re.compile(r"\(\?P<\w+>")


@functools.lru_cache(maxsize=1)
def _phrases() -> tuple[tuple[str, ...], re.Pattern[str]]:
    data = json.loads(resources.files("monitor.parsers").joinpath("planned_exits.json").read_text(encoding="utf-8"))
    # the phrases' own groups are unnamed here: several name theirs alike (`step`)
    pattern = "|".join(f"(?:{_NAMED.sub('(?:', phrase['pattern'])})" for phrase in data["phrases"])
    return tuple(data["literals"]), re.compile(pattern, re.MULTILINE)


def is_planned_exit(line: str) -> bool:
    """Whether `line` says the run is stopping on purpose."""
    literals, pattern = _phrases()
    return any(literal in line for literal in literals) and pattern.search(line) is not None
