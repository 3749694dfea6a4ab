"""The report document as one self-contained HTML5 page.

Inline CSS only: no script, no external font, stylesheet or image, and a
Content-Security-Policy that forbids them, so the file can be mailed or
attached to a ticket and opened anywhere. Light and dark follow
`prefers-color-scheme`. Every string from the report is HTML-escaped
(`_e`), so log text is shown, never run. Charts are inline SVG (`charts.py`).

It does not page or filter: the timeline is capped at `MAX_TIMELINE_ROWS`
rows (roots and cascades together) with a note saying how many were left out;
the JSON report keeps every event.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from monitor.report.axes import time_text
from monitor.report.charts import CHART_CSS, line_chart
from monitor.report.markdown import (
    BADPUT_NAMES,
    MAX_TIMELINE_ROWS,
    NO_TIMESTAMPS,
    SECTIONS,
    UNCATALOGUED_NOTE,
    cascade_summary,
    duration_text,
    finite,
    names_text,
    number_text,
    percent_text,
    ranks_text,
    recovery_text,
    steps_range_text,
    where_parts,
)

OUTCOME_CLASSES = {
    "completed": "good",
    "completed with findings": "warn",
    "crashed": "bad",
    "hung": "bad",
    "killed by the scheduler": "warn",
    "still running or cut off": "neutral",
    "no training progress": "warn",
}
SEVERITIES = ("info", "warning", "error", "critical")
# key in health.series, chart title, y label (None: the throughput unit), log y
CHARTS = (
    ("loss", "Loss", "loss", False),
    ("grad_norm", "Gradient norm", "grad norm", False),
    ("step_time_s", "Step time", "seconds per step", False),
    ("throughput", "Throughput", None, False),
    ("loss_scale", "Loss scale", "loss scale (log)", True),
)
MAX_CODES = 6  # event codes named in an incident's tooltip

CSS = """
:root { color-scheme: light dark; --bg: #fff; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa;
  --code: #eff1f3; --good: #1a7f37; --bad: #cf222e; --warn: #9a6700; --neutral: #59636e; --purple: #8250df;
  --orange: #bc4c00; --grey: #8c959f; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #30363d; --panel: #151b23; --code: #212830;
    --good: #2ea043; --bad: #f85149; --warn: #d29922; --neutral: #6e7681; --purple: #a371f7; --orange: #db6d28;
    --grey: #6e7681; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
h1 { font-size: 26px; margin: 24px 0 2px; }
h2 { font-size: 20px; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
nav { margin: 8px 0 0; font-size: 14px; } nav a { color: inherit; margin-right: 14px; }
.meta, .note, .none, .muted { color: var(--muted); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
code { background: var(--code); padding: 1px 5px; border-radius: 4px; overflow-wrap: break-word; }
code.evidence { display: block; margin-top: 4px; padding: 3px 6px; white-space: pre-wrap; color: var(--muted); }
pre.evidence { background: var(--code); padding: 8px 12px; border-radius: 6px; white-space: pre-wrap;
  overflow-wrap: anywhere; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line);
  overflow-wrap: break-word; }
table.compact { width: auto; min-width: 50%; }
.nw, table:not(.timeline) code { white-space: nowrap; }
th { font-weight: 600; color: var(--muted); background: var(--panel); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
table.timeline { table-layout: fixed; } table.timeline td { overflow-wrap: anywhere; }
tr.cascades > td { padding: 0 0 6px 24px; }
tr.cascades summary { cursor: pointer; color: var(--muted); padding: 4px 8px; }
table.inner td { border-bottom: 1px dashed var(--line); }
.badge { display: inline-block; padding: 3px 14px; border-radius: 999px; font-weight: 700; color: #fff;
  background: var(--neutral); }
.good { --accent: var(--good); } .bad { --accent: var(--bad); } .warn { --accent: var(--warn); }
.neutral { --accent: var(--neutral); }
.badge.good, .badge.bad, .badge.warn { background: var(--accent); }
.sev { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; font-weight: 700;
  text-transform: uppercase; border: 1px solid transparent; white-space: nowrap; }
.sev-info { color: var(--muted); } .sev-warning { color: var(--warn); border-color: currentColor; }
.sev-error { color: var(--bad); border-color: currentColor; } .sev-critical { background: var(--bad); color: #fff; }
.pill { font-size: 11px; font-weight: 700; color: var(--orange); border: 1px solid currentColor; border-radius: 4px;
  padding: 0 4px; margin-left: 6px; }
.verdict { border: 1px solid var(--line); border-left: 6px solid var(--accent, var(--neutral)); border-radius: 8px;
  padding: 14px 20px; background: var(--panel); }
.summary { font-size: 17px; margin: 10px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 8px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 12px 16px; }
.charts figure { margin: 0; } .charts .wide { grid-column: 1 / -1; }
.big { font-size: 48px; font-weight: 700; line-height: 1.1; } .big.muted { font-size: 28px; }
.bar { display: flex; height: 28px; border-radius: 6px; overflow: hidden; border: 1px solid var(--line);
  margin: 14px 0 8px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px;
  vertical-align: -1px; }
.b-productive { background: var(--good); } .b-startup { background: var(--grey); }
.b-checkpoint_restore { background: var(--purple); } .b-wasted_progress_from_disruption { background: var(--orange); }
.b-stalls_and_hangs { background: var(--bad); } .b-other { background: var(--warn); }
ul.legend { list-style: none; padding: 0; margin: 0 0 12px; display: flex; flex-wrap: wrap; gap: 4px 22px; }
footer { margin-top: 40px; padding-bottom: 24px; font-size: 13px; color: var(--muted); }
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(report: dict[str, Any]) -> str:
    """The whole report as one HTML5 document (no script, no external resource)."""
    title = _e(report.get("title") or "monitor report")
    nav = "".join(f'<a href="#{key}">{heading}</a>' for key, heading in SECTIONS)
    builders = (_verdict, _timeline, _health, _cost, _persistent, _scorecard, _faults, _uncatalogued, _drain, _inputs)
    sections = "".join(
        f'<section id="{key}"><h2>{heading}</h2>{build(report)}</section>'
        for (key, heading), build in zip(SECTIONS, builders)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{title}</title><style>{CSS}{CHART_CSS}</style></head>\n<body><header><h1>{title}</h1>"
        f'<p class="meta">Generated {_e(report.get("generated"))} · monitor {_e(report.get("version"))} · '
        f"{len(report.get('inputs') or [])} input file(s)</p><nav>{nav}</nav></header>\n"
        f"<main>{sections}</main>\n<footer>monitor {_e(report.get('version'))}</footer></body></html>\n"
    )


def _e(value: Any) -> str:
    """Any report value as escaped HTML text ('-' for null)."""
    return "-" if value is None else escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = (), css: str = "") -> str:
    """A table; headers are constant text, cells already-escaped HTML; `numeric` columns align right."""
    def cell(tag: str, i: int, text: str) -> str:
        return f'<{tag} class="num">{text}</{tag}>' if i in numeric else f"<{tag}>{text}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _severity(severity: Any) -> str:
    css = severity if severity in SEVERITIES else "info"
    return f'<span class="sev sev-{css}">{_e(severity)}</span>'


def _code(code: Any) -> str:
    return f"<code>{_e(code)}</code>" if code else "-"


def _codes(codes: Sequence[Any] | None) -> str:
    return " ".join(_code(c) for c in codes or []) or "-"


def _time(value: Any) -> str:
    """An ISO time on two lines (date, then time of day)."""
    return "<br>".join(f'<span class="nw">{_e(part)}</span>' for part in str(value).split("T", 1)) if value else "-"


def _span(first: Any, last: Any) -> str:
    return f"{_time(first)}<br>– {_time(last)}" if last and last != first else _time(first)


def _verdict(report: dict[str, Any]) -> str:
    runs = report.get("runs") or []
    if len(runs) < 2:
        return _one_verdict(report.get("verdict") or {})
    rows = [[_code(r.get("run")), _e(number_text(len(r.get("files") or []))),
             _outcome((r.get("verdict") or {}).get("outcome")),
             _code(((r.get("verdict") or {}).get("root_cause") or {}).get("code"))] for r in runs]
    out = [f"<p>{len(runs)} runs in these logs, each judged on its own.</p>",
           _table(["Run", "Files", "Outcome", "Root cause"], rows, numeric=(1,), css="compact")]
    for run in runs:
        out.append(f"<h3>Run {_code(run.get('run'))}</h3>{_one_verdict(run.get('verdict') or {})}")
    return "".join(out)


def _outcome(outcome: Any) -> str:
    css = OUTCOME_CLASSES.get(outcome or "", "neutral")
    return f'<span class="badge {css}">{_e(outcome or "unknown")}</span>'


def _one_verdict(verdict: dict[str, Any]) -> str:
    outcome = verdict.get("outcome") or "unknown"
    css = OUTCOME_CLASSES.get(outcome, "neutral")
    out = [f'<div class="verdict {css}"><span class="badge {css}">{_e(outcome)}</span>',
           f'<p class="summary">{_e(verdict.get("summary") or "")}</p>', _root_cause(verdict.get("root_cause"))]
    facts = [(label, verdict.get(key)) for label, key in (("What it means", "meaning"), ("What to do", "action"))]
    out.append(_facts([(label, _e(value)) for label, value in facts if value]))
    return "".join(out) + "</div>"


def _root_cause(event: dict[str, Any] | None) -> str:
    if not event:
        return '<p class="muted">No root cause identified.</p>'
    step = event.get("step")
    facts = [("Node", event.get("node")), ("Rank", event.get("rank")), ("Device", event.get("device")),
             ("Time", event.get("time")), ("Step", None if step is None else number_text(step)),
             ("Domain", event.get("domain")),
             ("Where", f"{event['file']}:{event.get('line') or '?'}" if event.get("file") else None)]
    evidence = f'<pre class="evidence">{_e(event["evidence"])}</pre>' if event.get("evidence") else ""
    return (f'<h3>Root cause: {_code(event.get("code") or event.get("kind"))} {_severity(event.get("severity"))} '
            f'<span class="muted">{_e(event.get("kind"))}</span></h3><p>{_e(event.get("message") or "")}</p>'
            + _facts([(label, _e(value)) for label, value in facts if value is not None]) + evidence)


def _facts(items: Sequence[tuple[str, str]]) -> str:
    """A definition list of (constant label, escaped HTML) pairs."""
    if not items:
        return ""
    return '<dl class="facts">' + "".join(f"<dt>{label}</dt><dd>{html}</dd>" for label, html in items) + "</dl>"


def _timeline(report: dict[str, Any]) -> str:
    entries = report.get("timeline") or []
    out = [f'<p class="note">{NO_TIMESTAMPS}</p>'] if report.get("timestamps_missing") else []
    if not entries:
        return "".join(out) + '<p class="none">No events.</p>'
    rows, budget = [], MAX_TIMELINE_ROWS
    for entry in entries:
        if budget <= 0:
            break
        cascades = entry.get("cascades") or []
        shown = cascades[:budget - 1]
        rows.append(_event_row(entry.get("event") or {}))
        if cascades:
            rows.append(_cascade_row(cascades, shown))
        budget -= 1 + len(shown)
    total = sum(1 + len(entry.get("cascades") or []) for entry in entries)
    out.append(_timeline_table(rows, "timeline"))
    if total > MAX_TIMELINE_ROWS - budget:
        out.append(f'<p class="note">Showing {MAX_TIMELINE_ROWS - budget:,} of {total:,} events; '
                   f"{total - MAX_TIMELINE_ROWS + budget:,} left out (the JSON report has them all).</p>")
    return "".join(out)


def _timeline_table(rows: list[str], css: str) -> str:
    cols = "".join(f'<col style="width:{w}">' for w in ("7.5em", "7.2em", "7.5em", "10em", "13em", "auto", "4.5em"))
    head = "" if "inner" in css else (
        "<thead><tr><th>Time</th><th>Severity</th><th>Kind</th><th>Code</th><th>Where</th><th>Message</th>"
        '<th class="num">Count</th></tr></thead>')
    return f'<table class="{css}"><colgroup>{cols}</colgroup>{head}<tbody>{"".join(rows)}</tbody></table>'


def _event_row(event: dict[str, Any]) -> str:
    where = "<br>".join(_e(part) for part in where_parts(event)) or "-"
    return (f'<tr><td>{_time(event.get("time"))}</td><td>{_severity(event.get("severity"))}</td>'
            f'<td>{_e(event.get("kind"))}</td><td>{_code(event.get("code"))}</td><td>{where}</td>'
            f'<td>{_message(event)}</td><td class="num">{_e(number_text(event.get("count") or 1))}</td></tr>')


def _message(event: dict[str, Any]) -> str:
    text = _e(event.get("message") or "")
    if event.get("persistent"):
        text += '<span class="pill">PERSISTENT</span>'
    if event.get("evidence"):
        text += f'<code class="evidence">{_e(event["evidence"])}</code>'
    return text


def _cascade_row(cascades: list[dict[str, Any]], shown: list[dict[str, Any]]) -> str:
    more = len(cascades) - len(shown)
    note = f'<p class="note">… and {more:,} more not shown.</p>' if more else ""
    inner = _timeline_table([_event_row(event) for event in shown], "timeline inner")
    summary = _e(cascade_summary(cascades).lstrip("+"))
    details = f"<details><summary>{summary}</summary>{inner}{note}</details>"
    return f'<tr class="cascades"><td colspan="7">{details}</td></tr>'


def _health(report: dict[str, Any]) -> str:
    health = report.get("health") or {}
    unit = health.get("throughput_unit") or "per second"
    incidents = [i for i in health.get("incidents") or [] if isinstance(i, dict)]
    outages = [o for o in health.get("outages") or [] if isinstance(o, dict)]
    markers = [(m.get("step"), m.get("value"), _marker_text(m), m.get("kind") or "")
               for m in health.get("markers") or []]
    marks = {
        "vlines": [] if incidents else [r.get("step") for r in health.get("restarts") or []],
        "markers": markers,
        "incidents": [(i.get("step"), i.get("class"), _incident_text(i)) for i in incidents],
        "outages": [(o.get("from_step"), o.get("to_step"), _outage_text(o)) for o in outages
                    if finite(o.get("to_step")) is not None and finite(o.get("from_step")) is not None
                    and o["to_step"] > o["from_step"]],
    }
    charts, missing = _charts(health.get("series") or {}, "step", marks, unit, health.get("step_time_source"))
    out = ["<h3>Over training steps</h3>", charts]
    if missing:
        out.append(f'<p class="note">Not in the logs: {", ".join(missing)}.</p>')
    out.append(_time_charts(health, incidents, outages, unit))
    out.append("<h3>Loss spikes</h3>" + _spikes(health.get("spikes") or []))
    return "".join(out)


def _marker_text(marker: dict[str, Any]) -> str:
    text = f"{marker.get('kind') or 'event'} {marker.get('code') or ''} at step {number_text(marker.get('step'))}"
    return text if marker.get("value") is None else f"{text}: {number_text(marker.get('value'))}"


def _incident_text(incident: dict[str, Any]) -> str:
    """'fault: XID-79, CUDA-UNKNOWN-ERROR x2 · step 610 · 2025-03-04 10:01:07 UTC' (plain text: the
    chart escapes it); '≈' where the step or time was read off the progress records."""
    codes = [pair for pair in incident.get("codes") or [] if isinstance(pair, (list, tuple)) and len(pair) == 2]
    named = [f"{code} x{number_text(count)}" if count != 1 else str(code) for code, count in codes[:MAX_CODES]]
    if len(codes) > MAX_CODES:
        named.append(f"{len(codes) - MAX_CODES} more")
    about = "≈" if incident.get("approx") else ""
    where = [f"step {about}{number_text(incident['step'])}" if incident.get("step") is not None else "",
             f"{about}{time_text(finite(incident.get('epoch_s')))}" if finite(incident.get("epoch_s")) else ""]
    return " · ".join([f"{incident.get('class') or 'event'}: {', '.join(named) or '?'}", *filter(None, where)])


def _outage_text(outage: dict[str, Any]) -> str:
    until = "the end of the logs" if outage.get("to_step") is None else f"step {number_text(outage.get('to_step'))}"
    return (f"no progress for {duration_text(outage.get('seconds'))}, from step {number_text(outage.get('from_step'))}"
            f" ({time_text(finite(outage.get('from_s')))}) to {until} ({time_text(finite(outage.get('to_s')))})")


def _charts(series: dict[str, Any], x_label: str, marks: dict[str, Any], unit: str, step_time_source: Any = None,
            x_time: bool = False, x_range: Sequence[Any] = ()) -> tuple[str, list[str]]:
    """The charts that have data (loss with eval loss full width, the rest two by two), and the titles of
    those without. Every chart shows the incidents and outages; the loss chart the spike markers too."""
    figures, missing = [], []
    for key, title, y_label, log_y in CHARTS:
        if not series.get(key):
            missing.append(title.lower())
            continue
        wide = key == "loss"
        lines = {title.lower(): series[key]}
        if wide and series.get("eval_loss"):
            lines["eval loss"] = series["eval_loss"]
        if key == "step_time_s" and step_time_source == "timestamps":
            title = "Step time (from timestamps)"
        chart = line_chart(lines, title=title, x_label=x_label, y_label=y_label or unit, log_y=log_y,
                           vlines=marks["vlines"], markers=marks["markers"] if wide else (),
                           incidents=marks["incidents"], outages=marks["outages"], x_range=x_range, x_time=x_time,
                           width=1100 if wide else 560, height=280 if wide else 230)
        figures.append(f'<figure class="{"wide" if wide else ""}">{chart}</figure>')
    return ('<div class="charts">' + "".join(figures) + "</div>" if figures else ""), missing


def _time_charts(health: dict[str, Any], incidents: list[dict[str, Any]], outages: list[dict[str, Any]],
                 unit: str) -> str:
    """The same charts over wall time (UTC clock times), from the first to the last timestamp of the logs."""
    by_time = health.get("series_by_time") or {}
    xs = [x for pairs in by_time.values() for x in (finite(p[0]) for p in pairs or [] if len(p) == 2) if x is not None]
    if not xs:
        return ""
    clock = [x for x in (finite(v) for v in health.get("clock") or []) if x is not None]
    first, last = min(xs + clock), max(xs + clock)
    marks = {
        "vlines": [] if incidents else [r.get("epoch_s") for r in health.get("restarts") or []],
        "markers": [(m.get("epoch_s"), m.get("value"), _marker_text(m), m.get("kind") or "")
                    for m in health.get("markers") or [] if m.get("epoch_s") is not None],
        "incidents": [(i.get("epoch_s"), i.get("class"), _incident_text(i)) for i in incidents],
        "outages": [(o.get("from_s"), o.get("to_s"), _outage_text(o)) for o in outages],
    }
    days = sorted({time_text(first, seconds=False), time_text(last, seconds=False)})
    label = f"time (UTC), {' – '.join(days)}"
    charts, _ = _charts(by_time, label, marks, unit, health.get("step_time_source"), x_time=True,
                        x_range=(first, last))
    return "<h3>Over wall time</h3>" + charts


def _spikes(spikes: list[dict[str, Any]]) -> str:
    if not spikes:
        return '<p class="none">none</p>'
    rows = [[_e(number_text(s.get(k))) for k in ("step", "magnitude", "peak", "baseline")]
            + [_e(recovery_text(s.get("recovered_after_steps"))), _e(number_text(s.get("rank")))] for s in spikes]
    headers = ["Step", "Magnitude", "Peak", "Baseline", "Recovery", "Rank"]
    return _table(headers, rows, numeric=(0, 1, 2, 3, 5), css="compact")


def _cost(report: dict[str, Any]) -> str:
    goodput = report.get("goodput") or {}
    ettr = finite(goodput.get("ettr"))
    big = '<div class="big muted">unknown</div>' if ettr is None else f'<div class="big">{percent_text(ettr)}</div>'
    out = [big, '<p class="note">ETTR, effective training time ratio: productive time over the wall time '
                "of the logs.</p>", _goodput_bar(goodput)]
    facts = [("Wall time", duration_text(goodput.get("span_s"))),
             ("Productive", duration_text(goodput.get("productive_s"))),
             ("Recomputed steps", number_text(goodput.get("recomputed_steps"))),
             ("Restarts", number_text(goodput.get("restarts"))), ("Failures", number_text(goodput.get("failures"))),
             ("MTBF", duration_text(goodput.get("mtbf_s"))),
             ("Checkpoint cost", duration_text(goodput.get("checkpoint_cost_s")))]
    if finite(goodput.get("suggested_checkpoint_interval_s")) is not None:
        facts.append(("Suggested checkpoint interval (Young/Daly)",
                      duration_text(goodput["suggested_checkpoint_interval_s"])))
    out.append(_facts([(label, _e(value)) for label, value in facts]))
    notes = goodput.get("notes") or []
    if notes:
        out.append('<ul class="note">' + "".join(f"<li>{_e(note)}</li>" for note in notes) + "</ul>")
    return "".join(out)


def _goodput_bar(goodput: dict[str, Any]) -> str:
    """Productive time and each badput bucket as one stacked bar with a legend."""
    parts = [("productive", "productive", finite(goodput.get("productive_s")))]
    parts += [(k if k in BADPUT_NAMES else "other", BADPUT_NAMES.get(k, str(k)), finite(v))
              for k, v in (goodput.get("badput") or {}).items()]
    parts = [(css, name, seconds) for css, name, seconds in parts if seconds and seconds > 0]
    total = sum(seconds for _, _, seconds in parts)
    if finite(goodput.get("productive_s")) is None or total <= 0:
        known = ", ".join(f"{name} {duration_text(seconds)}" for _, name, seconds in parts)
        known = f" Known badput: {_e(known)}." if known else ""
        return f'<p class="note">Wall time unknown: no breakdown.{known}</p>'
    segments, legend = [], []
    for css, name, seconds in parts:
        label = _e(f"{name}: {duration_text(seconds)} ({percent_text(seconds / total)})")
        segments.append(f'<span class="b-{css}" style="width:{seconds / total * 100:.2f}%" title="{label}"></span>')
        legend.append(f'<li><span class="swatch b-{css}"></span>{label}</li>')
    return f'<div class="bar">{"".join(segments)}</div><ul class="legend">{"".join(legend)}</ul>'


def _persistent(report: dict[str, Any]) -> str:
    items = report.get("persistent") or []
    if not items:
        return '<p class="none">none</p>'
    rows = [[_code(p.get("code")), _e(p.get("kind")), _e(p.get("domain")),
             "<br>".join(_e(x) for x in (p.get("node"), p.get("device")) if x) or "-",
             _e(f"{number_text(p.get('count'))} in {number_text(p.get('episodes'))} episodes"),
             _span(p.get("first_time"), p.get("last_time")), _e(duration_text(p.get("time_lost_s"))),
             _e(p.get("trend")), _e(p.get("meaning")), _e(p.get("action"))] for p in items]
    headers = ["Code", "Kind", "Domain", "Where", "Count", "First – last", "Time lost", "Trend", "Meaning", "Action"]
    return _table(headers, rows)


def _scorecard(report: dict[str, Any]) -> str:
    items = report.get("scorecard") or []
    if not items:
        return '<p class="none">none</p>'
    rows = [[_e(s.get("domain")), _e(number_text(s.get("failures"))), _e(duration_text(s.get("mtbf_s"))),
             _e(duration_text(s.get("time_lost_s"))), _codes(s.get("codes"))] for s in items]
    return _table(["Domain", "Failures", "MTBF", "Time lost", "Codes"], rows, numeric=(1, 2, 3), css="compact")


def _faults(report: dict[str, Any]) -> str:
    items = report.get("faults") or []
    if not items:
        return '<p class="none">none</p>'
    rows = [[_code(f.get("code")), _e(f.get("kind")), _severity(f.get("severity")), _e(f.get("domain")),
             _e(number_text(f.get("count"))), _e(ranks_text(f.get("ranks"))), _e(names_text(f.get("nodes"))),
             _span(f.get("first_time"), f.get("last_time")), _e(f.get("meaning")), _e(f.get("action"))]
            for f in items]
    headers = ["Code", "Kind", "Severity", "Domain", "Count", "Ranks", "Nodes", "First – last", "Meaning", "Action"]
    return _table(headers, rows, numeric=(4,))


def _uncatalogued(report: dict[str, Any]) -> str:
    items = report.get("uncatalogued") or []
    if not items:
        return '<p class="none">none</p>'
    rows = [[_code(u.get("template")), _e(", ".join(u.get("kinds") or [])), _severity(u.get("severity")),
             _e(number_text(u.get("count"))), _e(ranks_text(u.get("ranks"))), _e(names_text(u.get("nodes"))),
             _span(u.get("first_time"), u.get("last_time")), _e(u.get("first"))]
            for u in items]
    headers = ["Template", "Kind", "Severity", "Count", "Ranks", "Nodes", "First – last", "First seen"]
    return f"<p>{_e(UNCATALOGUED_NOTE)}</p>" + _table(headers, rows, numeric=(3,))


def _drain(report: dict[str, Any]) -> str:
    items = report.get("drain_candidates") or []
    if not items:
        return '<p class="none">none</p>'
    rows = [[_e(d.get("node")), _e(number_text(d.get("root_faults"))), _codes(d.get("codes"))] for d in items]
    return _table(["Node", "Root faults", "Codes"], rows, numeric=(1,), css="compact")


def _inputs(report: dict[str, Any]) -> str:
    items = report.get("inputs") or []
    if not items:
        return '<p class="none">none</p>'
    rows = [[_code(i.get("file")), _e(i.get("format")), _e(ranks_text(i.get("ranks"))),
             _e(number_text(i.get("steps"))), _e(steps_range_text(i)), _e(number_text(i.get("last_loss"))),
             _e(number_text(i.get("lines"))), _e(number_text(i.get("bytes"))), _e(number_text(i.get("long_lines"))),
             _e(i.get("error"))] for i in items]
    headers = ["File", "Format", "Ranks", "Steps", "Step range", "Last loss", "Lines", "Bytes", "Long lines", "Error"]
    return _table(headers, rows, numeric=(3, 5, 6, 7, 8))
