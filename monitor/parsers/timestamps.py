"""Find the wall-clock timestamp in a log line's prefix, in the layouts logs use.

Layouts, as printed by the tools that produce them:
- ISO 8601 and Python logging: `2024-03-05T10:41:12.123Z`, `2024-03-05 10:41:12,123`
  (logging's default `asctime`), `[2024-03-05 10:41:12,123]` (DeepSpeed),
  ` [2024-03-05 10:41:12]` (Megatron-LM's `training_log`), `2024/03/05 10:41:12`;
- glog and torch.distributed.elastic: `I0305 10:41:12.123456` (no year); PyTorch's
  c10 logging drops the month's leading zero: `[E304 10:41:12.123456789 ...]`; the same
  level letter before a full date (DINOv2's logging setup, datefmt `%Y%m%d %H:%M:%S`:
  `I20240305 10:41:12 ...`);
- syslog / journalctl short: `Mar  5 10:41:12` (no year);
- dmesg human time (`dmesg -T`): `[Tue Mar  5 10:41:12 2024]`;
- the US date of Python logging's `datefmt="%m/%d/%Y %H:%M:%S"`, which the Hugging Face
  example scripts (Transformers, Accelerate, Diffusers) set: `03/05/2024 10:41:12`; `%x %X` in
  the C locale (rich's `RichHandler` default) prints `03/05/24 10:41:12`;
- the image-restoration trainers of the BasicSR family (EDVR, mmsr: codes/utils/util.py), whose `setup_logger` sets
  `datefmt='%y-%m-%d %H:%M:%S'` before `.%(msecs)03d`: `24-03-05 10:41:12.123`;
- MMEngine: `03/05 10:41:12` (no year); the same with a dash (`03-05 10:41:12`, hand-written
  loggers' `%m-%d %H:%M:%S`) or none (tensorpack's `[0305 10:41:12 @train.py:71]`);
- sockeye's `2024-03-05:10:41:12` (a colon between date and time);
- Huawei CANN plog, MindSpore and the CANN error manager: `2024-03-05-10:41:12.123.456`
  (a dash between date and time, then milliseconds and microseconds as two dot-separated
  groups), as in `[ERROR] RUNTIME(4242,python):2024-03-05-10:41:12.123.456 [file.cc:1]...`
  and `EZ9999: 2024-03-05-10:41:12.123.456  <message>`.

Where a layout has no year, the caller supplies one: the year of the last
dated line of the same file, else the file's modification year (an
approximation, stated here because it is one). Naive timestamps
are read in the `timezone` setting (`monitor.model.log_zone()`, UTC by default) when turned into
seconds; zone offsets are honoured.
Seconds since boot (`[ 1234.5678]` in raw dmesg) are not wall time and are
ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

from monitor.model import log_zone

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {month: i for i, month in enumerate(_MONTH_NAMES, 1)}

_TIMESTAMP = re.compile(
    r"(?P<iso>(?P<Y>\d{4})[-/](?P<m>\d\d)[-/](?P<d>\d\d)[T :-](?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)"
    r"(?:[.,](?P<f>\d{1,9})(?:\.(?P<us>\d{3})(?!\d))?)?(?P<z>Z|[+-]\d\d:?\d\d)?)"
    r"|(?P<dmesg>\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<dmon>[A-Z][a-z]{2}) +(?P<dd>\d{1,2}) "
    r"(?P<dH>\d\d):(?P<dM>\d\d):(?P<dS>\d\d) (?P<dY>\d{4})\])"
    r"|(?P<glogy>\b[IWEF](?P<yY>(?:19|20)\d\d)(?P<ym>[01]\d)(?P<yd>[0-3]\d) (?P<yH>\d\d):(?P<yM>\d\d):(?P<yS>\d\d)"
    r"(?:\.(?P<yf>\d{1,9}))?)"
    r"|(?P<glog>\b[IWEF](?P<gm>1[0-2]|0?[1-9])(?P<gd>[0-3]\d) (?P<gH>\d\d):(?P<gM>\d\d):(?P<gS>\d\d)\.(?P<gf>\d{1,9}))"
    r"|(?P<syslog>\b(?P<smon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<sd>\d{1,2}) "
    r"(?P<sH>\d\d):(?P<sM>\d\d):(?P<sS>\d\d)\b)"
    r"|(?P<usd>\b(?P<um>[01]\d)/(?P<ud>[0-3]\d)/(?P<uY>\d{4}|\d\d) (?P<uH>\d\d):(?P<uM>\d\d):(?P<uS>\d\d)"
    r"(?:[.,](?P<uf>\d{1,9}))?(?!\d))"
    r"|(?P<ymd>\b(?P<y2>\d\d)-(?P<y2m>[01]\d)-(?P<y2d>[0-3]\d) (?P<y2H>\d\d):(?P<y2M>\d\d):(?P<y2S>\d\d)"
    r"(?:[.,](?P<y2f>\d{1,9}))?(?!\d))"
    r"|(?P<mm>\b(?P<mmm>[01]\d)[/-]?(?P<mmd>[0-3]\d) (?P<mmH>\d\d):(?P<mmM>\d\d):(?P<mmS>\d\d)\b)"
)


def _zone(text: str | None) -> dt.timezone | None:
    if not text:
        return None
    if text == "Z":
        return dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _micro(fraction: str | None) -> int:
    return int((fraction or "0")[:6].ljust(6, "0"))


def _two_digit_year(printed: str) -> int:
    """The year of a two-digit `%y`, as strptime reads it (69-99 are 1900s)."""
    return int(printed) + (2000 if int(printed) < 69 else 1900)


def _build(m: re.Match[str], year: int) -> dt.datetime:
    g = m.group
    if m.group("iso"):
        return dt.datetime(
            int(g("Y")), int(g("m")), int(g("d")), int(g("H")), int(g("M")), int(g("S")),
            _micro(g("f") if g("us") is None else g("f")[:3].rjust(3, "0") + g("us")), tzinfo=_zone(g("z")),
        )
    if m.group("dmesg"):
        return dt.datetime(
            int(g("dY")), _MONTHS[g("dmon")], int(g("dd")), int(g("dH")), int(g("dM")), int(g("dS"))
        )
    if m.group("glogy"):
        return dt.datetime(
            int(g("yY")), int(g("ym")), int(g("yd")), int(g("yH")), int(g("yM")), int(g("yS")), _micro(g("yf"))
        )
    if m.group("glog"):
        return dt.datetime(
            year, int(g("gm")), int(g("gd")), int(g("gH")), int(g("gM")), int(g("gS")), _micro(g("gf"))
        )
    if m.group("usd"):
        printed = g("uY")
        return dt.datetime(
            int(printed) if len(printed) == 4 else _two_digit_year(printed),
            int(g("um")), int(g("ud")),
            int(g("uH")), int(g("uM")), int(g("uS")), _micro(g("uf")),
        )
    if m.group("ymd"):
        return dt.datetime(
            _two_digit_year(g("y2")), int(g("y2m")), int(g("y2d")),
            int(g("y2H")), int(g("y2M")), int(g("y2S")), _micro(g("y2f")),
        )
    if m.group("syslog"):
        return dt.datetime(year, _MONTHS[g("smon")], int(g("sd")), int(g("sH")), int(g("sM")), int(g("sS")))
    return dt.datetime(year, int(g("mmm")), int(g("mmd")), int(g("mmH")), int(g("mmM")), int(g("mmS")))


class Stamp(NamedTuple):
    """A timestamp found in a line."""

    iso: str
    seconds: float
    printed_year: int | None  # the year, when the layout prints one


def find_timestamp(text: str, year: int) -> Stamp | None:
    """The first timestamp in `text`, as (ISO 8601 text, seconds since the epoch, printed year).

    Args:
        text: where to look, usually the prefix of a line before its message.
        year: the year to assume for layouts that print none.

    Returns:
        None when there is no timestamp, or when its fields are out of range
        (such as month 13).
    """
    m = _TIMESTAMP.search(text)
    if m is None:
        return None
    try:
        stamp = _build(m, year)
    except (ValueError, OverflowError):
        return None
    seconds = (stamp if stamp.tzinfo else stamp.replace(tzinfo=log_zone())).timestamp()
    printed = stamp.year if m.group("iso") or m.group("dmesg") or m.group("glogy") or m.group("usd") or m.group(
        "ymd") else None
    return Stamp(stamp.isoformat(), seconds, printed)


_ISO_AT = re.compile(
    r"\d{4}[-/]\d\d[-/]\d\d[T :-]\d\d:\d\d:(?P<S>\d\d)"
    r"(?:[.,](?P<f>\d{1,9})(?:\.(?P<us>\d{3})(?!\d))?)?(?P<z>Z|[+-]\d\d:?\d\d)?"
)
_MINUTES_LIMIT = 4096
_LEADS_LIMIT = 256


class StampLayout:
    """The ISO timestamps of one source, read without the full search once their place is known.

    Most logs stamp every line the same way after the same launcher prefix (` [2024-03-05
    10:41:12] `, `[rank3]: 2024-03-05T10:41:12.123Z `). The text before a stamp (its lead) is
    checked once with the full search (nothing in it may start a timestamp of another layout);
    after that, a prefix with a known lead is read with the ISO pattern alone, and the date and
    minute, which change rarely, are converted once and reused. `read` returns exactly what
    `find_timestamp` would (the same ISO text, the same float seconds), or None when it cannot
    tell, and the caller takes the slow path."""

    def __init__(self) -> None:
        self._leads: set[str] = set()
        self._minutes: dict[tuple[str, str | None], tuple[int, str, str, int]] = {}
        # The last prefix read, less its seconds and fraction: (length, text before the seconds,
        # text after the fraction, where the seconds start, the fraction's separator, the
        # fraction's length, its minute, the stamp's span). A prefix that differs from it only in
        # those digits has the same stamp but for them, and is read without a search.
        self._shape: tuple[int, str, str, int, str, int, tuple[int, str, str, int], int, int] | None = None

    def learn(self, prefix: str) -> bool:
        """Take `prefix`'s lead as known when the full search finds its first timestamp where the
        ISO pattern does (and not glued to a letter or digit before it)."""
        iso = _ISO_AT.search(prefix)
        if iso is None or len(self._leads) >= _LEADS_LIMIT:
            return False
        start = iso.start()
        if start and prefix[start - 1].isalnum():
            return False
        m = _TIMESTAMP.search(prefix)
        if m is None or not m.group("iso") or m.start() != start:
            return False
        self._leads.add(prefix[:start])
        return True

    def read(self, prefix: str) -> tuple[str, float, int, int, int] | None:
        """(ISO text, seconds, printed year, start, end) of `prefix`'s stamp; None when its lead is
        unknown or the stamp is not one the fast path reads."""
        shape = self._shape
        if shape is not None and self.fits(prefix):
            at, separator, digits = shape[3], shape[4], shape[5]
            second_text = prefix[at : at + 2]
            fraction = prefix[at + 3 : at + 3 + digits] if digits else None
            if second_text.isdecimal() and (
                fraction is None or (prefix[at + 2] == separator and fraction.isdecimal())
            ):
                return self._stamp(second_text, fraction, shape[6], shape[7], shape[8])
        m = _ISO_AT.search(prefix)
        if m is None:
            return None
        start, end = m.span()
        if prefix[:start] not in self._leads:
            return None
        second_text, fraction, us, zone = m.groups()
        second = int(second_text)
        if second > 59:
            return None
        head = prefix[start : m.start(1)]
        key = (head, zone)
        minute = self._minutes.get(key)
        if minute is None:
            minute = _minute(head, zone)
            if minute is None:
                return None
            if len(self._minutes) >= _MINUTES_LIMIT:
                self._minutes.clear()
            self._minutes[key] = minute
        if us is None:
            at = m.start(1)
            digits = len(fraction) if fraction else 0
            self._shape = (
                len(prefix), prefix[:at], prefix[at + 3 + digits if digits else at + 2 :], at,
                prefix[at + 2] if digits else "", digits, minute, start, end,
            )
            return self._stamp(second_text, fraction, minute, start, end)
        return self._stamp(second_text, fraction[:3].rjust(3, "0") + us, minute, start, end)

    @property
    def shape(self) -> object:
        """The shape `read` last learned (compare with `is`: a new one is a new object)."""
        return self._shape

    def fits(self, prefix: str) -> bool:
        """Whether `prefix` differs from the last learned shape only in its seconds and fraction."""
        shape = self._shape
        return (
            shape is not None and len(prefix) == shape[0] and prefix.startswith(shape[1])
            and prefix.endswith(shape[2])
        )

    def whole_seconds(self, prefix: str) -> tuple[str, float, int] | None:
        """`read`'s (ISO text, seconds, year) for a prefix that `fits` a shape without a fraction, read
        in one go; None otherwise (then `read` decides)."""
        shape = self._shape
        if shape is None or shape[5] or not self.fits(prefix):
            return None
        at = shape[3]
        second = prefix[at : at + 2]
        if not (second.isascii() and second.isdecimal() and second < "60"):
            return None
        epoch, iso_head, zone_text, year = shape[6]
        return iso_head + ":" + second + zone_text, float(epoch + int(second)), year

    @staticmethod
    def _stamp(
        second_text: str, fraction: str | None, minute: tuple[int, str, str, int], start: int, end: int
    ) -> tuple[str, float, int, int, int] | None:
        """`read`'s answer for a stamp's seconds and fraction digits in a known minute."""
        second = int(second_text)
        if second > 59:
            return None
        epoch, iso_head, zone_text, year = minute
        micro_text = fraction[:6].ljust(6, "0") if fraction else "0"
        micro = int(micro_text)
        if not (second_text + micro_text).isascii():  # other scripts' digits, printed as ASCII ones
            second_text, micro_text = f"{second:02d}", f"{micro:06d}"
        iso = iso_head + ":" + second_text + ("." + micro_text if micro else "") + zone_text
        # what datetime.timestamp() computes: whole microseconds over 10**6
        return iso, ((epoch + second) * 1_000_000 + micro) / 1_000_000, year, start, end


def _minute(head: str, zone: str | None) -> tuple[int, str, str, int] | None:
    """(epoch seconds, ISO text up to the minute, zone suffix, year) of a stamp's minute (`head` is
    the stamp as printed up to its seconds)."""
    full = _TIMESTAMP.match(head + "00" + (zone or ""))
    if full is None or not full.group("iso"):
        return None
    try:
        stamp = _build(full, 1970)
    except (ValueError, OverflowError):
        return None
    iso = stamp.isoformat()
    epoch = (stamp if stamp.tzinfo else stamp.replace(tzinfo=log_zone())).timestamp()
    return int(epoch), iso[:16], iso[19:], stamp.year
