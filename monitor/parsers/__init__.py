"""Parsers: turn the lines of each framework's output into records.

`new_parser_set` builds the parsers for one source. Framework parsers never
take the same line (their samples prove it), so their order does not matter;
generic fallbacks come last and only see lines no framework parser took.
"""

from __future__ import annotations

from monitor.parsers.bars import BarParser
from monitor.parsers.base import ParseContext, Parser
from monitor.parsers.blocks import KeyValueBlockParser
from monitor.parsers.deepspeed import DeepSpeedParser
from monitor.parsers.detect import ParserSet
from monitor.parsers.fairseq import FairseqParser
from monitor.parsers.hf_trainer import HFTrainerParser
from monitor.parsers.jsonlines import JsonLinesParser
from monitor.parsers.layouts import LearnedParser
from monitor.parsers.loss_scale import ApexLossScaleParser
from monitor.parsers.megatron import MegatronParser
from monitor.parsers.mindspore import MindFormersParser, MindSporeParser, MindYoloParser
from monitor.parsers.mlx import MlxParser
from monitor.parsers.nanogpt import LlmcParser, NanoGptParser
from monitor.parsers.olmo import ComposerParser, OlmoParser
from monitor.parsers.timers import TimersParser
from monitor.parsers.torchtitan import TorchtitanParser


def new_parsers() -> list[Parser]:
    """Fresh instances of every progress parser: framework parsers, then generic fallbacks."""
    return [
        MegatronParser(),
        DeepSpeedParser(),
        HFTrainerParser(),
        ApexLossScaleParser(),
        MindFormersParser(),
        MindSporeParser(),
        MindYoloParser(),
        JsonLinesParser(),
        OlmoParser(),
        ComposerParser(),
        TorchtitanParser(),
        NanoGptParser(),
        LlmcParser(),
        FairseqParser(),
        MlxParser(),
        TimersParser(),
        KeyValueBlockParser(),
        LearnedParser(),  # generic: must stay last
    ]


def new_bar_parser() -> Parser | None:
    """The progress-bar parser, offered every line with a tqdm bar before the others."""
    return BarParser()


def new_parser_set(ctx: ParseContext) -> ParserSet:
    """The dispatcher for one source, with fresh parsers."""
    return ParserSet(new_parsers(), ctx, bar=new_bar_parser())


__all__ = ["ParseContext", "Parser", "ParserSet", "new_bar_parser", "new_parser_set", "new_parsers"]
