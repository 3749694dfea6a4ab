"""The slot vocabulary: what a number on a progress line means, from its name and unit.

The words live in `vocabulary.json` (data, not code): each field lists the
names frameworks print for it, best first, and each unit what it converts
to. This module reads that file once and answers two questions for the
layout learner: which field a label names (`classify`) and which field and
factor a unit implies (`unit_of`).

Names are compared normalised (`normalise`): lower case, `_` and `-` read as
spaces, a split (`train/`, `val_`, `eval `) and a unit suffix (`_ms`,
`(s)`) taken off first. A name that is not in the vocabulary is matched by
its last words (`Training iter` is an `iter`), but only for the counters and
the main metrics, and with at most one extra word that is not a qualifier
(`global`, `total`, a split word), so prose such as `Resuming from step`
never names a step.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any, NamedTuple

SUFFIX_FIELDS = frozenset({"step", "epoch", "loss", "perplexity", "grad_norm", "lr"})
"""Fields whose names may carry extra words in front (`Training iter`, `lm loss`)."""
RATE_FIELDS = frozenset({"tokens_per_s", "samples_per_s"})
"""Fields whose names may carry qualifiers in front (`avg train tok/s`), nothing else."""
QUALIFIERS = frozenset({
    "global", "total", "avg", "average", "mean", "running", "lm", "current", "cur", "overall", "smoothed", "ema",
    "step", "batch", "epoch", "model", "final", "moving", "reduced", "train", "training", "the", "scaled", "unscaled",
})
COMPONENT_TIER = 3
"""The tier of a loss named by a word of its own in front (`koleo_loss`, `value function loss`) or after
(`loss_cls`): one term of the objective, read as the loss only when the line names no other."""
_UNIT_SUFFIXES = {"s": "s", "sec": "s", "secs": "s", "seconds": "s", "ms": "ms", "msec": "ms"}


class Meaning(NamedTuple):
    """What a slot name stands for: a field, and its rank among that field's names (0 is best)."""

    field: str
    tier: int
    extras: int = 0  # words in front of the vocabulary name


class Unit(NamedTuple):
    """What a unit says: the field it implies (or None) and the factor into that field's unit."""

    field: str | None
    factor: float
    inverse: bool = False  # a rate (`it/s`): the step time is its inverse


class Label(NamedTuple):
    """What a printed label says: its name (split and unit taken off), split, unit, and meaning."""

    name: str
    split: str | None
    unit: str | None
    meaning: Meaning | None


_LABEL_CACHE_LIMIT = 4096


class Vocabulary:
    """The parsed vocabulary file."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.triggers: tuple[str, ...] = tuple(data["triggers"])
        self._labels: dict[str, Label] = {}
        self.eval_splits = frozenset(data["splits"]["eval"])
        self.train_splits = frozenset(data["splits"]["train"])
        self.names: dict[str, Meaning] = {}
        for field, tiers in data["fields"].items():
            for tier, names in enumerate(tiers):
                for name in names:
                    self.names.setdefault(name, Meaning(field, tier))
        self.units: dict[str, Unit] = {}
        for unit, factor in data["units"]["seconds"].items():
            self.units[unit] = Unit(None, float(factor))
        for unit in data["units"]["per_step"]:
            self.units[unit] = Unit("step_time", 0.001 if unit.startswith("ms") else 1.0)
        for unit in data["units"]["rate"]:
            self.units[unit] = Unit("step_time", 1.0, inverse=True)
        for field in ("tokens_per_s", "samples_per_s", "tflops", "mfu", "elapsed"):
            for unit in data["units"][field]:
                self.units[unit] = Unit(field, 0.01 if field == "mfu" else 1.0)
        self.spaced_units = tuple(sorted((u for u in self.units if not u[0].isalpha() or len(u) > 1), key=len,
                                         reverse=True))
        for unit, field in data["units"]["counters"].items():
            self.units[unit] = Unit(field, 1.0)  # glued only: `3epoch`, `500batch` (ESPnet)
        self.eval_markers: tuple[str, ...] = tuple(data["eval_markers"])
        self.eval_prose = frozenset(data["eval_prose"])
        self.exact_only = frozenset(data["exact_only"])
        self.nonfinite = frozenset(data["nonfinite"])
        self.summaries = frozenset(data["summaries"])
        self.loss_prefixes = frozenset(data["loss_prefixes"])
        self.nonfinite_only = frozenset(data["nonfinite_only"])
        self.penalties = frozenset(data["penalties"])
        self.maybe_elapsed = frozenset(data["maybe_elapsed"])
        # loss names only before what they are of in brackets, in the last tier of the loss names
        self.loss_heads = {name: Meaning("loss", len(data["fields"]["loss"]) - 1) for name in data["loss_heads"]}

    def split(self, name: str) -> tuple[str | None, str]:
        """(`eval`, `train` or None, the name without its split prefix)."""
        split: str | None = None
        if name in self.eval_splits or name in self.train_splits:
            return ("eval" if name in self.eval_splits else "train"), ""  # `Train: 3`, `Valid: 3`
        for _ in range(3):
            head, sep, tail = name.partition("/")
            if not sep or not tail:
                head, sep, tail = name.partition(" ")
            if not sep or not tail:
                break
            head = head.removesuffix("'s")  # LightGBM's `training's binary_logloss`
            if head in self.eval_splits:
                split, name = "eval", tail
            elif head in self.train_splits:
                split, name = split or "train", tail
            else:
                break
            number, _, rest = name.partition(" ")
            if rest and number.removesuffix("'s").isdecimal():
                name = rest  # the number of the data set: LightGBM's `valid_1's`, XGBoost's `validation_0-`
        return split, name

    def classify(self, name: str, identifier: bool = True) -> Meaning | None:
        """The field a normalised name (split removed) stands for, or None. `identifier` says the
        label was one token (`loss_joint_img`), not words (`loss improved from`)."""
        meaning = self.names.get(name)
        if meaning is not None:
            return meaning
        words = name.split(" ")
        for cut in range(1, min(len(words), 4)):
            tail = " ".join(words[cut:])
            meaning = self.names.get(tail)
            if meaning is not None and meaning.field in SUFFIX_FIELDS and tail not in self.exact_only:
                extras = words[:cut]
                if self.summaries.intersection(extras):
                    return None  # `best loss`, `max grad norm`: a summary or a setting
                plain = [w for w in extras if w not in QUALIFIERS and w not in self.eval_splits]
                # more than one plain word in front is prose (`resuming from step`): the caller decides
                if plain and meaning.field == "loss":  # a component (`koleo_loss`): after `total_loss`, `xent`
                    return Meaning("loss", max(meaning.tier, COMPONENT_TIER), len(plain))
                return Meaning(meaning.field, meaning.tier, len(plain))
            if meaning is not None and meaning.field in RATE_FIELDS and QUALIFIERS.issuperset(words[:cut]):
                return meaning  # `avg train utts/s` (MLPerf RNN-T's epoch summary)
        if len(words) <= 4 and not self.summaries.intersection(words) and (
            words[-1] == "loss" or (words[0] == "loss" and (identifier or len(words) == 2))
            or (identifier and len(words) > 1 and words[0] in self.loss_prefixes)
            or (identifier and "loss" in words[1:-1])  # `l1_charbonnier_loss_color`: a loss of one output
        ):
            return Meaning("loss", COMPONENT_TIER, 0)  # a component loss (`loss_cls`, `aux loss`): the last resort
        return None

    def label(self, raw: str) -> Label:
        """Read a label as printed (`val_loss`, `elapsed time per iteration (ms)`, `Training iter`):
        normalised, its split and unit taken off, and classified. Labels repeat line after line, so
        the answers are kept (a bounded cache)."""
        found = self._labels.get(raw)
        if found is None:
            found = self._read_label(raw)
            if found.meaning is None and _CAMEL.search(raw):
                # camelCase words (`LossTrajs`, `valLoss`, `gradNorm`), read as words when the name as
                # written means nothing (`TFLOPs` is read whole first)
                words = self._read_label(_CAMEL.sub(" ", raw))
                if words.meaning is not None:
                    found = words
            if len(self._labels) >= _LABEL_CACHE_LIMIT:
                self._labels.clear()
            self._labels[raw] = found
        return found

    def _read_label(self, raw: str) -> Label:
        name, unit = self.normalise(raw)
        split, base = self.split(name) if name else (None, "")
        meaning = self.classify(base, identifier=" " not in raw.strip()) if base else None
        if meaning is None and "/" in base:
            # a namespace that is no split (verl's `actor/loss`, `actor/grad_norm`; CleanRL's `losses/value_loss`):
            # the name under it, after a plain name of its own field
            leaf = base.rpartition("/")[2]
            under = self.classify(leaf) if leaf and leaf not in self.exact_only else None
            if under is not None:
                meaning = Meaning(under.field, under.tier, under.extras + 1)
        if meaning is None and base.endswith(")") and "(" in base:
            # a loss name with what it is of in brackets: EESEN's `Obj(log[Pzx])`
            name = base[: base.index("(")].rstrip()
            head = self.loss_heads.get(name) or self.classify(name)
            meaning = head if head is not None and head.field == "loss" else None
        return Label(base, split, unit, meaning)

    def column(self, raw: str) -> Label:
        """The label of a progress table's column: as `label`, but a name of `loss_heads` is a loss
        there (YOLOv5's `Epoch gpu_mem box obj cls ...` header: `obj` is its objectness loss)."""
        found = self.label(raw)
        head = self.loss_heads.get(found.name) if found.meaning is None else None
        return found._replace(meaning=head) if head is not None else found

    def unit_of(self, text: str) -> Unit | None:
        return self.units.get(text)

    def normalise(self, label: str) -> tuple[str, str | None]:
        """A label as a vocabulary name, and the unit it holds: `elapsed time per iteration (ms)`
        gives (`elapsed time per iteration`, `ms`), `step_time_s` (`step time`, `s`), and
        `Epoch(val)` (`val epoch`, None), so that the split is seen."""
        name = label.strip().strip("'\"").lower().replace("_", " ").replace("-", " ")
        name = " ".join(name.split()).removesuffix(" at")  # prose's `step at 58600` (RVC's trainer)
        unit: str | None = None
        if name.endswith(")") and "(" in name:
            head, _, inner = name[:-1].rpartition("(")
            head = head.rstrip()
            if inner in _UNIT_SUFFIXES and head:
                name, unit = head, _UNIT_SUFFIXES[inner]
            elif (inner in self.eval_splits or inner in self.train_splits) and head:
                name = f"{inner} {head}"
        elif " " in name:
            head, _, last = name.rpartition(" ")
            if last in _UNIT_SUFFIXES and head and not head.endswith(" per"):  # `tokens per sec` is a rate
                name, unit = head.removesuffix(" in"), _UNIT_SUFFIXES[last]  # `timing in s`
        return name, unit




_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
"""Where camelCase starts a new word: `LossTrajs`, `valLoss`, `NLLLoss`."""


@functools.lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The shipped vocabulary (read once)."""
    text = resources.files("monitor.parsers").joinpath("vocabulary.json").read_text(encoding="utf-8")
    return Vocabulary(json.loads(text))
