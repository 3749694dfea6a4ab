"""Which training run each log belongs to, so that folding, cause links, persistence and verdicts
never cross runs.

A log is given to a run, in this order of preference:

1. its Slurm job id: in its file name (`slurm-7001.out`, `slurm-44810_3.out`, `job-7001.log`) or in
   its lines (`SLURM_JOB_ID=7001`, `JobId=7001`, slurmstepd's `*** JOB 7001 ON node07 CANCELLED`);
2. torchrun's run id, from the agent's configuration dump (`run_id : 8f3c`; `none` is no id) or
   the command line (`--rdzv-id=8f3c`);
3. its run directory, the directory above the levels that name one node, rank or attempt
   (`npu-node07/`, `attempt_1/3/`): a file there takes the id of the one named run whose logs are
   in it (a node's kernel log beside its job's `slurm-7001.out` belongs to job 7001); else, when
   the directory holds the parts of a run (`rank_3.log`, `node07-kern.log`), the directory is
   the run;
4. otherwise the file itself: a directory of unrelated logs is as many runs.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath

from monitor.model import Event, SourceSummary, epoch_of, last_time

_HINT_LITERALS = ("JOB", "STEP", "JobId", "run_id", "rdzv")
_HINTS = (
    re.compile(r"\bSLURM_JOB_ID[=:]\s?(?P<slurm>\d{1,12})\b"),
    re.compile(r"\bJobId=(?P<slurm>\d{1,12}(?:_\d{1,8})?)\b"),
    re.compile(r"\*\*\* (?:JOB|STEP) (?P<slurm>\d{1,12})(?:\.\w{1,12})? ON "),
    re.compile(r"\brun_id\s{0,20}[:=]\s{0,4}['\"]?(?P<torchrun>[\w.-]{1,64})"),
    re.compile(r"--rdzv[-_]id[= ]['\"]?(?P<torchrun>[\w.-]{1,64})"),
)
_NO_ID = {"none", "None", "default", "0"}
_FILE_JOB = re.compile(r"(?:^|[^A-Za-z0-9])(?:slurm|job)[-_](?P<slurm>\d{2,12}(?:_\d{1,8})?)(?![0-9])", re.IGNORECASE)
_PER_PROCESS = re.compile(
    r"(?i)(?:^|[^a-z0-9])(?:node|host|rank|worker|attempt|device|npu|gpu|plog|kern|dmesg|syslog)[-_]?\d{0,6}"
    r"(?:$|[^a-z])"
)
_PER_PROCESS_DIR = re.compile(
    r"(?i)(?:[a-z][\w-]{0,40}[-_])?(?:node|host|rank|worker|attempt|device|npu|gpu)[-_]?\d{1,6}|\d{1,6}|attempt_\d{1,4}"
)


def run_hint(line: str) -> str | None:
    """The run id a log line names (a Slurm job id or torchrun's run id), or None."""
    if not any(literal in line for literal in _HINT_LITERALS):
        return None
    for pattern in _HINTS:
        found = pattern.search(line)
        if found is None:
            continue
        slurm = found.groupdict().get("slurm")
        if slurm:
            return f"slurm-{slurm}"
        value = found.group("torchrun")
        if value not in _NO_ID:
            return f"torchrun-{value}"
    return None


def _file_hint(file: str) -> str | None:
    found = _FILE_JOB.search(PurePath(file).name)
    return f"slurm-{found.group('slurm')}" if found else None


def run_directory(file: str) -> str:
    """The directory a file's run lives in: its own, above the levels that name one node, rank or
    attempt (`npu-node07/`, `rank3/`, `attempt_1/3/`)."""
    parts = PurePath(file).parts[:-1]
    while parts and _PER_PROCESS_DIR.fullmatch(parts[-1]):
        parts = parts[:-1]
    return str(PurePath(*parts)) if parts else "."


def _per_process(file: str) -> bool:
    """Whether a file holds one node's, rank's or attempt's part of a run (by its name or folder)."""
    path = PurePath(file)
    return bool(_PER_PROCESS.search(path.stem)) or run_directory(file) != (str(path.parent) if path.parts[:-1] else ".")


def assign_runs(files: Iterable[str], hints: Mapping[str, str | None]) -> dict[str, str]:
    """The run of each file (see the module docstring); `hints` are the ids read from their lines."""
    files = list(dict.fromkeys(files))
    named = {file: hints.get(file) or _file_hint(file) for file in files}
    by_directory: dict[str, set[str]] = {}
    for file, run in named.items():
        if run:
            by_directory.setdefault(run_directory(file), set()).add(run)
    shared = {run_directory(file) for file in files if _per_process(file)}  # directories of one run's parts
    runs: dict[str, str] = {}
    for file in files:
        directory = run_directory(file)
        ids = by_directory.get(directory, set())
        if named[file]:
            runs[file] = named[file]  # type: ignore[assignment]
        elif len(ids) == 1:
            runs[file] = next(iter(ids))
        elif directory in shared:
            runs[file] = directory
        else:
            runs[file] = file
    return runs


def label_runs(events: Sequence[Event], summaries: Sequence[SourceSummary]) -> list[Event]:
    """`events` with their `run` set from the run of their file.

    A node's system log (`kern.log`, `syslog`, `messages`, `dmesg`, a journal) belongs to no run
    of its own: whatever ran on the node shows in it. Its events join the run that used their node
    at that time (or the only run whose time span holds them), unless the log sits beside one
    job's output (`slurm-7001.out`), whose run it then is.
    """
    runs = assign_runs([s.file for s in summaries], {s.file: s.run_id for s in summaries})
    fixed: list[Event] = []
    floating: list[Event] = []
    for event in events:
        run = runs.get(event.file or "") or event.run
        if _SYSTEM_LOG.search(PurePath(event.file or "").name) and not (run or "").startswith(_NAMED):
            floating.append(event)
        else:
            fixed.append(event if run == event.run else dataclasses.replace(event, run=run))
    if not floating:
        return fixed
    spans = _spans(fixed)
    joined = []
    for event in floating:
        run = _host_run(event, spans) or runs.get(event.file or "") or event.run
        joined.append(event if run == event.run else dataclasses.replace(event, run=run))
    return fixed + joined


_NAMED = ("slurm-", "torchrun-")
_SYSTEM_LOG = re.compile(r"(?i)(?:^|[^a-z])(?:kern|syslog|messages|dmesg|journal\w*)(?:$|[^a-z])")
_SPAN_MARGIN_S = 2 * 3600.0


def _spans(events: Sequence[Event]) -> dict[str, tuple[set[str], float, float]]:
    """Per run: the nodes its events name, and the first and last time they show."""
    spans: dict[str, tuple[set[str], float, float]] = {}
    for event in events:
        if event.run is None:
            continue
        nodes, first, last = spans.get(event.run, (set(), math.inf, -math.inf))
        nodes.update(event.nodes or ((event.node,) if event.node else ()))
        for seen in (epoch_of(event.time), epoch_of(last_time(event))):
            if seen is not None:
                first, last = min(first, seen), max(last, seen)
        spans[event.run] = (nodes, first, last)
    return spans


def _host_run(event: Event, spans: dict[str, tuple[set[str], float, float]]) -> str | None:
    """The run a system-log event belongs to: the one run that used its node (at its time, when
    several did), else the one run whose time span holds it."""
    when = epoch_of(event.time)

    def during(run: str) -> bool:
        _nodes, first, last = spans[run]
        return when is not None and first - _SPAN_MARGIN_S <= when <= last + _SPAN_MARGIN_S

    on_node = [run for run, (nodes, _f, _l) in spans.items() if event.node and event.node in nodes]
    if when is None:
        return on_node[0] if len(on_node) == 1 else None
    candidates = [run for run in on_node if during(run)] if on_node else [run for run in spans if during(run)]
    return candidates[0] if len(candidates) == 1 else None
