"""Every style the terminal output uses, by name (rich styles as data).

Renderables refer to these names, never to colours, so a theme can change
them in one place.
"""

from __future__ import annotations

from rich.theme import Theme

from monitor.model import Severity

STYLES = {
    "monitor.severity.info": "dim",
    "monitor.severity.warning": "yellow",
    "monitor.severity.error": "bold red",
    "monitor.severity.critical": "bold white on red",
    "monitor.file": "bold cyan",
    "monitor.where": "cyan",
    "monitor.code": "magenta",
    "monitor.action": "italic dim",
    "monitor.muted": "dim",
    "monitor.title": "bold",
    "monitor.run": "bold blue",
}

THEME = Theme(STYLES)


def severity_style(severity: Severity) -> str:
    """The style name for a severity."""
    return f"monitor.severity.{severity}"
