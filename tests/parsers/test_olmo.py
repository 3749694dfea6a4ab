"""Multi-line metric blocks: OLMo and Composer.

Layouts follow allenai/OLMo `olmo/train.py` (`Trainer.log_metrics_to_console`: a
`[step=<n>/<max>,epoch=<e>]` header after the logging prefix, then `    name=value`
lines with `format_float`: `str()` below 1e-4, thousands separators above 1000;
evaluation blocks headed by the evaluator's label) and mosaicml/composer
`composer/loggers/console_logger.py` (`[epoch=<e>][batch=<b>/<n>]:` or
`[<unit>=<cur>/<total>]:`, then `\\n\\t Train <name>: <value>` lines; evaluation blocks
`[Eval batch=<b>/<n>] Eval on <label> data:`). Values are made up.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.parsers import ParseContext, new_parser_set
from monitor.parsers.base import PENDING
from monitor.parsers.olmo import MAX_BLOCK_LINES, ComposerParser, OlmoParser
from tests.conftest import parse_text, steps

PREFIX = "2024-05-02 10:11:{:02d}.345 node-7:0  olmo.train:908  INFO    "


def olmo_block(step: int, loss: str = "2.913", second: int = 12) -> str:
    return (
        PREFIX.format(second) + f"[step={step}/739328,epoch=0]\n"
        "    optim/total_grad_norm=1.7872662283480167e-06\n"
        f"    train/CrossEntropyLoss={loss}\n"
        "    train/Perplexity=18.41\n"
        "    throughput/total_tokens=2,097,152\n"
        "    throughput/device/tokens_per_second=26,668\n"
        "    System/Peak GPU Memory (MB)=53,695\n"
    )


# ---------------------------------------------------------------- OLMo


def test_olmo_block_across_lines_is_one_record() -> None:
    [r] = steps(olmo_block(120) + PREFIX.format(13) + "Saving checkpoint to /ckpt/step120")
    assert (r.step, r.total_steps, r.epoch, r.loss) == (120, 739328, 0.0, 2.913)
    assert r.grad_norm == 1.7872662283480167e-06
    assert r.tokens_per_s == 26668.0
    assert r.line == 1 and r.time == "2024-05-02T10:11:12.345000"


def test_olmo_consecutive_blocks_each_end_at_the_next_header() -> None:
    records = steps(olmo_block(1, "12.18") + olmo_block(2, "1.7e-06", 13) + olmo_block(3, "0.0", 14))
    assert [(r.step, r.loss, r.line) for r in records] == [(1, 12.18, 1), (2, 1.7e-06, 8), (3, 0.0, 15)]


def test_olmo_block_at_end_of_input_is_flushed() -> None:
    [r] = steps(olmo_block(7).rstrip("\n"))
    assert (r.step, r.loss) == (7, 2.913)
    parser, ctx = OlmoParser(), ParseContext("x.log", None, 2024)
    assert parser.parse(PREFIX.format(1) + "[step=9/10]", 1, ctx) is PENDING
    assert parser.resume("    train/CrossEntropyLoss=nan", 2, ctx) == (PENDING, True)
    record = parser.finish(ctx)
    assert record is not None and record.step == 9 and math.isnan(record.loss)
    assert parser.finish(ctx) is None


def test_olmo_nan_loss_is_found_at_its_step() -> None:
    records = steps("".join(olmo_block(s, "nan" if s == 30 else "2.5", s) for s in (10, 20, 30, 40)))
    assert [r.step for r in records if math.isnan(r.loss)] == [30]


def test_olmo_line_after_a_block_is_still_dispatched() -> None:
    """The line that ends a block goes to the other parsers (here: another framework's step line)."""
    records = steps(olmo_block(5) + "epoch: 1 step: 3, loss is 0.5\n")
    assert [(r.step, r.loss) for r in records] == [(5, 2.913), (3, 0.5)]


def test_olmo_header_without_epoch_and_with_launcher_prefixes() -> None:
    text = (
        "[rank0]:2023-11-20 09:00:01.123 node-3:0 olmo.train:816 INFO [step=41/10000]\n"
        "[rank0]:    train/CrossEntropyLoss=3.104\n"
        "[rank0]:    optim/total_grad_norm=0.4410\n"
    )
    [r] = steps(text)
    assert (r.step, r.epoch, r.loss, r.grad_norm, r.rank) == (41, None, 3.104, 0.441, 0)


def test_olmo_eval_block_gives_an_eval_record_at_the_current_step() -> None:
    text = olmo_block(1000) + (
        PREFIX.format(20) + "c4_en-validation\n"
        "    eval/c4_en-validation/CrossEntropyLoss=nan\n"
        "    eval/c4_en-validation/Perplexity=nan\n"
    )
    train, evaluation = steps(text)
    assert train.step == 1000 and not train.is_eval
    assert evaluation.step == 1000 and evaluation.is_eval and math.isnan(evaluation.eval_loss)


def test_olmo_system_metrics_block_is_not_a_record() -> None:
    text = PREFIX.format(1) + "Pre-train system metrics\n    System/Peak GPU Memory (MB)=1,024\n"
    assert steps(text) == []


def test_olmo_runaway_block_is_cut() -> None:
    metrics = "    x=1\n" * (MAX_BLOCK_LINES + 5) + "    train/CrossEntropyLoss=4.0\n"
    text = PREFIX.format(1) + "[step=1/2]\n" + metrics
    [r] = steps(text)
    assert r.step == 1 and r.loss is None


# ---------------------------------------------------------------- Composer

COMPOSER = (
    "[epoch=1][batch=16/200]:\n"
    "\t Train time/batch: 15\n"
    "\t Train loss/train/total: 7.1234\n"
    "\t Train l2_norm/grad/global: 3.5000\n"
    "\t Train lr-DecoupledAdamW/group0: 0.0001\n"
    "\t Train throughput/samples_per_sec: 512.2500\n"
)


def test_composer_block() -> None:
    [r] = steps(COMPOSER + "some other line")
    assert (r.step, r.epoch, r.total_steps, r.loss) == (16, 1.0, 200, 7.1234)
    assert (r.grad_norm, r.lr, r.samples_per_s) == (3.5, 1e-4, 512.25)


def test_composer_nan_loss_and_end_of_input() -> None:
    text = "[batch=1200/24000]:\n\t Train loss/train/total: nan\n"
    [r] = steps(text)
    assert (r.step, r.total_steps, r.epoch) == (1200, 24000, None) and math.isnan(r.loss)


def test_composer_token_duration_takes_its_step_from_time_batch() -> None:
    with_batch = "[token=1048576/2000000]:\n\t Train time/batch: 256\n\t Train loss/train/total: 4.5\n"
    without = "[token=1048576/2000000]:\n\t Train loss/train/total: 4.5\n"
    [r] = steps(with_batch)
    assert (r.step, r.total_steps, r.loss) == (256, None, 4.5)
    assert steps(without) == []


def test_composer_eval_block_is_an_eval_record_at_the_current_step() -> None:
    text = COMPOSER + (
        "[Eval batch=3/10] Eval on eval data\n"
        "[Eval batch=10/10] Eval on eval data:\n"
        "\t Eval metrics/eval/LanguageCrossEntropy: 6.5000\n"
        "\t Eval metrics/eval/LanguagePerplexity: 665.1416\n"
    )
    train, evaluation = steps(text)
    assert train.step == 16
    assert (evaluation.step, evaluation.eval_loss, evaluation.is_eval) == (16, 6.5, True)


def test_composer_eval_progress_without_metrics_is_not_a_record() -> None:
    assert steps("[Eval batch=10/10] Eval on eval data:\n\t Eval some/other: 1.0\n") == []


def test_block_parsers_never_become_a_wrong_format() -> None:
    parsers = new_parser_set(ParseContext("x.log", None, 2024))
    text = olmo_block(1) + olmo_block(2)
    parsers.parse_lines(enumerate(text.splitlines(), 1))
    parsers.finish()
    assert parsers.records_by_format.most_common(1) == [("olmo", 2)]


# ---------------------------------------------------------------- bad input


def test_huge_junk_lines_are_not_records() -> None:
    junk = ("[step=1/ ]: [batch=1/ eval/ =" * 40000)[: 1 << 20]
    ctx = ParseContext("x.log", None, 2024)
    for parser in (OlmoParser(), ComposerParser()):
        assert parser.parse(junk, 1, ctx) is None
    assert parse_text(junk + "\n" + "    " + junk) == []


@given(st.lists(st.text(max_size=80), max_size=6))
def test_arbitrary_lines_never_raise(lines: list[str]) -> None:
    ctx = ParseContext("x.log", None, 2024)
    for parser, header in ((OlmoParser(), "[step=3/9]"), (ComposerParser(), "[batch=3/9]:")):
        assert parser.parse(header, 1, ctx) is PENDING
        for number, line in enumerate(lines, 2):
            for prefix in ("    ", "\t Train ", "\t Eval ", ""):
                outcome, _ = parser.resume(prefix + line, number, ctx)
                if outcome is not PENDING:
                    parser.parse(header, number, ctx)
        parser.finish(ctx)
