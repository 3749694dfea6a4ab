"""Detector and parser state as data: a tagged JSON encoding for `tail --state`.

The state of a live scan is built from plain values (None, bools, ints,
floats, strings, lists), containers JSON lacks (tuples, sets, deques, dicts
with non-string keys) and the monitor's own record types (dataclasses, named
tuples, enums, a few plain classes). `encode` turns it into JSON-ready data
and `decode` turns that back into an equal value. Decoding never runs code
named by the data: a class is looked up by name in a table of the monitor's
own classes (built from its modules, never imported by name), an instance is
made with `object.__new__` and its fields set, and no `__init__`,
`__setstate__` or `__reduce__` is called. NaN and the infinities are tagged, so
the file is strict JSON. Depth is bounded, so deeply nested input is refused
rather than exhausting the stack.

Tags: a JSON object is always a tagged value, with the tag under "_":

    {"_": "f", "v": "nan" | "inf" | "-inf"}      a non-finite float
    {"_": "t" | "s" | "fs", "v": [...]}          tuple, set, frozenset
    {"_": "q", "v": [...], "n": maxlen | null}   collections.deque
    {"_": "d", "v": [[key, value], ...]}         dict (any keys)
    {"_": "e", "c": class, "v": name}            enum member
    {"_": "nt", "c": class, "v": [...]}          named tuple
    {"_": "o", "c": class, "v": {field: value}}  dataclass or plain object
    {"_": "m", "c": class}                       a singleton marker

Deliberately not here: reading or writing files (`sources.follow.save_state`)
and judging whether decoded state fits the detectors (the caller's check).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
import sys
from typing import Any

MAX_DEPTH = 64
"""Deeper input is refused; the monitor's own state nests about a dozen levels."""

_PACKAGES = ("monitor.model", "monitor.settings", "monitor.detectors", "monitor.parsers", "monitor.pipeline",
             "monitor.live", "monitor.catalog")
"""Modules whose classes may appear in state."""


class SnapshotError(ValueError):
    """The data is not an encoding of state: an unknown tag or class, a wrong shape, too deep."""


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _classes() -> dict[str, type]:
    """The monitor's own classes that state may hold, by `module.qualname` (modules already loaded)."""
    found: dict[str, type] = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith(_PACKAGES):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == module_name and "<" not in value.__qualname__:
                found[_name(value)] = value
    return found


def _is_named_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def _is_object(value: Any) -> bool:
    """A record or detector object (compared field by field), not a built-in value or container."""
    builtin = (str, bytes, tuple, list, dict, set, frozenset, collections.deque, enum.Enum)
    return not isinstance(value, builtin) and (hasattr(value, "__dict__") or hasattr(type(value), "__slots__"))


def _fields(value: Any) -> dict[str, Any]:
    """An instance's attributes: dataclass fields, slots or `__dict__`."""
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if hasattr(value, "__dict__"):
        return dict(vars(value))
    slots = [s for cls in type(value).__mro__ for s in getattr(cls, "__slots__", ())]
    return {s: getattr(value, s) for s in slots if hasattr(value, s)}


def encode(value: Any, depth: int = 0) -> Any:
    """`value` as JSON-ready data (strict JSON: no NaN literals).

    Raises:
        SnapshotError: `value` holds a type outside the monitor's state (or nests too deep).
    """
    if depth > MAX_DEPTH:
        raise SnapshotError(f"state nests deeper than {MAX_DEPTH} levels")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"_": "f", "v": "nan" if value != value else str(value)}
    if type(value) is list:
        return [encode(v, depth + 1) for v in value]
    if type(value) is tuple:
        return {"_": "t", "v": [encode(v, depth + 1) for v in value]}
    if type(value) in (set, frozenset):
        items = [encode(v, depth + 1) for v in value]
        return {"_": "s" if type(value) is set else "fs", "v": items}
    if type(value) is collections.deque:
        return {"_": "q", "v": [encode(v, depth + 1) for v in value], "n": value.maxlen}
    if type(value) is dict:
        return {"_": "d", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    cls = type(value)
    if not _name(cls).startswith(_PACKAGES):
        raise SnapshotError(f"cannot store a {_name(cls)} in the state")
    if isinstance(value, enum.Enum):
        return {"_": "e", "c": _name(cls), "v": value.name}
    if _is_named_tuple(value):
        return {"_": "nt", "c": _name(cls), "v": [encode(v, depth + 1) for v in value]}
    if cls.__dict__.get("_instance") is value:  # a singleton marker (parsers.base._Marker)
        return {"_": "m", "c": _name(cls)}
    return {"_": "o", "c": _name(cls), "v": {k: encode(v, depth + 1) for k, v in _fields(value).items()}}


def decode(data: Any) -> Any:
    """The value `encode` gave `data` for.

    Raises:
        SnapshotError: `data` is not such an encoding (never any other exception for JSON input).
    """
    return _Decoder(_classes()).value(data, 0)


class _Decoder:
    def __init__(self, classes: dict[str, type]) -> None:
        self.classes = classes

    def value(self, data: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise SnapshotError(f"state nests deeper than {MAX_DEPTH} levels")
        if data is None or type(data) in (bool, int, float, str):
            return data
        if type(data) is list:
            return [self.value(v, depth + 1) for v in data]
        if type(data) is not dict:
            raise SnapshotError(f"unexpected {type(data).__name__} in the state")
        tag = data.get("_")
        items = data.get("v")
        if tag == "f":
            if items not in ("nan", "inf", "-inf"):
                raise SnapshotError(f"not a non-finite float: {items!r:.40}")
            return float(items)
        if tag in ("t", "s", "fs", "q", "nt"):
            values = self.values(items, depth)
            if tag == "t":
                return tuple(values)
            if tag == "q":
                maxlen = data.get("n")
                if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
                    raise SnapshotError("a deque's maxlen is not a count")
                return collections.deque(values, maxlen)
            if tag == "nt":
                return self.named_tuple(data.get("c"), values)
            return self.hashable(set if tag == "s" else frozenset, values)
        if tag == "d":
            pairs = self.values(items, depth)
            if not all(type(p) is list and len(p) == 2 for p in pairs):
                raise SnapshotError("a dict entry is not a [key, value] pair")
            try:
                return {k: v for k, v in pairs}
            except TypeError:
                raise SnapshotError("a dict key cannot be hashed") from None
        cls = self.classes.get(data.get("c"))  # type: ignore[arg-type]
        if cls is None:
            raise SnapshotError(f"unknown class in the state: {str(data.get('c'))[:80]!r}")
        if tag == "e":
            if not issubclass(cls, enum.Enum) or type(items) is not str or items not in cls.__members__:
                raise SnapshotError(f"not a member of {_name(cls)}: {str(items)[:40]!r}")
            return cls[items]
        if tag == "m":
            if "_instance" not in cls.__dict__:
                raise SnapshotError(f"{_name(cls)} is not a marker")
            return cls()
        if tag == "o":
            return self.instance(cls, items, depth)
        raise SnapshotError(f"unknown tag in the state: {str(tag)[:20]!r}")

    def values(self, items: Any, depth: int) -> list[Any]:
        if type(items) is not list:
            raise SnapshotError("a container's items are not a list")
        return [self.value(v, depth + 1) for v in items]

    @staticmethod
    def hashable(kind: type, values: list[Any]) -> Any:
        try:
            return kind(values)
        except TypeError:
            raise SnapshotError("a set member cannot be hashed") from None

    def named_tuple(self, name: Any, values: list[Any]) -> Any:
        cls = self.classes.get(name)
        if cls is None or not issubclass(cls, tuple) or not hasattr(cls, "_fields"):
            raise SnapshotError(f"not a named tuple of the monitor: {str(name)[:80]!r}")
        if len(values) != len(cls._fields):  # type: ignore[attr-defined]
            raise SnapshotError(f"{_name(cls)} takes {len(cls._fields)} fields, not {len(values)}")  # type: ignore[attr-defined]
        return tuple.__new__(cls, values)

    def instance(self, cls: type, items: Any, depth: int) -> Any:
        if type(items) is not dict or not all(type(k) is str and not k.startswith("__") for k in items):
            raise SnapshotError(f"the fields of a {_name(cls)} are not a JSON object")
        if issubclass(cls, (tuple, enum.Enum, BaseException)) or cls.__dict__.get("_instance") is not None:
            raise SnapshotError(f"{_name(cls)} is not stored as an object")
        allowed = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else None
        if allowed is not None and set(items) != allowed:
            raise SnapshotError(f"the fields of a {_name(cls)} differ from its definition")
        instance = object.__new__(cls)
        for key, item in items.items():
            try:
                object.__setattr__(instance, key, self.value(item, depth + 1))
            except (AttributeError, TypeError):
                raise SnapshotError(f"a {_name(cls)} has no field {key[:40]!r}") from None
        return instance


def unlike(fresh: Any, saved: Any, where: str = "state", depth: int = 0) -> str | None:
    """Where decoded `saved` state differs in shape from `fresh` state of the same object, else None.

    A check that what a file holds fits the detectors it is restored into: the same types where
    the fresh state has a value (numbers may be ints or floats), every field and key the fresh state
    has, lists and tuples of the fresh length, deques of the fresh bound. Values the fresh state
    does not have yet (a rank seen later) are not checked, so this finds a foreign or edited
    state, not every bad value.
    """
    if fresh is None or depth > MAX_DEPTH:
        return None
    numbers = (int, float)
    if type(fresh) in numbers and type(saved) in numbers:
        return None
    if type(fresh) is not type(saved):
        return f"{where} is a {type(saved).__name__}, not a {type(fresh).__name__}"
    if isinstance(fresh, dict) or _is_object(fresh):
        fresh_items = fresh if isinstance(fresh, dict) else _fields(fresh)
        saved_items = saved if isinstance(saved, dict) else _fields(saved)
        for key, value in fresh_items.items():
            if key not in saved_items:
                return f"{where} lacks {str(key)[:40]!r}"
            problem = unlike(value, saved_items[key], f"{where}.{str(key)[:40]}", depth + 1)
            if problem is not None:
                return problem
        return None
    if type(fresh) is collections.deque and fresh.maxlen != saved.maxlen:
        return f"{where} holds up to {saved.maxlen} items, not {fresh.maxlen}"
    if type(fresh) in (list, tuple) and fresh and not _is_named_tuple(fresh):
        if len(fresh) != len(saved):
            return f"{where} has {len(saved)} items, not {len(fresh)}"
        for index, (a, b) in enumerate(zip(fresh, saved)):
            problem = unlike(a, b, f"{where}[{index}]", depth + 1)
            if problem is not None:
                return problem
    return None
