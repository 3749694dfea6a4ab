"""Issue 15, item 6: a user's catalog pattern cannot stall a scan, and a catalog file has a size limit.

Patterns RE2 takes run there (linear time); a pattern only Python's `re` can run (lookaround,
backreferences) must pass a stricter check. A huge or endless `--catalog` file is refused with a
message, not read into memory."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from monitor.catalog import MAX_CATALOG_BYTES, CatalogError, load

SLOW = [
    (r"boom (?:x|x)*y", "boom " + "x" * 36),
    (r"boom (?:x{1,50}){1,50}y", "boom " + "x" * 200),
    (r"boom .*.*.*.*.*Z", "boom " + "a" * 3000),
]


def user_file(tmp_path: Path, pattern: str) -> Path:
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"entries": [{
        "id": "site-slow", "code": "SITE-X", "kind": "crash", "severity": "error", "domain": None, "role": None,
        "meaning": "A site-specific failure.", "action": "Page the on-call engineer.",
        "reference": "https://wiki.example.org/x", "literals": ["boom"], "patterns": [pattern],
        "samples": [], "near_misses": [],
    }]}))
    return path


@pytest.mark.parametrize(("pattern", "line"), SLOW)
def test_issue_15_a_backtracking_user_pattern_is_bounded(tmp_path: Path, pattern: str, line: str) -> None:
    try:
        catalog = load((str(user_file(tmp_path, pattern)),))
    except CatalogError as err:  # refused is fine too
        assert "backtrack" in str(err)
        return
    start = time.perf_counter()
    catalog.match(line)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(("pattern", "line"), SLOW)
def test_issue_15_without_re2_the_same_patterns_with_lookaround_are_refused(tmp_path: Path, pattern: str,
                                                                           line: str) -> None:
    with pytest.raises(CatalogError, match="backtrack catastrophically"):
        load((str(user_file(tmp_path, "(?<=x)" + pattern)),))


def test_issue_15_a_user_pattern_still_matches_its_samples(tmp_path: Path) -> None:
    catalog = load((str(user_file(tmp_path, r"boom on rank (?P<rank>\d+)")),))
    [hit] = [m for m in catalog.match("boom on rank 7") if m.code == "SITE-X"]
    assert hit.found.groupdict() == {"rank": "7"} and hit.found.start() == 0


@pytest.mark.parametrize("size", ["endless", "huge"])
def test_issue_15_an_endless_or_huge_catalog_file_is_refused(tmp_path: Path, size: str) -> None:
    if size == "endless":
        path = "/dev/zero"
    else:
        path = str(tmp_path / "huge.json")
        with open(path, "wb") as handle:
            handle.truncate(MAX_CATALOG_BYTES + 1)
    with pytest.raises(CatalogError, match="larger than 4 MiB"):
        load((path,))


def test_issue_15_cli_names_the_oversized_catalog(run_cli, tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("step 1\n")
    result = run_cli("scan", "--catalog", "/dev/zero", log)
    assert result.code == 2 and "larger than 4 MiB" in result.err and "Traceback" not in result.err
