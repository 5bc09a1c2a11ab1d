"""The Kubernetes events of the operator's pods, counted for status.events.

Events are kept by the uid of the pod they are about, not by container: a pod's
first events (Scheduled, ...) can arrive before the pod itself, and must still
count once the pod is known. Counts are rebuilt from the watch's initial listing
after a restart, so they need no storage of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class EventLedger:
    def __init__(self) -> None:
        # pod uid -> event uid -> event type ("Normal" / "Warning")
        self._events: dict[str, dict[str, str]] = {}

    def record(self, pod_uid: str, event: Mapping[str, Any], *, deleted: bool = False) -> bool:
        """Remember (or forget) one event; True when the counts changed."""
        uid = event["metadata"]["uid"]
        if deleted:
            seen = self._events.get(pod_uid, {})
            changed = seen.pop(uid, None) is not None
            if not seen:
                self._events.pop(pod_uid, None)
            return changed
        seen = self._events.setdefault(pod_uid, {})
        kind = event.get("type") or "Normal"
        if seen.get(uid) == kind:
            return False
        seen[uid] = kind
        return True

    def counts(self, pod_uids: Iterable[str]) -> dict[str, int]:
        kinds = [kind for pod in pod_uids for kind in self._events.get(pod, {}).values()]
        return {"warnings": kinds.count("Warning"), "total": len(kinds)}
