"""Parsers: turn the lines of each framework's output into records.

`new_parser_set` builds the parsers for one source. Framework parsers never
take the same line (their samples prove it), so their order does not matter;
generic fallbacks come last and only see lines no framework parser took.
"""

from __future__ import annotations

from monitor.parsers.base import ParseContext, Parser
from monitor.parsers.detect import ParserSet
from monitor.parsers.megatron import MegatronParser


def new_parsers() -> list[Parser]:
    """Fresh instances of every progress parser: framework parsers, then generic fallbacks."""
    return [
        MegatronParser(),
    ]


def new_bar_parser() -> Parser | None:
    """The progress-bar parser, offered every line with a tqdm bar before the others."""
    return None


def new_parser_set(ctx: ParseContext) -> ParserSet:
    """The dispatcher for one source, with fresh parsers."""
    return ParserSet(new_parsers(), ctx, bar=new_bar_parser())


__all__ = ["ParseContext", "Parser", "ParserSet", "new_bar_parser", "new_parser_set", "new_parsers"]
