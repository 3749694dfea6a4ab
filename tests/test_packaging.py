"""What an installed copy needs: every data file shipped, the type marker, the licence it declares."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def shipped(path: Path) -> bool:
    """Whether setuptools puts `path` (a non-Python file under monitor/) in the wheel: its directory must be
    a package and a `package-data` pattern of that package (or of "*") must match its name."""
    package = ".".join(path.parent.relative_to(ROOT).parts)
    patterns = PROJECT["tool"]["setuptools"]["package-data"]
    wanted = patterns.get(package, []) + patterns.get("*", [])
    return (path.parent / "__init__.py").is_file() and any(fnmatch.fnmatch(path.name, p) for p in wanted)


def test_every_data_file_of_the_package_is_shipped() -> None:
    """An editable install reads them from the checkout; a wheel has only what package-data names."""
    data = [p for p in (ROOT / "monitor").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
            and "__pycache__" not in p.parts]
    assert ROOT / "monitor" / "py.typed" in data
    assert [str(p.relative_to(ROOT)) for p in data if not shipped(p)] == []


def test_the_license_file_is_the_apache_2_0_text_the_metadata_declares() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert PROJECT["project"]["license"] == {"text": "Apache-2.0"}
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"] and "END OF TERMS AND CONDITIONS" in text
    assert "License :: OSI Approved :: Apache Software License" in PROJECT["project"]["classifiers"]


def test_the_python_classifiers_start_at_requires_python() -> None:
    lowest = PROJECT["project"]["requires-python"].removeprefix(">=")
    versions = [c.rsplit(" :: ", 1)[1] for c in PROJECT["project"]["classifiers"]
                if c.startswith("Programming Language :: Python :: 3.")]
    assert versions[0] == lowest and "Typing :: Typed" in PROJECT["project"]["classifiers"]
