"""Device health reports are told from logs by their content and read whole (monitor.sources.health_reports).

The fixtures under `fixtures/health/` are written in the tools' real layouts with our own values:
- `nvsmi_*.xml`: `nvidia-smi -q -x`, the nvsmi_device_v12.dtd layout of drivers 5xx (`<gpu id=...>`,
  `ecc_errors` sram/dram counters, `remapped_rows`, `clocks_event_reasons`) and the v10 layout of
  drivers 4xx (`single_bit`/`double_bit` ECC totals, `clocks_throttle_reasons`, `retired_pages`);
- `dcgm_diag_*.json`: `dcgmi diag -j` as NVIDIA/DCGM `dcgmi/Diag.cpp` writes it (DCGM 4: "DCGM
  Diagnostic", entity_group/entity_id results; DCGM 3: "DCGM GPU Diagnostic", gpu_id results) with
  the key names of `nvvs/include/NvvsJsonStrings.h`;
- `npu_smi_*.txt`: `npu-smi info -t health -i ID [-c CHIP]` and `npu-smi info`, as Huawei's npu-smi
  reference (hiascend.com, npusmi_027/npusmi_028/npusmi_007) prints them.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from monitor.sources.files import Source, SourceError, expand_paths
from monitor.sources.health_reports import (
    DCGM_DIAG,
    MAX_REPORT_BYTES,
    NPU_SMI,
    NVIDIA_SMI,
    read_report,
    report_kind,
    sniff,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "health"
KINDS = {
    "nvsmi_healthy.xml": NVIDIA_SMI,
    "nvsmi_faulty.xml": NVIDIA_SMI,
    "nvsmi_v10_legacy.xml": NVIDIA_SMI,
    "dcgm_diag_healthy.json": DCGM_DIAG,
    "dcgm_diag_fail.json": DCGM_DIAG,
    "dcgm_diag_3x_fail.json": DCGM_DIAG,
    "npu_smi_health_ok.txt": NPU_SMI,
    "npu_smi_health_alarm.txt": NPU_SMI,
    "npu_smi_info.txt": NPU_SMI,
}


def source(path: Path) -> Source:
    return Source(str(path), str(path))


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_report_is_told_by_its_content_whatever_its_name(name: str, tmp_path: Path) -> None:
    renamed = tmp_path / "stdout-node07.log"
    shutil.copy(FIXTURES / name, renamed)
    assert sniff(source(FIXTURES / name)) == KINDS[name]
    assert sniff(source(renamed)) == KINDS[name]


def test_a_gzipped_report_is_told_and_read_like_the_plain_one(tmp_path: Path) -> None:
    packed = tmp_path / "health.bin"
    packed.write_bytes(gzip.compress((FIXTURES / "nvsmi_faulty.xml").read_bytes()))
    assert sniff(source(packed)) == NVIDIA_SMI
    assert read_report(source(packed)) == (FIXTURES / "nvsmi_faulty.xml").read_text()


@pytest.mark.parametrize("head", [
    b"2025-03-04 10:21:07,114 - INFO - step 10 loss 2.31\n",
    b'{"step": 1, "loss": 2.5}\n',
    b"<html><body>not a report</body></html>",
    b'{"DCGM": "Diagnostic"}',
    b"Health check passed for all ranks\n",
    b"",
])
def test_logs_and_other_documents_are_not_reports(head: bytes) -> None:
    assert report_kind(head) is None


def test_a_byte_order_mark_and_leading_blank_lines_do_not_hide_a_report() -> None:
    assert report_kind(b"\xef\xbb\xbf\n\n<?xml version=\"1.0\" ?>\n<nvidia_smi_log>") == NVIDIA_SMI
    assert report_kind(b"\n  {\n \"DCGM GPU Diagnostic\" : {") == DCGM_DIAG


def test_a_directory_scan_offers_the_reports_among_the_logs(tmp_path: Path) -> None:
    (tmp_path / "node07").mkdir()
    shutil.copy(FIXTURES / "dcgm_diag_fail.json", tmp_path / "node07" / "diag.json")
    (tmp_path / "node07" / "train.log").write_text("step 1 loss 2.0\n")
    sources, errors = expand_paths([str(tmp_path)])
    assert errors == []
    assert [sniff(s) for s in sources] == [DCGM_DIAG, None]


def test_a_report_larger_than_any_real_one_is_refused_with_a_message(tmp_path: Path) -> None:
    huge = tmp_path / "huge.xml"
    with huge.open("wb") as out:
        out.write(b'<?xml version="1.0" ?>\n<nvidia_smi_log>\n')
        out.write(b"\t<timestamp>Tue Mar  4 10:21:07 2025</timestamp>\n" * (MAX_REPORT_BYTES // 40))
    assert sniff(source(huge)) == NVIDIA_SMI
    with pytest.raises(SourceError, match="larger than 16 MiB"):
        read_report(source(huge))


def test_a_corrupt_gzip_is_left_to_the_text_reader(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(b"<?xml version='1.0'?><nvidia_smi_log>" * 10)[:12] + b"\x00" * 40)
    assert sniff(source(broken)) is None
    assert sniff(Source("<stdin>", None)) is None


def test_the_source_and_the_parser_name_the_report_kinds_alike() -> None:
    from monitor.parsers import health_reports as parser

    assert (parser.NVIDIA_SMI, parser.DCGM_DIAG, parser.NPU_SMI) == (NVIDIA_SMI, DCGM_DIAG, NPU_SMI)
