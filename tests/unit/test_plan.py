"""core.plan: what one reconcile writes, one row per lifecycle case and per failure reason.

The pod and Deployment shapes come from test_lifecycle's factories (as the kubelet and
the controllers write them); the objects the operator made are the plan's own desired
objects, as the watch would show them after the apply.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from jupyter_containers.api import rules
from jupyter_containers.api.models import (
    InstanceTypeSpec,
    JupyterImageSpec,
    NFSSource,
    Phase,
    Reason,
    VolumeSpec,
    VolumeType,
)
from jupyter_containers.core import culling, naming
from jupyter_containers.core.plan import (
    NAMESPACE_LABELS,
    POD_ACCESS,
    SECRET_ACCESS,
    SECRET_LABELS,
    ContainerSnapshot,
    NamespaceFacts,
    NamespaceLookup,
    Plan,
    SecretFacts,
    SecretLookup,
    finalize_deletions,
    msg_unknown_creator,
    plan,
)
from jupyter_containers.core.settings import Settings
from tests.unit.test_lifecycle import (
    LABELS,
    NO_CPU,
    PULL_MSG,
    T0,
    cond,
    exited,
    pod,
    running,
    terminated,
    ts,
    waiting,
)

UID = LABELS["jupytercontainers.io/uid"]
DOMAIN, NAME = "team-a", "demo"
SETTINGS = Settings()
INSTANCE_TYPES = {"small": InstanceTypeSpec(cpu="1", memory="2Gi")}
VOLUMES = {
    "home": VolumeSpec(type=VolumeType.ON_DEMAND_PVC, maxSize="10Gi"),
    "share": VolumeSpec(type=VolumeType.NFS, nfs=NFSSource(server="nfs.example", path="/x")),
}
TOKEN = "jc-demo-token"
DIGEST = "sha256:" + "ab" * 32
IMAGES = {
    "base": JupyterImageSpec(image="quay.io/jupyter/base-notebook:2025", default=True, order=1),
    "pinned": JupyterImageSpec(image="quay.io/jupyter/scipy-notebook:2025", digest=DIGEST),
    "cuda": JupyterImageSpec(image="example.org/cuda-lab:1", allowedGroups=["gpu-team"]),
}
GPU_TYPES = {
    **INSTANCE_TYPES,
    "gpu": InstanceTypeSpec(cpu="8", memory="32Gi", allowedGroups=["gpu-team"]),
}

#: The same instance type before it was restricted to a group.
OPEN_GPU = InstanceTypeSpec(cpu="8", memory="32Gi")


def _notebook(p: Plan) -> Mapping[str, Any]:
    deployment = next(d.body for d in p.apply if d.body["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _pod_image(p: Plan) -> str:
    return str(_notebook(p)["image"])


def _pull_policy(p: Plan) -> str:
    return str(_notebook(p)["imagePullPolicy"])


QUOTA = {
    "metadata": {"name": "compute", "namespace": DOMAIN},
    "spec": {"hard": {"limits.cpu": "2"}},
    "status": {"hard": {"limits.cpu": "2"}, "used": {"limits.cpu": "1500m"}},
}


def container(
    *,
    running: bool = True,
    status: Mapping[str, Any] | None = None,
    generation: int = 1,
    annotations: Mapping[str, str] | None = None,
    finalizers: tuple[str, ...] = (naming.FINALIZER,),
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": NAME,
            "namespace": DOMAIN,
            "uid": UID,
            "generation": generation,
            "annotations": {naming.CREATED_BY_ANNOTATION: "alice", **(annotations or {})},
            "finalizers": list(finalizers),
        },
        "spec": {"bundle": "team", "instanceType": "small", "running": running, **spec},
        "status": dict(status or {}),
    }


def stored(phase: Phase, reason: Reason, attempt: int = 1, **extra: Any) -> dict[str, Any]:
    """A status as an earlier reconcile of attempt `attempt` wrote it."""
    return {
        "phase": str(phase),
        "reason": str(reason),
        "message": "as recorded",
        "attempt": attempt,
        "observedGeneration": 1,
        "startedAt": ts(0),
        "tokenSecret": TOKEN,
        **extra,
    }


def made(
    jc: Mapping[str, Any],
    world: ContainerSnapshot | None = None,
    **status: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The objects the operator applied for `jc` (first start, in `world`), as its watch shows
    them; `status` by kind (e.g. Deployment=...)."""
    first, _ = run(jc, world or snapshot(), T0)
    out = []
    for desired in first.apply:
        obj = copy.deepcopy(dict(desired.body))
        if obj["kind"] in status:
            obj["status"] = dict(status[obj["kind"]])
        out.append(obj)
    return out


def snapshot(
    objects: list[dict[str, Any]] | None = None,
    pods: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> ContainerSnapshot:
    return ContainerSnapshot(
        container=None,
        objects=objects or [],
        pods=[_with_uid(p, i) for i, p in enumerate(pods or [])],
        instance_types=kw.pop("instance_types", INSTANCE_TYPES),
        volumes=kw.pop("volumes", VOLUMES),
        **kw,
    )


def _with_uid(p: dict[str, Any], i: int) -> dict[str, Any]:
    p["metadata"].setdefault("uid", f"pod-uid-{i}")
    return p


DEPLOYMENT_STATUS = {
    "observedGeneration": 1,
    "replicas": 1,
    "unavailableReplicas": 1,
    "conditions": [cond("Progressing", True, reason="ReplicaSetUpdated")],
}
READY = running(ready=True)


def kinds(refs: Any) -> set[str]:
    return {r[0] for r in refs}


@dataclass(frozen=True)
class Row:
    jc: dict[str, Any]
    world: ContainerSnapshot
    phase: Phase
    reason: Reason
    at: float = 1
    attempt: int = 1
    applies: set[str] = field(default_factory=set)
    """Kinds applied because the watch does not show them as desired (not up to date)."""
    deletes: set[str] = field(default_factory=set)
    token: str | None = None  # "create" (known absent), "look" (get first) or None
    says: str = ""
    check: Callable[[Plan], bool] | None = None
    secret_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Labels of the Secrets that exist in the deployment namespace."""
    unreadable: frozenset[str] = frozenset()
    """Secrets the creator may not get (SubjectAccessReview)."""
    asked: list[str] | None = None  # the plan's Secret lookups, in order, when checked
    namespace_labels: Mapping[str, str] | None = field(default_factory=lambda: dict(OPEN))
    """Labels of the deployment namespace outside the domain (None: it does not exist)."""
    pod_access: bool = True
    """Whether the creator may create pods in the deployment namespace."""


#: A namespace open to every domain.
OPEN = {"jupytercontainers.io/deployable": "true"}


def run(
    jc: Mapping[str, Any],
    world: ContainerSnapshot,
    now: Any,
    *,
    secret_labels: Mapping[str, Mapping[str, str]] | None = None,
    unreadable: frozenset[str] = frozenset(),
    settings: Settings = SETTINGS,
    namespace_labels: Mapping[str, str] | None = OPEN,
    pod_access: bool = True,
) -> tuple[Plan, list[SecretLookup | NamespaceLookup]]:
    """Plan, answering the plan's lookups the way shell.reconciler does."""
    facts, ns_facts = SecretFacts(), NamespaceFacts()
    asked: list[SecretLookup | NamespaceLookup] = []
    for _ in range(6):
        result = plan(jc, world, settings, now, secrets=facts, namespace=ns_facts)
        if result.needs is None:
            return result, asked
        lookup = result.needs
        assert lookup not in asked
        asked.append(lookup)
        if lookup.what == NAMESPACE_LABELS:
            ns_facts = NamespaceFacts(asked=True, labels=namespace_labels)
        elif lookup.what == POD_ACCESS:
            ns_facts = NamespaceFacts(asked=True, labels=namespace_labels, pod_access=pod_access)
        elif lookup.what == SECRET_LABELS:
            labels = {n: dict(secret_labels[n]) for n in lookup.names if n in (secret_labels or {})}
            facts = SecretFacts(labels=labels, readable=facts.readable)
        else:
            readable = {n: n not in unreadable for n in lookup.names}
            facts = SecretFacts(labels=facts.labels, readable=readable)
    raise AssertionError("the plan keeps asking")


def secret_env(secret: str = "s") -> list[dict[str, Any]]:
    return [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "k"}}}]


OPERATOR_LABELS = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE}


NEW = container()
RUNNING = made(NEW, Deployment=DEPLOYMENT_STATUS)
#: The NetworkPolicy of its own that a container had before policies were per namespace.
OLD_POLICY: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
        "name": "jc-demo",
        "namespace": DOMAIN,
        "labels": naming.common_labels(NAME, DOMAIN, UID),
        "annotations": {naming.SPEC_HASH_ANNOTATION: "an-older-hash"},
    },
}
CULLED_BY = culling.STOPPED_BY_ANNOTATION
CULL = culling.Cull(Reason.CULLED, "Culled: idle for 30m (idle timeout 30m)")
STOPPED_JC = container(running=False, status=stored(Phase.ACTIVE, Reason.READY))
PVC_JC = container(volume="home")
PVC_NAME = "jc-demo-home-3f1df1"
NFS_JC = container(volume="share")


def _pvc_status(phase: str) -> dict[str, Any]:
    return {"phase": phase}


def _with_virtual_ip(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects, with a Service made before Services were headless."""
    out = copy.deepcopy(objects)
    for obj in out:
        if obj["kind"] == "Service":
            obj["spec"]["clusterIP"] = "10.96.12.34"
    return out


ROWS: dict[str, Row] = {
    # ------------------------------------------------ the manual's lifecycle table
    "create -> Starting: Secret, Deployment and Service made": Row(
        NEW,
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        token="create",
        check=lambda p: p.recheck_after == SETTINGS.start_deadline_seconds,
    ),
    "Starting -> Active: nothing to apply, status only": Row(
        container(status=stored(Phase.STARTING, Reason.CONTAINER_STARTING)),
        snapshot(RUNNING, [pod(READY, phase="Running")]),
        Phase.ACTIVE,
        Reason.READY,
        at=20,
        check=lambda p: p.status is not None and p.status["podName"] == "jc-demo-6d5f8b7c9-x7k2p",
    ),
    "Starting -> Failed (pod fails to start)": Row(
        container(status=stored(Phase.STARTING, Reason.PULLING_IMAGE)),
        snapshot(RUNNING, [pod(waiting("ErrImagePull", PULL_MSG))]),
        Phase.FAILED,
        Reason.IMAGE_PULL_FAILED,
        at=20,
    ),
    "Active -> Stopped: Deployment and Service deleted, Secret kept": Row(
        STOPPED_JC,
        snapshot(RUNNING, [pod(READY, phase="Running")]),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Deployment", "Service"},
        check=lambda p: p.status is not None and p.status["tokenSecret"] == TOKEN,
    ),
    "Active -> Stopped keeps the volume's PVC": Row(
        container(volume="home", running=False, status=stored(Phase.ACTIVE, Reason.READY)),
        snapshot(made(PVC_JC, PersistentVolumeClaim=_pvc_status("Bound"))),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Deployment", "Service"},
        check=lambda p: p.status is not None and p.status["pvcName"] == PVC_NAME,
    ),
    "a Service with a virtual IP (made before headless) goes; the rest waits, Active kept": Row(
        container(status=stored(Phase.ACTIVE, Reason.READY)),
        snapshot(_with_virtual_ip(RUNNING), [pod(READY, phase="Running")]),
        Phase.ACTIVE,
        Reason.READY,
        deletes={"Service"},
        check=lambda p: p.apply == () and kinds(p.blocked) == {"Service"},
    ),
    "the headless Service that replaces it is made once the watch shows it gone": Row(
        container(status=stored(Phase.ACTIVE, Reason.READY)),
        snapshot([o for o in RUNNING if o["kind"] != "Service"], [pod(READY, phase="Running")]),
        Phase.ACTIVE,
        Reason.READY,
        applies={"Service"},
        check=lambda p: (
            next(d.body["spec"]["clusterIP"] for d in p.apply if d.ref[0] == "Service") == "None"
        ),
    ),
    "created stopped: no PVC is made, and none is named": Row(
        container(volume="home", running=False),
        snapshot(),
        Phase.STOPPED,
        Reason.STOPPED,
        attempt=0,
        check=lambda p: p.status is not None and p.status["pvcName"] is None,
    ),
    "moved while stopped: the old PVC goes, and the new one is named at the start": Row(
        container(
            volume="home",
            running=False,
            namespace="team-b",
            status=stored(
                Phase.STOPPED, Reason.STOPPED, deploymentNamespace=DOMAIN, pvcName=PVC_NAME
            ),
        ),
        snapshot(made(PVC_JC, PersistentVolumeClaim=_pvc_status("Bound"))),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Deployment", "Service", "PersistentVolumeClaim", "Secret"},
        check=lambda p: p.status is not None and p.status["pvcName"] is None,
    ),
    "culled: the culler's stop says why, the PVC stays": Row(
        container(
            volume="home",
            running=False,
            status=stored(Phase.ACTIVE, Reason.READY),
            annotations={CULLED_BY: culling.stop_annotation(CULL, 1)},
        ),
        snapshot(made(PVC_JC, PersistentVolumeClaim=_pvc_status("Bound"))),
        Phase.STOPPED,
        Reason.CULLED,
        deletes={"Deployment", "Service"},
        says="Culled: idle for 30m",
    ),
    "a cull of an earlier attempt: this terminate is the user's": Row(
        container(
            running=False,
            status=stored(Phase.ACTIVE, Reason.READY, attempt=2),
            annotations={CULLED_BY: culling.stop_annotation(CULL, 1)},
        ),
        snapshot(),
        Phase.STOPPED,
        Reason.STOPPED,
        attempt=2,
    ),
    "Stopped -> Starting: a new attempt, the Secret looked up first": Row(
        container(status=stored(Phase.STOPPED, Reason.STOPPED)),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        attempt=2,
        applies={"Deployment", "Service"},
        token="look",
    ),
    "Failed -> Starting on a start request": Row(
        container(
            status=stored(Phase.FAILED, Reason.CRASH_LOOP, startRequest=ts(-60)),
            annotations={naming.START_REQUESTED_ANNOTATION: ts(0)},
        ),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        attempt=2,
        applies={"Deployment", "Service"},
        token="look",
        check=lambda p: p.status is not None and p.status["startRequest"] == ts(0),
    ),
    "Failed -> Starting on a configuration saved while Failed": Row(
        container(generation=2, status=stored(Phase.FAILED, Reason.CRASH_LOOP)),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        attempt=2,
        applies={"Deployment", "Service"},
        token="look",
    ),
    "Failed is sticky within its attempt": Row(
        container(status=stored(Phase.FAILED, Reason.CRASH_LOOP)),
        snapshot(RUNNING, [pod(READY, phase="Running")]),
        Phase.FAILED,
        Reason.CRASH_LOOP,
        at=30,
    ),
    "terminate while Starting": Row(
        container(running=False, status=stored(Phase.STARTING, Reason.PULLING_IMAGE)),
        snapshot(RUNNING, [pod(waiting("ContainerCreating"))]),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Deployment", "Service"},
    ),
    "create stopped: nothing made": Row(
        container(running=False),
        snapshot(),
        Phase.STOPPED,
        Reason.STOPPED,
        attempt=0,
        check=lambda p: p.status is not None and p.status["tokenSecret"] is None,
    ),
    # ------------------------------------------------ failure reasons
    "ImagePullFailed": Row(
        container(status=stored(Phase.STARTING, Reason.PULLING_IMAGE)),
        snapshot(RUNNING, [pod(waiting("ImagePullBackOff", PULL_MSG))]),
        Phase.FAILED,
        Reason.IMAGE_PULL_FAILED,
        at=20,
    ),
    "InvalidImageName": Row(
        container(status=stored(Phase.STARTING, Reason.PULLING_IMAGE)),
        snapshot(RUNNING, [pod(waiting("InvalidImageName", "couldn't parse image name"))]),
        Phase.FAILED,
        Reason.INVALID_IMAGE,
        at=20,
    ),
    "CrashLoopBackOff": Row(
        container(status=stored(Phase.STARTING, Reason.CONTAINER_STARTING)),
        snapshot(
            RUNNING,
            [
                pod(
                    waiting(
                        "CrashLoopBackOff",
                        "back-off 10s",
                        restarts=1,
                        last=terminated(1, "Error"),
                    ),
                    phase="Running",
                )
            ],
        ),
        Phase.FAILED,
        Reason.CRASH_LOOP,
        at=20,
    ),
    "CreateContainerConfigError": Row(
        container(status=stored(Phase.STARTING, Reason.CONTAINER_STARTING)),
        snapshot(
            RUNNING,
            [pod(waiting("CreateContainerConfigError", 'secret "creds" not found'))],
        ),
        Phase.FAILED,
        Reason.CONFIG_ERROR,
        at=20,
    ),
    "OOMKilled": Row(
        container(status=stored(Phase.STARTING, Reason.CONTAINER_STARTING)),
        snapshot(RUNNING, [pod(exited(137, "OOMKilled"), phase="Running")]),
        Phase.FAILED,
        Reason.OOM_KILLED,
        at=20,
    ),
    "ContainerExitedWithError": Row(
        container(status=stored(Phase.STARTING, Reason.CONTAINER_STARTING)),
        snapshot(RUNNING, [pod(exited(2, "Error"), phase="Running")]),
        Phase.FAILED,
        Reason.CONTAINER_ERROR,
        at=20,
    ),
    "PodFailed": Row(
        container(status=stored(Phase.STARTING, Reason.CONTAINER_STARTING)),
        snapshot(RUNNING, [pod(phase="Failed", reason="Evicted", message="The node was low")]),
        Phase.FAILED,
        Reason.POD_FAILED,
        at=20,
    ),
    "QuotaExceeded at start: nothing made": Row(
        NEW,
        snapshot(quotas={DOMAIN: [QUOTA]}),
        Phase.FAILED,
        Reason.QUOTA_EXCEEDED,
        says="limits.cpu",
        check=lambda p: p.token is None and p.status is not None and not p.status["tokenSecret"],
    ),
    "QuotaExceeded is sticky within its attempt": Row(
        container(status=stored(Phase.FAILED, Reason.QUOTA_EXCEEDED, tokenSecret=None)),
        snapshot(),
        Phase.FAILED,
        Reason.QUOTA_EXCEEDED,
        says="as recorded",
    ),
    "SecretNotAllowed at start: a Secret labelled as the operator's, nothing made": Row(
        container(env=secret_env()),
        snapshot(),
        Phase.FAILED,
        Reason.SECRET_NOT_ALLOWED,
        says="refers to Secret 's', which belongs to the platform",
        secret_labels={"s": OPERATOR_LABELS},
        asked=[SECRET_LABELS],
        check=lambda p: p.token is None and p.status is not None and not p.status["tokenSecret"],
    ),
    "SecretNotAllowed at start: the creator may no longer get the Secret": Row(
        container(env=secret_env()),
        snapshot(),
        Phase.FAILED,
        Reason.SECRET_NOT_ALLOWED,
        says="in namespace 'team-a', which alice may not read (get secrets)",
        unreadable=frozenset({"s"}),
        asked=[SECRET_LABELS, SECRET_ACCESS],
    ),
    "SecretNotAllowed at start: a token Secret's name, refused without a lookup": Row(
        container(env=secret_env("jc-other-token")),
        snapshot(),
        Phase.FAILED,
        Reason.SECRET_NOT_ALLOWED,
        says="which belongs to the platform",
        asked=[],
    ),
    "SecretNotAllowed is sticky within its attempt": Row(
        container(env=secret_env(), status=stored(Phase.FAILED, Reason.SECRET_NOT_ALLOWED)),
        snapshot(),
        Phase.FAILED,
        Reason.SECRET_NOT_ALLOWED,
        says="as recorded",
        asked=[],
    ),
    "a Secret the creator may get: the start goes ahead": Row(
        container(env=secret_env()),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        token="create",
        asked=[SECRET_LABELS, SECRET_ACCESS],
    ),
    "Secret references of a running attempt are not looked up again": Row(
        container(env=secret_env(), status=stored(Phase.STARTING, Reason.CONTAINER_STARTING)),
        snapshot(
            made(container(env=secret_env()), Deployment=DEPLOYMENT_STATUS),
            [pod(READY, phase="Running")],
        ),
        Phase.ACTIVE,
        Reason.READY,
        at=20,
        unreadable=frozenset({"s"}),
        asked=[],
    ),
    "a start-requested that is not RFC 3339 is ignored (no new attempt, not copied)": Row(
        container(
            status=stored(Phase.FAILED, Reason.CRASH_LOOP),
            annotations={naming.START_REQUESTED_ANNOTATION: "x" * 100},
        ),
        snapshot(RUNNING),
        Phase.FAILED,
        Reason.CRASH_LOOP,
        check=lambda p: p.status is not None and p.status.get("startRequest") is None,
    ),
    "Unschedulable past the grace": Row(
        container(status=stored(Phase.STARTING, Reason.SCHEDULING)),
        snapshot(RUNNING, [pod(unschedulable=NO_CPU, created=1)]),
        Phase.FAILED,
        Reason.UNSCHEDULABLE,
        at=SETTINGS.unschedulable_grace_seconds + 5,
    ),
    "VolumeFailed (PVC Lost)": Row(
        container(volume="home", status=stored(Phase.STARTING, Reason.WAITING_FOR_VOLUME)),
        snapshot(
            made(PVC_JC, Deployment=DEPLOYMENT_STATUS, PersistentVolumeClaim=_pvc_status("Lost"))
        ),
        Phase.FAILED,
        Reason.VOLUME_FAILED,
        at=20,
    ),
    "StartDeadlineExceeded": Row(
        container(status=stored(Phase.STARTING, Reason.CONTAINER_STARTING)),
        snapshot(RUNNING, [pod(running(), phase="Running")]),
        Phase.FAILED,
        Reason.START_DEADLINE_EXCEEDED,
        at=SETTINGS.start_deadline_seconds + 1,
    ),
    "InvalidConfiguration (spec): status only": Row(
        container(instanceType="x" * 300),
        snapshot(),
        Phase.FAILED,
        Reason.INVALID_CONFIGURATION,
        attempt=0,
        says="spec.instanceType",
    ),
    "InvalidConfiguration (an image reference, not a catalog name): Failed, nothing made": Row(
        container(image="quay.io/jupyter/lab:latest"),
        snapshot(),
        Phase.FAILED,
        Reason.INVALID_CONFIGURATION,
        attempt=0,
        says=rules.MSG_IMAGE_NOT_A_NAME,
        check=lambda p: not p.apply and p.token is None,
    ),
    # ------------------------------------------------ image catalog and entitlements at start
    "a catalog image runs pinned to its digest (ref@digest)": Row(
        container(image="pinned"),
        snapshot(images=IMAGES),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        token="create",
        check=lambda p: _pod_image(p) == f"quay.io/jupyter/scipy-notebook:2025@{DIGEST}",
    ),
    "no spec.image: the catalog's default image (tag pulled on every start)": Row(
        container(),
        snapshot(images=IMAGES),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        token="create",
        check=lambda p: (
            _pod_image(p) == "quay.io/jupyter/base-notebook:2025" and _pull_policy(p) == "Always"
        ),
    ),
    "no spec.image and no default in the catalog: the operator's image": Row(
        container(),
        snapshot(images={"pinned": IMAGES["pinned"]}),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        token="create",
        check=lambda p: _pod_image(p) == SETTINGS.jupyter_image,
    ),
    "a start: an image the creator's groups may not use is refused, nothing made": Row(
        container(image="cuda"),
        snapshot(images=IMAGES),
        Phase.FAILED,
        Reason.INVALID_CONFIGURATION,
        attempt=0,
        says="spec.image: JupyterImage 'cuda' is not offered to bundle 'team-a/team' or the "
        "groups of the container's creator alice",
        check=lambda p: not p.apply and p.token is None,
    ),
    "a start: the creator's recorded groups entitle the image and instance type": Row(
        container(
            image="cuda",
            instanceType="gpu",
            annotations={naming.CREATED_BY_GROUPS_ANNOTATION: '["gpu-team"]'},
        ),
        snapshot(images=IMAGES, instance_types=GPU_TYPES),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        token="create",
        check=lambda p: _pod_image(p) == "example.org/cuda-lab:1",
    ),
    "a start: an instance type withdrawn from the creator's groups is refused": Row(
        container(instanceType="gpu"),
        snapshot(instance_types=GPU_TYPES),
        Phase.FAILED,
        Reason.INVALID_CONFIGURATION,
        attempt=0,
        says="spec.instanceType: InstanceType 'gpu' is not offered to bundle 'team-a/team'",
    ),
    "running: a catalog edit (a new digest) does not re-apply it; the image stays in status": Row(
        container(
            image="pinned",
            status=stored(
                Phase.STARTING,
                Reason.CONTAINER_STARTING,
                image=f"quay.io/jupyter/scipy-notebook:2025@{DIGEST}",
            ),
        ),
        snapshot(
            made(container(image="pinned"), snapshot(images=IMAGES), Deployment=DEPLOYMENT_STATUS),
            [pod(READY, phase="Running")],
            images={**IMAGES, "pinned": IMAGES["pinned"].model_copy(update={"digest": None})},
        ),
        Phase.ACTIVE,
        Reason.READY,
        check=lambda p: (
            p.status is not None
            and p.status["image"] == f"quay.io/jupyter/scipy-notebook:2025@{DIGEST}"
        ),
    ),
    "running: a withdrawn entitlement is judged at the next start, not now": Row(
        container(instanceType="gpu", status=stored(Phase.STARTING, Reason.CONTAINER_STARTING)),
        snapshot(
            made(
                container(instanceType="gpu"),
                snapshot(instance_types={**GPU_TYPES, "gpu": OPEN_GPU}),
                Deployment=DEPLOYMENT_STATUS,
            ),
            [pod(READY, phase="Running")],
            instance_types=GPU_TYPES,
        ),
        Phase.ACTIVE,
        Reason.READY,
    ),
    "Rejected (the API server refused an object as invalid) is sticky: nothing applied": Row(
        container(status=stored(Phase.FAILED, Reason.REJECTED)),
        snapshot(),
        Phase.FAILED,
        Reason.REJECTED,
        says="as recorded",
        check=lambda p: not p.apply and p.token is None,
    ),
    "Rejected, then a start request: a new attempt applies again": Row(
        container(
            status=stored(Phase.FAILED, Reason.REJECTED, startRequest=ts(-60)),
            annotations={naming.START_REQUESTED_ANNOTATION: ts(0)},
        ),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        attempt=2,
        applies={"Deployment", "Service"},
        token="look",
    ),
    "Retrying (a request failed) is not sticky: the next reconcile applies again": Row(
        container(status=stored(Phase.STARTING, Reason.RETRYING, retryAt=ts(1))),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        check=lambda p: p.status is not None and p.status["retryAt"] is None,
    ),
    "InvalidConfiguration (catalog): status only": Row(
        container(instanceType="huge"),
        snapshot(),
        Phase.FAILED,
        Reason.INVALID_CONFIGURATION,
        attempt=0,
        says="'huge' does not exist",
    ),
    "InvalidConfiguration, then the catalog entry arrives: a new attempt starts": Row(
        container(
            status=stored(
                Phase.FAILED,
                Reason.INVALID_CONFIGURATION,
                attempt=0,
                startedAt=None,
                tokenSecret=None,
            )
        ),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        attempt=1,
        applies={"Deployment", "Service"},
        token="create",
    ),
    "InvalidConfiguration while it ran, the catalog entry back: a fresh attempt": Row(
        container(status=stored(Phase.FAILED, Reason.INVALID_CONFIGURATION, attempt=3)),
        snapshot(RUNNING),
        Phase.STARTING,
        Reason.DEPLOYING,
        attempt=4,
        applies={"Deployment"},  # the new attempt's pod template; the Service is as it was
        token="look",
    ),
    # ------------------------------------------------ stop always works (issue 12, 4)
    "terminate with a deleted InstanceType: Deployment and Service go, Stopped": Row(
        container(running=False, instanceType="gone", status=stored(Phase.ACTIVE, Reason.READY)),
        snapshot(RUNNING),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Deployment", "Service"},
        says="'gone' does not exist",
        check=lambda p: p.status is not None and p.status["serviceName"] is None,
    ),
    "terminate with a spec invalid by today's rules: Deployment and Service go": Row(
        container(running=False, status=stored(Phase.ACTIVE, Reason.READY), bogus=1),
        snapshot(RUNNING),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Deployment", "Service"},
        says="spec.bogus",
    ),
    "terminate with a deleted InstanceType keeps the PVC": Row(
        container(
            running=False,
            volume="home",
            instanceType="gone",
            status=stored(Phase.ACTIVE, Reason.READY),
        ),
        snapshot(made(PVC_JC)),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Deployment", "Service"},
    ),
    "terminate with an unavailable InstanceType": Row(
        container(running=False, status=stored(Phase.ACTIVE, Reason.READY)),
        snapshot(
            RUNNING,
            instance_types={"small": InstanceTypeSpec(cpu="1", memory="2Gi", available=False)},
        ),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Deployment", "Service"},
        says="is not available",
    ),
    "terminate with a deleted Volume: Deployment and Service go, the PVC stays": Row(
        container(running=False, volume="home", status=stored(Phase.ACTIVE, Reason.READY)),
        snapshot(made(PVC_JC), volumes={}),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Deployment", "Service"},
    ),
    "a stopped container moved to another namespace: its token Secret goes from the old": Row(
        container(
            running=False,
            namespace="team-b",
            status=stored(Phase.STOPPED, Reason.STOPPED, deploymentNamespace=DOMAIN),
        ),
        snapshot(),
        Phase.STOPPED,
        Reason.STOPPED,
        deletes={"Secret"},
        check=lambda p: p.delete == (("Secret", DOMAIN, TOKEN),),
    ),
    # ------------------------------------------------ ownership (issue 12, 3)
    "a desired name held by another container: NameCollision, nothing applied": Row(
        NEW,
        snapshot(owners={("Service", DOMAIN, "jc-demo"): "other-uid"}),
        Phase.FAILED,
        Reason.NAME_COLLISION,
        says=f"Service 'jc-demo' in namespace 'team-a' belongs to another container "
        f"({naming.UID_LABEL}=other-uid)",
    ),
    "a desired name held by an object without a uid label (the shell found it)": Row(
        NEW,
        snapshot(owners={("Deployment", DOMAIN, "jc-demo"): ""}),
        Phase.FAILED,
        Reason.NAME_COLLISION,
        says=f"Deployment 'jc-demo' in namespace 'team-a' exists without this container's "
        f"{naming.UID_LABEL} label",
    ),
    "the token Secret's name held by another container": Row(
        NEW,
        snapshot(owners={("Secret", DOMAIN, TOKEN): "other-uid"}),
        Phase.FAILED,
        Reason.NAME_COLLISION,
        says=f"Secret '{TOKEN}'",
    ),
    "a collision stays until the next attempt; its own objects go": Row(
        container(status=stored(Phase.FAILED, Reason.NAME_COLLISION)),
        snapshot(RUNNING),
        Phase.FAILED,
        Reason.NAME_COLLISION,
        deletes={"Deployment", "Service"},
        says="as recorded",
    ),
    "the namespace's NetworkPolicy name held without the managed-by label: NameCollision": Row(
        NEW,
        snapshot(foreign_policies=frozenset({DOMAIN})),
        Phase.FAILED,
        Reason.NAME_COLLISION,
        says=f"NetworkPolicy '{naming.NETWORK_POLICY_NAME}' in namespace 'team-a' exists "
        f"without the label {naming.MANAGED_BY_LABEL}={naming.MANAGED_BY_VALUE}",
    ),
    "a running container whose namespace's NetworkPolicy name was taken: its objects go": Row(
        container(status=stored(Phase.ACTIVE, Reason.READY)),
        snapshot(RUNNING, [pod(READY, phase="Running")], foreign_policies=frozenset({DOMAIN})),
        Phase.FAILED,
        Reason.NAME_COLLISION,
        deletes={"Deployment", "Service"},
        says="Delete or rename that NetworkPolicy",
    ),
    "upgrade: a running container's own NetworkPolicy of before goes, the shared one first": Row(
        container(status=stored(Phase.ACTIVE, Reason.READY)),
        snapshot([*RUNNING, OLD_POLICY], [pod(READY, phase="Running")]),
        Phase.ACTIVE,
        Reason.READY,
        deletes={"NetworkPolicy"},
        check=lambda p: (
            p.delete == (("NetworkPolicy", DOMAIN, "jc-demo"),) and p.shared_policy == DOMAIN
        ),
    ),
    "its own objects under the desired names are no collision": Row(
        container(status=stored(Phase.STARTING, Reason.DEPLOYING)),
        snapshot(
            RUNNING,
            owners={("Deployment", DOMAIN, "jc-demo"): UID, ("Service", DOMAIN, "jc-demo"): UID},
        ),
        Phase.STARTING,
        Reason.DEPLOYING,
    ),
    "outside the domain a former jc- name's token Secret goes, the jx- one is made": Row(
        container(
            namespace="team-b",
            status=stored(
                Phase.STOPPED,
                Reason.STOPPED,
                deploymentNamespace="team-b",
                tokenSecret=f"jc-demo-{naming.domain_hash(DOMAIN)}-token",
            ),
        ),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        attempt=2,
        applies={"Deployment", "Service"},
        deletes={"Secret"},
        token="create",
        check=lambda p: (
            p.delete == (("Secret", "team-b", f"jc-demo-{naming.domain_hash(DOMAIN)}-token"),)
            and p.token is not None
            and p.token.name == f"jx-demo-{naming.domain_hash(DOMAIN)}-token"
        ),
    ),
    # ------------------------------------------------ namespace rule (issue 12, 6)
    "outside the domain in a namespace not open to it: NamespaceNotAllowed": Row(
        container(namespace="team-b"),
        snapshot(),
        Phase.FAILED,
        Reason.NAMESPACE_NOT_ALLOWED,
        says="namespace 'team-b' is not open to containers of 'team-a'",
        namespace_labels={},
        asked=[NAMESPACE_LABELS],
    ),
    "outside the domain in a namespace that does not exist": Row(
        container(namespace="team-b"),
        snapshot(),
        Phase.FAILED,
        Reason.NAMESPACE_NOT_ALLOWED,
        says="namespace 'team-b' does not exist",
        namespace_labels=None,
    ),
    "outside the domain, the creator may not create pods there": Row(
        container(namespace="team-b"),
        snapshot(),
        Phase.FAILED,
        Reason.NAMESPACE_NOT_ALLOWED,
        says="alice may not create pods in namespace 'team-b'",
        pod_access=False,
        asked=[NAMESPACE_LABELS, POD_ACCESS],
    ),
    "outside the domain without created-by (no webhook ran): deployed nowhere": Row(
        {**container(namespace="team-b"), "metadata": {**NEW["metadata"], "annotations": {}}},
        snapshot(),
        Phase.FAILED,
        Reason.NAMESPACE_NOT_ALLOWED,
        says=msg_unknown_creator(DOMAIN, "team-b"),
    ),
    "outside the domain, open and allowed: the start goes ahead": Row(
        container(namespace="team-b"),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        token="create",
        asked=[NAMESPACE_LABELS, POD_ACCESS],
    ),
    "a namespace refusal stays until the next attempt, nothing asked": Row(
        container(
            namespace="team-b",
            status=stored(Phase.FAILED, Reason.NAMESPACE_NOT_ALLOWED, tokenSecret=None),
        ),
        snapshot(),
        Phase.FAILED,
        Reason.NAMESPACE_NOT_ALLOWED,
        says="as recorded",
        asked=[],
    ),
    "in the domain nothing is asked": Row(
        NEW,
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        token="create",
        asked=[],
    ),
    # ------------------------------------------------ objects
    "moved to another namespace: the old objects and token Secret go": Row(
        container(namespace="team-b", status=stored(Phase.STOPPED, Reason.STOPPED)),
        snapshot(RUNNING),
        Phase.STARTING,
        Reason.DEPLOYING,
        attempt=2,
        applies={"Deployment", "Service"},
        deletes={"Deployment", "Service", "Secret"},
        token="create",
    ),
    "a predecessor of the same name being deleted blocks the applies": Row(
        NEW,
        snapshot(
            [
                {
                    **o,
                    "metadata": {
                        **o["metadata"],
                        "labels": {**o["metadata"]["labels"], naming.UID_LABEL: "old-uid"},
                        "deletionTimestamp": ts(0),
                    },
                }
                for o in RUNNING
            ]
        ),
        Phase.STARTING,
        Reason.DEPLOYING,
        token="create",
        check=lambda p: kinds(p.blocked) == {"Deployment", "Service"},
    ),
    "the NFS PVC waits for its PV to be seen": Row(
        NFS_JC,
        snapshot(),
        Phase.STARTING,
        Reason.WAITING_FOR_VOLUME,
        applies={"PersistentVolume", "Deployment", "Service"},
        token="create",
    ),
    "a container without the finalizer gets it": Row(
        container(finalizers=()),
        snapshot(),
        Phase.STARTING,
        Reason.DEPLOYING,
        applies={"Deployment", "Service"},
        token="create",
        check=lambda p: p.add_finalizer,
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_plan(row: Row) -> None:
    result, asked = run(
        row.jc,
        row.world,
        T0 + timedelta(seconds=row.at),
        secret_labels=row.secret_labels,
        unreadable=row.unreadable,
        namespace_labels=row.namespace_labels,
        pod_access=row.pod_access,
    )
    if row.asked is not None:
        assert [lookup.what for lookup in asked] == row.asked
    assert result.verdict is not None and result.status is not None
    assert (result.verdict.phase, result.verdict.reason) == (row.phase, row.reason)
    assert result.status["phase"] == row.phase
    assert result.status["attempt"] == row.attempt
    assert row.says in result.status["message"]
    assert {d.ref[0] for d in result.apply if not d.up_to_date} == row.applies
    assert kinds(result.delete) == row.deletes
    # The namespace's NetworkPolicy first, whenever the plan deploys (core.namespace_policy).
    deploys = bool(result.apply or result.blocked)
    namespace = (row.jc.get("spec") or {}).get("namespace") or DOMAIN
    assert result.shared_policy == (namespace if deploys else None)
    token = None if result.token is None else "create" if result.token.known_absent else "look"
    assert token == row.token
    if row.check is not None:
        assert row.check(result)
    if naming.FINALIZER in row.jc["metadata"]["finalizers"]:
        assert not result.add_finalizer


def test_the_access_review_asks_as_the_creator_with_the_recorded_groups() -> None:
    jc = container(
        env=secret_env(), annotations={naming.CREATED_BY_GROUPS_ANNOTATION: '["team","x"]'}
    )
    _, asked = run(jc, snapshot(), T0)
    assert asked[-1] == SecretLookup(SECRET_ACCESS, DOMAIN, ("s",), "alice", ("team", "x"))
    assert asked[0] == SecretLookup(SECRET_LABELS, DOMAIN, ("s",))


def test_without_start_secret_access_review_only_the_labels_are_checked() -> None:
    settings = Settings(start_secret_access_review=False)
    result, asked = run(
        container(env=secret_env()), snapshot(), T0, unreadable=frozenset({"s"}), settings=settings
    )
    assert [lookup.what for lookup in asked] == [SECRET_LABELS]
    assert result.verdict is not None and result.verdict.phase == Phase.STARTING


def test_a_plan_that_needs_facts_writes_nothing() -> None:
    result = plan(container(env=secret_env()), snapshot(), SETTINGS, T0)
    assert result.needs is not None
    assert result == Plan(needs=result.needs)


def test_every_failure_reason_has_a_row() -> None:
    failed = {r.reason for r in ROWS.values() if r.phase == Phase.FAILED}
    starting_only = {
        Reason.CREATED,
        Reason.DEPLOYING,
        Reason.PULLING_IMAGE,
        Reason.WAITING_FOR_VOLUME,
        Reason.SCHEDULING,
        Reason.CONTAINER_STARTING,
        Reason.READY,
        Reason.STOPPED,
        Reason.RETRYING,
        # Stopped by the culler (core/culling.py): rows above, not failures.
        Reason.CULLED,
        Reason.LIFETIME_EXCEEDED,
    }
    assert failed == set(Reason) - starting_only


def test_a_second_reconcile_of_an_applied_start_writes_nothing_new() -> None:
    jc = container(status=plan(NEW, snapshot(), SETTINGS, T0).status)
    again = plan(jc, snapshot(RUNNING), SETTINGS, T0 + timedelta(seconds=1))
    assert again.token is None
    assert again.delete == ()
    assert all(d.up_to_date for d in again.apply)


def test_events_count_the_current_attempts_pods_only() -> None:
    jc = container(status=stored(Phase.STARTING, Reason.CONTAINER_STARTING))
    earlier = pod(running(), name="jc-demo-old")
    earlier["metadata"]["annotations"] = {naming.ATTEMPT_ANNOTATION: "0"}
    world = snapshot(
        RUNNING,
        [pod(running(), phase="Running"), earlier],
        pod_events={"pod-uid-0": {"warnings": 1, "total": 3}, "pod-uid-1": {"total": 5}},
    )
    status = plan(jc, world, SETTINGS, T0 + timedelta(seconds=5)).status
    assert status is not None and status["events"] == {"warnings": 1, "total": 3}


def test_status_override_is_the_one_judged() -> None:
    """The shell's own later write wins over the snapshot's older status."""
    jc = container(status={})
    later = stored(Phase.STARTING, Reason.DEPLOYING)
    result = plan(jc, snapshot(RUNNING), SETTINGS, T0 + timedelta(seconds=2), status=later)
    assert result.status is not None and result.status["attempt"] == 1
    assert result.token is None


def test_finalize_deletes_everything_but_storage_it_did_not_make() -> None:
    jc = container(volume="home", status={"deploymentNamespace": "team-b"})
    objects = made(PVC_JC)
    foreign = copy.deepcopy(next(o for o in objects if o["kind"] == "PersistentVolumeClaim"))
    foreign["metadata"]["name"] = "someone-elses"
    foreign["metadata"]["labels"][naming.MANAGED_BY_LABEL] = "someone"
    refs = finalize_deletions(jc, snapshot([*objects, foreign]))
    assert ("PersistentVolumeClaim", DOMAIN, "someone-elses") not in refs
    assert kinds(refs) == {"Deployment", "Service", "PersistentVolumeClaim", "Secret"}
    assert {r[1] for r in refs if r[0] == "Secret"} == {DOMAIN, "team-b"}


def test_no_network_policy_when_the_setting_is_off() -> None:
    on, _ = run(NEW, snapshot(), T0)
    off, _ = run(NEW, snapshot(), T0, settings=Settings(network_policy=False))
    assert on.shared_policy == DOMAIN and off.shared_policy is None
    # No container applies one of its own any more: the namespace's is shared.
    assert (
        {d.ref[0] for d in on.apply}
        == {d.ref[0] for d in off.apply}
        == {
            "Deployment",
            "Service",
        }
    )
    # Turned off later: a container's own one of an earlier version goes all the same.
    jc = container(status=stored(Phase.STARTING, Reason.DEPLOYING))
    world = snapshot([*RUNNING, OLD_POLICY])
    later, _ = run(jc, world, T0, settings=Settings(network_policy=False))
    assert later.delete == (("NetworkPolicy", DOMAIN, "jc-demo"),)


def test_a_foreign_network_policy_refuses_only_its_namespace() -> None:
    """The shell found the shared name held without the managed-by label in another
    namespace: this container, deployed in its own domain, starts."""
    result, _ = run(NEW, snapshot(foreign_policies=frozenset({"team-b"})), T0)
    assert result.verdict is not None and result.verdict.phase == Phase.STARTING
    assert result.shared_policy == DOMAIN


def test_finalize_names_the_token_secret_in_every_namespace_known_without_objects() -> None:
    """Issue 12: a stopped container without a volume has no watched object; its token
    Secrets are still named, in the domain, the spec's and the status's namespace, under the
    name of today and of before `jx-` names (the shell deletes only its own)."""
    digest = naming.domain_hash(DOMAIN)
    jc = container(
        running=False,
        namespace="team-c",
        status={"deploymentNamespace": "team-b", "tokenSecret": f"jc-demo-{digest}-token"},
    )
    refs = set(finalize_deletions(jc, snapshot()))
    assert refs == {
        ("Secret", DOMAIN, TOKEN),
        ("Secret", "team-b", f"jc-demo-{digest}-token"),
        ("Secret", "team-b", f"jx-demo-{digest}-token"),
        ("Secret", "team-c", f"jc-demo-{digest}-token"),
        ("Secret", "team-c", f"jx-demo-{digest}-token"),
    }
