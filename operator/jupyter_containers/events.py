"""The Kubernetes events of each container's pods, counted for status.events.

Counts are rebuilt from the watch's initial listing after a restart, so they
need no storage of their own.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any


class EventLedger:
    def __init__(self) -> None:
        # container key -> event uid -> event type ("Normal" / "Warning")
        self._events: dict[Hashable, dict[str, str]] = {}

    def record(self, key: Hashable, event: Mapping[str, Any], *, deleted: bool = False) -> bool:
        """Remember (or forget) one event; True when the counts changed."""
        uid = event["metadata"]["uid"]
        seen = self._events.setdefault(key, {})
        if deleted:
            return seen.pop(uid, None) is not None
        kind = event.get("type") or "Normal"
        if seen.get(uid) == kind:
            return False
        seen[uid] = kind
        return True

    def counts(self, key: Hashable) -> dict[str, int]:
        seen = self._events.get(key, {})
        return {
            "warnings": sum(1 for kind in seen.values() if kind == "Warning"),
            "total": len(seen),
        }

    def forget(self, key: Hashable) -> None:
        self._events.pop(key, None)
