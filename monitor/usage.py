"""What `--help` shows beyond the options: each command's examples and exit codes, and a layout that keeps them
line for line. Data here, so the help and its tests read the same lists."""

from __future__ import annotations

import argparse
import textwrap

EXIT_INTERRUPTED = 130
"""128 + SIGINT, what a shell reports for a command stopped by Ctrl-C."""

EXAMPLES = {
    "monitor": [
        ("monitor scan sample_logs/", "what went wrong in every log under a directory, as a table"),
        ("monitor tail --metrics-port 19108 /shared/run42/logs/", "follow a run live, with Prometheus metrics"),
        ("monitor report slurm-4242.out /var/log/kern.log -o report.html", "a post-mortem report"),
        ("monitor settings", "every detector setting, its value and where it came from"),
    ],
    "scan": [
        ("monitor scan sample_logs/", "a table of the events in every log under the directory"),
        ("monitor scan --format jsonl 'logs/rank*.log' > events.jsonl", "one JSON object per event, for scripts"),
        ("kubectl logs trainer-0 | monitor scan -", "read standard input"),
        ("monitor scan --fail-on critical logs/", "exit 1 only for critical events (default: error and worse)"),
        ("monitor scan --format parquet -o /shared/events /var/log/kern.log logs/",
         "an event file per node (under srun), merged by `monitor report /shared/events -o report.html`"),
    ],
    "tail": [
        ("monitor tail logs/", "a live dashboard of every rank (on a terminal)"),
        ("monitor tail --format jsonl --state /var/lib/monitor/state.json logs/ >> events.jsonl",
         "events as they happen; a restart neither misses lines nor repeats alerts"),
        ("monitor tail --metrics-port 19108 --webhook http://alertmanager:9093/api/v2/alerts logs/",
         "Prometheus metrics and Alertmanager alerts"),
        ("monitor tail --replay 1000 --format jsonl sample_logs/gpu_fell_off_bus/",
         "play a finished log through the live path at 1000 times its pace"),
    ],
    "report": [
        ("monitor report logs/ -o report.html", "one self-contained HTML page: verdict, timeline, charts"),
        ("monitor report slurm-4242.out -o -", "the same as Markdown on stdout, for a ticket"),
        ("monitor report /shared/events -o report.json", "from the event files of `monitor scan --format parquet`"),
        ("monitor report logs/ -o report.md --fail-on critical", "exit 1 when a critical event is in the report"),
    ],
    "settings": [
        ("monitor settings", "a table of every setting, its value and its source"),
        ("monitor settings --set spike_z=8 --format json", "the same as JSON, with an override applied"),
    ],
}
"""The examples each command's --help ends with: (command line, what it does)."""

EXIT_CODES = {
    "monitor": [("0", "the command's own success; `monitor` alone prints this help"), ("2", "usage error")],
    "scan": [
        ("0", "no event at or above --fail-on"),
        ("1", "events at or above --fail-on were found"),
        ("2", "usage error, or an input that could not be read (the others are still scanned)"),
    ],
    "tail": [
        ("0", "stopped by SIGTERM (the state is saved); with --replay, no event at or above --fail-on"),
        ("1", "with --replay: events at or above --fail-on were found"),
        ("2", "usage error, or the inputs, metrics port or state file could not be used"),
    ],
    "report": [
        ("0", "the report was written (whatever it holds, unless --fail-on is given)"),
        ("1", "with --fail-on: the report was written and holds events at or above it"),
        ("2", "usage error, an output that cannot be written (checked before scanning), or an input that "
              "could not be read (the report is still written from the rest)"),
    ],
    "settings": [("0", "the settings were printed"), ("2", "an invalid config file or --set")],
}
"""The exit codes each command's --help lists; every command adds 130 (interrupted)."""


def epilog(command: str) -> str:
    lines = ["examples:"]
    for line, what in EXAMPLES[command]:
        lines += [f"  {line}", f"      {what}"]
    lines += ["", "exit codes:"]
    for code, meaning in [*EXIT_CODES[command], (str(EXIT_INTERRUPTED), "interrupted (Ctrl-C)")]:
        lines += textwrap.wrap(meaning, 78, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
    return "\n".join(lines)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """A text written on several lines (the examples and exit codes) keeps its lines; a one-line text (a
    description) is wrapped to the terminal as argparse wraps it."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)
