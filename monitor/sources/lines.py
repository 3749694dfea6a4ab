"""Split a byte stream into text lines, in large chunks, with bounded memory.

The stream is read in chunks of about a megabyte and cut at the last newline,
so a multi-byte character is never split. Each chunk is decoded as UTF-8 with
replacement characters for invalid bytes, cleaned of ANSI colour codes (rich
and torchtitan print them), and split into lines. A carriage return also ends
a line, because tqdm redraws its bar with `\\r`; the pieces keep the number of
the physical line they came from, so line numbers match what `grep -n` shows.

A line longer than `max_line_chars` is cut to that length and the rest of it
is skipped (lossy, and counted in `ReadStats.long_lines`); memory therefore
never grows with file size or line length.

Deliberately not here: opening files (`files.py`) and following growing files.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from monitor.sources.files import SourceError

CHUNK_BYTES = 1 << 20
MAX_LINE_CHARS = 1 << 20

# Escape sequences (ECMA-48), in their 7-bit forms (ESC ...) and the 8-bit C1
# forms a UTF-8 log can hold as U+0080-U+009F: CSI (colours, cursor moves,
# erase; ESC [ or U+009B), the string controls OSC, DCS, SOS, PM, APC (titles,
# links, clipboard; ESC ] P X ^ _ or U+009D U+0090 U+0098 U+009E U+009F, ended
# by BEL or ST, or cut at the next escape or the line's end), and the other escapes: ESC with
# intermediate bytes then a final byte (ESC c resets the terminal, ESC 7 and
# ESC 8 save and restore the cursor, ESC ( B picks a character set).
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n\r]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
)
_C1_STARTS = "\x90\x98\x9b\x9d\x9e\x9f"  # the 8-bit forms' first characters


def _has_escape(text: str) -> bool:
    """Whether `text` may hold an escape sequence: a few substring searches, each far cheaper than a
    character-class regex over a whole block (and ASCII text can only hold the 7-bit forms)."""
    return "\x1b" in text or (not text.isascii() and any(c in text for c in _C1_STARTS))


@dataclasses.dataclass(slots=True)
class ReadStats:
    """What the reader saw in one source."""

    bytes_read: int = 0
    lines: int = 0
    long_lines: int = 0
    first_long_line: int | None = None
    replaced_chars: int = 0  # invalid UTF-8 replaced by U+FFFD


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive lines of one source.

    `numbers` is None when the lines are physical lines numbered from
    `first_line` on; it lists each line's number when carriage returns split
    physical lines into several pieces.
    """

    first_line: int
    lines: list[str]
    numbers: list[int] | None = None
    text: str | None = None
    """The lines joined by newlines, when the reader has it at hand (else None)."""

    def numbered(self) -> Iterator[tuple[int, str]]:
        """Pairs of (line number, text)."""
        if self.numbers is None:
            return enumerate(self.lines, self.first_line)
        return zip(self.numbers, self.lines)


def _split_carriage_returns(lines: list[str], first: int) -> tuple[list[str], list[int]]:
    pieces: list[str] = []
    numbers: list[int] = []
    for number, line in enumerate(lines, first):
        if "\r" not in line:
            pieces.append(line)
            numbers.append(number)
            continue
        for piece in line.split("\r"):
            if piece.strip():
                pieces.append(piece)
                numbers.append(number)
    return pieces, numbers


def _decode(block: bytes) -> str:
    text = block.decode("utf-8", "replace")
    if _has_escape(text):
        text = _ANSI.sub("", text)
    return text


def read_batches(
    stream: BinaryIO,
    name: str,
    stats: ReadStats,
    *,
    first_line: int = 1,
    limit_bytes: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    max_line_chars: int = MAX_LINE_CHARS,
) -> Iterator[Batch]:
    """Yield the stream's lines in batches, updating `stats` as it goes.

    Args:
        stream: binary stream positioned where reading starts.
        name: the source's name, for error messages.
        stats: counters to update.
        first_line: the number of the first line read.
        limit_bytes: stop after this many bytes (a range of a larger file);
            None reads to the end.
        chunk_bytes: how much to read at a time.
        max_line_chars: longer lines are cut to this length.

    Raises:
        SourceError: after yielding everything that could be read, when the
            stream failed (I/O error, truncated or corrupt compressed data).
    """
    carry = b""
    skipping = False  # inside an over-long line: drop bytes up to its newline
    line_no = first_line
    remaining = limit_bytes
    failure: SourceError | None = None
    # read1 returns what one underlying read gives: a pipe's data as it
    # arrives, and a compressed stream's data up to the point where it breaks
    # (a plain read of a truncated gzip loses the last megabyte it decoded).
    read = getattr(stream, "read1", stream.read)
    while remaining is None or remaining > 0:
        size = chunk_bytes if remaining is None else min(chunk_bytes, remaining)
        try:
            data = read(size)
        except EOFError:
            failure = SourceError(name, "compressed stream is truncated; scanned what came before the cut")
            break
        except (OSError, zlib.error) as err:
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            failure = SourceError(name, f"read failed ({reason}); scanned what came before")
            break
        if not data:
            break
        stats.bytes_read += len(data)
        if remaining is not None:
            remaining -= len(data)
        if skipping:
            newline = data.find(b"\n")
            if newline < 0:
                continue
            data = data[newline + 1 :]
            skipping = False
            line_no += 1
        cut = data.rfind(b"\n")
        if cut < 0:
            carry += data
            if len(carry) > max_line_chars:
                yield Batch(line_no, [_decode(carry[:max_line_chars])])
                stats.lines += 1
                stats.long_lines += 1
                stats.first_long_line = stats.first_long_line or line_no
                carry = b""
                skipping = True
            continue
        block = carry + data[: cut + 1]
        carry = data[cut + 1 :]
        text = _decode(block)
        stats.replaced_chars += text.count("\ufffd")
        lines = text.split("\n")
        lines.pop()  # the empty piece after the final newline
        whole: str | None = text[:-1]
        if len(lines[0]) > max_line_chars:
            lines[0] = lines[0][:max_line_chars]
            stats.long_lines += 1
            stats.first_long_line = stats.first_long_line or line_no
            whole = None
        stats.lines += len(lines)
        if "\r" in text:
            pieces, numbers = _split_carriage_returns(lines, line_no)
            yield Batch(line_no, pieces, numbers)
        else:
            yield Batch(line_no, lines, None, whole)
        line_no += len(lines)
    if carry and not skipping:
        text = _decode(carry[:max_line_chars])
        stats.lines += 1
        if "\r" in text:
            pieces, numbers = _split_carriage_returns([text], line_no)
            yield Batch(line_no, pieces, numbers)
        else:
            yield Batch(line_no, [text])
    if failure is not None:
        raise failure
