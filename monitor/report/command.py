"""`monitor report PATH... -o FILE`: scan (or read event files), analyse, write HTML, Markdown or JSON by the
suffix."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from monitor.atomic import replacing
from monitor.cli import (
    EXIT_ERROR,
    EXIT_FOUND,
    EXIT_OK,
    _warn,
    load_configuration,
    output_problem,
)
from monitor.cpus import default_jobs
from monitor.model import json_safe
from monitor.pipeline import source_size
from monitor.sinks.progress import NoProgress, is_terminal, progress_bar
from monitor.sources.files import expand_paths

REPORT_ROWS_PER_FILE = 20_000
"""Records kept per file for the report's curves and goodput (thinned while reading, so memory stays
bounded however long the logs; restarts and non-finite losses are always kept)."""

FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".json": "json"}


def render(report: dict, kind: str) -> str:
    if kind == "html":
        from monitor.report.html import render_html

        return render_html(report)
    if kind == "markdown":
        from monitor.report.markdown import render_markdown

        return render_markdown(report)
    return json.dumps(json_safe(report), indent=1, allow_nan=False, default=str) + "\n"


def _write(path: Path, text: str) -> None:
    """Write atomically: a reader never sees half a report."""
    with replacing(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")


def run_report(args: argparse.Namespace, out: TextIO) -> int:
    kind = "markdown" if args.output == "-" else FORMATS.get(Path(args.output).suffix.lower())
    if kind is None:
        _warn(f"cannot tell the report format from {args.output!r}: use .html, .md or .json (or - for Markdown)")
        return EXIT_ERROR
    problem = None if args.output == "-" else output_problem(args.output)
    if problem is not None:  # before the scan, which can take minutes
        _warn(problem)
        return EXIT_ERROR
    configuration = load_configuration(args)
    if configuration is None:
        return EXIT_ERROR
    catalog_files, settings = configuration
    from monitor.api import load
    from monitor.report.analysis import build_report
    from monitor.sinks.parquet import ParquetUnavailable

    try:
        with _progress(args.paths) as progress:
            loaded = load(args.paths, catalog=catalog_files, settings=settings, jobs=args.jobs or default_jobs(),
                          max_rows_per_file=REPORT_ROWS_PER_FILE, on_progress=progress.update)
    except ParquetUnavailable as err:
        _warn(str(err))
        return EXIT_ERROR
    for error in loaded.errors:
        _warn(f"cannot read {error}")
    if not loaded.files and not loaded.event_list:
        return EXIT_ERROR
    text = render(build_report(loaded), kind)
    if args.output == "-":
        out.write(text)
    else:
        try:
            _write(Path(args.output), text)
        except OSError as err:
            _warn(f"cannot write {args.output}: {err.strerror or err}")
            return EXIT_ERROR
        print(f"monitor: report written to {args.output}", file=sys.stderr)
    if loaded.errors:
        return EXIT_ERROR
    if args.fail_on is None:  # the report is the product: written is success, whatever it holds
        return EXIT_OK
    worst = max((e.severity for e in loaded.event_list), default=None)
    return EXIT_FOUND if worst is not None and worst >= args.fail_on else EXIT_OK


def _progress(paths: list[str]) -> NoProgress:
    """A bar on a terminal while a big input is read."""
    if not is_terminal(sys.stderr):
        return NoProgress()  # and the inputs are not walked twice
    sources, _errors = expand_paths(paths)
    return progress_bar(sum(source_size(s) for s in sources), len(sources), sys.stderr)



