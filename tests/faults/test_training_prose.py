"""Training prose: the NaN guards and checkpoint resumes frameworks print, and the planned exits.

The catalog entries in `training.json` with patterns carry their own samples and near
misses (checked by test_catalog.py); here the whole families are held to their promises:
a NaN guard never fires on a healthy or configuration line, a resume never fires on a
fresh start, the step or epoch a line prints is captured, and the planned-exit phrases
(`monitor/parsers/planned_exits.json`, not catalog entries: nothing failed) match their
samples, miss their near misses, stay linear-time and raise no fault.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

import monitor.parsers
from monitor.catalog import load, nested_repetition
from monitor.model import Kind, Role, Severity
from tests.conftest import fault_events

CATALOG = load()
TRAINING = [e for e in CATALOG.matchers if e.file == "training.json"]
NAN_GUARDS = [e for e in TRAINING if e.code == "NAN-GUARD"]
RESUMES = [e for e in TRAINING if e.code == "RESUME-FROM-CHECKPOINT"]
PLANNED = json.loads((Path(monitor.parsers.__file__).parent / "planned_exits.json").read_text(encoding="utf-8"))

HEALTHY = [
    "loss is not nan",
    "Loss is not NaN at step 1200",
    "  check_for_nan_in_loss_and_grad .................. True",
    "  nan_check_frequency ............................. 100",
    "  error_on_nan: true",
    "    terminate_on_nan: false",
    "Trainer(detect_anomaly=True, gradient_clip_val=1.0)",
    "export FLAGS_check_nan_inf=1",
    "{'loss': 1.2043, 'grad_norm': 0.8312, 'learning_rate': 1.9e-05, 'epoch': 0.42}",
    " iteration     1840/  500000 | lm loss: 2.411205E+00 | grad norm: 0.412 | number of nan iterations:   0 |",
    "Loading pretrained weights from bert-base-uncased",
    "2023-06-01 04:12:39 | INFO | fairseq.trainer | NOTE: gradient overflow detected, ignoring gradient, "
    "setting loss scale to: 32.0",
    "Epoch 00012: early stopping",
]

FRESH_STARTS = [
    "No checkpoint found, starting from scratch",
    "Training from scratch",
    "resume_from_checkpoint=None,",
    "  resume_from_checkpoint: null",
    "  --resume_from_checkpoint None",
    "Loading pretrained model from /models/llama-2-7b-hf",
    "Loading pretrained weights from bert-base-uncased",
    "[NeMo I 2024-05-02 11:40:02 megatron_gpt_pretraining:82] Resuming training from checkpoint: None",
    "2024/03/12 09:02:30 - mmengine - INFO - Auto resumed from the latest checkpoint None.",
    "[03/02 09:12:40 d2.engine.train_loop]: Starting training from iteration 0",
    "[03/02 09:12:31 d2.checkpoint.detection_checkpoint]: [DetectionCheckpointer] Loading from "
    "detectron2://ImageNetPretrained/MSRA/R-50.pkl ...",
    "[03/02 09:12:31 fvcore.common.checkpoint]: [Checkpointer] Loading from /models/R-50.pkl ...",
    "  successfully loaded checkpoint from /models/llama2-7b-mcore [ t 1/4, p 1/1 ] at iteration 0",
    " loading release checkpoint from /models/llama2-7b-mcore",
    "2023-06-01 03:02:11 | INFO | fairseq.trainer | Loaded checkpoint /models/bart.large/model.pt "
    "(epoch 1 @ 0 updates)",
    "[0312 09:14:02 @base.py:179] Start training with global_step=0",
    "[rank0]:[titan] 2025-03-04 10:02:11,204 - root - INFO - Loading the checkpoint at step 0.",
    "Resuming training from epoch 0",
    "INFO:tensorflow:Restoring parameters from /models/resnet_v1_50/model.ckpt",
]


def _hits(line: str, code: str) -> list[str]:
    return [h.matcher.id for h in CATALOG.match(line) if h.code == code]


def test_the_families_are_there_with_their_fields() -> None:
    assert len(NAN_GUARDS) >= 12 and len(RESUMES) >= 12
    for entry in NAN_GUARDS:
        assert (entry.kind, entry.severity, entry.role) == (Kind.NAN, Severity.parse("error"), Role.ROOT)
        assert entry.domain is not None and entry.domain.value == "workload"
    for entry in RESUMES:
        assert (entry.kind, entry.severity, entry.role, entry.domain) == (
            Kind.RESTART, Severity.parse("warning"), Role.CASCADE, None)


@pytest.mark.parametrize("line", HEALTHY)
def test_a_healthy_or_configuration_line_is_no_nan_guard(line: str) -> None:
    assert _hits(line, "NAN-GUARD") == []


@pytest.mark.parametrize("line", FRESH_STARTS)
def test_a_fresh_start_is_no_resume(line: str) -> None:
    assert _hits(line, "RESUME-FROM-CHECKPOINT") == []


@pytest.mark.parametrize(
    ("line", "group", "value"),
    [
        ("FloatingPointError: Loss became infinite or NaN at iteration=18233!", "step", "18233"),
        ("[rank3]: RuntimeError: Rank 3, node dgx-a-112, device 3, iteration 1841: Unexpected result nan "
         "(message='found NaN in local grad norm for bucket #0 in backward pass before data-parallel "
         "communication collective')", "step", "1841"),
        ("Batch 417: Invalid loss, terminating training", "batch", "417"),
        ("RuntimeError: Function 'MulBackward0' returned nan values in its 0th output.", "function", "MulBackward0"),
        ("  successfully loaded checkpoint from /lustre/ckpt/gpt3-15b [ t 2/8, gtp_remat 1/1, p 1/4 ] "
         "at iteration 48000", "step", "48000"),
        ("[INFO|trainer.py:2130] 2024-04-10 08:12:40,552 >>   Continuing training from global step 6500",
         "step", "6500"),
        ("2022-05-30 14:21:08,993 - mmdet - INFO - resumed epoch 7, iter 12831", "epoch", "7"),
        ("[2024-07-01 03:14:09,551] [INFO] [torch_checkpoint_engine.py:36:load] [Torch] Begin Load checkpoint from "
         "/ckpt/llama-13b/global_step4200/mp_rank_00_model_states.pt...", "step", "4200"),
        ("[03/02 09:12:31 fvcore.common.checkpoint]: [Checkpointer] Loading from ./output/model_0039999.pth ...",
         "step", "0039999"),
        ("2023-06-01 03:02:11 | INFO | fairseq.trainer | Loaded checkpoint checkpoints/x/checkpoint_last.pt "
         "(epoch 14 @ 52412 updates)", "step", "52412"),
    ],
)
def test_the_step_or_epoch_a_line_prints_is_captured(line: str, group: str, value: str) -> None:
    [hit] = [h for h in CATALOG.match(line) if h.matcher.file == "training.json"]
    assert hit.found.group(group) == value


def test_a_nan_guard_and_a_resume_become_events_with_their_details() -> None:
    events = fault_events(
        "[03/02 09:12:40 d2.engine.train_loop]: Starting training from iteration 40000\n"
        "Batch 417: Invalid loss, terminating training\n"
    )
    found = [(e.code, str(e.kind), (e.details or {}).get("step", (e.details or {}).get("batch"))) for e in events]
    assert found == [("RESUME-FROM-CHECKPOINT", "restart", 40000), ("NAN-GUARD", "nan", 417)]


PHRASES = PLANNED["phrases"]


def test_the_planned_exits_file_says_what_it_holds() -> None:
    assert PLANNED["description"] and len(PHRASES) >= 8
    for phrase in PHRASES:
        assert phrase["source"].startswith("https://") and phrase["samples"] and phrase["near_misses"]


@pytest.mark.parametrize("phrase", PHRASES, ids=lambda p: p["id"])
def test_each_planned_exit_matches_its_samples_and_no_near_miss(phrase: dict) -> None:
    pattern = re.compile(phrase["pattern"])
    assert not nested_repetition(phrase["pattern"])
    for sample in phrase["samples"]:
        assert pattern.search(sample), sample
    for near_miss in phrase["near_misses"]:
        assert not pattern.search(near_miss), near_miss


@pytest.mark.parametrize("phrase", PHRASES, ids=lambda p: p["id"])
def test_a_planned_exit_is_no_fault_and_no_resume(phrase: dict) -> None:
    for sample in phrase["samples"]:
        assert [h.matcher.id for h in CATALOG.match(sample) if h.matcher.file == "training.json"] == [], sample


@pytest.mark.parametrize("phrase", PHRASES, ids=lambda p: p["id"])
def test_a_planned_exit_pattern_stays_fast_on_a_long_near_line(phrase: dict) -> None:
    pattern = re.compile(phrase["pattern"])
    lines = [sample[:-1] + filler * 20_000 for sample in phrase["samples"] for filler in (" ", "a", "0", "[")]
    lines += [sample * 500 for sample in phrase["samples"]]
    started = time.perf_counter()
    for line in lines:
        pattern.search(line)
    assert time.perf_counter() - started < 1.0
