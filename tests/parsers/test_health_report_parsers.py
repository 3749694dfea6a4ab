"""The health report readers on their own: the safe XML tree, npu-smi's layouts, hostile text.

Layouts: nvidia-smi's `<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">` header as the tool
prints it; npu-smi's key-value and table layouts from Huawei's npu-smi reference
(hiascend.com npusmi_027, npusmi_028, npusmi_007).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.catalog import load
from monitor.parsers import npu_smi
from monitor.parsers.health_reports import DCGM_DIAG, NPU_SMI, NVIDIA_SMI, report_events, rules
from monitor.parsers.safe_xml import XmlRefused, parse


def test_an_external_dtd_named_in_the_doctype_is_never_read() -> None:
    parsed = parse('<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log SYSTEM "file:///etc/passwd">\n'
                   "<nvidia_smi_log><timestamp>a&x;b</timestamp></nvidia_smi_log>\n")
    assert parsed.problem is None and parsed.root is not None
    assert parsed.root.text_at("timestamp") == "ab"  # the undefined entity is skipped, nothing fetched


def test_elements_keep_the_line_they_start_on_and_cut_documents_keep_closed_ones() -> None:
    parsed = parse('<?xml version="1.0" ?>\n<nvidia_smi_log>\n\t<gpu id="a">\n\t\t<serial>7</serial>\n\t</gpu>\n'
                   '\t<gpu id="b">\n\t\t<ser')
    assert parsed.root is not None and parsed.problem is not None
    first, second = parsed.root.children
    assert (first.attrs, first.closed, first.find("serial").line) == ({"id": "a"}, True, 4)  # type: ignore[union-attr]
    assert second.closed is False


def test_too_many_elements_are_refused() -> None:
    with pytest.raises(XmlRefused, match="more than 10 elements"):
        parse("<a>" + "<b/>" * 20 + "</a>", max_elements=10)


def test_npu_smi_all_chips_layout_names_the_npu_and_the_chip() -> None:
    text = ("        NPU ID                         : 3\n        Chip Count                     : 1\n\n"
            "        Chip ID                        : 0\n        Health                         : Warning\n\n"
            "        Health                         : OK\n        Chip Name                      : MCU\n")
    found = npu_smi.read(text, rules()["npu_smi"])
    assert found.devices == 2
    assert [(f.code, f.device, f.line, f.details) for f in found.faults] == [
        ("NPU-HEALTH-WARNING", "3", 5, {"health": "Warning", "chip": "0"})]


def test_npu_smi_single_chip_layout_without_an_npu_id_still_raises() -> None:
    text = ("        Health Status                  : UNKNOWN\n        Error Code                     : NA\n"
            "        Error Information              : NA\n")
    found = npu_smi.read(text, rules()["npu_smi"])
    faults = [(f.code, f.device, f.details) for f in found.faults]
    assert faults == [("NPU-HEALTH-UNKNOWN", None, {"health": "UNKNOWN"})]


def test_an_npu_smi_table_with_na_bus_ids_pairs_each_npu_with_its_chip_row() -> None:
    text = ("+------------------------------------------------------------------------------+\n"
            "| npu-smi 25.2.0                                       Version: 25.2.0         |\n"
            "+-------------------------------+-----------------+----------------------------+\n"
            "| NPU     Name                  | Health          | Power(W)     Temp(C)       |\n"
            "| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)|\n"
            "+===============================+=================+============================+\n"
            "| 0       310B1                 | Alarm           | 10.4          66            |\n"
            "| 0       0                     | NA              | 0            957   / 10810  |\n"
            "+===============================+=================+============================+\n")
    found = npu_smi.read(text, rules()["npu_smi"])
    assert found.devices == 1
    assert [(f.code, f.device, f.details) for f in found.faults] == [
        ("NPU-HEALTH-ALARM", "0", {"health": "Alarm", "chip_name": "310B1", "chip": "0"})]


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), st.sampled_from([NVIDIA_SMI, DCGM_DIAG, NPU_SMI]))
def test_arbitrary_text_never_raises(text: str, kind: str) -> None:
    reading = report_events(kind, text, load(), "report")
    assert reading.devices >= 0 and all(e.code for e in reading.events)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from([
    "<nvidia_smi_log>", "</nvidia_smi_log>", '<gpu id="00000000:3B:00.0">', "</gpu>", "<ecc_errors>", "</ecc_errors>",
    "<volatile>", "</volatile>", "<dram_uncorrectable>", "</dram_uncorrectable>", "3", "N/A", "Yes", "<!--x-->",
    "<remapped_rows>", "</remapped_rows>", "<remapped_row_failure>", "</remapped_row_failure>", "&amp;", "&x;",
]), max_size=40))
def test_nvidia_smi_shaped_fragments_never_raise(parts: list[str]) -> None:
    reading = report_events(NVIDIA_SMI, '<?xml version="1.0" ?>\n' + "\n".join(parts), load(), "report")
    assert all(e.device for e in reading.events)
