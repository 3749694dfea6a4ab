"""The reader cuts every terminal escape sequence out of the lines it gives the parsers (ECMA-48):
CSI and OSC in their 7-bit (ESC [, ESC ]) and 8-bit C1 forms (U+009B, U+009D, as UTF-8 in a log),
the other string controls (DCS, SOS, PM, APC), and the two-byte escapes: ESC c (reset), ESC 7 and
ESC 8 (save and restore the cursor), ESC ( B (character set). A lone control stays: it is data, and
every output escapes or drops it."""

from __future__ import annotations

import io

import pytest

from monitor.sources.lines import ReadStats, read_batches

SEQUENCES = {
    "colour": "\x1b[1;31m",
    "osc-title-bel": "\x1b]0;pwned\x07",
    "osc-clipboard-st": "\x1b]52;c;Y3VybA==\x1b\\",
    "reset": "\x1bc",
    "save-cursor": "\x1b7",
    "restore-cursor": "\x1b8",
    "charset": "\x1b(B",
    "c1-csi": "\u009b2J",
    "c1-osc": "\u009d0;pwned\u009c",
    "c1-dcs": "\u0090q#0;2;0;0;0\u009c",
    "apc": "\x1b_payload\x1b\\",
}


def read(text: str) -> list[str]:
    return [line for batch in read_batches(io.BytesIO(text.encode()), "t.log", ReadStats()) for line in batch.lines]


@pytest.mark.parametrize("sequence", SEQUENCES.values(), ids=SEQUENCES.keys())
def test_a_sequence_is_cut_out_of_the_line(sequence: str) -> None:
    assert read(f"iteration 5 {sequence}| lm loss: 2.0\n") == ["iteration 5 | lm loss: 2.0"]


def test_a_lone_control_stays_in_the_line() -> None:
    assert read("step 1\x85 loss 2.0\x07\n") == ["step 1\x85 loss 2.0\x07"]


def test_an_unterminated_string_control_ends_with_its_line() -> None:
    """A title or a C1 OSC that never ends takes nothing past its line: lines and their numbers stay."""
    assert read("a \x1b]0;title\nb \u009dno end\nc\n") == ["a ", "b ", "c"]
