"""Dependencies point one way: model ← columns, catalog ← {sources, parsers, detectors, sinks} ← pipeline/cli.

The four stages never import one another; only the wiring modules do.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"
STAGES = {"sources", "parsers", "detectors", "sinks"}
# what each part of the package may import from the package
ALLOWED = {
    "model": set(),
    "columns": {"model"},
    "substrings": set(),
    "atomic": set(),
    "catalog": {"model", "substrings", "catalog"},
    "sources": {"atomic", "sources"},
    "parsers": {"model", "columns", "substrings", "catalog", "parsers"},
    "settings": set(),
    "detectors": {"model", "columns", "catalog", "settings", "detectors"},
    "sinks": {"model", "atomic", "sinks"},
}


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("monitor"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("monitor"))
    return found


def test_stages_import_only_the_model_and_themselves() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        owner = part_of(".".join(relative.parts))
        if owner not in ALLOWED:
            continue  # wiring: pipeline, parallel, cli, __main__
        for module in imports(path):
            target = part_of(module)
            if target and target not in ALLOWED[owner]:
                wrong.append(f"{relative} imports {module}")
    assert wrong == []


def test_the_check_sees_every_stage() -> None:
    present = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert present >= STAGES
