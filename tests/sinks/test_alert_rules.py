"""The example alerting rules are valid and their unit tests pass under promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
RULES = ROOT / "deploy" / "prometheus"


def promtool() -> str:
    """The promtool binary; fail (never skip) when it is missing."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian's prometheus package (apt-get install prometheus)")
    return path


def run_promtool(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_rules_are_valid() -> None:
    done = run_promtool("check", "rules", RULES / "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_rule_unit_tests_pass() -> None:
    done = run_promtool("test", "rules", RULES / "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_unit_test() -> None:
    rules = (RULES / "alerts.yml").read_text(encoding="utf-8")
    tests = (RULES / "alerts_test.yml").read_text(encoding="utf-8")
    alerts = {line.split(":", 1)[1].strip() for line in rules.splitlines() if line.strip().startswith("- alert:")}
    tested = {line.split(":", 1)[1].strip() for line in tests.splitlines() if line.strip().startswith("alertname:")}
    assert alerts and alerts == tested


def test_example_scrape_config_is_valid() -> None:
    done = run_promtool("check", "config", RULES / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
