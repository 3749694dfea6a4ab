"""The rolling baseline: adding values in bulk is adding them one by one."""

from __future__ import annotations

import random

from monitor.detectors.robust import Baseline


def test_extend_leaves_the_baseline_that_adding_one_by_one_leaves() -> None:
    """`extend` (and `refreshes`, which it uses) take the medians at the same refreshes, with the
    same values, as `add` does value by value, from any state: windows not yet full, refreshes
    every line or rarely, lines repeated or missing."""
    rng = random.Random(11)
    for _ in range(1500):
        size = rng.randint(1, 25)
        one, bulk = Baseline(size, 1.1), Baseline(size, 1.1)
        line = rng.randint(0, 100)
        for _round in range(rng.randint(1, 4)):
            values = [rng.choice([rng.random() * 10, float(rng.randint(1, 4))]) for _ in range(rng.randint(0, 120))]
            lines: list[int | None] = []
            for _value in values:
                line += rng.choice([0, 1, 1, 2, 5, 17, 40])
                lines.append(None if rng.random() < 0.03 else line)
            expected = []
            for value, at in zip(values, lines):
                if one.add(value, at):
                    expected.append(one.median)
            assert bulk.refreshes(values, lines)[1] == expected
            assert bulk.extend(values, lines) == expected
            assert bulk == one and bulk.gate == one.gate
