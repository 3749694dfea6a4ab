"""A real HF Trainer run with `monitor.hook`'s callback, stopped with SIGSTOP; `monitor tail
--hang-after 10` on its hook file must report the hang within 11 s of the last line written.

    python bench/hook_hf_hang.py --python /path/to/venv-with-torch-and-transformers/bin/python

The model is a tiny GPT-2 built from a config (nothing is downloaded), trained on random tokens
with `logging_steps=1`. After 15 s of training the trainer process is stopped (SIGSTOP, so it
neither exits nor writes); the time from the hook file's last write to the NO-PROGRESS event
printed by `monitor tail` is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

TRAIN = textwrap.dedent("""
    import sys, torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
    import monitor.hook

    class Tokens(torch.utils.data.Dataset):
        def __len__(self):
            return 100000
        def __getitem__(self, i):
            ids = torch.randint(0, 64, (16,))
            return {"input_ids": ids, "labels": ids}

    model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=1))
    args = TrainingArguments(output_dir=sys.argv[2], per_device_train_batch_size=4, logging_steps=1,
                             max_steps=100000, report_to=[], save_strategy="no", use_cpu=True,
                             disable_tqdm=True)
    hook = monitor.hook.Hook(sys.argv[1], rank=0)
    Trainer(model=model, args=args, train_dataset=Tokens(), callbacks=[monitor.hook.huggingface_callback(hook)]).train()
""")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", required=True, help="a Python with torch and transformers")
    ap.add_argument("--train-s", type=float, default=15.0)
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        hook_file = Path(tmp) / "hook-rank0.jsonl"
        hook_file.touch()
        script = Path(tmp) / "train.py"
        script.write_text(TRAIN)
        env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
        tail = subprocess.Popen([sys.executable, "-m", "monitor", "tail", "--hang-after", "10", "--format", "jsonl",
                                 "--poll", "0.2", str(hook_file)], stdout=subprocess.PIPE, text=True, cwd=root)
        trainer = subprocess.Popen([args.python, str(script), str(hook_file), tmp], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(args.train_s)
        trainer.send_signal(signal.SIGSTOP)
        stopped = time.time()
        last_write = hook_file.stat().st_mtime
        lines = sum(1 for _ in hook_file.open())
        seen: list[float] = []

        def watch() -> None:
            for line in tail.stdout:  # type: ignore[union-attr]
                if line.startswith("{") and json.loads(line).get("code") == "NO-PROGRESS":
                    seen.append(time.time())

        threading.Thread(target=watch, daemon=True).start()
        deadline = time.time() + 30
        while time.time() < deadline and not seen:
            time.sleep(0.1)
        found = seen[0] if seen else None
        trainer.send_signal(signal.SIGKILL)
        tail.terminate()
        trainer.wait()
        tail.wait()
    if found is None:
        print(f"FAIL: no NO-PROGRESS within 30 s of SIGSTOP ({lines} hook lines written)")
        return 1
    print(f"hook lines before SIGSTOP: {lines}; NO-PROGRESS {found - last_write:.1f} s after the last hook write "
          f"({found - stopped:.1f} s after SIGSTOP)")
    return 0 if found - last_write <= 11.0 else 1


if __name__ == "__main__":
    sys.exit(main())
