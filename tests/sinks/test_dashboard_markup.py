"""The live dashboard shows what the logs hold literally: a file name, code or message that looks like
rich markup (`[bold red]`, `[link=...]`) stays text, and no control character or escape sequence in
them reaches the terminal. Rendered on a forced terminal, so rich would act on markup if it saw any."""

from __future__ import annotations

import io

from rich.console import Console

from monitor.model import Event, Kind, Severity
from monitor.sinks.dashboard import Dashboard, DashboardState
from monitor.sinks.theme import THEME
from tests.detectors.records import step


def render(state: DashboardState) -> str:
    out = io.StringIO()
    Console(file=out, width=200, theme=THEME, color_system=None, force_terminal=True).print(
        Dashboard(state, clock=lambda: 100.0)
    )
    return out.getvalue()


def test_markup_and_controls_from_the_logs_are_shown_as_text() -> None:
    state = DashboardState()
    name = "[bold]rank0\x1b]0;pwned\x07.log"
    state.record(name, step(5, loss=2.0, rank=0), now=99.0)
    state.event(Event(kind=Kind.CRASH, severity=Severity.ERROR, message="[link=http://x]click[/link] \x1bc\x9b2J",
                      code="[red]X", file="/logs/[i]r\x1b7.log", line=3))
    text = render(state)
    assert "[bold]rank0.log" in text and "[link=http://x]click[/link]" in text and "[red]X" in text
    assert "[i]r.log:3" in text
    assert not any(c in text for c in ("\x07", "\x9b", "\x1b]", "\x1bc", "\x1b7"))


def test_a_forgotten_file_leaves_the_dashboard() -> None:
    state = DashboardState()
    state.record("gone.log", step(5, loss=2.0, rank=0), now=99.0)
    state.record("kept.log", step(5, loss=2.0, rank=0), now=99.0)
    state.forget("gone.log")
    assert list(state.rows) == [("kept.log", 0)]
