"""Pure assembly of a JupyterContainer's status from a lifecycle verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_containers.api.models import Phase
from jupyter_containers.core.lifecycle import Verdict, ready_condition


@dataclass(frozen=True)
class StatusInputs:
    verdict: Verdict
    generation: int
    now_iso: str
    attempt: int
    started_at: str | None
    start_request: str | None
    deployment_namespace: str
    instance: Mapping[str, Any] | None
    volume_display: str
    created_by: str | None
    events: Mapping[str, int]
    pod_name: str | None
    pvc_name: str | None
    service_name: str | None
    token_secret: str | None


def build_status(inputs: StatusInputs, previous: Mapping[str, Any]) -> dict[str, Any]:
    """The whole status object. Times of earlier transitions are kept from `previous`."""
    v = inputs.verdict
    same_phase = previous.get("phase") == v.phase and previous.get("attempt") == inputs.attempt
    ready_at = previous.get("readyAt") if previous.get("attempt") == inputs.attempt else None
    if v.phase == Phase.ACTIVE and not (same_phase and ready_at):
        ready_at = inputs.now_iso
    stopped_at = previous.get("stoppedAt")
    if v.phase == Phase.STOPPED and previous.get("phase") != Phase.STOPPED:
        stopped_at = inputs.now_iso
    status: dict[str, Any] = {
        "phase": str(v.phase),
        "reason": str(v.reason),
        "message": v.message,
        "conditions": ready_condition(
            v, inputs.generation, inputs.now_iso, previous.get("conditions") or []
        ),
        "observedGeneration": inputs.generation,
        "instance": dict(inputs.instance) if inputs.instance else None,
        "volume": inputs.volume_display,
        "deploymentNamespace": inputs.deployment_namespace,
        "createdBy": inputs.created_by,
        "events": {
            "warnings": int(inputs.events.get("warnings", 0)),
            "total": int(inputs.events.get("total", 0)),
        },
        "podName": inputs.pod_name,
        "pvcName": inputs.pvc_name,
        "serviceName": inputs.service_name,
        "tokenSecret": inputs.token_secret,
        "startedAt": inputs.started_at,
        "readyAt": ready_at,
        "stoppedAt": stopped_at,
        "attempt": inputs.attempt,
        "startRequest": inputs.start_request,
    }
    return status


def status_differs(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """True when writing `desired` would change what is stored (None means absent)."""
    for key, value in desired.items():
        if value is None:
            if current.get(key) is not None:
                return True
        elif current.get(key) != value:
            return True
    return False
