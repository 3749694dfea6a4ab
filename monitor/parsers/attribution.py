"""Who printed a line: rank and node from line prefixes and file names.

Line prefixes, as launchers print them (several may be chained):
- torch.distributed.elastic `--tee` / `--log-line-prefix`: `[default3]:` (role
  name plus local rank, the only rank the prefix shows) and, in newer PyTorch,
  `[rank3]:` (global rank);
- `srun --label`: `3: ` (the Slurm task id, i.e. the global rank);
- pdsh / clush: `node12: ` (host name);
- NCCL debug lines: `node12:1234:5678 [3]` (host, pid, thread, CUDA device);
- DeepSpeed `log_dist`: `[Rank 3]` after the logging prefix;
- syslog / journalctl kernel lines: `Mar  4 10:01:07 node07 kernel: ` (host name).

File names: `rank_3.log`, `rank3.out`, `*-rank-3-*`, `stdout-node12.log`, and
torchelastic's `attempt_0/<local rank>/stdout.log` layout is not used (the
directory number alone is too ambiguous).

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
    r"|(?<![\w.-])(?P<nccl_node>[A-Za-z][\w.-]*):\d+:\d+ \[\d+\]"
    r"|(?P<label>\d{1,6}): "
    r"|(?<![\w.-])(?P<host>[A-Za-z](?:(?!\d)[\w.-])*\d[\w.-]*): "
    r"|\[\d{1,9}\](?= )"  # a log viewer's line number (`[1744] `): names nobody
    r")"
)
_RANK_TAG = re.compile(r"\[Rank (\d{1,6})\]")
_SYSLOG_HOST = re.compile(r"(?:^|\s)(?P<host>[A-Za-z][\w.-]*) kernel: ")

_FILE_RANK = re.compile(r"(?:^|[^A-Za-z0-9])rank[-_]?(\d{1,6})(?![0-9])", re.IGNORECASE)
_FILE_NODE = re.compile(r"(?:^|[^A-Za-z0-9])(node[-_]?\d+)", re.IGNORECASE)


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
            node = m.group(1)
    return rank, node
