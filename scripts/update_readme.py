#!/usr/bin/env python3
"""Regenerate the parts of README.md that are made from code, so they cannot drift.

Sections between `<!-- NAME:start -->` and `<!-- NAME:end -->`:
- `formats`: every parser, from the parser registry;
- `codes`: every catalog file and its event codes;
- `scan-help`: the output of `monitor scan --help`;
- `settings`: the detector settings, from monitor/settings.py.

Usage: python scripts/update_readme.py [--check]   (--check: exit 1 if README.md is stale)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CATALOG_DIR = ROOT / "monitor" / "catalog"
sys.path.insert(0, str(ROOT))

from monitor.catalog import load  # noqa: E402
from monitor.cli import main  # noqa: E402
from monitor.parsers import new_bar_parser, new_parsers  # noqa: E402
from monitor.settings import Settings  # noqa: E402


def formats() -> str:
    parsers = [*new_parsers(), *([bar] if (bar := new_bar_parser()) else [])]
    rows = ["| format | reads |", "| --- | --- |"]
    for parser in sorted(parsers, key=lambda p: p.name):
        summary = (type(parser).__doc__ or "").strip().splitlines()[0].rstrip(".").replace("|", "\\|")
        rows.append(f"| `{parser.name}` | {summary} |")
    return "\n".join(rows)


def codes() -> str:
    catalog = load()
    by_file: dict[str, list[str]] = {}
    for entry in catalog.entries:
        if entry.code not in by_file.setdefault(entry.file, []):
            by_file[entry.file].append(entry.code)
    titles = {item.name: json.loads(item.read_text())["title"] for item in CATALOG_DIR.glob("*.json")}
    rows = ["| catalog file | covers | codes |", "| --- | --- | --- |"]
    for file in sorted(by_file):
        found = sorted(by_file[file], key=_natural)
        shown = ", ".join(f"`{c}`" for c in found[:12]) + (f", … ({len(found)} codes)" if len(found) > 12 else "")
        rows.append(f"| `{file}` | {titles[file]} | {shown} |")
    return "\n".join(rows)


def _natural(code: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", code)]


def settings() -> str:
    """The detector settings, their defaults and what they mean (from monitor/settings.py)."""
    import ast

    tree = ast.parse((ROOT / "monitor" / "settings.py").read_text(encoding="utf-8"))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings").body
    rows = ["| setting | default | meaning |", "| --- | --- | --- |"]
    pending: list[str] = []
    for node, after in zip(body, [*body[1:], None]):
        if not isinstance(node, ast.AnnAssign):
            continue
        name = node.target.id  # type: ignore[attr-defined]
        pending.append(name)
        doc = after.value.value if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) else None
        if doc is None:
            continue
        names = ", ".join(f"`{n}`" for n in pending)
        defaults = ", ".join(repr(getattr(Settings(), n)) for n in pending)
        rows.append(f"| {names} | {defaults} | {' '.join(doc.split())} |")
        pending = []
    return "\n".join(rows)


def scan_help() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal width
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        main(["scan", "--help"])
    return "```\n" + text.getvalue().rstrip() + "\n```"


def _scan(*args: str) -> str:
    os.environ["COLUMNS"] = "110"
    out = io.StringIO()
    os.chdir(ROOT)
    main(["scan", *args], out=out)
    return out.getvalue().rstrip()


def example_table() -> str:
    files = ["sample_logs/gpu_fell_off_bus/"]
    return f"```\n$ monitor scan {' '.join(files)}\n{_scan(*files)}\n```"


def example_jsonl() -> str:
    first = _scan("--format", "jsonl", "sample_logs/nanogpt_fp16_nan.log").splitlines()[0]
    return "```\n$ monitor scan --format jsonl sample_logs/nanogpt_fp16_nan.log\n" + first + "\n```"


SECTIONS = {
    "example-table": example_table,
    "example-jsonl": example_jsonl,
    "formats": formats,
    "codes": codes,
    "scan-help": scan_help,
    "settings": settings,
}


def render(readme: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no '{name}' section")
        readme = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), readme)
    return readme


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("README.md is stale: run python scripts/update_readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(run())
