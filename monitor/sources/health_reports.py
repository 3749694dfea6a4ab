"""Device health reports as inputs: telling one from a log by its content, and reading it whole.

Three tools write a report about every accelerator of a node, and each report is read as one
document rather than line by line:
- `nvidia-smi -q -x`: XML whose root element is `<nvidia_smi_log>` (nvsmi_device_v*.dtd);
- `dcgmi diag -j`: JSON whose top-level key is `"DCGM Diagnostic"` (DCGM 4) or
  `"DCGM GPU Diagnostic"` (DCGM 3 and older), as NVIDIA/DCGM `dcgmi/Diag.cpp` writes it;
- `npu-smi info -t health -i ID [-c CHIP]` (`NPU ID`, `Chip ID`, `Health`, `Health Status`,
  `Error Code` lines) and the `npu-smi info` table, as Huawei's npu-smi reference shows them.

A report is told by its first bytes (after decompression: `.gz` and `.zst` reports work, through
`open_source`), whatever its name. It is read whole, up to `MAX_REPORT_BYTES`: a report of a
node is tens of kilobytes, so anything bigger is refused with a message instead of being parsed.

Deliberately not here: what the documents mean (`monitor.parsers.health_reports`), and stdin
(a report piped in is read as a text log).
"""

from __future__ import annotations

import re

from monitor.sources.files import Source, SourceError, open_source

SNIFF_BYTES = 4096
MAX_REPORT_BYTES = 16 << 20
"""The largest report read: `nvidia-smi -q -x` for 8 GPUs is about 100 KB, `dcgmi diag -j` less."""

NVIDIA_SMI = "nvidia-smi-xml"
DCGM_DIAG = "dcgm-diag-json"
NPU_SMI = "npu-smi"

_BOM = b"\xef\xbb\xbf"
_DCGM_KEYS = (b'"DCGM Diagnostic"', b'"DCGM GPU Diagnostic"')
# The first line of an `npu-smi info -t health` report, and of the `npu-smi info` table.
_NPU_SMI_FIRST = re.compile(rb"\s*(?:(?:NPU ID|Chip Count|Health Status|Health)\s+: \S|\+-{8}[-+]*\s*\|\s*npu-smi )")


def report_kind(head: bytes) -> str | None:
    """Which report `head` (a file's first decompressed bytes) starts, or None for anything else."""
    text = head[len(_BOM):] if head.startswith(_BOM) else head
    text = text.lstrip()
    if text.startswith(b"<") and b"<nvidia_smi_log" in text:
        return NVIDIA_SMI
    if text.startswith(b"{") and any(key in text for key in _DCGM_KEYS):
        return DCGM_DIAG
    if _NPU_SMI_FIRST.match(text):
        return NPU_SMI
    return None


def sniff(source: Source) -> str | None:
    """The kind of report `source` holds, or None (also when it cannot be read: the text reader
    then names the reason)."""
    if source.is_stdin:
        return None
    try:
        stream = open_source(source)
    except SourceError:
        return None
    try:
        head = stream.read(SNIFF_BYTES)
    except Exception:  # any decompressor's error: the text reader reports it
        return None
    finally:
        stream.close()
    return report_kind(head)


def read_report(source: Source) -> str:
    """The whole text of a report (UTF-8, undecodable bytes replaced).

    Raises:
        SourceError: the file cannot be read, or is larger than `MAX_REPORT_BYTES`.
    """
    stream = open_source(source)
    try:
        data = stream.read(MAX_REPORT_BYTES + 1)
    except Exception as err:  # gzip, zlib and zstd each raise their own errors
        raise SourceError(source.name, f"cannot read the report: {err}") from None
    finally:
        stream.close()
    if len(data) > MAX_REPORT_BYTES:
        raise SourceError(source.name, f"a device health report larger than {MAX_REPORT_BYTES >> 20} MiB "
                                       "is not one tool's report of one node; not read")
    return data.decode("utf-8", "replace")
