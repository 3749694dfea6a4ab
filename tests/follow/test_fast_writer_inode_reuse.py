"""A deleted log whose inode the next log gets (file systems hand a freed inode number to the next
file created: ext4 and tmpfs commonly do): device and inode match the saved offset, and every rank's
log starts with the same banner, so the first bytes match too. The bytes before the saved offset
tell the files apart: the offset is not trusted (a notice says so), the new file is read from its
start, no line lost or repeated. The reuse is staged by giving the state the new file's identity,
as a reused inode would."""

from __future__ import annotations

import json
import os
import time

from tests.follow.harness import Clock, Writer, drain_while, follow, markers, tally

BANNER = "".join(f"config {i:04d}: identical on every rank and every attempt\n" for i in range(40))  # > 1 KiB


def test_a_reused_inode_is_told_from_the_old_file_and_read_from_its_start(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text(BANNER)
    clock = Clock()
    first = follow([log], clock, from_start=True)
    old = Writer(log, total=3000, prefix="old")
    old.start()
    drain_while(first, clock, old.is_alive, rest=1.0)
    saved = json.loads(json.dumps(first.snapshot()))
    first.close()
    os.unlink(log)
    log.write_text(BANNER)
    new = Writer(log, total=4000)
    new.start()
    while new.at() < 3500:  # longer than the old file: the size check alone would pass
        time.sleep(0.001)
    info = log.stat()
    mark = saved["files"][str(log)]
    mark["dev"], mark["ino"] = info.st_dev, info.st_ino  # the inode, reused
    second = follow([log], clock, state=saved)
    out = drain_while(second, clock, new.is_alive)
    lost, repeated = tally(markers(out), new.finish())
    assert (lost, repeated) == ([], 0)
    assert [text for _, text in [pair for f in out for pair in f.batch.numbered()][:40]] == BANNER.splitlines()
    assert second.notices() == [f"{log}: truncated or rewritten while the monitor was stopped (the saved offset is "
                                "not trusted); reading from the start"]
