"""Open an HTML report in headless Chromium, save a screenshot next to it, and fail on script errors.

    python scripts/check_report_in_browser.py report.html [--browser PATH] [--timeout-seconds 120]

Writes report.png (a 1280x3000 window) beside the report. Exit status:
0 the page rendered cleanly; 1 Chromium's console showed a JavaScript error
("Uncaught ..."), an error, or a Content-Security-Policy violation (the report
tried to run a script or load something), or the screenshot is missing, empty
or not a PNG of the window's size; 2 no Chromium found, or it did not finish.

Chromium is the Debian package `chromium` (`apt-get install -y chromium`). Its
log lines about D-Bus, GPU and sandbox set-up are noise and ignored; only
console messages are judged.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH, HEIGHT = 1280, 3000
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# "[pid:tid:date:INFO:CONSOLE:12] "message", source: file:///... (12)"; older builds write CONSOLE(12)
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\] \"(?P<message>.*)\", source: ")
FAILURES = ("Uncaught", "Error", "Content Security Policy")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Path(args.report).resolve()
    if not report.is_file():
        print(f"no such report: {report}", file=sys.stderr)
        return 2
    browser = args.browser or next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if not browser:
        print(f"no Chromium found (tried {', '.join(BROWSERS)}); apt-get install -y chromium", file=sys.stderr)
        return 2
    screenshot = report.with_suffix(".png")
    screenshot.unlink(missing_ok=True)
    try:
        log = run_browser(browser, report, screenshot, args.timeout_seconds)
    except subprocess.TimeoutExpired:
        print(f"{browser} did not finish within {args.timeout_seconds} s", file=sys.stderr)
        return 2
    problems = console_problems(log) + screenshot_problems(screenshot)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"ok: {screenshot} ({screenshot.stat().st_size:,} bytes), no console errors")
    return 1 if problems else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Screenshot an HTML report in headless Chromium; fail on errors.")
    parser.add_argument("report", help="the .html report; the screenshot goes next to it as .png")
    parser.add_argument("--browser", help=f"the Chromium binary (default: the first of {', '.join(BROWSERS)} on PATH)")
    parser.add_argument("--timeout-seconds", type=float, default=120.0, help="give up after this long (default 120)")
    return parser.parse_args(argv)


def run_browser(browser: str, report: Path, screenshot: Path, timeout_seconds: float) -> str:
    """Run headless Chromium once with its log on stderr; return that log."""
    with tempfile.TemporaryDirectory(prefix="report-check-") as profile:
        command = [
            browser, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={screenshot}",
            "--enable-logging=stderr", "--v=0", report.as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium refuses to start its sandbox as root (containers)
        done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout_seconds)
    return done.stderr


def console_problems(log: str) -> list[str]:
    """Console messages that mean a script ran and failed, or something was blocked."""
    problems = []
    for line in log.splitlines():
        found = CONSOLE.search(line)
        if found and any(word in found["message"] for word in FAILURES):
            problems.append(f"console: {found['message']}")
    return problems


def screenshot_problems(screenshot: Path) -> list[str]:
    """Why the screenshot is not a usable WIDTH x HEIGHT PNG (empty when it is)."""
    if not screenshot.is_file() or screenshot.stat().st_size == 0:
        return [f"no screenshot written: {screenshot}"]
    head = screenshot.read_bytes()[:24]
    if not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR":
        return [f"not a PNG: {screenshot}"]
    width, height = struct.unpack(">II", head[16:24])
    if (width, height) != (WIDTH, HEIGHT):
        return [f"screenshot is {width}x{height}, expected {WIDTH}x{HEIGHT}"]
    return []


if __name__ == "__main__":
    sys.exit(main())
