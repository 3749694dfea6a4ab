"""Turn fault lines into events through the catalog, and fatal blocks into crashes.

Progress parsers see progress lines; this scanner sees the rest (and the
progress-bar lines, where a fault can be glued to a bar). Each line goes
through the catalog's prefilter, so chatter costs a few substring checks.

Two kinds of fault span several lines, and are assembled here:

- A Python traceback becomes one `crash` at its final exception line, naming
  the exception and the most specific fault seen inside it (an OOM inside a
  traceback is one `oom` plus the crash). A traceback cut off before its
  final line still ends as a crash. CANN's own `TraceBack (most recent call
  last):` (capital B) is its call chain, not a Python traceback.
- torchelastic's ChildFailedError summary: the crash takes the rank, host,
  exit code and signal of its "Root Cause (first observed failure)" entry.

Tracebacks of several ranks interleaved in one file are kept apart by their
line prefix (`[rank3]:`, `worker-1: `).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from monitor.catalog import Catalog, Definition, Match
from monitor.model import (
    EPISODE_GAP_S,
    MAX_LISTED,
    Event,
    Kind,
    Role,
    Severity,
    epoch_of,
    fold_key,
    repeated,
    trim_evidence,
)
from monitor.parsers import error_lines
from monitor.parsers.attribution import device_of, process_of
from monitor.parsers.base import ParseContext
from monitor.parsers.timestamps import find_timestamp

TRACEBACK = "Traceback (most recent call last):"
FRAME = 'File "'
_IPYTHON_HEAD = "An exception has occurred, use %tb to see the full traceback."
"""What IPython and Jupyter print instead of the traceback of an uncaught SystemExit
(IPython/core/interactiveshell.py, `showtraceback`), before its exception line: a traceback's head."""
_IPYTHON_TRACEBACK = re.compile(r"(?<!\S)[A-Za-z_][\w.]{0,200} {2,}Traceback \(most recent call last\)\s*$")
"""IPython's and Jupyter's verbose traceback header (IPython/core/ultratb.py, VerboseTB): the exception's type,
padding, then `Traceback (most recent call last)` without the colon; its frames follow as `Cell In[12], line 17`,
`File ~/lib/x.py:625, in f(...)` (older: `<ipython-input-5-...> in <module>`), numbered source lines and
`---> 17` markers, and the `Type: message` line ends it."""
_IPYTHON_FRAMES = ("Cell In[", "Input In [", "File ", "<ipython-input-", "--->", "-->", "~/")
_FRAME_LINE = re.compile(r'(?:^|\s)File "[^"]*", line \d+')
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]{0,200})(?::\s?(?P<text>.*))?$")
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
_TAIL = re.compile(r"[A-Za-z_][\w.]{0,200}(?:Error|Exception)(?::|$)")
"""An exception line as a traceback ends, at the start of a line (an excerpt that kept only its tail)."""
_MAX_TRACEBACK_LINES = 2000
_MAX_OPEN_TRACEBACKS = 64
_DIGITS = re.compile(r"\d")

CHILD_FAILED_CODE = "TORCHELASTIC-CHILD-FAILED"
_ROOT_CAUSE = "Root Cause (first observed failure)"
_ELASTIC_FIELD = re.compile(r"(?:^|\s)(?P<key>time|host|rank|exitcode|error_file|traceback)\s*:\s(?P<value>.*?)\s*$")
_ELASTIC_PID = re.compile(r"\(pid: (\d{1,10})\)")
_SIGNAL = re.compile(r"Signal (?P<number>\d+) \((?P<name>SIG\w+)\)")
_MAX_ELASTIC_LINES = 80

_MAX_HELD = 64
_TIME_SCAN = 96
_BURST_S = 60.0
_RECENT_LINES = 30
_RECENT_FAULTS = 16

_CHATTER = "NCCL INFO"
"""NCCL's debug output (NCCL_DEBUG=INFO): often most of a log's lines, never a fault by itself
(an error travelling up prints `NCCL INFO <file>:<line> -> <code>` after the WARN line that matters)."""
_TORCH_NPU_CODE = re.compile(r"ERR\d{5}")
"""torch_npu's error code (`ERR02200`), which its exceptions print on the line after their message."""

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _value(text: str) -> Any:
    """A captured group as data: numbers as numbers, text stripped."""
    text = text.strip()
    if _NUMBER.fullmatch(text):
        number = float(text)
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    return text


class _Format(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "?"


def _prefix_key(prefix: str) -> str:
    """A line prefix with its digits blanked, so a timestamped prefix still matches its lines."""
    return _DIGITS.sub("0", prefix)


@dataclasses.dataclass
class _Traceback:
    """A Python traceback being read."""

    prefix: str
    first_line: int
    last_line: int
    header_line: str
    faults: list[Event] = dataclasses.field(default_factory=list)
    lines: int = 0
    crash: Event | None = None  # set at the exception line; held back in case a chained traceback follows
    chained: bool = False
    verbose: bool = False  # IPython's verbose layout (`_IPYTHON_TRACEBACK`): its frames are not indented


_SHARPER = {Kind.DEVICE_FAULT: 1, Kind.COMM_ERROR: 2, Kind.HANG: 3, Kind.OOM: 4}
"""Kinds a CANN block's cause lines may give its header's event (a crash until then), the more
telling last: a driver's failure may be it running out of memory."""


def _told_by_line(events: list[Event]) -> list[Event]:
    """A CANN code names only the module (`EH9999  wait for compute device to finish failed, runtime
    result = 107020.`); where the same line holds a fault of a more telling kind (the runtime result's
    task timeout), the code's event takes that kind, as a block's header takes its cause line's
    (`FaultScanner._sharpen`)."""
    if len(events) < 2:
        return events
    telling = max((e for e in events if e.kind in _SHARPER), key=lambda e: _SHARPER[e.kind], default=None)
    if telling is None:
        return events
    return [
        dataclasses.replace(e, kind=telling.kind, severity=max(e.severity, telling.severity), role=telling.role,
                            cause=telling.cause)
        if e.kind is Kind.CRASH and "cann" in (e.details or {}) else e
        for e in events
    ]


class FaultScanner:
    """The fault events of one source, line by line."""

    def __init__(self, catalog: Catalog, ctx: ParseContext) -> None:
        self.catalog = catalog
        self.ctx = ctx
        self.net = error_lines.load()
        self.tracebacks: dict[str, _Traceback] = {}
        self.child_failed: Event | None = None
        self.child_failed_lines = 0
        self.child_failed_root = False
        self.last_number = 0
        self.recent: list[Event] = []
        self.step: int | None = None  # the training step of the line being scanned
        self.held: dict[tuple[Any, ...], _Held] = {}  # recent faults, held back while they repeat
        self.restarts = 0  # times the training step went back, so a fault after a restart is a new episode
        self.approx_time: str | None = None  # the time of the last timestamped progress line
        self.continuing = False  # the last line raised an event: indented lines after it belong to it
        self.inner: tuple[Any, ...] | None = None  # a CANN header's crash held while its cause lines may follow
        self.after_code = False  # the last line was indented as a traceback's source line is

    # -- events -----------------------------------------------------------

    def event(self, hit: Match, line: str, number: int) -> Event:
        """The event a catalog hit raises on `line`: named groups fill rank, node and device,
        the other groups the details."""
        found = hit.found
        fields: dict[str, Any] = {}
        details: dict[str, Any] = {}
        for name, text in found.groupdict().items():
            if text is None:
                continue
            if name == "rank":
                value = _value(text)
                if isinstance(value, int) and value >= 0:
                    fields["rank"] = value
            elif name in ("node", "device"):
                fields[name] = text.strip()
            else:
                details[name] = _value(text)
        if hit.definition.resolution:
            details.setdefault("resolution", hit.definition.resolution)
        if details:
            fields["details"] = details
        message = self._message(hit, found.groupdict())
        return self._new(hit.definition, hit.code, message, line, number, found.start(), **fields)

    @staticmethod
    def _message(hit: Match, groups: dict[str, str | None]) -> str:
        template = hit.definition.message or hit.matcher.message
        values = _Format({k: v.strip() for k, v in groups.items() if v is not None})
        values["meaning"] = hit.definition.meaning.rstrip(".")
        values["code"] = hit.code
        if not template:
            return hit.definition.meaning
        try:
            return template.format_map(values)
        except (ValueError, IndexError, AttributeError):
            return hit.definition.meaning

    def _defined(self, code: str, line: str, number: int, message: str, start: int = 0, **fields: Any) -> Event:
        """An event of a code the engine raises itself (defined in the catalog)."""
        return self._new(self.catalog.definition(code), code, message, line, number, start, **fields)

    def _new(
        self, definition: Definition, code: str, message: str, line: str, number: int, start: int, **fields: Any
    ) -> Event:
        """An event with `definition`'s fields, placed at `line` (whose message starts at `start`,
        after its prefix: the prefix gives time, rank and node); `fields` override."""
        time, _epoch, rank, node = self.ctx.where(line, start)
        if time is None:  # a code before the time (CANN's `EZ9999[PID: 8] 2025-06-02-09:42:58.199.118 ...`)
            stamp = find_timestamp(line[:_TIME_SCAN], self.ctx.year)
            time = stamp.iso if stamp is not None else None
        if time is None and self.approx_time is not None:
            fields = {**fields, "details": {**(fields.get("details") or {}), "approx_time": self.approx_time}}
        values: dict[str, Any] = {
            "kind": definition.kind,
            "severity": definition.severity,
            "message": message,
            "code": code,
            "file": self.ctx.file,
            "line": number,
            "time": time,
            "step": self.step,
            "rank": rank,
            "node": node,
            "evidence": trim_evidence(line.strip()),
            "action": definition.action,
            "domain": definition.domain,
            "role": definition.role,
        }
        values.update(fields)
        if values.get("device") is None:
            values["device"] = device_of(line)  # the catalog pattern named none
        if values["device"] is not None and "pid" not in (values.get("details") or {}):
            pid = process_of(line)  # a device's fault from a new process is the next attempt's
            if pid is not None:
                values["details"] = {**(values.get("details") or {}), "pid": pid}
        return Event(**values)

    # -- lines ------------------------------------------------------------

    def scan(
        self,
        lines: list[tuple[int, str, int | None]],
        restart_lines: Sequence[int] = (),
        clock: Sequence[tuple[int, str]] = (),
    ) -> list[Event]:
        """Events raised by these (line number, text, training step) lines, in line order
        (lines taken by progress parsers are left out); `restart_lines` are the lines where the
        training step went back, so a fault repeated after one starts a new episode; `clock`
        gives (line, ISO time) of timestamped progress lines, so a fault on a line without a
        time gets the time of the last one before it as `details["approx_time"]`."""
        out: list[Event] = []
        match = self.catalog.match
        restart_at = iter(restart_lines)
        next_restart = next(restart_at, None)
        ticks = iter(clock)
        tick = next(ticks, None)
        for number, line, step in lines:
            while next_restart is not None and next_restart < number:
                self.restarts += 1  # the training step went back: what follows is a new episode
                next_restart = next(restart_at, None)
            while tick is not None and tick[0] < number:
                self.approx_time = tick[1]
                tick = next(ticks, None)
            self.step = step
            adjacent = number == self.last_number + 1
            if not adjacent and self.tracebacks:
                self._interrupt(out)  # progress lines came between: no traceback spans them
            self.last_number = number
            code_before, self.after_code = self.after_code, line.startswith("    ") and not line.isspace()
            if _CHATTER in line:
                self.continuing = False
                continue
            if not self.tracebacks and code_before and adjacent and _TAIL.match(line):
                # an exception line right after a source line: a traceback whose head was left out
                self.tracebacks[""] = _Traceback("", number, number, line)
            hits = match(line)
            continued = False
            if hits:
                events = _told_by_line([self.event(hit, line, number) for hit in hits])
            elif self.continuing and adjacent and error_lines.is_continuation(line) and not self.net.tells_death(line):
                events, continued = [], True  # more of the error just reported (CANN's cause, solution, call chain)
                if self.inner is not None:
                    self._sharpen(line)
            else:
                events = self._uncataloged(line, number)
            if events and self.net.tells_death(line) and not any(e.kind is Kind.CRASH for e in events) and not (
                self.tracebacks and (owner := self._owner(line)) is not None and owner.crash is None
            ):  # (a traceback's own exception line is the traceback's crash)
                events.append(self._died_with(line, number, events[0]))  # the fault, and the process it took down
            self.continuing = continued or bool(events)
            if self.child_failed is not None:
                self._elastic_line(line, out)
            if self.tracebacks or "Traceback (most" in line or FRAME in line or _IPYTHON_HEAD in line:
                events = self._traceback_line(line, number, events, out)
            for event in events:
                if event.kind is Kind.CRASH and event.role is not Role.ROOT and event.cause is None:
                    event = self._explained(event)
                elif event.kind is not Kind.CRASH:
                    self._remember(event)
                if event.code == CHILD_FAILED_CODE:
                    self._start_elastic(event, out)
                else:
                    self._emit(event, out)
            if not continued:
                last = events[-1] if events else None
                cann = last is not None and last.kind is Kind.CRASH and "cann" in (last.details or {})
                self.inner = fold_key(last) if cann else None  # type: ignore[arg-type]
        while next_restart is not None:
            self.restarts += 1
            next_restart = next(restart_at, None)
        if clock:
            self.approx_time = clock[-1][1]  # the latest, for the next batch's first lines
        return out

    def _sharpen(self, line: str) -> None:
        """A CANN block's header (`EE9999: Inner Error!`) names only the module; its indented cause
        lines say what failed (`rtMalloc execute failed, reason=[driver error:out of memory]`). The
        cause line the net reads as a fault of a more telling kind gives the header's event that kind."""
        verdict = self.net.take(line, error_lines.message_start(line))
        if verdict is None or verdict.kind not in _SHARPER:
            return
        key = self.inner
        held = self.held.get(key)  # type: ignore[arg-type]
        if held is None or held.count != 1:
            self.inner = None
            return  # already output, or folded with repeats the line does not describe
        first = held.first
        if first.kind in _SHARPER and _SHARPER[first.kind] >= _SHARPER[verdict.kind]:
            return
        header = first.message.split(": [cause] ")[0].rstrip(".")  # without an earlier cause line
        event = dataclasses.replace(
            first, kind=verdict.kind, severity=max(first.severity, verdict.severity),
            message=f"{header}: [cause] {line.strip()[:200]}",
        )
        del self.held[key]  # type: ignore[arg-type]
        self.inner = fold_key(event)
        self.held[self.inner] = _Held(event, restarts=held.restarts)

    def _died_with(self, line: str, number: int, fault: Event) -> Event:
        """The crash on a line that shows `fault` and says the process died of it (glog's FATAL level,
        which aborts; `terminate called ...`, a shell's job message): the fault's cascade."""
        start = error_lines.message_start(line)
        text = line[start:].strip()
        return self._new(
            self.catalog.definition(error_lines.CODE), error_lines.CODE,
            f"The process died: {text[:200]} (after {fault.code})", line, number, start,
            kind=Kind.CRASH, severity=Severity.ERROR, role=Role.CASCADE, cause=fault.label(),
            domain=fault.domain, details={"template": error_lines.template(text), "process_died": True},
        )

    def _uncataloged(
        self, line: str, number: int, inside: bool = False, kinds: tuple[Kind, ...] | None = None
    ) -> list[Event]:
        """The net under the catalog: an error line no entry knows (outside a traceback or a
        launcher's failure summary, whose lines are read as part of them, unless `inside`), of
        one of `kinds` when given."""
        if not self.net.screened(line) or self.child_failed is not None or TRACEBACK in line or FRAME in line:
            return []
        owner = self._owner(line) if self.tracebacks and not inside else None
        if owner is not None and owner.crash is None:
            return []
        start = error_lines.message_start(line)
        verdict = self.net.take(line, start)
        if verdict is None or (kinds is not None and verdict.kind not in kinds):
            return []
        text = line[start:].strip()
        message = f"An error no catalog entry knows: {text[:200]}" if text else "An error no catalog entry knows"
        return [self._new(
            self.catalog.definition(error_lines.CODE), error_lines.CODE, message, line, number, start,
            kind=verdict.kind, severity=Severity.ERROR if inside else verdict.severity,  # a traceback's end: it died
            details={"template": verdict.template, "process_died": verdict.died},
        )]

    def _emit(self, event: Event, out: list[Event]) -> None:
        """Output an event, folding repeats of the same fault into its first occurrence, so that
        a line repeated a million times costs one event, not a million (memory stays flat)."""
        key = fold_key(event)
        held = self.held.get(key)
        if held is not None and held.restarts == self.restarts and held.continues(event):
            held.add(event)
            return
        if held is not None:
            out.append(held.event())
            del self.held[key]
        elif len(self.held) >= _MAX_HELD:
            oldest = next(iter(self.held))
            out.append(self.held.pop(oldest).event())
        self.held[key] = _Held(event, restarts=self.restarts)

    def _remember(self, event: Event) -> None:
        """Keep the faults of the last few lines: a crash reported just after them is their consequence."""
        line = event.line or 0
        self.recent = [e for e in self.recent if line - (e.line or 0) <= _RECENT_LINES][-_RECENT_FAULTS:]
        self.recent.append(event)

    def _explained(self, crash: Event) -> Event:
        """A crash that follows a fault within a few lines names it as its cause."""
        line = crash.line or 0
        cause = _most_specific([e for e in self.recent if line - (e.line or 0) <= _RECENT_LINES])
        if cause is None:
            return crash
        return dataclasses.replace(
            crash,
            message=f"{crash.message.rstrip('.')} (after {cause.code})",
            role=Role.CASCADE,
            cause=cause.label(),
            domain=crash.domain or cause.domain,
        )

    def finish(self) -> list[Event]:
        """End of input: close open blocks, hand over the event still held."""
        out: list[Event] = []
        self._interrupt(out)
        if self.child_failed is not None:
            self._emit(self.child_failed, out)
            self.child_failed = None
        return out + self.flush()

    def flush(self) -> list[Event]:
        """Hand over the faults held back while they repeat (live following does this after every
        poll, so an alert is never held back waiting for a different fault)."""
        out = [held.event() for held in self.held.values()]
        self.held = {}
        return out

    # -- Python tracebacks --------------------------------------------------

    def _owner(self, line: str) -> _Traceback | None:
        """The open traceback `line` continues: the longest prefix it starts with
        (digits compared loosely, for prefixes carrying a timestamp)."""
        best: _Traceback | None = None
        for tb in self.tracebacks.values():
            if line.startswith(tb.prefix) and (best is None or len(tb.prefix) > len(best.prefix)):
                best = tb
        if best is None:
            for key, tb in self.tracebacks.items():
                if key and _prefix_key(line[: len(key)]) == _prefix_key(key):
                    return tb
        return best

    def _traceback_line(self, line: str, number: int, events: list[Event], out: list[Event]) -> list[Event]:
        """Follow tracebacks through `line`; return the events to keep for it."""
        at = line.find(TRACEBACK)
        if at < 0:
            at = line.find(_IPYTHON_HEAD)
        verbose = _IPYTHON_TRACEBACK.search(line) if at < 0 and "Traceback (most" in line else None
        if verbose is not None:
            at = verbose.start()
        if at >= 0:
            prefix = line[:at]
            tb = self.tracebacks.get(prefix)
            if tb is not None and tb.crash is not None and not tb.chained:
                self._end_traceback(tb, out)  # a new traceback after a finished one
                tb = None
            if tb is None:
                if len(self.tracebacks) >= _MAX_OPEN_TRACEBACKS:
                    self._interrupt(out)
                tb = self.tracebacks[prefix] = _Traceback(prefix, number, number, line)
            tb.crash, tb.chained, tb.verbose = None, False, verbose is not None
            tb.last_line = number
            return events
        tb = self._owner(line)
        if tb is None:
            if FRAME not in line or _FRAME_LINE.search(line) is None:
                return events
            head = line[: line.index(FRAME)]
            prefix = head[:-2] if head.endswith("  ") else head.rstrip(" \t")  # frames are indented by two
            tb = self.tracebacks[prefix] = _Traceback(prefix, number, number, line)  # its header was cut off
        text = line[len(tb.prefix):]
        tb.last_line = number
        if tb.crash is not None:  # finished: only a chained traceback may follow
            if not text.strip():
                return events
            if text.startswith(_CHAINED):
                tb.chained = True
                return events
            coded = next((e for e in events if e.code and _TORCH_NPU_CODE.fullmatch(e.code)), None)
            if coded is not None and tb.crash.line == number - 1:
                # torch_npu ends the exception's message with its code on the next line: the crash's code
                tb.crash = dataclasses.replace(tb.crash, code=coded.code, message=f"{tb.crash.message} ({coded.code})")
            self._end_traceback(tb, out)
            return self._traceback_line(line, number, events, out) if FRAME in line else events
        tb.lines += 1
        tb.faults.extend(e for e in events if e.kind is not Kind.CRASH)
        if not text.strip() or text[:1] in " \t" or text.startswith(_CHAINED) or (
            tb.verbose and text.startswith(_IPYTHON_FRAMES)
        ):
            if tb.lines > _MAX_TRACEBACK_LINES:
                self._close(tb, out)
            return events
        found = _EXCEPTION_LINE.match(text.rstrip())
        if found is None:
            self._close(tb, out)
            return events
        if any(e.kind is Kind.CRASH for e in events):
            self._forget(tb)  # the catalog already names this crash
            return events
        if not events:  # an unknown exception that says it ran out of memory, a NaN loss or a timeout: that, then crash
            events = self._uncataloged(line, number, inside=True, kinds=(Kind.OOM, Kind.NAN, Kind.HANG))
            tb.faults.extend(events)
        tb.crash = self._crash(tb, found, line, number)
        if tb.crash is None:
            self._forget(tb)
        return events

    def _crash(self, tb: _Traceback, found: re.Match[str], line: str, number: int) -> Event | None:
        exception = found.group("type")
        text = (found.group("text") or "").strip()
        short = exception.rsplit(".", 1)[-1]
        if short == "SystemExit" and text in ("", "0", "None"):
            return None
        cause = _most_specific(tb.faults)
        message = f"The process died with {short}" + (f": {text[:300]}" if text else "")
        # the masked exception line: the same error on many ranks folds, different ones never do
        template = f"{exception}: {error_lines.template(text)}"
        fields: dict[str, Any] = {"details": {"exception": exception, "traceback_line": tb.first_line,
                                              "template": template}}
        if short == "KeyboardInterrupt":
            fields["severity"] = Severity.WARNING
            message = "The process was interrupted (KeyboardInterrupt)"
        if cause is not None:
            message += f" (after {cause.code})"
            fields.update(role=Role.CASCADE, domain=cause.domain, cause=cause.label())
        return self._defined("PYTHON-EXCEPTION", line, number, message, start=len(tb.prefix), **fields)

    def _end_traceback(self, tb: _Traceback, out: list[Event]) -> None:
        if tb.crash is not None:
            self._emit(tb.crash, out)
        self._forget(tb)

    def _close(self, tb: _Traceback, out: list[Event]) -> None:
        """A traceback that ended without its exception line."""
        if tb.crash is not None:
            self._end_traceback(tb, out)
            return
        cause = _most_specific(tb.faults)
        message = "A Python traceback was cut off before its exception line: the process probably died here"
        fields: dict[str, Any] = {"details": {"traceback_line": tb.first_line}}
        if cause is not None:
            message += f" (after {cause.code})"
            fields.update(role=Role.CASCADE, domain=cause.domain, cause=cause.label())
        self._emit(self._defined(
            "PYTHON-TRACEBACK-CUT", tb.header_line, tb.first_line, message, start=len(tb.prefix), **fields
        ), out)
        self._forget(tb)

    def _forget(self, tb: _Traceback) -> None:
        self.tracebacks = {k: v for k, v in self.tracebacks.items() if v is not tb}

    def _interrupt(self, out: list[Event]) -> None:
        for tb in list(self.tracebacks.values()):
            self._close(tb, out)

    # -- torchelastic ChildFailedError ----------------------------------------

    def _start_elastic(self, event: Event, out: list[Event]) -> None:
        if self.child_failed is not None:
            self._emit(self.child_failed, out)
        self.child_failed = event
        self.child_failed_lines = 0
        self.child_failed_root = False

    def _elastic_line(self, line: str, out: list[Event]) -> None:
        event = self.child_failed
        assert event is not None
        self.child_failed_lines += 1
        if _ROOT_CAUSE in line:
            self.child_failed_root = True
            return
        found = _ELASTIC_FIELD.search(line) if self.child_failed_root else None
        if found is not None:
            self.child_failed = _with_root_cause(event, found.group("key"), found.group("value"))
            if found.group("key") == "traceback":
                self._emit(self.child_failed, out)
                self.child_failed = None
            return
        if self.child_failed_lines > _MAX_ELASTIC_LINES:
            self._emit(event, out)
            self.child_failed = None

    # -- state ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The scanner's state, comparable with `==` and picklable."""
        return {
            "tracebacks": {
                k: tuple(getattr(v, f.name) for f in dataclasses.fields(v)) for k, v in self.tracebacks.items()
            },
            "child_failed": (self.child_failed, self.child_failed_lines, self.child_failed_root),
            "last_number": self.last_number,
            "recent": list(self.recent),
            "held": copy.deepcopy(self.held),
            "restarts": self.restarts,
            "approx_time": self.approx_time,
            "continuing": self.continuing,
            "inner": self.inner,
            "after_code": self.after_code,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.tracebacks = {
            k: _Traceback(prefix, first, last, header, list(faults), *rest)
            for k, (prefix, first, last, header, faults, *rest) in snapshot["tracebacks"].items()
        }
        self.child_failed, self.child_failed_lines, self.child_failed_root = snapshot["child_failed"]
        self.last_number = snapshot["last_number"]
        self.recent = list(snapshot["recent"])
        self.held = copy.deepcopy(snapshot["held"])
        self.restarts = snapshot["restarts"]
        self.approx_time = snapshot["approx_time"]
        self.continuing = snapshot["continuing"]
        self.inner = snapshot["inner"]
        self.after_code = snapshot["after_code"]


@dataclasses.dataclass
class _Held:
    """A fault seen once or more, not yet output: counts kept cheaply, the event built at the end."""

    first: Event
    restarts: int = 0  # the scanner's restart count when it was first seen
    count: int = 1
    ranks: set[int] = dataclasses.field(default_factory=set)
    nodes: set[str] = dataclasses.field(default_factory=set)
    last_line: int | None = None
    last_time: str | None = None
    last_step: int | None = None

    def __post_init__(self) -> None:
        self.last_line, self.last_time, self.last_step = self.first.line, self.first.time, self.first.step

    def continues(self, event: Event) -> bool:
        """Whether `event` repeats this fault: training did not go back, the device's fault comes
        from the same process (a new PID is the next attempt), no long quiet gap."""
        if self.last_step is not None and event.step is not None and event.step < self.last_step:
            return False  # a restart came between them: a new episode
        if event.device and (event.details or {}).get("pid") != (self.first.details or {}).get("pid"):
            return False
        if self.last_time is None or event.time is None or event.time == self.last_time:
            return True
        before, now = epoch_of(self.last_time), epoch_of(event.time)
        # a device's fault (and a restart) is folded here only in bursts: whether a restart of the run
        # came between two bursts may show in another file, so folding across them is left to `correlate`
        # (and each restart there is one attempt)
        burst = event.device or event.kind is Kind.RESTART
        return before is None or now is None or now - before <= (_BURST_S if burst else EPISODE_GAP_S)

    def add(self, event: Event) -> None:
        self.count += 1
        if event.rank is not None and len(self.ranks) < MAX_LISTED:
            self.ranks.add(event.rank)
        if event.node and len(self.nodes) < MAX_LISTED:
            self.nodes.add(event.node)
        self.last_line = event.line
        self.last_time = event.time or self.last_time
        self.last_step = event.step if event.step is not None else self.last_step

    def event(self) -> Event:
        if self.count == 1:
            return self.first
        summary = dataclasses.replace(
            self.first,
            count=self.count - 1,
            rank=None if not self.ranks else min(self.ranks),
            node=None if not self.nodes else min(self.nodes),
            ranks=tuple(sorted(self.ranks)) or None,
            nodes=tuple(sorted(self.nodes)) or None,
            line=self.last_line,
            time=self.last_time,
            details=None,
        )
        return repeated(self.first, summary)


def _most_specific(faults: list[Event]) -> Event | None:
    """The fault that best explains a crash: the most severe, the earliest among equals."""
    best: Event | None = None
    for event in faults:
        if best is None or event.severity > best.severity:
            best = event
    return best


def _with_root_cause(event: Event, key: str, value: str) -> Event:
    """The ChildFailedError event with one field of its root-cause entry filled in."""
    details = dict(event.details or {})
    changes: dict[str, Any] = {}
    if key == "host" and value:
        changes["node"] = value
    elif key == "rank":
        number = _NUMBER.match(value)
        if number:
            changes["rank"] = int(number.group())
    elif key == "exitcode":
        number = _NUMBER.match(value)
        if number:
            details["exit_code"] = int(number.group())
        pid = _ELASTIC_PID.search(value)
        if pid:
            details["pid"] = int(pid.group(1))
    elif key == "time":
        details["failed_at"] = value
    elif key == "traceback":
        signal = _SIGNAL.search(value)
        if signal:
            details["signal"] = signal.group("name")
    if details:
        changes["details"] = details
    updated = dataclasses.replace(event, **changes)
    if key == "traceback":
        exit_code = details.get("exit_code")
        signal_name = details.get("signal")
        where = ", ".join(
            part for part in (
                f"rank {updated.rank}" if updated.rank is not None else "",
                f"on {updated.node}" if updated.node else "",
            ) if part
        )
        what = f"signal {signal_name}" if signal_name else f"exit code {exit_code}" if exit_code is not None else ""
        if where or what:
            first = f"{where} with {what}" if where and what else where or what
            updated = dataclasses.replace(updated, message=f"torchrun's workers failed; the first failure was {first}.")
    return updated
