"""Real torchrun runs (CPU, gloo) with real faults, and the verdicts `monitor report` gives them.

Needs a Python with torch (a CPU build is enough) given as --python; the monitor runs from this
checkout. Each scenario is a real `torchrun` job whose output (launcher and every rank, as
torchrun prints them with `--tee 3`) is written to OUT/<scenario>/train.log, then reported on:

- sigkill: rank 1 is SIGKILLed mid-run; rank 0 sees its peer vanish inside a gloo all-reduce.
  The verdict must name rank 1 (its SIGKILL) as the root cause, not rank 0's connection error.
- restart: the first attempt dies of an exception at step 8; the job script launches torchrun
  again (as a requeue or a retry loop does), the workers resume from the checkpoint of step 5 and
  finish every step. The outcome must be "completed".
- clean: a healthy run. The outcome must be "completed" with no root cause.
- hf: a Hugging Face Trainer run (a tiny GPT-2 built from a config, 40 steps) that prints its
  `train_runtime` summary. The outcome must be "completed".

    python bench/torchrun_verdicts.py --python /path/to/venv-with-torch/bin/python --out /tmp/verdicts
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

TRAIN = textwrap.dedent('''
    import os, signal, sys, time
    import torch
    import torch.distributed as dist

    def main():
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        scenario = os.environ["SCENARIO"]
        attempt = int(os.environ.get("ATTEMPT", "0"))
        torch.manual_seed(0)
        model = torch.nn.Linear(16, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        start = 5 if scenario == "restart" and attempt > 0 else 0
        if start:
            print(f"resuming from checkpoint at step {start}", flush=True)
        total = 12
        for step in range(start + 1, total + 1):
            x = torch.randn(32, 16)
            loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            for p in model.parameters():
                dist.all_reduce(p.grad)
                p.grad /= world
            opt.step()
            if rank == 0:
                print(f"step {step}/{total} | loss {loss.item():.4f} | lr 0.05", flush=True)
            if scenario == "sigkill" and rank == 1 and step == 6:
                os.kill(os.getpid(), signal.SIGKILL)
            if scenario == "restart" and attempt == 0 and rank == 0 and step == 8:
                raise ValueError("bad batch at step 8")
            time.sleep(0.2)
        if rank == 0:
            print("training finished", flush=True)
        dist.destroy_process_group()

    if __name__ == "__main__":
        main()
''')

HF = textwrap.dedent('''
    import sys, torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    class Tokens(torch.utils.data.Dataset):
        def __len__(self):
            return 4096
        def __getitem__(self, i):
            ids = torch.randint(0, 64, (16,))
            return {"input_ids": ids, "labels": ids}

    model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=1))
    args = TrainingArguments(output_dir=sys.argv[1], per_device_train_batch_size=4, logging_steps=5, max_steps=40,
                             report_to=[], save_strategy="no", use_cpu=True)
    Trainer(model=model, args=args, train_dataset=Tokens()).train()
''')

EXPECT = {
    "hf": {"outcome": "completed", "root_rank": None},
    "sigkill": {"outcome": "crashed", "root_rank": 1},
    "restart": {"outcome": "completed with findings"},
    "clean": {"outcome": "completed", "root_rank": None},
}


def run(python: str, out: Path, scenario: str) -> Path:
    where = out / scenario
    where.mkdir(parents=True, exist_ok=True)
    script = where / "train.py"
    script.write_text(HF if scenario == "hf" else TRAIN)
    log = where / "train.log"
    if scenario == "hf":  # a plain HF Trainer run (no torchrun): tqdm bar, loss dicts, the train_runtime summary
        with log.open("w") as f:
            subprocess.run([python, str(script), str(where)], stdout=f, stderr=subprocess.STDOUT, timeout=600,
                           env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
        return log
    cmd = [python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "--tee", "3", "--monitor-interval", "0.5", str(script)]
    attempts = 2 if scenario == "restart" else 1
    with log.open("w") as f:
        for attempt in range(attempts):
            env = {**os.environ, "SCENARIO": scenario, "OMP_NUM_THREADS": "1", "ATTEMPT": str(attempt)}
            subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=600, check=False)
    return log


def verdict(log: Path) -> dict:
    report = log.with_suffix(".json")
    subprocess.run([sys.executable, "-m", "monitor", "report", str(log), "-o", str(report)], check=False,
                   capture_output=True)
    return json.loads(report.read_text())["verdict"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", required=True, help="a Python with torch installed")
    ap.add_argument("--out", default="/tmp/torchrun-verdicts")
    ap.add_argument("--scenario", action="append", choices=sorted(EXPECT))
    args = ap.parse_args()
    failures = 0
    for scenario in args.scenario or sorted(EXPECT):
        log = run(args.python, Path(args.out), scenario)
        got = verdict(log)
        root = got.get("root_cause") or {}
        want = EXPECT[scenario]
        ok = got.get("outcome") == want["outcome"] and (
            "root_rank" not in want or (root.get("rank") if root else None) == want["root_rank"]
        )
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {scenario:8s} outcome={got.get('outcome')!r} "
              f"root={root.get('code')} rank={root.get('rank')}  ({log})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
