"""Which watch events make a container's next reconcile urgent."""

from __future__ import annotations

import pytest

from jupyter_containers.core.urgency import urgent_child_event, urgent_pod_event


@pytest.mark.parametrize(
    ("plural", "event_type", "urgent"),
    [
        ("pods", "MODIFIED", True),  # readiness: what a person waits to see
        ("pods", None, True),
        ("deployments", "MODIFIED", True),
        ("persistentvolumeclaims", "MODIFIED", True),
        ("persistentvolumes", "ADDED", True),
        ("services", "ADDED", False),  # the echo of our own apply
        ("services", "MODIFIED", False),
        ("networkpolicies", "ADDED", False),
        ("services", "DELETED", True),  # someone deleted it: make it again soon
        ("networkpolicies", "DELETED", True),
    ],
)
def test_child_events(plural: str, event_type: str | None, urgent: bool) -> None:
    assert urgent_child_event(plural, event_type) is urgent


@pytest.mark.parametrize(
    ("event_type", "severity", "urgent"),
    [
        ("ADDED", "Normal", False),  # a count that waits for the next write anyway
        ("MODIFIED", "Normal", False),
        (None, "Normal", False),
        ("ADDED", "Warning", True),  # shown at once
        ("DELETED", "Normal", True),
        ("ADDED", None, False),
    ],
)
def test_pod_events(event_type: str | None, severity: str | None, urgent: bool) -> None:
    assert urgent_pod_event(event_type, severity) is urgent
