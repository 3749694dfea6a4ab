"""The report's "New and uncatalogued errors" section: error lines no catalog entry knows, one
row per masked template, in order of first appearance, with how far each spread.

Layout: c10 `LOG(ERROR)` behind torchrun's `[rankN]:` prefix (c10/util/Logging.cpp,
torch/distributed/elastic/multiprocessing/api.py `--local-ranks-filter`/`--tee`).
"""

from __future__ import annotations

import monitor
from monitor.report.analysis import build_report
from monitor.report.html import render_html
from monitor.report.markdown import render_markdown


def _c10(rank: int, second: int, text: str) -> str:
    return f"[rank{rank}]:E0611 04:12:{second:02d}.551021 88120 store.cpp:210] {text}"


def test_templates_are_ranked_by_first_appearance_with_their_spread(tmp_path) -> None:
    for rank in range(4):
        lines = [_c10(rank, 10 + rank, f"[c10d] store key run/{rank} lost after {rank + 2} tries")]
        if rank == 2:
            lines.insert(0, _c10(rank, 5, "<script>alert(1)</script> shard reader failed on /data/shard-07.bin"))
        (tmp_path / f"rank_{rank}.log").write_text("\n".join(lines) + "\n")
    report = build_report(monitor.load(str(tmp_path)))
    rows = report["uncatalogued"]
    assert [row["template"] for row in rows] == [
        "<script>alert(<n>)</script> shard reader failed on <path>",
        "[c<n>d] store key run/<n> lost after <n> tries",
    ]
    lone, wide = rows
    assert (lone["count"], lone["spread"], lone["ranks"]) == (1, 1, [2])
    assert (wide["count"], wide["spread"], wide["ranks"]) == (4, 4, [0, 1, 2, 3])
    assert wide["first"].endswith("rank_0.log:1") and wide["last_time"] > wide["first_time"]
    html = render_html(report)
    assert "New and uncatalogued errors" in html and "<script>alert" not in html
    markdown = render_markdown(report)
    assert "## New and uncatalogued errors" in markdown and "store key run/&lt;n&gt;" not in markdown


def test_a_run_without_uncatalogued_errors_says_none(tmp_path) -> None:
    (tmp_path / "train.log").write_text("step 1 loss 2.5\nstep 2 loss 2.4\n")
    report = build_report(monitor.load(str(tmp_path / "train.log")))
    assert report["uncatalogued"] == []
    assert "## New and uncatalogued errors\n\nnone" in render_markdown(report)
