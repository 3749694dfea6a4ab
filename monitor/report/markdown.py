"""The report document as GitHub-flavoured Markdown, for a ticket or a chat; and the
plain-text pieces (section titles, durations, ranks, places) the HTML shares.

Same sections as the HTML in the same order, without charts. Every string from
the report is escaped: in table cells `|` and line breaks cannot end the cell,
and evidence sits in a code span whose fence is longer than any run of
backticks inside it. It does not wrap or reflow long lines.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

SECTIONS = (
    ("verdict", "Verdict"),
    ("timeline", "Causal timeline"),
    ("health", "Training health"),
    ("cost", "Cost accounting"),
    ("persistent", "Persistent technical issues"),
    ("scorecard", "Platform scorecard by domain"),
    ("faults", "Fault table"),
    ("uncatalogued", "New and uncatalogued errors"),
    ("drain", "Drain candidates"),
    ("inputs", "Inputs"),
)
MAX_TIMELINE_ROWS = 500
UNCATALOGUED_NOTE = (
    "Error lines no catalog entry knows, by masked template, in order of first appearance. "
    "One that shows on many ranks or nodes at once, or in every attempt, is the stack's own failure: "
    "report it to its vendor."
)
NO_TIMESTAMPS = "No timestamps: ordered by file and line."
BADPUT_NAMES = {
    "startup": "start-up",
    "checkpoint_restore": "checkpoint restore",
    "wasted_progress_from_disruption": "wasted progress (recomputed after disruptions)",
    "stalls_and_hangs": "stalls and hangs",
    "other": "other",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|])")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


# plain-text pieces, shared with the HTML


def finite(value: Any) -> float | None:
    """A finite float, or None (for null, "nan", inf and anything not a number)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def duration_text(seconds: Any) -> str:
    """Seconds as '42 s', '12m 05s', '3h 02m 05s' or '2d 03h 12m'; '-' when unknown."""
    value = finite(seconds)
    if value is None:
        return "-"
    sign, value = ("-" if value < 0 else ""), abs(value)
    if value < 60:
        return f"{sign}{value:.1f} s" if value < 10 and value != int(value) else f"{sign}{value:.0f} s"
    minutes, secs = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{sign}{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m {secs:02d}s"
    return f"{sign}{minutes}m {secs:02d}s"


def number_text(value: Any) -> str:
    """An int with thousands separators, a float in 4 significant digits, nan/inf as such."""
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def percent_text(ratio: Any) -> str:
    value = finite(ratio)
    return "-" if value is None else f"{value * 100:.1f}%"


def ranks_text(ranks: Iterable[Any] | None, limit: int = 8) -> str:
    """Ranks as runs: '0–7, 12 (9)'; the first `limit` runs, then '…'."""
    values = sorted({r for r in ranks or () if isinstance(r, int) and not isinstance(r, bool)})
    if not values:
        return "-"
    runs: list[list[int]] = []
    for rank in values:
        if runs and rank == runs[-1][1] + 1:
            runs[-1][1] = rank
        else:
            runs.append([rank, rank])
    parts = [str(a) if a == b else f"{a}–{b}" for a, b in runs]
    text = ", ".join(parts[:limit]) + (", …" if len(parts) > limit else "")
    return f"{text} ({len(values)})" if len(values) > 2 else text


def names_text(names: Iterable[Any] | None, limit: int = 4) -> str:
    """'a, b, c, … (16)': the first `limit` names and how many there are."""
    values = [str(n) for n in names or () if n is not None]
    if not values:
        return "-"
    text = ", ".join(values[:limit])
    return f"{text}, … ({len(values)})" if len(values) > limit else text


def where_parts(event: dict[str, Any]) -> list[str]:
    """Where an event was seen: file:line, node(s), rank(s), device, step."""
    parts = []
    if event.get("file"):
        parts.append(f"{event['file']}:{event.get('line') or '?'}")
    nodes = event.get("nodes") or []
    if len(nodes) > 1:
        parts.append(f"nodes {names_text(nodes)}")
    elif event.get("node"):
        parts.append(f"node {event['node']}")
    ranks = event.get("ranks") or []
    if len(ranks) > 1:
        parts.append(f"ranks {ranks_text(ranks)}")
    elif event.get("rank") is not None:
        parts.append(f"rank {event['rank']}")
    if event.get("device") is not None:
        parts.append(f"device {event['device']}")
    if event.get("step") is not None:
        parts.append(f"step {number_text(event['step'])}")
    return parts


def cascade_summary(cascades: Sequence[dict[str, Any]]) -> str:
    """'+3 cascades: NCCL-WATCHDOG-TIMEOUT x2, CRASH x1' (codes by folded count, largest first)."""
    if not cascades:
        return ""
    counts: Counter[str] = Counter()
    for event in cascades:
        counts[str(event.get("code") or event.get("kind") or "?")] += event.get("count") or 1
    codes = ", ".join(f"{code} x{count:,}" for code, count in counts.most_common())
    noun = "cascade" if len(cascades) == 1 else "cascades"
    return f"+{len(cascades)} {noun}: {codes}"


# Markdown


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as GitHub-flavoured Markdown (ends with a newline)."""
    title = md_text(report.get("title") or "monitor report")
    meta = f"Generated {md_text(report.get('generated') or '-')} · monitor {md_text(report.get('version') or '-')}"
    parts = [f"# {title}", meta]
    builders = (_verdict, _timeline, _health, _cost, _persistent, _scorecard, _faults, _uncatalogued, _drain, _inputs)
    for (_, heading), build in zip(SECTIONS, builders):
        parts.append(f"## {heading}")
        parts.extend(build(report))
    return "\n\n".join(part for part in parts if part) + "\n"


def md_text(value: Any) -> str:
    """Text safe in a paragraph or a table cell: markup characters escaped, line breaks as spaces."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(value)))


def md_code(value: Any, in_table: bool = True) -> str:
    """A code span that no backtick inside can close; `|` escaped when in a table cell."""
    text = _LINE_BREAKS.sub(" ", str(value))
    if in_table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GFM table; cells must already be escaped (md_text / md_code)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(cell or "-" for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def _verdict(report: dict[str, Any]) -> list[str]:
    runs = report.get("runs") or []
    if len(runs) < 2:
        return _one_verdict(report.get("verdict") or {})
    rows = [[md_code(r.get("run") or "-"), number_text(len(r.get("files") or [])),
             md_text((r.get("verdict") or {}).get("outcome") or "-"),
             md_code(((r.get("verdict") or {}).get("root_cause") or {}).get("code") or "-")] for r in runs]
    out = [f"{len(runs)} runs in these logs, each judged on its own.",
           md_table(["Run", "Files", "Outcome", "Root cause"], rows)]
    for run in runs:
        out.append(f"### Run {md_code(run.get('run') or '-', False)}")
        out.extend(_one_verdict(run.get("verdict") or {}))
    return out


def _one_verdict(verdict: dict[str, Any]) -> list[str]:
    out = [f"**Outcome: {md_text(verdict.get('outcome') or 'unknown')}.** {md_text(verdict.get('summary') or '')}"]
    root = verdict.get("root_cause")
    if root:
        where = ", ".join(md_text(p) for p in where_parts(root))
        line = (f"**Root cause:** {md_code(root.get('code') or root.get('kind'), False)} "
                f"{md_text(root.get('kind') or '')} ({md_text(root.get('severity') or '-')}) "
                f"at {md_text(root.get('time') or 'an unknown time')}, {where}: {md_text(root.get('message') or '')}")
        out.append(line)
        if root.get("evidence"):
            out.append(f"Evidence: {md_code(root['evidence'], False)}")
    else:
        out.append("No root cause identified.")
    if verdict.get("meaning"):
        out.append(f"**What it means:** {md_text(verdict['meaning'])}")
    if verdict.get("action"):
        out.append(f"**What to do:** {md_text(verdict['action'])}")
    return out


def _timeline(report: dict[str, Any]) -> list[str]:
    entries = report.get("timeline") or []
    out = [f"_{NO_TIMESTAMPS}_"] if report.get("timestamps_missing") else []
    if not entries:
        return [*out, "No events."]
    rows = [_timeline_row(entry) for entry in entries[:MAX_TIMELINE_ROWS]]
    out.append(md_table(["Time", "Severity", "Kind", "Code", "Where", "Message", "Count", "Cascades"], rows))
    if len(entries) > MAX_TIMELINE_ROWS:
        out.append(f"{len(entries) - MAX_TIMELINE_ROWS:,} more root events left out; the JSON report has them all.")
    return out


def _timeline_row(entry: dict[str, Any]) -> list[str]:
    event = entry.get("event") or {}
    message = md_text(event.get("message") or "")
    if event.get("evidence"):
        message += " " + md_code(event["evidence"])
    return [
        md_text(event.get("time") or "-"), md_text(event.get("severity") or "-"), md_text(event.get("kind") or "-"),
        md_code(event["code"]) if event.get("code") else "-", md_text("; ".join(where_parts(event)) or "-"),
        message, number_text(event.get("count") or 1), md_text(cascade_summary(entry.get("cascades") or [])),
    ]


def _health(report: dict[str, Any]) -> list[str]:
    spikes = (report.get("health") or {}).get("spikes") or []
    out = ["_Charts are omitted here; the HTML report has them._"]
    if not spikes:
        return [*out, "Loss spikes: none."]
    rows = [[number_text(s.get("step")), number_text(s.get("magnitude")), number_text(s.get("peak")),
             number_text(s.get("baseline")), md_text(recovery_text(s.get("recovered_after_steps"))),
             number_text(s.get("rank"))] for s in spikes]
    return [*out, md_table(["Step", "Magnitude", "Peak", "Baseline", "Recovery", "Rank"], rows)]


def recovery_text(steps: Any) -> str:
    return "not recovered" if steps is None else f"after {number_text(steps)} steps"


def _cost(report: dict[str, Any]) -> list[str]:
    goodput = report.get("goodput") or {}
    badput = goodput.get("badput") or {}
    lines = [
        f"- ETTR (productive time / wall time): **{percent_text(goodput.get('ettr'))}**; "
        f"productive {duration_text(goodput.get('productive_s'))} of {duration_text(goodput.get('span_s'))}",
        "- Badput: " + (", ".join(f"{md_text(BADPUT_NAMES.get(k, k))} {duration_text(v)}" for k, v in badput.items())
                        or "-"),
        f"- Recomputed steps: {number_text(goodput.get('recomputed_steps'))}; restarts: "
        f"{number_text(goodput.get('restarts'))}; failures: {number_text(goodput.get('failures'))}; "
        f"MTBF: {duration_text(goodput.get('mtbf_s'))}",
        f"- Checkpoint cost: {duration_text(goodput.get('checkpoint_cost_s'))}",
    ]
    if finite(goodput.get("suggested_checkpoint_interval_s")) is not None:
        lines.append("- Suggested checkpoint interval (Young/Daly): "
                     + duration_text(goodput["suggested_checkpoint_interval_s"]))
    notes = [f"- {md_text(note)}" for note in goodput.get("notes") or []]
    return ["\n".join(lines), *(["Notes:\n" + "\n".join(notes)] if notes else [])]


def _persistent(report: dict[str, Any]) -> list[str]:
    items = report.get("persistent") or []
    if not items:
        return ["none"]
    rows = [[md_code(p.get("code") or "-"), md_text(p.get("kind") or "-"), md_text(p.get("domain") or "-"),
             md_text(", ".join(x for x in (p.get("node"), p.get("device")) if x) or "-"),
             f"{number_text(p.get('count'))} in {number_text(p.get('episodes'))} episodes",
             md_text(span_text(p)),
             duration_text(p.get("time_lost_s")), md_text(p.get("trend") or "-"),
             md_text(p.get("meaning") or ""), md_text(p.get("action") or "")] for p in items]
    headers = ["Code", "Kind", "Domain", "Where", "Count", "First – last", "Time lost", "Trend", "Meaning", "Action"]
    return [md_table(headers, rows)]


def _scorecard(report: dict[str, Any]) -> list[str]:
    items = report.get("scorecard") or []
    if not items:
        return ["none"]
    rows = [[md_text(s.get("domain") or "-"), number_text(s.get("failures")), duration_text(s.get("mtbf_s")),
             duration_text(s.get("time_lost_s")), ", ".join(md_code(c) for c in s.get("codes") or []) or "-"]
            for s in items]
    return [md_table(["Domain", "Failures", "MTBF", "Time lost", "Codes"], rows)]


def _faults(report: dict[str, Any]) -> list[str]:
    items = report.get("faults") or []
    if not items:
        return ["none"]
    rows = [[md_code(f.get("code") or "-"), md_text(f.get("kind") or "-"), md_text(f.get("severity") or "-"),
             md_text(f.get("domain") or "-"), number_text(f.get("count")), md_text(ranks_text(f.get("ranks"))),
             md_text(names_text(f.get("nodes"))), md_text(span_text(f)),
             md_text(f.get("meaning") or ""), md_text(f.get("action") or "")] for f in items]
    headers = ["Code", "Kind", "Severity", "Domain", "Count", "Ranks", "Nodes", "First – last", "Meaning", "Action"]
    return [md_table(headers, rows)]


def _uncatalogued(report: dict[str, Any]) -> list[str]:
    items = report.get("uncatalogued") or []
    if not items:
        return ["none"]
    rows = [[md_code(u.get("template") or "-"), md_text(", ".join(u.get("kinds") or []) or "-"),
             md_text(u.get("severity") or "-"), number_text(u.get("count")), md_text(ranks_text(u.get("ranks"))),
             md_text(names_text(u.get("nodes"))), md_text(span_text(u)), md_code(u.get("first") or "-")]
            for u in items]
    headers = ["Template", "Kind", "Severity", "Count", "Ranks", "Nodes", "First – last", "First seen"]
    return [UNCATALOGUED_NOTE, md_table(headers, rows)]


def _drain(report: dict[str, Any]) -> list[str]:
    items = report.get("drain_candidates") or []
    if not items:
        return ["none"]
    rows = [[md_text(d.get("node") or "-"), number_text(d.get("root_faults")),
             ", ".join(md_code(c) for c in d.get("codes") or []) or "-"] for d in items]
    return [md_table(["Node", "Root faults", "Codes"], rows)]


def _inputs(report: dict[str, Any]) -> list[str]:
    items = report.get("inputs") or []
    if not items:
        return ["none"]
    rows = [[md_code(i.get("file") or "-"), md_text(i.get("format") or "-"), md_text(ranks_text(i.get("ranks"))),
             number_text(i.get("steps")), md_text(steps_range_text(i)), number_text(i.get("last_loss")),
             number_text(i.get("lines")), number_text(i.get("bytes")), number_text(i.get("long_lines")),
             md_text(i.get("error") or "-")] for i in items]
    headers = ["File", "Format", "Ranks", "Steps", "Step range", "Last loss", "Lines", "Bytes", "Long lines", "Error"]
    return [md_table(headers, rows)]


def span_text(item: dict[str, Any]) -> str:
    """'first – last' seen, or just the one time when they are the same."""
    first, last = item.get("first_time") or "-", item.get("last_time") or "-"
    return first if first == last else f"{first} – {last}"


def steps_range_text(item: dict[str, Any]) -> str:
    first, last = item.get("first_step"), item.get("last_step")
    return "-" if first is None and last is None else f"{number_text(first)} – {number_text(last)}"
