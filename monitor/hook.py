"""`monitor.hook`: one call per training step, for loops that can call it; no dependencies.

    import monitor.hook
    for step, batch in enumerate(loader):
        loss = train_step(batch)
        monitor.hook.step(step, loss=loss.item(), lr=sched.get_last_lr()[0])

Each call appends one JSON line (`{"time": ..., "step": ..., "loss": ...}`) to a file per rank:
the path given to `configure(path=...)` or in `MONITOR_HOOK_FILE`, where `{rank}` is replaced by
the rank (`RANK`, else 0); by default `monitor-hook-rank{rank}.jsonl` in the working directory.
`monitor scan` and `monitor tail` read that file as any other log: exact steps, no parsing guess.
`heartbeat()` says the loop is alive between steps (an evaluation, a long data wait).

Writing never blocks and never raises into the training loop: lines go to a bounded queue that a
background thread writes out; when the queue is full, or the file cannot be written, lines are
dropped and counted (`dropped`, `errors`). `close()` (also run at exit) writes what is queued.

`huggingface_callback()` and `lightning_callback()` build a Trainer callback on the same hook,
importing their framework only when called.
"""

from __future__ import annotations

import atexit
import collections
import json
import math
import os
import threading
import time
from typing import Any

PATH_ENV = "MONITOR_HOOK_FILE"
DEFAULT_PATH = "monitor-hook-rank{rank}.jsonl"
MAX_QUEUED = 10_000
FLUSH_EVERY_S = 0.2


class Hook:
    """A per-rank JSON-lines writer that the training loop can never be slowed or broken by."""

    def __init__(self, path: str | None = None, rank: int | None = None, max_queued: int = MAX_QUEUED) -> None:
        if rank is None:
            try:
                rank = int(os.environ.get("RANK", "0"))
            except ValueError:
                rank = 0
        template = path or os.environ.get(PATH_ENV) or DEFAULT_PATH
        self.path = template.replace("{rank}", str(rank))
        self.rank = rank
        self.dropped = 0
        self.errors = 0
        self.last_step: int | None = None
        self._queue: collections.deque[str] = collections.deque()
        self._max = max_queued
        self._wake = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._run, name="monitor-hook", daemon=True)
        self._writer.start()

    def step(self, step: int, loss: float | None = None, **metrics: Any) -> None:
        """Record one training step: its number, the loss and any other metrics (numbers)."""
        try:
            number = int(step)
            parts = [f'{{"time": "{_now()}", "step": {number}']
            if loss is not None:
                parts.append(f'"loss": {_json_number(loss)}')
            for name, value in metrics.items():  # keyword names: identifiers, nothing to escape
                parts.append(f'"{name}": {_json_number(value)}')
            self.last_step = number
            self._put(", ".join(parts) + "}")
        except Exception:  # noqa: BLE001 - a bad metric must never reach the training loop
            self.errors += 1

    def heartbeat(self) -> None:
        """Say the loop is alive (between steps: evaluation, checkpointing, a slow batch)."""
        try:
            record: dict[str, Any] = {"time": _now(), "event": "heartbeat"}
            if self.last_step is not None:
                record["last_step"] = self.last_step
            self._put(json.dumps(record))
        except Exception:  # noqa: BLE001
            self.errors += 1

    def _put(self, line: str) -> None:
        if self._closed or len(self._queue) >= self._max:
            self.dropped += 1
            return
        self._queue.append(line)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_EVERY_S)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            lines = []
            while self._queue:
                lines.append(self._queue.popleft())
            if not lines:
                return
            try:
                with open(self.path, "a", encoding="utf-8") as out:
                    out.write("\n".join(lines) + "\n")
            except OSError:
                self.errors += 1
                self.dropped += len(lines)

    def close(self) -> None:
        """Write what is queued and stop the writer (further calls are dropped)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._writer.join(timeout=2.0)
        self._drain()


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text (formatting is the costly part)


def _now() -> str:
    """The time now, RFC 3339 in UTC with milliseconds."""
    now = time.time()
    whole = int(now)
    if _second[0] != whole:
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"


def _json_number(value: Any) -> str:
    """A metric as JSON text: tensors and numpy scalars by their value; non-finite as the contract's
    strings ("nan", "inf", "-inf")."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, int):
        return str(int(value))
    number = float(value)
    return repr(number) if math.isfinite(number) else f'"{number}"'



_default: Hook | None = None
_default_lock = threading.Lock()


def configure(path: str | None = None, rank: int | None = None) -> Hook:
    """Start (or restart) the module's hook with this path and rank."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = Hook(path, rank)
        return _default


def _hook() -> Hook:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Hook()
    return _default


def step(step: int, loss: float | None = None, **metrics: Any) -> None:
    """Record one training step on the module's hook (see `Hook.step`)."""
    _hook().step(step, loss, **metrics)


def heartbeat() -> None:
    """Say the loop is alive, on the module's hook (see `Hook.heartbeat`)."""
    _hook().heartbeat()


def close() -> None:
    """Write what is queued (also done at exit)."""
    if _default is not None:
        _default.close()


atexit.register(close)


def huggingface_callback(hook: Hook | None = None) -> Any:
    """A `transformers.TrainerCallback` that records every logged step and a heartbeat per step:
    `Trainer(..., callbacks=[monitor.hook.huggingface_callback()])`."""
    from transformers import TrainerCallback

    target = hook or _hook()

    class MonitorCallback(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            target.heartbeat()

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            values = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float)) and k != "step"}
            if "loss" in values or "grad_norm" in values:
                target.step(state.global_step, **values)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            target.close()

    return MonitorCallback()


def lightning_callback(hook: Hook | None = None) -> Any:
    """A Lightning `Callback` that records each training batch's step and loss:
    `Trainer(callbacks=[monitor.hook.lightning_callback()])`."""
    try:
        from lightning.pytorch.callbacks import Callback
    except ImportError:
        from pytorch_lightning.callbacks import Callback

    target = hook or _hook()

    class MonitorCallback(Callback):  # type: ignore[misc]
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            target.step(trainer.global_step, loss=None if loss is None else loss)

        def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
            target.heartbeat()

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            target.close()

    return MonitorCallback()
