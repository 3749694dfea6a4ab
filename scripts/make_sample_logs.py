#!/usr/bin/env python3
"""Write `sample_logs/`: small logs in each framework's real layout, each with a known incident.

Every line follows the layout the framework prints (the parsers' docstrings
cite the source of each); the values are generated here, from a fixed seed,
so the files are the same on every run. Run it again after changing it:

    python scripts/make_sample_logs.py

What each file holds, and what `monitor scan` should find in it, is listed in
`EXPECTED` at the bottom (the tests check it).
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "sample_logs"
START = datetime(2025, 3, 4, 9, 0, 0)


def loss_curve(step: int, rng: random.Random, start: float = 10.5, floor: float = 2.2) -> float:
    """A pre-training loss that falls fast, then slowly, with a little noise."""
    return floor + (start - floor) * math.exp(-step / 400) + 0.35 / math.sqrt(1 + step / 50) + rng.gauss(0, 0.02)


def nccl_init(node: str, ranks: int) -> Iterator[str]:
    """NCCL's INFO chatter at communicator set-up (NCCL_DEBUG=INFO)."""
    yield f"{node}:18231:18231 [0] NCCL INFO Bootstrap : Using eth0:10.1.4.12<0>"
    yield f"{node}:18231:18231 [0] NCCL INFO NET/Plugin: No plugin found (libnccl-net.so), using internal implementation"
    yield f"{node}:18231:18231 [0] NCCL INFO cudaDriverVersion 12040"
    yield "NCCL version 2.19.3+cuda12.3"
    for rank in range(ranks):
        yield f"{node}:{18231 + rank}:{18480 + rank} [{rank}] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB ; OOB eth0:10.1.4.12<0>"
        yield f"{node}:{18231 + rank}:{18480 + rank} [{rank}] NCCL INFO Channel 00/0 : {rank}[{rank}] -> {(rank + 1) % ranks}[{(rank + 1) % ranks}] via P2P/IPC/read"
    yield f"{node}:18231:18480 [0] NCCL INFO comm 0x55d1c2a0 rank 0 nranks {ranks} cudaDev 0 busId 18000 - Init COMPLETE"


# --- Megatron-LM (upstream layout, fp16) --------------------------------------------------------
def megatron_line(when: datetime, step: int, total: int, loss: float | None, grad: float | str, scale: float,
                  skipped: int = 0, nan: int = 0, ms: float = 1532.4, lr: float = 3e-4) -> str:
    loss_field = f" lm loss: {loss:.6E} |" if loss is not None else ""
    grad_text = grad if isinstance(grad, str) else f"{grad:.3f}"
    return (
        f" [{when:%Y-%m-%d %H:%M:%S}] iteration {step:8d}/{total:8d} | consumed samples: {step * 256:12d} | "
        f"elapsed time per iteration (ms): {ms:.1f} | throughput per GPU (TFLOP/s/GPU): {412.3 * 1532.4 / ms:.1f} | "
        f"learning rate: {lr:.6E} | global batch size:   256 |{loss_field} loss scale: {scale:.1f} | "
        f"grad norm: {grad_text} | number of skipped iterations: {skipped:3d} | number of nan iterations: {nan:3d} |"
    )


def megatron_gpt_nan() -> list[str]:
    """Megatron-LM GPT pre-training in bf16: healthy, then the loss goes NaN at iteration 1460
    (the `lm loss` field vanishes, as Megatron prints a loss only when its mean is >= 0)."""
    rng = random.Random(1)
    lines = list(nccl_init("gpu-node07", 8))
    lines += ["> building GPT model ...", "[before the start of training step] datetime: 2025-03-04 09:00:00 "]
    when = START
    for step in range(10, 1600, 10):
        when += timedelta(seconds=15.3)
        if step < 1460:
            loss = loss_curve(step, rng)
            lines.append(megatron_line(when, step, 20000, loss, 0.9 + rng.random() * 0.3, 1.0,
                                       ms=1532.4 + rng.gauss(0, 8)))
        else:
            lines.append(megatron_line(when, step, 20000, None, "nan", 1.0))
        if step % 100 == 0:
            lines.append(f"(min, max) time across ranks (ms):\n    forward-backward ...............................: "
                         f"({14900 + rng.random() * 80:.2f}, {15010 + rng.random() * 80:.2f})")
    return lines


# --- Megatron-DeepSpeed, BigScience fork (bf16, seconds), with a restart ------------------------
def bloom_line(step: int, loss: float, grad: float, seconds: float) -> str:
    return (
        f"[default0]: iteration {step:8d}/  115311 | consumed samples: {step * 2048:12d} | "
        f"consumed tokens: {step * 2048 * 2048:12d} | elapsed time per iteration (s): {seconds:.2f} | "
        f"learning rate: {6e-5 * (1 - step / 230000):.3E} | global batch size:  2048 | lm loss: {loss:.6E} | "
        f"grad norm: {grad:.3f} | num zeros: 0.0 | number of skipped iterations:   0 | "
        f"number of nan iterations:   0 | samples per second: {2048 / seconds:.3f} | TFLOPs: {149.1 * 105.2 / seconds:.2f} |"
    )


def bloom_restart() -> list[str]:
    """BLOOM-style run: a node dies after iteration 12040, Slurm requeues, the run resumes from 12000."""
    rng = random.Random(2)
    lines = []
    for step in range(11900, 12041):
        lines.append(bloom_line(step, 2.21 + rng.gauss(0, 0.01), 0.2 + rng.random() * 0.05, 105.2 + rng.gauss(0, 0.3)))
    lines += [
        "[default0]: saving checkpoint at iteration   12000 to /gpfs/ckpt/tr11",
        "srun: error: jean-zay-iam13: task 3: Exited with exit code 1",
        "[default0]:  loading checkpoint from /gpfs/ckpt/tr11 at iteration 12000",
        "[default0]:  successfully loaded checkpoint from /gpfs/ckpt/tr11 at iteration 12000",
    ]
    for step in range(12001, 12101):
        lines.append(bloom_line(step, 2.21 + rng.gauss(0, 0.01), 0.2 + rng.random() * 0.05, 105.2 + rng.gauss(0, 0.3)))
    return lines


# --- Hugging Face Trainer + DeepSpeed fp16: an overflow storm -----------------------------------
def tqdm_bar(n: int, total: int, elapsed: float, rate: float, desc: str = "", postfix: str = "") -> str:
    width = 10
    filled = n * width // total
    bar = "█" * filled + " " * (width - filled)

    def clock(seconds: float) -> str:
        minutes, secs = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"

    remaining = (total - n) * rate
    text = f"{desc}{100 * n // total:3d}%|{bar}| {n}/{total} [{clock(elapsed)}<{clock(remaining)}, {rate:.2f}s/it"
    return text + (f", {postfix}]" if postfix else "]")


def deepspeed_line(when: datetime, source: str, message: str) -> str:
    return f"[{when:%Y-%m-%d %H:%M:%S},{when.microsecond // 1000:03d}] [INFO] [{source}] {message}"


def hf_deepspeed_overflow_storm() -> list[str]:
    """HF Trainer on DeepSpeed fp16: start-up loss-scale search (normal), then a storm from step 388 on
    that drives the scale to its minimum and stops the run."""
    rng = random.Random(3)
    lines = []
    when = START
    scale = 65536
    total = 1200
    for n in range(1, 401):
        when += timedelta(seconds=2.1)
        message = ""
        if (n <= 3 or n >= 388) and scale > 1:
            message = deepspeed_line(
                when, "loss_scaler.py:183:update_scale",
                f"[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: {scale}, reducing to {scale // 2}",
            )
            scale //= 2
        lines.append(tqdm_bar(n, total, n * 2.1, 2.1) + message)
        if n % 20 == 0 and n < 388:
            lines.append(" " * 60)
            lines.append(str({"loss": round(loss_curve(n, rng, 2.9, 1.6), 4), "grad_norm": round(0.8 + rng.random(), 4),
                              "learning_rate": 2e-4 * (1 - n / total), "epoch": round(n / 400, 2)}))
    lines.append("Current loss scale already at minimum - cannot decrease scale anymore. Exiting run.")
    return lines


def hf_trainer_healthy() -> list[str]:
    """A healthy HF Trainer fine-tune: training bar, log dicts, an evaluation, the final summary."""
    rng = random.Random(4)
    lines = ["***** Running training *****", "  Num examples = 12,800", "  Total optimization steps = 400"]
    for n in range(1, 401):
        lines.append(tqdm_bar(n, 400, n * 0.61, 0.61))
        if n % 25 == 0:
            lines.append(str({"loss": round(loss_curve(n, rng, 1.9, 0.9), 4), "grad_norm": round(0.5 + rng.random() * 0.2, 4),
                              "learning_rate": 5e-5 * (1 - n / 400), "epoch": round(n / 200, 2)}))
        if n == 200:
            for k in range(1, 26):
                lines.append(tqdm_bar(k, 25, k * 0.2, 0.2))
            lines.append(str({"eval_loss": 1.0132, "eval_runtime": 5.02, "eval_samples_per_second": 79.7,
                              "eval_steps_per_second": 4.98, "epoch": 1.0}))
    lines.append(str({"train_runtime": 251.4, "train_samples_per_second": 50.9, "train_steps_per_second": 1.59,
                      "train_loss": 1.1893, "epoch": 2.0}))
    return lines


# --- PyTorch Lightning: the loss goes NaN ---------------------------------------------------------
def lightning_nan() -> list[str]:
    """Lightning progress bar (redrawn with carriage returns): loss becomes nan in epoch 2."""
    rng = random.Random(5)
    lines = []
    for epoch in range(3):
        redraws = []
        for n in range(1, 51):
            loss = "nan" if (epoch == 2 and n >= 31) else f"{loss_curve(epoch * 50 + n, rng, 4.8, 1.2):.3f}"
            redraws.append(tqdm_bar(n, 50, n * 0.4, 0.4, desc=f"Epoch {epoch}: ", postfix=f"loss={loss}, v_num=3"))
        lines.append("\r".join(redraws))
        lines.append(tqdm_bar(8, 8, 1.1, 0.14, desc="Validation DataLoader 0: "))
    return lines


# --- torchtitan: healthy, four ranks, with colours ------------------------------------------------
def torchtitan_healthy() -> dict[str, list[str]]:
    """torchtitan Llama 3 8B on four GPUs, one log per rank; healthy."""
    colour = {"red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m", "blue": "\x1b[34m",
              "magenta": "\x1b[35m", "cyan": "\x1b[36m", "reset": "\x1b[39m"}
    files = {}
    for rank in range(4):
        rng = random.Random(60 + rank)
        lines = []
        when = START
        for step in range(1, 101):
            when += timedelta(seconds=1.12)
            loss = loss_curve(step * 4, rng, 12.0, 3.1)
            lines.append(
                f"[rank{rank}]:[titan] {when:%Y-%m-%d %H:%M:%S},{rank * 7 + step % 1000:03d} - root - INFO - "
                f"{colour['red']}step: {step:2}  {colour['green']}loss: {loss:8.5f}  "
                f"{colour['yellow']}grad_norm: {1.2 + rng.random() * 0.3:7.4f}  "
                f"{colour['blue']}memory: 61.27GiB(64.51%)  {colour['cyan']}tps: {7300 + rng.randint(-40, 40):,}  "
                f"{colour['magenta']}tflops: {381.20 + rng.random():,.2f}  {colour['magenta']}mfu: 38.54%{colour['reset']}"
            )
        files[f"torchtitan_llama3_8b/rank_{rank}.log"] = lines
    return files


# --- nanoGPT: fp16 NaN after a checkpoint ---------------------------------------------------------
def nanogpt_nan() -> list[str]:
    """nanoGPT GPT-2 124M in fp16: fine until the loss turns nan at iter 2340."""
    rng = random.Random(7)
    lines = ["tokens per iteration will be: 491,520", "Initializing a new model from scratch", "number of parameters: 123.59M"]
    for it in range(0, 2500, 10):
        if it % 500 == 0:
            lines.append(f"step {it}: train loss {loss_curve(it, rng, 10.9, 3.0):.4f}, val loss {loss_curve(it, rng, 10.9, 3.05):.4f}")
            lines.append("saving checkpoint to out")
        loss = "nan" if it >= 2340 else f"{loss_curve(it, rng, 10.9, 3.0):.4f}"
        mfu = "-100.00" if it < 50 else f"{15.3 + rng.random() * 0.1:.2f}"
        time_ms = 35000.0 if it % 500 == 0 and it else 1098 + rng.gauss(0, 2)
        lines.append(f"iter {it}: loss {loss}, time {time_ms:.2f}ms, mfu {mfu}%")
    return lines


# --- fairseq 0.9+: a mid-run overflow storm -----------------------------------------------------
def fairseq_overflow_storm() -> list[str]:
    """fairseq transformer fp16: routine overflow at 2300, then a storm driving the scale below 1."""
    rng = random.Random(8)
    lines = []
    when = START
    scale = 128.0
    for update in range(100, 3100, 100):
        when += timedelta(seconds=97)
        i = update // 100
        if update in (2300, 2900):
            for _ in range(1 if update == 2300 else 9):
                scale /= 2
                lines.append(f"{when:%Y-%m-%d %H:%M:%S} | INFO | fairseq.trainer | NOTE: overflow detected, setting loss scale to: {scale}")
        lines.append(
            f"{when:%Y-%m-%d %H:%M:%S} | INFO | train_inner | epoch 001:  {i * 100:5d} / 5000 "
            f"loss={loss_curve(update, rng, 11, 4.2):.3f}, nll_loss={loss_curve(update, rng, 10, 3.4):.3f}, ppl=21.4, "
            f"wps=30914.2, ups=1.03, wpb=30012, bsz=1024, num_updates={update}, lr=0.0005, gnorm={0.7 + rng.random():.3f}, "
            f"loss_scale={scale:g}, train_wall=96, gb_free=11.2, wall={update * 0.97:.0f}"
        )
    return lines


# --- MindFormers on Ascend: overflow ------------------------------------------------------------
def mindformers_overflow() -> list[str]:
    """MindFormers (MFLossMonitor) on Ascend 910B: overflow steps mid-run."""
    rng = random.Random(9)
    lines = []
    when = START
    for step in range(1, 61):
        when += timedelta(seconds=0.81)
        overflow = step in (40, 41, 42, 43)
        prefix = f"{when:%Y-%m-%d %H:%M:%S},{step * 13 % 1000:03d} - mindformers[mindformers/core/callback/callback.py:318] - INFO - "
        lines.append(
            prefix + f"{{ Epoch:[  1/  2], step:[{step:5d}/  500], loss: {loss_curve(step * 10, rng, 9.0, 2.5):5.3f}, "
            f"per_step_time: {812 + rng.randint(-5, 5)}ms, lr: 1e-05, overflow cond: {overflow}, "
            f"loss_scale: {65536.0 / (2 ** max(0, step - 39)) if 40 <= step <= 43 else 65536.0 if step < 40 else 4096.0}, "
            f"global_norm: [{0.9 + rng.random():.6f}], train_throughput_per_npu: 95.400T"
        )
        lines.append(prefix + f"{step / 5:4.1f}% |{'█' * (step // 10):50s}| 4.92611 samples/s/p  2:41:10 }}")
    return lines


# --- LLaMA-Factory trainer_log.jsonl: train loss collapses, eval loss NaN ------------------------
def llamafactory_jsonl() -> list[str]:
    """LLaMA-Factory's trainer_log.jsonl: the evaluation loss turns NaN at step 300."""
    rng = random.Random(10)
    lines = []
    for step in range(10, 410, 10):
        loss = round(loss_curve(step, rng, 2.4, 1.1), 4)
        lines.append(json.dumps({"current_steps": step, "total_steps": 4000, "loss": loss, "lr": 2e-5,
                                 "epoch": round(step / 1000, 4), "percentage": step / 40,
                                 "elapsed_time": f"0:{step // 10:02d}:00", "remaining_time": "3:10:00"}))
        if step % 100 == 0:
            eval_loss = float("nan") if step >= 300 else round(loss + 0.07, 4)
            lines.append(json.dumps({"current_steps": step, "total_steps": 4000, "eval_loss": eval_loss,
                                     "epoch": round(step / 1000, 4), "percentage": step / 40,
                                     "elapsed_time": f"0:{step // 10:02d}:30", "remaining_time": "3:09:30"}))
    return lines


# --- OLMo: healthy, multi-line metric blocks -------------------------------------------------------
def olmo_healthy() -> list[str]:
    """OLMo's console metrics: a header per step, then indented name=value lines."""
    rng = random.Random(11)
    lines = []
    when = START
    for step in range(1, 31):
        when += timedelta(seconds=39.3)
        loss = loss_curve(step * 30, rng, 11.2, 3.4)
        lines.append(f"{when:%Y-%m-%d %H:%M:%S}.{step * 37 % 1000:03d} node-a17:0  olmo.train:908  INFO    [step={step}/739328,epoch=0]")
        lines.append(f"    optim/total_grad_norm={1.4 + rng.random() * 0.4:.3f}")
        lines.append(f"    train/CrossEntropyLoss={loss:.3f}")
        lines.append(f"    train/Perplexity={math.exp(loss):,.1f}")
        lines.append(f"    throughput/device/tokens_per_second={26600 + rng.randint(0, 120):,}")
    return lines


# --- generic key=value lines, gzip-compressed --------------------------------------------------------
def generic_healthy() -> list[str]:
    """A hand-rolled training loop printing key=value pairs (no framework)."""
    rng = random.Random(12)
    return [f"step={s} loss={loss_curve(s * 5, rng, 5.0, 1.5):.4f} lr=0.0003 grad_norm={0.4 + rng.random() * 0.1:.3f}"
            for s in range(1, 201)]


# --- A GPU falls off the bus; every other rank then times out in NCCL --------------------------
def gpu_fell_off_bus() -> dict[str, list[str]]:
    """Megatron-LM on two 8-GPU nodes under Slurm and torchrun. At 10:01 the GPU of rank 2 on node07
    falls off the bus (kernel log: Xid 79); rank 2's NCCL watchdog dies on a CUDA error; the 15 other
    ranks hang in their all-reduce until the 30-minute NCCL timeout at 10:31, then torchrun and Slurm
    tear the job down. The root cause is the Xid; everything after it is a cascade.

    Layouts: NVRM Xid (open-gpu-kernel-modules kernel_rc.c) in journalctl short-iso form;
    ProcessGroupNCCL watchdog lines with PyTorch 2.4's c10 prefix; torch.distributed.elastic's
    `failed (exitcode: ...)` line and ChildFailedError summary; srun's task failure lines."""
    rng = random.Random(90)
    kernel = [
        "2025-03-04T09:58:12+0000 node07 kernel: nvidia-nvswitch: Probing device 0000:05:00.0",
        "2025-03-04T10:01:07+0000 node07 kernel: NVRM: GPU at PCI:0000:3b:00: GPU-6f3c21aa-0d4e-7b19-c2f8-1e95ab40d7c3",
        "2025-03-04T10:01:07+0000 node07 kernel: NVRM: GPU Board Serial Number: 1654921034417",
        "2025-03-04T10:01:07+0000 node07 kernel: NVRM: Xid (PCI:0000:3b:00): 79, pid=18234, name=python3, "
        "GPU has fallen off the bus.",
        "2025-03-04T10:01:07+0000 node07 kernel: NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.",
        "2025-03-04T10:01:09+0000 node07 kernel: NVRM: Xid (PCI:0000:3b:00): 79, pid=18234, name=python3, "
        "GPU has fallen off the bus.",
    ]
    job = ["srun: job 4242 queued and allocated nodes node07,node08", *nccl_init("node07", 8)]
    when = START
    for step in range(1, 62):
        when += timedelta(seconds=60 + rng.random())
        job.append(megatron_line(when, step * 10, 50000, loss_curve(step * 10, rng), 1.1 + rng.random() * 0.2,
                                 65536.0, ms=60012.4))
    job.append("[rank2]:[E304 10:01:08.001245117 ProcessGroupNCCL.cpp:1556] [PG 0 Rank 2] Process group watchdog "
               "thread terminated with exception: CUDA error: unknown error")
    job.append("[rank2]:Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.")
    for rank in [0, 1, *range(3, 16)]:
        job.append(
            f"[rank{rank}]:[E304 10:31:08.{412345678 + rank * 1013:09d} ProcessGroupNCCL.cpp:632] [Rank {rank}] "
            f"Watchdog caught collective operation timeout: WorkNCCL(SeqNum=61877, OpType=ALLREDUCE, "
            f"NumelIn=262144, NumelOut=262144, Timeout(ms)=1800000) ran for {1800040 + rank * 3} milliseconds "
            "before timing out."
        )
    job += [
        "W0304 10:31:14.101000 140213 torch/distributed/elastic/multiprocessing/api.py:897] Sending process 18232 "
        "closing signal SIGTERM",
        "E0304 10:31:15.443000 140213 torch/distributed/elastic/multiprocessing/api.py:869] failed (exitcode: -6) "
        "local_rank: 2 (pid: 18234) of binary: /usr/bin/python3",
        "Traceback (most recent call last):",
        '  File "/usr/local/bin/torchrun", line 8, in <module>',
        "    sys.exit(main())",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
        "=" * 60,
        "pretrain_gpt.py FAILED",
        "-" * 60,
        "Failures:",
        "  <NO_OTHER_FAILURES>",
        "-" * 60,
        "Root Cause (first observed failure):",
        "[0]:",
        "  time      : 2025-03-04_10:31:15",
        "  host      : node07",
        "  rank      : 2 (local_rank: 2)",
        "  exitcode  : -6 (pid: 18234)",
        "  error_file: <N/A>",
        "  traceback : Signal 6 (SIGABRT) received by PID 18234",
        "=" * 60,
        "srun: error: node07: task 0: Exited with exit code 1",
        "srun: error: node08: task 1: Exited with exit code 1",
    ]
    return {"gpu_fell_off_bus/node07-kern.log": kernel, "gpu_fell_off_bus/slurm-4242.out": job}


# --- The same GPU fails again after every restart: a persistent technical issue ---------------------
def persistent_ecc() -> dict[str, list[str]]:
    """Three attempts of one Megatron-LM job, requeued by Slurm into the same output file
    (`--open-mode=append`). Each time, GPU 0000:b7:00 on node12 reports an uncorrectable ECC error
    (Xid 48 in the kernel log; `CUDA error: uncorrectable ECC error encountered` on rank 5), the job
    dies, and the next attempt resumes from the last checkpoint, computing steps again.

    Layouts: Megatron-LM iteration lines with their timestamp, `saving checkpoint at iteration`;
    NVRM Xid in syslog form with the year (journalctl short-iso); Slurm's requeue and srun lines."""
    rng = random.Random(91)
    job: list[str] = []
    kernel: list[str] = ["2025-03-04T08:55:02+0000 node12 kernel: nvidia-nvswitch: Probing device 0000:05:00.0"]
    when = START
    attempts = [(1, 400, 300), (301, 700, 600), (601, 1000, None)]  # first step, failing step, last checkpoint
    for number, (first, last, checkpoint) in enumerate(attempts, 1):
        job.append(f"srun: job 7001 queued and allocated nodes node11,node12 (attempt {number})")
        when += timedelta(minutes=4)  # start-up: load the checkpoint, build the model
        for step in range(first, last + 1, 10):
            when += timedelta(seconds=10 * 3.0 + rng.random())
            job.append(megatron_line(when, step, 991, loss_curve(step, rng), 1.1 + rng.random() * 0.2,
                                     65536.0, ms=3012.4))
            if (step + 9) % 300 == 0:  # the interval ending at a multiple of 300
                job.append(f"saving checkpoint at iteration {step + 9:7d} to /ckpt/gpt-7b")
                when += timedelta(seconds=45)
                job.append(f"  successfully saved checkpoint from iteration {step + 9:7d} to /ckpt/gpt-7b")
        if checkpoint is None:
            continue
        fault_at = when + timedelta(seconds=12)
        kernel.append(f"{fault_at:%Y-%m-%dT%H:%M:%S}+0000 node12 kernel: NVRM: Xid (PCI:0000:b7:00): 48, pid={21400 + number}, "
                      "name=python3, Ch 00000008, DBE (double bit error) on the GPU memory.")
        job.append("[rank5]: Traceback (most recent call last):")
        job.append('[rank5]:   File "/opt/megatron/pretrain_gpt.py", line 233, in <module>')
        job.append("[rank5]:     pretrain(train_valid_test_datasets_provider, model_provider)")
        job.append("[rank5]: RuntimeError: CUDA error: uncorrectable ECC error encountered")
        job.append("srun: error: node12: task 5: Exited with exit code 1")
        job.append(f"slurmstepd: error: *** JOB 7001 ON node11 CANCELLED AT {fault_at + timedelta(seconds=30):%Y-%m-%dT%H:%M:%S} DUE TO NODE FAILURE ***")
        when = fault_at + timedelta(minutes=6)  # requeued
    return {"persistent_ecc/slurm-7001.out": job, "persistent_ecc/node12-kern.log": kernel}


FILES: dict[str, Callable[[], list[str]]] = {
    "megatron_gpt_bf16_nan.log": megatron_gpt_nan,
    "bloom_megatron_deepspeed_restart.log": bloom_restart,
    "hf_deepspeed_fp16_overflow_storm.log": hf_deepspeed_overflow_storm,
    "hf_trainer_healthy.log": hf_trainer_healthy,
    "lightning_nan.log": lightning_nan,
    "nanogpt_fp16_nan.log": nanogpt_nan,
    "fairseq_overflow_storm.log": fairseq_overflow_storm,
    "mindformers_910b_overflow.log": mindformers_overflow,
    "llamafactory_trainer_log.jsonl": llamafactory_jsonl,
    "olmo_healthy.log": olmo_healthy,
}
COMPRESSED = {"generic_loop_healthy.log.gz": generic_healthy}

# file → the (kind, code) of each event a scan should report, in order.
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "megatron_gpt_bf16_nan.log": [("nan", "LOSS-NAN"), ("nan", "NAN-DIVERGENCE")],
    "bloom_megatron_deepspeed_restart.log": [
        ("crash", "SRUN-TASK-FAILED"), ("restart", "RESUME-FROM-CHECKPOINT"), ("restart", "STEP-RESTART"),
    ],
    "hf_deepspeed_fp16_overflow_storm.log": [
        ("overflow", "LOSS-SCALE-SEARCH"), ("overflow", "LOSS-SCALE-STORM"), ("overflow", "LOSS-SCALE-COLLAPSE"),
    ],
    "hf_trainer_healthy.log": [],
    "lightning_nan.log": [("nan", "LOSS-NAN"), ("nan", "NAN-DIVERGENCE")],
    "nanogpt_fp16_nan.log": [("nan", "LOSS-NAN"), ("nan", "NAN-DIVERGENCE")],
    "fairseq_overflow_storm.log": [("overflow", "LOSS-SCALE-OVERFLOW"), ("overflow", "LOSS-SCALE-STORM")],
    "mindformers_910b_overflow.log": [("overflow", "LOSS-SCALE-STORM")],
    "llamafactory_trainer_log.jsonl": [("nan", "EVAL-LOSS-NAN")],
    "olmo_healthy.log": [],
    "generic_loop_healthy.log.gz": [],
    **{f"torchtitan_llama3_8b/rank_{r}.log": [] for r in range(4)},
    "persistent_ecc/node12-kern.log": [("device_fault", "XID-48")] * 2,
    "persistent_ecc/slurm-7001.out": [
        ("device_fault", "CUDA-ECC-UNCORRECTABLE"), ("crash", "PYTHON-EXCEPTION"), ("crash", "SRUN-TASK-FAILED"),
        ("crash", "SLURM-NODE-FAILURE"), ("restart", "STEP-RESTART"),
    ] * 2,
    "gpu_fell_off_bus/node07-kern.log": [("device_fault", "XID-79")],
    "gpu_fell_off_bus/slurm-4242.out": [
        ("device_fault", "CUDA-UNKNOWN-ERROR"), ("hang", "NCCL-WATCHDOG-TIMEOUT"), ("crash", "TORCHELASTIC-TEARDOWN"),
        ("crash", "TORCHRUN-SIGABRT"), ("hang", "UNFINISHED-RUN"), ("crash", "TORCHELASTIC-CHILD-FAILED"),
        ("crash", "SRUN-TASK-FAILED"),
    ],
}


def write_all(out: Path = OUT) -> list[Path]:
    """Write every sample log under `out`; return the paths written."""
    written = []
    files: dict[str, list[str]] = {name: make() for name, make in FILES.items()}
    files.update(torchtitan_healthy())
    files.update(gpu_fell_off_bus())
    files.update(persistent_ecc())
    for name, lines in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    for name, make in COMPRESSED.items():
        path = out / name
        path.write_bytes(gzip.compress(("\n".join(make()) + "\n").encode(), mtime=0))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path.relative_to(OUT.parent))
