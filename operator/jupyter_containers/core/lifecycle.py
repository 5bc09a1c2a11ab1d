"""The lifecycle of one start attempt: observed Deployment/pods/PVC in, a Verdict out.

Pure: no clock reads (`AttemptFacts.now`), no I/O. The shell calls `decide` on every
watch event of the container's objects and, when a Verdict has `recheck_after`,
once more at that time, because only a deadline can change the answer then.

Precedence, first match wins (each rule is a row of tests/unit/test_lifecycle.py):

1. `running: false` -> Stopped (from any phase: terminate works while Starting).
2. The attempt already Failed -> the same Failed verdict (sticky until a new attempt).
3. A hard failure of a live pod of the attempt, newest pod first -> Failed. It beats
   readiness: a container that crashed and was restarted may be ready again, but it
   did crash. Pod Failed (evicted, ...) is checked before its containers, whose
   states only echo it. Within a container: InvalidImageName, image pull (past
   `image_pull_grace_seconds`), CreateContainerConfigError, Create/RunContainerError,
   then crashes once `crash_restart_threshold` error exits are reached: OOMKilled
   (state or lastState) before CrashLoopBackOff before other error exits.
4. A ready pod -> Active.
5. No live pod: the Deployment could not create one -> Failed when the refusal is
   permanent (exceeded quota, PodSecurity, LimitRange); quota beats "no pod yet".
6. Progress of the newest live pod: waiting for its volume (-> VolumeFailed past
   `pvc_bind_grace_seconds`), being scheduled (-> Unschedulable past
   `unschedulable_grace_seconds`), pulling the image, starting the container.
7. Still Starting `start_deadline_seconds` after the attempt began -> Failed.

An attempt that was Active stays Active until it fails or stops (the manual's table
has no Active -> Starting): while its pod is replaced or not ready, the phase stays
Active with a progress reason (the Ready condition is then False), rules 3, 5 and
the graces of 6 still fail it, and the start deadline no longer applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from jupyter_containers.api.models import Phase, Reason
from jupyter_containers.core import naming
from jupyter_containers.core.settings import LifecycleSettings

MSG_STOPPED = "Terminated: Deployment and Service deleted; configuration, volume and token kept."
MSG_READY = "JupyterLab is running and ready."
MSG_DEPLOYING = "Creating the Deployment and its pod."
#: Status messages quote Kubernetes; a registry error can be long.
MAX_MESSAGE = 2048

PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff"})
CREATING = frozenset({"ContainerCreating", "PodInitializing"})
START_ERRORS = frozenset({"CreateContainerError", "RunContainerError"})
#: Pod creation refusals that retrying cannot fix (the ReplicaSet controller would retry forever).
PERMANENT_CREATE_REFUSALS = (
    "violates PodSecurity",
    "usage per Container is",
    "usage per Pod is",
)


@dataclass(frozen=True)
class Verdict:
    phase: Phase
    reason: Reason
    message: str
    #: Seconds until a deadline could change this verdict; None: only an event can.
    recheck_after: float | None = None


@dataclass(frozen=True)
class AttemptFacts:
    running: bool
    """spec.running."""
    attempt_started_at: datetime | None
    """When the current start attempt began (None: not started)."""
    deployment: Mapping[str, Any] | None
    """The Deployment as the API returns it."""
    pods: Sequence[Mapping[str, Any]]
    """Pods of the current attempt (their ATTEMPT_ANNOTATION matches)."""
    pvc: Mapping[str, Any] | None
    """The On Demand PVC, when the container has one."""
    pvc_required: bool
    now: datetime
    previous: Verdict | None
    """Verdict already recorded for this attempt (None on a new attempt)."""


# ---------------------------------------------------------------- small readers


def _get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _latest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


def _condition(obj: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    conditions: list[Mapping[str, Any]] = _get(obj, "status", "conditions") or []
    return next((c for c in conditions if c.get("type") == type_), None)


def _clip(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _quote(text: Any) -> str:
    """Kubernetes' own message, on one line and without a final full stop (we add ours)."""
    return " ".join(str(text or "").split()).rstrip(".")


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _container_name(o: AttemptFacts) -> str:
    """The JupyterContainer's name, from the labels of its objects (for command hints)."""
    for obj in (*o.pods, o.deployment, o.pvc):
        name = _get(obj, "metadata", "labels", naming.NAME_LABEL)
        if name:
            return str(name)
    return "NAME"


def _spec_container(pod: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    containers: list[Mapping[str, Any]] = [
        *(_get(pod, "spec", "containers") or []),
        *(_get(pod, "spec", "initContainers") or []),
    ]
    return next((c for c in containers if c.get("name") == name), {})


def _statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        *(_get(pod, "status", "initContainerStatuses") or []),
        *(_get(pod, "status", "containerStatuses") or []),
    ]


def _main_status(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    statuses: list[Mapping[str, Any]] = _get(pod, "status", "containerStatuses") or []
    main = (cs for cs in statuses if cs.get("name") == naming.CONTAINER_NAME)
    return next(main, statuses[0] if statuses else None)


def _is_error_exit(term: Mapping[str, Any] | None) -> bool:
    if not term:
        return False
    return term.get("reason") == "OOMKilled" or int(term.get("exitCode") or 0) != 0


def _exits(cs: Mapping[str, Any]) -> int:
    """Exits of a container so far: its restarts, plus the exit not yet restarted.

    The kubelet keeps only the last termination, so when that one was an error the
    earlier restarts are counted as errors too.
    """
    down = bool(_get(cs, "state", "terminated")) or (
        _get(cs, "state", "waiting", "reason") == "CrashLoopBackOff"
    )
    return int(cs.get("restartCount") or 0) + (1 if down else 0)


def _is_ready(pod: Mapping[str, Any]) -> bool:
    cond = _condition(pod, "Ready")
    if not cond or cond.get("status") != "True":
        return False
    main = _main_status(pod)
    return bool(main and main.get("ready"))


def _is_volume_message(message: str) -> bool:
    """Scheduler messages about PVCs/PVs ("unbound immediate PersistentVolumeClaims", ...)."""
    return "volume" in message.lower()


# ---------------------------------------------------------------- the rules


@dataclass(frozen=True)
class _Judging:
    o: AttemptFacts
    s: LifecycleSettings
    name: str
    was_active: bool

    def elapsed(self, since: datetime | None) -> float:
        return 0.0 if since is None else (self.o.now - since).total_seconds()

    def start_remaining(self) -> float | None:
        if self.was_active or self.o.attempt_started_at is None:
            return None
        return self.s.start_deadline_seconds - self.elapsed(self.o.attempt_started_at)

    def recheck(self, *remaining: float | None) -> float | None:
        candidates = [r for r in (*remaining, self.start_remaining()) if r is not None]
        return max(min(candidates), 0.0) if candidates else None


def _failed(reason: Reason, message: str) -> Verdict:
    return Verdict(Phase.FAILED, reason, _clip(message))


def _starting(reason: Reason, message: str, recheck: float | None) -> Verdict:
    return Verdict(Phase.STARTING, reason, _clip(message), recheck)


def _pod_failure(ctx: _Judging, pod: Mapping[str, Any]) -> Verdict | None:
    pod_name = _get(pod, "metadata", "name") or "?"
    if _get(pod, "status", "phase") == "Failed":
        why = _get(pod, "status", "reason") or "Failed"
        detail = _quote(_get(pod, "status", "message")) or "no message from Kubernetes"
        return _failed(
            Reason.POD_FAILED,
            f"Pod {pod_name} failed ({why}): {detail}. Start the container again; "
            f"see `kubectl jupyter events {ctx.name}` for what happened before.",
        )
    for cs in _statuses(pod):
        verdict = _container_failure(ctx, pod, cs)
        if verdict is not None:
            return verdict
    return None


def _container_failure(
    ctx: _Judging, pod: Mapping[str, Any], cs: Mapping[str, Any]
) -> Verdict | None:
    cname = cs.get("name") or "?"
    spec = _spec_container(pod, cname)
    image = spec.get("image") or cs.get("image") or "?"
    which = "JupyterLab" if cname == naming.CONTAINER_NAME else f"Container {cname}"
    waiting = _get(cs, "state", "waiting") or {}
    reason = waiting.get("reason")
    verdict = _waiting_failure(ctx, pod, which, image, reason, _quote(waiting.get("message")))
    if verdict is not None:
        return verdict
    return _crash_failure(ctx, cs, spec, which, reason)


def _waiting_failure(
    ctx: _Judging, pod: Mapping[str, Any], which: str, image: str, reason: Any, k8s: str
) -> Verdict | None:
    """A container that cannot start: its image, its configuration, the runtime."""
    if reason == "InvalidImageName":
        return _failed(
            Reason.INVALID_IMAGE,
            f"Image name {image!r} is invalid: {k8s or reason}. Fix spec.image, then start "
            "the container again.",
        )
    if reason in PULL_ERRORS:
        since = _latest(ctx.o.attempt_started_at, _time(_get(pod, "metadata", "creationTimestamp")))
        if ctx.elapsed(since) >= ctx.s.image_pull_grace_seconds:
            return _failed(
                Reason.IMAGE_PULL_FAILED,
                f"Cannot pull image {image!r} ({reason}): {k8s or 'no message from Kubernetes'}. "
                "Check the image name and registry credentials, then start the container again.",
            )
    if reason == "CreateContainerConfigError":
        return _failed(
            Reason.CONFIG_ERROR,
            f"{which} cannot be created ({reason}): {k8s or 'no message from Kubernetes'}. "
            f"Create the Secret or key in namespace {_get(pod, 'metadata', 'namespace')} or fix "
            "spec.env, then start the container again.",
        )
    if reason in START_ERRORS:
        return _failed(
            Reason.CONTAINER_ERROR,
            f"{which} could not be started ({reason}): {k8s or 'no message from Kubernetes'}. "
            "Check that the image is a Jupyter Docker Stacks image (it runs start-notebook.py) "
            "and fix spec.image or spec.args, then start the container again.",
        )
    return None


def _crash_failure(
    ctx: _Judging, cs: Mapping[str, Any], spec: Mapping[str, Any], which: str, reason: Any
) -> Verdict | None:
    """Error exits, once `crash_restart_threshold` of them are reached."""
    term = _get(cs, "state", "terminated")
    last = _get(cs, "lastState", "terminated")
    crashing = reason == "CrashLoopBackOff" or _is_error_exit(term) or _is_error_exit(last)
    exits = _exits(cs)
    if not crashing or exits < ctx.s.crash_restart_threshold:
        return None
    latest = term or last or {}
    code = latest.get("exitCode")
    how = f"exit code {code} ({latest.get('reason') or 'no reason'})" if latest else "no exit code"
    restarts = int(cs.get("restartCount") or 0)
    logs = f"See `kubectl jupyter logs {ctx.name} --previous`"
    oom = next((t for t in (term, last) if t and t.get("reason") == "OOMKilled"), None)
    if oom is not None:
        limit = _get(spec, "resources", "limits", "memory") or "its"
        return _failed(
            Reason.OOM_KILLED,
            f"{which} ran out of memory and was killed (OOMKilled, exit code "
            f"{oom.get('exitCode', 137)}) at the {limit} memory limit of its instance type. "
            "Choose a larger instance type or use less memory, then start the container again.",
        )
    if reason == "CrashLoopBackOff":
        return _failed(
            Reason.CRASH_LOOP,
            f"{which} keeps crashing (CrashLoopBackOff, {restarts} restart(s)); last exit: "
            f"{how}. {logs}, fix the cause, then start the container again.",
        )
    detail = _quote(latest.get("message"))
    return _failed(
        Reason.CONTAINER_ERROR,
        f"{which} exited with {how}{': ' + detail if detail else ''}. {logs}, fix the cause, "
        "then start the container again.",
    )


def _create_failure(ctx: _Judging) -> Verdict | None:
    """The Deployment's pods were refused (ReplicaFailure/FailedCreate), if for good."""
    dep = ctx.o.deployment
    if dep is None:
        return None
    # Conditions of a status older than the spec belong to an earlier attempt.
    if int(_get(dep, "status", "observedGeneration") or 0) < int(
        _get(dep, "metadata", "generation") or 0
    ):
        return None
    cond = _condition(dep, "ReplicaFailure")
    if not cond or cond.get("status") != "True" or cond.get("reason") != "FailedCreate":
        return None
    k8s = _quote(cond.get("message"))
    ns = _get(dep, "metadata", "namespace")
    if "exceeded quota" in k8s:
        return _failed(
            Reason.QUOTA_EXCEEDED,
            f"The pod exceeds the ResourceQuota of namespace {ns}: {k8s}. Choose a smaller "
            "instance type, stop another container, or ask for a larger quota; then start "
            "the container again.",
        )
    if any(marker in k8s for marker in PERMANENT_CREATE_REFUSALS):
        return _failed(
            Reason.POD_FAILED,
            f"Kubernetes refused to create the pod in namespace {ns}: {k8s}. Ask an "
            "administrator about the namespace's policy, or choose another instance type, "
            "volume or namespace.",
        )
    return None


def _volume_wait(ctx: _Judging, scheduler_message: str) -> Verdict:
    pvc = ctx.o.pvc
    pvc_name = _get(pvc, "metadata", "name")
    since = _latest(ctx.o.attempt_started_at, _time(_get(pvc, "metadata", "creationTimestamp")))
    waited = ctx.elapsed(since)
    if pvc is None:
        state = "the PersistentVolumeClaim does not exist yet"
    else:
        state = f"PersistentVolumeClaim {pvc_name} is {_get(pvc, 'status', 'phase') or 'Pending'}"
    detail = f" (scheduler: {_quote(scheduler_message)})" if scheduler_message else ""
    remaining = ctx.s.pvc_bind_grace_seconds - waited
    if remaining <= 0:
        return _failed(
            Reason.VOLUME_FAILED,
            f"The home volume is not ready after {_seconds(round(waited))}: {state}{detail}. "
            f"See `kubectl jupyter events {ctx.name}`; ask an administrator to check the "
            "volume's storage class and provisioner, or choose another volume.",
        )
    return _starting(
        Reason.WAITING_FOR_VOLUME,
        f"Waiting for the home volume: {state}{detail}.",
        ctx.recheck(remaining),
    )


def _unschedulable(ctx: _Judging, cond: Mapping[str, Any]) -> Verdict:
    since = _latest(ctx.o.attempt_started_at, _time(cond.get("lastTransitionTime")))
    waited = ctx.elapsed(since)
    k8s = _quote(cond.get("message")) or "no message from the scheduler"
    remaining = ctx.s.unschedulable_grace_seconds - waited
    if remaining <= 0:
        return _failed(
            Reason.UNSCHEDULABLE,
            f"No node can run the pod (unschedulable for {_seconds(round(waited))}): {k8s}. "
            "Choose a smaller instance type or ask an administrator for capacity, then start "
            "the container again.",
        )
    return _starting(
        Reason.SCHEDULING,
        f"Waiting for a node: {k8s} (fails after "
        f"{_seconds(ctx.s.unschedulable_grace_seconds)} unschedulable).",
        ctx.recheck(remaining),
    )


def _pvc_bound(o: AttemptFacts) -> bool:
    return not o.pvc_required or _get(o.pvc, "status", "phase") == "Bound"


def _progress(ctx: _Judging, live: Sequence[Mapping[str, Any]]) -> Verdict:
    o = ctx.o
    if o.pvc_required and _get(o.pvc, "status", "phase") == "Lost":
        return _failed(
            Reason.VOLUME_FAILED,
            f"PersistentVolumeClaim {_get(o.pvc, 'metadata', 'name')} lost its "
            "PersistentVolume: the data is gone from Kubernetes' view. Ask an administrator; "
            "choosing another volume creates a new, empty one.",
        )
    if not live:
        return _no_pod_yet(ctx)
    pod = live[0]
    scheduled_cond = _condition(pod, "PodScheduled")
    scheduled = bool(_get(pod, "spec", "nodeName")) or (
        scheduled_cond is not None and scheduled_cond.get("status") == "True"
    )
    if not scheduled:
        return _not_scheduled(ctx, scheduled_cond)
    return _on_its_node(ctx, pod)


def _no_pod_yet(ctx: _Judging) -> Verdict:
    o = ctx.o
    if not _pvc_bound(o):
        return _volume_wait(ctx, "")
    if o.deployment is None and o.attempt_started_at is None:
        return _starting(Reason.CREATED, "Created; the operator is deploying it.", None)
    cond = _condition(o.deployment, "ReplicaFailure")
    refused = (
        f" Kubernetes refused the pod so far: {_quote(cond.get('message'))}."
        if cond and cond.get("status") == "True"
        else ""
    )
    # One message whether or not the Deployment is observed yet: the step between the
    # two is milliseconds long and would cost a status write per container.
    return _starting(Reason.DEPLOYING, MSG_DEPLOYING + refused, ctx.recheck())


def _not_scheduled(ctx: _Judging, scheduled_cond: Mapping[str, Any] | None) -> Verdict:
    message = str((scheduled_cond or {}).get("message") or "")
    unschedulable = (scheduled_cond or {}).get("reason") == "Unschedulable"
    if (unschedulable and _is_volume_message(message)) or (
        not unschedulable and not _pvc_bound(ctx.o)
    ):
        return _volume_wait(ctx, message)
    if unschedulable and scheduled_cond is not None:
        return _unschedulable(ctx, scheduled_cond)
    return _starting(
        Reason.SCHEDULING, "Waiting for the scheduler to place the pod.", ctx.recheck()
    )


def _on_its_node(ctx: _Judging, pod: Mapping[str, Any]) -> Verdict:
    """Progress of a scheduled pod: pulling, restarting, waiting, starting."""
    o = ctx.o
    node = _get(pod, "spec", "nodeName")
    on_node = f" on node {node}" if node else ""
    cs = _main_status(pod)
    image = _spec_container(pod, naming.CONTAINER_NAME).get("image") or _get(cs, "image") or "?"
    waiting = _get(cs, "state", "waiting") or {}
    reason = waiting.get("reason")
    if cs is None or reason in CREATING:
        return _starting(
            Reason.PULLING_IMAGE,
            f"Pulling image {image!r} and mounting volumes{on_node}.",
            ctx.recheck(),
        )
    if reason in PULL_ERRORS:
        since = _latest(o.attempt_started_at, _time(_get(pod, "metadata", "creationTimestamp")))
        remaining = ctx.s.image_pull_grace_seconds - ctx.elapsed(since)
        return _starting(
            Reason.PULLING_IMAGE,
            f"Pulling image {image!r} failed ({reason}: {_quote(waiting.get('message'))}); "
            f"retrying for up to {_seconds(ctx.s.image_pull_grace_seconds)}.",
            ctx.recheck(remaining),
        )
    last = _get(cs, "state", "terminated") or _get(cs, "lastState", "terminated")
    if last:
        # A clean exit, or a crash below crash_restart_threshold: the kubelet restarts it.
        text = f"JupyterLab exited with code {last.get('exitCode')} and is restarting"
        if _is_error_exit(last):
            text += f" (crash {_exits(cs)}; Failed at {ctx.s.crash_restart_threshold})"
        return _starting(Reason.CONTAINER_STARTING, f"{text}{on_node}.", ctx.recheck())
    if reason:
        detail = _quote(waiting.get("message"))
        return _starting(
            Reason.CONTAINER_STARTING,
            f"JupyterLab is waiting ({reason}{': ' + detail if detail else ''}){on_node}.",
            ctx.recheck(),
        )
    return _starting(
        Reason.CONTAINER_STARTING,
        f"JupyterLab is starting{on_node}; waiting for it to answer its readiness probe.",
        ctx.recheck(),
    )


def decide(observed: AttemptFacts, settings: LifecycleSettings) -> Verdict:
    """The phase, reason and message of the current start attempt (see the module docstring)."""
    o = observed
    if not o.running:
        return Verdict(Phase.STOPPED, Reason.STOPPED, MSG_STOPPED)
    if o.previous is not None and o.previous.phase == Phase.FAILED:
        return replace(o.previous, recheck_after=None)
    ctx = _Judging(
        o=o,
        s=settings,
        name=_container_name(o),
        was_active=o.previous is not None and o.previous.phase == Phase.ACTIVE,
    )
    # Pods being deleted were stopped on purpose: their exit codes are not failures.
    live = sorted(
        (p for p in o.pods if not _get(p, "metadata", "deletionTimestamp")),
        key=lambda p: _get(p, "metadata", "creationTimestamp") or "",
        reverse=True,
    )
    for pod in live:
        failure = _pod_failure(ctx, pod)
        if failure is not None:
            return failure
    if any(_is_ready(p) for p in live):
        return Verdict(Phase.ACTIVE, Reason.READY, MSG_READY)
    if not live:
        refused = _create_failure(ctx)
        if refused is not None:
            return refused
    progress = _progress(ctx, live)
    if progress.phase == Phase.FAILED:
        return progress
    if ctx.was_active:
        return Verdict(
            Phase.ACTIVE,
            progress.reason,
            _clip(f"JupyterLab is not ready at the moment. {progress.message}"),
            progress.recheck_after,
        )
    remaining = ctx.start_remaining()
    if remaining is not None and remaining <= 0:
        return _failed(
            Reason.START_DEADLINE_EXCEEDED,
            f"JupyterLab was not ready {_seconds(settings.start_deadline_seconds)} after the "
            f"start (still {progress.reason}: {progress.message}). See `kubectl jupyter events "
            f"{ctx.name}`, then start the container again.",
        )
    return progress
