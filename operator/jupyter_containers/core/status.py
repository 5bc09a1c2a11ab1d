"""A JupyterContainer's status: the verdict of its attempt in, the whole status object out.

Pure. The one place status and its conditions are built; `build_status` writes through
`JupyterContainerStatus` (the CRD's own model), so the writer and the schema cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jupyter_containers.api.models import JupyterContainerStatus, Phase, Reason
from jupyter_containers.core.bounds import bound_status
from jupyter_containers.core.lifecycle import Verdict


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


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
    storage: Mapping[str, Any] | None = None
    """status.storage (core.volume_size), None without an On Demand PVC."""
    #: The image the attempt runs (None: keep the previous status's).
    image: str | None = None


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
        # Set only while a failed request waits for its retry (core.faults).
        "retryAt": None,
        "storage": dict(inputs.storage) if inputs.storage else None,
    }
    status["image"] = inputs.image or previous.get("image")
    # Every string within its CRD maxLength first (bounds), or the write would be refused;
    # then through the CRD's own model: a field the schema does not have, or a value it would
    # refuse, fails here (naming the field) instead of at the API server. Unset stays unset
    # and None stays None (a merge patch then removes the field).
    bounded = bound_status(status)
    return JupyterContainerStatus.model_validate(bounded).model_dump(
        mode="json", exclude_unset=True
    )


def status_differs(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """True when writing `desired` would change what is stored (None means absent)."""
    for key, value in desired.items():
        if value is None:
            if current.get(key) is not None:
                return True
        elif current.get(key) != value:
            return True
    return False


# ---------------------------------------------------------------- when to write

#: How long a change of the Normal event count alone may wait for a status write that happens
#: anyway (a phase change, a warning, a progress message). The scheduler's `Scheduled` Event
#: can arrive after the pod is Ready (at once on kwok; BENCHMARKS.md): written on its own, it
#: was a quarter of a status write per container. Warnings are never held this long: the
#: badge of warnings is what a user acts on. The operator's own process keeps the timer, so a
#: restart begins it again. A minute: a count a person reads (the console's Events) must not
#: trail for long; a CI run once saw a new attempt's one Normal event uncounted.
EVENT_COUNT_DELAY = 60.0


def milestone(status: Mapping[str, Any]) -> tuple[Any, ...]:
    """What clients wait for (phase, kstatus conditions, observedGeneration): never held back."""
    conditions = sorted(
        (str(c.get("type")), str(c.get("status"))) for c in status.get("conditions") or []
    )
    return (
        status.get("phase"),
        status.get("attempt"),
        status.get("observedGeneration"),
        tuple(conditions),
    )


def _only_normal_events_differ(stored: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    rest = {k: v for k, v in desired.items() if k != "events"}
    if status_differs(stored, rest):
        return False
    old, new = stored.get("events") or {}, desired.get("events") or {}
    return int(old.get("warnings", 0)) == int(new.get("warnings", 0))


def write_delay(
    stored: Mapping[str, Any],
    desired: Mapping[str, Any],
    *,
    detail_delay: float,
    count_delay: float = EVENT_COUNT_DELAY,
) -> float | None:
    """How long writing `desired` over `stored` may wait after the change was first seen.

    None: nothing to write. 0: at once (a first status, a milestone). `count_delay`: only the
    count of Normal events changed, so it waits for the next write that happens anyway, at
    most that long. `detail_delay`: any other detail (a message, a pod name, a warning), so
    the changes of a burst go out in one write.
    """
    if not status_differs(stored, desired):
        return None
    if not stored or milestone(stored) != milestone(desired):
        return 0.0
    if _only_normal_events_differ(stored, desired):
        return max(count_delay, detail_delay)
    return detail_delay


# ---------------------------------------------------------------- conditions

MANAGED_CONDITIONS = frozenset({"Ready", "Reconciling", "Stalled"})


def ready_condition(
    verdict: Verdict,
    generation: int,
    now_iso: str,
    previous_conditions: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """kstatus-compatible conditions for a verdict.

    `Ready` is always present (True only when Active and ready), so `kubectl wait
    --for=condition=Ready` works; `Reconciling` is present only while Starting (or
    Active and recovering), `Stalled` only when Failed: both are abnormal-true
    conditions, absent means False. Other condition types are kept as they are.
    lastTransitionTime changes only when a condition's status changes.
    """
    ready = verdict.phase == Phase.ACTIVE and verdict.reason == Reason.READY
    wanted: list[tuple[str, str]] = [("Ready", "True" if ready else "False")]
    if verdict.phase == Phase.STARTING or (verdict.phase == Phase.ACTIVE and not ready):
        wanted.append(("Reconciling", "True"))
    if verdict.phase == Phase.FAILED:
        wanted.append(("Stalled", "True"))
    before = {c.get("type"): c for c in previous_conditions}
    out: list[dict[str, Any]] = []
    for type_, status in wanted:
        old = before.get(type_)
        since = (old or {}).get("lastTransitionTime")
        out.append(
            {
                "type": type_,
                "status": status,
                "reason": str(verdict.reason),
                "message": verdict.message,
                "observedGeneration": generation,
                "lastTransitionTime": since
                if old and old.get("status") == status and since
                else now_iso,
            }
        )
    out.extend(dict(c) for c in previous_conditions if c.get("type") not in MANAGED_CONDITIONS)
    return out
