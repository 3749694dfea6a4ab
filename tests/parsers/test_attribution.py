"""Who printed a line and when: launcher prefixes, file names and timestamp layouts.

Prefix layouts as the launchers print them: torch.distributed.elastic `[default3]:` /
`[rank3]:`, `srun --label` `3: `, Open MPI's `[1,3]<stderr>:`, pdsh `node12: `, NCCL `host:pid:tid [dev]`, DeepSpeed
`log_dist` `[Rank 3]`. Timestamp layouts: Python logging `asctime`, ISO 8601 with zone,
Megatron-LM's ` [YYYY-mm-dd HH:MM:SS]`, glog / torch elastic `I0305 10:41:12.123456`,
syslog `Mar  5 10:41:12`, `dmesg -T` `[Tue Mar  5 10:41:12 2024]`. Values are made up.
"""

from __future__ import annotations

import pytest

from monitor.parsers.attribution import attribute_path, attribute_prefix
from monitor.parsers.base import ParseContext
from monitor.parsers.timestamps import find_timestamp


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("[default3]:", (3, None)),
        ("[rank12]:[titan] ", (12, None)),
        ("7: ", (7, None)),
        ("node12: ", (None, "node12")),
        ("gpu-a100-03: 5: [rank5]:", (5, "gpu-a100-03")),
        ("node7:18231:18480 [3] NCCL INFO ", (None, "node7")),
        ("[2024-02-01 09:12:44,517] [INFO] [logging.py:96:log_dist] [Rank 2] ", (2, None)),
        ("Traceback: ", (None, None)),
        ("Epoch 3: ", (None, None)),
        ("Mar  4 10:01:07 dgx-b200-17 kernel: ", (None, "dgx-b200-17")),
        ("2025-03-04T10:01:07+0000 node07 kernel: ", (None, "node07")),
        # Open MPI's `mpirun --tag-output` (orte's `[jobid,rank]<stream>:`), as horovodrun runs it
        ("[1,3]<stderr>:", (3, None)),
        ("[1,0]<stdout>:INFO:tensorflow:", (0, None)),
        ("[2]<stderr>:", (2, None)),
        ("[1,3] ", (None, None)),
    ],
)
def test_launcher_prefixes(prefix: str, expected: tuple[int | None, str | None]) -> None:
    assert attribute_prefix(prefix) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/logs/job/rank_3.log", (3, None)),
        ("/logs/job/train-rank17-attempt1.out", (17, None)),
        ("/logs/stdout-node12.log", (None, "node12")),
        ("/logs/node04/rank-2.log", (2, "node04")),
        ("/logs/frank10.log", (None, None)),  # `rank` inside a word is not a rank
        (None, (None, None)),
    ],
)
def test_file_names(path: str | None, expected: tuple[int | None, str | None]) -> None:
    assert attribute_path(path) == expected


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-03-05 10:41:12,123 - root - INFO - ", "2024-03-05T10:41:12.123000"),
        ("[2024-03-05 10:41:12,123] [INFO] ", "2024-03-05T10:41:12.123000"),
        (" [2024-03-05 10:41:12] ", "2024-03-05T10:41:12"),
        ("2024-03-05T10:41:12.5+02:00 ", "2024-03-05T10:41:12.500000+02:00"),
        ("2024/03/05 10:41:12 ", "2024-03-05T10:41:12"),
        ("I0305 10:41:12.123456 3304089 api.py:908] ", "2023-03-05T10:41:12.123456"),
        ("I20240305 10:41:12 90 dinov2 helpers.py:102] ", "2024-03-05T10:41:12"),  # DINOv2's logging setup
        ("Mar  5 10:41:12 node7 kernel: ", "2023-03-05T10:41:12"),
        ("[Tue Mar  5 10:41:12 2024] ", "2024-03-05T10:41:12"),
        ("03/05 10:41:12 - mmengine - INFO - ", "2023-03-05T10:41:12"),
        ("03-05 10:41:12 Epoch 0/7 itr 78/3489: ", "2023-03-05T10:41:12"),  # a `%m-%d %H:%M:%S` logger
        ("[0305 10:41:12 @train.py:71] ", "2023-03-05T10:41:12"),  # tensorpack
        ("[2024-03-05:10:41:12:INFO:sockeye.training:__call__] ", "2024-03-05T10:41:12"),  # sockeye
        # `datefmt="%m/%d/%Y %H:%M:%S"`: the Hugging Face example scripts (transformers'
        # examples/pytorch/text-classification/run_glue.py, Accelerate's and Diffusers' training scripts)
        ("03/05/2024 10:41:12 - INFO - __main__ - ", "2024-03-05T10:41:12"),
        ("03/05/2024 10:41:12,250 - INFO - ", "2024-03-05T10:41:12.250000"),
        # rich's RichHandler: log_time_format="[%x %X]" (rich/logging.py), `%x` in the C locale; two-digit years as
        # `%y` reads them (69-99 the 1900s)
        ("[03/05/24 10:41:12] INFO     ", "2024-03-05T10:41:12"),
        ("[12/31/99 23:59:59] INFO     ", "1999-12-31T23:59:59"),
        # the BasicSR family's setup_logger (EDVR codes/utils/util.py): '%(asctime)s.%(msecs)03d - %(levelname)s: ',
        # datefmt='%y-%m-%d %H:%M:%S'; the year is printed, so the month and day are not the last two fields
        ("24-03-05 10:41:12.123 - INFO: ", "2024-03-05T10:41:12.123000"),
        ("99-12-31 23:59:59.000 - INFO: ", "1999-12-31T23:59:59"),
    ],
)
def test_timestamp_layouts(text: str, iso: str) -> None:
    found = find_timestamp(text, 2023)
    assert found is not None and found[0] == iso


def test_a_year_less_stamp_takes_the_year_of_the_last_dated_line() -> None:
    ctx = ParseContext("train.log", None, 2031)
    assert ctx.where("[2025-03-04 10:00:00] iteration 5", 21)[0] == "2025-03-04T10:00:00"
    assert ctx.where("[rank1]:[E304 10:31:08.412345678 ProcessGroupNCCL.cpp:632] x", 57)[0].startswith("2025-03-04")


def test_a_us_date_prints_its_year() -> None:
    found = find_timestamp("03/05/2024 10:41:12 - INFO - __main__ - ", 2031)
    assert found is not None and found.printed_year == 2024
    found = find_timestamp("24-03-05 10:41:12.123 - INFO: <epoch:  1, iter:     100, lr:1.000e-04> ", 2031)
    assert found is not None and found.printed_year == 2024


def test_zone_offsets_count_and_naive_times_are_utc() -> None:
    naive = find_timestamp("2024-03-05 10:00:00 ", 2024)
    zoned = find_timestamp("2024-03-05T12:00:00+02:00 ", 2024)
    assert naive is not None and zoned is not None and naive[1] == zoned[1]


@pytest.mark.parametrize(
    "text", ["[ 1234.567890] nvidia: ", "2024-13-45 10:41:12 ", "no time here", "step 1234 12:34:56", "13-05 10:41:12",
             "25/03/2024 10:41:12 ", "03/05/20245 10:41:12 ", "13/05/2024 10:41:12 "]
)
def test_no_timestamp_or_out_of_range(text: str) -> None:
    assert find_timestamp(text, 2024) is None


def test_context_falls_back_to_the_file_name_and_caches_plain_prefixes() -> None:
    ctx = ParseContext("rank_4.log", "/logs/node09/rank_4.log", 2024)
    line = "[rank1]: iteration 10/ 100 |"
    assert ctx.where(line, line.index("iteration")) == (None, None, 1, "node09")
    assert ctx.where(" iteration 10/ 100 |", 1) == (None, None, 4, "node09")
    stamped = "2024-03-05 10:41:12,000 - step: 3"
    time, seconds, rank, node = ctx.where(stamped, stamped.index("step"))
    assert (time, rank, node) == ("2024-03-05T10:41:12", 4, "node09") and seconds is not None
