"""Huawei `npu-smi` health output: each NPU's (or chip's) health that is not OK.

Layouts, as Huawei's npu-smi reference prints them (values here are examples):
- `npu-smi info -t health -i 0`: blocks of `key : value` lines, blank lines between them:
  `NPU ID : 0`, `Chip Count : 1`, then per chip `Chip ID : 0` and `Health : OK`, and for the
  board's MCU `Health : OK` with `Chip Name : MCU`;
- `npu-smi info -t health -i 0 -c 0`: `Health Status : Alarm`, `Error Code : 80E01801`,
  `Error Information : ...` (no NPU id: one comes from an `NPU ID` line before it, when the
  file holds one, as a loop over devices that prints both commands does);
- `npu-smi info`: a table; per NPU a row `| 0     910B3 | OK | power temp ... |` and a row
  `| 0  (device) | 0000:C1:00.0 | AICore memory ... |` with its chip and PCI bus id. The process
  table below it is not read.

The health values are OK, Warning (minor alarm), Alarm (major alarm), Critical (urgent alarm)
and UNKNOWN (the device is missing or not started). Several outputs concatenated in one file
(a loop over `-i 0..7`) are read in order.

Deliberately not here: the catalog fields of the events (`health_reports.py` adds them).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

_PAIR = re.compile(r"\s{0,40}(?P<key>[A-Z][A-Za-z ]{0,40}?)\s{0,60}: ?(?P<value>[^\r\n]{0,500})")
_BUS_ID = re.compile(r"[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]")
_ERROR_CODE = re.compile(r"\b(?:0x)?[0-9A-Fa-f]{6,8}\b")


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """One unhealthy NPU or chip: the code its health raises, and where it was printed."""

    code: str
    message: str
    line: int
    device: str | None
    details: dict[str, Any]


@dataclasses.dataclass(slots=True)
class Found:
    """The faults of an output and how many health statuses it printed."""

    faults: list[Fault] = dataclasses.field(default_factory=list)
    devices: int = 0


def read(text: str, meaning: dict[str, Any]) -> Found:
    """The unhealthy devices of `text`, with `meaning` (`npu_smi` in health_reports.json)."""
    found = Found()
    lines = text.splitlines()
    if any(line.lstrip().startswith("|") for line in lines[:4]):
        _table(lines, meaning, found)
    else:
        _blocks(lines, meaning, found)
    return found


def _blocks(lines: list[str], meaning: dict[str, Any], found: Found) -> None:
    """The key-value layouts: a block is the lines between blank lines."""
    npu: str | None = None
    block: dict[str, tuple[str, int]] = {}
    for number, line in enumerate([*lines, ""], 1):
        pair = _PAIR.fullmatch(line.rstrip()) if line.strip() else None
        if pair is not None:
            key, value = pair.group("key").strip(), pair.group("value").strip()
            if key == "NPU ID":
                if block:  # a new device's output right after the last one's
                    _health(block, npu, meaning, found)
                    block = {}
                npu = value
            block.setdefault(key, (value, number))
            continue
        if block:
            _health(block, npu, meaning, found)
            block = {}


def _health(block: dict[str, tuple[str, int]], npu: str | None, meaning: dict[str, Any], found: Found) -> None:
    status = block.get("Health Status") or block.get("Health")
    if status is None:
        return
    found.devices += 1
    health, line = status
    code = meaning["health"].get(health)
    if code is None:
        return  # OK, or a value this reader does not know: not a fault it can name
    details: dict[str, Any] = {"health": health}
    for key, name in (("Chip ID", "chip"), ("Chip Name", "chip_name"), ("Error Information", "error_information")):
        if key in block and block[key][0] not in meaning["healthy"]:
            details[name] = block[key][0]
    codes = _ERROR_CODE.findall(block.get("Error Code", ("", 0))[0])
    if codes:
        details["error_codes"] = codes
    same = next((f for f in found.faults if npu is not None and f.device == npu and f.code == code), None)
    if same is not None:  # the same device's health again (`-i ID` then `-i ID -c CHIP`): one event
        merged = {**details, **same.details}
        found.faults[found.faults.index(same)] = dataclasses.replace(
            same, details=merged, message=_message(npu, merged))
        return
    found.faults.append(Fault(code, _message(npu, details), line, npu, details))


def _table(lines: list[str], meaning: dict[str, Any], found: Found) -> None:
    """The `npu-smi info` table: an NPU row (its health in the second cell), then its chip row."""
    known = set(meaning["health"]) | set(meaning["healthy"])
    pending: tuple[str, str, str, int] | None = None  # npu, name, health, line
    for number, line in enumerate(lines, 1):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not line.lstrip().startswith("|"):
            continue
        if "Process id" in cells[1]:
            break  # the process table
        words = cells[0].split()
        if not words or not words[0].isdigit():
            continue  # a header row
        if pending is not None:  # the chip row under an NPU row (its Bus-Id may read NA)
            bus = _BUS_ID.search(cells[1])
            _table_row(pending, words[0], bus.group() if bus else None, meaning, found)
            pending = None
        elif cells[1] in known:
            pending = (words[0], " ".join(words[1:]), cells[1], number)
    if pending is not None:
        _table_row(pending, None, None, meaning, found)


def _table_row(row: tuple[str, str, str, int], chip: str | None, bus: str | None, meaning: dict[str, Any],
               found: Found) -> None:
    npu, name, health, line = row
    found.devices += 1
    code = meaning["health"].get(health)
    if code is None:
        return
    details: dict[str, Any] = {"health": health, "chip_name": name}
    details.update({"chip": chip} if chip is not None else {})
    details.update({"bus_id": bus} if bus else {})
    found.faults.append(Fault(code, _message(npu, details), line, npu, details))


def _message(npu: str | None, details: dict[str, Any]) -> str:
    where = f"NPU {npu}" if npu is not None else "an NPU"
    if "chip" in details:
        where += f" chip {details['chip']}"
    codes = details.get("error_codes")
    tail = f", error code {' '.join(codes)}" if codes else ""
    return f"npu-smi reports {where} health {details['health']}{tail}"
