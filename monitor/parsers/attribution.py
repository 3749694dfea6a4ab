"""Who printed a line: rank and node from line prefixes and file names.

Line prefixes, as launchers print them (several may be chained):
- torch.distributed.elastic `--tee` / `--log-line-prefix`: `[default3]:` (role
  name plus local rank, the only rank the prefix shows) and, in newer PyTorch,
  `[rank3]:` (global rank);
- `srun --label`: `3: ` (the Slurm task id, i.e. the global rank);
- Open MPI's `mpirun --tag-output` (and horovodrun): `[1,3]<stdout>:` (job id, global rank,
  stream), and `[3]<stderr>:` under horovodrun's Gloo launcher;
- pdsh / clush: `node12: ` (host name);
- NCCL debug lines: `node12:1234:5678 [3]` (host, pid, thread, CUDA device);
- DeepSpeed `log_dist`: `[Rank 3]` after the logging prefix;
- syslog / journalctl kernel lines: `Mar  4 10:01:07 node07 kernel: ` (host name).

File names: `rank_3.log`, `rank3.out`, `*-rank-3-*`, `stdout-node12.log`, and
torchelastic's `attempt_0/<local rank>/stdout.log` layout is not used (the
directory number alone is too ambiguous). A host name is kept whole
(`logs/npu-node07/plog-123.log` and `worker-npu-node07.log` name `npu-node07`), less the
words of a log file's own name before it (`stdout-`, `worker-`, `train-`: `_LOG_WORDS`).

Device ids, where a line names one (`device_of`): the ways Ascend CANN, HCCL, the driver,
torch_npu and MindSpore print them (`_DEVICE`), for events whose catalog pattern names none.

Deliberately not here: timestamps (`timestamps.py`).
"""

from __future__ import annotations

import os
import re

# Leading blanks are bounded and never given back (every prefix starts with a non-blank); a host
# name starts where no name character precedes it, and its first digit is found by a run without
# digits: a long run of blanks or name characters (a prefix can be most of a line) costs linear
# time, not quadratic.
_LAUNCHER_PREFIX = re.compile(
    r"\s{0,32}(?!\s)(?:"
    r"\[(?P<role>[A-Za-z_]*?)(?P<torchrun>\d{1,6})\]:"
    r"|\[(?:\d{1,9},)?(?P<mpi>\d{1,6})\]<std(?:out|err|diag)>:"
    r"|(?<![\w.-])(?P<nccl_node>[A-Za-z][\w.-]*):\d+:\d+ \[\d+\]"
    r"|(?P<label>\d{1,6}): "
    r"|(?<![\w.-])(?P<host>[A-Za-z](?:(?!\d)[\w.-])*\d[\w.-]*): "
    r"|\[\d{1,9}\](?= )"  # a log viewer's line number (`[1744] `): names nobody
    r")"
)
_RANK_TAG = re.compile(r"\[Rank (\d{1,6})\]")
_SYSLOG_HOST = re.compile(r"(?:^|\s)(?P<host>[A-Za-z][\w.-]*) kernel: ")

_FILE_RANK = re.compile(r"(?:^|[^A-Za-z0-9])rank[-_]?(\d{1,6})(?![0-9])", re.IGNORECASE)
# A host name ending in `node<n>`, with up to three dash-joined words before it (`npu-node07`).
_FILE_NODE = re.compile(r"(?:^|[^A-Za-z0-9])((?:[A-Za-z][A-Za-z0-9]{0,30}-){0,3}node[-_]?\d+)", re.IGNORECASE)
# Words that name the log file, not the host, when they lead a file name (`stdout-node12.log`).
_LOG_WORDS = frozenset((
    "stdout", "stderr", "out", "err", "log", "logs", "output", "console", "worker", "workers", "train",
    "training", "job", "slurm", "rank", "plog", "debug", "run", "task", "proc", "process",
))
_WORD_STEM = re.compile(r"[A-Za-z]+")

# Device ids as the Ascend stack prints them; the first group that matched is the id. Every
# alternative is anchored on its own word, so `device count 8`, `devices: 8`, `deviceLogicId`,
# `device_id=-1` and `cuda:0` (a tensor's placement, not a faulting device) are not read.
_DEVICE = re.compile(
    r"\bdevice\((?:chipId:)?(\d{1,4})[,)]"  # CANN error manager: device(chipId:5, dieId:0), device(5)
    r"|\b(?:device_id|deviceId|device_logic_id|DevId|devid|devId|dev_id)\s?(?:[=:]\s?|\[|\s)(\d{1,4})\b"
    r"|\b[Dd]evice\[(\d{1,4})\]"  # runtime: Device[1] lost heartbeat; HCCL: device[3]
    r"|\bDEVICE\[(\d{1,4})\]"  # HWTS exception dump
    r"|\bDevice:(\d{1,4})\b"  # torch_npu: (PID:1, Device:0, RankID:-1)
    r"|\b[Dd]evice (\d{1,4})\b(?![.,\d]| ?(?:of|GB|MB|KB|bytes)\b)"  # MindSpore: Device 3 call rtSetDevice failed
    r"|\[device (\d{1,4})\]"  # hccn_tool: [device 5]
    r"|\bdevice id is (\d{1,4})\b"
    r"|\bnpu:(\d{1,4})\b"  # torch_npu placement of the failing call
)
_DEVICE_HINTS = ("dev", "Dev", "DEV", "npu:")
_DEVICE_SCAN = 4000  # characters of a line searched for a device id


def attribute_prefix(prefix: str) -> tuple[int | None, str | None]:
    """Rank and node named by the launcher prefixes at the start of `prefix`."""
    rank: int | None = None
    node: str | None = None
    pos = 0
    for _ in range(3):  # prefixes chain: `node3: 0: [rank0]:`
        m = _LAUNCHER_PREFIX.match(prefix, pos)
        if m is None or m.end() == pos:
            break
        if m.lastgroup is None and m.group().lstrip().startswith("["):
            pass  # a line number
        elif m.group("torchrun") is not None:
            rank = int(m.group("torchrun"))
        elif m.group("mpi") is not None:
            rank = int(m.group("mpi"))
        elif m.group("label") is not None:
            rank = int(m.group("label")) if rank is None else rank
        elif m.group("nccl_node") is not None:
            node = m.group("nccl_node")
        else:
            node = m.group("host")
        pos = m.end()
    if rank is None and "[Rank " in prefix:
        tag = _RANK_TAG.search(prefix)
        if tag:
            rank = int(tag.group(1))
    if node is None and " kernel: " in prefix:
        host = _SYSLOG_HOST.search(prefix)
        if host:
            node = host.group("host")
    return rank, node


def attribute_path(path: str | None) -> tuple[int | None, str | None]:
    """Rank and node named by a log file's name (or its directory's name)."""
    if not path:
        return None, None
    base = os.path.basename(path)
    parent = os.path.basename(os.path.dirname(path))
    rank = node = None
    for name in (base, parent):
        if rank is None and (m := _FILE_RANK.search(name)):
            rank = int(m.group(1))
        if node is None and (m := _FILE_NODE.search(name)):
            node = _host_name(m.group(1))
    return rank, node


def _host_name(found: str) -> str:
    """A host name found in a file name, less the log file's own words that lead it."""
    words = found.split("-")
    while len(words) > 1 and _is_log_word(words[0]) and not words[0].lower().startswith("node"):
        words.pop(0)
    return "-".join(words)


def _is_log_word(word: str) -> bool:
    stem = _WORD_STEM.match(word)
    return stem is not None and stem.group().lower() in _LOG_WORDS


def device_of(line: str) -> str | None:
    """The device id a line names (`device(chipId:5, dieId:0)`, `device_id=3`, `Device[1]`, `npu:3`),
    or None."""
    if not any(hint in line for hint in _DEVICE_HINTS):
        return None
    found = _DEVICE.search(line, 0, _DEVICE_SCAN)
    if found is None:
        return None
    return next(group for group in found.groups() if group is not None)


# The process that printed a line: CANN's `EZ9999[PID: 4431]` and `(PID:4431, Device:2, ...)`, a plog
# header `RUNTIME(4431,python)`, `pid=4431`, `(pid: 4431)`, NCCL's `host:4431:4502 [3]`.
_PROCESS = re.compile(
    r"\[PID: ?(\d{1,9})\]|\(PID: ?(\d{1,9})[,)]|\b[A-Z][A-Z_]{1,20}\((\d{1,9}),|\bpid[=:] ?(\d{1,9})\b"
    r"|\(pid: (\d{1,9})\)|(?<![\w.-])[A-Za-z][\w.-]{0,63}:(\d{1,9}):\d{1,9} \[\d{1,4}\]"
)
_PROCESS_SCAN = 400


def process_of(line: str) -> int | None:
    """The process id a line names, or None: a device's fault that comes back from another
    process is a new attempt."""
    found = _PROCESS.search(line, 0, _PROCESS_SCAN)
    if found is None:
        return None
    return int(next(group for group in found.groups() if group is not None))
