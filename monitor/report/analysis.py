"""The post-mortem analysis: from `monitor.load`'s records and events to the report document.

Answers, in order: how did the run end and what broke first (the verdict);
what followed from it (the causal timeline); how training behaved (health
series, spikes); what it cost (goodput); which faults keep coming back
(persistent issues, a scorecard per domain, drain candidates).

Goodput follows ml-goodput-measurement's buckets where the log allows:
- **startup**: from the first timestamp of the logs to the first progress,
  and from the last progress before each restart to the first after it
  (program start-up and checkpoint restore after a disruption; a restore is
  not told apart unless the log times it, so `checkpoint_restore` stays 0);
- **wasted progress from disruption**: steps computed again after resuming
  from an older checkpoint, at the run's usual time per step;
- **stalls and hangs**: the gaps of STALL events beyond the usual interval,
  and the silent end of an unfinished run;
- **other**: what remains of the span.
The effective training time ratio (ETTR) is productive time over the span.
A checkpoint interval is suggested with Young/Daly's sqrt(2 x C x MTBF) when
both a checkpoint cost C and failures are known.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
from typing import Any

import pandas as pd

from monitor import __version__
from monitor.api import PAUSE_COLUMNS, STEP_COLUMNS, TIMER_COLUMNS, Loaded
from monitor.catalog import load as load_catalog
from monitor.model import (
    SCHEMA_VERSION,
    UNCATALOGED,
    Event,
    Kind,
    Role,
    Severity,
    epoch_of,
    last_time,
    rfc3339,
    zoned_times,
)
from monitor.runs import assign_runs

FAULT_KINDS = {Kind.DEVICE_FAULT, Kind.COMM_ERROR, Kind.OOM, Kind.CRASH, Kind.HANG}
FAILURE_KINDS = FAULT_KINDS | {Kind.DIVERGENCE, Kind.NAN}
SCHEDULER_CODES = ("SLURM-TIME-LIMIT", "SLURM-CANCELLED", "SLURM-PREEMPTED", "SLURM-NODE-FAILURE")
MAX_POINTS = 1500
# the health charts: the incident class of each kind drawn as a vertical line, how many at most,
# and when a silence between progress records is an outage (drawn as a gap, never bridged)
INCIDENT_CLASSES = {Kind.DEVICE_FAULT: "fault", Kind.COMM_ERROR: "fault", Kind.CRASH: "fault", Kind.OOM: "fault",
                    Kind.HANG: "hang", Kind.RESTART: "restart", Kind.NAN: "nan", Kind.DIVERGENCE: "nan"}
MAX_INCIDENTS = 500
OUTAGE_FACTOR = 5.0
OUTAGE_MIN_S = 60.0
_LINK_S = 2 * 3600.0


def _epoch(event: Event) -> float | None:
    return epoch_of(event.time)


def _when(event: Event) -> float | None:
    """An event's time, or the approximate time of its line (see monitor.correlate)."""
    return _epoch(event) or epoch_of((event.details or {}).get("approx_time"))


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# -- goodput ----------------------------------------------------------------------------


def _training(steps: pd.DataFrame) -> pd.DataFrame:
    """Training records (not evaluations), in file and line order (none from event files)."""
    if steps.empty:
        return pd.DataFrame(columns=["file", "line", "rank", "node", *STEP_COLUMNS])
    train = steps[steps["loss"].notna() | steps["eval_loss"].isna()]
    return train.sort_values(["file", "line"], kind="stable").reset_index(drop=True)


def _seconds_per_step(train: pd.DataFrame) -> float | None:
    """The run's usual wall time per training step, from consecutive timestamped records."""
    rates: list[float] = []
    for _file, group in train.dropna(subset=["epoch_s", "step"]).groupby("file", sort=False):
        dt_s = group["epoch_s"].diff()
        dstep = group["step"].diff()
        ok = (dstep > 0) & (dt_s > 0)
        rates.extend((dt_s[ok] / dstep[ok]).tolist())
    if rates:
        return statistics.median(rates)
    times = train["step_time_s"].dropna()
    return float(times.median()) if not times.empty else None


def _restarts(train: pd.DataFrame, events: list[Event]) -> list[dict[str, Any]]:
    """Each restart: when progress stopped and resumed, and the steps computed again."""
    found = []
    for event in events:
        if event.code != "STEP-RESTART":
            continue
        rows = train[train["file"] == event.file]
        before = rows[rows["line"] < (event.line or 0)].tail(1)
        after = rows[rows["line"] >= (event.line or 0)].head(1)
        stopped = _finite(before["epoch_s"].iloc[0]) if not before.empty else None
        resumed = _finite(after["epoch_s"].iloc[0]) if not after.empty else None
        resume_step, last_step = event.value, event.baseline
        recomputed = int(last_step - resume_step + 1) if resume_step is not None and last_step is not None else 0
        found.append({
            "step": event.step, "stopped": stopped, "resumed": resumed, "recomputed": max(recomputed, 0),
            "downtime": resumed - stopped if stopped is not None and resumed is not None else None,
            "file": event.file, "line": event.line,
        })
    return found


def _checkpoint_cost(loaded: Loaded, train: pd.DataFrame, per_step: float | None) -> float | None:
    """The usual time a checkpoint save takes: Megatron's save-checkpoint timer, else the extra
    time in the progress gap around an announced save."""
    timers = loaded.timers if not loaded.timers.empty else pd.DataFrame(columns=TIMER_COLUMNS)
    saves = timers[timers["name"].astype(str).str.contains("save-checkpoint|save_checkpoint", regex=True)]
    if not saves.empty:
        return float(saves["ms"].median()) / 1000.0
    costs = []
    pauses = loaded.pauses if not loaded.pauses.empty else pd.DataFrame(columns=PAUSE_COLUMNS)
    for pause in pauses.itertuples():
        rows = train[train["file"] == pause.file]
        before = rows[rows["line"] < pause.line].tail(1)
        after = rows[rows["line"] > pause.line].head(1)
        if before.empty or after.empty:
            continue
        gap = _finite(after["epoch_s"].iloc[0] - before["epoch_s"].iloc[0])
        steps = _finite(after["step"].iloc[0] - before["step"].iloc[0])
        if gap is not None and steps is not None and per_step is not None:
            costs.append(max(0.0, gap - steps * per_step))
    return statistics.median(costs) if costs else None


def goodput(loaded: Loaded, events: list[Event]) -> dict[str, Any]:
    """Where the wall time of the logs went (see the module docstring)."""
    train = _training(loaded.steps)
    notes: list[str] = []
    times = [t for pair in loaded.clock.values() for t in pair]
    times += [t for t in (_epoch(e) for e in events) if t is not None]
    span = max(times) - min(times) if len(times) >= 2 else None
    per_step = _seconds_per_step(train)
    restarts = _restarts(train, events)
    badput = {"startup": 0.0, "checkpoint_restore": 0.0, "wasted_progress_from_disruption": 0.0,
              "stalls_and_hangs": 0.0, "other": 0.0}
    first_progress = _finite(train["epoch_s"].min()) if not train.empty else None
    if times and first_progress is not None:
        badput["startup"] += max(0.0, first_progress - min(times))
    for restart in restarts:
        badput["startup"] += restart["downtime"] or 0.0
        if per_step is not None:
            badput["wasted_progress_from_disruption"] += restart["recomputed"] * per_step
    for event in events:
        if event.code == "STALL" and event.value is not None:
            badput["stalls_and_hangs"] += max(0.0, event.value - (event.baseline or 0.0))
        elif event.code == "UNFINISHED-RUN" and event.value is not None:
            badput["stalls_and_hangs"] += event.value
    failures = [e for e in events if _is_failure(e)]
    productive = ettr = None
    if span is None:
        notes.append("The logs carry no timestamps: wall time, goodput and MTBF are unknown.")
    else:
        lost = sum(badput.values())
        if lost > span:
            notes.append("Some lost time overlaps (a restart inside a stall); the buckets are capped at the span.")
            lost = span
        productive = span - lost
        ettr = productive / span if span > 0 else None
    mtbf = span / len(failures) if span and failures else None
    cost = _checkpoint_cost(loaded, train, per_step)
    interval = math.sqrt(2 * cost * mtbf) if cost is not None and mtbf is not None else None
    if interval is None:
        notes.append("No checkpoint interval suggested: it needs both the cost of a checkpoint save and failures.")
    if restarts and per_step is None:
        notes.append("Recomputed steps are counted, but their time is unknown (no timestamps or step times).")
    return {
        "span_s": span, "productive_s": productive, "ettr": ettr, "badput": badput,
        "recomputed_steps": sum(r["recomputed"] for r in restarts), "restarts": len(restarts),
        "failures": len(failures), "mtbf_s": mtbf, "checkpoint_cost_s": cost,
        "suggested_checkpoint_interval_s": interval, "seconds_per_step": per_step, "notes": notes,
        "restart_list": restarts,
    }


def _is_failure(event: Event) -> bool:
    return event.kind in FAILURE_KINDS and event.role is Role.ROOT and event.severity >= Severity.ERROR


def _downtime_after(event: Event, restarts: list[dict[str, Any]]) -> float | None:
    """The downtime of the first restart after `event` (the time the fault cost), if any."""
    when = _epoch(event)
    for restart in restarts:
        if restart["downtime"] is None:
            continue
        if when is not None and restart["stopped"] is not None:
            if 0 <= restart["resumed"] - when <= _LINK_S + restart["downtime"]:
                return restart["downtime"]
        elif restart["file"] == event.file and (restart["line"] or 0) > (event.line or 0):
            return restart["downtime"]
    return None


# -- findings ---------------------------------------------------------------------------


def verdict(loaded: Loaded, events: list[Event]) -> dict[str, Any]:
    """How the run ended, what broke first, what it means and what to do."""
    train = _training(loaded.steps)
    restarts = [e for e in events if e.kind is Kind.RESTART]
    last_restart = max((i for i, e in enumerate(events) if e.kind is Kind.RESTART), default=-1)
    final = events[last_restart + 1:]  # the last attempt's (events are in time order)
    codes = {e.code for e in final}
    serious = [e for e in events if e.severity >= Severity.ERROR]
    ending = [e for e in final if e.severity >= Severity.ERROR]
    failures = [e for e in events if _is_failure(e)]
    root = failures[0] if failures else (serious[0] if serious else None)
    totals = train["total_steps"].dropna()
    last_step = _finite(train["step"].max()) if not train.empty else None
    progressed = not train.empty
    if not progressed:  # event files carry no progress records; their file summaries tell how far it got
        progressed = any(f.steps for f in loaded.files)
        last_step = max((f.last_step for f in loaded.files if f.last_step is not None), default=None)
    completed = not totals.empty and last_step is not None and last_step >= float(totals.max())
    completed = completed or _said_it_finished(loaded)
    if codes & set(SCHEDULER_CODES):
        outcome = "killed by the scheduler"
    elif any(e.kind is Kind.CRASH for e in ending) and not (completed and _died_before_the_end(loaded, ending)):
        outcome = "crashed"
    elif codes & {"UNFINISHED-RUN", "NO-PROGRESS"} or any(e.kind is Kind.HANG and e.code != "STALL" for e in ending):
        outcome = "hung"
    elif not progressed:
        outcome = "no training progress"
    elif completed:
        outcome = "completed"
    else:
        outcome = "still running or cut off" if ending or not totals.empty else "completed"
    if outcome == "completed" and (serious or any(e.persistent for e in events) or any(
            e.kind is Kind.SLOWDOWN and e.severity >= Severity.WARNING for e in events)):
        outcome = "completed with findings"
    if root is None:
        last = f" (last step {int(last_step):,})" if last_step is not None else ""
        findings = "no findings" if not events else "no findings that need action"
        summary = f"{_OUTCOME_SENTENCE[outcome][:-1]}{last}, with {findings}."
        return {"outcome": outcome, "summary": summary, "root_cause": None, "meaning": None, "action": None}
    definition = load_catalog().by_code.get(root.code or "")
    where = ", ".join(part for part in (
        f"node {root.node}" if root.node else "", f"rank {root.rank}" if root.rank is not None else "",
        f"device {root.device}" if root.device else "", f"step {root.step:,}" if root.step is not None else "",
    ) if part)
    cascades = _consequences(root, events)
    if root.rank is None:  # a kernel log knows the node, not the rank: a cascade on that node may tell
        ranked = [c for c in cascades if c.rank is not None and (c.node == root.node or root.node is None)]
        if ranked:
            where_rank = f"rank {ranked[0].rank} (per {ranked[0].code})"
            where = ", ".join(part for part in (f"node {root.node}" if root.node else "", where_rank,
                                                  f"device {root.device}" if root.device else "") if part)
    followed = f" It was followed by {len(cascades)} consequence(s): " + ", ".join(
        sorted({c.code or str(c.kind) for c in cascades})) + "." if cascades else ""
    intro = "The root cause is" if not outcome.startswith("completed") else (
        f"It recovered from {len(restarts)} restart(s); the first failure was" if restarts else "It reported")
    summary = (
        f"{_OUTCOME_SENTENCE[outcome]} {intro} {root.code} ({root.kind}"
        f"{', ' + where if where else ''}) at {rfc3339(root.time) or f'{root.file}:{root.line}'}: "
        f"{root.message.rstrip('.')}."
        f"{followed}"
    )
    return {
        "outcome": outcome, "summary": summary, "root_cause": root.to_dict(),
        "meaning": definition.meaning if definition else None, "action": root.action,
    }


_OUTCOME_SENTENCE = {
    "completed": "The run completed.",
    "completed with findings": "The run completed, with findings.",
    "crashed": "The run crashed.",
    "hung": "The run hung.",
    "killed by the scheduler": "The run was killed by the scheduler.",
    "still running or cut off": "The run was still running when the logs end (or they were cut off).",
    "no training progress": "The run made no training progress.",
}


def _said_it_finished(loaded: Loaded) -> bool:
    """Whether a log printed its framework's end of training (HF's `train_runtime` summary,
    Megatron's `after training is done`, Lightning's `max_epochs` reached, ...)."""
    pauses = loaded.pauses
    return not pauses.empty and "end" in pauses and bool(pauses["end"].fillna(False).astype(bool).any())


def _died_before_the_end(loaded: Loaded, ending: list[Event]) -> bool:
    """Whether every crash of the last attempt comes before the run said it finished (in its file)."""
    pauses = loaded.pauses
    if pauses.empty or "end" not in pauses:
        return True  # the planned total was reached: progress went on after the crashes
    ends = pauses[pauses["end"].fillna(False).astype(bool)]
    last_end = {file: int(line) for file, line in zip(ends["file"], ends["line"])}
    return all(
        e.file not in last_end or (e.line or 0) < last_end[e.file] for e in ending if e.kind is Kind.CRASH
    )


def _consequences(root: Event, events: list[Event]) -> list[Event]:
    """Every event whose chain of causes leads back to `root`."""
    labels = {root.label()}
    found: list[Event] = []
    for event in events:  # causes come before their consequences
        if event.cause in labels:
            found.append(event)
            labels.add(event.label())
    return found


def timeline(events: list[Event]) -> list[dict[str, Any]]:
    """Roots in time order, each with every event whose chain of causes leads back to it."""
    shown = [e for e in events if e.severity > Severity.INFO]
    labels = {e.label() for e in shown}
    rows: list[dict[str, Any]] = []
    for event in shown:
        if event.cause and event.cause in labels:
            continue  # folded under its root below
        rows.append({"event": event.to_dict(), "cascades": [c.to_dict() for c in _consequences(event, shown)]})
    return rows


def persistent(events: list[Event], restarts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Faults that keep coming back, ranked by the time they cost."""
    groups: dict[tuple[Any, ...], list[Event]] = {}
    for event in events:
        if event.persistent and event.role is not Role.CASCADE:
            groups.setdefault((event.code, event.node, event.device), []).append(event)
    catalog = load_catalog().by_code
    found = []
    for (code, node, device), episodes in groups.items():
        counts = [e.count or 1 for e in episodes]
        lost = [d for d in (_downtime_after(e, restarts) for e in episodes) if d is not None]
        trend = "rising" if counts[-1] > counts[0] else "falling" if counts[-1] < counts[0] else "steady"
        definition = catalog.get(code or "")
        found.append({
            "code": code, "kind": str(episodes[0].kind), "domain": None if episodes[0].domain is None
            else str(episodes[0].domain), "node": node, "device": device, "count": sum(counts),
            "episodes": len(episodes), "first_time": episodes[0].time, "last_time": episodes[-1].time,
            "time_lost_s": sum(lost) if lost else None, "trend": trend if len(episodes) > 1 else None,
            "meaning": definition.meaning if definition else episodes[0].message,
            "action": episodes[0].action or "",
        })
    return sorted(found, key=lambda row: (-(row["time_lost_s"] or 0.0), -row["count"]))


def scorecard(events: list[Event], span: float | None, restarts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Root failures by domain, with their mean time between failures."""
    groups: dict[str, list[Event]] = {}
    for event in events:
        if _is_failure(event):
            groups.setdefault(str(event.domain) if event.domain else "unknown", []).append(event)
    rows = []
    for domain, failures in sorted(groups.items(), key=lambda item: -len(item[1])):
        lost = [d for d in (_downtime_after(e, restarts) for e in failures) if d is not None]
        rows.append({
            "domain": domain, "failures": len(failures), "mtbf_s": span / len(failures) if span else None,
            "codes": sorted({e.code or str(e.kind) for e in failures}), "time_lost_s": sum(lost) if lost else None,
        })
    return rows


def fault_table(events: list[Event]) -> list[dict[str, Any]]:
    """Per code: how often, where, when, what it means and what to do."""
    catalog = load_catalog().by_code
    groups: dict[str, list[Event]] = {}
    for event in events:
        if event.severity > Severity.INFO:
            groups.setdefault(event.code or str(event.kind), []).append(event)
    rows = []
    for code, found in groups.items():
        ranks = sorted({r for e in found for r in (e.ranks or ((e.rank,) if e.rank is not None else ()))})
        nodes = sorted({n for e in found for n in (e.nodes or ((e.node,) if e.node else ()))})
        times = [e.time for e in found if e.time]
        definition = catalog.get(code)
        rows.append({
            "code": code, "kind": str(found[0].kind), "severity": str(max(e.severity for e in found)),
            "domain": None if found[0].domain is None else str(found[0].domain),
            "count": sum(e.count or 1 for e in found), "ranks": ranks, "nodes": nodes,
            "first_time": min(times) if times else None, "last_time": max(times) if times else None,
            "meaning": definition.meaning if definition else found[0].message, "action": found[0].action or "",
        })
    return sorted(rows, key=lambda row: (-Severity.parse(row["severity"]), -row["count"]))


def uncatalogued(events: list[Event]) -> list[dict[str, Any]]:
    """Error lines no catalog entry knows, one row per masked template, in order of first
    appearance: how often, on how many ranks and nodes, in which files. A template on many ranks
    or nodes at once is the stack's own failure, the signal of an immature software stack."""
    groups: dict[str, list[Event]] = {}
    for event in events:
        template = (event.details or {}).get("template") if event.code == UNCATALOGED else None
        if template:
            groups.setdefault(template, []).append(event)
    rows = []
    for template, found in groups.items():
        ranks = sorted({r for e in found for r in (e.ranks or ((e.rank,) if e.rank is not None else ()))})
        nodes = sorted({n for e in found for n in (e.nodes or ((e.node,) if e.node else ()))})
        times = [e.time for e in found if e.time]
        lasts = [t for t in map(last_time, found) if t]
        first = found[0]
        rows.append({
            "template": template, "kinds": sorted({str(e.kind) for e in found}),
            "severity": str(max(e.severity for e in found)), "count": sum(e.count or 1 for e in found),
            "ranks": ranks, "nodes": nodes, "spread": max(len(ranks), len(nodes), 1),
            "files": sorted({e.file for e in found if e.file}),
            "first_time": min(times) if times else None, "last_time": max(lasts) if lasts else None,
            "first": f"{first.file}:{first.line}", "evidence": first.evidence,
        })
    return rows  # events come in time order, so the rows are in order of first appearance


def drain_candidates(events: list[Event]) -> list[dict[str, Any]]:
    """Nodes ranked by the root hardware or interconnect faults they show."""
    nodes: dict[str, list[str]] = {}
    for event in events:
        if event.role is Role.ROOT and event.node and event.domain is not None and \
                str(event.domain) in ("hardware", "interconnect") and event.severity >= Severity.ERROR:
            nodes.setdefault(event.node, []).append(event.code or str(event.kind))
    rows = [{"node": node, "root_faults": len(codes), "codes": sorted(set(codes))} for node, codes in nodes.items()]
    return sorted(rows, key=lambda row: -row["root_faults"])


# -- health -----------------------------------------------------------------------------


def _downsample(frame: pd.DataFrame, x: str, y: str) -> list[list[float]]:
    """At most MAX_POINTS [x, y] pairs: the lowest and highest value of each bucket, so spikes survive."""
    data = frame[[x, y]].dropna(subset=[x])
    data = data[data[y].notna()]
    if len(data) <= MAX_POINTS:
        return [[float(a), float(b)] for a, b in data.itertuples(index=False)]
    buckets = (pd.RangeIndex(len(data)) * (MAX_POINTS // 2) // len(data))
    data = data.reset_index(drop=True)
    keep = set(data.groupby(buckets)[y].idxmin().tolist()) | set(data.groupby(buckets)[y].idxmax().tolist())
    picked = data.loc[sorted(keep)]
    return [[float(a), float(b)] for a, b in picked.itertuples(index=False)]


def _run_rows(steps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and the evaluation records of the busiest file's first rank, in line order."""
    train = _training(steps)
    if train.empty:
        return train, train
    busiest = train["file"].value_counts().idxmax()
    rows = train[train["file"] == busiest]
    evals = steps[(steps["file"] == busiest) & steps["loss"].isna() & steps["eval_loss"].notna()]
    ranks = rows["rank"].dropna()
    if not ranks.empty:
        rows = rows[rows["rank"] == ranks.min()]
        evals = evals[evals["rank"].isna() | (evals["rank"] == ranks.min())]
    return rows.copy(), evals.sort_values("line", kind="stable")


def _outage_limit(rows: pd.DataFrame) -> float | None:
    """The silence between consecutive records that counts as an outage: OUTAGE_FACTOR times the
    usual interval, and at least OUTAGE_MIN_S; None without two timestamped records."""
    gaps = rows["epoch_s"].dropna().diff()
    gaps = gaps[gaps > 0]
    return max(OUTAGE_FACTOR * float(gaps.median()), OUTAGE_MIN_S) if not gaps.empty else None


def _outages(rows: pd.DataFrame, limit: float | None, end_s: float | None) -> list[dict[str, Any]]:
    """Silences longer than `limit` between consecutive records (a stall, a restart's down time), and
    from the last record to the end of the logs (a hang, a crash nobody restarted)."""
    timed = rows.dropna(subset=["epoch_s"])
    if limit is None or timed.empty:
        return []
    times, steps = timed["epoch_s"].tolist(), timed["step"].tolist()
    found = [(times[i - 1], times[i], steps[i - 1], steps[i]) for i in range(1, len(times))
             if times[i] - times[i - 1] > limit]
    if end_s is not None and end_s - times[-1] > limit:
        found.append((times[-1], end_s, steps[-1], None))
    return [{"from_s": a, "to_s": b, "seconds": b - a, "from_step": _finite(s0), "to_step": _finite(s1)}
            for a, b, s0, s1 in found]


def _derived_step_time(rows: pd.DataFrame, limit: float | None) -> pd.Series:
    """Seconds per step from the timestamps of consecutive records (outages and restarts left out)."""
    dt_s, dstep = rows["epoch_s"].diff(), rows["step"].diff()
    ok = (dstep > 0) & (dt_s > 0) & (dt_s <= (limit if limit is not None else math.inf))
    return (dt_s / dstep).where(ok)


def _incident_class(event: Event) -> str | None:
    if event.severity < Severity.WARNING:
        return None
    return INCIDENT_CLASSES.get(event.kind)


def _root_of(event: Event, by_label: dict[str, Event]) -> Event:
    """The root a cascade follows from, through cascades of cascades; the event itself when unknown."""
    current = event
    for _ in range(8):
        cause = by_label.get(current.cause or "")
        if cause is None or cause is current:
            break
        current = cause
        if current.role is Role.ROOT:
            break
    return current


def _incidents(events: list[Event], rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Faults, hangs, NaN and restarts folded for the charts: one incident per root event with the
    cascades of its own class, one per root and other class of its cascades (the hang after an
    Xid), one per restart. A step or time the events lack is read off the progress records."""
    by_label = {event.label(): event for event in events}
    groups: dict[tuple[str, int], list[Event]] = {}
    for event in events:
        css = _incident_class(event)
        if css is not None:
            anchor = event if css == "restart" else _root_of(event, by_label)
            groups.setdefault((css, id(anchor)), []).append(event)
    out = []
    for (css, _), members in groups.items():
        codes: dict[str, int] = {}
        for event in sorted(members, key=lambda e: e.role is not Role.ROOT):  # the root's code first
            code = event.code or str(event.kind)
            codes[code] = codes.get(code, 0) + (event.count or 1)
        steps = [e.step for e in members if e.step is not None]
        times = [t for t in (_when(e) for e in members) if t is not None]
        step = min(steps) if steps else _step_at(rows, min(times) if times else None)
        when = min(times) if times else _time_at(rows, members[0], step)
        out.append({"class": css, "kind": str(members[0].kind), "codes": [[c, n] for c, n in codes.items()],
                    "step": step, "epoch_s": when, "approx": not (steps and times)})
    out.sort(key=lambda i: (i["epoch_s"] is None, i["epoch_s"] or 0.0, i["step"] or 0))
    return out[:MAX_INCIDENTS]


def _step_at(rows: pd.DataFrame, when: float | None) -> int | None:
    """The step of the last record at or before `when` (None before the first record)."""
    if when is None:
        return None
    before = rows[rows["epoch_s"] <= when]
    return None if before.empty else int(before["step"].iloc[-1])


def _time_at(rows: pd.DataFrame, event: Event, step: int | None) -> float | None:
    """The time of the last record before the event's line in its file, else of the first record at
    or after its step."""
    if event.file is not None and event.line is not None and (rows["file"] == event.file).any():
        before = rows[(rows["file"] == event.file) & (rows["line"] <= event.line)].dropna(subset=["epoch_s"])
        return _finite(before["epoch_s"].iloc[-1]) if not before.empty else None
    if step is not None:
        after = rows[rows["step"] >= step].dropna(subset=["epoch_s"])
        return _finite(after["epoch_s"].iloc[0]) if not after.empty else None
    return None


def _clock(loaded: Loaded, events: list[Event]) -> list[float] | None:
    """The first and the last timestamp seen in the logs (progress and events alike)."""
    times = [t for pair in loaded.clock.values() for t in pair if _finite(t) is not None]
    times += [t for t in (_when(e) for e in events) if t is not None]
    return [min(times), max(times)] if times else None


def health(loaded: Loaded, events: list[Event]) -> dict[str, Any]:
    """Curves of the busiest file's first rank (eval loss too), the incidents and outages to draw on
    them, the time span of the logs, restarts, loss-spike markers and the spike table."""
    rows, evals = _run_rows(loaded.steps)
    series: dict[str, list[list[float]]] = {}
    by_time: dict[str, list[list[float]]] = {}
    unit = step_time_source = None
    clock = _clock(loaded, events)
    limit = _outage_limit(rows) if not rows.empty else None
    if not rows.empty:
        for column, unit_name in (("tokens_per_s", "tokens/s"), ("samples_per_s", "samples/s"), ("tflops", "TFLOP/s")):
            if rows[column].notna().any():
                rows["throughput"] = rows[column]
                unit = unit_name
                break
        else:
            rows["throughput"] = float("nan")
        if rows["step_time_s"].notna().any():
            step_time_source = "logged"
        elif rows["epoch_s"].notna().any():
            rows["step_time_s"] = _derived_step_time(rows, limit)
            step_time_source = "timestamps" if rows["step_time_s"].notna().any() else None
        for key in ("loss", "grad_norm", "step_time_s", "throughput", "loss_scale"):
            series[key] = _downsample(rows, "step", key)
            if rows["epoch_s"].notna().any():
                by_time[key] = _downsample(rows, "epoch_s", key)
        series["eval_loss"] = _downsample(evals, "step", "eval_loss")
        by_time["eval_loss"] = _downsample(evals, "epoch_s", "eval_loss")
    restarts = [{"step": e.step, "epoch_s": _epoch(e)} for e in events if e.code == "STEP-RESTART"]
    markers = [
        {"step": e.step, "epoch_s": _epoch(e), "kind": str(e.kind), "code": e.code, "value": e.value}
        for e in events if e.kind is Kind.LOSS_SPIKE and e.step is not None
    ]
    spikes = [
        {"step": e.step, "peak": e.value, "baseline": e.baseline, "magnitude": (e.details or {}).get("magnitude"),
         "recovered_after_steps": (e.details or {}).get("recovered_after_steps"), "rank": e.rank}
        for e in events if e.code == "LOSS-SPIKE"
    ]
    return {"series": {k: v for k, v in series.items() if v or k != "eval_loss"},
            "series_by_time": {k: v for k, v in by_time.items() if v},
            "throughput_unit": unit, "step_time_source": step_time_source, "clock": clock,
            "incidents": _incidents(events, rows), "outages": _outages(rows, limit, clock[1] if clock else None),
            "restarts": restarts, "markers": markers, "spikes": spikes}


def runs(loaded: Loaded) -> list[dict[str, Any]]:
    """One verdict per run, in order of first appearance; nothing of one run decides another's."""
    of_file = assign_runs([f.file for f in loaded.files], {f.file: f.run_id for f in loaded.files})
    for event in loaded.event_list:  # a node's system log joins the run that used the node (monitor.runs)
        if event.file and event.run:
            of_file[event.file] = event.run
    order: dict[str, list[str]] = {}
    for event in loaded.event_list:
        if event.run:
            order.setdefault(event.run, [])
    for file, run in of_file.items():
        order.setdefault(run, []).append(file)
    found = []
    for run, files in order.items():
        part = _part(loaded, run, set(files))
        found.append({"run": run, "files": sorted(files), "verdict": verdict(part, part.event_list)})
    return found


def _part(loaded: Loaded, run: str, files: set[str]) -> Loaded:
    """The records and events of one run."""

    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["file"].isin(files)] if not frame.empty and "file" in frame else frame

    return dataclasses.replace(
        loaded,
        steps=rows(loaded.steps), timers=rows(loaded.timers), pauses=rows(loaded.pauses),
        event_list=[e for e in loaded.event_list if e.run == run or (e.run is None and e.file in files)],
        files=[f for f in loaded.files if f.file in files],
        clock={name: span for name, span in loaded.clock.items() if name in files},
    )


def build_report(loaded: Loaded) -> dict[str, Any]:
    """The report document (the shape the HTML, Markdown and JSON renderers share): `verdict` is
    the whole scan's, `runs` one verdict per run (several when the logs hold several runs)."""
    events = loaded.event_list
    cost = goodput(loaded, events)
    restarts = cost.pop("restart_list")
    by_run = runs(loaded)
    return zoned_times({  # every time in it as the events' own: RFC 3339
        "schema_version": SCHEMA_VERSION,
        "title": "monitor report",
        "generated": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "version": __version__,
        "inputs": [summary.to_dict() for summary in loaded.files],
        "errors": loaded.errors,
        "verdict": by_run[0]["verdict"] if len(by_run) == 1 else verdict(loaded, events),
        "runs": by_run,
        "timestamps_missing": any(_when(e) is None for e in events if e.severity > Severity.INFO),
        "timeline": timeline(events),
        "health": health(loaded, events),
        "goodput": cost,
        "persistent": persistent(events, restarts),
        "scorecard": scorecard(events, cost["span_s"], restarts),
        "faults": fault_table(events),
        "uncatalogued": uncatalogued(events),
        "drain_candidates": drain_candidates(events),
        "events": [event.to_dict() for event in events],
    })
