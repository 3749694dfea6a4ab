"""`monitor tail`: wire the follower, the live pipeline and the live sinks together.

Follow mode runs until interrupted (exit 0): every `--poll` seconds it reads
what the followed files gained, raises events, and wakes early for the next
no-progress deadline so a hang is announced on time. Each event is counted
on `/metrics`; the ones worth announcing (a repeat within an episode is
not) go to the dashboard or the JSON-lines stream and to the webhook.
`--state` saves offsets and detector state every few seconds and at exit.
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
import base64
import contextlib
import glob
import os
import pickle
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from monitor.catalog import load
from monitor.cli import EXIT_ERROR, EXIT_FOUND, EXIT_OK, _warn, load_configuration
from monitor.live import LiveScan, Replayer
from monitor.model import Event, Severity, StepRecord
from monitor.pipeline import _file_year
from monitor.sinks.dashboard import Dashboard, DashboardState
from monitor.sinks.jsonl import write_jsonl
from monitor.sources.files import expand_paths

STATE_EVERY_S = 5.0
_STATE_VERSION = 1


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
            if len(cache) < 100_000:
                cache[path] = found
        return found

    return label


class _Outputs:
    """Where events and records go: metrics, dashboard or JSON lines, webhook."""

    def __init__(self, args: argparse.Namespace, out: TextIO, run: str, wall: Callable[[], float]) -> None:
        self.out = out
        self.run = run
        self.wall = wall
        self.worst: Severity | None = None
        self.jsonl = (args.format or ("dashboard" if out.isatty() else "jsonl")) == "jsonl"
        self.dashboard = None if self.jsonl else DashboardState()
        self.metrics = None
        self.server: Any = None
        if args.metrics_port is not None:
            from monitor.sinks.prometheus import LiveMetrics, serve

            self.metrics = LiveMetrics()
            self.server = serve(self.metrics, args.metrics_addr, args.metrics_port)
        self.webhook = None
        if args.webhook:
            from monitor.sinks.webhook import Webhook

            self.webhook = Webhook(args.webhook, min_severity=args.webhook_severity, style=args.webhook_style)
        self.label = file_labels(list(args.paths))
        self.parse_errors = 0
        self.broken: set[str] = set()  # files whose internal error was told

    def parse_error(self, name: str, err: Exception) -> None:
        """An internal error while scanning a batch of `name`: counted, told once per file."""
        self.parse_errors += 1
        if name not in self.broken:
            self.broken.add(name)
            _warn(f"{name}: internal error while scanning ({type(err).__name__}: {err}); those lines were "
                  "skipped, still following (further errors in this file are only counted)")

    def reading(self, follower: Any) -> None:
        """The monitor's own counters onto /metrics: the follower's per file, parse errors, webhook."""
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
        if self.webhook is not None:
            self.metrics.webhook(self.webhook.dropped, self.webhook.failed)

    def record(self, name: str, record: StepRecord, now: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(self.run, record)
            self.metrics.progress(self.run, record.rank, record.node, self.wall())
        if self.dashboard is not None:
            self.dashboard.record(name, record, now)

    def events(self, live: LiveScan, events: list[Event]) -> None:
        if not events:
            return
        for event in events:
            if self.metrics is not None:
                self.metrics.event(self.run, event)
            if self.worst is None or event.severity > self.worst:
                self.worst = event.severity
        announced = live.announce(events)
        if self.jsonl and announced:
            write_jsonl(announced, self.out)
            self.out.flush()
        for event in announced:
            if self.dashboard is not None:
                self.dashboard.event(event)
            if self.webhook is not None:
                self.webhook.submit(event)
        self.hangs(live)

    def hangs(self, live: LiveScan) -> None:
        hanging = set(live.hangs.hanging())
        if self.metrics is not None:
            for key in live.hangs.ranks:
                self.metrics.hang(self.run, key[1], key in hanging)
        if self.dashboard is not None:
            self.dashboard.hangs(hanging)

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close(5.0)
        if self.server is not None:
            from monitor.sinks.prometheus import shutdown

            with contextlib.suppress(Exception):
                shutdown(*self.server)


def run_tail(args: argparse.Namespace, out: TextIO) -> int:
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
    outputs = _Outputs(args, out, run, replayer.clock)
    live = LiveScan(
        settings, load(catalog_files), args.hang_after, outputs.record, clock=replayer.clock, wall=replayer.clock
    )
    last_refresh = 0.0
    try:
        with _live_view(outputs, replayer.clock) as view:
            for source, batch in replayer.batches():
                outputs.events(live, live.check())  # deadlines that passed before this line was written
                outputs.events(live, live.feed(source.name, source.path, batch))
                if view is not None and time.monotonic() - last_refresh > 0.5:
                    view.refresh()
                    last_refresh = time.monotonic()
            outputs.events(live, live.finish())
            if view is not None:
                view.refresh()
    finally:
        outputs.close()
    if errors:
        return EXIT_ERROR
    return EXIT_FOUND if outputs.worst is not None and outputs.worst >= args.fail_on else EXIT_OK


def _stop_on_sigterm() -> None:
    """Make SIGTERM (systemd, Kubernetes, Slurm) stop the loop like Ctrl-C, so the state is saved."""
    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (tests)
        signal.signal(signal.SIGTERM, stop)


def _follow(args: argparse.Namespace, out: TextIO, run: str, catalog_files: tuple[str, ...], settings: Any) -> int:
    from monitor.sources.follow import Follower, load_state, save_state

    _stop_on_sigterm()

    notices: list[str] = []
    follower_state, extra = load_state(args.state, notices) if args.state else (None, None)
    for notice in notices:
        _warn(notice)
    follower = Follower(args.paths, from_start=args.from_start, state=follower_state)
    outputs = _Outputs(args, out, run, time.time)
    live = LiveScan(settings, load(catalog_files), args.hang_after, outputs.record, clock=time.monotonic)
    _restore(live, extra)
    next_save = time.monotonic() + STATE_EVERY_S
    try:
        with _live_view(outputs, time.monotonic) as view:
            while True:
                for followed in follower.poll():
                    try:
                        found = live.feed(followed.name, followed.path, followed.batch)
                    except Exception as err:  # a bug of ours on some line must not stop the following
                        outputs.parse_error(followed.name, err)
                        continue
                    outputs.events(live, found)
                outputs.reading(follower)
                for notice in follower.notices():
                    _warn(notice)
                outputs.events(live, live.check())
                if view is not None:
                    view.refresh()
                now = time.monotonic()
                if args.state and now >= next_save:
                    try:
                        save_state(args.state, follower.snapshot(), _extra(live))
                    except OSError as err:
                        _warn(f"cannot save the state to {args.state}: {err}; will retry")
                    next_save = now + STATE_EVERY_S
                if follower.behind:
                    continue  # a backlog: read on without waiting
                deadline = live.hangs.next_deadline()
                wait = args.poll if deadline is None else min(args.poll, max(0.0, deadline - now))
                time.sleep(max(wait, 0.01))
    except KeyboardInterrupt:
        pass
    finally:
        if args.state:
            with contextlib.suppress(OSError):
                save_state(args.state, follower.snapshot(), _extra(live))
        outputs.close()
    return EXIT_OK


def _extra(live: LiveScan) -> dict[str, Any]:
    """The detectors' state and the announced findings, for `--state` (pickled: our own objects)."""
    blob = pickle.dumps({"version": _STATE_VERSION, "scans": live.snapshot(), "announced": live.dedupe.announced})
    return {"live": base64.b64encode(blob).decode("ascii")}


def _restore(live: LiveScan, extra: dict[str, Any] | None) -> None:
    if not extra or "live" not in extra:
        return
    try:
        saved = pickle.loads(base64.b64decode(extra["live"]))
        if saved.get("version") != _STATE_VERSION:
            return
        live.restore(saved["scans"], {})
        live.dedupe.announced.update(saved["announced"])
    except Exception as err:  # a state file from another version: start afresh, say so
        _warn(f"ignoring the saved detector state ({type(err).__name__}); starting afresh")
