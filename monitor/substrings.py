"""Cheap substring prefilters: a few short strings that every keyword contains.

Both the progress parsers and the fault catalog decide, before running any
regex, whether a line can concern them at all. Checking a handful of short
substrings is far cheaper than checking every keyword or pattern, and it is
exact: a line holding none of the cover holds none of the keywords.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=16)
def cover(keywords: tuple[str, ...], shortest: int = 4) -> tuple[str, ...]:
    """Substrings such that every keyword contains one of them.

    Chosen greedily (a set cover): the substring, of at least `shortest`
    characters, found in the most keywords not yet covered; ties go to the
    longer, more selective one. Counts are kept up to date as keywords are
    covered, so a catalog of hundreds of literals is covered in milliseconds.
    """
    holders: dict[str, set[int]] = {}
    for index, keyword in enumerate(keywords):
        n = len(keyword)
        for i in range(n):
            for j in range(i + min(shortest, n), n + 1):
                holders.setdefault(keyword[i:j], set()).add(index)
    counts = {substring: len(found) for substring, found in holders.items()}
    substrings_of: dict[int, list[str]] = {}
    for substring, found in holders.items():
        for index in found:
            substrings_of.setdefault(index, []).append(substring)
    uncovered = set(range(len(keywords)))
    chosen: list[str] = []
    while uncovered:
        best = max(counts, key=lambda c: (counts[c], len(c), c))
        chosen.append(best)
        for index in holders[best] & uncovered:
            uncovered.discard(index)
            for substring in substrings_of[index]:
                counts[substring] -= 1
        counts = {c: n for c, n in counts.items() if n > 0}
    return tuple(chosen)
