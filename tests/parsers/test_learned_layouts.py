"""Progress lines of frameworks the project has no dedicated parser for: the "learned layout" parser.

Each test feeds a few lines in the exact layout one framework prints (labels, separators,
padding and number formats taken from the print/log statement in that framework's source,
cited in the test's docstring as repo path:line @ commit) and checks the StepRecords the
full parser set makes of them. The values in the lines are made up; no line is copied
from a real log. Several layouts sit behind a launcher or rank prefix (`[default0]:`,
`[rank1]:`, `worker-3: `, `[1744] `), and many include the non-finite loss or gradient
norm the framework prints (`nan`, `-nan`, `inf`).

Conventions asserted: `step` is the printed step/iteration/update counter (the in-epoch
index for per-epoch batch counters, with `epoch` and `total_steps` from the same
counter); `loss` is the main training loss (a key exactly `loss` wins over components;
else total_loss / xent / cost / cross-entropy names; log(ppl) when only perplexity is
printed); evaluation lines carry `eval_loss` and no `loss`; times are seconds per step.

The near-miss tests at the end are lines that mention a step and a loss in prose or in a
configuration dump and must give no record.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from pytest import approx

from tests.conftest import events_both_ways, scan_one_way, steps


def lines(*rows: str) -> str:
    return "\n".join(rows)


# --- OpenNMT-py -------------------------------------------------------------------------------


def test_opennmt_py_step_layout() -> None:
    """OpenNMT-py, OpenNMT/OpenNMT-py onmt/utils/statistics.py:125 @ 97111d97 (logger format
    onmt/utils/logging.py:16). `Step i/N; acc; ppl; xent; lr; ...` with `;` separators and a
    padded total; the loss is xent."""
    records = steps(
        lines(
            "[2024-06-27 10:11:12,345 INFO] Step 100/10000; acc: 45.1; ppl: 120.5; xent: 4.8; lr: 0.00070; "
            "sents:    2048; bsz: 1500/1600/64; 12345/13456 tok/s;     30 sec;",
            "[2024-06-27 10:11:42,101 INFO] Step 200/10000; acc: 52.3; ppl:  60.2; xent: 4.1; lr: 0.00099; "
            "sents:    2112; bsz: 1480/1590/66; 12410/13502 tok/s;     61 sec;",
            "[2024-06-27 10:12:12,877 INFO] Step 300/10000; acc:  0.0; ppl:   nan; xent: nan; lr: 0.00121; "
            "sents:    2080; bsz: 1490/1601/65; 12388/13470 tok/s;     91 sec;",
        )
    )
    assert [r.step for r in records] == [100, 200, 300]
    assert {r.total_steps for r in records} == {10000}
    assert records[0].loss == approx(4.8)
    assert records[1].loss == approx(4.1)
    assert records[0].lr == approx(0.0007)
    assert math.isnan(records[2].loss)


def test_opennmt_py_old_epoch_layout() -> None:
    """OpenNMT-py (2018), OpenNMT/OpenNMT-py onmt/Trainer.py:69 @ 847a0986. `Epoch %2d, %5d/%5d;`
    per-epoch batch counter with acc/ppl/xent and src/tgt tok/s."""
    records = steps(
        lines(
            "Epoch  1,    50/ 1000; acc:  12.35; ppl: 1234.57; xent:   7.12;  3456 src tok/s; "
            "3210 tgt tok/s;     12 s elapsed",
            "Epoch  1,   100/ 1000; acc:  18.02; ppl: 456.78; xent:   6.12;  3501 src tok/s; "
            "3288 tgt tok/s;     25 s elapsed",
            "Epoch  1,   150/ 1000; acc:   0.00; ppl:    nan; xent:    nan;  3490 src tok/s; "
            "3276 tgt tok/s;     37 s elapsed",
        )
    )
    assert [r.step for r in records] == [50, 100, 150]
    assert {r.epoch for r in records} == {1.0}
    assert {r.total_steps for r in records} == {1000}
    assert [r.loss for r in records[:2]] == [approx(7.12), approx(6.12)]
    assert math.isnan(records[2].loss)


# --- OpenMMLab ----------------------------------------------------------------------------------


def test_mmengine_epoch_based_train_lines() -> None:
    """mmengine, open-mmlab/mmengine mmengine/runner/log_processor.py:193 (and :215-246) @ 25434293;
    logger format mmengine/logging/logger.py:79. `Epoch(train)  [e][ i/n]` then two-space
    separated `key: value` items; `loss` wins over `loss_cls`/`loss_bbox`."""
    records = steps(
        lines(
            "2025/10/27 10:11:12 - mmengine - INFO - Epoch(train)  [1][ 50/500]  lr: 2.0000e-02  eta: 1:23:45  "
            "time: 0.8167  data_time: 0.0123  memory: 4521  grad_norm: 5.1234  loss: 1.2345  loss_cls: 0.8765  "
            "loss_bbox: 0.3580",
            "2025/10/27 10:11:53 - mmengine - INFO - Epoch(train)  [1][100/500]  lr: 2.0000e-02  eta: 1:22:58  "
            "time: 0.8101  data_time: 0.0119  memory: 4521  grad_norm: 4.8765  loss: 1.1021  loss_cls: 0.7788  "
            "loss_bbox: 0.3233",
            "2025/10/27 10:12:34 - mmengine - INFO - Epoch(train)  [1][150/500]  lr: 2.0000e-02  eta: 1:22:11  "
            "time: 0.8122  data_time: 0.0120  memory: 4521  grad_norm: nan  loss: nan  loss_cls: nan  "
            "loss_bbox: nan",
        )
    )
    assert [r.step for r in records] == [50, 100, 150]
    assert {r.epoch for r in records} == {1.0}
    assert {r.total_steps for r in records} == {500}
    first = records[0]
    assert (first.loss, first.grad_norm, first.lr) == (approx(1.2345), approx(5.1234), approx(0.02))
    assert first.step_time_s == approx(0.8167)
    assert math.isnan(records[2].loss) and math.isnan(records[2].grad_norm)


def test_mmengine_iter_based_train_lines_behind_rank_prefix() -> None:
    """mmengine, open-mmlab/mmengine mmengine/runner/log_processor.py:202 @ 25434293. `Iter(train)
    [  i/N]` with a global iteration right-aligned to the width of max_iters; here behind a
    torchrun `[rank1]:` prefix."""
    records = steps(
        lines(
            "[rank1]:2025/10/27 10:11:12 - mmengine - INFO - Iter(train) [  100/80000]  lr: 1.0000e-02  "
            "eta: 8:01:02  time: 0.3612  data_time: 0.0081  memory: 6120  loss: 2.3456  decode.loss_ce: 2.3456  "
            "decode.acc_seg: 12.3456",
            "[rank1]:2025/10/27 10:11:48 - mmengine - INFO - Iter(train) [  200/80000]  lr: 9.9800e-03  "
            "eta: 8:00:21  time: 0.3598  data_time: 0.0079  memory: 6120  loss: 2.0123  decode.loss_ce: 2.0123  "
            "decode.acc_seg: 25.0101",
            "[rank1]:2025/10/27 10:12:24 - mmengine - INFO - Iter(train) [  300/80000]  lr: 9.9700e-03  "
            "eta: 7:59:40  time: 0.3605  data_time: 0.0080  memory: 6120  loss: nan  decode.loss_ce: nan  "
            "decode.acc_seg: 0.0000",
        )
    )
    assert [r.step for r in records] == [100, 200, 300]
    assert {r.total_steps for r in records} == {80000}
    assert {r.rank for r in records} == {1}
    assert records[1].loss == approx(2.0123)
    assert records[1].lr == approx(9.98e-3)
    assert records[0].step_time_s == approx(0.3612)
    assert math.isnan(records[2].loss)


def test_mmcv_runner_text_logger() -> None:
    """mmcv runner (1.x), open-mmlab/mmcv mmcv/runner/hooks/logger/text.py:140-181 @ 0fe1c647.
    `Epoch [e][i/n]` then a tab and `, `-separated items; the eta may itself contain a comma
    (`1 day, 2:03:04`); `loss` comes after the component losses."""
    records = steps(
        lines(
            "2022-08-22 10:11:12,345 - mmdet - INFO - Epoch [1][50/7330]\tlr: 1.996e-03, eta: 1 day, 2:03:04, "
            "time: 0.512, data_time: 0.051, memory: 4520, loss_rpn_cls: 0.5432, loss_rpn_bbox: 0.0987, "
            "loss_cls: 1.2345, acc: 85.1234, loss_bbox: 0.3456, loss: 2.2220, grad_norm: 9.8765",
            "2022-08-22 10:11:38,001 - mmdet - INFO - Epoch [1][100/7330]\tlr: 3.996e-03, eta: 1 day, 2:01:10, "
            "time: 0.509, data_time: 0.047, memory: 4520, loss_rpn_cls: 0.4012, loss_rpn_bbox: 0.0901, "
            "loss_cls: 1.0011, acc: 86.0101, loss_bbox: 0.3302, loss: 1.8226, grad_norm: 8.1234",
            "2022-08-22 10:12:03,771 - mmdet - INFO - Epoch [1][150/7330]\tlr: 5.996e-03, eta: 1 day, 2:00:02, "
            "time: 0.511, data_time: 0.049, memory: 4520, loss_rpn_cls: nan, loss_rpn_bbox: nan, "
            "loss_cls: nan, acc: 0.0000, loss_bbox: nan, loss: nan, grad_norm: nan",
        )
    )
    assert [r.step for r in records] == [50, 100, 150]
    assert {r.epoch for r in records} == {1.0}
    assert {r.total_steps for r in records} == {7330}
    first = records[0]
    assert (first.loss, first.grad_norm, first.lr) == (approx(2.222), approx(9.8765), approx(1.996e-3))
    assert first.step_time_s == approx(0.512)
    assert math.isnan(records[2].loss) and math.isnan(records[2].grad_norm)


# --- TensorFlow ---------------------------------------------------------------------------------


def test_tf_slim_global_step_lines() -> None:
    """TF-Slim, google-research/tf-slim tf_slim/learning.py:514 @ 1287b1ef (same statement as
    tensorflow/contrib/slim/python/slim/learning.py). `global step N: loss = X (Y sec/step)`."""
    records = steps(
        lines(
            "INFO:tensorflow:global step 100: loss = 2.3456 (0.512 sec/step)",
            "INFO:tensorflow:global step 200: loss = 1.9876 (646.632 sec/step)",
            "INFO:tensorflow:global step 300: loss = nan (0.498 sec/step)",
        )
    )
    assert [r.step for r in records] == [100, 200, 300]
    assert [r.loss for r in records[:2]] == [approx(2.3456), approx(1.9876)]
    assert records[0].step_time_s == approx(0.512)
    assert records[1].step_time_s == approx(646.632)
    assert math.isnan(records[2].loss)


def test_tf_estimator_logging_tensor_hook() -> None:
    """TF Estimator, tensorflow/estimator tensorflow_estimator/python/estimator/estimator.py:1417 @ 26a7dc2e
    (LoggingTensorHook of {'loss', 'step'}); the line is written by LoggingTensorHook._log_tensors
    in tensorflow/tensorflow tensorflow/python/training/basic_session_run_hooks.py @ 0f4829a1
    (`"%s (%.3f sec)"` over `tag = value` pairs). `loss = X, step = N`; the first has no time; the
    `global_step/sec` lines between them are no step records."""
    records = steps(
        lines(
            "INFO:tensorflow:loss = 2.3025851, step = 0",
            "INFO:tensorflow:global_step/sec: 9.87654",
            "INFO:tensorflow:loss = 0.6931472, step = 100 (10.125 sec)",
            "INFO:tensorflow:global_step/sec: 10.1234",
            "INFO:tensorflow:loss = nan, step = 200 (9.877 sec)",
        )
    )
    assert [r.step for r in records] == [0, 100, 200]
    assert [r.loss for r in records[:2]] == [approx(2.3025851), approx(0.6931472)]
    assert math.isnan(records[2].loss)


def test_tf_estimator_eval_dict() -> None:
    """TF Estimator evaluation, tensorflow/estimator tensorflow_estimator/python/estimator/estimator.py:2083
    (with _dict_to_str at :2070) @ 26a7dc2e. `Saving dict for global step N: k = v, ...` sorted keys;
    an evaluation record."""
    [r] = steps(
        "INFO:tensorflow:Saving dict for global step 1000: accuracy = 0.9123, global_step = 1000, loss = 0.28765"
    )
    assert (r.step, r.eval_loss, r.loss) == (1000, approx(0.28765), None)


# --- Keras --------------------------------------------------------------------------------------


def test_keras_progbar_with_epoch_header() -> None:
    """Keras 2.x, keras-team/keras keras/utils/generic_utils.py:223-276 (Progbar.update) and
    keras/callbacks.py:1090 (`Epoch e/E`) @ a78c8d81. Bar lines `i/n [===>...] - ETA: ... - loss: ...`;
    the epoch's last bar has `- 49s 31ms/step` and the val_ metrics."""
    records = steps(
        lines(
            "Epoch 2/10",
            " 400/1563 [======>.......................] - ETA: 41s - loss: 1.5234 - accuracy: 0.4456",
            " 800/1563 [==============>...............] - ETA: 25s - loss: 1.4876 - accuracy: 0.4610",
            "1563/1563 [==============================] - 49s 31ms/step - loss: 1.4123 - accuracy: 0.4890 "
            "- val_loss: 1.3456 - val_accuracy: 0.5123",
            "Epoch 3/10",
            " 400/1563 [======>.......................] - ETA: 40s - loss: nan - accuracy: 0.1000",
        )
    )
    assert [r.step for r in records] == [400, 800, 1563, 400]
    assert [r.epoch for r in records] == [2.0, 2.0, 2.0, 3.0]
    assert {r.total_steps for r in records} == {1563}
    end = records[2]
    assert (end.loss, end.eval_loss) == (approx(1.4123), approx(1.3456))
    assert end.step_time_s == approx(0.031)
    assert records[0].loss == approx(1.5234)
    assert math.isnan(records[3].loss)


# --- llm.c --------------------------------------------------------------------------------------


def test_llm_c_cuda_step_line() -> None:
    """llm.c, karpathy/llm.c train_gpt2.cu:1872 @ f1e2ace6. `step %4d/%d | loss %7.6f (%+.2fz)| norm
    %6.4f (%+.2fz)| lr %.2e | %.2f ms | %.1f%% bf16 MFU | %.0f tok/s`; a nan loss prints as
    `    nan (+nanz)`."""
    records = steps(
        lines(
            "step    1/74 | loss 11.012345 (+0.00z)| norm 15.2345 (+0.00z)| lr 3.00e-04 | 36.58 ms "
            "| 9.2% bf16 MFU | 112241 tok/s",
            "step    2/74 | loss 10.456789 (-1.23z)| norm 8.1234 (-0.87z)| lr 3.00e-04 | 35.12 ms "
            "| 9.6% bf16 MFU | 116789 tok/s",
            "step    3/74 | loss     nan (+nanz)| norm    nan (+nanz)| lr 3.00e-04 | 36.01 ms "
            "| 9.3% bf16 MFU | 113890 tok/s",
        )
    )
    assert [r.step for r in records] == [1, 2, 3]
    assert {r.total_steps for r in records} == {74}
    first = records[0]
    assert (first.loss, first.grad_norm, first.lr) == (approx(11.012345), approx(15.2345), approx(3e-4))
    assert first.step_time_s == approx(0.03658)
    assert first.tokens_per_s == approx(112241)
    assert math.isnan(records[2].loss) and math.isnan(records[2].grad_norm)


def test_llm_c_cpu_reference_step_line() -> None:
    """llm.c CPU reference, karpathy/llm.c train_gpt2.c:1171 (`step %d: train loss %f (took %f ms)`)
    and :1122 (`val loss %f`) @ f1e2ace6. The step line's time is per step, in ms."""
    records = steps(
        lines(
            "val loss 5.325521",
            "step 0: train loss 5.356086 (took 1234.567890 ms)",
            "step 1: train loss 4.301234 (took 1201.123456 ms)",
            "step 2: train loss -nan (took 1199.876543 ms)",
        )
    )
    train = [r for r in records if not r.is_eval]
    assert [r.step for r in train] == [0, 1, 2]
    assert train[0].loss == approx(5.356086)
    assert train[0].step_time_s == approx(1.23456789)
    assert math.isnan(train[2].loss)


# --- Marian -------------------------------------------------------------------------------------


def test_marian_training_lines() -> None:
    """Marian, marian-nmt/marian-dev src/training/scheduler.h:559 (with --lr-report) @ c9f287db; time
    prefix src/common/logging.cpp. `Ep. e : Up. N : Sen. 128,000 : Cost X : Time Ys : W words/s :
    gNorm G : L.r. R`, fields separated by ` : `, sentence counts with thousands commas."""
    records = steps(
        lines(
            "[2025-06-23 10:11:12] Ep. 1 : Up. 1000 : Sen. 128,000 : Cost 5.21034031 : Time 61.20s "
            ": 9021.40 words/s : gNorm 1.2345 : L.r. 3.0000e-04",
            "[2025-06-23 10:12:13] Ep. 1 : Up. 2000 : Sen. 256,512 : Cost 4.10203347 : Time 60.85s "
            ": 9102.77 words/s : gNorm 0.9876 : L.r. 3.0000e-04",
            "[2025-06-23 10:13:13] Ep. 2 : Up. 3000 : Sen. 12,800 : Cost nan : Time 59.99s "
            ": 9000.12 words/s : gNorm nan : L.r. 3.0000e-04",
        )
    )
    assert [r.step for r in records] == [1000, 2000, 3000]
    assert [r.epoch for r in records] == [1.0, 1.0, 2.0]
    first = records[0]
    assert (first.loss, first.grad_norm, first.lr) == (approx(5.21034031), approx(1.2345), approx(3e-4))
    assert first.tokens_per_s == approx(9021.40)
    assert math.isnan(records[2].loss) and math.isnan(records[2].grad_norm)


def test_marian_cost_with_label_counts() -> None:
    """Marian, marian-nmt/marian-dev src/training/scheduler.h:570 (no --lr-report) with formatLoss
    at :104-114 (ce-sum with --disp-label-counts) @ c9f287db. `Cost X * labels @ batch after total`:
    the loss is the per-label cost X."""
    records = steps(
        lines(
            "[2025-06-23 10:11:12] Ep. 1 : Up. 500 : Sen. 64,000 : Cost 2.45678901 * 1,234,567 @ 4,321 "
            "after 98,765,432 : Time 30.12s : 40987.65 words/s : gNorm 0.8765",
            "[2025-06-23 10:11:42] Ep. 1 : Up. 1000 : Sen. 128,000 : Cost 2.30123456 * 1,229,876 @ 4,188 "
            "after 197,530,864 : Time 30.05s : 40931.10 words/s : gNorm 0.8123",
        )
    )
    assert [r.step for r in records] == [500, 1000]
    assert [r.loss for r in records] == [approx(2.45678901), approx(2.30123456)]
    assert records[1].grad_norm == approx(0.8123)


def test_marian_validation_lines() -> None:
    """Marian validation, marian-nmt/marian-dev src/training/scheduler.h:370 (`new best`) and :362
    (`stalled n times`) @ c9f287db, `[valid]` prefix from src/common/logging.cpp:98. Evaluation
    records: the cross-entropy is the eval loss."""
    records = steps(
        lines(
            "[2025-06-23 10:20:00] [valid] Ep. 2 : Up. 80000 : cross-entropy : 53.9012 : new best",
            "[2025-06-23 11:20:00] [valid] Ep. 3 : Up. 90000 : cross-entropy : 54.1234 : stalled 1 times "
            "(last best: 53.9012)",
        )
    )
    assert [(r.step, r.eval_loss, r.loss) for r in records] == [
        (80000, approx(53.9012), None),
        (90000, approx(54.1234), None),
    ]


# --- detection / vision -------------------------------------------------------------------------


def test_detectron2_common_metric_printer() -> None:
    """detectron2, facebookresearch/detectron2 detectron2/utils/events.py:275 (CommonMetricPrinter)
    @ 02b5c4e2; file format detectron2/utils/logger.py:79. `eta: ...  iter: N  total_loss: X  loss_*:
    ...  time: T  ...  lr: R  max_mem: 9390M`; the loss is total_loss."""
    records = steps(
        lines(
            "[06/06 10:11:12] d2.utils.events INFO:  eta: 1:02:03  iter: 19  total_loss: 2.345  loss_cls: 1.234  "
            "loss_box_reg: 0.5678  loss_rpn_cls: 0.4321  loss_rpn_loc: 0.1101  time: 0.4523  last_time: 0.4410  "
            "data_time: 0.0123  last_data_time: 0.0101   lr: 0.00039962  max_mem: 9390M",
            "[06/06 10:11:21] d2.utils.events INFO:  eta: 1:01:55  iter: 39  total_loss: 1.987  loss_cls: 0.9876  "
            "loss_box_reg: 0.5012  loss_rpn_cls: 0.3456  loss_rpn_loc: 0.1523  time: 0.4511  last_time: 0.4489  "
            "data_time: 0.0119  last_data_time: 0.0098   lr: 0.00079922  max_mem: 9390M",
            "[06/06 10:11:30] d2.utils.events INFO:  eta: 1:01:46  iter: 59  total_loss: nan  loss_cls: nan  "
            "loss_box_reg: nan  loss_rpn_cls: nan  loss_rpn_loc: nan  time: 0.4507  last_time: 0.4501  "
            "data_time: 0.0118  last_data_time: 0.0110   lr: 0.0011988  max_mem: 9390M",
        )
    )
    assert [r.step for r in records] == [19, 39, 59]
    first = records[0]
    assert (first.loss, first.lr) == (approx(2.345), approx(0.00039962))
    assert first.step_time_s == approx(0.4523)
    assert math.isnan(records[2].loss)


def test_timm_train_lines_behind_torchrun_prefix() -> None:
    """timm, huggingface/pytorch-image-models train.py:1416 @ aa4b5850. `Train: e [ i/n (p%)]  Loss:
    now (avg)  Time: Ts, R/s  (...)  LR: ...  Data: ...`; the loss is the current value; behind a
    torchrun `[default0]:` prefix."""
    records = steps(
        lines(
            "[default0]:Train: 3 [   0/1251 (  0%)]  Loss: 3.45 (3.45)  Time: 2.512s,  407.64/s  "
            "(2.512s,  407.64/s)  LR: 1.000e-03  Data: 2.101 (2.101)",
            "[default0]:Train: 3 [ 200/1251 ( 16%)]  Loss: 3.21 (3.32)  Time: 0.312s, 3282.05/s  "
            "(0.318s, 3220.13/s)  LR: 1.000e-03  Data: 0.012 (0.015)",
            "[default0]:Train: 3 [ 400/1251 ( 32%)]  Loss: nan (nan)  Time: 0.309s, 3313.92/s  "
            "(0.316s, 3240.51/s)  LR: 1.000e-03  Data: 0.011 (0.014)",
        )
    )
    assert [r.step for r in records] == [0, 200, 400]
    assert {r.epoch for r in records} == {3.0}
    assert {r.total_steps for r in records} == {1251}
    assert {r.rank for r in records} == {0}
    assert [r.loss for r in records[:2]] == [approx(3.45), approx(3.21)]
    assert records[1].lr == approx(1e-3)
    assert records[1].step_time_s == approx(0.312)
    assert math.isnan(records[2].loss)


def test_paddledetection_log_printer() -> None:
    """PaddleDetection, PaddlePaddle/PaddleDetection ppdet/engine/callbacks.py:137-161 @ 666f597f
    (meters from ppdet/utils/stats.py:89, logger format ppdet/utils/logger.py:46). `Epoch: [e]
    [ i/n] learning_rate: ... loss_*: ... loss: ... eta: ... batch_cost: ... ips: X images/s`."""
    records = steps(
        lines(
            "[10/18 10:11:12] ppdet.engine.callbacks INFO: Epoch: [0] [  20/7329] learning_rate: 0.000100 "
            "loss_class: 1.234567 loss_bbox: 0.234567 loss_giou: 0.345678 loss: 1.814812 eta: 1 day, 2:30:45 "
            "batch_cost: 0.5120 data_cost: 0.0123 ips: 15.6250 images/s, max_mem_reserved: 10240 MB, "
            "max_mem_allocated: 9876 MB",
            "[10/18 10:11:22] ppdet.engine.callbacks INFO: Epoch: [0] [  40/7329] learning_rate: 0.000100 "
            "loss_class: 1.101234 loss_bbox: 0.220011 loss_giou: 0.331234 loss: 1.652479 eta: 1 day, 2:29:01 "
            "batch_cost: 0.5080 data_cost: 0.0119 ips: 15.7480 images/s, max_mem_reserved: 10240 MB, "
            "max_mem_allocated: 9876 MB",
            "[10/18 10:11:32] ppdet.engine.callbacks INFO: Epoch: [0] [  60/7329] learning_rate: 0.000100 "
            "loss_class: nan loss_bbox: nan loss_giou: nan loss: nan eta: 1 day, 2:28:40 "
            "batch_cost: 0.5101 data_cost: 0.0121 ips: 15.6832 images/s, max_mem_reserved: 10240 MB, "
            "max_mem_allocated: 9876 MB",
        )
    )
    assert [r.step for r in records] == [20, 40, 60]
    assert {r.epoch for r in records} == {0.0}
    assert {r.total_steps for r in records} == {7329}
    first = records[0]
    assert (first.loss, first.lr) == (approx(1.814812), approx(1e-4))
    assert first.step_time_s == approx(0.512)
    assert first.samples_per_s == approx(15.625)
    assert math.isnan(records[2].loss)


def test_paddleocr_pads_a_non_finite_value_with_x() -> None:
    """PaddleOCR, PaddlePaddle/PaddleOCR ppocr/utils/stats.py (`TrainingStats.log`: `'{}: {:x<6f}'.format(k,
    v)`) inside tools/program.py's `epoch: [e/E], global_step: s, lr: ..., <stats>, avg_reader_cost: ...`
    line: the format pads a value shorter than six characters with `x`, so a NaN prints `nanxxx` and an
    infinity `infxxx` (`-infxx`); finite values are longer and print unpadded."""
    records = steps(
        lines(
            "[2024/02/11 09:10:11] ppocr INFO: epoch: [3/400], global_step: 1210, lr: 0.000512, acc: 0.281250, "
            "norm_edit_dis: 0.640113, CTCLoss: 7.301142, loss: 7.301142, avg_reader_cost: 0.00021 s, "
            "avg_batch_cost: 0.43190 s, avg_samples: 64.0, ips: 148.18245 samples/s, eta: 1 day, 3:10:11",
            "[2024/02/11 09:10:16] ppocr INFO: epoch: [3/400], global_step: 1220, lr: 0.000514, acc: 0.000000, "
            "norm_edit_dis: 0.000000, CTCLoss: nanxxx, loss: nanxxx, avg_reader_cost: 0.00020 s, "
            "avg_batch_cost: 0.43870 s, avg_samples: 64.0, ips: 145.88553 samples/s, eta: 1 day, 3:09:40",
            "[2024/02/11 09:10:21] ppocr INFO: epoch: [3/400], global_step: 1230, lr: 0.000517, acc: 0.000000, "
            "norm_edit_dis: 0.000000, CTCLoss: infxxx, loss: -infxx, avg_reader_cost: 0.00022 s, "
            "avg_batch_cost: 0.44012 s, avg_samples: 64.0, ips: 145.41489 samples/s, eta: 1 day, 3:09:12",
        )
    )
    assert [r.step for r in records] == [1210, 1220, 1230]
    assert records[0].loss == approx(7.301142)
    assert math.isnan(records[1].loss)
    assert records[2].loss == -math.inf


def test_hand4whole_style_screen_line() -> None:
    """Hand4Whole, mks0601/Hand4Whole_RELEASE main/train.py:59-67 @ c9490865 (colour log format
    common/logger.py:28). `Epoch e/E itr i/n: lr: ... speed: T(Gs rR)s/itr H h/epoch loss_*: ...`,
    written with ANSI colour codes around the timestamp."""
    records = steps(
        lines(
            "\x1b[92m07-01 10:11:12\x1b[0m Epoch 0/13 itr 100/2500: lr: 0.0001 speed: 0.52(0.40s r0.12)s/itr "
            "0.36h/epoch loss_joint_img: 1.2345 loss_smplx_joint_proj: 0.0123 loss_smplx_pose: 0.4567",
            "\x1b[92m07-01 10:12:04\x1b[0m Epoch 0/13 itr 200/2500: lr: 0.0001 speed: 0.51(0.39s r0.12)s/itr "
            "0.35h/epoch loss_joint_img: 1.1012 loss_smplx_joint_proj: 0.0119 loss_smplx_pose: 0.4321",
            "\x1b[92m07-01 10:12:55\x1b[0m Epoch 0/13 itr 300/2500: lr: 0.0001 speed: 0.51(0.39s r0.12)s/itr "
            "0.35h/epoch loss_joint_img: nan loss_smplx_joint_proj: nan loss_smplx_pose: nan",
        )
    )
    assert [r.step for r in records] == [100, 200, 300]
    assert {r.epoch for r in records} == {0.0}
    assert {r.total_steps for r in records} == {2500}
    assert records[0].lr == approx(1e-4)
    assert records[0].step_time_s == approx(0.52)


# --- LLM trainers -------------------------------------------------------------------------------


def test_maxtext_completed_step_behind_worker_prefix() -> None:
    """MaxText, google/maxtext MaxText/train.py:169 @ e64f6813. `completed step: N, seconds: T,
    TFLOP/s/device: ..., Tokens/s/device: ..., total_weights: W, loss: X`; behind a multi-host
    `worker-3: ` prefix."""
    records = steps(
        lines(
            "worker-3: completed step: 120, seconds: 1.234, TFLOP/s/device: 190.123, Tokens/s/device: 6643.210, "
            "total_weights: 524288, loss: 7.123",
            "worker-3: completed step: 121, seconds: 1.229, TFLOP/s/device: 190.877, Tokens/s/device: 6669.811, "
            "total_weights: 524288, loss: 7.101",
            "worker-3: completed step: 122, seconds: 1.231, TFLOP/s/device: 190.567, Tokens/s/device: 6658.975, "
            "total_weights: 524288, loss: nan",
        )
    )
    assert [r.step for r in records] == [120, 121, 122]
    assert [r.loss for r in records[:2]] == [approx(7.123), approx(7.101)]
    assert records[0].step_time_s == approx(1.234)
    assert math.isnan(records[2].loss)


def test_nemo_progress_printer() -> None:
    """NeMo 2, NVIDIA/NeMo nemo/lightning/pytorch/callbacks/progress_printer.py:140 (format_string at
    :55) @ 8cfedd72. `Training epoch e, iteration i/N | key: value | ...` with 4-significant-digit
    values; the loss is reduced_train_loss; behind a torchrun `[default0]:` prefix."""
    records = steps(
        lines(
            "[default0]:Training epoch 0, iteration 49/99 | lr: 1.5e-05 | global_batch_size: 32 | global_step: 49 "
            "| reduced_train_loss: 3.678 | train_step_timing in s: 0.4512 | consumed_samples: 1600",
            "[default0]:Training epoch 0, iteration 50/99 | lr: 1.53e-05 | global_batch_size: 32 | global_step: 50 "
            "| reduced_train_loss: 3.651 | train_step_timing in s: 0.4498 | consumed_samples: 1632",
            "[default0]:Training epoch 0, iteration 51/99 | lr: 1.56e-05 | global_batch_size: 32 | global_step: 51 "
            "| reduced_train_loss: nan | train_step_timing in s: 0.4503 | consumed_samples: 1664",
        )
    )
    assert [r.step for r in records] == [49, 50, 51]
    assert {r.total_steps for r in records} == {99}
    assert {r.epoch for r in records} == {0.0}
    assert {r.rank for r in records} == {0}
    first = records[0]
    assert (first.loss, first.lr, first.step_time_s) == (approx(3.678), approx(1.5e-5), approx(0.4512))
    assert math.isnan(records[2].loss)


def test_minimind_old_pretrain_layout() -> None:
    """MiniMind (home-grown loop), jingyaogong/minimind trainer/train_pretrain.py:69 @ a82526da.
    `Epoch:[e/E](i/n) loss:X lr:Y epoch_Time:Tmin:` with no spaces after the colons."""
    records = steps(
        lines(
            "Epoch:[1/2](7000/293491) loss:2.345678 lr:0.000549876543 epoch_Time:1234.0min:",
            "Epoch:[1/2](7100/293491) loss:2.301234 lr:0.000549873210 epoch_Time:1233.0min:",
            "Epoch:[1/2](7200/293491) loss:nan lr:0.000549869876 epoch_Time:1233.0min:",
        )
    )
    assert [r.step for r in records] == [7000, 7100, 7200]
    assert {r.epoch for r in records} == {1.0}
    assert {r.total_steps for r in records} == {293491}
    assert records[0].loss == approx(2.345678)
    assert records[0].lr == approx(0.000549876543)
    assert math.isnan(records[2].loss)


def test_minimind_current_pretrain_layout() -> None:
    """MiniMind, jingyaogong/minimind trainer/train_pretrain.py:58 @ d65ef2c0.
    `Epoch:[e/E](i/n), loss: X, logits_loss: ..., aux_loss: ..., lr: ..., epoch_time: Tmin`;
    the plain `loss` wins over logits_loss and aux_loss."""
    records = steps(
        lines(
            "Epoch:[1/2](100/44160), loss: 7.1234, logits_loss: 7.1201, aux_loss: 0.0033, lr: 0.00054999, "
            "epoch_time: 120.5min",
            "Epoch:[1/2](200/44160), loss: 6.5432, logits_loss: 6.5400, aux_loss: 0.0032, lr: 0.00054997, "
            "epoch_time: 119.8min",
            "Epoch:[1/2](300/44160), loss: nan, logits_loss: nan, aux_loss: 0.0031, lr: 0.00054993, "
            "epoch_time: 119.9min",
        )
    )
    assert [r.step for r in records] == [100, 200, 300]
    assert {r.total_steps for r in records} == {44160}
    assert {r.epoch for r in records} == {1.0}
    assert [r.loss for r in records[:2]] == [approx(7.1234), approx(6.5432)]
    assert records[0].lr == approx(0.00054999)
    assert math.isnan(records[2].loss)


# --- other frameworks ---------------------------------------------------------------------------


def test_torch_rnn_lines_behind_pid_prefix() -> None:
    """torch-rnn, jcjohnson/torch-rnn train.lua:191 @ 6e72b866. `Epoch %.2f / %d, i = %d / %d,
    loss = %f`: a fractional epoch and a global iteration; Lua prints a NaN as `-nan`; behind a
    `[1744] ` prefix."""
    records = steps(
        lines(
            "[1744] Epoch 1.01 / 50, i = 100 / 672300, loss = 2.456789",
            "[1744] Epoch 1.01 / 50, i = 200 / 672300, loss = 2.123456",
            "[1744] Epoch 1.02 / 50, i = 300 / 672300, loss = -nan",
        )
    )
    assert [r.step for r in records] == [100, 200, 300]
    assert {r.total_steps for r in records} == {672300}
    assert records[0].epoch == approx(1.01)
    assert records[2].epoch == approx(1.02)
    assert records[1].loss == approx(2.123456)
    assert math.isnan(records[2].loss)


def test_niftynet_iteration_lines() -> None:
    """NiftyNet, NifTK/NiftyNet niftynet/engine/application_iteration.py:12 (CONSOLE_FORMAT) and
    :184 @ 935bf433; file log format niftynet/io/misc_io.py:31. `training iter N, k=v, ... (Ts)`;
    validation lines are indented and are evaluation records."""
    records = steps(
        lines(
            "INFO:niftynet:2020-04-21 10:11:12,345: training iter 10, total_loss=0.812345, loss=0.801234 (1.234567s)",
            "INFO:niftynet:2020-04-21 10:11:13,580: training iter 11, total_loss=0.798765, loss=0.787654 (1.229876s)",
            "INFO:niftynet:2020-04-21 10:11:14,811: training iter 12, total_loss=nan, loss=nan (1.231234s)",
            "INFO:niftynet:2020-04-21 10:11:15,402:     validation iter 12, total_loss=0.891234, loss=0.880123 "
            "(0.512345s)",
        )
    )
    train = [r for r in records if not r.is_eval]
    assert [r.step for r in train] == [10, 11, 12]
    assert train[0].loss == approx(0.801234)
    assert train[0].step_time_s == approx(1.234567)
    assert math.isnan(train[2].loss)
    [val] = [r for r in records if r.is_eval]
    assert (val.step, val.eval_loss) == (12, approx(0.880123))


def test_mxnet_speedometer() -> None:
    """MXNet Speedometer, apache/mxnet python/mxnet/callback.py:168 @ 6bdd9227 (2018), validation
    line python/mxnet/module/base_module.py:567. `Epoch[e] Batch [i]\\tSpeed: X samples/sec\\tname=v`;
    the cross-entropy metric is the loss."""
    records = steps(
        lines(
            "INFO:root:Epoch[1] Batch [100]\tSpeed: 1523.45 samples/sec\taccuracy=0.876543\tcross-entropy=0.412345",
            "INFO:root:Epoch[1] Batch [200]\tSpeed: 1498.12 samples/sec\taccuracy=0.880000\tcross-entropy=0.398765",
            "INFO:root:Epoch[1] Batch [300]\tSpeed: 1510.00 samples/sec\taccuracy=0.100000\tcross-entropy=nan",
            "INFO:root:Epoch[1] Validation-accuracy=0.871234",
            "INFO:root:Epoch[1] Validation-cross-entropy=0.456789",
        )
    )
    train = [r for r in records if not r.is_eval]
    assert [r.step for r in train] == [100, 200, 300]
    assert {r.epoch for r in train} == {1.0}
    assert train[0].samples_per_s == approx(1523.45)
    assert train[0].loss == approx(0.412345)
    assert math.isnan(train[2].loss)
    [val] = [r for r in records if r.is_eval]
    assert val.eval_loss == approx(0.456789)


def test_wav2letter_status_line() -> None:
    """wav2letter, flashlight/wav2letter src/runtime/Logger.cpp:42-58 (getStatus) @ e7c4d174, written
    by Train.cpp:341-345 with ` | ` separators after a glog prefix. `epoch: %8d | nupdates: %12d |
    lr: ... | runtime: hh:mm:ss | bch(ms): ... | loss: %10.5f | ...`."""
    records = steps(
        lines(
            "I0820 10:11:12.123456  4321 Train.cpp:345] epoch:        8 | nupdates:        12000 | lr: 0.400000 "
            "| lrcriterion: 0.000000 | runtime: 00:04:26 | bch(ms): 266.61 | smp(ms): 1.23 | fwd(ms): 80.12 "
            "| crit-fwd(ms): 10.05 | bwd(ms): 150.44 | optim(ms): 20.01 | loss:    0.78993 | train-TER: 12.34 "
            "| train-WER: 30.12 | dev-clean-loss:    0.65432 | dev-clean-TER:  8.90 | dev-clean-WER: 25.43 "
            "| avg-isz: 1234 | avg-tsz: 056 | max-tsz: 123 | hrs:  123.45 | thrpt(sec/sec): 456.78",
            "I0820 10:15:40.654321  4321 Train.cpp:345] epoch:        9 | nupdates:        13500 | lr: 0.400000 "
            "| lrcriterion: 0.000000 | runtime: 00:04:27 | bch(ms): 267.02 | smp(ms): 1.21 | fwd(ms): 80.33 "
            "| crit-fwd(ms): 10.01 | bwd(ms): 150.70 | optim(ms): 20.05 | loss:    0.75012 | train-TER: 11.98 "
            "| train-WER: 29.45 | dev-clean-loss:    0.63321 | dev-clean-TER:  8.71 | dev-clean-WER: 24.99 "
            "| avg-isz: 1230 | avg-tsz: 056 | max-tsz: 121 | hrs:  123.45 | thrpt(sec/sec): 455.12",
            "I0820 10:20:09.111111  4321 Train.cpp:345] epoch:       10 | nupdates:        15000 | lr: 0.400000 "
            "| lrcriterion: 0.000000 | runtime: 00:04:28 | bch(ms): 266.88 | smp(ms): 1.22 | fwd(ms): 80.21 "
            "| crit-fwd(ms): 10.03 | bwd(ms): 150.52 | optim(ms): 20.03 | loss:        nan | train-TER: 99.99 "
            "| train-WER: 99.99 | dev-clean-loss:        nan | dev-clean-TER: 99.99 | dev-clean-WER: 99.99 "
            "| avg-isz: 1232 | avg-tsz: 056 | max-tsz: 122 | hrs:  123.45 | thrpt(sec/sec): 455.80",
        )
    )
    assert [r.step for r in records] == [12000, 13500, 15000]
    assert [r.epoch for r in records] == [8.0, 9.0, 10.0]
    first = records[0]
    assert (first.loss, first.lr) == (approx(0.78993), approx(0.4))
    assert first.step_time_s == approx(0.26661)
    assert math.isnan(records[2].loss)


def test_chainer_print_report_table() -> None:
    """Chainer PrintReport, chainer/chainer chainer/training/extensions/print_report.py:36 (header),
    :42 (`{:<Wg}  ` cells) and :66-85 (each row after `\\033[J`) @ a8e15cbe, with the entries of
    examples/imagenet/train_imagenet.py:174. Unlabelled columns under a header; empty cells for
    missing validation values. The `\\033[J` before each row is taken off by the reader (as every
    terminal escape), so the rows here start with their first cell."""
    header = (
        "epoch       iteration   main/loss   validation/main/loss  main/accuracy  validation/main/accuracy  lr        "
    )
    records = steps(
        lines(
            header,
            "0           1000        4.51234                           0.101234       "
            "                          0.01        ",
            "0           2000        nan                               0.001          "
            "                          0.01        ",
            "1           2500        3.9012      3.71234               0.2            "
            "0.22                      0.01        ",
        )
    )
    assert [r.step for r in records] == [1000, 2000, 2500]
    assert [r.epoch for r in records] == [0.0, 0.0, 1.0]
    assert records[0].loss == approx(4.51234)
    assert records[0].eval_loss is None
    assert math.isnan(records[1].loss)
    assert (records[2].loss, records[2].eval_loss) == (approx(3.9012), approx(3.71234))
    assert records[2].lr == approx(0.01)


def test_speechbrain_train_log() -> None:
    """SpeechBrain, speechbrain/speechbrain speechbrain/utils/train_logger.py:65-103 (FileTrainLogger)
    @ 9c826ef3. One line per epoch: `epoch: e, lr: ... - train loss: X - valid loss: Y, valid CER:
    ...`; floats outside (1, 100) are printed in e-notation."""
    records = steps(
        lines(
            "epoch: 1, lr: 1.00e+00 - train loss: 2.34 - valid loss: 1.87, valid CER: 12.34, valid WER: 30.12",
            "epoch: 2, lr: 8.00e-01 - train loss: 1.56 - valid loss: 1.42, valid CER: 10.11, valid WER: 25.67",
            "epoch: 3, lr: 6.40e-01 - train loss: nan - valid loss: nan, valid CER: 1.00e+02, valid WER: 1.00e+02",
        )
    )
    assert [r.epoch for r in records] == [1.0, 2.0, 3.0]
    assert [(r.loss, r.eval_loss) for r in records[:2]] == [
        (approx(2.34), approx(1.87)),
        (approx(1.56), approx(1.42)),
    ]
    assert records[1].lr == approx(0.8)
    assert math.isnan(records[2].loss)


def test_opennmt_tf_step_and_evaluation() -> None:
    """OpenNMT-tf, OpenNMT/OpenNMT-tf opennmt/training.py:609 (`Step = N ; steps/s = ..., tokens/s =
    T (...) ; Learning rate = ... ; Loss = X`) and opennmt/evaluation.py:365 (`Evaluation result for
    step N: k = v ; ...`) @ 6f3b952e; log format opennmt/bin/main.py:25."""
    records = steps(
        lines(
            "2023-08-04 10:11:12.123000: I training.py:608] Step = 1000 ; steps/s = 2.35, tokens/s = 45210 "
            "(21000 source, 24210 target) ; Learning rate = 0.000707 ; Loss = 4.123456",
            "2023-08-04 10:11:54.456000: I training.py:608] Step = 1100 ; steps/s = 2.38, tokens/s = 45876 "
            "(21302 source, 24574 target) ; Learning rate = 0.000674 ; Loss = 3.998765",
            "2023-08-04 10:12:36.789000: I training.py:608] Step = 1200 ; steps/s = 2.36, tokens/s = 45512 "
            "(21144 source, 24368 target) ; Learning rate = 0.000645 ; Loss = nan",
            "2023-08-04 10:20:00.456000: I evaluation.py:364] Evaluation result for step 1200: loss = 3.456789 "
            "; perplexity = 31.712345",
        )
    )
    train = [r for r in records if not r.is_eval]
    assert [r.step for r in train] == [1000, 1100, 1200]
    assert (train[0].loss, train[0].lr) == (approx(4.123456), approx(0.000707))
    assert train[0].tokens_per_s == approx(45210)
    assert math.isnan(train[2].loss)
    [ev] = [r for r in records if r.is_eval]
    assert (ev.step, ev.eval_loss) == (1200, approx(3.456789))


def test_sockeye_speedometer_perplexity_only() -> None:
    """Sockeye 3, awslabs/sockeye sockeye/training.py:907 (msg `E=%d B=%d\\ts/sec=... tok/sec=...
    u/sec=...\\t`) and :936 (`%s=%f ` per metric) @ 871d9863; metric short name `ppl`
    (sockeye/constants.py:255), log format sockeye/log.py:21. Only perplexity is printed: loss =
    log(ppl)."""
    records = steps(
        lines(
            "[2024-10-24:10:11:12:INFO:sockeye.training:__call__] E=0 B=100\ts/sec=102.34 tok/sec=3456.78 "
            "u/sec=1.23\tppl=45.678901 ",
            "[2024-10-24:10:12:33:INFO:sockeye.training:__call__] E=0 B=200\ts/sec=101.98 tok/sec=3444.12 "
            "u/sec=1.22\tppl=30.123456 ",
            "[2024-10-24:10:13:55:INFO:sockeye.training:__call__] E=0 B=300\ts/sec=102.01 tok/sec=3450.55 "
            "u/sec=1.23\tppl=nan ",
        )
    )
    assert [r.step for r in records] == [100, 200, 300]
    assert {r.epoch for r in records} == {0.0}
    first = records[0]
    assert first.loss == approx(math.log(45.678901))
    assert (first.samples_per_s, first.tokens_per_s) == (approx(102.34), approx(3456.78))
    assert records[1].loss == approx(math.log(30.123456))
    assert math.isnan(records[2].loss)


def test_flax_mnist_epoch_lines() -> None:
    """Flax MNIST example, google/flax examples/mnist/train.py:172 @ 18f8f311 (absl log prefix).
    `epoch:% 3d, train_loss: X, train_accuracy: ..., test_loss: Y, test_accuracy: ...` one line per
    epoch, with train and test loss."""
    records = steps(
        lines(
            "I0501 10:11:12.345678 140234567 train.py:172] epoch:  1, train_loss: 0.2345, train_accuracy: 93.12, "
            "test_loss: 0.1234, test_accuracy: 96.34",
            "I0501 10:11:20.101010 140234567 train.py:172] epoch:  2, train_loss: 0.0876, train_accuracy: 97.45, "
            "test_loss: 0.0712, test_accuracy: 97.81",
            "I0501 10:11:27.987654 140234567 train.py:172] epoch:  3, train_loss: nan, train_accuracy: 9.87, "
            "test_loss: nan, test_accuracy: 9.80",
        )
    )
    assert [r.epoch for r in records] == [1.0, 2.0, 3.0]
    assert [(r.loss, r.eval_loss) for r in records[:2]] == [
        (approx(0.2345), approx(0.1234)),
        (approx(0.0876), approx(0.0712)),
    ]
    assert math.isnan(records[2].loss)


def test_flax_imagenet_clu_logging_writer() -> None:
    """Flax ImageNet example with CLU's LoggingWriter: google/flax examples/imagenet/train.py:398
    (`train_` scalars) and :412 (`eval epoch: e, loss: X, accuracy: A`) @ 18f8f311; the `[step]
    k=v, ...` line is google/CommonLoopUtils clu/metric_writers/logging_writer.py:49 @ 04ad2f9e."""
    records = steps(
        lines(
            "I0501 10:11:12.345678 139876 logging_writer.py:48] [1000] steps_per_second=3.41234, "
            "train_accuracy=0.0923, train_learning_rate=0.0998, train_loss=5.6789",
            "I0501 10:16:05.123456 139876 logging_writer.py:48] [2000] steps_per_second=3.42001, "
            "train_accuracy=0.1701, train_learning_rate=0.0996, train_loss=4.8765",
            "I0501 10:19:01.777777 139876 train.py:412] eval epoch: 0, loss: 4.5678, accuracy: 20.12",
            "I0501 10:19:01.888888 139876 logging_writer.py:48] [2502] eval_accuracy=0.2012, eval_loss=4.5678",
        )
    )
    train = [r for r in records if not r.is_eval]
    assert [r.step for r in train] == [1000, 2000]
    assert [r.loss for r in train] == [approx(5.6789), approx(4.8765)]
    evals = [r for r in records if r.is_eval]
    assert [r.eval_loss for r in evals] == [approx(4.5678), approx(4.5678)]
    assert evals[-1].step == 2502


def test_deepspeech_progress_bar() -> None:
    """Mozilla DeepSpeech, mozilla/DeepSpeech training/deepspeech_training/train.py:588-591 (prefix
    `Epoch e | {set:>10}` and widgets), set names at :526 @ 6913ae81. `Epoch 0 |   Training |
    Elapsed Time: h:mm:ss | Steps: N | Loss: X`; CTC loss can be `inf`; Validation lines are
    evaluation records."""
    records = steps(
        lines(
            "Epoch 0 |   Training | Elapsed Time: 0:05:12 | Steps: 300 | Loss: 98.765432",
            "Epoch 0 |   Training | Elapsed Time: 0:10:30 | Steps: 600 | Loss: 87.654321",
            "Epoch 0 | Validation | Elapsed Time: 0:00:43 | Steps: 100 | Loss: 80.123456 | Dataset: data/dev.csv",
            "Epoch 1 |   Training | Elapsed Time: 0:00:02 | Steps: 3 | Loss: inf",
        )
    )
    train = [r for r in records if not r.is_eval]
    assert [r.step for r in train] == [300, 600, 3]
    assert [r.epoch for r in train] == [0.0, 0.0, 1.0]
    assert train[0].loss == approx(98.765432)
    assert math.isinf(train[2].loss)
    [val] = [r for r in records if r.is_eval]
    assert val.eval_loss == approx(80.123456)


def test_espnet2_sub_reporter_line() -> None:
    """ESPnet2, espnet/espnet espnet2/train/reporter.py SubReporter.log_message @ 01d307c4 (the
    `f"{epoch}epoch:{key}:{start}-{count}batch: "` header and `key=value` items joined by `, `,
    `.3f` or `.3e` by magnitude; line number not pinned). `loss` wins over loss_ctc/loss_att; the
    step is the last batch of the range."""
    records = steps(
        lines(
            "2024-01-01 10:11:12,345 (trainer:762) INFO: 3epoch:train:401-500batch: iter_time=1.234e-04, "
            "forward_time=0.145, loss_ctc=47.012, loss_att=31.456, acc=0.801, loss=36.123, backward_time=0.199, "
            "grad_norm=58.123, clip=100.000, loss_scale=1.000, optim_step_time=0.045, optim0_lr0=2.000e-04, "
            "train_time=1.236",
            "2024-01-01 10:13:15,678 (trainer:762) INFO: 3epoch:train:501-600batch: iter_time=1.198e-04, "
            "forward_time=0.144, loss_ctc=45.678, loss_att=30.123, acc=0.812, loss=34.789, backward_time=0.201, "
            "grad_norm=56.789, clip=100.000, loss_scale=1.000, optim_step_time=0.045, optim0_lr0=2.000e-04, "
            "train_time=1.234",
            "2024-01-01 10:15:19,012 (trainer:762) INFO: 3epoch:train:601-700batch: iter_time=1.201e-04, "
            "forward_time=0.146, loss_ctc=nan, loss_att=nan, acc=0.000e+00, loss=nan, backward_time=0.200, "
            "grad_norm=nan, clip=100.000, loss_scale=1.000, optim_step_time=0.046, optim0_lr0=2.000e-04, "
            "train_time=1.235",
        )
    )
    assert [r.step for r in records] == [500, 600, 700]
    assert {r.epoch for r in records} == {3.0}
    assert (records[1].loss, records[1].grad_norm) == (approx(34.789), approx(56.789))
    assert math.isnan(records[2].loss) and math.isnan(records[2].grad_norm)


# --- near misses: must give no record -----------------------------------------------------------


def test_near_miss_resume_prose() -> None:
    """Prose about resuming mentions a step and a loss: not a progress line."""
    assert steps("2024-05-02 10:00:00 INFO Resuming from step 500 with best loss 2.1") == []


def test_near_miss_checkpoint_prose() -> None:
    """A checkpoint message with the step and the loss in prose: not a progress line."""
    assert steps("2024-05-02 10:00:00 INFO Saving checkpoint at step 1000 (loss 2.31)") == []


def test_near_miss_keras_model_checkpoint_message() -> None:
    """Keras ModelCheckpoint, keras-team/keras keras/callbacks.py:1527 @ a78c8d81: `Epoch e: val_loss
    improved from A to B, saving model to PATH` is a checkpoint message, not an evaluation."""
    assert steps("Epoch 3: val_loss improved from 0.50000 to 0.45000, saving model to w.h5") == []


def test_near_miss_argparse_namespace_dump() -> None:
    """An argparse `Namespace(...)` repr of the run's options (lr=, loss_scale=None, max_update=)."""
    text = (
        "Namespace(arch='transformer', clip_norm=0.0, criterion='label_smoothed_cross_entropy', "
        "log_interval=100, loss_scale=None, lr=[0.0005], max_update=100000, save_interval_updates=1000, "
        "seed=1, warmup_updates=4000)"
    )
    assert steps(text) == []


def test_near_miss_config_table_rows() -> None:
    """Rows of a printed configuration table that name a step count and a loss type."""
    text = lines(
        "| max_steps            | 10000                          |",
        "| eval_steps           | 500                            |",
        "| loss                 | label_smoothed_cross_entropy   |",
    )
    assert steps(text) == []


def test_near_miss_sockeye_state_and_summary() -> None:
    """Sockeye, awslabs/sockeye sockeye/training.py:807 (`Training State: epoch=..., updates=...
    best_metric=...` on resume) and :298 (`Training finished. Best checkpoint: N. Best validation
    perplexity: X`) @ 871d9863: state and summary lines, not progress."""
    text = lines(
        "[2024-10-24:10:11:12:INFO:sockeye.training:_load_training_state] Training State: epoch=3, checkpoint=12 "
        "batches=48000 updates=12000 best_metric=4.56, best_checkpoint=11 time_elapsed=3600",
        "[2024-10-24:18:00:00:INFO:sockeye.training:fit] Training finished. Best checkpoint: 8. "
        "Best validation perplexity: 12.345678",
    )
    assert steps(text) == []


def test_a_step_time_without_any_counter_is_still_read_and_a_sustained_jump_is_a_slowdown(tmp_path) -> None:
    """A home-grown loop that logs only how long each iteration took, through Python logging's
    `%(asctime)s: %(message)s` (the layout of the posted log in cBio/cbio-cluster#342): no step
    counter anywhere, so the records carry the time alone, and a lasting 3x step time is a slowdown
    placed on the line where it began."""
    from monitor.pipeline import scan_source
    from monitor.sources.files import Source

    times = [31.9, 32.4, 32.1, 33.0, 31.5, 32.8, 32.2, 31.7, 97.3, 98.8, 96.1, 99.4, 97.7, 98.2]
    lines = [f"2019-04-02 11:{n:02d}:{n % 60:02d},{100 + n}: Iteration took {t:.3f} s." for n, t in enumerate(times)]
    read = steps("\n".join(lines))
    # the first line is taken once its shape repeats (a counter-less line alone could be anything)
    assert [r.step_time_s for r in read] == approx(times[1:]) and all(r.step is None for r in read)
    log = tmp_path / "train.log"
    log.write_text("\n".join(lines) + "\n")
    [slowdown] = [e for e in scan_source(Source(str(log), str(log))).events if e.code == "SLOWDOWN"]
    assert slowdown.line == 9 and "from line 9" in slowdown.message


# --- names in brackets, names in prose, Paddle's passes ---------------------------------------


def test_a_name_in_brackets_before_its_value() -> None:
    """loguru-style trainer lines whose names sit in brackets before the value (`| [Loss] x |
    [step] n |`), layout of the run log in nv-tlabs/LION issue #9 (loguru's default format
    `{time} | {level: <8} | {name}:{function}:{line} - {message}`)."""
    records = steps(
        lines(
            "2024-02-03 10:11:12.345 | INFO     | trainers.base_trainer:train_epochs:256 - [R0] | E3 iter[ 14/ 15] "
            "| [Loss] 2.41 | [exp] ./exp/run1 | [step]    59 | [url] none | [time] 0.4m (~5h) |",
            "2024-02-03 10:11:37.912 | INFO     | trainers.base_trainer:train_epochs:256 - [R0] | E4 iter[ 14/ 15] "
            "| [Loss] 2.38 | [exp] ./exp/run1 | [step]    74 | [url] none | [time] 0.4m (~5h) |",
            "2024-02-03 10:12:03.101 | INFO     | trainers.base_trainer:train_epochs:256 - [R0] | E5 iter[ 14/ 15] "
            "| [Loss] nan | [exp] ./exp/run1 | [step]    89 | [url] none | [time] 0.4m (~5h) |",
        )
    )
    assert [r.step for r in records] == [59, 74, 89]
    assert records[0].loss == approx(2.41) and math.isnan(records[2].loss)


def test_names_in_prose_with_is() -> None:
    """BigDL, intel-analytics/BigDL spark/dl/src/main/scala/com/intel/analytics/bigdl/optim/
    DistriOptimizer.scala (0.x): `[Epoch e n/N][Iteration i][Wall Clock ts] Train k in ts.
    Throughput is x records/second. Loss is x. Current learning rate is x.`; a JVM double prints
    `Infinity`."""
    head = "2018-03-04 10:11:12 INFO  DistriOptimizer$:295 - "
    records = steps(
        lines(
            head + "[Epoch 3 51200/1281167][Iteration 1201][Wall Clock 5012.41s] Train 256 in 1.81seconds. "
            "Throughput is 141.4 records/second. Loss is 2.7712. Current learning rate is 0.1. "
            "Current weight decay is 1.0E-4.",
            head + "[Epoch 3 51456/1281167][Iteration 1202][Wall Clock 5014.22s] Train 256 in 1.79seconds. "
            "Throughput is 143.0 records/second. Loss is 2.7654. Current learning rate is 0.1. "
            "Current weight decay is 1.0E-4.",
            head + "[Epoch 3 51712/1281167][Iteration 1203][Wall Clock 5016.05s] Train 256 in 1.83seconds. "
            "Throughput is 139.9 records/second. Loss is Infinity. Current learning rate is 0.1. "
            "Current weight decay is 1.0E-4.",
        )
    )
    assert [r.step for r in records] == [1201, 1202, 1203]
    assert records[0].loss == approx(2.7712) and records[2].loss == math.inf
    assert records[0].lr == approx(0.1) and records[0].samples_per_s == approx(141.4)


def test_paddle_passes_are_epochs_and_its_batch_counter_starts_again_every_pass() -> None:
    """PaddlePaddle's book and model examples, PaddlePaddle/book (v2 `event_handler`: `print "Pass %d,
    Batch %d, Cost %f" % (event.pass_id, event.batch_id, event.cost)`) and fluid's language model
    (`Pass %d, batch %d, loss %s`): the batch counter starts again with every pass, which is no
    restart."""
    from tests.conftest import fault_events

    text = lines(*[f"Pass {p}, Batch {b}, Cost {4.0 - 0.1 * p - 0.001 * b:f}"
                   for p in range(3) for b in range(0, 500, 100)])
    records = steps(text)
    assert [(r.epoch, r.step) for r in records[4:7]] == [(0, 400), (1, 0), (1, 100)]
    assert [e.code for e in fault_events(text)] == []


def test_a_named_slot_the_vocabulary_knows_wins_over_an_unknown_name_with_a_time_unit() -> None:
    """OneFlow LiBai, Oneflow-Inc/libai libai/utils/events.py (CommonMetricPrinter, after
    detectron2's): `eta: ...  iteration: i/N  consumed_samples: n  total_loss: x  time: t s/iter
    data_time: d s/iter total_throughput: r samples/s lr: ...`. The step takes `time`, not the
    data loader's `data_time`, although both carry the per-step unit."""
    head = "[09/10 10:{:02d}:{:02d} lb.utils.events]:  eta: 21:00:38  iteration: {}/10000  consumed_samples: {}  "
    records = steps(
        lines(*[
            head.format(40 + i, 11 * i, 19 + 20 * i, 80 * (i + 1))
            + f"total_loss: {9.9 - 0.4 * i:.3f}  time: {7.52 + 0.05 * i:.4f} s/iter  data_time: 0.0021 s/iter "
            "total_throughput: 0.53 samples/s lr: 1.50e-04"
            for i in range(3)
        ])
    )
    assert [r.step for r in records] == [19, 39, 59]
    assert [r.step_time_s for r in records] == approx([7.52, 7.57, 7.62])


def test_a_table_whose_rows_are_the_descriptions_of_a_bar() -> None:
    """Ultralytics YOLO, ultralytics/ultralytics ultralytics/engine/trainer.py: every epoch logs the
    header `('\\n' + '%11s' * (4 + len(loss_names))) % ('Epoch', 'GPU_mem', *loss_names, 'Instances',
    'Size')`, then the training bar's description is the row, `('%11s' * 2 + '%11.4g' * (2 +
    loss_length)) % (f'{epoch}/{epochs}', mem, *losses, instances, size)`; the validation bar and
    its result line follow. A NaN in the loss columns is a NaN; each row stands at its bar's count."""
    from tests.conftest import fault_events

    rows: list[str] = []
    for epoch in (1, 2, 3):
        rows += ["", ("%11s" * 7) % ("Epoch", "GPU_mem", "box_loss", "cls_loss", "dfl_loss", "Instances", "Size")]
        for batch in (3, 6):
            losses = (1.31 - 0.1 * epoch, 2.24 - 0.1 * epoch, 1.52) if epoch < 3 else (math.nan,) * 3
            row = ("%11s" * 2 + "%11.4g" * 5) % (f"{epoch}/50", "3.12G", *losses, 17, 640)
            rows.append(f"{row}: {batch * 100 // 6:3d}%|█████     | {batch}/6 [00:03<00:03,  1.92it/s]")
        rows.append(("%22s" + "%11s" * 6) % ("Class", "Images", "Instances", "Box(P", "R", "mAP50",
                                             "mAP50-95): 100%|██████████| 1/1 [00:00<00:00,  4.40it/s]"))
        rows.append(("%22s" + "%11i" * 2 + "%11.3g" * 4) % ("all", 8, 61, 0.61, 0.52, 0.55, 0.31))
    text = lines(*rows)
    records = steps(text)
    assert [(r.epoch, r.step) for r in records] == [(1, 3), (1, 6), (2, 3), (2, 6), (3, 3), (3, 6)]  # the bar's count
    assert records[0].loss == approx(1.21) and math.isnan(records[4].loss)
    assert [e.code for e in fault_events(text)][:1] == ["LOSS-NAN"]


# --- CSV metric files --------------------------------------------------------------------------


def test_csv_metric_files_are_tables_under_their_header() -> None:
    """Metric files written with the csv module, read under their header like a printed table:
    Keras' CSVLogger (keras/src/callbacks/csv_logger.py `on_epoch_end`: `csv.DictWriter` with
    `fieldnames=["epoch"] + sorted(logs)`), timm's summary.csv (timm/utils/summary.py `update_summary`:
    `epoch`, then `train_`- and `eval_`-prefixed metrics) and Lightning's CSVLogger metrics.csv
    (lightning/fabric/loggers/csv_logs.py: one row per logging call, empty cells for the metrics that
    call did not log)."""
    keras = steps(lines("epoch,accuracy,loss,val_accuracy,val_loss", "0,0.41,1.87,0.40,1.88",
                        "1,0.43,1.81,0.42,1.84", "2,0.44,nan,0.10,nan"))
    assert [(r.step, r.loss) for r in keras][:2] == [(0, approx(1.87)), (1, approx(1.81))]
    assert keras[0].eval_loss == approx(1.88) and math.isnan(keras[2].loss)
    timm = steps(lines("epoch,train_loss,eval_loss,eval_top1,eval_top5,lr", "208,4.3677,4.1618,7.62,23.86,0.0005",
                       "209,nan,4.1608,7.72,24.02,0.0005"))
    assert [r.step for r in timm] == [208, 209] and math.isnan(timm[1].loss)
    assert timm[0].lr == approx(5e-4) and timm[0].eval_loss == approx(4.1618)
    lightning = steps(lines("epoch,step,train_loss,val_loss", "0,49,2.31,", "0,99,2.10,", "0,99,,2.05",
                            "1,149,1.95,"))
    assert [(r.step, r.epoch, r.loss, r.eval_loss) for r in lightning] == [
        (49, 0.0, approx(2.31), None), (99, 0.0, approx(2.10), None), (99, 0.0, None, approx(2.05)),
        (149, 1.0, approx(1.95), None)]


def test_comma_separated_text_that_is_not_a_metric_file_gives_no_record() -> None:
    """A CSV of names and paths, prose with commas, and a row that no longer fits the header."""
    assert steps(lines("run,loss,path", "a1,0.5,/ckpt/a1", "epoch,loss,acc", "1,2.0,0.1,extra",
                       "Loss, accuracy, and epoch are logged every step")) == []


# --- names that are not the value of the moment -------------------------------------------------


def test_a_loss_name_with_two_words_in_front_is_still_the_loss() -> None:
    """rsl_rl's PPO runner (rsl_rl/runners/on_policy_runner.py `log`) right-aligns each diagnostic of a
    learning iteration on its own line: `{'Value function loss:':>{pad}} {mean_value_loss:.4f}`. A value
    function that blew up prints `inf` there, a non-finite loss."""
    text = lines(
        "                     Learning iteration 412/1500",
        "                       Computation: 48211 steps/s (collection: 1.804s, learning 0.233s)",
        "               Value function loss: inf",
        "                    Surrogate loss: -0.0031",
    )
    found = [r.loss for r in steps(text) if r.loss is not None]
    assert found and math.isinf(found[0])


def test_a_best_or_bounding_value_is_not_the_metric_it_names() -> None:
    """Training scripts print their running best before any evaluation (`best_val_loss: inf`, the
    initial value in nanoGPT's train.py is 1e9, many forks use float('inf')) and their settings
    beside the metrics (HF TrainingArguments' `max_grad_norm`, Megatron's `min_lr`): none is the
    loss, grad norm or learning rate of the moment."""
    text = lines(
        "best_val_loss: inf",
        "step 100 | loss 2.51 | max_grad_norm 1.0 | min_lr 1e-05 | lr 3e-04",
        "step 200 | loss 2.47 | max_grad_norm 1.0 | min_lr 1e-05 | lr 3e-04",
    )
    records = steps(text)
    assert [(r.step, r.loss, r.grad_norm, r.lr) for r in records] == [
        (100, approx(2.51), None, approx(3e-4)), (200, approx(2.47), None, approx(3e-4))]


def test_a_name_that_says_which_counter_gives_the_value_its_name() -> None:
    """`<metric> at <counter> N: value`: code2seq (model.py, `print('Average loss at batch %d: %f,
    \\tthroughput: %d samples/sec' % ...)`) and TensorFlow's word2vec tutorial (`print('Average loss
    at step ', step, ': ', average_loss)`). The number is the step, the value the loss."""
    records = steps(lines(
        "Average loss at batch 300: 7.118, \tthroughput: 188 samples/sec",
        "Average loss at batch 400: nan, \tthroughput: 190 samples/sec",
        "Average loss at step  6000 :  4.52091",
    ))
    assert [(r.step, r.samples_per_s) for r in records] == [(300, 188.0), (400, 190.0), (6000, None)]
    assert records[0].loss == approx(7.118) and math.isnan(records[1].loss) and records[2].loss == approx(4.52091)


def test_a_group_of_losses_gives_its_total_as_the_loss() -> None:
    """PyTorch-YOLOv3 (eriklindernoren/PyTorch-YOLOv3, 2018 train.py) prints one bracket of component
    losses per batch: `[Epoch %d/%d, Batch %d/%d] [Losses: x %f, y %f, w %f, h %f, conf %f, cls %f,
    total %f, recall: %.5f, precision: %.5f]`. Its `total` is the loss; values after the bracket are
    not members."""
    records = steps(lines(
        "[Epoch 2/30, Batch 40/1313] [Losses: x 0.061, y 0.058, w 0.214, h 0.197, conf 1.842, cls 0.522, "
        "total 2.894, recall: 0.41200, precision: 0.08100]",
        "[Epoch 2/30, Batch 41/1313] [Losses: x nan, y nan, w nan, h nan, conf 0.701, cls nan, total nan, "
        "recall: 0.00000, precision: 0.00000] lr 0.001",
    ))
    assert [(r.epoch, r.step) for r in records] == [(2.0, 40), (2.0, 41)]
    assert records[0].loss == approx(2.894) and math.isnan(records[1].loss) and records[1].lr == approx(0.001)


def test_cross_validation_lines_are_evaluations() -> None:
    """WeNet (wenet/utils/executor.py) logs `TRAIN Batch {epoch}/{batch_idx} loss ...` while training and
    `CV Batch {epoch}/{batch_idx} loss ... history loss ...` over the cross-validation set: `cv` is an
    evaluation split, so the CV loss is not the training loss (Kaldi and ESPnet name it `cv` too)."""
    records = steps(lines(
        "2024-03-02 10:11:02,118 DEBUG TRAIN Batch 6/1200 loss 14.211 loss_att 12.904 loss_ctc 17.26 lr 0.00041 rank 0",
        "2024-03-02 10:12:40,091 DEBUG CV Batch 6/0 loss 31.402 loss_att 27.991 loss_ctc 39.35 history loss 30.87 "
        "rank 0",
    ))
    assert [(r.loss, r.eval_loss) for r in records] == [(approx(14.211), None), (None, approx(31.402))]


def test_dinov2_metric_logger_behind_its_dated_glog_prefix() -> None:
    """DINOv2 (dinov2/logging/__init__.py: `%(levelname).1s%(asctime)s %(process)s %(name)s
    %(filename)s:%(lineno)s] ` with datefmt `%Y%m%d %H:%M:%S`; dinov2/logging/helpers.py MetricLogger:
    `{header}  [{i}/{n}]  eta: ...  {name}: {median} ({global_avg})  ...`): the stamp is the record's
    time, and none of its numbers is a slot."""
    records = steps(lines(
        "I20240305 10:41:12 90 dinov2 helpers.py:102] Training  [     40/625000]  eta: 12 days, 3:10:05  "
        "lr: 0.0000 (0.0000)  total_loss: 11.4210 (11.4302)  koleo_loss: -0.2710 (-0.2702)  time: 1.6102",
        "I20240305 10:41:28 90 dinov2 helpers.py:102] Training  [     50/625000]  eta: 12 days, 2:51:44  "
        "lr: 0.0000 (0.0000)  total_loss: inf (inf)  koleo_loss: inf (inf)  time: 1.5897",
    ))
    assert [(r.step, r.total_steps, r.time) for r in records] == [
        (40, 625000, "2024-03-05T10:41:12"), (50, 625000, "2024-03-05T10:41:28")]
    assert records[0].loss == approx(11.4210) and math.isinf(records[1].loss)


def test_json_stats_with_a_count_out_of_a_total_and_a_named_loss() -> None:
    """pycls (pycls/core/meters.py, `logger.info(logging.dump_log_data(stats, "json_stats"))`): the
    iteration and epoch are strings of a count out of a total (`"iter": "10/625"`) and a project may name
    its loss (`desc_loss`, DOLG on pycls); `json.dumps` writes a NaN as the bare token `NaN`."""
    records = steps(lines(
        '[meters.py: 155]: json_stats: {"_type": "train_iter", "desc_loss": 6.2117, "epoch": "3/100", '
        '"iter": "10/625", "lr": 0.0001, "mem": 10812, "time_diff": 3.7708}',
        '[meters.py: 155]: json_stats: {"_type": "train_iter", "desc_loss": NaN, "epoch": "3/100", '
        '"iter": "20/625", "lr": 0.0001, "mem": 10812, "time_diff": 3.7448}',
    ))
    assert [(r.step, r.epoch, r.lr) for r in records] == [(10, 3.0, approx(1e-4)), (20, 3.0, approx(1e-4))]
    assert records[0].loss == approx(6.2117) and math.isnan(records[1].loss)


def test_xgboost_evaluation_rounds_give_the_evaluation_loss() -> None:
    """XGBoost's training callback (xgboost/callback.py EvaluationMonitor: `[{epoch}]\t{name}-{metric}:
    {score}` per evaluation set): an `rmse` under an evaluation set is an evaluation loss, and its NaN a
    non-finite one."""
    records = steps(lines("[0]\tvalidation_0-rmse:nan\tvalidation_1-rmse:nan",
                          "[1]\tvalidation_0-rmse:nan\tvalidation_1-rmse:nan"))
    assert len(records) == 2 and all(r.loss is None and math.isnan(r.eval_loss) for r in records)


def test_a_rank_printed_on_the_line_is_the_records_rank() -> None:
    """WeNet (wenet/utils/executor.py) ends every training line with the rank that printed it (`... lr
    {:.8f} rank {}`), and the ranks of a job interleave in one log: each record is its rank's, so each
    rank's loss is judged on its own. A rank from a launcher prefix still wins; `rank` inside a word
    (`mean rank` of a retrieval metric) is not one."""
    records = steps(lines(
        "2024-03-02 10:11:02,118 DEBUG TRAIN Batch 6/1200 loss 14.211 loss_att 12.904 lr 0.00041 rank 0",
        "2024-03-02 10:11:02,402 DEBUG TRAIN Batch 6/1200 loss 21.870 loss_att 19.115 lr 0.00041 rank 3",
        "[rank1]: step 40 | loss 2.31 | rank 5",
        "step 41 | loss 2.30 | mean rank 12",
    ))
    assert [r.rank for r in records] == [0, 3, 1, None]


def test_a_count_whose_total_moves_while_it_holds_is_the_epoch_and_the_total_the_step() -> None:
    """WeNet's executor (wenet-e2e/wenet wenet/utils/executor.py) has printed `'TRAIN Batch {}/{} loss
    {:.6f} '.format(epoch, batch_idx, ...)` in some versions and `.format(batch_idx, num_total_batch, ...)`
    in others: a total stays put while its count goes up, so where the number after the slash moves and
    the one before holds, the first counts epochs and the second the steps. The pair is known once one of
    its numbers changes; a true total keeps its reading (and its compiled layout)."""
    records = steps(lines(
        "2024-03-02 10:11:02,118 DEBUG TRAIN Batch 6/1200 loss 14.211 loss_att 12.904 lr 0.00041 rank 0",
        "2024-03-02 10:12:39,512 DEBUG TRAIN Batch 6/1300 loss 13.870 loss_att 12.113 lr 0.00041 rank 0",
        "2024-03-02 10:14:17,006 DEBUG TRAIN Batch 6/1400 loss 13.502 loss_att 11.905 lr 0.00040 rank 0",
        "2024-03-02 10:31:40,733 DEBUG TRAIN Batch 7/0 loss 13.377 loss_att 11.873 lr 0.00040 rank 0",
    ))
    assert [(r.step, r.epoch, r.total_steps) for r in records[1:]] == [(1300, 6, None), (1400, 6, None), (0, 7, None)]
    records = steps(lines(*(
        f"2024-03-02 10:{11 + i:02d}:02,118 DEBUG TRAIN Batch {100 * i}/5200 loss {14.2 - 0.1 * i:.6f} lr 0.00041"
        for i in range(4)
    )))
    assert [(r.step, r.total_steps) for r in records] == [(0, 5200), (100, 5200), (200, 5200), (300, 5200)]


def test_per_rank_losses_of_one_log_judge_a_rank_with_little_history() -> None:
    """WeNet's ranks each print their own batch's loss into one log (`... rank N`), seconds apart: one
    rank's second value at twice its first is within what the ranks print at the same steps, no spike;
    a jump far above every rank's range still is."""
    def wenet(rows: list[tuple[int, float, int]]) -> str:
        return lines(*(
            f"2024-03-02 10:{index // 6:02d}:{index % 6 * 9:02d},118 DEBUG TRAIN Batch 4/{batch} loss {loss:.6f} "
            f"lr 0.00032 rank {rank}"
            for index, (batch, loss, rank) in enumerate(rows)
        ))

    noisy = [(203700, 12.64, 0), (203700, 16.88, 1), (203700, 19.72, 2), (203800, 23.60, 2), (203800, 18.34, 1),
             (203800, 25.61, 0)]
    assert events_both_ways(wenet(noisy)) == "[]"
    jump = noisy[:5] + [(203800, 96.50, 0)]
    assert "code='LOSS-SPIKE'" in events_both_ways(wenet(jump))


def test_an_epochs_averaged_stats_between_its_passes_is_no_step_back() -> None:
    """DeiT, MAE and BEiT (facebookresearch/deit engine.py: `metric_logger.log_every(data_loader,
    print_freq, 'Epoch: [{}]'.format(epoch))`, utils.py's `'{header} [{0}/{1}] eta: {eta} {meters}
    time: {time} data: {data} max mem: {memory:.0f}'`, then `print("Averaged stats:", metric_logger)`
    once the pass is done): the averaged line names no epoch and counts nothing, the summary of the
    pass just finished, so the next epoch's `[ 0/31]` is not the run going back; nor is that first
    batch's time, which holds the pass's set-up (data loader workers started again), a slow step."""
    rows = []
    for epoch, losses in ((11, (0.0412, 0.0388, 0.0371, 0.0365)), (12, (0.0391, 0.0377, 0.0360, 0.0352)),
                          (13, (0.0349, 0.0340, 0.0338, 0.0331)), (14, (0.0337, 0.0329, 0.0322, 0.0318)),
                          (15, (0.0322, 0.0317, 0.0311, 0.0306))):
        for batch, loss in zip((0, 10, 20, 30), losses):
            rows.append(f"Epoch: [{epoch}]  [{batch:>2}/31]  eta: 0:00:0{9 - batch // 10}  lr: 0.001{epoch}  "
                        f"loss: {loss:.4f} ({loss + 0.002:.4f})  time: {2.9 if batch == 0 else 0.1:.4f}  "
                        f"data: {2.8 if batch == 0 else 0.03:.4f}  max mem: 5990")
        rows.append(f"Epoch: [{epoch}] Total time: 0:00:07 (0.2281 s / it)")
        rows.append(f"Averaged stats: lr: 0.001{epoch}  loss: {losses[-1]:.4f} ({losses[-1] + 0.002:.4f})")
    assert events_both_ways(lines(*rows)) == "[]"
    rows += [row.replace("[11]", "[12]") for row in rows[:4]]  # resumed from the checkpoint of epoch 11
    assert "code='STEP-RESTART'" in events_both_ways(lines(*rows))


def test_lerobot_metrics_tracker_counts_in_thousands() -> None:
    """LeRobot (huggingface/lerobot, lerobot/scripts/train.py logs `train_tracker` each `log_freq` steps;
    MetricsTracker.__str__ prints `step:{format_big_number(steps)} smpl:{...} ep:{format_big_number(episodes)}
    epch:{epochs:.2f}` then its meters `loss:.3f`, `grdn:.3f` (the grad norm), `lr:0.1e`, `updt_s:.3f` (the
    update's seconds), `data_s:.3f`): `format_big_number` writes 1000 steps as `1K`, so 800 steps then
    `1K` is no step back; `ep` counts episodes there and `epch` the epochs, which wins."""
    rows = [(200 * i, 2.4 - 0.12 * i) for i in range(2, 12)]

    def lerobot(count: int) -> str:
        return f"{count // 1000}K" if count >= 1000 else str(count)

    text = lines(*(
        f"INFO 2025-03-02 10:{i:02d}:11 ot_train.py:232 step:{lerobot(step)} smpl:{lerobot(step * 32)} "
        f"ep:{step * 32 // 260} epch:{step * 32 / 13000:.2f} loss:{loss:.3f} grdn:{40 - i:.3f} lr:1.0e-05 "
        f"updt_s:0.412 data_s:0.011"
        for i, (step, loss) in enumerate(rows)
    ))
    records = steps(text)
    assert [r.step for r in records] == [400, 600, 800, 1000, 1000, 1000, 1000, 1000, 2000, 2000]
    assert [r.epoch for r in records[:3]] == [approx(0.98), approx(1.48), approx(1.97)]
    assert (records[0].grad_norm, records[0].step_time_s) == (approx(40.0), approx(0.412))
    assert events_both_ways(text) == "[]"


def test_spacy_train_table_under_its_rule() -> None:
    """spaCy v3's console logger (explosion/spaCy spacy/training/loggers.py: `table_header = ["E", "#"] +
    loss_cols + score_cols + ["Score"]`, upper-cased, `msg.row(["-" * width ...])` under it, then each
    row's epoch, step, `{0:.2f}` losses and scores): `#` is the step column, and the rule under the header
    does not end the table. A summed component loss that varies by half from one window to the next
    jumps 30x for one window: a spike at that row that came back, not a divergence."""
    tok2vec = (0.0, 1498.21, 1087.33, 233.10, 219.47, 211.02, 198.66, 214.90, 241.37, 279.12, 262.45, 318.70,
               377.08, 301.64, 8417.55, 402.19, 341.02, 371.44, 438.90, 392.75)
    rows = [
        f"{step // 600:>3}  {step:>6}  {loss:>12.2f}  {4800.0 / (1 + step / 400):>8.2f}  {70 + step / 200:>6.2f}  "
        f"{0.70 + step / 20000:>6.2f}"
        for step, loss in zip(range(0, 4000, 200), tok2vec)
    ]
    text = lines(
        "============================= Training pipeline =============================",
        "E    #       LOSS TOK2VEC  LOSS NER  ENTS_F  SCORE ",
        "---  ------  ------------  --------  ------  ------",
        *rows,
    )
    records = steps(text)
    assert [(r.step, r.epoch) for r in records[:3]] == [(0, 0.0), (200, 0.0), (400, 0.0)]
    assert records[14].loss == approx(8417.55)
    events = events_both_ways(text)
    assert re.search(r"code='LOSS-SPIKE', file='[^']*', line=18,", events) and "DIVERGENCE" not in events


def test_hf_trainer_metrics_block_with_names_padded_to_a_column() -> None:
    """The Hugging Face Trainer's `log_metrics` (transformers/trainer_pt_utils.py: `print(f"***** {split}
    metrics *****")`, then `print(f"  {key: <{k_width}} = {metrics_formatted[key]:>{v_width}}")` for each
    sorted key), which every example script calls after `trainer.evaluate()`: the names are padded to the
    longest one, so a label sits far from its `=`; a NaN evaluation loss there is reported."""
    text = lines(
        "***** eval metrics *****",
        "  epoch                     =        3.0",
        "  eval_bleu                 =     0.0041",
        "  eval_loss                 =        nan",
        "  eval_runtime              = 0:01:09.44",
        "  eval_samples              =       2000",
        "  eval_samples_per_second   =     28.801",
    )
    assert "code='EVAL-LOSS-NAN'" in events_both_ways(text)
    assert events_both_ways(text.replace("      nan", "     2.4817")) == "[]"


def test_a_loaded_checkpoints_numbers_are_no_record_but_a_resume() -> None:
    """build-nanogpt forks load their checkpoint and print what it holds (`print(f"Loaded checkpoint from
    {checkpoint_path}, epoch {epoch}, step {step}, val_loss {val_loss}")`), then train on with the
    nanoGPT-style `step {step} | loss: ... | dt: ...ms` lines: the load line is the resume the fault
    scanner reports, not a progress record with an evaluation loss."""
    text = lines(
        "Loaded checkpoint from log/model_05000.pt, epoch 0, step 5000, val_loss 3.4410",
        "step  5000 | loss: 3.402117 | lr 5.9120e-04 | norm: 0.3411 | dt: 801.22ms | tok/sec: 654360.11",
        "step  5001 | loss: 3.398305 | lr 5.9119e-04 | norm: 0.3388 | dt: 799.87ms | tok/sec: 655464.92",
    )
    assert [r.step for r in steps(text)] == [5000, 5001]
    assert "code='RESUME-FROM-CHECKPOINT'" in events_both_ways(text)


def test_basicsr_message_logger_l_prefixed_losses() -> None:
    """BasicSR, XPixelGroup/BasicSR basicsr/utils/logger.py `MessageLogger.__call__`: `[name..][epoch:
    {epoch:3d}, iter:{iter:8,d}, lr:({lr:.3e},)] [eta: ..., time (data): {t:.3f} ({d:.3f})] ` then
    `{k}: {v:.4e} ` per logged value; keys starting `l_` are the losses (it files them under
    `losses/`). The iteration is printed with thousands separators."""
    records = steps(
        lines(
            "2024-02-11 08:15:02,101 INFO: [train..][epoch:  3, iter:   9,800, lr:(1.000e-04,)] "
            "[eta: 2 days, 1:02:03, time (data): 0.412 (0.003)] l_pix: 1.2345e-02 l_percep: 2.1000e+00 ",
            "2024-02-11 08:15:43,577 INFO: [train..][epoch:  3, iter:   9,900, lr:(1.000e-04,)] "
            "[eta: 2 days, 1:01:20, time (data): 0.409 (0.003)] l_pix: 1.1987e-02 l_percep: 2.0500e+00 ",
            "2024-02-11 08:16:24,918 INFO: [train..][epoch:  3, iter:  10,000, lr:(1.000e-04,)] "
            "[eta: 2 days, 1:00:41, time (data): 0.415 (0.004)] l_pix: nan l_percep: nan ",
        )
    )
    assert [r.step for r in records] == [9800, 9900, 10000]
    assert records[0].loss in (approx(1.2345e-2), approx(2.1))
    assert records[1].loss is not None and records[1].loss < records[0].loss
    assert math.isnan(records[2].loss)


def test_a_count_printed_with_its_total_beside_the_step_lends_it_the_total() -> None:
    """A custom loop that prints the batch count with its total and the iteration again beside it,
    comma separated (`batch count: i/N, iter: i, <name>_loss: v, ..., loss: v`; the layout of
    InterDigitalInc/PccAI issue 1): the step's total is the count's, and `loss` is the loss."""
    records = steps(
        lines(
            "[2024-04-02 09:00:01,100]     batch count: 280/308, iter: 280, bpp_loss: 0.0124, xyz_loss: 0.0771, "
            "loss: 0.0895, aux_loss: 164.0879",
            "[2024-04-02 09:00:03,010]     batch count: 300/308, iter: 300, bpp_loss: 0.0129, xyz_loss: 0.0760, "
            "loss: 0.0889, aux_loss: 142.2326",
            "[2024-04-02 09:00:05,300]     batch count: 0/308, iter: 0, bpp_loss: 0.0125, xyz_loss: 0.0809, "
            "loss: 0.0934, aux_loss: 136.1090",
        )
    )
    assert [(r.step, r.total_steps) for r in records] == [(280, 308), (300, 308), (0, 308)]
    assert [r.loss for r in records] == [approx(0.0895), approx(0.0889), approx(0.0934)]
    # a count of another value beside the step lends it nothing
    [record] = steps("batch count: 20/308, iter: 9020, loss: 0.0895\n")
    assert (record.step, record.total_steps) == (9020, None)


def test_epoch_summary_lines_with_a_weighted_loss_name_and_a_slashed_date() -> None:
    """Epoch summaries behind a header stamped `YYYY/MM/DD, HH:MM:SS` (the layout of zzh-tech/ESTRNN
    issue 43): `[Epoch e / lr x]` gives the epoch, not the year of the date; each epoch's loss is
    printed again alone, named by an identifier with `loss` inside it (`L1_Charbonnier_loss_color :
    0.045977;`), beside its weighted form and `PSNR : inf (best inf)`, a metric. An infinite loss in
    one epoch is a NaN finding that ends where the loss is finite again."""
    rows = []
    for epoch, loss in ((6, "0.051840"), (7, "0.051200"), (8, " inf"), (9, "0.050700")):
        rows += [
            f"2024/05/0{epoch - 5}, 08:00:00 - [Epoch {epoch} / lr 5.00e-04]",
            "[train] epoch time: 29876.10s, average batch time: 8.88s",
            f"[train] 1*L1_Charbonnier_loss_color : {loss.strip()[:6]} (best 0.0512), PSNR : inf (best inf)",
            f"[train] L1_Charbonnier_loss_color : {loss};",
            "",
        ]
    text = lines(*rows)
    records = steps(text)
    # the header is a layout once its shape repeats; never the date's `2024/05` as a count and its total
    assert [(r.epoch, r.step, r.total_steps) for r in records if r.epoch is not None][-2:] == [
        (8.0, 8, None), (9.0, 9, None)]
    losses = [r.loss for r in records if r.loss is not None]
    assert losses[-3] == approx(0.0512) and math.isinf(losses[-2]) and losses[-1] == approx(0.0507)
    events = scan_one_way(text, False, 4096)[0]
    assert "code='LOSS-NAN'" in events and "finite again at line 19" in events and "step None" not in events


def test_tacotron2_train_loss_with_the_iteration_between_name_and_value() -> None:
    """NVIDIA/tacotron2 train.py (and WaveGlow, Mellotron and their forks): `print("Train loss {}
    {:.6f} Grad Norm {:.6f} {:.2f}s/it".format(iteration, reduced_loss, grad_norm, duration))`: the
    whole number after the loss name is the iteration, the fraction after it the loss."""
    records = steps(
        lines(
            "Train loss 8001 0.412233 Grad Norm 0.518812 1.02s/it",
            "Train loss 8002 0.409871 Grad Norm 0.497701 1.01s/it",
            "Train loss 8003 nan Grad Norm nan 1.05s/it",
            "Train loss 8004 0.415520 Grad Norm 0.530087 1.03s/it",
        )
    )
    assert [r.step for r in records] == [8001, 8002, 8003, 8004]
    assert records[0].loss == approx(0.412233) and records[1].grad_norm == approx(0.497701)
    assert records[0].step_time_s == approx(1.02)
    assert math.isnan(records[2].loss) and records[3].loss == approx(0.41552)
    [first_nan] = steps("Train loss 7 nan Grad Norm nan 1.05s/it\n")
    assert first_nan.step == 7 and math.isnan(first_nan.loss)


# --- a step and a loss, printed bare ---------------------------------------------------------


def test_a_bare_step_and_loss_are_a_record() -> None:
    """`print(t, loss.item())`: the PyTorch tutorials (pytorch/tutorials
    beginner_source/examples_nn/polynomial_nn.py, `if t % 100 == 99: print(t, loss.item())`) and the
    hand-written loops that copy them, such as yanmtt's pretraining script (prajdabre/yanmtt issue 7
    shows its `76980 nan`). A whole number that goes up and a fraction, nothing else: the step and
    the loss, a non-finite loss kept."""
    records = steps(lines("99 1274.7548828125", "199 812.25", "  299 513.0625", "399 nan", "499 -inf"))
    assert [r.step for r in records] == [199, 299, 399, 499]
    assert records[0].loss == approx(812.25) and records[1].loss == approx(513.0625)
    assert math.isnan(records[2].loss) and records[3].loss == -math.inf


def test_a_bare_non_finite_loss_is_a_record_at_once() -> None:
    """The first bare line with a non-finite loss is read before its layout has repeated."""
    [record] = steps("76980 nan")
    assert math.isnan(record.loss)


def test_bare_numbers_that_are_no_step_and_loss_give_no_record() -> None:
    """Two whole numbers (a table of counts), three numbers, a date and a number, a fraction first,
    a label in front: none is a bare step and loss."""
    for text in (
        lines("12 34", "13 36", "14 38"),
        lines("100 0.5 0.3", "200 0.4 0.3", "300 0.3 0.3"),
        lines("2024-01-01 2.5", "2024-01-02 2.4", "2024-01-03 2.3"),
        lines("0.5 100", "0.4 200", "0.3 300"),
        lines("id 100 0.5", "id 200 0.4", "id 300 0.3"),
    ):
        assert steps(text) == [], text


def test_a_step_named_in_prose_with_at() -> None:
    """`step at N` names the step: a Retrieval-based-Voice-Conversion training log, as its issue 1882
    (RVC-Project/Retrieval-based-Voice-Conversion-WebUI) shows it: `Total loss at epoch 5, step at
    58400, loss=...` behind a `date time | INFO | logs |` prefix."""
    records = steps(lines(
        "2024-04-10 04:59:03 | INFO | logs | Total loss at epoch 5, step at 58400, loss=31.05",
        "2024-04-10 05:01:07 | INFO | logs | Total loss at epoch 5, step at 58600, loss=33.73",
    ))
    assert [(r.step, r.loss) for r in records] == [(58400, approx(31.05)), (58600, approx(33.73))]


def test_a_whole_number_before_a_bare_counter_is_its_epoch() -> None:
    """Learning-to-See-in-the-Dark (cchen156/Learning-to-See-in-the-Dark train_Sony.py,
    `print("%d %d Loss=%.3f Time=%.3f" % (epoch, cnt, ...))`): the count starts again at 1 when the
    number before it goes up, so that number is the epoch and the count's return no restart."""
    text = lines(*(f"333 {c} Loss={0.05 + 0.001 * c:.3f} Time=0.040" for c in range(158, 162)),
                 *(f"334 {c} Loss=0.049 Time=0.041" for c in (1, 2, 3)))
    records = steps(text)
    assert [(r.epoch, r.step) for r in records][-4:] == [(333.0, 161), (334.0, 1), (334.0, 2), (334.0, 3)]
    events, _summary, _state, _skimmed = scan_one_way(text + "\n", False, 4096)
    assert "STEP-RESTART" not in events


def test_a_bare_step_with_a_colon_and_its_loss() -> None:
    """NVIDIA WaveGlow's train.py: `print("{}:\\t{:.9f}".format(iteration, reduced_loss))`. The
    count with its colon is the step (not a launcher's rank prefix), the value the loss, negative
    for a flow's log-likelihood."""
    records = steps(lines("123873:\t-5.480178833", "123874:\t-5.352289200", "123875:\t40490.179687500"))
    assert [(r.step, r.loss) for r in records] == [(123874, approx(-5.3522892)), (123875, approx(40490.1796875))]


def test_a_loss_name_with_what_it_is_of_in_brackets() -> None:
    """EESEN's CTC trainer logs from its ctc-loss.cc `After N sequences (H Hr): Obj(log[Pzx]) = ...
    TokenAcc = ...%` (srvk/eesen issues 73 and 87 show it): a loss name followed by what it is of,
    in brackets, names a loss."""
    text = lines(*(f"VLOG[1](train-ctc-parallel:EvalParallel():ctc-loss.cc:182) After {n}000 sequences "
                   f"({n / 10:.4f}Hr): Obj(log[Pzx]) = -{8 + n / 100:.5f}   TokenAcc = 97.4986%" for n in (62, 63, 64)))
    records = steps(text)
    assert [r.loss for r in records] == [approx(-8.63), approx(-8.64)]


def test_open_mpi_tagged_lines_are_read_per_rank() -> None:
    """TensorFlow's logging under `mpirun --tag-output` (Horovod's DeepLab example in horovod/horovod
    issue 1737): each line carries `[job,rank]<stderr>:`, so two ranks' losses are two series."""
    text = lines(*(f"[1,{r}]<stderr>:INFO:tensorflow:cross_entropy = {v}, learning_rate = 0.0138 (7.3 sec)"
                   for v in (80.1, 81.2, 79.9) for r in (0, 1)))
    records = steps(text)
    assert sorted({r.rank for r in records}) == [0, 1] and all(r.loss is not None for r in records)


def test_modded_nanogpt_step_average_is_the_step_time() -> None:
    """KellerJordan/modded-nanogpt train_gpt.py prints `step:{step}/{num_iterations}
    train_loss:{loss:.4f} train_time:{ms:.0f}ms step_avg:{ms/steps:.2f}ms` (its committed records
    show it): `train_time` is the run's time so far, `step_avg` the time a step takes. A smooth run
    is no slowdown."""
    text = lines(*(f"step:{s}/5000 train_loss:{3.2 - s / 10000:.4f} train_time:{int(s * 164.4)}ms "
                   f"step_avg:{164.4 + s / 100000:.2f}ms" for s in range(200, 6200, 200)))
    records = steps(text)
    assert records[-1].step_time_s == approx(0.16446) and len(records) >= 28
    events, _summary, _state, _skimmed = scan_one_way(text + "\n", True, 4096)
    assert "SLOWDOWN" not in events


def test_an_elapsed_time_in_milliseconds_is_read_in_seconds_either_way() -> None:
    """An elapsed-time slot printed in ms gives the same clock and step time whether the line is read
    in full or through its compiled layout (the first lines against the later ones)."""
    text = lines(*(f"iter {i} | loss {2.0 - i / 1000:.4f} | elapsed: {i * 250}ms" for i in range(10, 130, 10)))
    records = steps(text)
    assert {round(r.step_time_s, 6) for r in records[1:]} == {0.25}
    assert [r.epoch_s for r in records[1:]] == [approx(r.step * 0.25) for r in records[1:]]


def test_camel_case_names_are_read_as_words() -> None:
    """ncflow's meta-training loop (ddrous/ncflow, its committed nohup logs) prints `Outer Step: N
    LossTrajs: x  ContextsNorm: y  ValIndCrit: z`: `LossTrajs` is a loss, written in camelCase;
    `valLoss` an evaluation loss, `gradNorm` a grad norm. A name read whole first keeps its meaning
    (`TFLOPs`)."""
    text = lines(*(f"    Outer Step:   {s}      LossTrajs: {v}     ContextsNorm: 0.0369     ValIndCrit: 1.53"
                   for s, v in ((100, "1.46777022"), (110, "1.44530368"), (140, "nan"))))
    records = steps(text)
    assert [r.step for r in records][-2:] == [110, 140] and math.isnan(records[-1].loss)
    [record] = steps("epoch 3 step 200 trainLoss 2.31 valLoss 2.47 gradNorm 0.91")[-1:]
    assert (record.loss, record.grad_norm) == (approx(2.31), approx(0.91))


def test_a_non_finite_value_in_a_headerless_table_row() -> None:
    """ultralytics/yolov3's early train.py printed its column header once per epoch and then rows of
    `%11.3g` numbers (`epoch/epochs  batch/batches  xy wh conf cls total  targets time`); an excerpt
    without the header still shows the run's NaN. Rows of finite numbers alone give no record."""
    text = lines(*(f"   0/272     {b}/7328       nan       nan       nan       nan       nan       116     0.273"
                   for b in (18, 19, 20)))
    records = steps(text)
    assert records and all(math.isnan(r.loss) for r in records)
    finite = lines(*(f"   0/272     {b}/7328     0.412      1.02      3.91      2.07      7.41       116     0.273"
                     for b in (18, 19, 20)))
    assert steps(finite) == []


def test_headerless_rows_with_units_dashes_timestamps_and_list_brackets() -> None:
    """Rows of unnamed numbers in other dress: YOLOv7's train.py rows (`%10s` epoch/epochs, GPU memory
    as `13.5G`, then `%10.4g` losses); rows behind a timestamp, with `----` for a value not measured;
    VITS's train.py `logger.info([x.item() for x in losses] + [global_step, lr])` through
    `logging.basicConfig` (`INFO:<name>:` before the list). Without an `i/N`, which column counts is
    learned from the repeats: a non-finite value counts once its row repeats with a counter that
    went up, and a printed array with a NaN in it is no progress at all."""
    yolo = lines(*(f"     {e}/120     11.2G   {loss}   {loss}   {loss}        14       640"
                   for e, loss in ((1, "0.04212"), (2, "0.03951"), (3, "nan"), (4, "nan"))))
    records = steps(yolo)
    assert [r.step for r in records] == [3, 4] and all(math.isnan(r.loss) for r in records)
    dashed = lines(*(f"2023-02-11 09:1{i}:05,114 {5300 + i} 0.00 nan ---- ---- nan 0.12" for i in range(3)))
    records = steps(dashed)
    assert [r.step for r in records] == [5301, 5302] and all(math.isnan(r.loss) for r in records)
    vits = lines(*(f"INFO:tts_base:[nan, nan, nan, {91.2 + i}, 1.0132, inf, {16200 + 200 * i}, 0.00019]"
                   for i in range(3)))  # loss_disc, loss_gen, loss_fm, loss_mel, loss_dur, loss_kl, step, lr
    records = steps(vits)
    assert [r.step for r in records] == [16400, 16600] and all(math.isnan(r.loss) for r in records)
    assert "code='LOSS-NAN'" in events_both_ways(vits)
    assert steps(lines("[ 1.  2. nan  4.]", "[ 5.  6. nan  8.]")) == []


def test_darknet_names_its_average_loss_after_the_value() -> None:
    """AlexeyAB/darknet src/detector.c prints `printf("\\n %d: %f, %f avg loss, %f rate, %lf seconds,
    %d images, %f hours left\\n", ...)`: the iteration and a colon (no rank prefix), the batch loss,
    then values named after them. `-nan` in the average loss is the run's NaN."""
    text = lines(*(f" {i}: {loss}, {avg} avg loss, 0.001000 rate, 3.412771 seconds, {64 * i} images, "
                   "51.300000 hours left" for i, loss, avg in ((1201, "2.903114", "3.117405"),
                                                         (1202, "2.771308", "3.082796"),
                                                         (1203, "-nan", "-nan"))))
    records = steps(text)
    assert [r.step for r in records] == [1202, 1203]
    assert records[0].loss == approx(3.082796) and math.isnan(records[1].loss)
    assert records[0].rank is None
    assert "code='LOSS-NAN'" in events_both_ways(text)


def test_a_right_aligned_table_of_losses_and_their_total() -> None:
    """YOLOv5's and YOLOv7's train.py print `('%10s' * 8) % ('Epoch', 'gpu_mem', 'box', 'obj', 'cls',
    'total', 'labels', 'img_size')`, then each row `('%10s' * 2 + '%10.4g' * 6)` as the description of the
    epoch's tqdm bar: columns aligned right, so a value sits under the header name it ends with. The
    `total` beside the loss columns is the loss, the others its terms; a message DDP glues after the bar
    (`Reducer buckets have been rebuilt in this iteration.`) neither ends the table nor is a row of it."""
    header = "     Epoch   gpu_mem       box       obj       cls     total    labels  img_size"
    rows = [(1, "0.0935", "0.0412", "0.0207", "0.1554"), (9, "nan", "0.0399", "nan", "nan")]
    text = lines(header, *(
        f"     0/149     10.1G{box:>10}{obj:>10}{cls:>10}{total:>10}        61       640: "
        f"  {n * 100 // 120}%|▏         | {n}/120 [00:0{n // 2}<02:10,  1.03it/s]"
        + ("Reducer buckets have been rebuilt in this iteration." if n == 1 else "")
        for n, box, obj, cls, total in rows
    ))
    read = steps(text)
    assert [r.epoch for r in read] == [0, 0]
    assert read[0].loss == approx(0.1554) and math.isnan(read[1].loss)
    assert "code='LOSS-NAN'" in events_both_ways(text)


def test_a_table_row_as_a_bars_description_takes_the_bars_count_and_rate() -> None:
    """YOLOv5's train.py sets each row as the description of the epoch's tqdm bar
    (`pbar.set_description(('%10s' * 2 + '%10.4g' * 6) % (f'{epoch}/{epochs - 1}', mem, *mloss, ...))`):
    the row names the epoch only, the bar counts its batches and their rate. Each update is a record at
    the bar's count within the row's epoch, so a slowdown inside an epoch shows, and the next epoch's
    first batches are no step back."""
    header = "     Epoch   gpu_mem       box       obj       cls     total    labels  img_size"

    def update(epoch: int, n: int, rate: str) -> str:
        loss = 0.09 - 0.0001 * (epoch * 40 + n)
        losses = f"{loss:>10.4g}{0.031:>10.4g}{0.012:>10.4g}{loss + 0.043:>10.4g}"
        row = f"{epoch:>7}/49     3.61G{losses}        27       640"
        return f"{row}: {n * 100 // 40:3d}%|▌         | {n}/40 [00:{n:02d}<00:30,  {rate}]"

    rows = [update(0, n, "2.10it/s" if n <= 20 else "1.45s/it") for n in range(1, 41)]
    rows += [update(1, n, "1.47s/it") for n in range(1, 6)]
    text = lines(header, *rows)
    read = steps(text)
    assert [(r.epoch, r.step) for r in read[:2]] == [(0, 1), (0, 2)] and (read[-1].epoch, read[-1].step) == (1, 5)
    assert read[0].step_time_s == approx(1 / 2.10) and read[-1].step_time_s == approx(1.47)
    events = events_both_ways(text)
    assert "code='SLOWDOWN'" in events and "STEP-RESTART" not in events


def test_loss_heads_are_losses_only_as_table_columns() -> None:
    """`vocabulary.json`'s `loss_heads`: each is a loss as a column of a progress table, and nothing
    as a label on a line of its own (darknet's `Obj: 0.43` is a mean objectness score)."""
    from monitor.parsers.vocabulary import vocabulary

    vocab = vocabulary()
    for name in ("obj", "box", "cls"):
        assert vocab.column(name).meaning.field == "loss", name
        assert vocab.label(name).meaning is None, name


def test_a_kl_divergence_counts_only_when_it_is_not_finite() -> None:
    """openai/baselines' logger prints `| KL | nan |` in ACKTR's table when the update broke: with no
    loss on the line, a non-finite KL is the run's NaN. A finite KL is no loss (OpenRLHF's PPO bar
    prints `kl=0` at its first epoch, which is no collapse)."""
    rows = lines(*(f"step {s} | EpRewMean {-8.5 + s / 1000:.2f} | KL {v}" for s, v in ((3025, "0.00148"),
                                                                                      (3026, "0.00091"),
                                                                                      (3027, "nan"))))
    records = steps(rows)
    assert [r.step for r in records] == [3027] and math.isnan(records[0].loss)
    finite = steps(lines(*(f"step {s} | pg=-0.0683, ret=-0.5, kl=0, act_lr=4.95e-7" for s in (10, 11, 12))))
    assert all(r.loss is None for r in finite)


# --- loss terms: a NaN in a term, the terms of one step on lines of their own ------------------


def _events(tmp_path, text: str) -> list:
    from monitor.pipeline import scan_source
    from monitor.sources.files import Source

    log = tmp_path / "train.log"
    log.write_text(text + "\n")
    return scan_source(Source(str(log), str(log))).events


def test_a_non_finite_loss_term_beside_a_finite_loss_makes_the_loss_not_finite() -> None:
    """GluonCV's SSD script (scripts/detection/ssd/train_ssd.py) logs `[Epoch e][Batch i], Speed: X
    samples/sec, CrossEntropy=a, SmoothL1=b`: the training loss is the sum of the two metrics, so a
    NaN SmoothL1 is a NaN loss even where the cross-entropy printed is finite. The layout compiles
    on the first lines; the NaN line still gets the full reading. A cross-entropy too large for 18
    digits before its fraction is read whole (a float, 2.5e33)."""
    rows = [
        f"INFO:root:[Epoch 0][Batch {i}], Speed: 24.{i}10 samples/sec, CrossEntropy={4.0 - i / 10:.3f}, "
        f"SmoothL1={1.5 - i / 20:.3f}"
        for i in range(6)
    ]
    rows.append("INFO:root:[Epoch 0][Batch 6], Speed: 24.610 samples/sec, CrossEntropy=3.355, SmoothL1=nan")
    rows.append("INFO:root:[Epoch 0][Batch 7], Speed: 24.710 samples/sec, "
                "CrossEntropy=2511234189311495764698741583380480.000, SmoothL1=1.200")
    read = steps(lines(*rows))
    assert [r.step for r in read] == list(range(8))
    assert read[0].loss == approx(4.0) and read[5].loss == approx(3.5)
    assert math.isnan(read[6].loss)
    assert read[7].loss == approx(2.511234189311495764698741583380480e33)


def test_a_finite_loss_term_is_not_the_loss() -> None:
    """Near miss: a term that is finite leaves the loss as printed, and an evaluation loss that is
    not finite beside a finite training loss is the evaluation's, not the training loss's."""
    read = steps(lines(
        "step 10 | loss 2.41 | loss_cls 1.21 | loss_box 1.20",
        "step 20 | loss 2.31 | loss_cls 1.16 | loss_box 1.15",
        "step 30 | loss 2.25 | loss_cls 1.10 | loss_box 1.15 | val_loss nan",
    ))
    assert [r.loss for r in read] == approx([2.41, 2.31, 2.25])


def test_speedometer_metrics_on_lines_of_their_own_are_terms_of_one_loss(tmp_path) -> None:
    """MXNet's Speedometer with several metrics logs one line per metric at each batch
    (apache/mxnet python/mxnet/callback.py, Speedometer.__call__: `Epoch[%d] Batch [%d]\\tSpeed:
    %.2f samples/sec\\t%s=%f` for each name-value pair; mxnet-ssd's `Train-CrossEntropy` and
    `Train-SmoothL1`). The two losses of one step are not one series: the line seen later is a
    term, so the SmoothL1 values (twice the cross-entropy here) raise no spike, and the epoch's
    summary lines (`Epoch[4] Train-CrossEntropy=nan`, Module.fit's end-of-epoch metrics) report
    the NaN the batches did not show."""
    rows = []
    for batch in range(20, 220, 20):
        for name, value in (("CrossEntropy", 0.60 - batch / 2000), ("SmoothL1", 1.55 - batch / 1000)):
            rows.append(f"Epoch[4] Batch [{batch}]\tSpeed: 6.4{batch % 7} samples/sec\tTrain-{name}={value:.6f}")
    rows += ["Epoch[4] Train-CrossEntropy=nan", "Epoch[4] Train-SmoothL1=nan"]
    read = steps(lines(*rows))
    finite = [r for r in read if r.loss is not None and not math.isnan(r.loss)]
    assert [r.loss for r in finite] == approx([0.60 - b / 2000 for b in range(20, 220, 20)])
    assert math.isnan(read[-1].loss) and read[-1].step == 200
    events = _events(tmp_path, lines(*rows))
    assert [e.code for e in events if e.kind in ("loss_spike", "divergence")] == []
    [nan] = [e for e in events if e.code == "LOSS-NAN"]
    assert nan.line == len(rows) - 1


def test_the_more_frequent_shape_keeps_the_loss_when_the_other_prints_first() -> None:
    """A script that prints `iter N loss X` every step and, every fifth step, a summary with
    another loss name before it: at the first step they share, the summary (seen once) is the
    term, not the per-step line, whichever comes first."""
    rows = []
    for step in range(1, 13):
        if step % 5 == 0:
            rows.append(f"iter {step} total_objective {9.0 + step:.2f} lr 0.001")
        rows.append(f"iter {step} loss {3.0 - step / 100:.3f}")
    read = steps(lines(*rows))
    assert [r.loss for r in read if r.loss is not None] == approx([3.0 - s / 100 for s in range(1, 13)])


def test_terms_read_line_by_line_and_in_bulk_give_the_same_events() -> None:
    """The term rule holds on the compiled layouts' block reading as on the full reading."""
    rows = []
    for batch in range(1, 400):
        head = f"Epoch[1] Batch [{batch}]\tSpeed: 6.{batch % 9}0 samples/sec\t"
        rows.append(f"{head}Train-CrossEntropy={0.5 + (batch % 5) / 100:.6f}")
        if batch % 3 == 0:
            rows.append(f"{head}Train-SmoothL1={1.5 + (batch % 7) / 50:.6f}")
    text = lines(*rows) + "\n"
    for chunk in (4096, 1 << 20):
        assert scan_one_way(text, bulk=True, chunk=chunk)[:3] == scan_one_way(text, bulk=False, chunk=chunk)[:3]


# --- more layouts: boosting rounds, bracketed indices, padded tables, darknet's region lines ------


def test_lightgbm_evaluation_log_per_round() -> None:
    """LightGBM's callback.log_evaluation (python-package/lightgbm/callback.py, `_format_eval_result`):
    `[{round}]\\t{data}'s {metric}: {value:g}` joined by tabs (`training's`, `valid_1's`). The round
    in brackets before a tab is the step (no log viewer's line number), the training data's
    log loss the loss and the validation data's the evaluation loss."""
    read = steps(lines(
        "[1]\ttraining's binary_logloss: 0.681234\tvalid_1's binary_logloss: 0.684321",
        "[2]\ttraining's binary_logloss: 0.662345\tvalid_1's binary_logloss: 0.668765",
        "[3]\ttraining's binary_logloss: nan\tvalid_1's binary_logloss: nan",
    ))
    assert [r.step for r in read] == [1, 2, 3]
    assert [r.loss for r in read[:2]] == approx([0.681234, 0.662345])
    assert [r.eval_loss for r in read[:2]] == approx([0.684321, 0.668765])
    assert math.isnan(read[2].loss)


def test_lightgbm_regression_metrics_reach_the_layout_learner() -> None:
    """LightGBM's regression metrics are `l2` (its default), `l1` and their aliases, printed by the same
    `_format_eval_result` as `[1]\tvalid_0's l1: 0.5`: no loss word is on the line, so the data set's
    `'s` before the metric lets it reach the learner. A validation metric that turns inf, then nan, is
    the run's non-finite evaluation loss (lightgbm-org/LightGBM#1994)."""
    read = steps(lines(*(f"[{i}]\tvalid_0's l1: {v}" for i, v in enumerate(["0.5412", "0.5127", "inf", "nan"], 1))))
    assert [r.step for r in read] == [1, 2, 3, 4] and read[0].eval_loss == approx(0.5412)
    assert math.isinf(read[2].eval_loss) and math.isnan(read[3].eval_loss)
    assert [r.eval_loss for r in steps(lines("[1]\ttraining's l2: 0.31\tvalid_1's l2: 0.42"))] == approx([0.42])


def test_cntk_minibatch_lines_and_the_msvc_nan() -> None:
    """CNTK's SGD (Source/SGDLib/SGD.cpp) logs ` Epoch[ 1 of 1]-Minibatch[   1- 500]: ... TrainLossPerSample =
    5.87155566; ...` and, built with MSVC, prints a NaN as `1.#QNAN000` (microsoft/CNTK#406): the camelCase
    name is a loss per sample, the value not finite. `EXCEPTION occurred: ...` is its top-level handler
    before it exits (Source/CNTK/CNTK.cpp)."""
    text = lines(
        " Epoch[ 1 of 1]-Minibatch[   1- 500]: SamplesSeen = 500; TrainLossPerSample =  4.91236612; "
        "EvalErr[0]PerSample = 0.31200000; TotalTime = 2.5127s; SamplesPerSecond = 199.0",
        " Epoch[ 1 of 1]-Minibatch[ 501-1000]: SamplesSeen = 500; TrainLossPerSample =  1.#QNAN000; "
        "EvalErr[0]PerSample = 0.46600000; TotalTime = 2.4110s; SamplesPerSecond = 207.4",
        "EXCEPTION occurred: The training criterion is not a number (NAN). Stop",
    )
    read = steps(text)
    assert read[0].loss == approx(4.91236612) and math.isnan(read[-1].loss)
    events = events_both_ways(text)
    assert "code='LOSS-NAN'" in events and "code='NAN-GUARD'" in events and "The process died: EXCEPTION" in events


def test_xgboost_evaluation_log_per_round() -> None:
    """XGBoost's EvaluationMonitor (python-package/xgboost/callback.py): `[{epoch}]\\t{data}-{metric}:
    {score}` for each evaluation set (`train-mlogloss`, `validation_0-logloss`: the set's number
    after its name is no part of the metric's)."""
    read = steps(lines(
        "[0]\tvalidation_0-logloss:0.61234\tvalidation_1-logloss:0.62345",
        "[1]\tvalidation_0-logloss:0.55678\tvalidation_1-logloss:0.57891",
        "[2]\ttrain-mlogloss:0.51234\teval-mlogloss:0.53456",
        "[3]\ttrain-mlogloss:0.48765\teval-mlogloss:0.51234",
    ))
    assert [r.step for r in read] == [0, 1, 2, 3]
    assert all(r.eval_loss is not None for r in read)
    assert read[3].loss == approx(0.48765) and read[3].eval_loss == approx(0.51234)


def test_xgboost_negative_log_likelihood_metrics() -> None:
    """XGBoost's likelihood metrics (src/metric/elementwise_metric.cu: `poisson-nloglik`,
    `gamma-nloglik`, `cox-nloglik`) are the training objective of a count or duration regression:
    not finite on the train set, the run's NaN."""
    text = lines(
        "[0]\ttrain-gamma-nloglik:3.41207\tvalid-gamma-nloglik:3.52816",
        "[1]\ttrain-gamma-nloglik:2.98734\tvalid-gamma-nloglik:3.10522",
        "[2]\ttrain-gamma-nloglik:nan\tvalid-gamma-nloglik:nan",
    )
    read = steps(text)
    assert [r.step for r in read] == [0, 1, 2]
    assert read[1].loss == approx(2.98734) and read[1].eval_loss == approx(3.10522) and math.isnan(read[2].loss)
    assert "code='LOSS-NAN'" in events_both_ways(text)


def test_near_miss_a_line_number_in_brackets_before_a_blank_is_still_a_prefix() -> None:
    """A log viewer's line number (`[1744] `) stays a prefix: the step is the line's own."""
    read = steps(lines("[1744] step 120 loss 2.31", "[1745] step 130 loss 2.27"))
    assert [r.step for r in read] == [120, 130]


def test_a_step_in_brackets_after_the_loss_name() -> None:
    """crnn-pytorch's train script (GitYCC/crnn-pytorch src/train.py) prints
    `print('train_batch_loss[', i, ']: ', loss / train_size)`: the number in brackets after the name
    is the step, the value after the colon the loss."""
    read = steps(lines(
        "train_batch_loss[ 6510 ]:  1.5743603706359863",
        "train_batch_loss[ 6520 ]:  2.0356717109680176",
        "train_batch_loss[ 6530 ]:  nan",
    ))
    assert [r.step for r in read] == [6510, 6520, 6530]
    assert read[1].loss == approx(2.0356717109680176) and math.isnan(read[2].loss)


def test_a_padded_table_with_names_of_two_words_and_values_in_brackets() -> None:
    """DeepXDE's training display (deepxde/display.py, TrainingDisplay.header and __call__): `Step`,
    `Train loss`, `Test loss`, `Test metric` padded to a common width, each row the step and the
    losses of every term as a list (`[5.47e+03]`). A column name of two words is one name when
    the columns are two blanks or more apart."""
    read = steps(lines(
        "Step      Train loss    Test loss     Test metric",
        "0         [4.12e+03]    [5.20e+03]    []",
        "1000      [3.98e+02]    [4.41e+02]    []",
        "2000      [nan]         [nan]         []",
    ))
    assert [r.step for r in read] == [0, 1000, 2000]
    assert [r.loss for r in read[:2]] == approx([4120.0, 398.0])
    assert [r.eval_loss for r in read[:2]] == approx([5200.0, 441.0])
    assert math.isnan(read[2].loss)


def test_near_miss_darknet_region_lines_are_no_losses() -> None:
    """darknet's YOLO layers (AlexeyAB/darknet src/yolo_layer.c, forward_yolo_layer) print
    `Region 82 Avg (IOU: ..., GIOU: ...), Class: ..., Obj: ..., No Obj: ..., .5R: ..., .75R: ...,
    count: N`: means over a scale's objects, `-nan` where the scale saw none. `Obj` is an
    objectness score, no loss; the iteration line's `avg loss` is the loss."""
    read = steps(lines(
        " 1201: 2.912345, 3.201234 avg loss, 0.001000 rate, 2.612345 seconds, 76864 images",
        "v3 (mse loss, Normalizer: (iou: 0.75, cls: 1.00) Region 82 Avg (IOU: -nan, GIOU: -nan), Class: -nan, "
        "Obj: -nan, No Obj: 0.000005, .5R: -nan, .75R: -nan, count: 0",
        "v3 (mse loss, Normalizer: (iou: 0.75, cls: 1.00) Region 94 Avg (IOU: 0.612345, GIOU: 0.601234), "
        "Class: 0.991234, Obj: 0.412345, No Obj: 0.001234, .5R: 0.812345, .75R: 0.312345, count: 12",
        "v3 (mse loss, Normalizer: (iou: 0.75, cls: 1.00) Region 82 Avg (IOU: -nan, GIOU: -nan), Class: -nan, "
        "Obj: -nan, No Obj: 0.000004, .5R: -nan, .75R: -nan, count: 0",
    ))
    assert all(r.loss is None or not math.isnan(r.loss) for r in read)


def test_two_models_printed_at_the_same_step_are_not_one_series(tmp_path) -> None:
    """DeBERTa's RTD pretraining (microsoft/DeBERTa DeBERTa/training/trainer.py, TrainerState.report_state:
    `{tag}[{progress:0.1f}%][{eta:0.2f}h] Steps={}, loss={}, examples={}, loss_scale={:0.1f}, {:0.1f}s`,
    the tag `[name]` of each of apps/tasks/rtd_task.py's two trainers) logs the
    discriminator `[D]` and the generator `[G]` at every step, each with its own fp16 loss scale:
    read as one series, the generator's lower scale after the discriminator's looked like an
    overflow every step, and the two losses like spikes. The second shape at the main's step is a
    term."""
    rows = []
    for n, step in enumerate(range(3700, 4600, 100)):
        stamp = f"05/02/2023 1{n}:20:31|INFO|RTD|00|"
        examples = step * 64
        rows.append(f"{stamp} [D][0.5%][1702.11h] Steps={step}, loss={2.9 - step / 100000:.6f}, "
                    f"examples={examples}, loss_scale=131072.0, 631.2s")
        rows.append(f"{stamp} [G][0.5%][1702.10h] Steps={step}, loss={3.1 - step / 100000:.6f}, "
                    f"examples={examples}, loss_scale=65536.0, 631.2s")
    read = steps(lines(*rows))
    assert {r.loss_scale for r in read} == {131072.0}
    events = _events(tmp_path, lines(*rows))
    assert [e.code for e in events if e.kind in ("overflow", "loss_spike", "divergence")] == []


def test_markdown_tables_are_tables_under_their_header() -> None:
    """The Hugging Face Trainer's notebook table (transformers/utils/notebook.py `NotebookTrainingTracker`,
    an HTML table of `Step`, `Training Loss`, `Validation Loss` and the metrics, `No log` before a loss
    was logged) reaches issues as the Markdown table GitHub makes of a pasted HTML table: `|`-separated
    cells, a rule of dashes under the header. TRL's GRPO trainer logs through the same table."""
    hf = steps(lines("Step | Training Loss | Validation Loss", "-- | -- | --", "50 | No log | 2.412000",
                     "100 | 2.310500 | 2.287000", "150 | nan | nan"))
    assert [(r.step, r.loss, r.eval_loss) for r in hf][:2] == [(50, None, approx(2.412)),
                                                              (100, approx(2.3105), approx(2.287))]
    assert math.isnan(hf[2].loss)
    grpo = steps(lines("| Step | Training Loss | reward | reward_std | kl |", "|---|---|---|---|---|",
                       "| 1 | -0.021700 | 0.812500 | 0.402000 | 0.000000 |",
                       "| 2 | 0.004100 | 0.875000 | 0.331000 | 0.000412 |"))
    assert [(r.step, r.loss) for r in grpo] == [(1, approx(-0.0217)), (2, approx(0.0041))]
    assert steps(lines("| Name | Type | Params |", "|---|---|---|", "| model | GPT | 124 M |")) == []


def test_a_table_whose_cells_carry_units_and_a_ratio_column_is_read() -> None:
    """nolearn's NeuralNet (over Lasagne) prints one row per epoch under a `|`-separated header whose
    ratio column is named with a slash (`Train / Val`), its accuracy in percent and its duration in
    seconds (`47.83%`, `0.6s`). The rows are records, the epoch their step, and a nan in the train
    loss column is a non-finite loss. A row with a cell that is no number is still no row."""
    table = lines(" Epoch  |  Train loss  |  Valid loss  |  Train / Val  |  Valid acc  |  Dur",
                  "--------|--------------|--------------|---------------|-------------|-------",
                  "     1  |    0.912044  |    0.874310  |     1.043156  |     61.20%  |  1.4s",
                  "     2  |         nan  |    0.861002  |          nan  |     62.05%  |  1.3s",
                  "     3  |    0.850147  |    0.849921  |     1.000266  |     63.40%  |  1.4s")
    read = steps(table)
    assert [(r.step, r.eval_loss) for r in read] == [(1, approx(0.87431)), (2, approx(0.861002)),
                                                    (3, approx(0.849921))]
    assert math.isnan(read[1].loss) and read[2].loss == approx(0.850147)
    assert steps(lines(" Epoch  |  Train loss  |  Valid loss  |  Train / Val  |  Valid acc  |  Dur",
                       "     1  |    0.912044  |    0.874310  |     1.043156  |     61.20%  |  slow")) == []


def test_a_value_an_arrow_follows_is_where_it_came_from() -> None:
    """The early-stopping helper common in time-series repositories (pytorchtools `EarlyStopping`:
    `Validation loss decreased ({best:.6f} --> {val_loss:.6f}).  Saving model ...`, its first best
    np.inf) names the old value, then the new one: the old one is no news, inf included; a learning
    rate printed as `lr 0.1 -> 0.01` is the new one."""
    early = steps(lines("Validation loss decreased (inf --> 0.723953).  Saving model ...",
                        "Epoch: 2, Steps: 281 | Train Loss: 0.6680108 Vali Loss: 0.6862536"))
    assert all(r.loss is None or math.isfinite(r.loss) for r in early)
    assert all(r.eval_loss is None or math.isfinite(r.eval_loss) for r in early)
    decayed = steps(lines("step 100 lr 0.1 -> 0.01 loss 2.31", "step 200 lr 0.01 -> 0.001 loss 2.20"))
    assert [(r.step, r.lr) for r in decayed] == [(100, approx(0.01)), (200, approx(0.001))]


def test_a_value_named_by_its_sentence_after_at_iteration() -> None:
    """DL4J's ScoreIterationListener (deeplearning4j-nn optimize/listeners/ScoreIterationListener.java,
    logged through logback's `HH:mm:ss.SSS [thread] LEVEL logger - msg`): `Score at iteration {n} is
    {score}`, the score being its loss; not finite, it is the run's NaN (a score is a metric elsewhere,
    so a finite one is no loss)."""
    dl4j = steps(lines("09:12:03.118 [main] INFO  o.d.o.l.ScoreIterationListener - Score at iteration 40 is NaN",
                       "09:12:09.902 [main] INFO  o.d.o.l.ScoreIterationListener - Score at iteration 60 is NaN"))
    assert [r.step for r in dl4j] == [40, 60] and all(math.isnan(r.loss) for r in dl4j)
    finite = steps(lines("Loss at iteration 300 is 2.5", "Loss at iteration 400 is 2.4"))
    assert [(r.step, r.loss) for r in finite] == [(300, approx(2.5)), (400, approx(2.4))]


def test_dates_durations_and_percentages_count_no_steps() -> None:
    """stable-dreamfusion's custom tqdm `bar_format` (`{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt}
    [{elapsed}<{remaining}, {rate_fmt}]`, the loss in the description) and its `==> [2023-07-17_21-23-59]
    Start Training ... Epoch 82/300` banner: a date's year, an elapsed time and a percentage that grow
    are no step counters."""
    text = lines("==> [2023-07-17_21-23-59] Start Training /runs/a Epoch 82/300, lr=0.050000 ...",
                 "loss=0.9800 (0.9800), lr=0.050000: :  50% 50/100 [00:09<00:09,  5.39it/s]",
                 "loss=0.9700 (0.9750), lr=0.050000: :  51% 51/100 [00:10<00:09,  5.36it/s]",
                 "loss=0.9600 (0.9700), lr=0.050000: :  52% 52/100 [00:11<00:08,  5.35it/s]")
    found = steps(text)
    assert 2023 not in [r.step for r in found]
    assert {r.step for r in found} <= {82, 50, 51, 52, None}


def test_a_penalty_that_is_not_finite_is_read_the_same_in_bulk() -> None:
    """A compiled layout reads a penalty beside the loss (`kl`) only when finite: the line whose KL is not
    finite takes the full reading, which makes its loss not finite, in both paths."""
    rows = [f"step {i} | loss: {0.01 + 0.001 * (i % 3):.4f} | kl: {0.0004 * (i % 5):.5f} | reward: 0.8"
            for i in range(1, 400)]
    rows[300] = "step 301 | loss: 0.0110 | kl: nan | reward: 0.8"
    assert events_both_ways("\n".join(rows) + "\n").count("code='LOSS-NAN'") == 1


def test_swin_transformer_train_lines_behind_its_logger_prefix() -> None:
    """Swin Transformer (microsoft/Swin-Transformer logger.py: `[%(asctime)s %(name)s] (%(filename)s
    %(lineno)d): %(levelname)s %(message)s`, its console variant without the blank; main.py
    `train_one_epoch`: `Train: [{epoch}/{EPOCHS}][{idx}/{num_steps}]\\teta ... lr ...\\t wd ...\\ttime {val}
    ({avg})\\tloss {val} ({avg})\\tgrad_norm {val} ({avg})\\t...`), copied by VMamba, SimMIM and many
    vision repositories: the source location is prefix, `[e/E]` the epoch, `[i/n]` the batch in it."""
    found = steps(lines(
        "[2024-05-02 10:00:19 swin_tiny] (main.py 216): INFO Train: [3/300][100/1251]\teta 0:07:04 lr 0.000125\t "
        "wd 0.0500\ttime 0.4512 (0.4630)\tloss 5.1213 (5.2201)\tgrad_norm 3.1021 (3.0114)\tmem 9083MB",
        "[2024-05-02 10:01:04 swin_tiny](main.py 216): INFO Train: [3/300][200/1251]\teta 0:06:18 lr 0.000126\t "
        "wd 0.0500\ttime 0.4498 (0.4601)\tloss nan (nan)\tgrad_norm inf (inf)\tmem 9083MB"))
    assert [(r.step, r.epoch, r.total_steps) for r in found] == [(100, 3.0, 1251), (200, 3.0, 1251)]
    assert found[0].loss == approx(5.1213) and found[0].grad_norm == approx(3.1021)
    assert math.isnan(found[1].loss) and found[1].time == "2024-05-02T10:01:04"


def test_a_value_not_yet_defined_glued_to_its_unit_is_read() -> None:
    """modded-nanogpt's first lines (train_gpt.py: `step_avg:{approx_training_time_ms/timed_steps:.2f}ms`
    with no timed step yet) print `step_avg:nanms`: the step time is not known yet, and the run's time so
    far (`train_time:24028ms`) is no step time; `nans`, a word, is no value."""
    first = steps(lines("step:1/5100 train_loss:10.8254 train_time:23767ms step_avg:nanms",
                        "step:2/5100 train_loss:9.9150 train_time:23895ms step_avg:nanms"))
    assert all(r.step_time_s is None or math.isnan(r.step_time_s) for r in first)
    assert steps(lines("skipped 3 nans in batch 12", "skipped 5 nans in batch 13")) == []


def test_a_us_dated_logger_prefix_gives_the_records_their_time_and_a_gap_is_a_stall() -> None:
    """The Hugging Face example scripts' logging (`datefmt="%m/%d/%Y %H:%M:%S"`, transformers'
    examples/pytorch/text-classification/run_glue.py), with a script's per-step line after it as
    lingbot-vla prints it (`Step N/M, Epoch E, Loss x, ..., StepTime s`)."""
    rows = []
    clock = 1_780_000_000  # seconds; the stamp is written from them below
    for i in range(40):
        clock += 5 if i != 30 else 45 * 60
        stamp = dt.datetime.fromtimestamp(clock, dt.timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
        rows.append(f"{stamp} - INFO - __main__ - Step {10 * (i + 1)}/79, Epoch 2, Loss {0.31 - i * 0.002:.4f}, "
                    f"GradNorm 0.6904, LR 5.00e-05, StepTime 0.529s")
    text = "\n".join(rows) + "\n"
    records = steps(text)
    assert [r.step for r in records[:2]] == [10, 20] and records[0].loss == approx(0.31)
    assert records[0].epoch_s == 1_780_000_005 and records[0].time is not None
    events = events_both_ways(text)
    assert events.count("code='STALL'") == 1 and "step=300" in events


# --- MLPerf reference logs and Ultralytics' results.csv ----------------------------------------


def test_mlperf_mllog_time_ms_is_a_clock_not_a_step_time() -> None:
    """mlcommons/logging mlperf_logging/mllog/mllog.py `_encode_log`: `:::MLLOG {"namespace", "time_ms",
    "event_type", "key", "value", "metadata"}` with the time in milliseconds since 1970 and the epoch in
    its metadata. Such a line is no progress record: `time_ms` is no step time of 1.7e9 s."""
    text = lines(
        ':::MLLOG {"namespace": "", "time_ms": 1712000000123, "event_type": "INTERVAL_END", "key": "epoch_stop", '
        '"value": null, "metadata": {"file": "train.py", "lineno": 944, "epoch_num": 7}}',
        ':::MLLOG {"namespace": "", "time_ms": 1712000060456, "event_type": "INTERVAL_START", "key": '
        '"epoch_start", "value": null, "metadata": {"file": "train.py", "lineno": 833, "epoch_num": 8}}',
        ':::MLLOG {"namespace": "", "time_ms": 1712000120789, "event_type": "INTERVAL_END", "key": "epoch_stop", '
        '"value": null, "metadata": {"file": "train.py", "lineno": 944, "epoch_num": 8}}',
    )
    assert [r for r in steps(text) if r.step_time_s is not None] == []


def test_dllogger_epoch_summaries_with_a_throughput_named_with_its_unit() -> None:
    """MLPerf RNN-T reference (mlcommons/training rnn_speech_recognition/pytorch/train.py, through
    dllogger's StdOutBackend `DLL <time> - epoch N | key value | ...`): `avg train utts/s` names the
    throughput with its unit and a qualifier in front; an evaluation's line (`dev ema wer`) takes its
    `took` time along, so it is no training step time."""
    text = lines(
        "DLL 2024-03-02 10:01:05.101000 - epoch   11 | avg train utts/s  3921 | took 70.12 s",
        "DLL 2024-03-02 10:01:05.871000 - epoch   11 |   dev ema wer   9.41 | took  0.77 s",
        "DLL 2024-03-02 10:02:16.402000 - epoch   12 | avg train utts/s  3905 | took 70.53 s",
        "DLL 2024-03-02 10:02:17.166000 - epoch   12 |   dev ema wer   9.12 | took  0.76 s",
        "DLL 2024-03-02 10:03:27.950000 - epoch   13 | avg train utts/s  3911 | took 70.02 s",
        "DLL 2024-03-02 10:03:28.701000 - epoch   13 |   dev ema wer   8.97 | took  0.75 s",
    )
    records = steps(text)  # the first line waits for its shape to repeat: it names no loss
    assert [(r.step, r.samples_per_s, r.step_time_s) for r in records] == [(12, 3905, 70.53), (13, 3911, 70.02)]


def test_ultralytics_results_csv_reads_its_metrics_columns_and_non_finite_validation_losses() -> None:
    """Ultralytics ultralytics/engine/trainer.py `save_metrics`: `results.csv` with `epoch,time,` then
    the loss items and metrics, names with brackets (`metrics/precision(B)`); `time` is the seconds since
    training began. A validation loss column that is nan is an evaluation NaN; the growing time is no
    slowdown."""
    header = ("epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
              "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2")
    rows = [f"{e},{41.5 * e + 3.2:.6g},{2.1 - 0.01 * e:.6g},{5.5 - 0.05 * e:.6g},1.9,0.3,0.2,0.1,0.05,"
            f"{'nan' if e == 2 else 1.8},{'inf' if e == 2 else 4.1},1.7,0.009,0.009,0.009" for e in range(1, 13)]
    text = lines(header, *rows) + "\n"
    records = steps(text)
    assert [r.step for r in records[:3]] == [1, 2, 3]
    assert records[0].eval_loss is not None and not math.isfinite(records[1].eval_loss)
    events = events_both_ways(text)
    assert "EVAL-LOSS-NAN" in events and "SLOWDOWN" not in events
    read = steps(text)
    assert read[3].step_time_s == approx(41.5)  # the growth from epoch 3 to 4: the time since the start is known


def test_a_time_since_training_began_grows_faster_when_the_run_slows_down() -> None:
    """The same `results.csv` layout: epochs of 41.5 s, then five of twice that, make one slowdown, read
    from the growth of `time`."""
    header = "epoch,time,train/box_loss,train/cls_loss,val/box_loss,lr/pg0"
    rows, elapsed = [], 3.2
    for e in range(1, 40):
        elapsed += 41.5 * (2.0 if 25 <= e < 30 else 1.0) + 0.2 * (e % 3)
        rows.append(f"{e},{elapsed:.6g},{2.1 - 0.01 * e:.6g},{5.5 - 0.05 * e:.6g},1.8,0.009")
    events = events_both_ways(lines(header, *rows) + "\n")
    assert events.count("code='SLOWDOWN'") == 1 and "step=25" in events


def test_a_time_per_step_named_time_stays_a_step_time() -> None:
    """mmengine's `time: 0.8248` (mmengine/runner/log_processor.py, `Iter(train) [{cur_iter:>width}/{max}]`,
    the iteration padded to the width of the total) is named only `time` too, but it is
    each iteration's: it does not grow with the steps, so it stays the step time, and a doubling of it is
    a slowdown."""
    rows = [f"2024/05/01 10:{i // 60:02d}:{i % 60:02d} - mmengine - INFO - Iter(train) [{10 * i:>4}/9000]  "
            f"lr: 1.0000e-04  eta: 1:00:00  time: {0.80 + 0.01 * (i % 3) + (0.8 if i >= 40 else 0):.4f}  "
            f"data_time: 0.0100  memory: 9000  loss: {2.0 - 0.001 * i:.4f}" for i in range(1, 60)]
    text = lines(*rows) + "\n"
    read = steps(text)
    assert read[2].step_time_s == approx(0.80) and read[-1].step_time_s == approx(1.62)
    assert events_both_ways(text).count("code='SLOWDOWN'") == 1


def test_torchssl_iteration_line_with_a_dict_of_tensors() -> None:
    """TorchSSL and FixMatch-pytorch (LeeDoYup/TorchSSL models/fixmatch/fixmatch.py, `train`):
    `self.print_fn(f"{self.it} iteration, USE_EMA: {self.ema_m != 0}, {tb_dict}, BEST_EVAL_ACC: ...,
    at {best_it} iters")` behind the logger's `[%(asctime)s %(levelname)s] `. The count comes before
    its name; `tb_dict` holds tensors (`tensor(1.0505, device='cuda:0')`), its `train/total_loss` is the
    loss, its `eval/loss` the evaluation's. No dict of the Hugging Face Trainer (they all name the epoch)."""
    def row(it: int, total: str, when: str) -> str:
        return (
            f"[2024-03-09 {when},120 INFO] {it} iteration, USE_EMA: True, {{'train/sup_loss': tensor(0.8123, "
            f"device='cuda:0'), 'train/unsup_loss': tensor(0.2010, device='cuda:0'), 'train/total_loss': "
            f"tensor({total}, device='cuda:0'), 'train/mask_ratio': tensor(0.6512, device='cuda:0'), 'lr': "
            f"0.029876, 'train/prefecth_time': 0.0031, 'train/run_time': 0.0912, 'eval/loss': tensor(1.7710, "
            f"device='cuda:0'), 'eval/top-1-acc': tensor(0.4120, device='cuda:0')}}, BEST_EVAL_ACC: "
            f"0.4120000123977661, at {it} iters"
        )
    text = lines(row(5000, "1.0133", "10:00:00"), row(10000, "0.9421", "10:12:30"), row(15000, "nan", "10:25:01"))
    records = steps(text)
    assert [r.step for r in records] == [5000, 10000, 15000]
    assert records[1].loss == approx(0.9421) and records[1].eval_loss == approx(1.7710)
    assert records[0].lr == approx(0.029876)
    assert math.isnan(records[2].loss)


def test_so_vits_svc_epoch_cost_in_seconds_is_a_time_not_a_loss() -> None:
    """so-vits-svc and the VITS trainers after it (svc-develop-team/so-vits-svc train.py,
    `train_and_evaluate`): `logger.info(f'====> Epoch: {epoch}, cost {durtaion} s')` behind
    `%(asctime)s\\t%(name)s\\t%(levelname)s\\t%(message)s`. `cost` names Marian's loss elsewhere; with
    seconds after it, it is how long the epoch took: no loss spike when one epoch takes long, and a
    doubling that stays is a slowdown."""
    rows = [f"2023-05-04 08:{i // 4:02d}:{i % 4 * 14:02d},031\t44k\tINFO\t====> Epoch: {100 + i}, cost "
            f"{14.0 + 0.1 * (i % 3) + (14.5 if i >= 30 else 0):.2f} s" for i in range(1, 40)]
    text = lines(*rows) + "\n"
    records = steps(text)
    assert {r.loss for r in records} == {None}
    assert min(r.step_time_s for r in records) == approx(14.0) and records[-1].epoch == 139
    events = events_both_ways(text)
    assert events.count("code='SLOWDOWN'") == 1 and "LOSS-SPIKE" not in events


def test_a_message_glued_after_a_bar_of_unknown_total_is_another_lines() -> None:
    """Lightning's training bar when the epoch's length is unknown (an iterable dataset: tqdm prints
    `{n}it [{elapsed}, {rate}{postfix}]` with no total), redrawn with `\\r`, so the next message lands on
    its line: ModelCheckpoint's `rank_zero_info(f"Epoch {epoch:d}, global step {step:d}: {self.monitor!r}
    was not in top {k}")` (lightning/pytorch/callbacks/model_checkpoint.py) counts optimizer steps, the
    bar batches: its step is not the bar's, and no step goes back. A traceback glued so still reaches
    the fault scanner."""
    rows = [f"Epoch 2: : {17000 + 40 * i}it [1:0{i}:10,  4.49it/s, loss={2.2 - 0.01 * i:.2f}, v_num=7]"
            for i in range(6)]
    rows[3] += "Epoch 2, global step 250000: 'val/AP' was not in top 1"
    text = lines(*rows) + "\n"
    assert [r.step for r in steps(text)][-3:] == [17120, 17160, 17200]
    assert "STEP-RESTART" not in events_both_ways(text)
    crashed = lines(*rows[:3], rows[4] + "Traceback (most recent call last):",
                    '  File "train.py", line 88, in <module>', "    trainer.fit(model)",
                    "RuntimeError: CUDA error: an illegal memory access was encountered") + "\n"
    assert "CUDA-ILLEGAL-ADDRESS" in events_both_ways(crashed)
    slow = crashed.replace("4.49it/s", "3.92s/it")  # a rate under one step a second
    assert "CUDA-ILLEGAL-ADDRESS" in events_both_ways(slow)
    from monitor.parsers.slots import BAR_GLUE

    assert BAR_GLUE.search("[Batch 100/500][3.21it/s][loss 0.512]") is None  # a layout's own brackets
    assert BAR_GLUE.search("|  4.49it/s, loss=2.2][rank1]:[E602 10:11:12.1 ProcessGroupNCCL.cpp:632] x")
