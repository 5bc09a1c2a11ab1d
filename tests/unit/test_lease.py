"""Leader election decisions (core.lease): client-go's rules, as a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jupyter_containers.core.lease import (
    Action,
    LeaseRecord,
    LeaseTimings,
    leader_deadline,
    next_step,
    record_of,
    released,
    spec_of,
)

T = LeaseTimings(lease_duration=10, renew_deadline=7, retry_period=2)
NOW = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)
EARLIER = NOW - timedelta(seconds=30)


def held(holder: str, transitions: int = 3, duration: int = 10) -> LeaseRecord:
    return LeaseRecord(holder, duration, EARLIER, EARLIER, transitions)


@pytest.mark.parametrize(
    ("current", "unchanged_for", "action", "holder", "transitions", "acquired_now"),
    [
        # No Lease: create it, held, no transition yet.
        (None, 0.0, Action.CREATE, "me", 0, True),
        # Held by another and renewed within its duration (on our clock): wait.
        (held("other"), 0.0, Action.WAIT, None, None, None),
        (held("other"), 9.9, Action.WAIT, None, None, None),
        # Its own duration counts, not ours: a 30 s lease seen 12 s unchanged is still valid.
        (held("other", duration=30), 12.0, Action.WAIT, None, None, None),
        # Not renewed for its duration: expired, taken, one more transition.
        (held("other"), 10.0, Action.UPDATE, "me", 4, True),
        # Released (no holder): taken at once, however recently it was written.
        (held(""), 0.0, Action.UPDATE, "me", 4, True),
        # Ours: renewed, acquireTime and transitions kept (also for a restarted process of
        # the same identity, e.g. a container restarted in the same pod).
        (held("me"), 0.0, Action.UPDATE, "me", 3, False),
        (held("me"), 60.0, Action.UPDATE, "me", 3, False),
    ],
)
def test_next_step(
    current: LeaseRecord | None,
    unchanged_for: float,
    action: Action,
    holder: str | None,
    transitions: int | None,
    acquired_now: bool | None,
) -> None:
    step = next_step(current, "me", unchanged_for=unchanged_for, now=NOW, timings=T)
    assert step.action is action
    if action is Action.WAIT:
        assert step.record is None
        return
    assert step.record is not None
    assert step.record.holder == holder
    assert step.record.transitions == transitions
    assert step.record.renew_time == NOW
    assert step.record.lease_duration_seconds == 10
    assert step.record.acquire_time == (NOW if acquired_now else EARLIER)


def test_release_hands_over_without_a_holder_and_keeps_the_count() -> None:
    gone = released(held("me", transitions=5), NOW)
    assert (gone.holder, gone.lease_duration_seconds, gone.transitions) == ("", 1, 5)
    assert "holderIdentity" not in spec_of(gone)


def test_the_leader_stops_before_another_may_take_over() -> None:
    # The deadline counts from the start of the last successful renewal, which precedes any
    # other replica's observation of it; the lease counts from that observation.
    started = 100.0
    assert leader_deadline(started, T) == 107.0
    assert leader_deadline(started, T) < started + T.lease_duration


def test_spec_round_trip_uses_microtime() -> None:
    record = LeaseRecord("me", 10, NOW, NOW, 2)
    spec = spec_of(record)
    assert spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 10,
        "acquireTime": "2026-12-01T12:00:00.123456Z",
        "renewTime": "2026-12-01T12:00:00.123456Z",
        "leaseTransitions": 2,
    }
    assert record_of(spec) == record
    # Whole seconds still get six decimals (the API server's MicroTime format).
    assert spec_of(LeaseRecord("me", 10, NOW.replace(microsecond=0), None, 0))["acquireTime"] == (
        "2026-12-01T12:00:00.000000Z"
    )


def test_an_empty_lease_is_a_record_without_holder() -> None:
    assert record_of({}) == LeaseRecord("", 0, None, None, 0)
    assert record_of(None).holder == ""


@pytest.mark.parametrize(
    ("timings", "problem"),
    [
        (LeaseTimings(10, 7, 2), None),
        (LeaseTimings(7, 7, 2), "JC_LEADER_ELECTION_LEASE_SECONDS must be above"),
        (LeaseTimings(10, 2.4, 2), "JC_LEADER_ELECTION_RENEW_DEADLINE_SECONDS must be above"),
        (LeaseTimings(10, 7, 0), "JC_LEADER_ELECTION_RETRY_SECONDS must be above 0"),
    ],
)
def test_timings_are_checked_as_client_go_does(timings: LeaseTimings, problem: str | None) -> None:
    problems = timings.problems()
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_settings_refuse_inconsistent_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from jupyter_containers.core.settings import load_settings

    monkeypatch.setenv("JC_LEADER_ELECTION_LEASE_SECONDS", "5")
    with pytest.raises(ValidationError, match="JC_LEADER_ELECTION_LEASE_SECONDS must be above"):
        load_settings()
