"""Run identity (monitor.runs): which run each log belongs to, so nothing crosses runs.

Where the ids come from: Slurm's default output name `slurm-%j.out` and array name
`slurm-%A_%a.out` (sbatch(1), "filename pattern"); slurmstepd's
`*** JOB %u ON %s CANCELLED AT %s ***` (src/slurmd/slurmstepd/req.c); slurmctld's `JobId=`
records; torchelastic's agent configuration dump (`run_id : ...`,
torch/distributed/elastic/agent/server/api.py `_get_fq_hostname`/`WorkerSpec`) and
`--rdzv-id` (torch/distributed/run.py).
"""

from __future__ import annotations

import json

import pytest

from monitor.runs import assign_runs, run_directory, run_hint


@pytest.mark.parametrize(
    ("line", "run"),
    [
        ("slurmstepd: error: *** JOB 88120 ON gpu-a07 CANCELLED AT 2025-03-04T10:40:00 DUE TO TIME LIMIT ***",
         "slurm-88120"),
        ("slurmstepd: error: *** STEP 88120.0 ON gpu-a07 CANCELLED AT 2025-03-04T10:40:00 ***", "slurm-88120"),
        ("[2025-02-03T04:51:47.118] requeue job JobId=51002_7(51010) due to failure of node gpu-b-3", "slurm-51002_7"),
        ("export SLURM_JOB_ID=77410", "slurm-77410"),
        ("  run_id           : llama-pretrain-7", "torchrun-llama-pretrain-7"),
        ("torchrun --nnodes=2 --rdzv-id=exp42 --rdzv-backend=c10d train.py", "torchrun-exp42"),
        ("  run_id           : none", None),
        ("job 12 of the data loader finished", None),
        ("JobIdentifier: abc", None),
    ],
)
def test_a_line_names_its_run(line: str, run: str | None) -> None:
    assert run_hint(line) == run


def test_the_run_directory_is_above_per_node_rank_and_attempt_levels() -> None:
    assert run_directory("logs/job-311/npu-node07/plog-20411.log") == "logs/job-311"
    assert run_directory("logs/job-311/rank3/stdout.log") == "logs/job-311"
    assert run_directory("out/attempt_1/3/stdout.log") == "out"
    assert run_directory("sample_logs/persistent_ecc/node12-kern.log") == "sample_logs/persistent_ecc"
    assert run_directory("train.log") == "."


def test_files_are_grouped_by_job_directory_or_alone() -> None:
    files = [
        "logs/a.log", "logs/b.log",  # two unrelated runs side by side
        "logs/job1/slurm-900.out", "logs/job1/node03-kern.log",  # a node's kernel log beside its job's output
        "logs/titan/rank_0.log", "logs/titan/rank_1.log",  # one run's ranks
        "logs/mixed/slurm-101.out", "logs/mixed/slurm-102.out", "logs/mixed/node9-kern.log",  # two jobs: node log alone
        "logs/hinted/worker-0.log", "logs/hinted/worker-1.log",
    ]
    runs = assign_runs(files, {"logs/hinted/worker-1.log": "torchrun-x1"})
    assert runs["logs/a.log"] != runs["logs/b.log"]
    assert runs["logs/job1/slurm-900.out"] == runs["logs/job1/node03-kern.log"] == "slurm-900"
    assert runs["logs/titan/rank_0.log"] == runs["logs/titan/rank_1.log"] == "logs/titan"
    assert runs["logs/mixed/slurm-101.out"] == "slurm-101" and runs["logs/mixed/slurm-102.out"] == "slurm-102"
    assert runs["logs/mixed/node9-kern.log"] == "logs/mixed"
    assert runs["logs/hinted/worker-0.log"] == runs["logs/hinted/worker-1.log"] == "torchrun-x1"


def test_scanning_the_samples_folds_and_links_nothing_across_runs(run_cli) -> None:
    from pathlib import Path

    samples = Path(__file__).resolve().parent.parent / "sample_logs"
    events = [json.loads(line) for line in run_cli("scan", "--format", "jsonl", samples).out.splitlines()]
    assert all(event["run"] for event in events)
    by_label = {}
    for event in events:
        by_label.setdefault(event["run"], set()).add(event["file"])
    jobs = {run: files for run, files in by_label.items() if run.startswith("slurm-")}
    assert sorted(jobs) == ["slurm-4242", "slurm-7001"]
    assert all(len({Path(f).parent for f in files}) == 1 for files in by_label.values())
    runs_of_file = {event["file"]: event["run"] for event in events}
    for event in events:
        if event["cause"]:
            cause_file = event["cause"].rsplit("(", 1)[-1].split(":")[0]
            assert runs_of_file.get(cause_file, event["run"]) == event["run"], event
