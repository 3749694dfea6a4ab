"""TensorBoard event files as inputs (monitor.sources.tfevents).

The fixtures were written by the real writers (scripts/make_tfevents_fixtures.py): torch's
`torch.utils.tensorboard.SummaryWriter` (legacy `simple_value` scalars: `train/loss` with a spike
at step 60 and NaN from step 90, `train/grad_norm`, `train/learning_rate`, `eval/loss` every 25
steps) and tensorboard's `EventFileWriter` with tensor-backed scalars (`loss`, 20 steps).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import monitor
from monitor.parsers.tensorboard import StepBuilder
from monitor.sources.tfevents import is_event_file, read_scalars
from monitor.sources.tfrecord import masked_crc

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCALARS = FIXTURES / "scalars.tfevents"
TENSORS = FIXTURES / "tensors.tfevents"


def records(path: Path) -> list:
    with path.open("rb") as stream:
        reading = read_scalars(stream)
    builder = StepBuilder(str(path))
    return builder.add(reading.scalars) + builder.flush()


def test_legacy_scalars_become_one_record_per_step() -> None:
    found = records(SCALARS)
    assert [r.step for r in found] == list(range(1, 121))
    first = found[0]
    assert first.loss == __import__("pytest").approx(3.0 * math.exp(-1 / 60) + 0.5, rel=1e-6)
    assert first.grad_norm is not None and first.lr is not None
    assert first.time == "2025-06-15T15:06:42+00:00"
    assert found[24].eval_loss is not None and found[23].eval_loss is None
    assert math.isnan(found[89].loss)


def test_tensor_backed_scalars_are_read() -> None:
    found = records(TENSORS)
    assert [r.step for r in found] == list(range(1, 21))
    assert found[-1].loss == 1.0


def test_the_scan_reports_the_spike_and_the_nan_at_their_steps(run_cli) -> None:
    result = run_cli("scan", "--format", "jsonl", SCALARS)
    events = [json.loads(line) for line in result.out.splitlines()]
    assert any(e["kind"] == "loss_spike" and e["step"] == 60 for e in events)
    assert any(e["code"] in ("LOSS-NAN", "NAN-DIVERGENCE") and e["step"] == 90 for e in events)
    assert result.code == 1


def test_a_directory_scan_reads_event_files_instead_of_skipping_them_as_binary(run_cli, tmp_path) -> None:
    shutil.copy(SCALARS, tmp_path / "events.out.tfevents.1750000000.host.1.0")
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01" * 100)
    result = run_cli("scan", "--format", "jsonl", tmp_path)
    assert {json.loads(line)["file"] for line in result.out.splitlines()} == {
        str(tmp_path / "events.out.tfevents.1750000000.host.1.0")
    }


def test_a_truncated_file_and_a_corrupt_record_keep_what_came_before(run_cli, tmp_path) -> None:
    data = SCALARS.read_bytes()
    cut = tmp_path / "cut.tfevents"
    cut.write_bytes(data[: len(data) * 3 // 4 + 5])  # in the middle of a record
    with cut.open("rb") as stream:
        reading = read_scalars(stream)
    assert reading.problem is None and 0 < reading.offset < len(data) * 3 // 4 + 5
    assert max(s.step for s in reading.scalars) >= 85
    bad = tmp_path / "bad.tfevents"
    corrupt = bytearray(data)
    corrupt[len(data) * 9 // 10] ^= 0xFF  # after the spike (step 60) and the NaN (step 90)
    bad.write_bytes(bytes(corrupt))
    result = run_cli("scan", "--format", "jsonl", bad)
    assert result.code != 2 and "corrupt record" in result.err and "everything before it was read" in result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    assert any(e["kind"] == "loss_spike" and e["step"] == 60 for e in events)  # before the corruption


def test_only_a_tfrecord_stream_is_taken_for_an_event_file() -> None:
    head = SCALARS.read_bytes()[:12]
    assert is_event_file(head)
    assert not is_event_file(b"step 1 loss 2.5\n")
    assert not is_event_file(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"\x00\x00\x00\x00")  # length without its CRC
    length = (16).to_bytes(8, "little")
    assert is_event_file(length + masked_crc(length).to_bytes(4, "little"))


def test_the_report_charts_the_event_file() -> None:
    from monitor.report.analysis import build_report

    report = build_report(monitor.load(str(SCALARS)))
    assert len(report["health"]["series"]["loss"]) > 50
