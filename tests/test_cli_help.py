"""The command line explains itself: `monitor` alone prints the help, every `--help` ends with examples
that are real command lines and with the command's exit codes, and README's first command says what its
exit code means."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import build_parser
from monitor.usage import EXAMPLES, EXIT_CODES

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_monitor_alone_prints_the_help_on_stdout_and_exits_0(run_cli) -> None:
    """As `docker` and `kubectl` do: a bare command is a request for help, not a mistake."""
    result = run_cli()
    assert result.code == 0 and result.err == ""
    assert result.out.startswith("usage: monitor") and all(name in result.out for name in COMMANDS)


def test_a_wrong_command_is_still_a_usage_error(run_cli) -> None:
    result = run_cli("scna")
    assert result.code == 2 and "invalid choice" in result.err


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples_and_exit_codes(run_cli, command: str) -> None:
    result = run_cli(command, "--help")
    assert result.code == 0
    examples, codes = result.out.split("\nexamples:\n", 1)[1].split("\nexit codes:\n", 1)
    for line, _what in EXAMPLES[command]:
        assert line in examples
    listed = [row.split()[0] for row in codes.splitlines() if row.startswith("  ") and row.split()[0].isdigit()]
    assert listed == [code for code, _meaning in EXIT_CODES[command]] + ["130"]


@pytest.mark.parametrize(("command", "line"), [(c, line) for c in EXAMPLES for line, _what in EXAMPLES[c]])
def test_every_example_is_a_command_line_the_parser_takes(command: str, line: str) -> None:
    words = shlex.split(line, posix=True)
    start = words.index("monitor") + 1
    end = next((i for i, word in enumerate(words) if i > start and word in (">", ">>", "|", "||")), len(words))
    args = build_parser().parse_args(words[start:end])  # a bad flag exits 2 here
    assert args.command == command if command != "monitor" else args.command in COMMANDS


def test_readme_s_first_command_says_what_its_exit_code_means() -> None:
    """The part after the install, run as written, with this environment's `monitor`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("## Set up", 1)[1].split("```\n", 2)[1].strip()
    run = first.split(" && ")[-1].replace(".venv/bin/", str(Path(sys.executable).parent) + os.sep)
    completed = subprocess.run(["bash", "-c", run], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0 and completed.stdout.splitlines()[-1] == "exit code 1 (1 = problems found)"
