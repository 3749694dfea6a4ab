"""Write the TensorBoard event files the tests read, with the real writers.

Run with a Python that has torch and tensorboard installed (a CPU build is enough):

    python scripts/make_tfevents_fixtures.py tests/sources/fixtures

- `scalars.tfevents`: torch.utils.tensorboard.SummaryWriter (legacy `simple_value` scalars):
  `train/loss` falling from 3.0, a spike at step 60, NaN at step 90 on; `train/grad_norm`,
  `train/learning_rate`, and `eval/loss` every 25 steps.
- `tensors.tfevents`: tensorboard's own tf.summary-compatible writer with tensor-backed scalars
  (`tensorboard.summary.writer` + `tensorboard.compat.proto`), `loss` over 20 steps.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from pathlib import Path


def legacy(out: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with tempfile.TemporaryDirectory() as tmp:
        writer = SummaryWriter(log_dir=tmp)
        for step in range(1, 121):
            loss = 3.0 * math.exp(-step / 60) + 0.5
            if step == 60:
                loss *= 6
            if step >= 90:
                loss = float("nan")
            writer.add_scalar("train/loss", loss, step, walltime=1_750_000_000 + 2.0 * step)
            writer.add_scalar("train/grad_norm", 1.0 + (step % 7) / 10, step, walltime=1_750_000_000 + 2.0 * step)
            writer.add_scalar("train/learning_rate", 3e-4, step, walltime=1_750_000_000 + 2.0 * step)
            if step % 25 == 0:
                writer.add_scalar("eval/loss", loss + 0.1, step, walltime=1_750_000_000 + 2.0 * step)
        writer.close()
        [written] = Path(tmp).glob("events.out.tfevents.*")
        shutil.copy(written, out / "scalars.tfevents")


def tensors(out: Path) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    with tempfile.TemporaryDirectory() as tmp:
        writer = EventFileWriter(tmp)
        for step in range(1, 21):
            tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[2.0 - step / 20])
            metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(
                plugin_name="scalars"))
            value = summary_pb2.Summary.Value(tag="loss", tensor=tensor, metadata=metadata)
            writer.add_event(event_pb2.Event(wall_time=1_750_000_000 + step, step=step,
                                             summary=summary_pb2.Summary(value=[value])))
        writer.close()
        [written] = Path(tmp).glob("events.out.tfevents.*")
        shutil.copy(written, out / "tensors.tfevents")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/sources/fixtures")
    target.mkdir(parents=True, exist_ok=True)
    legacy(target)
    tensors(target)
