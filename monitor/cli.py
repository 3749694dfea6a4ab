"""The `monitor` command: parse arguments, wire the pipeline, choose the exit code.

Exit codes (the design contract): 0 when no event reaches `--fail-on`, 1 when
one does, 2 on a usage error or when an input could not be read (the readable
inputs are still scanned and reported). Diagnostics go to stderr; stdout
carries only the requested output.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from monitor import __version__
from monitor.catalog import CatalogError, load
from monitor.correlate import correlate
from monitor.model import Event, Severity, SourceSummary
from monitor.pipeline import SourceResult, scan
from monitor.settings import SettingsError, load_settings
from monitor.sources.files import expand_paths

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
FORMATS = ("table", "jsonl", "json")


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
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    scan_cmd = commands.add_parser(
        "scan",
        help="read logs to the end and print the events found",
        description="Read log files, directories (recursively), globs, .gz/.zst files or - (stdin) "
        "to the end, and print the events found.",
    )
    scan_cmd.add_argument("paths", nargs="+", metavar="PATH", help="log file, directory, glob, or - for stdin")
    scan_cmd.add_argument(
        "--format", choices=FORMATS, default="table",
        help="table (for people, the default), jsonl (one event per line) or json (one document with "
        "events and a summary per file)",
    )
    scan_cmd.add_argument(
        "--fail-on", type=_severity, default=Severity.ERROR, metavar="SEVERITY",
        help="exit 1 when an event of this severity or worse is found: info, warning, error (default) "
        "or critical",
    )
    scan_cmd.add_argument(
        "--jobs", type=_jobs, default=os.cpu_count() or 1, metavar="N",
        help="processes used to scan big files (default: the number of CPUs); the output does not "
        "depend on it",
    )
    scan_cmd.add_argument(
        "--catalog", action="append", default=[], metavar="FILE",
        help="a fault-catalog JSON file whose entries are added to the shipped ones or override them "
        "by id (repeatable; format in README)",
    )
    scan_cmd.add_argument(
        "--config", metavar="FILE",
        help="a TOML file of detector settings (default: ./monitor.toml and [tool.monitor] in ./pyproject.toml)",
    )
    scan_cmd.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
        help="override one detector setting, e.g. --set spike_z=8 (repeatable; settings listed in README)",
    )
    return parser


def _warn(message: str) -> None:
    print(f"monitor: {message}", file=sys.stderr)


def _report_reading(result: SourceResult) -> None:
    summary = result.summary
    if result.error is not None:
        _warn(f"cannot read {result.error.name}: {result.error.reason}")
    if summary.long_lines:
        _warn(f"{summary.file}: {summary.long_lines} over-long line(s) were cut to their first MiB "
              f"(first at line {summary.first_long_line})")
    if summary.replaced_chars:
        _warn(f"{summary.file}: {summary.replaced_chars} byte sequence(s) that are not UTF-8 text "
              "were replaced")


def run_scan(args: argparse.Namespace, out: TextIO) -> int:
    catalog_files = tuple(args.catalog)
    try:
        load(catalog_files)
    except CatalogError as err:
        _warn(f"invalid catalog: {err}")
        return EXIT_ERROR
    try:
        settings = load_settings(args.config, args.overrides)
    except SettingsError as err:
        _warn(f"invalid settings: {err}")
        return EXIT_ERROR
    sources, errors = expand_paths(args.paths)
    for error in errors:
        _warn(f"cannot read {error.name}: {error.reason}")
    events: list[Event] = []
    summaries: list[SourceSummary] = []
    unreadable = [f"{e.name}: {e.reason}" for e in errors]
    for result in scan(sources, jobs=args.jobs, catalog_files=catalog_files, settings=settings):
        _report_reading(result)
        if result.error is not None:
            unreadable.append(f"{result.error.name}: {result.error.reason}")
        summaries.append(result.summary)
        events.extend(result.events)
    events = correlate(events)
    if args.format == "jsonl":
        from monitor.sinks.jsonl import write_jsonl

        write_jsonl(events, out)
    elif args.format == "json":
        from monitor.sinks.json_document import write_json

        write_json(events, summaries, unreadable, out)
    elif args.format == "table":
        from rich.console import Console

        from monitor.sinks.table import scan_table
        from monitor.sinks.theme import THEME

        width = None if out.isatty() else int(os.environ.get("COLUMNS") or 120)
        Console(file=out, theme=THEME, highlight=False, width=width).print(scan_table(events, summaries))
    if unreadable:
        return EXIT_ERROR
    worst = max((e.severity for e in events), default=None)
    return EXIT_FOUND if worst is not None and worst >= args.fail_on else EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code in (0, None) else EXIT_ERROR
    out = out or sys.stdout
    try:
        return run_scan(args, out)
    except KeyboardInterrupt:
        _warn("interrupted")
        return 130
    except BrokenPipeError:
        # the reader went away (`monitor scan ... | head`): not an error of ours
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - kept open so the interpreter's final flush succeeds
        return EXIT_OK
