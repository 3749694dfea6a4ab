"""What every progress parser is, and the per-source context they share.

A parser turns the lines of one framework's output into records. It is
offered only lines that contain one of its `keywords` (plain substrings,
checked before any regex runs), and returns a record, None, `NOT_PROGRESS`
(its own line, but no progress: no fallback may take it) or `PENDING`
when a record spans several lines (a hard-wrapped Megatron line, an OLMo
metrics block): it is then offered the following lines first, through
`resume`, until the record is complete.

Parsers never decide thresholds and never emit events: they report what the
log says (a NaN loss is a StepRecord whose loss is nan).

The `ParseContext` holds what a parser needs beyond the line: the source's
name, the rank and node its file name implies, the current training step
(for lines that print none, such as Hugging Face's log dicts), and a cache
that makes attributing repeated prefixes (`[rank0]:`) nearly free.
"""

from __future__ import annotations

import abc
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Final

from monitor.columns import StepRows
from monitor.model import Record
from monitor.parsers.attribution import attribute_path, attribute_prefix
from monitor.parsers.timestamps import StampLayout, find_timestamp


def to_float(text: str | None) -> float | None:
    """A printed number as a float: `7,322` (thousands separators), `1.78e-06`,
    `nan` and `inf` (kept: non-finite values are data), or None when the text
    is not a number. Parsers read every value through this, so bad input
    becomes None instead of an exception."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        try:
            return float(text.replace(",", ""))
        except ValueError:
            return None


class _Marker:
    """A singleton answer of `parse` that is not a record; it pickles as the module constant it is."""

    _instance: ClassVar[_Marker | None] = None
    _name: ClassVar[str]

    def __new__(cls) -> _Marker:
        if cls.__dict__.get("_instance") is None:
            cls._instance = super().__new__(cls)
        return cls._instance  # type: ignore[return-value]

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


class _Pending(_Marker):
    """Marker: the parser holds a partial record and wants the next lines first."""

    _name = "PENDING"


class _NotProgress(_Marker):
    """Marker: the line is this parser's own but holds no progress (a run summary, a metrics object
    without a step), so no fallback may read it as a step."""

    _name = "NOT_PROGRESS"


PENDING: Final = _Pending()
NOT_PROGRESS: Final = _NotProgress()

Where = tuple[str | None, float | None, int | None, str | None]
"""(ISO time, epoch seconds, rank, node) of a line."""

_PREFIX_CACHE_LIMIT = 4096


class ParseContext:
    """Per-source state shared by the parsers of one source."""

    def __init__(self, file: str, path: str | None = None, year: int | None = None) -> None:
        self.file = file
        self.file_rank, self.file_node = attribute_path(path)
        self.year = year or dt.date.today().year
        # The training step the stream is at: set by explicit step counters
        # and by the training progress bar, read by lines without a step.
        self.step: int | None = None
        # The total of the training progress bar; bars with a smaller total
        # (evaluation, data loading) do not move `step`.
        self.bar_total: int | None = None
        # The training bar's seconds per iteration at its last redraw (tqdm's rate, `s/it`, or
        # `it/s` inverted): the step time of records printed beside the bar (the Trainer's dict).
        self.bar_step_time_s: float | None = None
        # The training bar's elapsed time at its last redraw (tqdm's `[05:12<`): the clock of records
        # printed beside the bar where no wall clock is printed (seconds since the bar began).
        self.bar_elapsed_s: float | None = None
        self._prefixes: dict[str, Where] = {}
        self._stamps = StampLayout()  # where this source prints its timestamps
        self._who: dict[tuple[str, str], tuple[int | None, str | None]] = {}  # attribution of stamped prefixes
        self._shape_who: tuple[object, tuple[int | None, str | None]] | None = None  # the stamp shape's attribution

    def where(self, line: str, start: int) -> Where:
        """Time, rank and node of `line`, whose message starts at index `start`.

        Prefixes without a timestamp repeat exactly (`[rank3]:`, a run of
        spaces), so their attribution is cached.
        """
        prefix = line[:start]
        layout = self._stamps
        shape_who = self._shape_who
        if shape_who is not None and shape_who[0] is layout.shape:
            # the last stamped prefix but for its seconds (the common case): its attribution is known
            found_seconds = layout.whole_seconds(prefix)
            if found_seconds is not None:
                iso_text, seconds_value, self.year = found_seconds
                who = shape_who[1]
                return (iso_text, seconds_value, who[0], who[1])
        cached = self._prefixes.get(prefix)
        if cached is not None:
            return cached
        if (found := layout.read(prefix)) is not None:
            iso, seconds, year, begin, end = found
            masked = (prefix[:begin], prefix[end:])  # the prefix less its stamp
            who = self._who.get(masked)
            if who is None:
                who = self._attribute(prefix)
                # cached unless the stamp's digits take part in the attribution
                if len(self._who) < _PREFIX_CACHE_LIMIT and self._attribute(masked[0] + masked[1]) == who:
                    self._who[masked] = who
            self.year = year
            if masked in self._who and layout.fits(prefix):
                # the shape is this prefix's but for its digits, which the attribution does not read
                self._shape_who = (layout.shape, who)
            return (iso, seconds, who[0], who[1])
        rank, node = self._attribute(prefix)
        stamp = find_timestamp(prefix, self.year) if len(prefix) > 7 else None
        if stamp is None:
            where: Where = (None, None, rank, node)
            if len(self._prefixes) >= _PREFIX_CACHE_LIMIT:
                self._prefixes.clear()
            self._prefixes[prefix] = where
            return where
        if stamp.printed_year is not None:  # ISO (or dmesg): only these layouts can be learned
            layout.learn(prefix)
            self.year = stamp.printed_year  # later year-less stamps (glog, syslog) belong to it
        return (stamp.iso, stamp.seconds, rank, node)

    def _attribute(self, prefix: str) -> tuple[int | None, str | None]:
        """Rank and node of a prefix: the launcher's, else the file name's."""
        rank, node = attribute_prefix(prefix) if prefix.strip() else (None, None)
        if rank is None:
            rank = self.file_rank
        if node is None:
            node = self.file_node
        return rank, node

    def snapshot(self) -> tuple[Any, ...]:
        """The state that later lines depend on (for comparing two contexts)."""
        return (self.step, self.bar_total, self.year, self.bar_step_time_s, self.bar_elapsed_s)

    def restore(self, snapshot: tuple[Any, ...]) -> None:
        self.step, self.bar_total, self.year, *rest = snapshot  # a state saved before the bar's rate had 3
        self.bar_step_time_s = rest[0] if rest else None
        self.bar_elapsed_s = rest[1] if len(rest) > 1 else None


class Parser(abc.ABC):
    """One framework's family of progress lines.

    Subclasses set `name` (reported as the detected format), `keywords`
    (a line is offered only when it contains one of them) and `samples`
    (real-shaped lines, each of which this parser must turn into a record and
    no other framework parser may take: the tests check both), and
    implement `parse`. Parsers that keep state across lines keep it in instance
    attributes, so `snapshot` can compare and copy it.
    """

    name: ClassVar[str]
    keywords: ClassVar[tuple[str, ...]]
    samples: ClassVar[tuple[str, ...]] = ()
    generic: ClassVar[bool] = False  # a catch-all tried after every framework parser
    companion: ClassVar[bool] = False  # prints beside a framework's progress (timers): never the format
    learned: ClassVar[bool] = False  # a catch-all that learns layouts: it may become the format
    own_keywords: tuple[str, ...] | None = None  # as the format, the words its lines hold (else `keywords`)

    @abc.abstractmethod
    def parse(self, line: str, number: int, ctx: ParseContext) -> Record | None | _Pending:
        """Parse one line; None when it is not this parser's."""

    def resume(self, line: str, number: int, ctx: ParseContext) -> tuple[Record | None | _Pending, bool]:
        """Offer the line after a PENDING answer.

        Returns the outcome (a finished record, None, or PENDING to keep
        waiting) and whether the line was consumed; an unconsumed line is
        dispatched as usual afterwards.
        """
        return None, False

    def finish(self, ctx: ParseContext) -> Record | None:
        """End of input: hand over a record still being assembled."""
        return None

    def bulk_template(self) -> re.Pattern[str] | None:
        """As the source's format: a pattern (MULTILINE) that finds, in a block of lines joined by
        newlines, the end of lines that `read_bulk` reads exactly as `parse` would in the parser's
        present state (a match never spans lines); None when there is none (then every line goes
        through `parse`)."""
        return None

    def bulk_rows(self, file: str) -> StepRows:
        """An empty block of rows in the layout of `bulk_template`."""
        raise NotImplementedError

    def read_bulk(
        self, match: re.Match[str], prefix: str, line: str, number: int, ctx: ParseContext
    ) -> tuple[Sequence[str], Where] | None:
        """The row of `line`, where `bulk_template` matched after `prefix` (the line's text before
        the match): its values as printed (the pattern's groups), and where it was printed; or
        None: `parse` must read that line. A row's record is the one `parse` would have made."""
        return None

    def snapshot(self) -> dict[str, Any]:
        """The parser's state, comparable with `==` and picklable."""
        return dict(vars(self))

    def restore(self, snapshot: dict[str, Any]) -> None:
        vars(self).update(snapshot)
