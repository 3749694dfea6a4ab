"""A log emptied in place while a writer at 5,000 lines a second goes on (a restarted process
opening its log with "w", or `> train.log`): reading restarts at the top; nothing is delivered twice
and the only lines lost are those written after the last poll before the truncation
(README: "Live following: what is promised")."""

from __future__ import annotations

from tests.follow.harness import drain_while, fast_writer, markers, poll_until, tally


def test_truncation_by_the_writer_loses_only_the_unread_tail_and_repeats_none(tmp_path) -> None:
    log, clock, follower, writer = fast_writer(tmp_path, 5000)
    out = poll_until(follower, writer, 2000)
    with writer.paused():
        out += follower.poll()  # the last poll before the truncation
        read_before = max(markers(out))
        writer.reopen(late=2, truncate=True)  # 100 more lines, then the file is opened again, emptied
        truncated_at = writer.at() + 3 * writer.burst
    out += drain_while(follower, clock, writer.is_alive)
    lost, repeated = tally(markers(out), writer.finish())
    assert repeated == 0
    assert all(read_before < n < truncated_at for n in lost)
    assert follower.counters[str(log)].truncations == 1
    assert markers(out)[-1] == 4999
