"""Status assembly: times kept across reconciles, kstatus conditions, no-op detection."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_containers.api.models import Phase, Reason
from jupyter_containers.core.lifecycle import Verdict
from jupyter_containers.core.status import (
    EVENT_COUNT_DELAY,
    StatusInputs,
    build_status,
    status_differs,
    write_delay,
)


def inputs(verdict: Verdict, now: str, attempt: int = 1, **over: Any) -> StatusInputs:
    base: dict[str, Any] = {
        "verdict": verdict,
        "generation": 1,
        "now_iso": now,
        "attempt": attempt,
        "started_at": "2026-01-01T00:00:00Z",
        "start_request": None,
        "deployment_namespace": "team",
        "instance": {"name": "small", "cpu": "1", "memory": "2Gi", "display": "small"},
        "volume_display": "No volume",
        "created_by": "alice",
        "events": {"warnings": 0, "total": 1},
        "pod_name": "jc-lab-1",
        "pvc_name": None,
        "service_name": "jc-lab",
        "token_secret": "jc-lab-token",
    }
    base.update(over)
    return StatusInputs(**base)


STARTING = Verdict(Phase.STARTING, Reason.DEPLOYING, "Creating the Deployment and its pod.")
ACTIVE = Verdict(Phase.ACTIVE, Reason.READY, "JupyterLab is running and ready.")
STOPPED = Verdict(Phase.STOPPED, Reason.STOPPED, "Terminated.")


def test_ready_time_is_set_once_and_kept() -> None:
    starting = build_status(inputs(STARTING, "2026-01-01T00:00:01Z"), {})
    assert starting["readyAt"] is None
    active = build_status(inputs(ACTIVE, "2026-01-01T00:00:05Z"), starting)
    assert active["readyAt"] == "2026-01-01T00:00:05Z"
    again = build_status(inputs(ACTIVE, "2026-01-01T00:09:00Z"), active)
    assert again["readyAt"] == "2026-01-01T00:00:05Z"
    # Nothing changed: the operator must not write.
    assert not status_differs(active, again)


def test_a_new_attempt_forgets_the_old_ready_time() -> None:
    active = build_status(inputs(ACTIVE, "2026-01-01T00:00:05Z"), {})
    restarted = build_status(inputs(STARTING, "2026-01-01T01:00:00Z", attempt=2), active)
    assert restarted["readyAt"] is None and restarted["attempt"] == 2


def test_stopped_time_is_set_when_stopping() -> None:
    active = build_status(inputs(ACTIVE, "2026-01-01T00:00:05Z"), {})
    stopped = build_status(inputs(STOPPED, "2026-01-01T00:10:00Z", service_name=None), active)
    assert stopped["stoppedAt"] == "2026-01-01T00:10:00Z"
    assert stopped["serviceName"] is None
    ready = next(c for c in stopped["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"


def test_status_differs_treats_none_as_absent() -> None:
    assert not status_differs({"phase": "Active"}, {"phase": "Active", "podName": None})
    assert status_differs({"phase": "Active", "podName": "p"}, {"phase": "Active", "podName": None})
    assert status_differs({"phase": "Starting"}, {"phase": "Active"})


def test_status_is_written_through_the_crd_model() -> None:
    """Every field of JupyterContainerStatus, none other, and the model's limits hold."""
    import pytest
    from pydantic import ValidationError

    from jupyter_containers.api.models import JupyterContainerStatus

    status = build_status(inputs(ACTIVE, "2026-01-01T00:00:09Z"), {})
    # status.culling is the culler's own (shell/culler.py): the reconciler's whole-status
    # merge patch leaves it alone.
    assert set(status) == set(JupyterContainerStatus.model_fields) - {"culling"}
    # A string over its maxLength is cut to it first (core.bounds), so the write is accepted;
    # a value the schema refuses otherwise fails here, naming the field.
    long_pod = build_status(inputs(ACTIVE, "2026-01-01T00:00:09Z", pod_name="x" * 300), {})
    assert len(long_pod["podName"]) == 253
    with pytest.raises(ValidationError, match="observedGeneration"):
        build_status(inputs(ACTIVE, "2026-01-01T00:00:09Z", generation="one"), {})


# ---------------------------------------------------------------- when to write

_BASE = build_status(inputs(ACTIVE, "2026-01-01T00:00:05Z"), {})


def _changed(**fields: Any) -> dict[str, Any]:
    return {**_BASE, **fields}


@pytest.mark.parametrize(
    ("stored", "desired", "delay"),
    [
        # Nothing to write.
        (_BASE, _BASE, None),
        # A first status, and every milestone, at once.
        ({}, _BASE, 0.0),
        (_BASE, _changed(phase="Stopped"), 0.0),
        (_BASE, _changed(attempt=2), 0.0),
        (_BASE, _changed(observedGeneration=2), 0.0),
        (_BASE, _changed(conditions=[{"type": "Ready", "status": "False"}]), 0.0),
        # Only the Normal event count: waits for a write that happens anyway.
        (_BASE, _changed(events={"warnings": 0, "total": 2}), 600.0),
        (_BASE, _changed(events={"warnings": 0, "total": 0}), 600.0),
        # A warning is a detail: the short delay only.
        (_BASE, _changed(events={"warnings": 1, "total": 2}), 1.0),
        # Counts together with another detail: the short delay.
        (_BASE, _changed(events={"warnings": 0, "total": 2}, message="Pulling."), 1.0),
        (_BASE, _changed(podName="jc-lab-2"), 1.0),
        # ... and with a milestone: at once.
        (_BASE, _changed(events={"warnings": 0, "total": 2}, phase="Failed"), 0.0),
    ],
)
def test_write_delay(stored: dict[str, Any], desired: dict[str, Any], delay: float | None) -> None:
    assert write_delay(stored, desired, detail_delay=1.0, count_delay=600.0) == delay


def test_the_count_delay_is_never_shorter_than_the_detail_delay() -> None:
    counts = _changed(events={"warnings": 0, "total": 2})
    assert write_delay(_BASE, counts, detail_delay=5.0, count_delay=0.0) == 5.0
    assert write_delay(_BASE, counts, detail_delay=1.0) == EVENT_COUNT_DELAY
