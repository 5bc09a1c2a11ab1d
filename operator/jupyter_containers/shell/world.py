"""The observed world: kopf indexes of what exists, and the snapshot of one container.

Only indexes here (no writes): kopf fills them from its watches before any handler
runs, so after a restart the operator sees the Deployments it made before it decides
anything. `observe` reads them into the `ContainerSnapshot` that `core.plan` takes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import kopf

from jupyter_containers.api.models import (
    GROUP,
    VERSION,
    InstanceTypeSpec,
    JupyterImageSpec,
    VolumeSpec,
)
from jupyter_containers.core import naming, watched
from jupyter_containers.core.catalog import parse_catalog
from jupyter_containers.core.events import EventLedger
from jupyter_containers.core.plan import ContainerSnapshot, Ref
from jupyter_containers.core.watched import POD_STATUS

Key = tuple[str, str]  # (domain namespace, container name)

MANAGED = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE}
#: The index handlers below, by the name kopf passes each under to every handler.
INDEX_NAMES = (
    "containers",
    "instance_types",
    "volumes",
    "images",
    "quotas",
    "deployments",
    "services",
    "pvcs",
    "pvs",
    "network_policies",
    "pods",
    "pod_owners",
    "deployment_names",
    "service_names",
    "pvc_names",
    "pv_names",
    "namespace_policies",
    "namespace_deployments",
    "namespace_pods",
)


class Indexes:
    """The kopf indexes of this module, kept from the first handler call that gets them.

    kopf hands its indexes to handlers only; the reconciler runs outside them, so it
    reads these live views (kopf updates them in place).
    """

    def __init__(self) -> None:
        self._views: dict[str, kopf.Index[Any, Any]] = {}
        #: Whether kopf has indexed every listed object (set by `shell.startup`): handlers run
        #: as each object is indexed (kopf_fixes), so the views may be partial before.
        self.filled = False

    def remember(self, handler_kwargs: Mapping[str, Any]) -> None:
        if not self._views:
            self._views = {name: handler_kwargs[name] for name in INDEX_NAMES}

    def __getitem__(self, name: str) -> kopf.Index[Any, Any]:
        return self._views[name]

    @property
    def ready(self) -> bool:
        """Whether the indexes are handed over and filled with every listed object."""
        return bool(self._views) and self.filled

    def container(self, key: Key) -> Mapping[str, Any] | None:
        return next(iter(self._views["containers"].get(key, [])), None)


class NameOwners(Mapping[Ref, str]):
    """The uid label of every managed object by (kind, namespace, name), over the name
    indexes below: which container holds a name (`ContainerSnapshot.owners`)."""

    _BY_KIND = {
        "Deployment": "deployment_names",
        "Service": "service_names",
        "PersistentVolumeClaim": "pvc_names",
        "PersistentVolume": "pv_names",
    }

    def __init__(self, indexes: Indexes) -> None:
        self._indexes = indexes

    def __getitem__(self, ref: Ref) -> str:
        index = self._BY_KIND.get(ref[0])
        found = self._indexes[index].get(ref) if index else None
        if not found:
            raise KeyError(ref)
        return str(next(iter(found)))

    def __iter__(self) -> Iterator[Ref]:
        for index in self._BY_KIND.values():
            yield from self._indexes[index].keys()

    def __len__(self) -> int:
        return sum(len(self._indexes[i]) for i in self._BY_KIND.values())


def observe(indexes: Indexes, ledger: EventLedger, key: Key) -> ContainerSnapshot:
    """What the watches hold about one container, for `core.plan`."""
    objects: list[Mapping[str, Any]] = []
    for name in ("deployments", "services", "pvcs", "pvs", "network_policies"):
        objects.extend(indexes[name].get(key, []))
    pods = list(indexes["pods"].get(key, []))
    return ContainerSnapshot(
        container=indexes.container(key),
        objects=objects,
        pods=pods,
        instance_types=parse_catalog(indexes["instance_types"], InstanceTypeSpec),
        volumes=parse_catalog(indexes["volumes"], VolumeSpec),
        images=parse_catalog(indexes["images"], JupyterImageSpec),
        pod_events={uid: ledger.counts([uid]) for uid in (p["metadata"]["uid"] for p in pods)},
        quotas=indexes["quotas"],
        owners=NameOwners(indexes),
    )


# ---------------------------------------------------------------- indexes


def _meta(body: Mapping[str, Any], *, keep_annotations: bool = True) -> dict[str, Any]:
    m = body["metadata"]
    meta: dict[str, Any] = {
        "name": m["name"],
        "namespace": m.get("namespace"),
        "uid": m.get("uid"),
        "labels": dict(m.get("labels") or {}),
        "creationTimestamp": m.get("creationTimestamp"),
    }
    if keep_annotations:
        meta["annotations"] = {
            k: v
            for k, v in (m.get("annotations") or {}).items()
            if k != "kubectl.kubernetes.io/last-applied-configuration"
        }
    for extra in ("generation", "deletionTimestamp", "finalizers", "resourceVersion"):
        if m.get(extra) is not None:
            meta[extra] = copy.deepcopy(m[extra])
    return meta


def owner_key(labels: Mapping[str, str]) -> Key | None:
    domain, name = labels.get(naming.DOMAIN_LABEL), labels.get(naming.NAME_LABEL)
    return (domain, name) if domain and name else None


# The index functions do no I/O but are `async`: kopf runs plain functions in a thread pool,
# which costs a thread hop (and GIL contention) for every watch event.


@kopf.index(GROUP, VERSION, "jupytercontainers")
async def containers(body: kopf.Body, namespace: str, name: str, **_: Any) -> dict[Key, Any]:
    return {
        (namespace, name): {
            "metadata": _meta(body),
            "spec": copy.deepcopy(dict(body.get("spec") or {})),
            "status": copy.deepcopy(dict(body.get("status") or {})),
        }
    }


def _managed(kind: str, body: kopf.Body, labels: Mapping[str, str]) -> dict[Key, Any]:
    key = owner_key(labels)
    if key is None:
        return {}
    obj: dict[str, Any] = {"kind": kind, "metadata": _meta(body)}
    if kind == "Deployment":
        obj["status"] = copy.deepcopy(watched.deployment_status(body.get("status")))
    if kind == "PersistentVolumeClaim":
        obj["status"] = copy.deepcopy(dict(body.get("status") or {}))
    if kind == "Service":
        # Whether it has a virtual IP, which an apply cannot remove (`core.plan`).
        obj["spec"] = {"clusterIP": (body.get("spec") or {}).get("clusterIP")}
    if kind == "PersistentVolumeClaim":
        # What volume growth reads (core.volume_size.Claim): its size and class.
        spec = body.get("spec") or {}
        requests = dict((spec.get("resources") or {}).get("requests") or {})
        obj["spec"] = {
            "resources": {"requests": requests},
            "storageClassName": spec.get("storageClassName"),
        }
    return {key: obj}


@kopf.index("v1", "resourcequotas")
async def quotas(body: kopf.Body, namespace: str, name: str, **_: Any) -> dict[str, Any]:
    # A watch instead of a LIST per start: starts are frequent, quota changes are rare.
    return {
        namespace: {
            "metadata": {"name": name, "namespace": namespace},
            "spec": copy.deepcopy(dict(body.get("spec") or {})),
            "status": copy.deepcopy(dict(body.get("status") or {})),
        }
    }


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
async def deployments(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Key, Any]:
    return _managed("Deployment", body, labels)


@kopf.index("v1", "services", labels=MANAGED)
async def services(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Key, Any]:
    return _managed("Service", body, labels)


@kopf.index("v1", "persistentvolumeclaims", labels=MANAGED)
async def pvcs(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Key, Any]:
    return _managed("PersistentVolumeClaim", body, labels)


@kopf.index("v1", "persistentvolumes", labels=MANAGED)
async def pvs(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Key, Any]:
    return _managed("PersistentVolume", body, labels)


@kopf.index("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
async def network_policies(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Key, Any]:
    # A container's own NetworkPolicy, as earlier versions made one per container: no longer
    # wanted, so its plan deletes it. The shared one has no owner labels: not indexed here.
    return _managed("NetworkPolicy", body, labels)


@kopf.index("v1", "pods", labels=MANAGED)
async def pods(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Key, Any]:
    key = owner_key(labels)
    if key is None:
        return {}
    status = dict(body.get("status") or {})
    return {
        key: {
            "kind": "Pod",
            "metadata": _meta(body),
            "spec": _pod_spec_summary(body.get("spec") or {}),
            # What the lifecycle reads, and the pod IP the culler probes (core.watched keeps
            # the same of every watched pod).
            "status": {k: copy.deepcopy(status[k]) for k in POD_STATUS if k in status},
        }
    }


def _pod_spec_summary(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What failure messages quote (image, limits); not the whole pod spec."""

    def brief(c: Mapping[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(c[k]) for k in ("name", "image", "resources") if k in c}

    return {
        "nodeName": spec.get("nodeName"),
        "containers": [brief(c) for c in spec.get("containers") or []],
        "initContainers": [brief(c) for c in spec.get("initContainers") or []],
    }


@kopf.index("v1", "pods", labels=MANAGED)
async def pod_owners(body: kopf.Body, labels: kopf.Labels, uid: str, **_: Any) -> dict[str, Key]:
    key = owner_key(labels)
    return {uid: key} if key is not None else {}


# Names held, by (kind, namespace, name): the uid label of whoever holds them ("" if none).


def _name_owner(kind: str, body: kopf.Body, labels: Mapping[str, str]) -> dict[Ref, str]:
    ns = body["metadata"].get("namespace") or ""
    return {(kind, ns, body["metadata"]["name"]): labels.get(naming.UID_LABEL, "")}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
async def deployment_names(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Ref, str]:
    return _name_owner("Deployment", body, labels)


@kopf.index("v1", "services", labels=MANAGED)
async def service_names(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Ref, str]:
    return _name_owner("Service", body, labels)


@kopf.index("v1", "persistentvolumeclaims", labels=MANAGED)
async def pvc_names(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Ref, str]:
    return _name_owner("PersistentVolumeClaim", body, labels)


@kopf.index("v1", "persistentvolumes", labels=MANAGED)
async def pv_names(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Ref, str]:
    return _name_owner("PersistentVolume", body, labels)


# By deployment namespace, for the one NetworkPolicy there (shell.namespace_policies): the
# policy itself, and how many JupyterLab Deployments and pods of ours are left (the values:
# whose they are).


@kopf.index("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
async def namespace_policies(
    body: kopf.Body, name: str, namespace: str, **_: Any
) -> dict[str, Any]:
    if name != naming.NETWORK_POLICY_NAME:
        return {}
    return {namespace: {"metadata": _meta(body)}}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
async def namespace_deployments(labels: kopf.Labels, namespace: str, **_: Any) -> dict[str, Key]:
    key = owner_key(labels)
    return {namespace: key} if key is not None else {}


@kopf.index("v1", "pods", labels=MANAGED)
async def namespace_pods(labels: kopf.Labels, namespace: str, **_: Any) -> dict[str, Key]:
    key = owner_key(labels)
    return {namespace: key} if key is not None else {}
