"""Cheap substring prefilters: a few short strings that every keyword contains.

Both the progress parsers and the fault catalog decide, before running any
regex, whether a line can concern them at all. Checking a handful of short
substrings is far cheaper than checking every keyword or pattern, and it is
exact: a line holding none of the cover holds none of the keywords.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=16)
def cover(keywords: tuple[str, ...], shortest: int = 4) -> tuple[str, ...]:
    """Substrings such that every keyword contains one of them.

    Chosen greedily (a set cover): the substring, of at least `shortest`
    characters, found in the most keywords not yet covered; ties go to the
    longer, more selective one (then the greater text). Counts are kept in an
    array, updated as keywords are covered.
    """
    held = [
        {keyword[i:j] for i in range(len(keyword)) for j in range(i + min(shortest, len(keyword)), len(keyword) + 1)}
        for keyword in keywords
    ]
    # every substring once, ranked by (length, text): among equal counts the greatest rank wins
    ranked = sorted(set().union(*held))
    ranked = [ranked[i] for i in np.argsort([len(c) for c in ranked], kind="stable")]
    rank = {substring: i for i, substring in enumerate(ranked)}
    ids = [np.fromiter((rank[c] for c in found), dtype=np.int64, count=len(found)) for found in held]
    counts = np.zeros(len(ranked), dtype=np.int64)
    for found in ids:
        counts[found] += 1
    order = np.arange(len(ranked), dtype=np.int64)
    uncovered = set(range(len(keywords)))
    chosen: list[str] = []
    while uncovered:
        best = ranked[int(np.argmax(counts * len(ranked) + order))]
        chosen.append(best)
        for index in [i for i in uncovered if best in keywords[i]]:
            uncovered.discard(index)
            counts[ids[index]] -= 1
    return tuple(chosen)
