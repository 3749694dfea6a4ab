"""The learned timestamp layout of a source gives exactly what the full search gives.

Layouts, as the tools print them: Megatron-LM's `training_log` (` [2024-03-05 10:41:12] `), Python
logging's default `asctime` (`2024-03-05 10:41:12,123`), `kubectl logs --timestamps` (RFC 3339 with
nanoseconds and `Z`), Huawei CANN's plog time (`2024-03-05-10:41:12.123.456`), and ISO 8601 with an
offset (`2024-03-05T10:41:12.5+05:30`)."""

from __future__ import annotations

import random

import pytest

from monitor.parsers.base import ParseContext
from monitor.parsers.timestamps import StampLayout, find_timestamp

LAYOUTS = [
    " [{Y}-{m}-{d} {H}:{M}:{S}] ",
    "{Y}-{m}-{d} {H}:{M}:{S},{ms} - root - INFO - ",
    "{Y}-{m}-{d}T{H}:{M}:{S}.{ns}Z ",
    "[ERROR] RUNTIME(4242,python):{Y}-{m}-{d}-{H}:{M}:{S}.{ms}.{us} ",
    "{Y}-{m}-{d}T{H}:{M}:{S}.{f}+05:30 [rank3]: ",
    "[rank1]: {Y}/{m}/{d} {H}:{M}:{S} ",
]


def stamp(layout: str, rng: random.Random) -> str:
    """A prefix in `layout`, fields sometimes out of range (month 13, second 60) on purpose."""
    return layout.format(
        Y=rng.choice((1999, 2024, 2025)), m=f"{rng.randint(0, 13):02d}", d=f"{rng.randint(0, 32):02d}",
        H=f"{rng.randint(0, 24):02d}", M=f"{rng.randint(0, 60):02d}", S=f"{rng.randint(0, 61):02d}",
        ms=f"{rng.randint(0, 999):03d}", us=f"{rng.randint(0, 999):03d}", ns=f"{rng.randint(0, 10**9 - 1):09d}",
        f=str(rng.randint(0, 999999))[: rng.randint(1, 6)],
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_learned_layout_reads_what_the_search_reads(layout) -> None:
    rng = random.Random(layout)
    learned = StampLayout()
    assert learned.learn(stamp(layout.replace("{m}", "03").replace("{d}", "05").replace("{S}", "07"), rng))
    fast = 0
    for _ in range(3000):
        prefix = stamp(layout, rng)
        found = learned.read(prefix)
        expected = find_timestamp(prefix, 2020)
        if found is not None:
            fast += 1
            assert found[:3] == tuple(expected), prefix  # same ISO text, same float seconds, same year
    assert fast > 1000  # most lines take the fast path


def test_a_prefix_in_another_layout_is_left_to_the_search() -> None:
    learned = StampLayout()
    assert learned.learn(" [2024-03-05 10:41:12] ")
    assert learned.read("[2024-03-05 10:41:12] ") is None  # the text before the stamp differs
    assert learned.read(" [Tue Mar  5 10:41:12 2024] ") is None
    assert not learned.learn("I0305 10:41:12.123456 ")  # glog: no year, no ISO layout to learn
    assert not learned.learn("03/05 10:41:12 x 2024-03-05 10:41:12 ")  # an earlier stamp of another layout
    assert learned.read("03/05 10:41:12 x 2024-03-05 10:41:12 ") is None


def test_the_context_gives_the_same_time_rank_and_node_either_way() -> None:
    """`ParseContext.where` caches the prefix less its stamp; the answer is the full path's."""
    lines = [f"[rank{n % 4}]: 2024-03-05 10:{n // 60 % 60:02d}:{n % 60:02d},{n % 1000:03d} INFO step {n}"
             for n in range(500)]
    fast, slow = ParseContext("a.log"), ParseContext("a.log")
    slow._stamps.learn = lambda prefix: False  # never learns: the full search every time
    for line in lines:
        start = line.index(" INFO")
        assert fast.where(line, start) == slow.where(line, start)
    assert len(fast._stamps._leads) == 4  # one lead per rank prefix


@pytest.mark.parametrize("layout", LAYOUTS)
def test_stamps_that_differ_only_in_their_seconds_read_as_the_search_reads(layout) -> None:
    """Consecutive lines of a log share the stamp up to the minute: the layout reads the seconds and
    fraction of such a prefix without the search. Seconds out of range, other scripts' digits
    (which the search's `\\d` takes too) and fractions of other lengths must come out as the search's
    answer, or as None (the caller then searches)."""
    rng = random.Random(layout + "seconds")
    learned = StampLayout()
    base = {"Y": 2024, "m": "03", "d": "05", "H": "10", "M": "41", "ms": "123", "us": "456",
            "ns": "000000001", "f": "5"}
    assert learned.learn(layout.format(S="07", **base))
    digits = "0123456789" * 6 + "\u0663\u0667"  # mostly ASCII, sometimes Arabic-Indic
    fast = 0
    for _ in range(3000):
        fields = dict(base)
        second = "".join(rng.choice(digits) for _ in range(2))
        fields["ms"] = "".join(rng.choice(digits) for _ in range(3))
        fields["ns"] = "".join(rng.choice(digits) for _ in range(rng.choice((9, 9, 9, 6))))
        fields["f"] = "".join(rng.choice(digits) for _ in range(rng.choice((1, 1, 3))))
        prefix = layout.format(S=second, **fields)
        found = learned.read(prefix)
        expected = find_timestamp(prefix, 2020)
        if found is not None:
            fast += 1
            assert found[:3] == tuple(expected), prefix
        elif expected is not None and expected.printed_year is not None and second.isascii() and int(second) < 60:
            assert not prefix.isascii(), prefix  # an ASCII stamp in range is always read
    assert fast > 1000
