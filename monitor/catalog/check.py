"""Check catalog files: `python -m monitor.catalog.check [FILE...]`.

Loads the shipped catalog plus the given files (a shipped file named here is
checked in place), then reports every sample that does not raise its entry
and every near miss that does. Exit status 1 when anything is wrong.
"""

from __future__ import annotations

import sys
from pathlib import Path

from monitor.catalog import CatalogError, load

PACKAGE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    shipped = {p.resolve() for p in PACKAGE.glob("*.json")}
    extra = tuple(str(Path(a)) for a in argv if Path(a).resolve() not in shipped)
    names = {Path(a).name for a in argv} | set(extra)
    try:
        catalog = load(extra)
    except CatalogError as err:
        print(f"invalid catalog: {err}", file=sys.stderr)
        return 1
    problems = [p for p in catalog.problems() if not names or p.split(":", 1)[0] in names]
    for problem in problems:
        print(problem)
    checked = [e for e in catalog.entries if not names or e.file in names]
    matchers = sum(e.is_matcher for e in checked)
    print(f"{len(checked)} entries ({matchers} matchers), {len(problems)} problem(s); "
          f"{len(catalog.triggers)} prefilter substrings for the whole catalog")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
