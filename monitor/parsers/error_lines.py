"""The net under the catalog: an error line that no catalog entry knows still becomes an event.

A new accelerator stack prints errors no catalog has seen yet; those lines must
not vanish. A line that no parser took and no catalog entry matched is taken
when it shows an error level (`ERROR`, glog `E0312`, c10 `[E`, `NCCL WARN`,
`level=error`) or failure vocabulary (`RuntimeError:`, `failed`, `timed out`,
`Killed`, a non-zero exit code, a fatal signal), unless a benign rule says it
is healthy (`0 errors`, a Python warning, a retry that succeeded, a settings
dump). Its kind comes from the words it holds, first match wins: memory
exhaustion → oom; timeout, watchdog, heartbeat → hang; accelerator, driver,
memory hardware → device_fault; collective, network, transport → comm_error;
otherwise a crash when the process died, else a warning-level note. A kernel-log line (a
driver's message) is a device fault unless it says out of memory or network.

The event's code is `UNCATALOGED` (the set of codes stays bounded) and its
`details.template` is the line with numbers, hex, paths and addresses masked,
so repeats of one error across ranks, files and attempts fold into one.
The rules live in `error_lines.json`, each with samples and near misses.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any, NamedTuple

from monitor.model import UNCATALOGED, Kind, Severity
from monitor.parsers import slots

CODE = UNCATALOGED
TEMPLATE_MAX_CHARS = 240

_MASKS = (
    (re.compile(r"(?<![\w/.])(?:[\w.@+-]{0,80}/){2,}[\w.@+-]{0,120}"), "<path>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<id>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b|\[(?=[0-9a-fA-F]{0,4}:)[0-9a-fA-F:]{3,39}\](?::\d{1,5})?"),
     "<addr>"),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b|\b(?=[a-fA-F]{0,15}\d)(?=\d{0,15}[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)


# What may still precede the message after the launcher prefix and timestamp: NCCL's
# `host:pid:tid [device]` and a level with its separators (`- ERROR - `, `FATAL: `).
# CANN's plog header `[ERROR] RUNTIME(4431,python):2025-03-01-08:00:01.001.002 [file.cc:12]` with
# MindSpore's `Function]` after it.
_LEAD = re.compile(
    r"(?:\s{0,4}(?:[A-Za-z][\w.-]{0,63}:\d{1,8}:\d{1,8} \[\d{1,4}\]|-(?=\s)|(?:ERROR|FATAL|CRITICAL)(?::|(?=\s))"
    r"|\[[A-Z]{4,7}\] [A-Z][A-Z_]{1,20}\(\d{1,8}(?:,[\w-]{0,40}){0,2}\):[\d:.-]{10,32}"
    r"|\[[^\]\s]{1,200}:\d{1,6}\](?: ?\w{1,80}\])?))+\s*"
)


_PLOG_MODULE = re.compile(r"\[[A-Z]{4,7}\] (?P<module>[A-Z][A-Z_]{1,20})\(\d")
"""The CANN module that printed a plog line (RUNTIME, DRV, HCCL, GE, ...): it tells the kind."""


class Rule(NamedTuple):
    """One rule of the data file: its regex, and the examples that prove it."""

    id: str
    pattern: re.Pattern[str]
    samples: tuple[str, ...]
    near_misses: tuple[str, ...]


class Verdict(NamedTuple):
    """What the net makes of an error line."""

    kind: Kind
    severity: Severity
    died: bool
    template: str


def _rule(entry: dict[str, object], name: str) -> Rule:
    return Rule(
        str(entry.get("id") or entry.get("kind") or name),
        re.compile(str(entry["pattern"])),
        tuple(entry.get("samples", ())),  # type: ignore[arg-type]
        tuple(entry.get("near_misses", ())),  # type: ignore[arg-type]
    )


class ErrorLines:
    """The rules of `error_lines.json`, applied to one line at a time."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.levels = [_rule(e, "level") for e in data["levels"]]
        self.failures = [_rule(e, "failure") for e in data["failures"]]
        self.died = [_rule(e, "died") for e in data["died"]]
        self.benign = [_rule(e, "benign") for e in data["benign"]]
        self.kinds = [(Kind(str(e["kind"])), _rule(e, "kind")) for e in data["kinds"]]
        self.kernel = [_rule(e, "kernel") for e in data["kernel"]]
        self._kernel = _joined(self.kernel)
        screen = data["prefilter"]
        self._words = tuple(screen["lowercase"])  # type: ignore[index]
        self._exact = tuple(screen["exact"])  # type: ignore[index]
        self._glog = re.compile(screen["glog"])  # type: ignore[index]
        self._level = _joined(self.levels)
        self._trigger = _joined(self.levels + self.failures + self.died)
        self._benign = _joined(self.benign)
        self._died = _joined(self.died)

    def screened(self, line: str) -> bool:
        """The cheap test first: whether `line` holds a word that every trigger needs."""
        low = line.lower()
        return (
            any(word in low for word in self._words)
            or any(text in line for text in self._exact)
            or self._glog.search(line) is not None
        )

    def tells_death(self, line: str) -> bool:
        """Whether `line` says a process died (`Killed`, `core dumped`, a fatal signal): never just
        more of the error before it, though indented like its continuation."""
        return self.screened(line) and self._died.search(line) is not None

    def take(self, line: str, start: int = 0) -> Verdict | None:
        """The net's reading of `line`, whose message starts at `start` (see `message_start`), or
        None when it is not an error line (or a benign one). The kind is read from the message
        alone: a host name such as `gpu-b12` in a prefix says nothing."""
        if not self.screened(line):
            return None
        if self._trigger.search(line) is None or self._benign.search(line, start) is not None:
            return None
        text = line[start:]
        masked = template(text)  # words only: `device` in a source path says nothing
        module = _PLOG_MODULE.search(line, 0, start)
        words = f"{module['module']} {masked}" if module is not None else masked
        # from the message, and where the prefix says how it ends (TensorFlow's `<time>: F <file>:<line>] `)
        died = self._died.search(text) is not None or (start > 0 and self._died.search(line, start) is not None)
        kind = next((kind for kind, rule in self.kinds if rule.pattern.search(words)), None)
        if kind not in (Kind.OOM, Kind.COMM_ERROR) and self._kernel.match(line) is not None:
            kind = Kind.DEVICE_FAULT  # a driver's message: its failures and timeouts are the device's
        at_level = self._level.search(line) is not None
        if kind is None:
            kind = Kind.CRASH
            severity = Severity.ERROR if died else Severity.WARNING
        else:
            severity = Severity.ERROR if died or at_level else Severity.WARNING
        return Verdict(kind, severity, died, masked)


def message_start(line: str) -> int:
    """Where the message of an error line starts: after launcher prefixes, a timestamp, the
    logging source location, NCCL's process prefix and the level."""
    start = slots.message_start(line)
    lead = _LEAD.match(line, start)
    return lead.end() if lead is not None else start


_CONTINUED = ("TraceBack (most recent call last)", "Possible Cause", "Solution")


def is_continuation(line: str) -> bool:
    """Whether `line` continues the message before it: blank or indented (by more than the one
    space that separates a prefix from its message) after its prefix, or a
    part of CANN's error block (`Possible Cause:`, `Solution:`, its own `TraceBack`)."""
    text = line[slots.message_start(line):]
    return not text.strip() or text[:2] == "  " or text[:1] == "\t" or text.lstrip().startswith(_CONTINUED)


def _joined(rules: list[Rule]) -> re.Pattern[str]:
    """One regex for a list of rules (each keeps its own flags), for a single search per line."""
    parts = []
    for rule in rules:
        text = rule.pattern.pattern
        if text.startswith("(?i)"):
            text = f"(?i:{text[4:]})"
        parts.append(f"(?:{text})")
    return re.compile("|".join(parts), re.MULTILINE)


def template(line: str) -> str:
    """`line` with what varies between repeats masked: paths, ids, addresses, hex, numbers."""
    text = line.strip()[: 4 * TEMPLATE_MAX_CHARS]
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text[:TEMPLATE_MAX_CHARS]


@functools.lru_cache(maxsize=1)
def load() -> ErrorLines:
    """The shipped rules."""
    text = resources.files("monitor.parsers").joinpath("error_lines.json").read_text(encoding="utf-8")
    return ErrorLines(json.loads(text))
