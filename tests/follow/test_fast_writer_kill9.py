"""A follower killed (no final save) under a writer at 5,000 lines a second, restarted from the
state saved before: no line lost; the lines delivered between that save and the kill are delivered
again, exactly those (README: "Live following: what is promised"; `monitor tail` saves every 5 s
while lines arrive, and announces an event only after the state holding it is saved, so the
repeated lines never repeat an announcement: tests/test_tail_kill9.py)."""

from __future__ import annotations

import json

from tests.follow.harness import drain_while, fast_writer, follow, markers, poll_until, tally


def test_killed_and_restarted_from_the_last_save_repeats_only_what_came_after_it(tmp_path) -> None:
    log, clock, first, writer = fast_writer(tmp_path, 6000)
    before = poll_until(first, writer, 2000)
    saved = json.loads(json.dumps(first.snapshot()))  # what save_state wrote
    after = poll_until(first, writer, 3500)
    first.close()  # killed: nothing saved since
    second = follow([log], clock, state=saved)
    again = drain_while(second, clock, writer.is_alive)
    delivered = markers(before) + markers(after) + markers(again)
    lost, repeated = tally(delivered, writer.finish())
    assert lost == []
    assert repeated == len(markers(after)) > 0
    assert markers(again)[: len(markers(after))] == markers(after)
    assert second.notices() == []
