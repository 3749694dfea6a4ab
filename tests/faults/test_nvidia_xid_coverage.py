"""Every Xid number of NVIDIA's Xid catalog is known, and an Xid line is read even when its PCI id was elided."""

from __future__ import annotations

import pytest

from monitor.catalog import load
from monitor.model import Kind

CATALOG = load()

# NVIDIA's Xid catalog (Ampere and newer) lists codes 1 to 172, unused ones included.
CATALOG_XIDS = range(1, 173)


def test_every_xid_of_nvidias_catalog_has_a_definition_with_a_resolution_bucket() -> None:
    for xid in CATALOG_XIDS:
        definition = CATALOG.definition(f"XID-{xid}")
        assert definition is not None and definition.code == f"XID-{xid}", xid
        assert definition.kind is Kind.DEVICE_FAULT and definition.resolution, xid


@pytest.mark.parametrize("line, code", [
    ("kernel: NVRM: Xid (PCI:...): 140, pid=2210, name=python, ECC Unrecovered Error", "XID-140"),
    ("NVRM: Xid (PCI:0000:xx:00): 155, NVLINK: SW Defined Error", "XID-155"),
    ("[  77.120004] NVRM: Xid (PCI:0009:01:00): 143, GPU Initialization Error", "XID-143"),
])
def test_the_number_alone_gives_the_code_even_without_a_usable_pci_id(line: str, code: str) -> None:
    [hit] = [h for h in CATALOG.match(line) if h.definition.kind is Kind.DEVICE_FAULT]
    assert hit.code == code and hit.definition.code == code
