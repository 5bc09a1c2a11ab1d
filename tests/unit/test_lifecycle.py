"""The lifecycle, one table row per rule. Pods and Deployments are shaped as a 1.34 kubelet
and the controllers write them (status.conditions, containerStatuses[].state/lastState)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jupyter_containers.api.models import Phase, Reason
from jupyter_containers.core.lifecycle import (
    MAX_MESSAGE,
    MSG_STOPPED,
    AttemptFacts,
    Verdict,
    decide,
)
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.status import ready_condition

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
IMAGE = "quay.io/jupyter/base-notebook:latest"
NODE = "kwok-node-0"
NAMESPACE = "team-a"
LABELS = {
    "app.kubernetes.io/name": "jupyterlab",
    "jupytercontainers.io/domain": "team-a",
    "jupytercontainers.io/name": "demo",
    "jupytercontainers.io/uid": "0b6f6a8e-2f1c-4c55-9d2c-3f1f2b9c1a11",
}
SETTINGS = Settings()


def ts(seconds: float) -> str:
    """An RFC 3339 time as the API server writes it: whole seconds."""
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- kubelet-shaped factories


def terminated(
    exit_code: int, reason: str, at: float = 5, message: str | None = None
) -> dict[str, Any]:
    t: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": ts(at - 3),
        "finishedAt": ts(at),
        "containerID": "containerd://" + "b" * 64,
    }
    if message:
        t["message"] = message
    return t


def cstatus(
    state: dict[str, Any],
    *,
    ready: bool = False,
    restarts: int = 0,
    last: dict[str, Any] | None = None,
    name: str = "jupyterlab",
) -> dict[str, Any]:
    created = "waiting" in state and state["waiting"]["reason"] in (
        "ContainerCreating",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
    )
    cs: dict[str, Any] = {
        "name": name,
        "image": IMAGE,
        "imageID": "" if created else "quay.io/jupyter/base-notebook@sha256:" + "a" * 64,
        "ready": ready,
        "started": "running" in state,
        "restartCount": restarts,
        "lastState": {"terminated": last} if last else {},
        "state": state,
    }
    if not created:
        cs["containerID"] = "containerd://" + "c" * 64
    return cs


def waiting(reason: str, message: str | None = None, **kw: Any) -> dict[str, Any]:
    w: dict[str, Any] = {"reason": reason}
    if message:
        w["message"] = message
    return cstatus({"waiting": w}, **kw)


def running(*, ready: bool = False, **kw: Any) -> dict[str, Any]:
    return cstatus({"running": {"startedAt": ts(4)}}, ready=ready, **kw)


def exited(exit_code: int, reason: str, **kw: Any) -> dict[str, Any]:
    return cstatus({"terminated": terminated(exit_code, reason)}, **kw)


def cond(
    type_: str, status: bool, at: float = 1, reason: str | None = None, msg: str = ""
) -> dict[str, Any]:
    c: dict[str, Any] = {
        "type": type_,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": ts(at),
    }
    if reason:
        c["reason"] = reason
    if msg:
        c["message"] = msg
    return c


def pod(
    container: dict[str, Any] | None = None,
    *,
    name: str = "jc-demo-6d5f8b7c9-x7k2p",
    created: float = 1,
    phase: str = "Pending",
    ready: bool | None = None,
    unschedulable: str | None = None,
    scheduled: bool = True,
    deleting: bool = False,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """A pod of the current attempt. `ready` defaults to the container's readiness."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "creationTimestamp": ts(created),
        "labels": {**LABELS, "pod-template-hash": "6d5f8b7c9"},
        "annotations": {"jupytercontainers.io/attempt": "1"},
    }
    if deleting:
        meta["deletionTimestamp"] = ts(30)
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "jupyterlab",
                "image": IMAGE,
                "resources": {
                    "limits": {"cpu": "1", "memory": "2Gi"},
                    "requests": {"cpu": "1", "memory": "2Gi"},
                },
            }
        ]
    }
    status: dict[str, Any] = {"phase": phase, "qosClass": "Guaranteed"}
    if unschedulable is not None:
        status["conditions"] = [
            cond("PodScheduled", False, at=created, reason="Unschedulable", msg=unschedulable)
        ]
    elif not scheduled:
        status["conditions"] = []
    else:
        spec["nodeName"] = NODE
        is_ready = bool(container and container["ready"]) if ready is None else ready
        unready = None if is_ready else "ContainersNotReady"
        status["conditions"] = [
            cond("PodReadyToStartContainers", container is not None),
            cond("Initialized", True),
            cond("Ready", is_ready, reason=unready),
            cond("ContainersReady", is_ready, reason=unready),
            cond("PodScheduled", True, at=created),
        ]
        status["hostIP"] = "10.0.0.1"
        status["startTime"] = ts(created)
        if container is not None:
            status["containerStatuses"] = [container]
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def deployment(
    *, generation: int = 1, observed: int = 1, failed_create: str | None = None
) -> dict[str, Any]:
    conditions = [
        cond("Available", False, reason="MinimumReplicasUnavailable"),
        cond("Progressing", True, reason="ReplicaSetUpdated"),
    ]
    if failed_create:
        conditions.append(cond("ReplicaFailure", True, reason="FailedCreate", msg=failed_create))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "jc-demo",
            "namespace": NAMESPACE,
            "generation": generation,
            "labels": LABELS,
        },
        "status": {
            "observedGeneration": observed,
            "replicas": 0 if failed_create else 1,
            "unavailableReplicas": 1,
            "conditions": conditions,
        },
    }


def pvc(phase: str = "Bound", created: float = -3600) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "jc-demo-home",
            "namespace": NAMESPACE,
            "creationTimestamp": ts(created),
            "labels": LABELS,
        },
        "status": {"phase": phase},
    }


def observed(
    *,
    at: float = 10,
    pods: list[dict[str, Any]] | None = None,
    dep: dict[str, Any] | str | None = "default",
    pvc_obj: dict[str, Any] | None = None,
    pvc_required: bool = False,
    previous: Verdict | None = None,
    running: bool = True,
    started: datetime | None = T0,
) -> AttemptFacts:
    return AttemptFacts(
        running=running,
        attempt_started_at=started,
        deployment=deployment() if dep == "default" else dep,  # type: ignore[arg-type]
        pods=pods or [],
        pvc=pvc_obj,
        pvc_required=pvc_required,
        now=T0 + timedelta(seconds=at),
        previous=previous,
    )


STARTING = Verdict(Phase.STARTING, Reason.PULLING_IMAGE, "Pulling image.")
ACTIVE = Verdict(Phase.ACTIVE, Reason.READY, "JupyterLab is running and ready.")
FAILED = Verdict(Phase.FAILED, Reason.CRASH_LOOP, "JupyterLab keeps crashing (...).")
STOPPED = Verdict(Phase.STOPPED, Reason.STOPPED, MSG_STOPPED)

QUOTA_MSG = (
    'pods "jc-demo-6d5f8b7c9-x7k2p" is forbidden: exceeded quota: compute, requested: '
    "limits.cpu=2,limits.memory=4Gi, used: limits.cpu=3,limits.memory=6Gi, limited: "
    "limits.cpu=4,limits.memory=8Gi"
)
PSS_MSG = (
    'pods "jc-demo-6d5f8b7c9-x7k2p" is forbidden: violates PodSecurity "restricted:latest": '
    'restricted volume types (volume "home" uses restricted volume type "nfs")'
)
SA_MSG = (
    'pods "jc-demo-6d5f8b7c9-x7k2p" is forbidden: error looking up service account '
    'team-a/default: serviceaccount "default" not found'
)
PULL_MSG = (
    'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nope:'
    'latest": failed to resolve reference "docker.io/library/nope:latest": not found'
)
NO_CPU = (
    "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
    "3 No preemption victims found for incoming pod."
)
NO_PVC = (
    "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: "
    "0/3 nodes are available: 3 Preemption is not helpful for scheduling."
)
EVICTED = (
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. "
    "Container jupyterlab was using 2Gi, request is 1Gi, has larger consumption of memory."
)


@dataclass(frozen=True)
class Row:
    observed: AttemptFacts
    phase: Phase
    reason: Reason
    says: tuple[str, ...] = ()
    recheck: float | str | None = "any"  # "any": not checked by this row
    settings: Settings = field(default_factory=lambda: SETTINGS)


ROWS: dict[str, Row] = {
    # ------------------------------------------------ the manual's lifecycle table
    "new->Starting (Deployment being created)": Row(
        observed(at=1, dep=None),
        Phase.STARTING,
        Reason.DEPLOYING,
        ("Creating the Deployment and its pod",),
        recheck=599,
    ),
    "new->Starting (no attempt yet)": Row(
        observed(at=1, dep=None, started=None), Phase.STARTING, Reason.CREATED, recheck=None
    ),
    "Starting->Active": Row(
        observed(pods=[pod(running(ready=True), phase="Running")], previous=STARTING),
        Phase.ACTIVE,
        Reason.READY,
        recheck=None,
    ),
    "Starting->Failed (pod fails to start)": Row(
        observed(pods=[pod(waiting("ErrImagePull", PULL_MSG))], previous=STARTING),
        Phase.FAILED,
        Reason.IMAGE_PULL_FAILED,
        recheck=None,
    ),
    "Active->Stopped": Row(
        observed(running=False, previous=ACTIVE, dep=None),
        Phase.STOPPED,
        Reason.STOPPED,
        (MSG_STOPPED,),
        recheck=None,
    ),
    "Active->Failed (runtime crash, restarted and ready again)": Row(
        observed(
            pods=[
                pod(running(ready=True, restarts=1, last=terminated(1, "Error")), phase="Running")
            ],
            previous=ACTIVE,
            at=3600,
        ),
        Phase.FAILED,
        Reason.CONTAINER_ERROR,
        ("exit code 1 (Error)", "kubectl jupyter logs demo --previous"),
    ),
    "Active->Failed (OOMKilled at runtime)": Row(
        observed(
            pods=[pod(waiting("CrashLoopBackOff", restarts=1, last=terminated(137, "OOMKilled")))],
            previous=ACTIVE,
            at=3600,
        ),
        Phase.FAILED,
        Reason.OOM_KILLED,
        ("2Gi memory limit", "larger instance type"),
    ),
    "Active->Failed (pod evicted)": Row(
        observed(
            pods=[pod(exited(137, "Error"), phase="Failed", reason="Evicted", message=EVICTED)],
            previous=ACTIVE,
            at=3600,
        ),
        Phase.FAILED,
        Reason.POD_FAILED,
        ("(Evicted)", "The node was low on resource: memory"),
    ),
    "Stopped->Starting (new attempt)": Row(
        observed(at=2, pods=[pod(waiting("ContainerCreating"))]),
        Phase.STARTING,
        Reason.PULLING_IMAGE,
        (IMAGE,),
        recheck=598,
    ),
    "Stopped previous does not stick once running": Row(
        observed(at=2, pods=[pod(waiting("ContainerCreating"))], previous=STOPPED),
        Phase.STARTING,
        Reason.PULLING_IMAGE,
    ),
    "Failed->Starting (new attempt: previous None)": Row(
        observed(at=1, pods=[pod(waiting("ContainerCreating"))], previous=None),
        Phase.STARTING,
        Reason.PULLING_IMAGE,
    ),
    "terminate while Starting": Row(
        observed(running=False, previous=STARTING, dep=None),
        Phase.STOPPED,
        Reason.STOPPED,
        (MSG_STOPPED,),
    ),
    "terminate while Failed": Row(
        observed(running=False, previous=FAILED, dep=None), Phase.STOPPED, Reason.STOPPED
    ),
    # ------------------------------------------------ every failure reason
    "ErrImagePull": Row(
        observed(pods=[pod(waiting("ErrImagePull", PULL_MSG))]),
        Phase.FAILED,
        Reason.IMAGE_PULL_FAILED,
        (f"'{IMAGE}'", "failed to resolve reference", "Check the image name and registry"),
    ),
    "ImagePullBackOff": Row(
        observed(pods=[pod(waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"'))]),
        Phase.FAILED,
        Reason.IMAGE_PULL_FAILED,
        ("ImagePullBackOff", "registry credentials"),
    ),
    "InvalidImageName": Row(
        observed(
            pods=[
                pod(
                    waiting(
                        "InvalidImageName",
                        'Failed to apply default image tag "Bad Image": couldn\'t parse image '
                        'name "Bad Image": invalid reference format',
                    )
                )
            ]
        ),
        Phase.FAILED,
        Reason.INVALID_IMAGE,
        ("invalid reference format", "Fix spec.image"),
    ),
    "CrashLoopBackOff": Row(
        observed(
            pods=[
                pod(
                    waiting(
                        "CrashLoopBackOff",
                        "back-off 10s restarting failed container=jupyterlab "
                        "pod=jc-demo-6d5f8b7c9-x7k2p_team-a",
                        restarts=1,
                        last=terminated(1, "Error"),
                    )
                )
            ]
        ),
        Phase.FAILED,
        Reason.CRASH_LOOP,
        ("exit code 1 (Error)", "kubectl jupyter logs demo --previous"),
    ),
    "CreateContainerConfigError (missing secret)": Row(
        observed(pods=[pod(waiting("CreateContainerConfigError", 'secret "db-creds" not found'))]),
        Phase.FAILED,
        Reason.CONFIG_ERROR,
        ('secret "db-creds" not found', "Create the Secret", "spec.env", NAMESPACE),
    ),
    "CreateContainerConfigError (missing key)": Row(
        observed(
            pods=[
                pod(
                    waiting(
                        "CreateContainerConfigError",
                        "couldn't find key password in Secret team-a/db-creds",
                    )
                )
            ]
        ),
        Phase.FAILED,
        Reason.CONFIG_ERROR,
        ("couldn't find key password",),
    ),
    "RunContainerError (not a Docker Stacks image)": Row(
        observed(
            pods=[
                pod(
                    waiting(
                        "RunContainerError",
                        "failed to create containerd task: exec: "
                        '"start-notebook.py": executable file not found in $PATH',
                    )
                )
            ]
        ),
        Phase.FAILED,
        Reason.CONTAINER_ERROR,
        ("start-notebook.py", "Docker Stacks"),
    ),
    "OOMKilled (state)": Row(
        observed(pods=[pod(exited(137, "OOMKilled"))]),
        Phase.FAILED,
        Reason.OOM_KILLED,
        ("OOMKilled", "exit code 137", "2Gi memory limit", "Choose a larger instance type"),
    ),
    "OOMKilled (lastState, running again)": Row(
        observed(pods=[pod(running(restarts=1, last=terminated(137, "OOMKilled")))]),
        Phase.FAILED,
        Reason.OOM_KILLED,
    ),
    "exit with error": Row(
        observed(pods=[pod(exited(2, "Error"))]),
        Phase.FAILED,
        Reason.CONTAINER_ERROR,
        ("exit code 2 (Error)", "kubectl jupyter logs demo --previous"),
    ),
    "pod Failed (evicted while starting)": Row(
        observed(pods=[pod(None, phase="Failed", reason="Evicted", message=EVICTED)]),
        Phase.FAILED,
        Reason.POD_FAILED,
        ("jc-demo-6d5f8b7c9-x7k2p", "Evicted", "Threshold quantity: 100Mi"),
    ),
    "quota refusal": Row(
        observed(dep=deployment(failed_create=QUOTA_MSG)),
        Phase.FAILED,
        Reason.QUOTA_EXCEEDED,
        (
            "requested: limits.cpu=2",
            "used: limits.cpu=3",
            "limited: limits.cpu=4",
            NAMESPACE,
            "smaller instance type",
        ),
    ),
    "PodSecurity refusal": Row(
        observed(dep=deployment(failed_create=PSS_MSG)),
        Phase.FAILED,
        Reason.POD_FAILED,
        ("violates PodSecurity", "refused to create the pod"),
    ),
    "unschedulable past the grace": Row(
        observed(at=61.1, pods=[pod(unschedulable=NO_CPU)]),
        Phase.FAILED,
        Reason.UNSCHEDULABLE,
        ("3 Insufficient cpu", "smaller instance type"),
    ),
    "unbound PVC past the grace (scheduler)": Row(
        observed(
            at=121, pods=[pod(unschedulable=NO_PVC)], pvc_obj=pvc("Pending"), pvc_required=True
        ),
        Phase.FAILED,
        Reason.VOLUME_FAILED,
        ("jc-demo-home is Pending", "unbound immediate PersistentVolumeClaims", "storage class"),
    ),
    "PVC Pending past the grace (no pod yet)": Row(
        observed(at=120, pvc_obj=pvc("Pending", created=0), pvc_required=True),
        Phase.FAILED,
        Reason.VOLUME_FAILED,
        ("Pending",),
    ),
    "PVC Lost": Row(
        observed(pods=[pod(unschedulable=NO_PVC)], pvc_obj=pvc("Lost"), pvc_required=True),
        Phase.FAILED,
        Reason.VOLUME_FAILED,
        ("lost its PersistentVolume",),
    ),
    "start deadline exceeded": Row(
        observed(at=600, pods=[pod(waiting("ContainerCreating"))]),
        Phase.FAILED,
        Reason.START_DEADLINE_EXCEEDED,
        ("600 s", "PullingImage", "kubectl jupyter events demo"),
    ),
    "start deadline exceeded (never ready)": Row(
        observed(at=700, pods=[pod(running(), phase="Running")]),
        Phase.FAILED,
        Reason.START_DEADLINE_EXCEEDED,
        ("ContainerStarting",),
    ),
    # ------------------------------------------------ progress reasons and their rechecks
    "Deploying (no pod yet)": Row(
        observed(at=3),
        Phase.STARTING,
        Reason.DEPLOYING,
        ("Creating the Deployment and its pod",),
        recheck=597,
    ),
    "Scheduling (scheduler has not answered)": Row(
        observed(at=3, pods=[pod(scheduled=False)]),
        Phase.STARTING,
        Reason.SCHEDULING,
        recheck=597,
    ),
    "Scheduling (unschedulable, before the grace)": Row(
        observed(at=30, pods=[pod(unschedulable=NO_CPU)]),
        Phase.STARTING,
        Reason.SCHEDULING,
        ("3 Insufficient cpu",),
        recheck=31,  # condition at 1 s + 60 s grace
    ),
    "Scheduling, just before the grace": Row(
        observed(at=60.9, pods=[pod(unschedulable=NO_CPU)]),
        Phase.STARTING,
        Reason.SCHEDULING,
        recheck=pytest.approx(0.1),  # type: ignore[arg-type]
    ),
    "WaitingForVolume (PVC not created yet)": Row(
        observed(at=5, pvc_required=True),
        Phase.STARTING,
        Reason.WAITING_FOR_VOLUME,
        ("does not exist yet",),
        recheck=115,
    ),
    "WaitingForVolume (scheduler waits for the PVC)": Row(
        observed(
            at=20,
            pods=[pod(unschedulable=NO_PVC)],
            pvc_obj=pvc("Pending", created=0),
            pvc_required=True,
        ),
        Phase.STARTING,
        Reason.WAITING_FOR_VOLUME,
        ("jc-demo-home is Pending",),
        recheck=100,
    ),
    "WaitingForVolume just before the grace": Row(
        observed(at=119, pvc_obj=pvc("Pending", created=0), pvc_required=True),
        Phase.STARTING,
        Reason.WAITING_FOR_VOLUME,
        recheck=1,
    ),
    "WaitForFirstConsumer PVC + no CPU is a scheduling problem": Row(
        observed(
            at=30,
            pods=[pod(unschedulable=NO_CPU)],
            pvc_obj=pvc("Pending", created=0),
            pvc_required=True,
        ),
        Phase.STARTING,
        Reason.SCHEDULING,
    ),
    "bound PVC, pod creating": Row(
        observed(at=5, pods=[pod(waiting("ContainerCreating"))], pvc_obj=pvc(), pvc_required=True),
        Phase.STARTING,
        Reason.PULLING_IMAGE,
        recheck=595,
    ),
    "PullingImage (scheduled, no container status yet)": Row(
        observed(at=2, pods=[pod(None)]),
        Phase.STARTING,
        Reason.PULLING_IMAGE,
        (NODE,),
        recheck=598,
    ),
    "PullingImage just before the deadline": Row(
        observed(at=599.5, pods=[pod(waiting("ContainerCreating"))]),
        Phase.STARTING,
        Reason.PULLING_IMAGE,
        recheck=0.5,
    ),
    "ContainerStarting (running, not ready)": Row(
        observed(at=8, pods=[pod(running(), phase="Running")]),
        Phase.STARTING,
        Reason.CONTAINER_STARTING,
        ("readiness probe",),
        recheck=592,
    ),
    "Ready condition True but container not ready is not Active": Row(
        observed(pods=[pod(running(ready=False), phase="Running", ready=True)]),
        Phase.STARTING,
        Reason.CONTAINER_STARTING,
    ),
    "clean exit (code 0) is not a failure": Row(
        observed(pods=[pod(running(restarts=1, last=terminated(0, "Completed")), phase="Running")]),
        Phase.STARTING,
        Reason.CONTAINER_STARTING,
        ("exited with code 0",),
    ),
    "FailedCreate that may pass (service account) keeps Deploying": Row(
        observed(at=4, dep=deployment(failed_create=SA_MSG)),
        Phase.STARTING,
        Reason.DEPLOYING,
        ('serviceaccount "default" not found',),
        recheck=596,
    ),
    "stale Deployment status: quota of an earlier attempt ignored": Row(
        observed(dep=deployment(generation=3, observed=2, failed_create=QUOTA_MSG)),
        Phase.STARTING,
        Reason.DEPLOYING,
    ),
    # ------------------------------------------------ settings
    "image pull within its grace": Row(
        observed(at=10, pods=[pod(waiting("ErrImagePull", PULL_MSG))]),
        Phase.STARTING,
        Reason.PULLING_IMAGE,
        ("failed to resolve reference", "retrying for up to 30 s"),
        recheck=21,  # from the pod's creation at 1 s
        settings=Settings(image_pull_grace_seconds=30),
    ),
    "image pull past its grace": Row(
        observed(at=31, pods=[pod(waiting("ErrImagePull", PULL_MSG))]),
        Phase.FAILED,
        Reason.IMAGE_PULL_FAILED,
        settings=Settings(image_pull_grace_seconds=30),
    ),
    "crash below the threshold restarts": Row(
        observed(pods=[pod(waiting("CrashLoopBackOff", restarts=1, last=terminated(1, "Error")))]),
        Phase.STARTING,
        Reason.CONTAINER_STARTING,
        ("crash 2; Failed at 3",),
        settings=Settings(crash_restart_threshold=3),
    ),
    "crash reaching the threshold fails": Row(
        observed(pods=[pod(waiting("CrashLoopBackOff", restarts=2, last=terminated(1, "Error")))]),
        Phase.FAILED,
        Reason.CRASH_LOOP,
        ("2 restart(s)",),
        settings=Settings(crash_restart_threshold=3),
    ),
    "custom start deadline": Row(
        observed(at=30, pods=[pod(running(), phase="Running")]),
        Phase.FAILED,
        Reason.START_DEADLINE_EXCEEDED,
        ("30 s",),
        settings=Settings(start_deadline_seconds=30),
    ),
    # ------------------------------------------------ stickiness
    "Failed is sticky: a ready pod of the same attempt": Row(
        observed(pods=[pod(running(ready=True), phase="Running")], previous=FAILED),
        Phase.FAILED,
        Reason.CRASH_LOOP,
        (FAILED.message,),
        recheck=None,
    ),
    "Failed is sticky: progress of the same attempt": Row(
        observed(pods=[pod(waiting("ContainerCreating"))], previous=FAILED),
        Phase.FAILED,
        Reason.CRASH_LOOP,
    ),
    "Active stays Active while its pod is replaced, past the start deadline": Row(
        observed(at=7200, pods=[pod(waiting("ContainerCreating"), created=7190)], previous=ACTIVE),
        Phase.ACTIVE,
        Reason.PULLING_IMAGE,
        ("not ready at the moment",),
        recheck=None,
    ),
    "Active stays Active during a readiness blip": Row(
        observed(at=7200, pods=[pod(running(), phase="Running")], previous=ACTIVE),
        Phase.ACTIVE,
        Reason.CONTAINER_STARTING,
    ),
    "Active, replacement pod unschedulable past the grace": Row(
        observed(at=7200, pods=[pod(unschedulable=NO_CPU, created=7100)], previous=ACTIVE),
        Phase.FAILED,
        Reason.UNSCHEDULABLE,
    ),
    "Active, replacement pod unschedulable within the grace": Row(
        observed(at=7110, pods=[pod(unschedulable=NO_CPU, created=7100)], previous=ACTIVE),
        Phase.ACTIVE,
        Reason.SCHEDULING,
        recheck=50,
    ),
    # ------------------------------------------------ precedence
    "hard failure beats readiness (newest pod failing)": Row(
        observed(
            pods=[
                pod(running(ready=True), phase="Running", name="jc-demo-6d5f8b7c9-old", created=1),
                pod(waiting("ErrImagePull", PULL_MSG), name="jc-demo-6d5f8b7c9-new", created=5),
            ]
        ),
        Phase.FAILED,
        Reason.IMAGE_PULL_FAILED,
    ),
    "OOMKilled beats CrashLoopBackOff": Row(
        observed(
            pods=[pod(waiting("CrashLoopBackOff", restarts=2, last=terminated(137, "OOMKilled")))]
        ),
        Phase.FAILED,
        Reason.OOM_KILLED,
    ),
    "pod Failed beats its containers' exit codes": Row(
        observed(
            pods=[pod(exited(137, "Error"), phase="Failed", reason="Evicted", message=EVICTED)]
        ),
        Phase.FAILED,
        Reason.POD_FAILED,
    ),
    "quota beats 'no pod'": Row(
        observed(at=3, dep=deployment(failed_create=QUOTA_MSG), pods=[]),
        Phase.FAILED,
        Reason.QUOTA_EXCEEDED,
    ),
    "a live pod beats a stale quota condition": Row(
        observed(dep=deployment(failed_create=QUOTA_MSG), pods=[pod(waiting("ContainerCreating"))]),
        Phase.STARTING,
        Reason.PULLING_IMAGE,
    ),
    "hard failure beats the start deadline": Row(
        observed(at=900, pods=[pod(waiting("CreateContainerConfigError", 'secret "x" not found'))]),
        Phase.FAILED,
        Reason.CONFIG_ERROR,
    ),
    "a pod being deleted is ignored (exit 143 is not a crash)": Row(
        observed(
            pods=[
                pod(exited(143, "Error"), deleting=True, name="jc-demo-6d5f8b7c9-old", created=1),
                pod(waiting("ContainerCreating"), name="jc-demo-6d5f8b7c9-new", created=6),
            ]
        ),
        Phase.STARTING,
        Reason.PULLING_IMAGE,
    ),
    "only pods being deleted: waiting for the new one": Row(
        observed(pods=[pod(exited(143, "Error"), deleting=True)]),
        Phase.STARTING,
        Reason.DEPLOYING,
    ),
}


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_decide(row: Row) -> None:
    v = decide(row.observed, row.settings)
    assert (v.phase, v.reason) == (row.phase, row.reason), v.message
    for text in row.says:
        assert text in v.message
    if row.recheck != "any":
        assert v.recheck_after == row.recheck
    if v.phase in (Phase.FAILED, Phase.STOPPED) or v.reason == Reason.READY:
        assert v.recheck_after is None


def test_every_reason_has_a_row() -> None:
    covered = {row.reason for row in ROWS.values()}
    # The shell's, not decide's.
    assert set(Reason) - covered == {
        Reason.INVALID_CONFIGURATION,
        Reason.SECRET_NOT_ALLOWED,
        Reason.REJECTED,
        Reason.RETRYING,
        Reason.NAMESPACE_NOT_ALLOWED,
        Reason.NAME_COLLISION,
        # The culler's (core/culling.py, rows in test_plan.py and test_culling.py).
        Reason.CULLED,
        Reason.LIFETIME_EXCEEDED,
    }


def test_sticky_failed_returns_the_recorded_verdict() -> None:
    previous = Verdict(Phase.FAILED, Reason.OOM_KILLED, "out of memory", recheck_after=3.0)
    v = decide(
        observed(pods=[pod(running(ready=True), phase="Running")], previous=previous), SETTINGS
    )
    assert v == Verdict(Phase.FAILED, Reason.OOM_KILLED, "out of memory", None)


def test_long_kubernetes_messages_are_clipped() -> None:
    o = observed(pods=[pod(waiting("ErrImagePull", "x" * 10_000))])
    v = decide(o, SETTINGS)
    assert v.reason == Reason.IMAGE_PULL_FAILED
    assert len(v.message) <= MAX_MESSAGE


def test_unschedulable_grace_counts_from_the_attempt_when_the_condition_is_older() -> None:
    # A condition time before the attempt (clock skew) must not shorten the grace.
    p = pod(unschedulable=NO_CPU)
    p["status"]["conditions"][0]["lastTransitionTime"] = ts(-500)
    v = decide(observed(at=30, pods=[p]), SETTINGS)
    assert (v.reason, v.recheck_after) == (Reason.SCHEDULING, 30)


def test_sidecar_failure_names_the_container() -> None:
    p = pod(waiting("ContainerCreating"))
    p["status"]["containerStatuses"].append(
        waiting("CreateContainerConfigError", 'configmap "mesh" not found', name="proxy")
    )
    v = decide(observed(pods=[p]), SETTINGS)
    assert v.reason == Reason.CONFIG_ERROR
    assert v.message.startswith("Container proxy cannot be created")


# ---------------------------------------------------------------- conditions


def by_type(conditions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions}


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (ACTIVE, {"Ready": "True"}),
        (STARTING, {"Ready": "False", "Reconciling": "True"}),
        (FAILED, {"Ready": "False", "Stalled": "True"}),
        (STOPPED, {"Ready": "False"}),
        (
            Verdict(Phase.ACTIVE, Reason.PULLING_IMAGE, "not ready at the moment"),
            {"Ready": "False", "Reconciling": "True"},
        ),
    ],
    ids=["active", "starting", "failed", "stopped", "active-recovering"],
)
def test_ready_condition_types(verdict: Verdict, expected: dict[str, str]) -> None:
    conditions = ready_condition(verdict, 4, ts(0), [])
    assert {c["type"]: c["status"] for c in conditions} == expected
    for c in conditions:
        assert c["reason"] == verdict.reason
        assert c["message"] == verdict.message
        assert c["observedGeneration"] == 4
        assert c["lastTransitionTime"] == ts(0)
    assert conditions[0]["type"] == "Ready"


def test_ready_condition_keeps_transition_time_when_status_unchanged() -> None:
    first = ready_condition(STARTING, 1, ts(0), [])
    again = ready_condition(
        Verdict(Phase.STARTING, Reason.CONTAINER_STARTING, "starting"), 1, ts(5), first
    )
    assert by_type(again)["Ready"]["lastTransitionTime"] == ts(0)
    assert by_type(again)["Reconciling"]["lastTransitionTime"] == ts(0)
    assert by_type(again)["Ready"]["reason"] == Reason.CONTAINER_STARTING

    active = ready_condition(ACTIVE, 1, ts(9), again)
    assert by_type(active)["Ready"] == {
        "type": "Ready",
        "status": "True",
        "reason": "Ready",
        "message": ACTIVE.message,
        "observedGeneration": 1,
        "lastTransitionTime": ts(9),
    }
    assert "Reconciling" not in by_type(active)

    failed = ready_condition(FAILED, 2, ts(20), active)
    assert by_type(failed)["Ready"]["lastTransitionTime"] == ts(20)
    assert by_type(failed)["Stalled"]["lastTransitionTime"] == ts(20)


def test_ready_condition_keeps_foreign_conditions() -> None:
    foreign = {"type": "example.com/Audited", "status": "True", "lastTransitionTime": ts(-9)}
    out = ready_condition(ACTIVE, 1, ts(0), [foreign, *ready_condition(FAILED, 1, ts(-1), [])])
    assert foreign in out
    assert "Stalled" not in by_type(out)


def test_rows_use_distinct_observations() -> None:
    # Guard against a copy-paste row that tests nothing new.
    seen: dict[str, str] = {}
    for name, row in ROWS.items():
        key = repr((row.observed, row.settings.model_dump()))
        assert key not in seen, f"{name!r} repeats {seen.get(key)!r}"
        seen[key] = name
