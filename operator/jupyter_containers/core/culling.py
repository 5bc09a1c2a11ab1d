"""Idle culling and maximum lifetime, judged: facts in, keep (with the time left) or cull out.

Pure: no clock reads (`now` is an input), no I/O. The shell (`shell.culling`) probes each
Active container's JupyterLab, hands the answers here, and applies the judgement: a stop
through `spec.running: false` (the user's own terminate path) with an annotation naming the
reason, which `stopped_verdict` turns into the Stopped status's reason and message.

What counts as activity, from jupyter_server's REST API (its own bookkeeping, not the
browser's): a kernel's `last_activity` (every message on its iopub channel: output, status
changes, so any execution), a kernel whose `execution_state` is busy (a long `time.sleep`
sends nothing, yet is work), and a terminal's `last_activity` (its input and output). Not
`/api/status`'s `last_activity`: it also moves with every authenticated API request, so a
browser tab's polling, and this probe itself, would keep a container alive forever. Not
connections either: an open tab on an idle kernel is not activity.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jupyter_containers.api.culling_policy import CullingStatus, format_duration, parse_duration
from jupyter_containers.api.models import Phase, Reason
from jupyter_containers.core import naming
from jupyter_containers.core.lifecycle import Verdict

#: On the JupyterContainer, set with `spec.running: false` by the culler: why it stopped it.
STOPPED_BY_ANNOTATION = naming.STOPPED_BY_ANNOTATION
CULL_REASONS = (Reason.CULLED, Reason.LIFETIME_EXCEEDED)
MSG_KEPT = "configuration, volume and token kept; start it again to continue."


@dataclass(frozen=True)
class CullPolicy:
    """Seconds; None: that limit is off."""

    idle_timeout: float | None = None
    max_lifetime: float | None = None

    @property
    def enabled(self) -> bool:
        return self.idle_timeout is not None or self.max_lifetime is not None


def policy_for(
    instance_type: Mapping[str, Any] | None, default_idle: str, default_lifetime: str
) -> CullPolicy:
    """The InstanceType's `spec.culling` over the cluster defaults; '0s' (or unset) is off.

    A value that does not parse (the CRD checks it, so only a bypassed one) is off too:
    stopping someone's work on a misread limit is worse than not stopping it.
    """
    own = (instance_type or {}).get("culling") or {}

    def seconds(field: str, default: str) -> float | None:
        text = own.get(field) or default
        try:
            value = parse_duration(str(text), field)
        except ValueError:
            return None
        return value or None

    return CullPolicy(
        seconds("idleTimeout", default_idle), seconds("maxLifetime", default_lifetime)
    )


@dataclass(frozen=True)
class Activity:
    """One probe's answer: what JupyterLab's REST API says about its kernels and terminals."""

    probed_at: datetime
    last_activity: datetime | None
    """Latest kernel or terminal `last_activity`; None when there is none."""
    busy_kernels: int = 0
    kernels: int = 0
    terminals: int = 0
    connections: int = 0
    server_started: datetime | None = None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def activity_from_api(
    kernels: Sequence[Mapping[str, Any]],
    terminals: Sequence[Mapping[str, Any]],
    server: Mapping[str, Any],
    probed_at: datetime,
) -> Activity:
    """`GET api/kernels`, `api/terminals` and `api/status` answers -> Activity.

    `server["last_activity"]` is deliberately ignored (see the module docstring).
    """
    times = [_time(k.get("last_activity")) for k in kernels]
    times += [_time(t.get("last_activity")) for t in terminals]
    seen = [t for t in times if t is not None]
    busy = sum(1 for k in kernels if k.get("execution_state") == "busy")
    connections = server.get("connections")
    return Activity(
        probed_at=probed_at,
        last_activity=max(seen) if seen else None,
        busy_kernels=busy,
        kernels=len(kernels),
        terminals=len(terminals),
        connections=connections if isinstance(connections, int) else 0,
        server_started=_time(server.get("started")),
    )


def latest_activity(previous: datetime | None, activity: Activity) -> datetime | None:
    """The latest activity known after this probe: a busy kernel is activity now; a kernel
    shut down takes its `last_activity` with it, so the previous answer is kept."""
    candidates = [previous, activity.last_activity]
    if activity.busy_kernels:
        candidates.append(activity.probed_at)
    known = [t for t in candidates if t is not None]
    return max(known) if known else None


@dataclass(frozen=True)
class CullFacts:
    policy: CullPolicy
    active_since: datetime
    """When the container became Active (status.readyAt): the lifetime's and idleness's start."""
    last_activity: datetime | None
    """`latest_activity` so far (None: none seen)."""
    reachable: bool
    """The latest probe was answered. Not answering is never a reason to cull as idle."""
    now: datetime


@dataclass(frozen=True)
class Keep:
    cull_at: datetime | None
    """When it is stopped if nothing happens (None: not while JupyterLab does not answer and
    no lifetime is set)."""
    cull_reason: Reason | None
    last_activity: datetime


@dataclass(frozen=True)
class Cull:
    reason: Reason
    message: str


def judge(facts: CullFacts) -> Keep | Cull:
    """Keep (and until when) or cull (the reason and the status message)."""
    policy, now = facts.policy, facts.now
    last = max(t for t in (facts.active_since, facts.last_activity) if t is not None)
    deadlines: list[tuple[datetime, Reason]] = []
    if policy.max_lifetime is not None:
        end = facts.active_since + timedelta(seconds=policy.max_lifetime)
        if now >= end:
            return Cull(
                Reason.LIFETIME_EXCEEDED,
                f"Stopped after its maximum lifetime of {format_duration(policy.max_lifetime)} "
                f"(Active since {_iso(facts.active_since)}): {MSG_KEPT}",
            )
        deadlines.append((end, Reason.LIFETIME_EXCEEDED))
    if policy.idle_timeout is not None and facts.reachable:
        idle = (now - last).total_seconds()
        if idle >= policy.idle_timeout:
            return Cull(
                Reason.CULLED,
                f"Culled: idle for {format_duration(idle)} (idle timeout "
                f"{format_duration(policy.idle_timeout)}; no kernel busy, no kernel or terminal "
                f"activity since {_iso(last)}): {MSG_KEPT}",
            )
        deadlines.append((last + timedelta(seconds=policy.idle_timeout), Reason.CULLED))
    if not deadlines:
        return Keep(None, None, last)
    cull_at, reason = min(deadlines)
    return Keep(cull_at, reason, last)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- status.culling


def culling_status(policy: CullPolicy, keep: Keep, reachable: bool) -> dict[str, Any]:
    """`status.culling` for a kept container (every field present: a merge patch then
    replaces the whole block)."""
    block = {
        "idleTimeout": _duration(policy.idle_timeout),
        "maxLifetime": _duration(policy.max_lifetime),
        "lastActivity": _iso(keep.last_activity),
        "cullAt": _iso(keep.cull_at) if keep.cull_at else None,
        "cullReason": str(keep.cull_reason) if keep.cull_reason else None,
        "activityUnknown": True if not reachable else None,
    }
    CullingStatus.model_validate({k: v for k, v in block.items() if v is not None})
    return block


def _duration(seconds: float | None) -> str | None:
    return format_duration(seconds) if seconds is not None else None


def write_granularity(policy: CullPolicy) -> float:
    """How far cullAt may move later before it is written again: a tenth of the idle timeout,
    at least 1 s, at most 5 min. Activity only ever moves it later, so the stored value is a
    lower bound of the time left, and a busy container costs a status write every few minutes,
    not one per probe."""
    base = policy.idle_timeout if policy.idle_timeout is not None else policy.max_lifetime
    return min(max((base or 0) / 10, 1.0), 300.0)


def status_needs_write(
    stored: Mapping[str, Any] | None, desired: Mapping[str, Any], granularity: float
) -> bool:
    """Write when anything but lastActivity/cullAt changed, when cullAt moved earlier, or when
    it moved later by at least `granularity` seconds."""
    if not stored:
        return True
    for key, value in desired.items():
        if key in ("lastActivity", "cullAt"):
            continue
        if stored.get(key) != value:
            return True
    old, new = _time(stored.get("cullAt")), _time(desired.get("cullAt"))
    if old is None or new is None:
        return old != new
    moved = (new - old).total_seconds()
    return moved < 0 or moved >= granularity


# ---------------------------------------------------------------- the stop and its status


def stop_annotation(cull: Cull, attempt: int) -> str:
    """The annotation value the culler sets with `spec.running: false`."""
    return json.dumps(
        {"reason": str(cull.reason), "message": cull.message, "attempt": attempt},
        separators=(",", ":"),
    )


def stopped_verdict(annotation: str | None, attempt: int, verdict: Verdict) -> Verdict:
    """A terminate the culler made shows its reason and message instead of the user's.

    Only for the attempt it stopped: starting again is a new attempt, so a later terminate by
    the user reads as the user's. A value that does not parse (set by hand) is ignored.
    """
    if verdict.phase != Phase.STOPPED or verdict.reason != Reason.STOPPED:
        return verdict
    try:
        data = json.loads(annotation) if isinstance(annotation, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("attempt") != attempt:
        return verdict
    reason, message = data.get("reason"), data.get("message")
    if reason not in CULL_REASONS or not isinstance(message, str) or not message:
        return verdict
    return Verdict(Phase.STOPPED, Reason(reason), message[:1024])


# ---------------------------------------------------------------- what users read


def summary(status: Mapping[str, Any]) -> str | None:
    """The Culling line of a container's details (the console's): for a container the culler
    stopped, its message; for one running under a limit, the limits, when it stops if nothing
    happens and the latest activity (absolute times: a page shown for a while stays true)."""
    if status.get("phase") == Phase.STOPPED and status.get("reason") in CULL_REASONS:
        return str(status.get("message") or status.get("reason"))
    block = status.get("culling") or {}
    if status.get("phase") != Phase.ACTIVE or not block:
        return None
    limits = [
        f"{label} {block[key]}"
        for label, key in (("idle timeout", "idleTimeout"), ("maximum lifetime", "maxLifetime"))
        if block.get(key)
    ]
    parts = [", ".join(limits)]
    if block.get("cullAt"):
        how = "if idle until then" if block.get("cullReason") == Reason.CULLED else "its lifetime"
        parts.append(f"stopped at {block['cullAt']} ({how})")
    if block.get("lastActivity"):
        parts.append(f"latest activity {block['lastActivity']}")
    if block.get("activityUnknown"):
        parts.append("JupyterLab does not answer the activity probe: not culled as idle")
    return "; ".join(p for p in parts if p)
