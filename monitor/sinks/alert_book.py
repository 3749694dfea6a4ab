"""The alerts the webhook keeps firing at Alertmanager, and when each is re-sent or resolved.

Alertmanager forgets an alert its client stops sending: it resolves it at the alert's `endsAt`,
or `resolve_timeout` (5m by default) after the last post when none was given. So a client keeps
posting its firing alerts. We do as Prometheus' rule manager does (rules/alerting.go,
`sendAlerts`: every `--rules.alert.resend-delay`, 1m by default, with `endsAt` four resend
intervals ahead, so a client that dies lets its alerts resolve on their own), and post an alert
once more with `endsAt` set to now when it is over.

When is an alert over? An event that a later event clears (data: `resolutions.json`, e.g. a
`NO-PROGRESS` hang cleared by `PROGRESS-RESUMED` on the same run, file and rank) fires until the
clearing event came for every file and rank it was raised for. Any other event is a one-off
(a crash, an Xid): its alert fires for `firing_s` after its latest occurrence, as the Prometheus
alert rules fire for 10 minutes after the events they count.

An alert is identified by its labels, as Alertmanager identifies it: `alertname`, `run`, `node`
(the line's host, else this machine's), `kind`, `code`, `severity` and, where the line names
one, `device`. This module does no I/O and reads no clock: times are passed in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from importlib import resources
from typing import Any

from monitor.model import Event, epoch_of
from monitor.sinks.prometheus import device_label

ALERTNAME = "MonitorEvent"
SENDS_PER_VALIDITY = 4  # Prometheus' rule manager: ValidUntil = now + 4 x max(resend delay, evaluation interval)


def load_resolutions() -> dict[str, frozenset[str]]:
    """The clearing events: code -> the codes it resolves (from `resolutions.json`)."""
    text = resources.files("monitor.sinks").joinpath("resolutions.json").read_text(encoding="utf-8")
    return {code: frozenset(entry["resolves"]) for code, entry in json.loads(text).items() if not code.startswith("$")}


def rfc3339(epoch: float) -> str:
    """`epoch` as Alertmanager's API writes times: UTC, milliseconds, `Z`."""
    text = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def alert_labels(event: Event, run: str | None, host: str) -> dict[str, str]:
    """The labels that identify `event`'s alert."""
    labels = {"alertname": ALERTNAME, "kind": str(event.kind), "severity": str(event.severity),
              "node": event.node or host}
    if event.code:
        labels["code"] = event.code
    if run:
        labels["run"] = run
    device = device_label(event.device)
    if device:
        labels["device"] = device
    return labels


def alert_annotations(event: Event) -> dict[str, str]:
    """What an operator reads: the message, the catalog's action and the log line."""
    annotations = {"summary": event.message}
    if event.action:
        annotations["action"] = event.action
    if event.evidence:
        annotations["evidence"] = event.evidence
    return annotations


@dataclasses.dataclass
class _Firing:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts: str
    next_send: float
    until: float | None = None  # a one-off's end; None while it waits for a clearing event
    holders: set[tuple[str | None, str]] = dataclasses.field(default_factory=set)  # (file, rank) not yet cleared

    def body(self, ends: float) -> dict[str, Any]:
        return {"labels": self.labels, "annotations": self.annotations, "startsAt": self.starts,
                "endsAt": rfc3339(ends), "generatorURL": ""}


class AlertBook:
    """Firing alerts by label set: what to post for a new event, and what is due at a given time.

    Args:
        resend_s: seconds between posts of a firing alert (above 0).
        firing_s: how long a one-off event's alert fires after its latest occurrence (above 0).
        host: the node label of events whose line names no host.
        resolutions: clearing code -> the codes it resolves (default: `resolutions.json`).
    """

    def __init__(self, resend_s: float, firing_s: float, host: str,
                 resolutions: dict[str, frozenset[str]] | None = None) -> None:
        if not resend_s > 0 or not firing_s > 0:
            raise ValueError(f"resend_s and firing_s must be above 0, not {resend_s} and {firing_s}")
        self.resend_s = resend_s
        self.firing_s = firing_s
        self.host = host
        self.resolutions = load_resolutions() if resolutions is None else resolutions
        self._cleared = frozenset().union(*self.resolutions.values())
        self._firing: dict[tuple[tuple[str, str], ...], _Firing] = {}

    def __len__(self) -> int:
        return len(self._firing)

    def clears(self, event: Event) -> bool:
        """Whether `event` resolves other alerts rather than raising one."""
        return event.code in self.resolutions

    def event(self, event: Event, run: str | None, now: float) -> list[dict[str, Any]]:
        """The alerts to post now for `event`: its own (new or refreshed), or those it resolves."""
        member = (event.file, "" if event.rank is None else str(event.rank))
        if self.clears(event):
            return self._resolve(self.resolutions[event.code or ""], run, member, now)
        labels = alert_labels(event, run, self.host)
        key = tuple(sorted(labels.items()))
        firing = self._firing.get(key)
        if firing is None:
            epoch = epoch_of(event.time)
            firing = self._firing[key] = _Firing(labels, {}, rfc3339(now if epoch is None else epoch), now)
        firing.annotations = alert_annotations(event)  # the latest occurrence's words
        if event.code in self._cleared:
            firing.holders.add(member)
            firing.until = None
        elif not firing.holders:
            firing.until = now + self.firing_s
        firing.next_send = now + self.resend_s
        return [firing.body(self._valid_until(now))]

    def due(self, now: float) -> list[dict[str, Any]]:
        """The firing alerts whose re-send is due, and the one-offs that are over (with `endsAt` now)."""
        out = []
        for key, firing in list(self._firing.items()):
            if firing.until is not None and now >= firing.until:
                out.append(firing.body(now))
                del self._firing[key]
            elif now >= firing.next_send:
                out.append(firing.body(self._valid_until(now)))
                firing.next_send = now + self.resend_s
        return out

    def next_due(self) -> float | None:
        """When `due` next has something to post; None while nothing fires."""
        times = [f.next_send if f.until is None else min(f.next_send, f.until) for f in self._firing.values()]
        return min(times) if times else None

    def _valid_until(self, now: float) -> float:
        return now + SENDS_PER_VALIDITY * self.resend_s

    def _resolve(self, codes: frozenset[str], run: str | None, member: tuple[str | None, str],
                 now: float) -> list[dict[str, Any]]:
        out = []
        for key, firing in list(self._firing.items()):
            if firing.labels.get("code") not in codes or firing.labels.get("run") != (run or None):
                continue
            firing.holders.discard(member)
            if not firing.holders:
                out.append(firing.body(now))
                del self._firing[key]
        return out
