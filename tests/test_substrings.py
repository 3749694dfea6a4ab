"""The substring cover both prefilters rest on: exact (every keyword holds a chosen substring) and greedy."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.substrings import cover


def test_the_substring_most_keywords_share_is_chosen_first() -> None:
    keywords = ("NCCL WARN timeout", "NCCL WARN abort", "NCCL WARN net", "Xid 79")
    chosen = cover(keywords)
    assert chosen[0] == "NCCL WARN "  # held by three; the longest of those held by three
    assert chosen[1:] == ("Xid 79",)  # held by one: the whole keyword, the most selective


def test_ties_go_to_the_longer_then_the_greater_substring() -> None:
    assert cover(("abcdef",)) == ("abcdef",)
    assert cover(("wxyz", "abcd")) == ("wxyz", "abcd")


def test_a_keyword_shorter_than_the_minimum_is_its_own_substring() -> None:
    # "nan" has no substring of four characters, so it stands for itself; "nanosecond" holds no
    # substring of four that "nan" holds, so both are needed
    assert sorted(cover(("nan", "nanosecond"))) == ["nan", "nanosecond"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abcde :", min_size=1, max_size=12), min_size=1, max_size=12, unique=True))
def test_every_keyword_holds_a_chosen_substring(keywords: list[str]) -> None:
    chosen = cover(tuple(keywords))
    assert all(any(c in keyword for c in chosen) for keyword in keywords)
    assert len(chosen) <= len(keywords)
    assert len(set(chosen)) == len(chosen)
