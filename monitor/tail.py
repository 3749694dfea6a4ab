"""`monitor tail`: wire the follower, the live pipeline and the live sinks together.

Follow mode runs until interrupted (exit 0): every `--poll` seconds it reads
what the followed files gained, raises events, and wakes early for the next
no-progress deadline so a hang is announced on time. Each event is counted
on `/metrics`; the ones worth announcing (a repeat within an episode is
not) go to the dashboard or the JSON-lines stream and to the webhook.
`--state` saves offsets and detector state every few seconds when something
changed, and at exit (SIGTERM stops the loop between two polls, so the saved
state is that of whole batches). With `--state`, an event is announced only
once the state that holds it (the offsets past its line, the announced
findings) is saved: a monitor killed at any point (`kill -9`, the OOM killer)
and started again never announces an event twice, webhook included; one
killed between that save and the announcement loses those announcements
(at most once). A save that fails is told on stderr once per distinct error,
and the events are announced anyway.
Memory stays flat: files deleted or long idle are let go (`LiveScan.forget`).
The monitor's own health goes on `/metrics` too, refreshed every poll: the
follower's counters per file (lines, bytes, rotations, truncations, read
errors, bytes not read yet), the internal errors caught while scanning a
followed batch (told once per file; the lines are skipped and following goes
on) and the webhook's dropped and failed events.

Replay mode (`--replay SPEED`) plays finished files through the same path
and exits like `monitor scan` (1 when an event reaches `--fail-on`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import glob
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from monitor import snapshot
from monitor.catalog import load
from monitor.cli import EXIT_ERROR, EXIT_FOUND, EXIT_OK, _warn, load_configuration
from monitor.correlate import LiveCausality
from monitor.live import LiveScan, Replayer
from monitor.model import Event, Severity, StepRecord
from monitor.pipeline import _file_year
from monitor.sinks.dashboard import Dashboard, DashboardState
from monitor.sinks.jsonl import write_jsonl
from monitor.sources.files import expand_paths

STATE_EVERY_S = 5.0
_LABELS_CACHED = 4096
_STATE_VERSION = 2  # 2: tagged JSON (monitor.snapshot); 1 was a pickle, never read
_UNSAVED: list[str] = []  # the detector state could not be encoded (told once)


def _malloc_trim() -> Callable[[], None]:
    """glibc's `malloc_trim(0)`, or a no-op where there is none (macOS, musl)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0) and None


give_back_memory = _malloc_trim()
"""Return the heap's free pages to the system once files were let go. Reading a file allocates buffers of
up to a megabyte; glibc keeps the freed ones in its heap, so after many short-lived files an agent's
resident memory stays at its high-water mark although Python no longer holds the memory."""


def file_labels(patterns: list[str]) -> Callable[[str], str]:
    """The `file` label of a followed file's absolute path: the path relative to the followed
    directory (a glob's directory before its first wildcard; with several, relative to the
    directory they share), the path as given for a file named on its own, else the path."""
    named: dict[str, str] = {}
    roots: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern) and not os.path.exists(pattern):
            parts = pattern.split(os.sep)
            static = os.sep.join(p for p in parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))])
            roots.append(os.path.abspath(static or ("/" if pattern.startswith(os.sep) else ".")))
        elif os.path.isdir(pattern):
            roots.append(os.path.abspath(pattern))
        else:
            named[os.path.abspath(pattern)] = pattern
    base = os.path.commonpath(roots) if roots else None
    cache: dict[str, str] = {}

    def label(path: str) -> str:
        found = cache.get(path)
        if found is None:
            if path in named:
                found = named[path]
            elif base is not None and path.startswith(base.rstrip(os.sep) + os.sep):
                found = os.path.relpath(path, base)
            else:
                found = path
            if len(cache) >= _LABELS_CACHED:
                cache.clear()  # files come and go: survivors of old ones would pin memory
            cache[path] = found
        return found

    return label


class _Outputs:
    """Where events and records go: metrics, dashboard or JSON lines, webhook."""

    def __init__(self, args: argparse.Namespace, out: TextIO, run: str, wall: Callable[[], float],
                 settings: Any = None) -> None:
        self.out = out
        self.run = run
        self.wall = wall
        self.worst: Severity | None = None
        self.jsonl = (args.format or ("dashboard" if out.isatty() else "jsonl")) == "jsonl"
        self.dashboard = None if self.jsonl else DashboardState()
        self.metrics = None
        self.server: Any = None
        if args.metrics_port is not None:
            from monitor.sinks.metrics_server import serve
            from monitor.sinks.prometheus import LiveMetrics

            self.metrics = LiveMetrics()
            try:  # /healthz fails once the follow loop has not run for 20 polls (at least a minute)
                self.server = serve(self.metrics, args.metrics_addr, args.metrics_port,
                                    stale_after_s=max(60.0, 20 * args.poll))
            except OSError as err:  # the port is taken, the address is not this machine's
                raise OSError(f"cannot serve metrics on {args.metrics_addr}:{args.metrics_port}: "
                              f"{err.strerror or err}") from None
        self.webhook = None
        if args.webhook:
            from monitor.sinks.webhook import Webhook

            timing = {} if settings is None else {"resend_s": settings.webhook_resend_seconds,
                                                  "firing_s": settings.webhook_firing_seconds}
            self.webhook = Webhook(args.webhook, min_severity=args.webhook_severity, style=args.webhook_style,
                                   **timing)
        self.label = file_labels(list(args.paths))
        self.causality = LiveCausality(run)  # cause links across the followed files, as `scan` gives them
        self.parse_errors = 0
        self.broken: set[str] = set()  # files whose internal error was told
        self.pending: list[Event] = []  # to announce once the state that holds them is saved

    def parse_error(self, name: str, err: Exception) -> None:
        """An internal error while scanning a batch of `name`: counted, told once per file."""
        self.parse_errors += 1
        if name not in self.broken:
            self.broken.add(name)
            _warn(f"{name}: internal error while scanning ({type(err).__name__}: {err}); those lines were "
                  "skipped, still following (further errors in this file are only counted)")

    def reading(self, follower: Any, over_rank_caps: int = 0) -> None:
        """The monitor's own counters onto /metrics: the follower's per file, parse errors, records over
        the rank caps, webhook."""
        if self.metrics is None:
            return
        from monitor.sinks.prometheus import FileReading

        offsets, sizes = follower.offsets(), follower.sizes()
        self.metrics.reading(
            (self.label(path), FileReading(
                c.lines, c.bytes_read, c.rotations, c.truncations, c.read_errors,
                max(0, sizes[path] - offsets[path]) if path in offsets else None,
            ))
            for path, c in follower.counters.items()
        )
        self.metrics.parse_errors(self.parse_errors)
        self.metrics.over_rank_caps(over_rank_caps)
        if self.webhook is not None:
            self.metrics.webhook(self.webhook.dropped, self.webhook.failed)

    def record(self, name: str, record: StepRecord, now: float) -> None:
        if self.metrics is not None:
            source = self.label(os.path.abspath(name))  # tells rank-less files apart
            self.metrics.observe(self.run, record, source)
            self.metrics.progress(self.run, record.rank, record.node, self.wall(), source)
        if self.dashboard is not None:
            self.dashboard.record(name, record, now)

    def events(self, live: LiveScan, events: list[Event]) -> None:
        if not events:
            return
        events = self.causality.explain(events, self.wall())
        if self.metrics is not None and self.causality.root is not None:
            self.metrics.root_cause(self.run, self.causality.root)
        for event in events:
            if self.metrics is not None:
                self.metrics.event(self.run, event)
            if self.worst is None or event.severity > self.worst:
                self.worst = event.severity
        self.pending.extend(live.announce(events))
        self.hangs(live)

    def deliver(self) -> None:
        """Announce the pending events: JSON lines, the dashboard, the webhook."""
        announced, self.pending = self.pending, []
        if self.jsonl and announced:
            write_jsonl(announced, self.out)
            self.out.flush()
        for event in announced:
            if self.dashboard is not None:
                self.dashboard.event(event)
            if self.webhook is not None:
                self.webhook.submit(event, self.run)

    def forget(self, name: str) -> None:
        """A file let go of: its rows leave the dashboard."""
        if self.dashboard is not None:
            self.dashboard.forget(name)

    def hangs(self, live: LiveScan) -> None:
        hanging = set(live.hangs.hanging())
        if self.metrics is not None:
            for key in live.hangs.ranks:
                self.metrics.hang(self.run, key[1], key in hanging, self.label(os.path.abspath(key[0])))
        if self.dashboard is not None:
            self.dashboard.hangs(hanging)

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close(5.0)
        if self.server is not None:
            from monitor.sinks.metrics_server import shutdown

            with contextlib.suppress(Exception):
                shutdown(*self.server)


def _usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, found before anything starts (one line for stderr)."""
    if args.replay is None and "-" in args.paths:
        # a pipe has no path to reopen, no offset to resume from and no rotation: tail -F semantics do not
        # apply; replay and scan read it to its end
        return ("tail follows files, not standard input ('-'): name the log files, or read a stream to its "
                "end with `monitor scan -` or `monitor tail --replay SPEED -`")
    if not args.rescan >= 0:
        return f"--rescan SECONDS must be 0 or more, not {args.rescan:g}"
    if args.replay is not None and not args.replay > 0:
        return f"--replay SPEED must be a number above 0, not {args.replay:g}"
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        return f"--metrics-port must be a port number from 0 to 65535, not {args.metrics_port}"
    if args.webhook is not None:
        from monitor.sinks.webhook import url_problem

        return url_problem(args.webhook)
    return None


def run_tail(args: argparse.Namespace, out: TextIO) -> int:
    problem = _usage_error(args)
    if problem is not None:
        _warn(problem)
        return EXIT_ERROR
    configuration = load_configuration(args)
    if configuration is None:
        return EXIT_ERROR
    catalog_files, settings = configuration
    run = args.run or Path(args.paths[0].rstrip("/")).name or "run"
    try:
        if args.replay is not None:
            return _replay(args, out, run, catalog_files, settings)
        return _follow(args, out, run, catalog_files, settings)
    except OSError as err:  # the metrics port is taken, the state file cannot be written, ...
        _warn(f"cannot tail: {err}")
        return EXIT_ERROR


def _live_view(outputs: _Outputs, clock: Callable[[], float]) -> contextlib.AbstractContextManager[Any]:
    if outputs.dashboard is None:
        return contextlib.nullcontext()
    from rich.console import Console
    from rich.live import Live

    from monitor.sinks.theme import THEME

    console = Console(file=outputs.out, theme=THEME)
    return Live(Dashboard(outputs.dashboard, clock), console=console, auto_refresh=False, transient=False)


def _replay(args: argparse.Namespace, out: TextIO, run: str, catalog_files: tuple[str, ...], settings: Any) -> int:
    sources, errors = expand_paths(args.paths)
    for error in errors:
        _warn(f"cannot read {error.name}: {error.reason}")
    if not sources:
        return EXIT_ERROR
    replayer = Replayer(sources, args.replay, _file_year(sources[0].path))
    outputs = _Outputs(args, out, run, replayer.clock, settings)
    live = LiveScan(
        settings, load(catalog_files), args.hang_after, outputs.record, clock=replayer.clock, wall=replayer.clock
    )
    last_refresh = 0.0
    try:
        with _live_view(outputs, replayer.clock) as view:
            for source, batch in replayer.batches(live.hangs.next_deadline):
                outputs.events(live, live.check())  # deadlines that passed before this line was written
                if batch is not None:
                    outputs.events(live, live.feed(source.name, source.path, batch))
                outputs.deliver()
                if view is not None and time.monotonic() - last_refresh > 0.5:
                    view.refresh()
                    last_refresh = time.monotonic()
            outputs.events(live, live.finish())
            outputs.deliver()
            if view is not None:
                view.refresh()
    finally:
        outputs.close()
    if errors:
        return EXIT_ERROR
    return EXIT_FOUND if outputs.worst is not None and outputs.worst >= args.fail_on else EXIT_OK


class _Stop:
    """SIGTERM (systemd, Kubernetes, Slurm) asks the loop to stop after the poll it is in, so the state
    saved is that of whole batches; a second SIGTERM stops at once, like Ctrl-C."""

    def __init__(self) -> None:
        self.asked = False

    def __call__(self, _signum: int, _frame: Any) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True


def _stop_on_sigterm() -> _Stop | None:
    stop = _Stop()
    with contextlib.suppress(ValueError):  # not the main thread (tests)
        signal.signal(signal.SIGTERM, stop)
    return stop


class _Saver:
    """Writes the `--state` file; a save that fails is told on stderr once per distinct error."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.dirty = False  # something changed since the last save
        self._told: set[str] = set()

    def save(self, follower: Any, live: LiveScan) -> bool:
        from monitor.sources.follow import save_state

        try:
            save_state(self.path, follower.snapshot(), _extra(live))
        except (OSError, ValueError, TypeError) as err:
            reason = (err.strerror or str(err)) if isinstance(err, OSError) else str(err)
            message = f"cannot save the state to {self.path}: {reason}"
            if message not in self._told and len(self._told) < 64:
                self._told.add(message)
                _warn(f"{message}; will retry (a restart would read the lines since the last save again)")
            return False
        self.dirty = False
        return True


def _follow(args: argparse.Namespace, out: TextIO, run: str, catalog_files: tuple[str, ...], settings: Any) -> int:
    from monitor.sources.follow import Follower, load_state

    stop = _stop_on_sigterm()

    notices: list[str] = []
    follower_state, extra = load_state(args.state, notices) if args.state else (None, None)
    for notice in notices:
        _warn(notice)
    follower = Follower(
        args.paths, from_start=args.from_start, state=follower_state, rescan_every=args.rescan,
        max_open_files=settings.tail_max_open_files, rotated_quiet_seconds=settings.tail_rotated_quiet_seconds,
    )
    outputs = _Outputs(args, out, run, time.time, settings)
    live = LiveScan(settings, load(catalog_files), args.hang_after, outputs.record, clock=time.monotonic)
    _restore(live, extra)
    saver = _Saver(args.state) if args.state else None
    next_save = time.monotonic() + STATE_EVERY_S
    try:
        with _live_view(outputs, time.monotonic) as view:
            while stop is None or not stop.asked:
                if outputs.metrics is not None:
                    outputs.metrics.iteration()  # the loop's liveness: /healthz and a timestamp gauge
                batches = follower.poll()
                for followed in batches:
                    try:
                        found = live.feed(followed.name, followed.path, followed.batch)
                    except Exception as err:  # a bug of ours on some line must not stop the following
                        outputs.parse_error(followed.name, err)
                        continue
                    outputs.events(live, found)
                gone = follower.gone()
                for name in gone:  # deleted: no event and no hang from it any more
                    live.forget(name)
                live.sweep(set(follower.followed))
                let_go = live.let_go()
                for name in let_go:
                    outputs.forget(name)
                if gone or let_go:
                    give_back_memory()
                outputs.reading(follower, live.records_dropped)
                told = follower.notices()
                for notice in told:
                    _warn(notice)
                outputs.events(live, _still_there(live, live.check()))
                now = time.monotonic()
                if saver is not None:
                    saver.dirty = saver.dirty or bool(batches or gone or told or let_go)
                    if outputs.pending or (saver.dirty and now >= next_save):
                        saver.save(follower, live)  # before announcing: never announced twice
                        next_save = now + STATE_EVERY_S
                outputs.deliver()
                if view is not None:
                    view.refresh()
                if follower.behind:
                    continue  # a backlog: read on without waiting
                deadline = live.hangs.next_deadline()
                wait = args.poll if deadline is None else min(args.poll, max(0.0, deadline - now))
                time.sleep(max(wait, 0.01))
    except KeyboardInterrupt:
        pass
    finally:
        if saver is not None:
            saver.save(follower, live)
        outputs.deliver()
        follower.close()
        outputs.close()
    return EXIT_OK


def _still_there(live: LiveScan, hangs: list[Event]) -> list[Event]:
    """`hangs` less those of files deleted meanwhile (let go instead): a deleted file is never called hung,
    even one the follower has not seen go yet (a file closed while idle is looked at once per rescan)."""
    kept = []
    for event in hangs:
        if event.file is not None and not os.path.exists(event.file):
            live.forget(event.file)
        else:
            kept.append(event)
    return kept


def _extra(live: LiveScan) -> dict[str, Any]:
    """The detectors' state and the announced findings, for `--state`, as data (`monitor.snapshot`)."""
    saved = {"scans": live.snapshot(), "announced": live.dedupe.announced}
    try:
        return {"live": {"version": _STATE_VERSION, "state": snapshot.encode(saved)}}
    except snapshot.SnapshotError as err:  # a detector holding a type the encoding lacks: a bug of ours
        if not _UNSAVED:
            _UNSAVED.append(str(err))
            _warn(f"cannot save the detector state ({err}); saving only the file offsets")
        return {}


def _restore(live: LiveScan, extra: dict[str, Any] | None) -> None:
    """Bring back what `_extra` saved; anything else (an older version, a malformed or foreign
    state) is told once and the detectors start afresh. Decoding runs no code from the file."""
    if not extra or "live" not in extra:
        return
    blob = extra["live"]
    if not isinstance(blob, dict) or blob.get("version") != _STATE_VERSION:
        _warn("ignoring the saved detector state (not this version's); starting afresh")
        return
    try:
        saved = snapshot.decode(blob.get("state"))
        scans, announced = saved["scans"], saved["announced"]
        if not isinstance(scans, dict) or not isinstance(announced, dict):
            raise snapshot.SnapshotError("not a detector state")
        fresh = LiveScan(live.settings, live.catalog)
        for name, state in scans.items():
            problem = snapshot.unlike(fresh.scan_for(name, name).snapshot(), state)
            if problem is not None:
                raise snapshot.SnapshotError(f"{name}: {problem}")
        if not all(isinstance(key, tuple) and isinstance(when, float) for key, when in announced.items()):
            raise snapshot.SnapshotError("announced events are not (key, time) pairs")
        live.restore(scans, {})
        live.dedupe.announced.update(announced)
    except Exception as err:  # a malformed or foreign state: start afresh, say so
        live.scans.clear()
        live.dedupe.announced.clear()
        _warn(f"ignoring the saved detector state ({str(err)[:200] or type(err).__name__}); starting afresh")
