"""The net under the catalog (monitor.parsers.error_lines, rules in error_lines.json).

Every rule of the data file proves itself with samples it must match and near
misses it must not; then the scanner is checked end to end: the kind a line's
words give, the masked template that folds repeats across ranks and files,
and the quiet cases (healthy chatter, a catalogued fault's continuation
lines, a traceback's own lines).

Layouts: Python logging's default `%(asctime)s - %(levelname)s - %(message)s`
(Lib/logging/__init__.py), glog/c10 `E0312 08:14:55.102934 140213 file.cc:42]`
(c10/util/Logging.cpp), NCCL's `host:pid:tid [dev] NCCL WARN` (src/debug.cc),
CANN plog `[ERROR] RUNTIME(pid,python):YYYY-MM-DD-hh:mm:ss.mmm.uuu [file:line]`.
"""

from __future__ import annotations

import pytest

from monitor.catalog import nested_repetition
from monitor.model import Kind, Severity
from monitor.parsers import error_lines
from tests.conftest import fault_events

NET = error_lines.load()
RULES = [
    (group, rule)
    for group, rules in (
        ("levels", NET.levels), ("failures", NET.failures), ("died", NET.died), ("benign", NET.benign),
        ("kinds", [rule for _kind, rule in NET.kinds]), ("kernel", NET.kernel),
    )
    for rule in rules
]


@pytest.mark.parametrize(("group", "rule"), RULES, ids=[f"{g}-{r.id}" for g, r in RULES])
def test_each_rule_matches_its_samples_and_none_of_its_near_misses(group, rule) -> None:
    assert rule.samples and rule.near_misses, "a rule needs samples and near misses"
    for sample in rule.samples:
        assert rule.pattern.search(sample), sample
    for near_miss in rule.near_misses:
        assert not rule.pattern.search(near_miss), near_miss


@pytest.mark.parametrize("rule", NET.levels + NET.failures + NET.died, ids=lambda r: r.id)
def test_every_trigger_sample_is_taken_unless_a_benign_rule_knows_it(rule) -> None:
    for sample in rule.samples:
        taken = NET.take(sample, error_lines.message_start(sample))
        benign = any(b.pattern.search(sample) for b in NET.benign)
        assert (taken is None) == benign, sample


@pytest.mark.parametrize("rule", NET.levels + NET.failures + NET.died, ids=lambda r: r.id)
def test_the_prefilter_lets_every_trigger_sample_through(rule) -> None:
    """The prefilter is exact: a line it drops holds no trigger."""
    for sample in rule.samples:
        assert NET.screened(sample), sample


@pytest.mark.parametrize("rule", NET.benign, ids=lambda r: r.id)
def test_benign_samples_are_never_taken(rule) -> None:
    for sample in rule.samples:
        assert NET.take(sample) is None, sample


def test_no_driver_on_the_host_is_quiet_but_a_driver_that_fails_is_not() -> None:
    """TensorFlow's stub answers 303 when libcuda.so.1 is absent (a CPU or Ascend host): nothing to
    report. A driver that is there and fails (a version mismatch, an unknown error) is still an error."""
    [rule] = [r for r in NET.benign if r.id == "no-driver-on-host"]
    for sample in rule.samples:
        assert not fault_events(sample), sample
    for near_miss in rule.near_misses:
        assert NET.take(near_miss, error_lines.message_start(near_miss)) is not None, near_miss


@pytest.mark.parametrize(
    ("line", "kind", "severity"),
    [
        ("2025-01-07 10:01:02,334 - ERROR - worker 2 ran out of memory while collating", Kind.OOM, Severity.ERROR),
        # a connection not set up in time is the network's (as the catalog's rendezvous socket timeout)
        ("[E socket.cpp:957] [c10d] The client socket has timed out after 900s", Kind.COMM_ERROR, Severity.ERROR),
        ("[E ProcessGroupGloo.cpp:138] gloo barrier timed out after 600 s", Kind.HANG, Severity.ERROR),
        ("node-a3:2211:2290 [1] NCCL WARN Unexpected event on the control socket", Kind.COMM_ERROR, Severity.ERROR),
        ("[ERROR] RUNTIME(4431,python):2025-03-01-08:00:01.001.002 [stream.cc:1021] 3199 Synchronize: sync failed",
         Kind.DEVICE_FAULT, Severity.ERROR),
        ("launcher: worker 5 died unexpectedly", Kind.CRASH, Severity.ERROR),
        ("2025-01-07 10:01:02,334 - ERROR - data loader worker 3 returned an empty batch",
         Kind.CRASH, Severity.WARNING),
        ("shard 7 checksum failed, reading the next one", Kind.CRASH, Severity.WARNING),
        # the kernel log: a driver's failure or timeout is the device's (habanalabs, NVRM as dmesg prints them)
        ("[   72.993088] habanalabs hl2: failed to initialize CPU H/W queues -5", Kind.DEVICE_FAULT, Severity.WARNING),
        ("[   72.993087] habanalabs hl2: Failed to communicate with Device CPU (CPU-CP timeout)",
         Kind.DEVICE_FAULT, Severity.WARNING),
    ],
)
def test_the_kind_comes_from_the_words_of_the_message(line, kind, severity) -> None:
    [event] = fault_events(line)
    assert (event.code, event.kind, event.severity) == ("UNCATALOGED", kind, severity)
    assert event.details["template"]


def test_a_fatal_level_in_the_prefix_says_the_process_died() -> None:
    """TensorFlow's and XLA's C++ log header (tsl/platform/default/logging.cc: `<date time>: F <file>:<line>] `)
    stands before where the message starts; its F still means the process aborts, also behind the tqdm
    bar it was printed after (a JAX run on GPU whose autotuner found ptxas crashed), and a
    `non-zero error code` is no `zero errors`."""
    line = (
        "  0%|          | 0/8000 [00:00<?, ?it/s]2025-02-11 09:31:07.204518: F external/xla/xla/service/gpu/"
        "autotuner_util.cc:412] Non-OK-status: status: INTERNAL: ptxas exited with non-zero error code 139"
    )
    [event] = fault_events(line)
    assert (event.kind, event.severity, event.details["process_died"]) == (Kind.CRASH, Severity.ERROR, True)


def test_a_host_name_or_source_path_does_not_decide_the_kind() -> None:
    """`gpu-b12` in NCCL's prefix and `device/` in a plog source path are not words of the message."""
    [nccl] = fault_events("gpu-b12:3301:3377 [5] NCCL WARN Unexpected event on the control socket")
    assert nccl.kind is Kind.COMM_ERROR and nccl.node == "gpu-b12"
    [plog] = fault_events(
        "[ERROR] GE(2211,python):2025-01-07-10:01:02.334.112 [ge/graph/device/builder.cc:88] graph rebuild failed"
    )
    assert plog.kind is Kind.CRASH


def test_the_template_masks_what_varies_between_repeats() -> None:
    one = error_lines.template("peer 10.1.4.7:29500 closed rank 3 at 0x7f3a11c0 reading /data/shard-0012.bin")
    two = error_lines.template("peer 10.9.0.12:41000 closed rank 17 at 0x7f3a9900 reading /scratch/x/shard-9.bin")
    assert one == two == "peer <addr> closed rank <n> at <hex> reading <path>"
    assert error_lines.template("[c10d] uuid 1b4e28ba-2fa1-11d2-883f-0016d3cca427") == "[c<n>d] uuid <id>"


def test_one_error_on_many_ranks_and_files_folds_into_one_event(tmp_path) -> None:
    from monitor import api

    for rank in range(4):
        (tmp_path / f"rank_{rank}.log").write_text(
            f"[rank{rank}]:E0312 08:14:5{rank}.102934 140213 store.cpp:99] [c10d] store key job/{rank} lost "
            f"after {rank + 3} tries\n"
        )
    events = [e for e in api.load(str(tmp_path)).event_list if e.code == "UNCATALOGED"]
    assert len(events) == 1
    [event] = events
    assert event.count == 4 and event.ranks == (0, 1, 2, 3)
    assert event.details["template"] == "[c<n>d] store key job/<n> lost after <n> tries"


def test_healthy_chatter_raises_nothing() -> None:
    text = "\n".join([
        "gpu-b12:3301:3377 [5] NCCL INFO Channel 00/0 : 5[5] -> 6[6] via P2P/IPC",
        "validation done: 0 errors, 12 warnings",
        "/opt/conda/lib/python3.11/site-packages/torch/utils/checkpoint.py:91: UserWarning: None of the "
        "inputs have requires_grad=True. Gradients will be None",
        "  exit_on_missing_checkpoint ..................... False",
        "NCCL_ASYNC_ERROR_HANDLING=1",
        "connect failed, retry 2/5 succeeded",
        "rdzv_configs     : {'timeout': 900}",
        "Remapping Failure Occurred        : No",
    ])
    assert fault_events(text) == []


def test_the_lines_after_a_catalogued_fault_belong_to_it() -> None:
    """CANN prints a code line, then its cause, solution and call chain, indented."""
    text = "\n".join([
        "EL0004: 2025-03-01-08:00:01.001.002 Failed to allocate memory.",
        "        Possible Cause: Available memory is insufficient.",
        "        Solution: Close applications not in use.",
        "        TraceBack (most recent call last):",
        "        rtMalloc execute failed, reason=[driver error:out of memory]",
        "        Init device error msg handler failed, retCode=0x7020016.",
        "step 12 resumed",
        "ERROR: shard reader failed",
    ])
    events = fault_events(text)
    assert [(e.code, e.line) for e in events] == [("EL0004", 1), ("UNCATALOGED", 8)]


def test_a_process_death_right_after_a_fault_is_its_own_event_though_indented() -> None:
    """A shell's job message (zsh: `[1]    PID IOT instruction (core dumped)  command`) under a
    device fault looks like the fault's continuation (indented after its prefix), but it says the
    process died: a crash of its own."""
    text = "\n".join([
        "Memory access fault by GPU node-1 (Agent handle: 0x5d8d620) on address 0x7f8104000000. "
        "Reason: Page not present or supervisor privilege.",
        "[1]    18956 IOT instruction (core dumped)  /home/u/.conda/bin/python /home/u/gan/main.py",
    ])
    assert [(e.code, str(e.kind), e.line) for e in fault_events(text)] == [
        ("AMD-MEMORY-ACCESS-FAULT", "device_fault", 1), ("UNCATALOGED", "crash", 2)]


def test_a_traceback_is_read_as_a_crash_not_as_error_lines() -> None:
    text = "\n".join([
        "Traceback (most recent call last):",
        '  File "/opt/train/errors.py", line 12, in <module>',
        "    raise RuntimeError('reader failed')",
        "RuntimeError: reader failed",
    ])
    assert [e.code for e in fault_events(text)] == ["PYTHON-EXCEPTION"]


@pytest.mark.parametrize(("group", "rule"), RULES, ids=[f"{g}-{r.id}" for g, r in RULES])
def test_no_rule_can_backtrack_catastrophically(group, rule) -> None:
    """The catalog's own check: no unbounded repeat nested in another."""
    assert not nested_repetition(rule.pattern.pattern), rule.pattern.pattern


def test_a_settings_dump_rule_reads_a_long_run_of_dots_in_linear_time() -> None:
    """The settings-dump rule (Megatron-LM's `arguments` print: `  name ...... value`) once
    backtracked through every split of a long run of dots between the name and its leader: a
    100k-character line of dots before an error took over ten seconds (this test then takes that
    long). Its leader is matched at most 400 dots long and never given back."""
    from monitor.parsers.error_lines import load

    rule = next(r for r in load().benign if r.id == "settings-dump")
    for line in ("." * 100_000 + "Alloc transports failed", "  lr " + "." * 100_000 + " 0.1"):
        assert rule.pattern.search(line) is None
    assert rule.pattern.search("  lr " + "." * 40 + " 0.0001")
    assert rule.pattern.search("  lr " + "." * 400 + " 0.0001")
    assert rule.pattern.search("  lr " + "." * 401 + " 0.0001") is None
