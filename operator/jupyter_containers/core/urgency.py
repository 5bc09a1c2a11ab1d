"""Which watch events make a container's next reconcile urgent (`shell.workqueue`).

Pure. Urgent work takes the next free reconcile slot ahead of plain work (new containers,
spec changes), so what a person waits to see (the pod became Ready, a warning, an object
gone) is not queued behind a burst of creations. Plain here:
- a Service or NetworkPolicy added or changed: in a burst, nearly always the echo of the
  operator's own apply, which moves no phase;
- a Normal pod Event: its count waits for the next status write anyway
  (`core.status.write_delay`).
Everything else about an existing container is urgent: pods and Deployments (readiness),
PVCs and PVs (binding, growth), any deletion, a Warning.
"""

from __future__ import annotations

#: Child kinds (plural) whose additions and changes are plain work.
PLAIN_CHANGES = frozenset({"services", "networkpolicies"})


def urgent_child_event(plural: str, event_type: str | None) -> bool:
    """A watch event of a managed child (`plural`; kopf's type: None for a listing)."""
    return event_type == "DELETED" or plural not in PLAIN_CHANGES


def urgent_pod_event(event_type: str | None, severity: str | None) -> bool:
    """A pod's Event (`severity`: the Event's type, Normal or Warning)."""
    return event_type == "DELETED" or severity == "Warning"
