"""Parsers: turn the lines of each framework's output into records.

`new_parser_set` builds the parsers for one source, most specific first, so
that the generic fallback only sees lines no framework parser took.
"""

from __future__ import annotations

from monitor.parsers.base import ParseContext, Parser
from monitor.parsers.detect import ParserSet
from monitor.parsers.megatron import MegatronParser


def new_parsers() -> list[Parser]:
    """Fresh instances of every progress parser, most specific first."""
    return [
        MegatronParser(),
    ]


def new_parser_set(ctx: ParseContext) -> ParserSet:
    """The dispatcher for one source, with fresh parsers."""
    return ParserSet(new_parsers(), ctx)


__all__ = ["ParseContext", "Parser", "ParserSet", "new_parser_set", "new_parsers"]
