"""How many CPUs this process may use: the default number of scan processes.

The machine's CPU count overstates it wherever the monitor runs beside other work: under `taskset` or a
Slurm CPU binding (the affinity mask) and in a container (the cgroup's CPU quota). cgroup v1 quotas are not
read (v2 is the default of current distributions and container runtimes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

JOBS_CAP = 32
"""The most processes `--jobs` picks by itself: every worker holds its own catalog and detectors, so memory
grows with their number; a bigger N can still be given."""
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_MEMBERSHIP = Path("/proc/self/cgroup")


def default_jobs() -> int:
    """The CPUs this process may run on: its affinity mask (else the CPU count), bounded by its cgroup's CPU
    quota when it has one (a container limited to 2 CPUs on a 128-core host), at most `JOBS_CAP`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpus()
    if quota is not None:
        cpus = min(cpus, quota)
    return max(1, min(cpus, JOBS_CAP))


def cgroup_cpus() -> int | None:
    """The CPUs a cgroup v2 CPU quota allows this process (the tightest `cpu.max` of its cgroup and those
    above it: `QUOTA PERIOD` in microseconds, rounded up), or None when there is none or it cannot be read."""
    try:
        lines = CGROUP_MEMBERSHIP.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    own = next((line[3:] for line in lines if line.startswith("0::")), "/")  # the v2 line is "0::/PATH"
    parts = [part for part in own.strip().split("/") if part not in ("", ".", "..")]
    limits = [_quota(CGROUP_ROOT.joinpath(*parts[:depth], "cpu.max")) for depth in range(len(parts), -1, -1)]
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _quota(path: Path) -> int | None:
    try:
        fields = path.read_text(encoding="utf-8").split()
        quota, period = int(fields[0]), int(fields[1]) if len(fields) > 1 else 100_000
    except (OSError, UnicodeDecodeError, ValueError, IndexError):  # "max" (no quota), absent, unreadable
        return None
    return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None
