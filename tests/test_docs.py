"""README and CI stay true: the two set-up commands, the generated sections, every flag documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from monitor.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```\n(.*?)```", text, re.DOTALL)]


def set_up_commands() -> list[str]:
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return code_blocks(section)


def test_readme_has_exactly_two_set_up_commands_main_job_then_tests() -> None:
    main_job, tests = set_up_commands()
    assert "monitor scan sample_logs/" in main_job and "(1 = problems found)" in main_job
    assert tests.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert set_up_commands()[1] in ci.splitlines()


def test_generated_sections_are_fresh() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "update_readme.py"), "--check"], capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr


def test_every_subcommand_and_flag_is_documented_with_help() -> None:
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in subcommands.items():
        assert f"monitor {name}" in README
        for action in sub._actions:
            for flag in action.option_strings:
                if flag in ("-h", "--help"):
                    continue
                assert flag in README, flag
                assert action.help, flag
