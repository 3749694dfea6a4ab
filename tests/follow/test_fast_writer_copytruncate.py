"""logrotate's copytruncate under a writer at 5,000 lines a second: nothing is delivered twice,
and the only lines lost are those written after the last poll before the truncation (logrotate's
own documentation: "there is a very small time slice between copying the file and truncating it, so
some logging data might be lost"; here the copy is not followed, so the lines written since our last
read are the loss). README: "Live following: what is promised".
"""

from __future__ import annotations

import os
import shutil

from tests.follow.harness import drain_while, fast_writer, markers, poll_until, tally


def test_copytruncate_loses_only_lines_written_since_the_last_poll_and_repeats_none(tmp_path) -> None:
    log, clock, follower, writer = fast_writer(tmp_path, 5000)
    out = poll_until(follower, writer, 2000)
    out += follower.poll()  # the last poll before the rotation
    read_before = max(markers(out))
    shutil.copyfile(log, tmp_path / "train.log.1")  # the writer goes on meanwhile
    os.truncate(log, 0)
    truncated_at = writer.at()
    out += drain_while(follower, clock, writer.is_alive)
    lost, repeated = tally(markers(out), writer.finish())
    assert repeated == 0
    assert all(read_before < n < truncated_at for n in lost)  # only the gap before the truncation
    assert follower.counters[str(log)].truncations == 1
