"""`monitor report PATH... -o FILE`: scan (or read event files), analyse, write HTML, Markdown or JSON by the
suffix."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from monitor.atomic import replacing
from monitor.cli import EXIT_ERROR, EXIT_FOUND, EXIT_OK, _warn, load_configuration
from monitor.model import json_safe

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
    configuration = load_configuration(args)
    if configuration is None:
        return EXIT_ERROR
    catalog_files, settings = configuration
    from monitor.api import load
    from monitor.report.analysis import build_report
    from monitor.sinks.parquet import ParquetUnavailable

    try:
        loaded = load(args.paths, catalog=catalog_files, settings=settings, jobs=args.jobs,
                  max_rows_per_file=REPORT_ROWS_PER_FILE)
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
    worst = max((e.severity for e in loaded.event_list), default=None)
    return EXIT_FOUND if worst is not None and worst >= args.fail_on else EXIT_OK



