"""Leader election over a Kubernetes Lease: the decisions, as client-go's leaderelection makes them.

Every replica serves admission; only the holder of the Lease (coordination.k8s.io/v1) reconciles.
The algorithm is client-go's (k8s.io/client-go/tools/leaderelection, used by kube-controller-
manager, kube-scheduler and every controller-runtime operator), not kopf's peering (which is
not a lease and pauses every operator of equal priority):

- A candidate reads the Lease every `retry_period`. It may take it when there is none, when it
  has no holder (released), or when the record it sees has not changed for the record's own
  `leaseDurationSeconds`, measured on the candidate's clock from when it first saw that record
  (not from `renewTime`: the replicas' wall clocks need not agree).
- Taking and renewing are an update with the resourceVersion read, so of two candidates only
  one wins; the loser gets a conflict and stays a candidate.
- The holder renews every `retry_period`. It stops leading when no renewal has succeeded for
  `renew_deadline`, counted from the start of the last successful one: since that start
  precedes the moment any other replica saw the renewed record, and `renew_deadline <
  lease_duration`, the holder has stopped before another replica may take the Lease.
- A holder that stops gracefully releases the Lease (no holder, 1 s), so a successor takes
  it at its next read instead of waiting out the duration.

Pure: the caller reads the Lease, keeps the observation time, and writes what `next_step` says.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

#: The format of a MicroTime (acquireTime, renewTime): RFC 3339 with exactly six decimals.
MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class LeaseTimings:
    """client-go's three durations (seconds); see the module docstring."""

    lease_duration: float
    renew_deadline: float
    retry_period: float

    def problems(self) -> list[str]:
        """What is wrong with them, as client-go's NewLeaderElector checks (empty: fine)."""
        found = []
        if self.retry_period <= 0:
            found.append("JC_LEADER_ELECTION_RETRY_SECONDS must be above 0")
        if self.renew_deadline <= self.retry_period * 1.2:
            found.append(
                "JC_LEADER_ELECTION_RENEW_DEADLINE_SECONDS must be above 1.2 times "
                "JC_LEADER_ELECTION_RETRY_SECONDS (a renewal may be retried before the deadline)"
            )
        if self.lease_duration <= self.renew_deadline:
            found.append(
                "JC_LEADER_ELECTION_LEASE_SECONDS must be above "
                "JC_LEADER_ELECTION_RENEW_DEADLINE_SECONDS (the leader stops before the Lease "
                "may be taken)"
            )
        return found


@dataclass(frozen=True)
class LeaseRecord:
    """The spec of a Lease, as leader election uses it."""

    holder: str
    """holderIdentity; "" when released (or never held)."""
    lease_duration_seconds: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int
    """leaseTransitions: how many times the holder changed."""


class Action(enum.Enum):
    CREATE = "create"  # no Lease yet: create it, held
    UPDATE = "update"  # take it or renew it (with the resourceVersion read)
    WAIT = "wait"  # another replica holds it: read again after retry_period


@dataclass(frozen=True)
class Step:
    action: Action
    record: LeaseRecord | None = None
    """What to write (CREATE, UPDATE)."""


def next_step(
    current: LeaseRecord | None,
    me: str,
    *,
    unchanged_for: float,
    now: datetime,
    timings: LeaseTimings,
) -> Step:
    """What this replica does with the Lease it just read (`current`, None when absent).

    `unchanged_for`: seconds (monotonic, on this replica's clock) since it first saw the
    record as it is now. `now`: the wall-clock time written into acquireTime/renewTime.
    """
    duration = max(1, round(timings.lease_duration))
    if current is None:
        return Step(Action.CREATE, LeaseRecord(me, duration, now, now, 0))
    if current.holder not in ("", me) and unchanged_for < current.lease_duration_seconds:
        return Step(Action.WAIT)
    if current.holder == me:
        return Step(
            Action.UPDATE,
            replace(current, lease_duration_seconds=duration, renew_time=now),
        )
    return Step(
        Action.UPDATE,
        LeaseRecord(me, duration, now, now, current.transitions + 1),
    )


def released(current: LeaseRecord, now: datetime) -> LeaseRecord:
    """The record a holder writes when it stops gracefully (client-go's ReleaseOnCancel)."""
    return LeaseRecord("", 1, now, now, current.transitions)


def leader_deadline(renew_started: float, timings: LeaseTimings) -> float:
    """When (monotonic) a holder whose last successful renewal started at `renew_started`
    stops leading unless it renews again."""
    return renew_started + timings.renew_deadline


# ---------------------------------------------------------------- the Lease's spec


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    return datetime.fromisoformat(text)


def _format_time(value: datetime | None) -> str | None:
    return None if value is None else value.strftime(MICROTIME)


def record_of(spec: Mapping[str, Any] | None) -> LeaseRecord:
    """A Lease's spec (as the API returns it) as a record."""
    spec = spec or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=_parse_time(spec.get("acquireTime")),
        renew_time=_parse_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def spec_of(record: LeaseRecord) -> dict[str, Any]:
    """The Lease spec to write for `record` (a released Lease has no holderIdentity)."""
    spec: dict[str, Any] = {
        "leaseDurationSeconds": record.lease_duration_seconds,
        "acquireTime": _format_time(record.acquire_time),
        "renewTime": _format_time(record.renew_time),
        "leaseTransitions": record.transitions,
    }
    if record.holder:
        spec["holderIdentity"] = record.holder
    return {k: v for k, v in spec.items() if v is not None}
