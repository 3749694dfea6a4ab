"""The contract's objects: severities order, enums print their names, events round-trip through JSON."""

from __future__ import annotations

import datetime as dt
import json
import math
import re

from hypothesis import given
from hypothesis import strategies as st

from monitor.model import SCHEMA_VERSION, Domain, Event, Kind, Role, Severity, epoch_of, trim_evidence


def test_severities_are_ordered_and_parse_with_a_clear_error() -> None:
    assert Severity.INFO < Severity.WARNING < Severity.ERROR < Severity.CRITICAL
    assert Severity.parse(" Warning ") is Severity.WARNING
    try:
        Severity.parse("fatal")
    except ValueError as err:
        assert "'fatal'" in str(err) and "info, warning, error, critical" in str(err)
    else:
        raise AssertionError("no error")


def test_enums_print_their_contract_names() -> None:
    assert [str(Kind.LOSS_SPIKE), str(Domain.HARDWARE), str(Role.CASCADE), str(Severity.ERROR)] == [
        "loss_spike", "hardware", "cascade", "error"
    ]


def test_evidence_is_trimmed() -> None:
    assert trim_evidence("  short \n") == "short"
    assert len(trim_evidence("x" * 10_000)) == 500


numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@given(
    kind=st.sampled_from(Kind), severity=st.sampled_from(Severity), message=st.text(),
    value=numbers, baseline=numbers, step=st.one_of(st.none(), st.integers(0, 10**9)),
    ranks=st.one_of(st.none(), st.lists(st.integers(0, 16383), max_size=5).map(tuple)),
    domain=st.one_of(st.none(), st.sampled_from(Domain)), role=st.one_of(st.none(), st.sampled_from(Role)),
)
def test_event_round_trips_through_jsonl(kind, severity, message, value, baseline, step, ranks, domain, role) -> None:
    event = Event(kind, severity, message, step=step, value=value, baseline=baseline, ranks=ranks,
                  domain=domain, role=role)
    line = json.dumps(event.to_dict())

    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    back = Event.from_dict(json.loads(line, parse_constant=reject))  # strict JSON: no NaN / Infinity tokens

    def same(a: float | None, b: float | None) -> bool:
        return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))

    assert same(back.value, event.value) and same(back.baseline, event.baseline)
    assert back == Event(kind, severity, message, step=step, value=back.value, baseline=back.baseline,
                         ranks=ranks, domain=domain, role=role)


@given(
    stamp=st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9998, 12, 31)),
    offset_minutes=st.one_of(st.none(), st.integers(-23 * 60 - 59, 23 * 60 + 59)),
)
def test_every_time_is_written_rfc3339_and_reads_back_as_the_same_instant(stamp, offset_minutes) -> None:
    """A time with an offset keeps it (UTC as Z); one without is read in the zone given (here UTC)."""
    zone = None if offset_minutes is None else dt.timezone(dt.timedelta(minutes=offset_minutes))
    text = stamp.replace(tzinfo=zone).isoformat()
    written = Event(Kind.HANG, Severity.ERROR, "", time=text).to_dict(dt.timezone.utc)["time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?(Z|[+-]\d\d:\d\d)", written)
    assert written.endswith("Z") == (not offset_minutes)
    back = dt.datetime.fromisoformat(written.replace("Z", "+00:00"))
    assert back == stamp.replace(tzinfo=zone or dt.timezone.utc)
    assert epoch_of(written) == epoch_of(text)  # the same instant for the pipeline's comparisons


def test_times_in_details_are_written_like_the_event_s_and_other_text_is_left_alone() -> None:
    details = {"last_time": "2025-03-04T10:31:08", "start": {"time": "2025-03-04T10:31:08.5+05:30"},
               "elapsed_time": "0:10:02", "time": "not a time"}
    written = Event(Kind.HANG, Severity.ERROR, "", details=details).to_dict(dt.timezone(dt.timedelta(hours=-3)))
    assert written["details"] == {"last_time": "2025-03-04T10:31:08-03:00",
                                  "start": {"time": "2025-03-04T10:31:08.500000+05:30"},
                                  "elapsed_time": "0:10:02", "time": "not a time"}
    assert written["schema_version"] == SCHEMA_VERSION == 1
    assert Event(Kind.HANG, Severity.ERROR, "", time="yesterday").to_dict()["time"] is None
