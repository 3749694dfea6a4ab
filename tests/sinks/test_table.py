"""The scan table: every event once, cascades nested at any depth, grouped by run, readable at 80
columns, a footer that says what is shown, and log text that cannot style or link the output."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from monitor.model import Event, Kind, Role, Severity, SourceSummary
from monitor.sinks.table import EventsTable, FilesTable, Totals, causal_order, plain, scan_table
from monitor.sinks.theme import THEME

SAMPLES = Path(__file__).resolve().parents[2] / "sample_logs"
HEAD = re.compile(r"^│ *(?:└\d* )?(CRITICAL|ERROR|WARNING|INFO) ", re.MULTILINE)


def render(renderable: object, width: int) -> str:
    console = Console(record=True, width=width, theme=THEME, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def jsonl_events(run_cli, *paths: Path) -> list[Event]:
    result = run_cli("scan", "--format", "jsonl", *paths)
    return [Event.from_dict(json.loads(line)) for line in result.out.splitlines()]


def event(code: str, line: int, cause: Event | None = None, run: str | None = "job-1", **fields: object) -> Event:
    values: dict = {"kind": Kind.CRASH, "severity": Severity.ERROR, "message": f"{code} happened", "code": code,
                    "file": "logs/train.log", "line": line, "run": run}
    if cause is not None:
        values.update(cause=cause.label(), role=Role.CASCADE)
    values.update(fields)
    return Event(**values)


@pytest.mark.parametrize("sample", ["persistent_ecc", "gpu_fell_off_bus", "."])
@pytest.mark.parametrize("width", [80, 120, 400])
def test_every_jsonl_event_is_a_row_of_the_table(run_cli, sample, width) -> None:
    events = jsonl_events(run_cli, SAMPLES / sample)
    assert events
    text = render(EventsTable(events), width)
    assert len(HEAD.findall(text)) == len(events)  # one row per event, none twice
    for e in events:
        assert e.code and e.code in text
    if width == 400:  # nothing wraps: each message is there whole, as often as events carry it
        for e in events:
            assert text.count(e.message) >= sum(1 for other in events if other.message == e.message)


def test_the_cli_table_shows_every_event_of_persistent_ecc(run_cli, monkeypatch) -> None:
    events = jsonl_events(run_cli, SAMPLES / "persistent_ecc")
    monkeypatch.setenv("COLUMNS", "120")
    out = run_cli("scan", SAMPLES / "persistent_ecc").out
    assert len(HEAD.findall(out)) == len(events) == 12
    for code in ("PYTHON-EXCEPTION", "SRUN-TASK-FAILED"):  # cascades of cascades
        assert out.count(code + " ") >= 2


def test_cascades_nest_at_every_depth_in_causal_order() -> None:
    root = event("XID-79", 1, kind=Kind.DEVICE_FAULT, severity=Severity.CRITICAL)
    child = event("CUDA-UNKNOWN-ERROR", 2, root)
    grandchild = event("PYTHON-EXCEPTION", 3, child)
    great = event("SRUN-TASK-FAILED", 4, grandchild)
    other = event("STEP-RESTART", 5, kind=Kind.RESTART, severity=Severity.WARNING)
    # a cascade may come before its root in time order: it still nests under it
    order = causal_order([grandchild, root, great, other, child])
    assert [(e.code, depth) for e, depth in order] == [
        ("XID-79", 0), ("CUDA-UNKNOWN-ERROR", 1), ("PYTHON-EXCEPTION", 2), ("SRUN-TASK-FAILED", 3), ("STEP-RESTART", 0)
    ]
    for width in (80, 160):
        lines = render(EventsTable([root, child, grandchild, great, other]), width).splitlines()
        indents = [re.match(r"│ ( *)└ ", line) for line in lines]
        assert [len(m.group(1)) for m in indents if m] == [0, 2, 4]


def test_every_event_is_shown_once_when_causes_loop_or_are_missing() -> None:
    a = event("A-CODE", 1, cause=None)
    b = event("B-CODE", 2, a)
    looped = dataclasses.replace(a, cause=b.label())  # a caused b caused a
    orphan = dataclasses.replace(event("C-CODE", 3), cause="GONE-CODE (elsewhere.log:9)")
    order = causal_order([looped, b, orphan])
    assert sorted(e.code for e, _d in order) == ["A-CODE", "B-CODE", "C-CODE"]
    text = render(EventsTable([looped, b, orphan]), 120)
    assert len(HEAD.findall(text)) == 3
    assert "caused by GONE-CODE" in text  # a cause not in the table is named


def test_causes_never_link_across_runs() -> None:
    root = event("XID-79", 1, run="job-1")
    cascade = event("NCCL-WATCHDOG-TIMEOUT", 2, root, run="job-2")  # same label, other run
    assert [depth for _e, depth in causal_order([root, cascade])] == [0, 0]


def test_runs_are_grouped_under_headings_in_order_of_first_event() -> None:
    late = event("XID-48", 1, run="slurm-7001", kind=Kind.DEVICE_FAULT, severity=Severity.CRITICAL,
                 file="b/node12-kern.log")
    early = event("LOSS-NAN", 5, run="slurm-4242", kind=Kind.NAN, file="a/train.log")
    early2 = event("STEP-RESTART", 9, run="slurm-4242", kind=Kind.RESTART, severity=Severity.WARNING,
                   file="a/other.log")
    late2 = event("SRUN-TASK-FAILED", 2, late, run="slurm-7001", file="b/slurm-7001.out")
    text = render(EventsTable([early, late, early2, late2]), 100)
    first = text.index("Run slurm-4242")
    second = text.index("Run slurm-7001")
    assert first < text.index("LOSS-NAN") < text.index("STEP-RESTART") < second < text.index("XID-48")
    assert second < text.index("SRUN-TASK-FAILED")
    assert re.search(r"Run slurm-4242 +2 events from 2 files, worst error", text)
    assert re.search(r"Run slurm-7001 +2 events from 2 files, worst critical", text)


def test_one_run_is_named_in_the_title_without_headings() -> None:
    text = render(EventsTable([event("LOSS-NAN", 1, run="slurm-4242")]), 100)
    assert "Events in run slurm-4242" in text and "Run slurm-4242" not in text


def _message_width(text: str) -> int:
    header = next(line for line in text.splitlines() if "Message" in line and line.startswith("┃"))
    cells = header.strip("┃").split("┃")
    return len(next(cell for cell in cells if "Message" in cell)) - 2


def test_80_columns_keep_the_message_readable_and_the_output_short(run_cli, monkeypatch) -> None:
    events = jsonl_events(run_cli, SAMPLES / "gpu_fell_off_bus")
    text = render(EventsTable(events), 80)
    assert _message_width(text) >= 40
    assert max(len(line) for line in text.splitlines()) <= 80
    assert len(text.splitlines()) <= 8 * len(events)
    assert "Code" not in text.splitlines()[1] and "ranks 0–15 (15)" in text  # where moved under the message
    monkeypatch.setenv("COLUMNS", "80")
    out = run_cli("scan", SAMPLES / "gpu_fell_off_bus").out
    assert len(out.splitlines()) <= 80  # the whole scan (it was 795 lines when Message was 2 wide)
    assert max(len(line) for line in out.splitlines()) <= 80


def test_wide_consoles_get_code_and_where_columns(run_cli) -> None:
    events = jsonl_events(run_cli, SAMPLES / "gpu_fell_off_bus")
    text = render(EventsTable(events), 140)
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    assert [c.strip() for c in header.strip("┃").split("┃")] == ["Event", "Code", "Where", "Message"]
    assert _message_width(text) >= 40


def test_files_table_leaves_columns_out_rather_than_folding_names() -> None:
    names = ["runs/first_attempt_directory/rank_0_of_the_job.log", "runs/second_attempt_dir/rank_1_of_the_job.log"]
    summaries = [SourceSummary(file=name) for name in names]
    narrow = render(FilesTable(summaries), 80)
    assert "Files under runs/" in narrow and "first_attempt_directory/rank_0_of_the_job.log" in narrow
    assert "Ranks and Last step left out" in narrow
    wide = render(FilesTable(summaries), 120)
    assert "Last step" in wide and "left out" not in wide


def test_the_footer_says_what_is_shown() -> None:
    root = event("XID-79", 1, severity=Severity.CRITICAL, run="job-1")
    child = event("CUDA-UNKNOWN-ERROR", 2, root, run="job-1")
    grandchild = event("PYTHON-EXCEPTION", 3, child, run="job-1", count=5, ranks=(0, 1, 2, 3, 4))
    other = event("LOSS-SPIKE", 4, run="job-2", severity=Severity.WARNING)
    text = render(Totals([root, child, grandchild, other], Severity.ERROR), 200)
    assert "4 event(s): 1 critical, 2 error, 1 warning" in text
    assert "Shown: all 4 events of 2 runs: 2 roots, 2 cascades nested up to 2 levels deep" in text
    assert "1 folded event stand for 5 occurrences" in text
    assert "No filter hides events; 3 at or above --fail-on error" in text


HOSTILE = ("[/] [link=https://evil.example]click[/link] [bold red]loud\x1b[31m red\x1b[0m "
           "\x1b]8;;https://e.x\x07osc\x1b]8;;\x07 :smile:")
HOSTILE_SHOWN = "[/] [link=https://evil.example]click[/link] [bold red]loud red osc :smile:"


def test_log_text_is_shown_literally_and_never_styles_or_links() -> None:
    hostile = event(
        "[b]X[/b]", 1, message=HOSTILE, file="[red]logs/[/].log", run="[link=https://r.x]run[/link]",
        action="[/]do " + HOSTILE, node="[i]n7", severity=Severity.CRITICAL,
    )
    orphan = dataclasses.replace(event("LOSS-NAN", 2, run="[/]other"), cause="[/]gone (x:1)")
    summary = SourceSummary(file="[red]logs/[/].log", lines=3)
    for width in (80, 250):  # the narrow and the wide layout
        console = Console(record=True, width=width, theme=THEME, file=io.StringIO(), color_system="truecolor",
                          force_terminal=True)
        console.print(scan_table([hostile, orphan], [summary], {}))  # markup in log text would raise here
        raw = console.file.getvalue()  # type: ignore[attr-defined]
        assert "\x1b]8;" not in raw and "\x07" not in raw and "\x1b[31m red" not in raw  # no links, no log colours
        assert "<a " not in console.export_html(clear=False)
        text = console.export_text()
        assert "\x1b" not in text
        if width == 250:
            for literal in (HOSTILE_SHOWN, "[/]do " + HOSTILE_SHOWN, "[b]X[/b]", "Run [link=https://r.x]run[/link]",
                            "Run [/]other", "node [i]n7", "caused by [/]gone",
                            "no training progress recognised in [red]logs/[/].log"):
                assert literal in text


def test_plain_strips_terminal_sequences_and_keeps_markup() -> None:
    assert plain("\x1b[1;31mred\x1b[0m").plain == "red"
    assert plain("a\x1b]8;;http://x\x07link\x1b]8;;\x1b\\b").plain == "alinkb"
    assert plain("a\x9b31mb\x00c\rd\te\nf").plain == "abc d e f"
    assert plain("[bold]x[/]").plain == "[bold]x[/]" and not plain("[bold]x[/]").spans
