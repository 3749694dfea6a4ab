"""The fault scanner: tracebacks and torchelastic summaries become crashes (monitor.parsers.faults).

Layout: CPython's default excepthook (Lib/traceback.py): a `Traceback (most
recent call last):` header, `  File "<path>", line <n>, in <func>` frames with
indented source lines, then `<module.Type>: <message>` at column 0; chained
exceptions are separated by "During handling of the above exception, another
exception occurred:". Launchers prefix every line (`[rank3]:`, `worker-1: `).
"""

from __future__ import annotations

from monitor.model import Kind, Role, Severity
from tests.conftest import fault_events, steps


def crashes(text: str) -> list:
    return [e for e in fault_events(text) if e.kind is Kind.CRASH]


TRACEBACK = """\
step 10 done
Traceback (most recent call last):
  File "/opt/train/pretrain.py", line 412, in <module>
    main(cfg)
  File "/opt/train/pretrain.py", line 377, in main
    batch = next(loader)
KeyError: 'input_ids'
step 11 never came
"""


def test_a_traceback_is_one_crash_at_its_exception_line() -> None:
    [crash] = crashes(TRACEBACK)
    assert crash.line == 7
    assert crash.code == "PYTHON-EXCEPTION"
    assert "KeyError" in crash.message and "'input_ids'" in crash.message
    assert crash.details["exception"] == "KeyError"
    assert crash.details["traceback_line"] == 2
    assert crash.role is Role.ROOT


def test_a_dotted_exception_type_and_chained_tracebacks_give_one_crash() -> None:
    text = """\
Traceback (most recent call last):
  File "/w/a.py", line 3, in f
    g()
ValueError: bad shape

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/w/a.py", line 9, in <module>
    f()
torch.distributed.DistStoreError: Timed out after 901 seconds waiting for clients. 2/4 clients joined.
"""
    [crash] = crashes(text)
    assert crash.line == 11
    assert crash.details["exception"] == "torch.distributed.DistStoreError"


def test_interleaved_rank_tracebacks_are_kept_apart_by_prefix_then_folded() -> None:
    """The same error on two ranks (the numbers in it differ) folds into one crash."""
    text = """\
[rank0]: Traceback (most recent call last):
[rank1]: Traceback (most recent call last):
[rank0]:   File "/w/train.py", line 5, in <module>
[rank1]:   File "/w/train.py", line 5, in <module>
[rank0]:     step()
[rank1]:     step()
[rank1]: RuntimeError: shard 17 of rank 1 is empty
[rank0]: RuntimeError: shard 4 of rank 0 is empty
"""
    [crash] = crashes(text)  # the same crash on two ranks, folded
    assert (crash.line, crash.count, crash.ranks) == (7, 2, (0, 1))
    assert crash.details["last_line"] == 8


def test_different_exceptions_on_two_ranks_are_never_folded_together() -> None:
    text = """\
[rank0]: Traceback (most recent call last):
[rank1]: Traceback (most recent call last):
[rank0]:   File "/w/train.py", line 5, in <module>
[rank1]:   File "/w/train.py", line 5, in <module>
[rank0]:     step()
[rank1]:     step()
[rank1]: RuntimeError: Connection closed by peer [10.0.0.2]:4411
[rank0]: IndexError: index 9 is out of bounds for dimension 0 with size 8
"""
    found = crashes(text)
    assert [(c.details["exception"], c.rank) for c in found] == [("RuntimeError", 1), ("IndexError", 0)]


def test_a_traceback_whose_header_was_cut_still_ends_in_a_crash() -> None:
    text = """\
  File "/usr/lib/python3.10/site-packages/torch/nn/modules/module.py", line 1501, in _call_impl
    return forward_call(*args, **kwargs)
RuntimeError: expected scalar type Half but found Float
"""
    [crash] = crashes(text)
    assert crash.line == 3


def test_a_traceback_cut_off_at_the_end_of_the_log_is_still_reported() -> None:
    text = """\
Traceback (most recent call last):
  File "/w/train.py", line 8, in <module>
    trainer.fit()
"""
    [crash] = crashes(text)
    assert crash.code == "PYTHON-TRACEBACK-CUT"
    assert crash.line == 1


def test_a_traceback_interrupted_by_progress_lines_is_closed() -> None:
    text = """\
Traceback (most recent call last):
  File "/w/loader.py", line 8, in worker
 iteration       10/    1000 | consumed samples:          640 | elapsed time per iteration (ms): 812.4 | learning rate: 1.000E-05 | global batch size:    64 | lm loss: 7.021E+00 | loss scale: 65536.0 | grad norm: 3.210 | number of skipped iterations:   0 | number of nan iterations:   0 |
INFO: continuing
"""
    found = crashes(text)
    assert [c.code for c in found] == ["PYTHON-TRACEBACK-CUT"]


def test_keyboard_interrupt_is_a_warning_and_a_clean_system_exit_is_nothing() -> None:
    interrupt = crashes("Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    x()\nKeyboardInterrupt\n")
    assert [c.severity for c in interrupt] == [Severity.WARNING]
    assert crashes("Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    x()\nSystemExit: 0\n") == []


def test_cann_traceback_with_a_capital_b_is_not_a_python_traceback() -> None:
    text = """\
EZ9999: Inner Error!
        TraceBack (most recent call last):
        Kernel launch failed for MatMul
"""
    assert all(e.code != "PYTHON-EXCEPTION" and e.code != "PYTHON-TRACEBACK-CUT" for e in fault_events(text))


def test_a_warning_with_a_file_path_is_not_a_traceback() -> None:
    text = """\
/usr/lib/python3/site-packages/torch/utils/checkpoint.py:91: UserWarning: None of the inputs have requires_grad=True
  warnings.warn(
"""
    assert crashes(text) == []


def test_a_prefixed_traceback_without_its_header_ends_at_the_prefixed_exception_line() -> None:
    """pdsh/DeepSpeed multi-node launchers prefix every line with `worker-N: `."""
    text = """\
worker-3:   File "/usr/lib/python3.10/site-packages/torch/distributed/distributed_c10d.py", line 3703, in barrier
worker-3:     work.wait()
worker-3: ValueError: bad barrier
"""
    [crash] = crashes(text)
    assert crash.line == 3 and crash.details["exception"] == "ValueError"


def test_a_crash_names_the_fault_inside_its_traceback() -> None:
    text = """\
Traceback (most recent call last):
  File "/w/train.py", line 80, in step
    loss.backward()
RuntimeError: CUDA error: an illegal memory access was encountered
"""
    events = fault_events(text)
    fault = next(e for e in events if e.kind is Kind.DEVICE_FAULT)
    [crash] = [e for e in events if e.kind is Kind.CRASH]
    assert fault.code == "CUDA-ILLEGAL-ADDRESS" and fault.line == 4
    assert crash.role is Role.CASCADE and crash.cause == fault.label()
    assert "CUDA-ILLEGAL-ADDRESS" in crash.message


def test_an_oom_traceback_is_one_oom_and_one_crash() -> None:
    text = """\
[rank5]: Traceback (most recent call last):
[rank5]:   File "/w/train.py", line 80, in step
[rank5]:     out = model(batch)
[rank5]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB. GPU 5 has a total capacity of 79.10 GiB of which 1.12 GiB is free. Including non-PyTorch memory, this process has 77.96 GiB memory in use. Of the allocated memory 74.30 GiB is allocated by PyTorch, and 2.18 GiB is reserved by PyTorch but unallocated.
"""
    events = fault_events(text)
    assert sorted((str(e.kind), e.rank) for e in events) == [("crash", 5), ("oom", 5)]
    oom = next(e for e in events if e.kind is Kind.OOM)
    assert oom.details["tried"] == "2.50 GiB" and oom.device == "5"


def test_the_child_failed_summary_takes_the_root_cause_rank_host_and_signal() -> None:
    """torch/distributed/elastic/multiprocessing/errors/__init__.py formats this block."""
    text = """\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
train.py FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2025-06-01_03:12:40
  host      : gpu-node21
  rank      : 12 (local_rank: 4)
  exitcode  : 1 (pid: 99120)
  error_file: <N/A>
  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2025-06-01_03:12:37
  host      : gpu-node20
  rank      : 3 (local_rank: 3)
  exitcode  : -9 (pid: 99017)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 99017
============================================================
"""
    [crash] = [e for e in fault_events(text) if e.kind is Kind.CRASH]
    assert crash.code == "TORCHELASTIC-CHILD-FAILED" and crash.line == 1
    assert (crash.rank, crash.node) == (3, "gpu-node20")
    assert crash.details["exit_code"] == -9 and crash.details["signal"] == "SIGKILL"
    assert "rank 3" in crash.message and "SIGKILL" in crash.message


def test_a_child_failed_summary_cut_short_is_still_reported() -> None:
    [crash] = fault_events("torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n====\n")
    assert crash.code == "TORCHELASTIC-CHILD-FAILED"


def test_a_fault_carries_the_training_step_the_log_was_at_when_it_was_printed() -> None:
    """Megatron-LM iteration lines (megatron/training/training.py `training_log`) around a fault line."""
    def iteration(step: int) -> str:
        return (f" iteration {step:8d}/    1000 | consumed samples: {step * 64:12d} | elapsed time per iteration (ms): "
                f"812.4 | learning rate: 1.000E-05 | global batch size:    64 | lm loss: 7.021E+00 | loss scale: "
                f"65536.0 | grad norm: 3.210 | number of skipped iterations:   0 | number of nan iterations:   0 |")

    text = "\n".join([iteration(10), "RuntimeError: CUDA error: uncorrectable ECC error encountered", iteration(20)])
    [fault] = [e for e in fault_events(text) if e.kind is Kind.DEVICE_FAULT]
    assert fault.step == 10


def test_a_fault_repeated_many_times_is_held_as_one_event_while_scanning() -> None:
    """TensorFlow's stream executor repeats the same CUDA error line for every event it destroys."""
    line = ("2024-05-02 13:19:12.{:06d}: E tensorflow/stream_executor/event.cc:34] error destroying CUDA event in "
            "context 0x5583c0: CUDA_ERROR_LAUNCH_FAILED: unspecified launch failure")
    [event] = fault_events("\n".join(line.format(n) for n in range(5000)))
    assert event.count == 5000 and event.line == 1 and event.details["last_line"] == 5000


def test_the_same_fault_after_training_went_back_is_not_folded_into_the_earlier_one() -> None:
    def iteration(step: int) -> str:
        return (f" iteration {step:8d}/    1000 | consumed samples: {step * 64:12d} | elapsed time per iteration (ms): "
                f"812.4 | learning rate: 1.000E-05 | global batch size:    64 | lm loss: 7.021E+00 | loss scale: "
                f"65536.0 | grad norm: 3.210 | number of skipped iterations:   0 | number of nan iterations:   0 |")

    fault = "RuntimeError: CUDA error: uncorrectable ECC error encountered"
    events = fault_events("\n".join([iteration(500), fault, iteration(400), fault]))
    assert [e.step for e in events if e.code == "CUDA-ECC-UNCORRECTABLE"] == [500, 400]


def test_an_exception_no_entry_knows_that_ran_out_of_memory_is_an_oom_then_the_crash() -> None:
    """The exception line ends the traceback (CPython's layout) and names the memory exhaustion in
    its own words: the out-of-memory is the root, the crash its consequence. An exception about
    devices that is not a memory exhaustion stays a crash alone."""
    text = """\
[rank2]: Traceback (most recent call last):
[rank2]:   File "/w/train.py", line 80, in step
[rank2]:     out = model(batch)
[rank2]: RuntimeError: Insufficient device memory on HPU 2 for the graph workspace
Traceback (most recent call last):
  File "/w/train.py", line 91, in step
    x = a + b
RuntimeError: Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!
"""
    events = fault_events(text)
    assert [(str(e.kind), e.line) for e in events] == [("oom", 4), ("crash", 4), ("crash", 8)]
    oom, crash, other = events
    assert oom.severity is Severity.ERROR and oom.rank == 2
    assert crash.role is Role.CASCADE and crash.cause == oom.label()
    assert other.role is Role.ROOT and other.cause is None


def test_an_exception_that_refuses_a_non_finite_loss_is_the_nan_then_the_crash() -> None:
    """A training loop that raises on a NaN loss with the value in its message (a PPO optimizer's
    `raise ValueError(f"loss={loss}, policy_loss={policy_loss}, ...")`, an assertion on the total
    loss): the non-finite loss is the root, the crash its consequence. A finite value in the same
    words is a crash alone."""
    text = """\
Traceback (most recent call last):
  File "/w/optimizer.py", line 640, in train
    raise ValueError(f"loss={loss}, policy_loss={policy_loss}")
ValueError: loss=nan, policy_loss=nan, value_loss=0.81
Traceback (most recent call last):
  File "/w/train.py", line 91, in step
    assert total_loss < 100, total_loss
AssertionError: total_loss=412.5
"""
    events = fault_events(text)
    assert [(str(e.kind), e.line) for e in events] == [("nan", 4), ("crash", 4), ("crash", 8)]
    nan, crash, other = events
    assert crash.role is Role.CASCADE and crash.cause == nan.label()
    assert other.role is Role.ROOT


def test_an_exception_that_says_it_timed_out_is_the_hang_then_the_crash() -> None:
    """An uncaught exception whose message says a wait ran out (c10d's store-based barrier,
    torch/distributed/distributed_c10d.py `_store_based_barrier`: `Timed out initializing process group
    in store based barrier on rank: ...`; JAX's coordination service, raised as XlaRuntimeError
    `DEADLINE_EXCEEDED: Barrier timed out`): a peer never arrived, the hang is the root and the crash
    its consequence. An exception about something else is a crash alone."""
    text = """\
Traceback (most recent call last):
  File "/w/train.py", line 40, in main
    dist.init_process_group("nccl")
RuntimeError: Timed out initializing process group in store based barrier on rank: 3, for key: store_based_barrier_key:1 (world_size=4, worker_count=2, timeout=0:30:00)
Traceback (most recent call last):
  File "/w/jax_train.py", line 12, in <module>
    jax.distributed.initialize(coordinator_address="10.0.0.1:1234", num_processes=4, process_id=1)
jaxlib.xla_extension.XlaRuntimeError: DEADLINE_EXCEEDED: Barrier timed out. Barrier_id: PjRT_Client_Connect
Traceback (most recent call last):
  File "/w/train.py", line 91, in step
    x = a + b
RuntimeError: Expected all tensors to be on the same device
"""
    events = fault_events(text)
    assert [(str(e.kind), e.line) for e in events] == [
        ("hang", 4), ("crash", 4), ("hang", 8), ("crash", 8), ("crash", 12)]
    assert events[1].role is Role.CASCADE and events[1].cause == events[0].label()
    assert events[4].role is Role.ROOT


def test_a_shell_message_glued_to_a_progress_line_is_read() -> None:
    """Keras redraws its bar with a carriage return and no newline: when the process is killed, the
    shell's `Killed` lands at the end of the last redraw (`... - loss: 2.1371Killed`). The line is
    still the step's record, and the death is a crash. A line that only ends in a word is neither."""
    text = "\n".join([
        "Epoch 1/3",
        "1024/4096 [======>.......................] - ETA: 61s - loss: 2.3016",
        "2048/4096 [==============>...............] - ETA: 40s - loss: 2.2011Killed",
    ])
    events = fault_events(text)
    assert [(str(e.kind), e.line) for e in events] == [("crash", 3)]
    assert [r.step for r in steps(text)] == [1024, 2048]
    calm = "\n".join(["step 10 loss 2.3 status: started", "step 11 loss 2.2 status: granted"])
    assert fault_events(calm) == []


def test_a_fault_message_glued_to_a_progress_line_is_read() -> None:
    """What the runtime prints to stderr while Keras' bar is mid-line lands glued to the last metric:
    ROCr's memory access fault after `accuracy: 0.6652`, a TensorFlow log line (its own timestamp
    glued to the number) after `accuracy: 0.9928`. Both are faults; the lines are still records."""
    text = "\n".join([
        "Epoch 2/200",
        "12/89 [===>..........................] - ETA: 31s - loss: 0.6120 - accuracy: 0.6402",
        "30/89 [=========>....................] - ETA: 24s - loss: 0.5911 - accuracy: 0.6652Memory access fault "
        "by GPU node-1 (Agent handle: 0x55d1c0a2e730) on address 0x7f11d8712000. Reason: Page not present or "
        "supervisor privilege.",
        "Epoch 3/200",
        "50/89 [=================>............] - ETA: 2s - loss: 0.0192 - accuracy: 0.99282024-02-18 "
        "20:55:36.002311: E tensorflow/stream_executor/cuda/cuda_driver.cc:951] could not synchronize on CUDA "
        "context: CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered",
    ])
    assert [(e.code, e.line) for e in fault_events(text)] == [("AMD-MEMORY-ACCESS-FAULT", 3), ("CUDA-ILLEGAL-ADDRESS", 5)]
    assert [r.step for r in steps(text)] == [12, 30, 50]


def test_slurms_message_glued_to_a_half_printed_progress_line_is_read() -> None:
    """The training process's stdout is buffered and Slurm's step daemon writes to the same output file
    unbuffered: when the time limit ends the job, `slurmstepd: error: *** JOB ... CANCELLED AT ... DUE TO
    TIME LIMIT ***` (slurm src/slurmd/slurmstepd/req.c) lands after half of llm.c's step line
    (train_gpt2.cu: `step %4d/%d | loss %7.6f (%+.2fz)| norm %6.4f (%+.2fz)| lr %.2e | ...`). The half line
    is still the step's record; the cancellation is Slurm's. A progress line that merely holds
    `error: ` names no daemon."""
    text = "\n".join([
        "step  410/9000 | loss 3.412008 (-0.12z)| norm 0.3120 (+0.40z)| lr 6.00e-04 | 2511.20 ms | 41.2% bf16 MFU "
        "| 208802 tok/s",
        "step  411/9000 | loss 3.409117 (-0.13z)| norm 0.3044 (+0.21z)| lr 6.00e-04 | 2509.87 ms | 41.3% bf16 MFU "
        "| 208911 tok/s",
        "step  412/9000 | loss 3.404552 (-0.15z)|slurmstepd: error: *** JOB 5512093 ON gpu-017 CANCELLED AT "
        "2025-03-02T11:40:07 DUE TO TIME LIMIT ***",
    ])
    assert [(e.code, e.line) for e in fault_events(text)] == [("SLURM-TIME-LIMIT", 3)]
    assert [r.step for r in steps(text)] == [410, 411, 412]
    calm = "\n".join(["step 10 loss 2.3 | note: error: none", "step 11 loss 2.2 | note: error: none"])
    assert fault_events(calm) == []


def test_a_fault_on_a_line_that_says_the_process_died_is_also_the_crash() -> None:
    """glog's FATAL level aborts the process after logging (Caffe's `F0412 ... Check failed: ...`,
    absl/TSL's `F0000 ...` in torch_xla): the fault the line names is the root, the process's death on
    the same line its cascade. libc++'s `terminating due to uncaught exception` ends the process the
    same way. The same fault at the ERROR level (`E0412`) is the fault alone."""
    text = "\n".join([
        "F0412 09:14:55.576004 10039 syncedmem.cpp:56] Check failed: error == cudaSuccess (4 vs. 0)  "
        "unspecified launch failure",
        "E0412 09:15:02.101010 10042 syncedmem.cpp:71] CUDA error: an illegal memory access was encountered",
        "libc++abi: terminating due to uncaught exception of type std::runtime_error: [METAL] Command buffer "
        "execution failed: Insufficient Memory (00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)",
    ])
    events = fault_events(text)
    assert [(str(e.kind), e.line) for e in events] == [
        ("device_fault", 1), ("crash", 1), ("device_fault", 2), ("oom", 3), ("crash", 3)]
    assert events[1].role is Role.CASCADE and events[1].cause == events[0].label()
    assert events[4].role is Role.CASCADE and events[4].cause == events[3].label()


def test_an_uncaught_exception_line_without_its_traceback_is_also_the_crash() -> None:
    """Python ends the report of an uncaught exception with its module-qualified type at the start of a
    line (Lib/traceback.py, `format_exception_only`). An excerpt that kept only that line still shows
    how the process ended: TensorFlow's NanTensorHook (tensorflow/python/training/
    basic_session_run_hooks.py) logs `Model diverged with loss = NaN.` and raises
    NanLossDuringTrainingError: the NaN, then the crash it caused. Behind its traceback the same kind
    of line is the traceback's one crash."""
    text = "\n".join([
        "INFO:tensorflow:Saving checkpoints for 0 into /data/run7/model.ckpt.",
        "ERROR:tensorflow:Model diverged with loss = NaN.",
        "tensorflow.python.training.basic_session_run_hooks.NanLossDuringTrainingError: NaN loss during training.",
        "INFO:tensorflow:an unrelated line after it",
        "subprocess.CalledProcessError: Command '['ninja', '-v']' returned non-zero exit status 1.",
    ])
    events = fault_events(text)
    assert {str(e.kind) for e in events if e.line in (2, 3)} == {"nan", "crash"}
    [nan_crash, build_crash] = [e for e in events if e.kind is Kind.CRASH]
    assert (nan_crash.line, nan_crash.role) == (3, Role.CASCADE) and nan_crash.cause is not None
    assert (build_crash.line, build_crash.severity) == (5, Severity.ERROR)
    behind = "\n".join([
        "Traceback (most recent call last):",
        '  File "/w/train.py", line 80, in step',
        "    out = model(batch)",
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of "
        "79.10 GiB of which 1.12 GiB is free.",
    ])
    events = fault_events(behind)
    assert sorted(str(e.kind) for e in events) == ["crash", "oom"]
    assert next(e for e in events if e.kind is Kind.CRASH).code == "PYTHON-EXCEPTION"


def test_an_exception_line_right_after_a_source_line_ends_a_traceback_whose_head_was_left_out() -> None:
    """Python prints a traceback's frames as `  File "...", line N, in f` and the source line indented
    by four, then `Type: message` at the start of a line (traceback.py, `StackSummary.format` and
    `format_exception_only`). A log that kept only its last source line and the exception line is that
    traceback's end: the crash. The same exception line after an ordinary line is a message."""
    [crash] = [e for e in fault_events(
        "    grad_buffer = grad_partition.to(device, non_blocking=True)\n"
        "RuntimeError: ACL stream synchronize failed.\n"
    ) if e.kind is Kind.CRASH]
    assert crash.code == "PYTHON-EXCEPTION" and crash.line == 2 and crash.severity is Severity.ERROR
    assert "RuntimeError: ACL stream synchronize failed." in crash.message
    printed = fault_events("epoch 3 done\nValueError: bad sample 1204, skipped\n")
    assert all(e.code != "PYTHON-EXCEPTION" for e in printed)
    config = fault_events("    retries: 3\nsummary written\n")
    assert config == []


def test_ipython_s_note_before_an_uncaught_system_exit_is_that_traceback_s_head() -> None:
    """IPython and Jupyter print `An exception has occurred, use %tb to see the full traceback.`, a
    blank line and then the exception line in place of the traceback of an uncaught SystemExit
    (IPython/core/interactiveshell.py, `showtraceback`): a script that stops with `sys.exit(1)`
    (torchvision's detection reference after `Loss is nan, stopping training`) died; `sys.exit(0)`
    is a clean end."""
    [crash] = crashes(
        "Loss is nan, stopping training\n"
        "An exception has occurred, use %tb to see the full traceback.\n"
        "\n"
        "SystemExit: 1\n"
    )
    assert crash.code == "PYTHON-EXCEPTION" and crash.line == 4 and "SystemExit: 1" in crash.message
    assert crashes("An exception has occurred, use %tb to see the full traceback.\n\nSystemExit: 0\n") == []


def test_an_ipython_verbose_traceback_is_one_crash_and_a_cut_one_is_still_reported() -> None:
    """Jupyter and IPython print a traceback as VerboseTB lays it out (IPython/core/ultratb.py): the type,
    padding and `Traceback (most recent call last)` without a colon; frames as `Cell In[12], line 17` and
    `File ~/...:625, in f(...)` with numbered source lines and `--->` markers; then `Type: message`. A
    notebook's training cell that stops on it crashed; one whose excerpt ends inside it too."""
    head = (
        "---------------------------------------------------------------------------\n"
        "TypeError                                 Traceback (most recent call last)\n"
        "Cell In[7], line 21\n"
        "     20 for step, batch in enumerate(loader):\n"
        "---> 21     loss = train_step(**batch)\n"
        "\n"
        "File ~/envs/ms/lib/python3.9/site-packages/mindspore/ops/composite/base.py:625, in after_grad(*args)\n"
        "    624 def after_grad(*args):\n"
        "--> 625     return grad_(fn_, weights)(*args)\n"
        "\n"
    )
    [crash] = crashes("step 1 loss 2.31\n" + head + "TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'\n")
    assert crash.code == "PYTHON-EXCEPTION" and crash.line == 12 and "TypeError" in crash.message
    [cut] = crashes("step 1 loss 2.31\n" + head)
    assert cut.code == "PYTHON-TRACEBACK-CUT" and cut.line == 3
    prose = fault_events("Epoch 2 summary           Traceback (most recent call last) is printed when it fails\nstep 2\n")
    assert not any(e.code.startswith("PYTHON-") for e in prose)
