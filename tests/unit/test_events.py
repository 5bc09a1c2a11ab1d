from __future__ import annotations

from jupyter_containers.events import EventLedger


def ev(uid: str, kind: str = "Normal") -> dict:
    return {"metadata": {"uid": uid}, "type": kind}


def test_counts_events_once_each_and_warnings_apart() -> None:
    ledger = EventLedger()
    assert ledger.record("k", ev("1"))
    assert ledger.record("k", ev("2", "Warning"))
    assert not ledger.record("k", ev("2", "Warning"))  # a repeat (count bump) changes nothing
    assert ledger.counts("k") == {"warnings": 1, "total": 2}
    assert ledger.counts("other") == {"warnings": 0, "total": 0}


def test_deleted_events_leave_the_counts() -> None:
    ledger = EventLedger()
    ledger.record("k", ev("1", "Warning"))
    assert ledger.record("k", ev("1", "Warning"), deleted=True)
    assert not ledger.record("k", ev("1"), deleted=True)
    assert ledger.counts("k") == {"warnings": 0, "total": 0}
