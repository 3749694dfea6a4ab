"""The fault catalog as data: every entry proves itself with its samples and near misses.

Each shipped entry carries lines in the real layout of the program that
prints them (the entry's `reference` names the source they were checked
against); a sample must raise the entry, a near miss must not. The tests
here run every one of them through the same matcher a scan uses, so one
failing entry fails its own test case.
"""

from __future__ import annotations

import json

import pytest

from monitor.catalog import Catalog, CatalogError, load, read_entries
from monitor.model import Kind
from tests.conftest import fault_events

CATALOG = load()
MATCHERS = [entry for entry in CATALOG.entries if entry.is_matcher]
DEFINITIONS = [entry for entry in CATALOG.entries if not entry.is_matcher]


def test_the_catalog_covers_every_vendor_and_family() -> None:
    files = {entry.file for entry in CATALOG.entries}
    assert {"nvidia_xid.json", "cuda.json", "nccl.json", "torch_distributed.json", "scheduler.json", "linux.json",
            "ascend_cann.json", "ascend_runtime.json", "torch_npu.json", "hccl.json", "mindspore.json",
            "python.json", "training.json"} <= files
    assert len(MATCHERS) >= 60


@pytest.mark.parametrize("entry", MATCHERS, ids=lambda e: e.id)
def test_each_sample_raises_its_entry_and_no_near_miss_does(entry) -> None:
    assert entry.samples, "a matcher needs samples"
    assert entry.near_misses, "a matcher needs near misses"
    for sample in entry.samples:
        hits = CATALOG.match(sample)
        assert any(hit.matcher is entry for hit in hits), (sample, [h.matcher.id for h in hits])
    for near_miss in entry.near_misses:
        assert not any(hit.matcher is entry for hit in CATALOG.match(near_miss)), near_miss


@pytest.mark.parametrize("entry", CATALOG.entries, ids=lambda e: e.id)
def test_each_entry_says_what_it_means_what_to_do_and_where_it_comes_from(entry) -> None:
    assert entry.reference.startswith("https://"), entry.reference
    assert len(entry.meaning) > 20 and len(entry.action) > 20
    if entry.kind in (Kind.DEVICE_FAULT, Kind.COMM_ERROR, Kind.OOM, Kind.CRASH, Kind.HANG) and entry.severity > 0:
        assert entry.domain is not None or entry.role is not None


def test_every_documented_xid_has_a_definition_with_its_resolution_bucket() -> None:
    xids = {e.code for e in DEFINITIONS if e.code.startswith("XID-")}
    assert {f"XID-{n}" for n in (8, 13, 31, 43, 45, 48, 63, 64, 74, 79, 92, 94, 95, 119, 120, 140, 154)} <= xids
    assert all(CATALOG.definition(code).resolution for code in xids)


@pytest.mark.parametrize("xid", [13, 31, 43, 45])
def test_application_caused_xids_are_not_reported_as_a_broken_gpu(xid: int) -> None:
    definition = CATALOG.definition(f"XID-{xid}")
    assert definition.domain is not None and definition.domain.value in ("workload", "software")


def test_templated_codes_take_the_fields_of_their_definition() -> None:
    [hit] = CATALOG.match("NVRM: Xid (PCI:0000:b7:00): 48, pid=2213, name=python, Ch 00000008, DBE (double bit error)")
    assert hit.code == "XID-48"
    assert hit.definition.code == "XID-48" and hit.definition is not hit.matcher


def test_a_user_file_adds_entries_and_overrides_shipped_ones_by_id(tmp_path) -> None:
    xid = next(e for e in MATCHERS if e.code == "XID-{xid}")
    user = tmp_path / "site.json"
    user.write_text(json.dumps({"entries": [
        {"id": "site-fabric-manager-down", "code": "SITE-FM-DOWN", "kind": "device_fault", "severity": "critical",
         "domain": "interconnect", "role": "root", "meaning": "Fabric Manager stopped on this node.",
         "action": "Restart nv-fabricmanager and drain the node until NVSwitch health checks pass.",
         "reference": "https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/index.html",
         "literals": ["fabricmanager"], "patterns": ["nv-fabricmanager.*(?:failed|exited)"],
         "samples": ["systemd[1]: nv-fabricmanager.service: Main process exited, code=exited, status=1/FAILURE"],
         "near_misses": ["systemd[1]: Started nv-fabricmanager.service"]},
        {"id": xid.id, "code": "XID-{xid}", "kind": "device_fault", "severity": "warning", "domain": "hardware",
         "role": "root", "meaning": "Site policy: every Xid is triaged by the GPU team first.",
         "action": "Open a ticket with the GPU team.", "reference": "https://wiki.example.org/gpu",
         "literals": ["NVRM: Xid"], "patterns": ["NVRM: Xid \\(PCI:(?P<device>[0-9a-f:]+)\\): (?P<xid>\\d+)"],
         "samples": ["NVRM: Xid (PCI:0000:3b:00): 999, pid=1, x"], "near_misses": ["NVRM: loading"]},
    ]}))
    catalog = load((str(user),))
    assert catalog.problems() == []
    events = fault_events("systemd[1]: nv-fabricmanager.service: Main process exited, code=exited, status=1/FAILURE\n"
                          "NVRM: Xid (PCI:0000:3b:00): 999, pid=1, x\n", catalog_files=(str(user),))
    assert [(e.code, str(e.severity)) for e in events] == [("SITE-FM-DOWN", "critical"), ("XID-999", "warning")]


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ('{"entries": {}}', "'entries' list"),
        ('{"entries": [{"id": "x", "code": "X"}]}', "entry 'x': missing field(s) kind"),
        ('{"entries": [{"id": "x", "code": "X", "kind": "meltdown", "severity": "error", "domain": null, '
         '"role": null, "meaning": "m", "action": "a", "reference": "r"}]}', "entry 'x'"),
        ('{"entries": [{"id": "bad-re", "code": "X", "kind": "crash", "severity": "error", "domain": null, '
         '"role": null, "meaning": "m", "action": "a", "reference": "r", "literals": ["a"], "patterns": ["(a"]}]}',
         "entry 'bad-re': pattern '(a' does not compile"),
        ('{"entries": [{"id": "no-lit", "code": "X", "kind": "crash", "severity": "error", "domain": null, '
         '"role": null, "meaning": "m", "action": "a", "reference": "r", "patterns": ["a"]}]}', "needs 'literals'"),
        ('{"entries": [{"id": "t", "code": "X-{n}", "kind": "crash", "severity": "error", "domain": null, '
         '"role": null, "meaning": "m", "action": "a", "reference": "r", "literals": ["a"], "patterns": ["a"]}]}',
         "names group 'n'"),
        ('{"entries": [{"id": "u", "code": "X", "kind": "crash", "severity": "error", "domain": null, '
         '"role": null, "meaning": "m", "action": "a", "reference": "r", "colour": "red"}]}',
         "unknown field(s) colour"),
    ],
)
def test_an_invalid_catalog_is_rejected_with_a_message_naming_the_entry(document: str, complaint: str) -> None:
    with pytest.raises(CatalogError, match=None) as caught:
        read_entries("site.json", document)
    assert complaint in str(caught.value) and "site.json" in str(caught.value)


def test_the_cli_refuses_an_invalid_catalog_with_exit_2(run_cli, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"entries": [{"id": "x"}]}')
    log = tmp_path / "a.log"
    log.write_text("hello\n")
    result = run_cli("scan", "--catalog", bad, log)
    assert result.code == 2
    assert "invalid catalog" in result.err and "entry 'x'" in result.err and "Traceback" not in result.err


def test_matchers_are_tried_from_specific_to_generic() -> None:
    order = {entry.id: i for i, entry in enumerate(CATALOG.matchers)}
    for entry in CATALOG.matchers:
        for sample in entry.samples:
            earlier_same_kind = [
                m for m in CATALOG.matchers[: order[entry.id]]
                if m.kind is entry.kind and not m.is_template and m.search(sample)
            ]
            assert not earlier_same_kind, (entry.id, sample, [m.id for m in earlier_same_kind])


def test_the_prefilter_is_a_handful_of_substrings_and_never_loses_a_match() -> None:
    assert len(CATALOG.triggers) <= 72  # a line costs one substring check per trigger, catalog-wide
    for entry in CATALOG.matchers:
        for literal in entry.literals:
            assert any(trigger in literal for trigger in CATALOG.triggers)


def test_a_catalog_of_definitions_only_matches_nothing() -> None:
    assert Catalog([e for e in CATALOG.entries if not e.is_matcher]).match("NVRM: Xid (PCI:0000:3b:00): 79, x") == []
