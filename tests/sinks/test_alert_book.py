"""Which alerts the webhook keeps firing at Alertmanager, when it posts them again and when they
are over; times are passed in, nothing sleeps."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.model import Event, Kind, Severity
from monitor.sinks.alert_book import AlertBook, load_resolutions, rfc3339

T = 1_714_564_800.0  # 2024-05-01T12:00:00Z


def book(**kwargs: Any) -> AlertBook:
    return AlertBook(**{"resend_s": 60.0, "firing_s": 600.0, "host": "agent1", **kwargs})


def xid(**fields: Any) -> Event:
    values: dict[str, Any] = dict(kind=Kind.DEVICE_FAULT, severity=Severity.CRITICAL, message="GPU fell off the bus",
                                  code="XID-79", node="gpu7", device="0000:3b:00", file="kern.log")
    values.update(fields)
    return Event(**values)


def hang(file: str = "rank0.log", rank: int | None = 0) -> Event:
    return Event(kind=Kind.HANG, severity=Severity.ERROR, message="no progress", code="NO-PROGRESS", file=file,
                 rank=rank, node="gpu7")


def resumed(file: str = "rank0.log", rank: int | None = 0) -> Event:
    return Event(kind=Kind.HANG, severity=Severity.INFO, message="progress resumed", code="PROGRESS-RESUMED",
                 file=file, rank=rank, node="gpu7")


def test_the_shipped_resolutions_clear_a_hang_when_progress_resumes() -> None:
    assert load_resolutions() == {"PROGRESS-RESUMED": frozenset({"NO-PROGRESS"})}


def test_labels_identify_the_alert_and_the_device_joins_with_dcgm_exporter() -> None:
    [alert] = book().event(xid(), "llama", T)
    assert alert["labels"] == {"alertname": "MonitorEvent", "run": "llama", "node": "gpu7", "kind": "device_fault",
                               "code": "XID-79", "severity": "critical", "device": "00000000:3B:00.0"}
    assert alert["startsAt"] == rfc3339(T) and alert["endsAt"] == rfc3339(T + 240)
    [hostless] = book().event(xid(node=None, device=None), "llama", T)
    assert hostless["labels"]["node"] == "agent1" and "device" not in hostless["labels"]


def test_a_one_off_fires_for_its_window_then_is_posted_once_as_resolved() -> None:
    alerts = book()
    alerts.event(xid(), "llama", T)
    assert alerts.next_due() == T + 60
    assert alerts.due(T + 59) == []
    [again] = alerts.due(T + 60)
    assert again["endsAt"] == rfc3339(T + 60 + 240) and again["startsAt"] == rfc3339(T)
    assert alerts.due(T + 100) == []
    alerts.event(xid(), "llama", T + 300)  # it happened again: the window starts over
    for minute in range(6, 15):
        assert all(a["endsAt"] > rfc3339(T + 60 * minute) for a in alerts.due(T + 60 * minute))
    [over] = alerts.due(T + 300 + 600)
    assert over["endsAt"] == rfc3339(T + 900)
    assert len(alerts) == 0 and alerts.next_due() is None and alerts.due(T + 2000) == []


def test_a_hang_fires_until_every_rank_it_was_raised_for_resumes() -> None:
    alerts = book()
    [first] = alerts.event(hang(rank=0), "llama", T)
    alerts.event(hang(rank=1), "llama", T + 1)  # same labels (rank is not one): the same alert
    assert len(alerts) == 1
    assert alerts.due(T + 3600) != []  # no window: still firing an hour later
    assert alerts.event(resumed(rank=0), "llama", T + 3601) == []
    assert alerts.event(resumed(rank=1), "other-run", T + 3602) == []  # another run's progress clears nothing
    [over] = alerts.event(resumed(rank=1), "llama", T + 3603)
    assert over["labels"] == first["labels"] and over["endsAt"] == rfc3339(T + 3603)
    assert len(alerts) == 0


def test_a_clearing_event_with_nothing_firing_posts_nothing() -> None:
    alerts = book()
    assert alerts.clears(resumed()) and not alerts.clears(hang())
    assert alerts.event(resumed(), "llama", T) == []


@pytest.mark.parametrize("bad", [{"resend_s": 0.0}, {"firing_s": -1.0}])
def test_intervals_must_be_positive(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="above 0"):
        book(**bad)
