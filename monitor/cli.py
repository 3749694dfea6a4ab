"""The `monitor` command: parse arguments, wire the pipeline, choose the exit code.

Exit codes (the design contract): 0 when no event reaches `--fail-on`, 1 when
one does, 2 on a usage error or when an input could not be read (the readable
inputs are still scanned and reported); `monitor report` exits 0 once its
report is written unless `--fail-on` is given. Ctrl-C exits 130 with one line
on stderr. `monitor` alone prints the help and exits 0, as docker and kubectl
do (a request for help, not a mistake). Diagnostics go to stderr; stdout
carries only the requested output.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from monitor import __version__
from monitor.catalog import CatalogError, load
from monitor.correlate import correlate
from monitor.cpus import JOBS_CAP, default_jobs
from monitor.model import Event, Severity, SourceSummary, set_log_zone
from monitor.pipeline import SourceResult, scan, source_size
from monitor.runs import label_runs
from monitor.settings import Settings, SettingsError, load_settings, load_settings_with_sources
from monitor.sinks.progress import progress_bar
from monitor.sources.files import expand_paths
from monitor.usage import EXIT_INTERRUPTED, HelpFormatter, epilog

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
FORMATS = ("table", "jsonl", "json", "parquet")


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 process, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Read training logs and report NaNs, overflows, restarts and other incidents.",
        formatter_class=HelpFormatter, epilog=epilog("monitor"),
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    scan_cmd = commands.add_parser(
        "scan",
        help="read logs to the end and print the events found",
        description="Read log files, directories (recursively), globs, .gz/.zst files or - (stdin) "
        "to the end, and print the events found.",
        formatter_class=HelpFormatter, epilog=epilog("scan"),
    )
    scan_cmd.add_argument("paths", nargs="+", metavar="PATH", help="log file, directory, glob, or - for stdin")
    scan_cmd.add_argument(
        "--format", choices=FORMATS, default="table",
        help="table (for people, the default), jsonl (one event per line), json (one document with "
        "events and a summary per file) or parquet (events and file summaries as Parquet files in the -o "
        "directory, for merging per-node scans in one `monitor report`)",
    )
    scan_cmd.add_argument(
        "-o", "--output", metavar="DIR",
        help="with --format parquet (required there): the directory that receives "
        "events-HOST-PID.parquet and files-HOST-PID.parquet (created if missing); the other formats "
        "print to stdout",
    )
    scan_cmd.add_argument(
        "--jobs", type=_jobs, metavar="N",
        help=f"processes used to scan big files (default: the CPUs this process may use, by its affinity "
        f"mask and cgroup CPU quota, at most {JOBS_CAP}); the output does not depend on it",
    )
    _add_shared(scan_cmd)
    tail_cmd = commands.add_parser(
        "tail",
        help="follow logs live: alerts, Prometheus metrics and a dashboard",
        description="Follow log files, directories and globs like tail -F (new files, rotation, truncation), "
        "raise events as lines arrive, watch for ranks that stop making progress, serve Prometheus "
        "metrics and show a live dashboard (or stream events as JSON lines).",
        formatter_class=HelpFormatter, epilog=epilog("tail"),
    )
    tail_cmd.add_argument("paths", nargs="+", metavar="PATH", help="log file, directory or glob to follow")
    tail_cmd.add_argument(
        "--format", choices=("dashboard", "jsonl"), default=None,
        help="dashboard (the default on a terminal) or jsonl (one event per line as it happens; the default "
        "otherwise)",
    )
    tail_cmd.add_argument("--from-start", action="store_true", help="read what the files already hold first")
    tail_cmd.add_argument(
        "--state", metavar="FILE",
        help="remember read offsets and detector state in FILE (written atomically), so a restarted monitor "
        "neither misses lines nor repeats alerts",
    )
    tail_cmd.add_argument(
        "--hang-after", type=float, metavar="SECONDS",
        help="call a rank hung after this long without progress (default: hang_factor times its usual "
        "interval, at least hang_min_s)",
    )
    tail_cmd.add_argument(
        "--metrics-port", type=int, metavar="PORT",
        help="serve Prometheus metrics (and /healthz) on PORT; the monitor's own port is 19108 (0: any free port)",
    )
    tail_cmd.add_argument(
        "--metrics-addr", default="127.0.0.1", metavar="ADDR",
        help="address the metrics server binds to (default 127.0.0.1)",
    )
    tail_cmd.add_argument("--run", metavar="NAME", help="the run label on metrics (default: the first PATH's name)")
    tail_cmd.add_argument("--webhook", metavar="URL", help="POST each event at or above --webhook-severity to URL")
    tail_cmd.add_argument(
        "--webhook-severity", type=_severity, default=Severity.ERROR, metavar="SEVERITY",
        help="the least severity posted to --webhook (default error)",
    )
    tail_cmd.add_argument(
        "--webhook-style", choices=("alertmanager", "plain"), default="alertmanager",
        help="alertmanager (a list of alerts in Alertmanager's API shape, the default) or plain (the event)",
    )
    tail_cmd.add_argument(
        "--replay", type=float, metavar="SPEED",
        help="instead of following, play the files through at SPEED times their own pace (by their timestamps)",
    )
    tail_cmd.add_argument(
        "--poll", type=float, default=0.25, metavar="SECONDS", help="how often files are checked (default 0.25)",
    )
    tail_cmd.add_argument(
        "--rescan", type=float, default=10.0, metavar="SECONDS",
        help="how often directories and globs are listed again for new files (default 10, as Promtail and "
        "Filebeat; each listing costs metadata requests on a shared file system such as Lustre)",
    )
    _add_shared(tail_cmd)
    report_cmd = commands.add_parser(
        "report",
        help="write a post-mortem report: verdict, causal timeline, health, goodput, persistent issues",
        description="Scan logs and write a post-mortem report: how the run ended and what broke first, the "
        "causal timeline, training-health charts, goodput, persistent issues and a scorecard by domain. "
        "Event files of `monitor scan --format parquet` (a .parquet file, or a directory of events-*.parquet "
        "files, from one node or many) are read instead of scanned.",
        formatter_class=HelpFormatter, epilog=epilog("report"),
    )
    report_cmd.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="log file, directory or glob; or a .parquet event file or a directory of them",
    )
    report_cmd.add_argument(
        "--jobs", type=_jobs, metavar="N",
        help=f"processes used to scan the files (default: the CPUs this process may use, at most {JOBS_CAP}); "
        "the report does not depend on it",
    )
    report_cmd.add_argument(
        "-o", "--output", required=True, metavar="FILE",
        help="the report: .html (self-contained), .md (Markdown) or .json by the suffix; - for Markdown on stdout",
    )
    _add_shared(report_cmd, fail_on=None)
    settings_cmd = commands.add_parser(
        "settings",
        help="print every detector setting, its value and where it came from",
        description="Print every detector setting in force, its value, and its source: the default, "
        "[tool.monitor] in ./pyproject.toml, ./monitor.toml, the --config file or a --set override.",
        formatter_class=HelpFormatter, epilog=epilog("settings"),
    )
    settings_cmd.add_argument(
        "--format", choices=("table", "json"), default="table",
        help="table (for people, the default) or json (an object keyed by setting: value, default, source)",
    )
    _add_settings_options(settings_cmd)
    return parser


def _add_shared(command: argparse.ArgumentParser, fail_on: Severity | None = Severity.ERROR) -> None:
    """The options `scan`, `tail` and `report` share: exit status, catalog and detector settings.
    `fail_on` None makes `--fail-on` opt-in (the report's exit status does not depend on its findings)."""
    command.add_argument(
        "--fail-on", type=_severity, default=fail_on, metavar="SEVERITY",
        help="exit 1 when an event of this severity or worse is found: info, warning, error (default) "
        "or critical" if fail_on is not None else
        "exit 1 when the report holds an event of this severity or worse: info, warning, error or "
        "critical (default: exit 0 once the report is written, whatever it holds)",
    )
    command.add_argument(
        "--catalog", action="append", default=[], metavar="FILE",
        help="a fault-catalog JSON file whose entries are added to the shipped ones or override them "
        "by id (repeatable; format in README)",
    )
    _add_settings_options(command)


def _add_settings_options(command: argparse.ArgumentParser) -> None:
    """`--config` and `--set`: the detector settings."""
    command.add_argument(
        "--config", metavar="FILE",
        help="a TOML file of detector settings (default: ./monitor.toml and [tool.monitor] in ./pyproject.toml)",
    )
    command.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
        help="override one detector setting, e.g. --set spike_z=8 (repeatable; settings listed in README)",
    )


def load_configuration(args: argparse.Namespace) -> tuple[tuple[str, ...], Settings] | None:
    """The catalog files and settings in force, or None (after saying why) when they are invalid."""
    catalog_files = tuple(args.catalog)
    try:
        load(catalog_files)
        settings = load_settings(args.config, args.overrides)
        set_log_zone(settings.zone)  # every output of this command writes offset-less log times in it
    except CatalogError as err:
        _warn(f"invalid catalog: {err}")
        return None
    except SettingsError as err:
        _warn(f"invalid settings: {err}")
        return None
    return catalog_files, settings


def _warn(message: str) -> None:
    """One line on stderr; file names and log text in it are stripped of terminal controls."""
    from monitor.sinks.terminal import printable

    print(f"monitor: {printable(message)}", file=sys.stderr)


def _report_reading(result: SourceResult) -> None:
    summary = result.summary
    if result.error is not None:
        _warn(f"cannot read {result.error.name}: {result.error.reason}")
    if summary.long_lines:
        _warn(f"{summary.file}: {summary.long_lines} over-long line(s) were cut to their first MiB "
              f"(first at line {summary.first_long_line})")
    if summary.warning:
        _warn(f"{summary.file}: {summary.warning}; everything before it was read")
    if summary.replaced_chars:
        _warn(f"{summary.file}: {summary.replaced_chars} byte sequence(s) that are not UTF-8 text "
              "were replaced")


def output_problem(path: str, is_directory: bool = False) -> str | None:
    """Why `path` (a file, or with `is_directory` a directory created if missing) cannot be written, or
    None: checked before a scan, so a bad `-o` fails at once, not after minutes of scanning.

    The check creates and removes a temporary file where the output will go, as the atomic writer
    does: permission bits alone do not tell (root passes them on /proc, where nothing can be created).
    """
    target = Path(path)
    if is_directory:
        if target.exists() and not target.is_dir():
            return f"cannot write to {path}: it is not a directory"
        directory = next((p for p in (target, *target.parents) if p.exists()), Path("."))
        if not directory.is_dir():
            return f"cannot write to {path}: {directory} is not a directory"
    else:
        if target.is_dir():
            return f"cannot write {path}: it is a directory (name the file, e.g. {target / 'report.html'})"
        directory = target.parent
        if not directory.is_dir():
            return f"cannot write {path}: no directory {directory}"
    try:
        handle, probe = tempfile.mkstemp(dir=directory, prefix=".monitor-check-")
    except OSError as err:
        return f"cannot write {path}: no file can be created in {directory} ({err.strerror or err})"
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def _check_output(args: argparse.Namespace) -> bool:
    """`-o DIR` goes with `--format parquet` and only with it; pyarrow must be there for it, and the
    directory must be writable."""
    if args.format == "parquet":
        if not args.output:
            _warn("--format parquet writes files: name their directory with -o DIR")
            return False
        problem = output_problem(args.output, is_directory=True)
        if problem is not None:
            _warn(problem)
            return False
        from monitor.sinks.parquet import INSTALL_HINT, available

        if not available():
            _warn(f"--format parquet needs pyarrow: {INSTALL_HINT}")
            return False
    elif args.output is not None:
        _warn(f"-o/--output is for --format parquet; --format {args.format} prints to stdout")
        return False
    return True


def run_scan(args: argparse.Namespace, out: TextIO) -> int:
    if not _check_output(args):
        return EXIT_ERROR
    configuration = load_configuration(args)
    if configuration is None:
        return EXIT_ERROR
    catalog_files, settings = configuration
    sources, errors = expand_paths(args.paths)
    for error in errors:
        _warn(f"cannot read {error.name}: {error.reason}")
    events: list[Event] = []
    summaries: list[SourceSummary] = []
    counts: collections.Counter[str] = collections.Counter()  # raw events per file, before folding
    unreadable = [f"{e.name}: {e.reason}" for e in errors]
    with progress_bar(sum(source_size(source) for source in sources), len(sources), sys.stderr) as progress:
        results = scan(sources, jobs=args.jobs or default_jobs(), catalog_files=catalog_files, settings=settings,
                       on_progress=progress.update)
        for result in results:
            _report_reading(result)
            if result.error is not None:
                unreadable.append(f"{result.error.name}: {result.error.reason}")
            summaries.append(result.summary)
            events.extend(result.events)
            counts[result.summary.file] += len(result.events)
            notice = result.summary.notice(len(result.events), named=True)
            if notice:
                _warn(notice)
    events = correlate(label_runs(events, summaries))
    if args.format == "parquet":
        from monitor.sinks.parquet import write_scan

        try:
            events_path, _files_path = write_scan(args.output, events, summaries)
        except (OSError, ValueError) as err:  # pyarrow's errors derive from these
            _warn(f"cannot write to {args.output}: {getattr(err, 'strerror', None) or err}")
            return EXIT_ERROR
        _warn(f"{len(events)} event(s) from {len(summaries)} file(s) written to {events_path}")
    elif args.format == "jsonl":
        from monitor.sinks.jsonl import write_jsonl

        write_jsonl(events, out)
    elif args.format == "json":
        from monitor.sinks.json_document import write_json

        write_json(events, summaries, unreadable, out, counts)
    elif args.format == "table":
        from rich.console import Console

        from monitor.sinks.table import scan_table
        from monitor.sinks.theme import THEME

        width = None if out.isatty() else int(os.environ.get("COLUMNS") or 120)
        table = scan_table(events, summaries, counts, args.fail_on)
        Console(file=out, theme=THEME, highlight=False, width=width).print(table)
    if unreadable:
        return EXIT_ERROR
    worst = max((e.severity for e in events), default=None)
    return EXIT_FOUND if worst is not None and worst >= args.fail_on else EXIT_OK


def run_settings(args: argparse.Namespace, out: TextIO) -> int:
    """Print every setting in force with its value and source (`monitor settings`)."""
    try:
        settings, sources = load_settings_with_sources(args.config, args.overrides)
    except SettingsError as err:
        _warn(f"invalid settings: {err}")
        return EXIT_ERROR
    defaults = Settings()
    rows = [(name, getattr(settings, name), getattr(defaults, name), source) for name, source in sources.items()]
    if args.format == "json":
        from monitor.model import json_safe

        document = {name: {"value": value, "default": default, "source": source}
                    for name, value, default, source in rows}
        out.write(json.dumps(json_safe(document), indent=1, allow_nan=False) + "\n")
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("setting", "value", "default", "source", box=None, pad_edge=False)
    for name, value, default, source in rows:
        style = "" if source == "default" else "bold"
        table.add_row(Text(name), Text(str(value), style=style), Text(str(default)), Text(source))
    width = None if out.isatty() else int(os.environ.get("COLUMNS") or 120)
    Console(file=out, highlight=False, width=width).print(table)
    return EXIT_OK


class _Interrupts:
    """Ctrl-C while a command runs: the main process stops with `KeyboardInterrupt` (and remembers it, for a
    command that catches it to shut down cleanly); a worker process forked from it exits at once and
    quietly, so the terminal shows one line from the main process, not a traceback per worker."""

    def __init__(self) -> None:
        self.received = False
        self._pid = os.getpid()
        self._previous: Any = None

    def __enter__(self) -> _Interrupts:
        with contextlib.suppress(ValueError):  # not the main thread: Python delivers signals there only
            self._previous = signal.signal(signal.SIGINT, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def handle(self, signum: int, _frame: Any) -> None:
        if os.getpid() != self._pid:
            os._exit(128 + signum)
        self.received = True
        raise KeyboardInterrupt


def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "tail":
        from monitor.tail import run_tail

        return run_tail(args, out)
    if args.command == "report":
        from monitor.report.command import run_report

        return run_report(args, out)
    if args.command == "settings":
        return run_settings(args, out)
    return run_scan(args, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code in (0, None) else EXIT_ERROR
    out = out or sys.stdout
    if args.command is None:  # `monitor` alone: a request for help
        parser.print_help(out)
        return EXIT_OK
    interrupts = _Interrupts()
    try:
        with interrupts:
            code = _run(args, out)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`monitor scan ... | head`): not an error of ours
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - kept open so the interpreter's final flush succeeds
        return EXIT_OK
    except Exception:
        if not interrupts.received:
            raise
        code = EXIT_INTERRUPTED  # e.g. a worker process stopped by the same Ctrl-C
    if interrupts.received:  # a command that shut down cleanly on Ctrl-C (tail saves its state) still says so
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:
        _warn("interrupted")
    return code
