"""Device health reports as events: one `device_fault` per device and finding.

Reads the documents `monitor.sources.health_reports` recognises:
- `nvidia-smi -q -x`: each `<gpu id="00000000:3B:00.0">`'s ECC counters, retired pages,
  remapped rows, reset state and clock event (throttle) reasons;
- `dcgmi diag -j`: each test's per-GPU result (`Fail`, `Warn`) with its warnings, error ids,
  DCGM error severities and categories; a `runtime_error` when the diagnostic could not run;
- `npu-smi info -t health` and the `npu-smi info` table: each NPU's (or chip's) health when it
  is not OK, with its error codes.

Which field raises which code, and from which value on, is data (`health_reports.json`); the
code's catalog entry gives the severity, domain, role and action. A healthy report raises no
event. The device is the PCI bus id as nvidia-smi prints it, DCGM's GPU id, or the NPU id; the
node is a host name in the report's path (`node07/nvidia-smi.xml`), else the report file itself (no
report names its host). nvidia-smi's `<timestamp>` is the node's local time, written without a zone.

Deliberately not here: telling a report from a log, and reading it (`monitor.sources`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

from monitor.catalog import Catalog, Definition
from monitor.model import Domain, Event, Severity, trim_evidence
from monitor.parsers import npu_smi
from monitor.parsers.attribution import attribute_path
from monitor.parsers.safe_xml import Element, XmlRefused, parse

NVIDIA_SMI = "nvidia-smi-xml"
DCGM_DIAG = "dcgm-diag-json"
NPU_SMI = "npu-smi"
_COUNT = re.compile(r"\d{1,20}\b")
_NOT_READ = ("", "N/A")
_MESSAGE_CHARS = 240


@functools.cache
def rules() -> dict[str, Any]:
    """The shipped meaning of report fields (`health_reports.json`)."""
    return json.loads(resources.files(__package__).joinpath("health_reports.json").read_text(encoding="utf-8"))


@dataclasses.dataclass(slots=True)
class Reading:
    """What a report gave: its events (in line order), how many devices it described, and why it
    could not be read completely (None: it was)."""

    events: list[Event]
    devices: int
    problem: str | None = None


class _Builder:
    """Makes a report's events: the catalog's fields, the report's file, node and lines."""

    def __init__(self, catalog: Catalog, text: str, file: str, path: str | None) -> None:
        self.catalog = catalog
        self.lines = text.splitlines()
        self.file = file
        # no report names its host: a host name in the path, else the report itself stands for the node
        # (so that findings of different reports are never taken for one node's chain of faults)
        self.node = attribute_path(path)[1] or file

    def event(self, code: str, message: str, line: int | None, device: str | None, details: dict[str, Any],
              time: str | None = None, severity: Severity | None = None, domain: Domain | None = None) -> Event:
        definition: Definition = self.catalog.definition(code)
        evidence = self.lines[line - 1].strip() if line and line <= len(self.lines) else None
        return Event(
            kind=definition.kind, severity=max(definition.severity, severity or definition.severity),
            message=message if len(message) <= _MESSAGE_CHARS else message[:_MESSAGE_CHARS - 1] + "…",
            code=code, file=self.file, line=line, time=time, node=self.node, device=device,
            evidence=trim_evidence(evidence) if evidence else None, action=definition.action,
            domain=domain or definition.domain, role=definition.role, details=details,
        )


def report_events(kind: str, text: str, catalog: Catalog, file: str, path: str | None = None) -> Reading:
    """The events of one report of `kind` (`NVIDIA_SMI`, `DCGM_DIAG` or `NPU_SMI`) whose text is `text`."""
    build = _Builder(catalog, text, file, path)
    if kind == NVIDIA_SMI:
        reading = _nvidia_smi(text, build)
    elif kind == DCGM_DIAG:
        reading = _dcgm_diag(text, build)
    else:
        found = npu_smi.read(text, rules()["npu_smi"])
        events = [build.event(f.code, f.message, f.line, f.device, f.details) for f in found.faults]
        reading = Reading(events, found.devices, None if found.devices else "no NPU health status found")
    reading.events.sort(key=lambda e: e.line or 0)
    return reading


# -- nvidia-smi -q -x ---------------------------------------------------------------------------


def _nvidia_smi(text: str, build: _Builder) -> Reading:
    try:
        parsed = parse(text)
    except XmlRefused as err:
        return Reading([], 0, f"nvidia-smi XML report refused: {err}")
    root = parsed.root
    if root is None or root.tag != "nvidia_smi_log":
        return Reading([], 0, parsed.problem or "an XML document whose root is not <nvidia_smi_log>")
    time = _nvsmi_time(root.text_at("timestamp"))
    gpus = [child for child in root.children if child.tag == "gpu" and child.closed]
    events = [event for gpu in gpus for event in _gpu_events(gpu, time, build)]
    return Reading(events, len(gpus), parsed.problem and f"{parsed.problem}; the {len(gpus)} complete GPU(s) were read")


def _nvsmi_time(text: str | None) -> str | None:
    """`Mon Oct 13 00:25:36 2025` (the C locale's `%c`, local time) as ISO 8601 without a zone."""
    try:
        return dt.datetime.strptime(" ".join((text or "").split()), "%a %b %d %H:%M:%S %Y").isoformat()
    except ValueError:
        return None


def _gpu_events(gpu: Element, time: str | None, build: _Builder) -> Iterator[Event]:
    table = rules()["nvidia_smi"]
    device = gpu.attrs.get("id") or gpu.text_at("pci/pci_bus_id")
    found: dict[str, list[tuple[str, Any, int]]] = {}
    for rule in table["rules"]:
        for field in rule["fields"]:
            element = gpu.find(field)
            if element is None or element.text in _NOT_READ:
                continue
            value = _raises(rule, element.text)
            if value is not None:
                found.setdefault(rule["code"], []).append((field, value, element.line))
    if not found:
        return
    context = {key: gpu.text_at(field) for key, field in table["context"].items()}
    context = {key: value for key, value in context.items() if value not in (None, *_NOT_READ)}
    for code, hits in found.items():
        shown = ", ".join(f"{field.replace('/', '.')} {value}" for field, value, _line in hits)
        details = {**{field.replace("/", "."): value for field, value, _line in hits}, **context}
        yield build.event(code, f"nvidia-smi reports {shown} on GPU {device}", hits[0][2], device, details, time)


def _raises(rule: dict[str, Any], text: str) -> Any:
    """The value of a field when it raises `rule`'s code, else None."""
    if "above" in rule:
        count = _COUNT.match(text)
        return int(count.group()) if count and int(count.group()) > rule["above"] else None
    if "equals" in rule:
        return text if text in rule["equals"] else None
    return text if text not in rule["not"] else None


# -- dcgmi diag -j ------------------------------------------------------------------------------


def _dcgm_diag(text: str, build: _Builder) -> Reading:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        return Reading([], 0, f"not valid JSON ({err}): cut short or not dcgmi diag -j output")
    except RecursionError:
        return Reading([], 0, "JSON nested too deeply to be dcgmi diag -j output")
    diag = _get(document, "DCGM Diagnostic", dict) or _get(document, "DCGM GPU Diagnostic", dict)
    if diag is None:
        return Reading([], 0, "a JSON document without a \"DCGM Diagnostic\" object")
    table = rules()["dcgm_diag"]
    events: list[Event] = []
    devices: set[str] = set()
    error = _get(diag, "runtime_error", str)
    if error:
        line = _line_of(build.lines, error)
        events.append(build.event(table["runtime_error"], f"dcgmi diag could not run: {error}", line, None,
                                  {"runtime_error": error}))
    for category in _get(diag, "test_categories", list) or []:
        for test in _get(category, "tests", list) or []:
            events.extend(_test_events(test, _get(category, "category", str), table, build, devices))
    return Reading(events, len(devices))


def _test_events(test: Any, category: str | None, table: dict[str, Any], build: _Builder,
                 devices: set[str]) -> Iterator[Event]:
    name = _get(test, "name", str) or "?"
    raised = False
    for result in _get(test, "results", list) or []:
        device, entity = _entity(result)
        if device is not None:
            devices.add(device)
        event = _result_event(result, name, category, device, entity, table, build)
        if event is not None:
            raised = True
            yield event
    summary = _get(test, "test_summary", dict)
    if not raised and summary is not None:  # a failure of the test as a whole, on no one GPU
        event = _result_event(summary, name, category, None, None, table, build)
        if event is not None:
            yield event


def _entity(result: Any) -> tuple[str | None, str | None]:
    """(GPU id, other entity or GPU list) of a result: DCGM 4 `entity_group`/`entity_id`, DCGM 3
    `gpu_id`, nvvs's own `gpu_ids` (`"0,1,2,3"`: one GPU is the device, several are not one)."""
    group, number = _get(result, "entity_group", str), _get(result, "entity_id", int)
    if number is not None:
        return (str(number), None) if group in (None, "GPU") else (None, f"{group} {number}")
    gpu = _get(result, "gpu_id", (str, int))
    if gpu is not None:
        return str(gpu), None
    gpus = str(_get(result, "gpu_ids", (str, int)) or "").strip()
    if "," in gpus:
        return None, f"GPUs {gpus}"
    return gpus or None, None


def _result_event(result: Any, test: str, category: str | None, device: str | None, entity: str | None,
                  table: dict[str, Any], build: _Builder) -> Event | None:
    status = (_get(result, "status", str) or "").capitalize()  # nvvs writes FAIL, dcgmi Fail
    code = table["status"].get(status)
    if code is None:
        return None
    warnings = [warning for item in _get(result, "warnings", list) or [] if (warning := _warning(item))]
    texts = [w["warning"] for w in warnings if w.get("warning")]
    severity, domain = None, None
    for warning in warnings:
        level = table["error_severities"].get(str(warning.get("error_severity")), {})
        kind = table["error_categories"].get(str(warning.get("error_category")), {})
        if "error_severity" in warning:
            warning["error_severity"] = level.get("name", warning["error_severity"])
        if "error_category" in warning:
            warning["error_category"] = kind.get("name", warning["error_category"])
        if "severity" in level:
            severity = max(severity or Severity.INFO, Severity.parse(level["severity"]))
        domain = domain or (Domain(kind["domain"]) if "domain" in kind else None)
    details: dict[str, Any] = {"test": test, "status": status}
    details.update({"category": category} if category else {})
    details.update({"entity": entity} if entity else {})
    details.update({"warnings": warnings} if warnings else {})
    info = _get(result, "info", (str, list))
    details.update({"info": info} if info else {})
    verb = "failed" if status == "Fail" else "warned"
    where = f" on GPU {device}" if device is not None else f" on {entity}" if entity else ""
    message = f"dcgmi diag test '{test}' {verb}{where}" + (f": {texts[0]}" if texts else "")
    line = _line_of(build.lines, texts[0]) if texts else None
    return build.event(code, message, line, device, details, severity=severity, domain=domain)


def _warning(item: Any) -> dict[str, Any]:
    """One warning as a dict: DCGM writes objects (`warning`, `error_id`, `error_category`,
    `error_severity`; DCGM 3's level-one tests spell the text `warnings`), older DCGM plain text."""
    if isinstance(item, str):
        return {"warning": item}
    if not isinstance(item, dict):
        return {}
    text = _get(item, "warning", str) or _get(item, "warnings", str)
    found = {key: item[key] for key in ("error_id", "error_category", "error_severity") if key in item}
    return {"warning": text, **found} if text else found


def _get(mapping: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    """`mapping[key]` when `mapping` is a dict and the value has the expected type, else None."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _line_of(lines: list[str], text: str) -> int | None:
    """The first line holding `text` as JSON writes it (the evidence of a JSON finding)."""
    needle = json.dumps(text, ensure_ascii=False)[1:-1][:80]
    return next((number for number, line in enumerate(lines, 1) if needle in line), None)
