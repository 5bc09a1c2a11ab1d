from __future__ import annotations

from jupyter_containers.core.events import EventLedger


def ev(uid: str, kind: str = "Normal") -> dict:
    return {"metadata": {"uid": uid}, "type": kind}


def test_counts_events_once_each_and_warnings_apart() -> None:
    ledger = EventLedger()
    assert ledger.record("pod-a", ev("1"))
    assert ledger.record("pod-a", ev("2", "Warning"))
    assert not ledger.record("pod-a", ev("2", "Warning"))  # a repeat (count bump) changes nothing
    assert ledger.record("pod-b", ev("3", "Warning"))
    assert ledger.counts(["pod-a"]) == {"warnings": 1, "total": 2}
    assert ledger.counts(["pod-a", "pod-b"]) == {"warnings": 2, "total": 3}
    assert ledger.counts([]) == {"warnings": 0, "total": 0}


def test_events_recorded_before_their_pod_is_known_still_count() -> None:
    ledger = EventLedger()
    ledger.record("pod-later", ev("1", "Warning"))
    assert ledger.counts(["pod-later"]) == {"warnings": 1, "total": 1}


def test_deleted_events_leave_the_counts() -> None:
    ledger = EventLedger()
    ledger.record("pod-a", ev("1", "Warning"))
    assert ledger.record("pod-a", ev("1", "Warning"), deleted=True)
    assert not ledger.record("pod-a", ev("1"), deleted=True)
    assert ledger.counts(["pod-a"]) == {"warnings": 0, "total": 0}
