"""`--jobs` by default: the CPUs this process may use (affinity mask, cgroup v2 CPU quota), capped.

The cgroup v2 interface file `cpu.max` holds "$MAX $PERIOD" (microseconds), "max" meaning no limit, and
`/proc/self/cgroup` names a process's v2 cgroup on its "0::PATH" line (the kernel's cgroup v2 guide,
https://docs.kernel.org/admin-guide/cgroup-v2.html, "cpu.max" and "Processes"); the fixtures below are
written in that layout.
"""

from __future__ import annotations

import os

import pytest

from monitor import cli, cpus


@pytest.fixture
def cgroup(tmp_path, monkeypatch):
    """A private cgroup tree; returns a function that puts the process in CGROUP with LIMITS per level."""
    root = tmp_path / "cgroup"
    root.mkdir()
    membership = tmp_path / "self-cgroup"
    membership.write_text("0::/\n")
    monkeypatch.setattr(cpus, "CGROUP_ROOT", root)
    monkeypatch.setattr(cpus, "CGROUP_MEMBERSHIP", membership)

    def place(path: str, limits: dict[str, str]) -> None:
        membership.write_text(f"0::{path}\n")
        for level, limit in limits.items():
            directory = root / level.strip("/")
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "cpu.max").write_text(limit + "\n")

    return place


def affinity(monkeypatch, cpus: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cpus)), raising=False)


def test_the_affinity_mask_not_the_machine_s_cpu_count(monkeypatch, cgroup) -> None:
    """taskset or a Slurm CPU binding leaves 3 of the machine's CPUs to this process."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 5, 9}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert cpus.default_jobs() == 3


def test_the_cpu_count_where_there_is_no_affinity_call(monkeypatch, cgroup) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert cpus.default_jobs() == 6


def test_a_cgroup_quota_rounds_up_and_the_tightest_level_wins(monkeypatch, cgroup) -> None:
    affinity(monkeypatch, 16)
    cgroup("/job/step", {"/": "max 100000", "/job": "250000 100000", "/job/step": "400000 100000"})
    assert cpus.cgroup_cpus() == 3 and cpus.default_jobs() == 3


def test_no_quota_or_an_unreadable_one_leaves_the_affinity(monkeypatch, cgroup) -> None:
    affinity(monkeypatch, 4)
    cgroup("/job", {"/job": "max 100000"})
    assert cpus.cgroup_cpus() is None and cpus.default_jobs() == 4
    cgroup("/job", {"/job": "not numbers"})
    assert cpus.default_jobs() == 4


def test_a_big_host_is_capped(monkeypatch, cgroup) -> None:
    affinity(monkeypatch, 256)
    assert cpus.default_jobs() == cpus.JOBS_CAP


def test_scan_uses_the_default_unless_jobs_is_given(run_cli, monkeypatch, tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("nothing to see\n")
    seen = []
    real = cli.scan

    def recording(sources, jobs=1, **kwargs):
        seen.append(jobs)
        return real(sources, jobs=1, **kwargs)

    monkeypatch.setattr(cli, "scan", recording)
    monkeypatch.setattr(cli, "default_jobs", lambda: 7)
    assert run_cli("scan", log).code == 0
    assert run_cli("scan", "--jobs", "2", log).code == 0
    assert seen == [7, 2]
