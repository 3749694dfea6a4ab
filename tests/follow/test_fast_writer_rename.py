"""Rename rotation under a writer at 5,000 lines a second that writes on to the old file after the
rename (it reopens the path only later, as Python's `WatchedFileHandler` does on its next record and
a process holding its stdout never does): no line lost, none twice.

The old file is read until it has been quiet for `rotated_quiet_seconds`, so the late lines are
delivered, under the old name, before the file is let go (README: "Live following: what is promised").
"""

from __future__ import annotations

import os

from tests.follow.harness import drain_while, fast_writer, markers, poll_until, tally


def test_rename_with_late_writes_loses_and_repeats_nothing(tmp_path) -> None:
    log, clock, follower, writer = fast_writer(tmp_path, 4000, rotated_quiet_seconds=5.0)
    out = poll_until(follower, writer, 1000)
    with writer.paused():
        os.rename(log, tmp_path / "train.log.1")
        writer.reopen(late=10)  # 500 more lines to the renamed file, then a new train.log
    out += drain_while(follower, clock, writer.is_alive)
    lost, repeated = tally(markers(out), writer.finish())
    assert (lost, repeated) == ([], 0)
    assert follower.counters[str(log)].rotations == 1
    assert follower.open_files == 1  # the old file, quiet, was let go
    delivered = markers(out)
    assert delivered == sorted(delivered)  # the old file's late lines before the new file's first
