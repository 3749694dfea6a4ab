"""The contract's objects: severities order, enums print their names, events round-trip through JSON."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from monitor.model import Domain, Event, Kind, Role, Severity, trim_evidence


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
