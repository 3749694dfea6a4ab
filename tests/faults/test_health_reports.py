"""`monitor scan` on device health reports: one device_fault per faulty device and finding.

Fixtures (tests/sources/fixtures/health/, our own values in the real layouts):
- nvidia-smi -q -x: nvsmi_device_v12.dtd (drivers 5xx) and v10 (drivers 4xx) layouts, checked against
  real outputs of nvidia-smi 575.51.02, 555.42.06 and 418.56 and NVML's field documentation;
- dcgmi diag -j: NVIDIA/DCGM dcgmi/Diag.cpp `HelperJsonAddResult` (DCGM 4) and its DCGM 3.3 version,
  keys from nvvs/include/NvvsJsonStrings.h, error ids, severities and categories from
  dcgmlib/dcgm_errors.h and dcgmlib/src/dcgm_errors.c;
- npu-smi: Huawei's npu-smi reference, `npu-smi info -t health -i id [-c chip_id]` and `npu-smi info`.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from monitor.catalog import load
from monitor.model import Kind, Severity
from monitor.parsers.health_reports import rules

FIXTURES = Path(__file__).resolve().parent.parent / "sources" / "fixtures" / "health"


def events(run_cli, *paths: Path | str) -> tuple[int, list[dict], str]:
    result = run_cli("scan", "--format", "jsonl", *paths)
    return result.code, [json.loads(line) for line in result.out.splitlines() if line.strip()], result.err


def found(items: list[dict]) -> set[tuple[str, str, str | None]]:
    return {(e["code"], e["severity"], e["device"]) for e in items}


@pytest.mark.parametrize("name", ["nvsmi_healthy.xml", "dcgm_diag_healthy.json", "npu_smi_health_ok.txt"])
def test_a_healthy_report_raises_nothing_and_exits_0(run_cli, name: str) -> None:
    code, items, err = events(run_cli, FIXTURES / name)
    assert (code, items) == (0, [])
    assert "cannot read" not in err and "no training progress" not in err


def test_nvidia_smi_counters_raise_by_what_they_mean(run_cli) -> None:
    code, items, _err = events(run_cli, FIXTURES / "nvsmi_faulty.xml")
    assert code == 1
    assert found(items) == {
        ("NVSMI-ECC-CORRECTABLE", "info", "00000000:3B:00.0"),
        ("NVSMI-ECC-UNCORRECTABLE", "error", "00000000:3B:00.0"),
        ("NVSMI-ROWS-REMAPPED", "info", "00000000:3B:00.0"),
        ("NVSMI-MEMORY-REPAIR-PENDING", "error", "00000000:3B:00.0"),
        ("NVSMI-RESET-REQUIRED", "error", "00000000:5D:00.0"),
        ("NVSMI-ROWS-REMAPPED", "info", "00000000:5D:00.0"),
        ("NVSMI-ROW-REMAP-FAILURE", "critical", "00000000:5D:00.0"),
        ("NVSMI-ROW-REMAP-EXHAUSTED", "warning", "00000000:5D:00.0"),
        ("NVSMI-CLOCKS-HW-SLOWDOWN", "warning", "00000000:9A:00.0"),
        ("NVSMI-CLOCKS-THERMAL-SLOWDOWN", "warning", "00000000:9A:00.0"),
    }
    assert not any(e["device"] == "00000000:18:00.0" for e in items), "the healthy GPU raises nothing"
    ecc = next(e for e in items if e["code"] == "NVSMI-ECC-UNCORRECTABLE")
    assert ecc["details"]["ecc_errors.volatile.dram_uncorrectable"] == 2
    assert ecc["details"]["product_name"] == "NVIDIA H100 80GB HBM3" and ecc["details"]["serial"] == "1654922013303"
    assert ecc["evidence"] == "<dram_uncorrectable>2</dram_uncorrectable>" and ecc["line"] == 246
    assert ecc["time"] == "2025-03-04T10:24:51Z" and ecc["kind"] == "device_fault"
    assert ecc["action"].startswith("Find the GPU") and ecc["domain"] == "hardware"
    failure = next(e for e in items if e["code"] == "NVSMI-ROW-REMAP-FAILURE")
    assert "Drain the node" in failure["action"]


def test_the_legacy_layout_reads_double_bit_totals_retired_pages_and_throttle_reasons(run_cli) -> None:
    code, items, _err = events(run_cli, FIXTURES / "nvsmi_v10_legacy.xml")
    assert code == 1
    assert found(items) == {
        ("NVSMI-CLOCKS-THERMAL-SLOWDOWN", "warning", "00000000:86:00.0"),
        ("NVSMI-ECC-UNCORRECTABLE", "error", "00000000:86:00.0"),
        ("NVSMI-PAGES-RETIRED", "warning", "00000000:86:00.0"),
        ("NVSMI-MEMORY-REPAIR-PENDING", "error", "00000000:86:00.0"),
    }
    pending = next(e for e in items if e["code"] == "NVSMI-MEMORY-REPAIR-PENDING")
    assert pending["details"]["retired_pages.pending_retirement"] == "Yes"
    assert pending["details"]["retired_pages.pending_blacklist"] == "Yes"


def test_correctable_counts_alone_stay_below_the_default_fail_on(run_cli, tmp_path: Path) -> None:
    text = (FIXTURES / "nvsmi_healthy.xml").read_text()
    report = tmp_path / "nvsmi.xml"
    report.write_text(text.replace("<dram_correctable>0<", "<dram_correctable>5<", 1))
    code, items, _err = events(run_cli, report)
    assert code == 0
    assert found(items) == {("NVSMI-ECC-CORRECTABLE", "info", "00000000:18:00.0")}


def test_dcgm_diag_failures_and_warnings_per_gpu(run_cli) -> None:
    code, items, _err = events(run_cli, FIXTURES / "dcgm_diag_fail.json")
    assert code == 1
    assert found(items) == {("DCGM-DIAG-FAIL", "critical", "1"), ("DCGM-DIAG-WARN", "warning", "0")}
    fail = next(e for e in items if e["code"] == "DCGM-DIAG-FAIL")
    assert fail["details"]["test"] == "memory" and fail["details"]["category"] == "Hardware"
    assert fail["details"]["warnings"] == [{
        "warning": "Detected 3 volatile double-bit ECC error(s) in GPU 1.", "error_id": 4,
        "error_category": "hardware memory", "error_severity": "isolate",
    }]
    assert "Detected 3 volatile double-bit ECC error(s)" in fail["message"] and fail["line"] == 52
    warn = next(e for e in items if e["code"] == "DCGM-DIAG-WARN")
    assert warn["details"]["warnings"][0]["error_category"] == "hardware thermal"


def test_dcgm_3_reports_name_the_gpu_by_gpu_id(run_cli) -> None:
    code, items, _err = events(run_cli, FIXTURES / "dcgm_diag_3x_fail.json")
    assert code == 1
    assert found(items) == {("DCGM-DIAG-FAIL", "critical", "2")}
    assert items[0]["details"]["warnings"][0]["warning"] == "GPU 2 had memory errors and row remappings are pending"


def test_a_diagnostic_that_could_not_run_is_a_warning_not_a_verdict(run_cli, tmp_path: Path) -> None:
    report = tmp_path / "diag.json"
    report.write_text(json.dumps({"DCGM Diagnostic": {"runtime_error": "Error: unable to establish a connection "
                                                                          "to the specified host: localhost"}}))
    code, items, _err = events(run_cli, report)
    assert code == 0
    assert found(items) == {("DCGM-DIAG-RUNTIME-ERROR", "warning", None)}


def test_npu_smi_health_is_one_event_per_unhealthy_npu_with_its_error_codes(run_cli) -> None:
    code, items, _err = events(run_cli, FIXTURES / "npu_smi_health_alarm.txt")
    assert code == 1
    assert found(items) == {("NPU-HEALTH-ALARM", "error", "5")}
    assert items[0]["details"]["error_codes"] == ["80E18005", "80CB8009"]
    assert items[0]["details"]["chip"] == "0"


def test_the_npu_smi_table_names_the_npu_and_its_bus_id(run_cli) -> None:
    code, items, _err = events(run_cli, FIXTURES / "npu_smi_info.txt")
    assert code == 1
    assert found(items) == {("NPU-HEALTH-CRITICAL", "critical", "2")}
    assert items[0]["details"]["bus_id"] == "0000:81:00.0" and items[0]["line"] == 13


def test_the_node_comes_from_the_reports_path(run_cli, tmp_path: Path) -> None:
    (tmp_path / "gpu-node12").mkdir()
    shutil.copy(FIXTURES / "dcgm_diag_fail.json", tmp_path / "gpu-node12" / "dcgm.json")
    shutil.copy(FIXTURES / "npu_smi_info.txt", tmp_path / "npu.txt")
    _code, items, _err = events(run_cli, tmp_path)
    assert {(e["code"], e["node"]) for e in items} == {
        ("DCGM-DIAG-FAIL", "gpu-node12"), ("DCGM-DIAG-WARN", "gpu-node12"),
        ("NPU-HEALTH-CRITICAL", str(tmp_path / "npu.txt")),  # no host in its path: the report stands for it
    }
    assert all(e["role"] != "cascade" for e in items), "findings of different reports are not one chain"


def test_a_directory_of_gzipped_reports_and_logs_is_scanned_together(run_cli, tmp_path: Path) -> None:
    (tmp_path / "nvsmi.xml.gz").write_bytes(gzip.compress((FIXTURES / "nvsmi_v10_legacy.xml").read_bytes()))
    shutil.copy(FIXTURES / "npu_smi_info.txt", tmp_path / "npu.txt")
    code, items, _err = events(run_cli, tmp_path)
    assert code == 1
    assert {e["code"] for e in items} >= {"NVSMI-ECC-UNCORRECTABLE", "NPU-HEALTH-CRITICAL"}


# -- bad input: a clear message, no traceback -------------------------------------------------------


def test_a_truncated_nvidia_smi_report_keeps_its_complete_gpus_and_exits_2(run_cli, tmp_path: Path) -> None:
    text = (FIXTURES / "nvsmi_faulty.xml").read_text()
    cut = tmp_path / "nvsmi.xml"
    cut.write_text(text[: text.index('<gpu id="00000000:5D:00.0">') + 200])
    code, items, err = events(run_cli, cut)
    assert code == 2
    assert "not well-formed XML" in err and "the 2 complete GPU(s) were read" in err and "Traceback" not in err
    assert {e["device"] for e in items} == {"00000000:3B:00.0"}


@pytest.mark.parametrize("document, complaint", [
    ('<?xml version="1.0"?>\n<!DOCTYPE nvidia_smi_log [\n <!ENTITY a "aaaaaaaaaa">\n <!ENTITY b "&a;&a;&a;&a;&a;">\n'
     ' <!ENTITY c "&b;&b;&b;&b;&b;">\n]>\n<nvidia_smi_log><timestamp>&c;</timestamp></nvidia_smi_log>\n',
     "inline DTD"),
    ('<?xml version="1.0"?>\n<!DOCTYPE nvidia_smi_log [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
     "<nvidia_smi_log><timestamp>&x;</timestamp></nvidia_smi_log>\n", "inline DTD"),
    ('<?xml version="1.0"?>\n<nvidia_smi_log><gpu id="0"><serial>1</serial></gpu><gpu>\n', "not well-formed"),
    ('<?xml version="1.0"?>\n<nvidia_smi_log><gpu id="0"></nvidia_smi_log>\n', "mismatched tag"),
])
def test_xml_attacks_and_broken_xml_are_refused_with_a_message(run_cli, tmp_path: Path, document: str,
                                                               complaint: str) -> None:
    report = tmp_path / "report.xml"
    report.write_text(document)
    code, items, err = events(run_cli, report)
    assert code == 2 and items == []
    assert complaint in err and "Traceback" not in err and "root:" not in err


@pytest.mark.parametrize("document, complaint", [
    ('{"DCGM Diagnostic": {"test_categories": [{"category": "Hardware", "tests": [{"name": ', "not valid JSON"),
    ('{"DCGM Diagnostic": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ('{"DCGM Diagnostic": "not an object"}', 'without a "DCGM Diagnostic" object'),
])
def test_broken_dcgm_json_is_refused_with_a_message(run_cli, tmp_path: Path, document: str, complaint: str) -> None:
    report = tmp_path / "diag.json"
    report.write_text(document)
    code, items, err = events(run_cli, report)
    assert code == 2 and items == []
    assert complaint in err and "Traceback" not in err


def test_dcgm_values_of_unexpected_types_are_skipped_not_fatal(run_cli, tmp_path: Path) -> None:
    report = tmp_path / "diag.json"
    report.write_text(json.dumps({"DCGM Diagnostic": {"test_categories": [
        None, {"category": 3, "tests": {"name": "x"}},
        {"category": "Hardware", "tests": [{"name": "memory", "results": [
            "Fail", {"entity_id": "1", "status": 7},
            {"entity_id": 1, "status": "Fail", "warnings": [None, 5, "plain text"]},
        ]}]},
    ]}}))
    code, items, err = events(run_cli, report)
    assert code == 1 and "Traceback" not in err
    assert found(items) == {("DCGM-DIAG-FAIL", "error", "1")}
    assert items[0]["details"]["warnings"] == [{"warning": "plain text"}]


# -- the data and the catalog agree -----------------------------------------------------------------


def report_codes() -> set[str]:
    table = rules()
    codes = {rule["code"] for rule in table["nvidia_smi"]["rules"]}
    codes |= set(table["dcgm_diag"]["status"].values()) | {table["dcgm_diag"]["runtime_error"]}
    return codes | set(table["npu_smi"]["health"].values())


@pytest.mark.parametrize("code", sorted(report_codes()))
def test_every_code_a_report_raises_is_a_device_fault_in_the_catalog(code: str) -> None:
    definition = load().definition(code)
    assert definition.kind is Kind.DEVICE_FAULT and len(definition.action) > 20


def test_severity_follows_meaning_corrected_below_error_uncorrectable_and_failed_repair_at_least_error() -> None:
    catalog = load()
    assert catalog.definition("NVSMI-ECC-CORRECTABLE").severity < Severity.ERROR
    assert catalog.definition("NVSMI-ROWS-REMAPPED").severity < Severity.ERROR
    for code in ("NVSMI-ECC-UNCORRECTABLE", "NVSMI-MEMORY-REPAIR-PENDING", "NVSMI-ROW-REMAP-FAILURE",
                 "NPU-HEALTH-ALARM", "NPU-HEALTH-CRITICAL", "DCGM-DIAG-FAIL"):
        assert catalog.definition(code).severity >= Severity.ERROR, code
