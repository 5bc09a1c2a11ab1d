"""Image pre-pull: the DaemonSet that keeps a JupyterImage pulled, and what to do about it.

Pure: a JupyterImage, the InstanceTypes and the DaemonSet observed in, the desired DaemonSet,
the action (apply, delete, nothing) and the image's `status.prePull` out. `shell.prepull`
gathers the facts from its watches and applies the decision.

The design is JupyterHub's continuous image puller: an init container runs the image with a
trivial command and exits (so the kubelet pulls it), then a tiny pause container sleeps; as
long as that pod exists the kubelet counts the image as in use and its image garbage collector
keeps it. A container's start (imagePullPolicy Always) then only checks the manifest against
the registry: the layers are already on the node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jupyter_containers.api.models import (
    API_VERSION,
    GROUP,
    Entitled,
    InstanceTypeSpec,
    JupyterImageSpec,
    PrePullStatus,
)
from jupyter_containers.core import naming
from jupyter_containers.core.builders import spec_hash
from jupyter_containers.core.settings import PrePullSettings

COMPONENT = "image-prepull"
APP_NAME = "jupyter-containers"
#: On the DaemonSet and its pods: the uid of the JupyterImage it pre-pulls (the owner check).
IMAGE_UID_LABEL = f"{GROUP}/image-uid"
#: On the DaemonSet: the JupyterImage's name (names can be longer than a label value).
IMAGE_ANNOTATION = f"{GROUP}/image"
NAME_PREFIX = "jc-prepull-"
#: DaemonSet names stay within 63 characters (its pods add a suffix to it).
MAX_NAME = 63
PULL_CONTAINER = "pull"
PAUSE_CONTAINER = "pause"
#: The init container's command: the image only has to start (every Jupyter image has a shell).
PULL_COMMAND = ["/bin/sh", "-c", "exit 0"]
#: Any non-root uid works for `exit 0` and the pause binary, whatever USER the image sets.
RUN_AS = 65534
PULL_RESOURCES = {
    "requests": {"cpu": "1m", "memory": "8Mi"},
    "limits": {"cpu": "100m", "memory": "64Mi"},
}
PAUSE_RESOURCES = {
    "requests": {"cpu": "1m", "memory": "4Mi"},
    "limits": {"cpu": "10m", "memory": "16Mi"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}


def daemonset_name(image: str) -> str:
    """`jc-prepull-IMAGE`; a long image name is cut and a hash of it appended."""
    name = f"{NAME_PREFIX}{image}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(image.encode()).hexdigest()[:6]
    return f"{name[: MAX_NAME - 7].rstrip('.-')}-{digest}"


def selector_labels(image_uid: str) -> dict[str, str]:
    return {
        naming.APP_NAME_LABEL: APP_NAME,
        naming.COMPONENT_LABEL: COMPONENT,
        IMAGE_UID_LABEL: image_uid,
    }


def labels(image_uid: str) -> dict[str, str]:
    return {
        **selector_labels(image_uid),
        naming.PART_OF_LABEL: naming.PART_OF_VALUE,
        naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE,
    }


def is_ours(object_labels: Mapping[str, str]) -> bool:
    """Whether the operator made this DaemonSet (only then is it patched or deleted)."""
    return (
        object_labels.get(naming.MANAGED_BY_LABEL) == naming.MANAGED_BY_VALUE
        and object_labels.get(naming.COMPONENT_LABEL) == COMPONENT
    )


# ---------------------------------------------------------------- where it runs


def _bundles_overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether some bundle is in both lists ('ns/name' or 'ns/*')."""
    for x in a:
        for y in b:
            xn, _, xb = x.partition("/")
            yn, _, yb = y.partition("/")
            if xn == yn and (xb == yb or "*" in (xb, yb)):
                return True
    return False


def may_share(image: Entitled, instance_type: Entitled) -> bool:
    """Whether some user other than an admin may pick both entries for one container."""
    if not (image.allowedBundles or image.allowedGroups):
        return True
    if not (instance_type.allowedBundles or instance_type.allowedGroups):
        return True
    return bool(set(image.allowedGroups) & set(instance_type.allowedGroups)) or (
        _bundles_overlap(image.allowedBundles, instance_type.allowedBundles)
    )


def usable_instance_types(
    image: JupyterImageSpec, instance_types: Mapping[str, InstanceTypeSpec]
) -> list[str]:
    """The available InstanceTypes a container of this image may run with, by name."""
    return sorted(n for n, it in instance_types.items() if it.available and may_share(image, it))


@dataclass(frozen=True)
class Placement:
    """Pod placement covering the nodes of some InstanceTypes."""

    affinity: dict[str, Any] | None
    """A required node affinity: one term (ORed) per distinct nodeSelector; None: any node."""
    tolerations: list[dict[str, Any]]
    """Every toleration of those InstanceTypes."""


def placement(instance_types: Sequence[InstanceTypeSpec]) -> Placement | None:
    """Where pods of any of these InstanceTypes can run; None for no InstanceType at all.

    One InstanceType without a nodeSelector can run anywhere, so then every node. Tolerations
    are the union: a node tainted for one type and labelled for another gets the image too
    (a few nodes too many rather than one too few)."""
    if not instance_types:
        return None
    selectors = [dict(it.nodeSelector) for it in instance_types]
    affinity: dict[str, Any] | None = None
    if all(selectors):
        terms: list[dict[str, Any]] = []
        for selector in selectors:
            term = {
                "matchExpressions": [
                    {"key": k, "operator": "In", "values": [v]} for k, v in sorted(selector.items())
                ]
            }
            if term not in terms:
                terms.append(term)
        affinity = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    tolerations: list[dict[str, Any]] = []
    for it in instance_types:
        for toleration in it.tolerations:
            t = toleration.model_dump(exclude_none=True)
            if t not in tolerations:
                tolerations.append(t)
    return Placement(affinity, tolerations)


# ---------------------------------------------------------------- the DaemonSet


def pull_policy(image: JupyterImageSpec) -> str:
    """A digest never changes: pull it once. A tag: pull it whenever the pod is made, so a
    roll (or a new node) fetches what the tag points to then."""
    return "IfNotPresent" if image.digest else "Always"


def pod_spec(image: JupyterImageSpec, where: Placement, pause_image: str) -> dict[str, Any]:
    """The pre-pull pod: pull (and run `exit 0`), then pause; restricted, tiny requests."""
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 1,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [
            {
                "name": PULL_CONTAINER,
                "image": image.pull_reference,
                "imagePullPolicy": pull_policy(image),
                "command": list(PULL_COMMAND),
                "resources": PULL_RESOURCES,
                "securityContext": CONTAINER_SECURITY,
            }
        ],
        "containers": [
            {
                "name": PAUSE_CONTAINER,
                "image": pause_image,
                "imagePullPolicy": "IfNotPresent",
                "resources": PAUSE_RESOURCES,
                "securityContext": CONTAINER_SECURITY,
            }
        ],
    }
    if where.affinity is not None:
        spec["affinity"] = where.affinity
    if where.tolerations:
        spec["tolerations"] = where.tolerations
    return spec


def build_daemonset(
    name: str,
    uid: str,
    image: JupyterImageSpec,
    where: Placement,
    namespace: str,
    pause_image: str,
) -> dict[str, Any]:
    """The pre-pull DaemonSet of the JupyterImage `name` (uid `uid`), with its spec hash."""
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": daemonset_name(name),
            "namespace": namespace,
            "labels": labels(uid),
            "annotations": {IMAGE_ANNOTATION: name},
            # Garbage collection removes it with the JupyterImage even while the operator is
            # down (a namespaced object may be owned by a cluster-scoped one).
            "ownerReferences": [
                {"apiVersion": API_VERSION, "kind": "JupyterImage", "name": name, "uid": uid}
            ],
        },
        "spec": {
            "selector": {"matchLabels": selector_labels(uid)},
            # Every node at once: a pre-puller serves nothing, so none has to stay up.
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "100%"},
            },
            "revisionHistoryLimit": 2,
            "template": {
                "metadata": {"labels": selector_labels(uid)},
                "spec": pod_spec(image, where, pause_image),
            },
        },
    }
    body["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION] = spec_hash(body)
    return body


# ---------------------------------------------------------------- observed and decided


@dataclass(frozen=True)
class Observed:
    """What the DaemonSet watch keeps of one DaemonSet in the pre-pull namespace."""

    name: str
    labels: Mapping[str, str]
    image_name: str | None
    """The JupyterImage it was made for (its annotation)."""
    spec_hash: str | None
    image_reference: str | None
    generation: int
    observed_generation: int
    desired: int
    ready: int
    updated: int

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Observed:
        meta = body.get("metadata") or {}
        status = body.get("status") or {}
        template = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
        inits = template.get("initContainers") or []
        return cls(
            name=str(meta.get("name")),
            labels=dict(meta.get("labels") or {}),
            image_name=(meta.get("annotations") or {}).get(IMAGE_ANNOTATION),
            spec_hash=(meta.get("annotations") or {}).get(naming.SPEC_HASH_ANNOTATION),
            image_reference=inits[0].get("image") if inits else None,
            generation=int(meta.get("generation") or 0),
            observed_generation=int(status.get("observedGeneration") or 0),
            desired=int(status.get("desiredNumberScheduled") or 0),
            ready=int(status.get("numberReady") or 0),
            updated=int(status.get("updatedNumberScheduled") or 0),
        )

    @property
    def image_uid(self) -> str | None:
        return self.labels.get(IMAGE_UID_LABEL)


class Action(StrEnum):
    APPLY = "apply"
    DELETE = "delete"
    NONE = "none"


@dataclass(frozen=True)
class Decision:
    action: Action
    body: dict[str, Any] | None = None
    """The DaemonSet to apply (APPLY)."""
    status: PrePullStatus | None = None
    """The image's status.prePull (None: none, pre-pull is off); None too for no image."""


def _summary(ready: int, desired: int) -> str:
    return f"{ready}/{desired}"


def _off(message: str, ref: str | None = None) -> PrePullStatus:
    return PrePullStatus(image=ref, nodes=_summary(0, 0), message=message)


def decide(
    name: str,
    uid: str | None,
    image: JupyterImageSpec | None,
    instance_types: Mapping[str, InstanceTypeSpec],
    observed: Observed | None,
    settings: PrePullSettings,
) -> Decision:
    """What to do about the pre-pull of the JupyterImage `name` (None: it does not exist).

    A DaemonSet of that name the operator did not make is never touched. One of ours made for
    another uid (the image was deleted and made again under its name) is deleted first.
    """
    namespace = settings.prepull_namespace
    held = f"{namespace}/{daemonset_name(name)}"
    if observed is not None and not is_ours(observed.labels):
        message = (
            f"DaemonSet {held} exists and was not made by the operator; delete or rename it "
            "to pre-pull this image."
        )
        return Decision(Action.NONE, status=_off(message) if image and image.prePull else None)
    stale = observed is not None and (uid is None or observed.image_uid != uid)
    if image is None or uid is None:
        return Decision(Action.DELETE if observed is not None else Action.NONE)
    why_not = _why_not(image, instance_types, namespace)
    if why_not is not None or not image.prePull:
        status = _off(why_not, image.pull_reference) if image.prePull and why_not else None
        action = Action.DELETE if observed is not None else Action.NONE
        return Decision(action, status=status)
    assert namespace is not None
    if stale:
        return Decision(
            Action.DELETE,
            status=_off(f"replacing DaemonSet {held} of a former image of this name"),
        )
    return _wanted(name, uid, image, instance_types, observed, settings, held)


def _wanted(
    name: str,
    uid: str,
    image: JupyterImageSpec,
    instance_types: Mapping[str, InstanceTypeSpec],
    observed: Observed | None,
    settings: PrePullSettings,
    held: str,
) -> Decision:
    """Pre-pull is on: apply the DaemonSet unless it is up to date; count its nodes."""
    namespace = settings.prepull_namespace
    assert namespace is not None
    usable = [instance_types[n] for n in usable_instance_types(image, instance_types)]
    where = placement(usable)
    assert where is not None  # _why_not: some InstanceType is usable
    body = build_daemonset(name, uid, image, where, namespace, settings.prepull_pause_image)
    want = body["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION]
    if observed is None or observed.spec_hash != want:
        status = PrePullStatus(
            daemonSet=held,
            image=image.pull_reference,
            desiredNodes=observed.desired if observed else 0,
            nodes=_summary(0, observed.desired if observed else 0),
        )
        return Decision(Action.APPLY, body=body, status=status)
    current = observed.observed_generation >= observed.generation
    ready = min(observed.ready, observed.updated) if current else 0
    return Decision(
        Action.NONE,
        status=PrePullStatus(
            daemonSet=held,
            image=image.pull_reference,
            desiredNodes=observed.desired,
            readyNodes=ready,
            nodes=_summary(ready, observed.desired),
        ),
    )


def _why_not(
    image: JupyterImageSpec, instance_types: Mapping[str, InstanceTypeSpec], namespace: str | None
) -> str | None:
    """Why an image with prePull is not pre-pulled (None: it is)."""
    if not image.available:
        return "not pre-pulled: the image is not available (spec.available is false)."
    if namespace is None:
        return (
            "not pre-pulled: the operator has no pre-pull namespace (JC_PREPULL_NAMESPACE; the "
            "Helm chart sets it to its release namespace)."
        )
    if not usable_instance_types(image, instance_types):
        return (
            "not pre-pulled: no available InstanceType may be used with this image (its "
            "allowedBundles/allowedGroups share none with any InstanceType's)."
        )
    return None
