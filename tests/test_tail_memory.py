"""The agent gives freed heap pages back to the system after letting files go (glibc's malloc_trim)."""

from __future__ import annotations

from monitor import tail


def test_giving_memory_back_is_safe_to_call_anywhere() -> None:
    for _ in range(3):
        assert tail.give_back_memory() is None


def test_it_calls_malloc_trim_where_the_c_library_has_it(monkeypatch) -> None:
    calls = []

    class Libc:
        def __init__(self, _name: str) -> None:
            self.malloc_trim = self

        def __call__(self, pad: int) -> int:
            calls.append(pad)
            return 1

    monkeypatch.setattr(tail.ctypes, "CDLL", Libc)
    trim = tail._malloc_trim()
    assert trim() is None and calls == [0]


def test_without_malloc_trim_it_does_nothing(monkeypatch) -> None:
    def no_libc(_name: str) -> None:
        raise OSError("no such library")

    monkeypatch.setattr(tail.ctypes, "CDLL", no_libc)
    assert tail._malloc_trim()() is None
