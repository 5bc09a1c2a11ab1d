"""Thin kopf handlers: keep indexes of what exists, and wake the reconciler.

Only indexes and `on.event` handlers: kopf then stores nothing on the objects
(no diff-base, no progress annotations), so watching costs no writes. Indexes
are complete before any handler runs, so after a restart the operator sees the
Deployments it made before it decides anything.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import kopf

from jupyter_containers.api.models import GROUP, VERSION, InstanceTypeSpec, VolumeSpec
from jupyter_containers.core import naming
from jupyter_containers.core.builders import parse_catalog
from jupyter_containers.core.events import EventLedger
from jupyter_containers.core.settings import Settings, load_settings
from jupyter_containers.shell import kopf_fixes
from jupyter_containers.shell.reconciler import (
    Key,
    Reconciler,
    World,
    now_utc,
    object_ref,
    parse_iso,
)
from jupyter_containers.shell.resources import close_shared_client, shared_client

logger = logging.getLogger(__name__)

MANAGED = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE}
MANAGED_SELECTOR = f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY_VALUE}"


class State:
    """Process-wide state, created at start-up."""

    settings: Settings
    started_at: datetime
    reconciler: Reconciler
    ledger: EventLedger
    pending_mirrors: dict[str, list[dict[str, Any]]]
    indexes: dict[str, kopf.Index[Any, Any]] = {}


state = State()


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


def _owner_key(labels: Mapping[str, str]) -> Key | None:
    domain, name = labels.get(naming.DOMAIN_LABEL), labels.get(naming.NAME_LABEL)
    return (domain, name) if domain and name else None


# ---------------------------------------------------------------- indexes

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


@kopf.index(GROUP, VERSION, "instancetypes")
async def instance_types(body: kopf.Body, name: str, **_: Any) -> dict[str, Any]:
    return {name: copy.deepcopy(dict(body.get("spec") or {}))}


@kopf.index(GROUP, VERSION, "volumes")
async def volumes(body: kopf.Body, name: str, **_: Any) -> dict[str, Any]:
    return {name: copy.deepcopy(dict(body.get("spec") or {}))}


def _managed(kind: str, body: kopf.Body, labels: Mapping[str, str]) -> dict[Key, Any]:
    key = _owner_key(labels)
    if key is None:
        return {}
    obj: dict[str, Any] = {"kind": kind, "metadata": _meta(body)}
    if kind in ("Deployment", "PersistentVolumeClaim"):
        obj["status"] = copy.deepcopy(dict(body.get("status") or {}))
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


@kopf.index("v1", "pods", labels=MANAGED)
async def pods(body: kopf.Body, labels: kopf.Labels, **_: Any) -> dict[Key, Any]:
    key = _owner_key(labels)
    if key is None:
        return {}
    status = dict(body.get("status") or {})
    return {
        key: {
            "kind": "Pod",
            "metadata": _meta(body),
            "spec": _pod_spec_summary(body.get("spec") or {}),
            "status": {
                k: copy.deepcopy(status[k])
                for k in (
                    "phase",
                    "reason",
                    "message",
                    "conditions",
                    "containerStatuses",
                    "initContainerStatuses",
                    "startTime",
                )
                if k in status
            },
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
    key = _owner_key(labels)
    return {uid: key} if key is not None else {}


# ---------------------------------------------------------------- wake-ups


def _remember(kwargs: Mapping[str, Any]) -> None:
    if not state.indexes:
        for name in (
            "containers",
            "instance_types",
            "volumes",
            "quotas",
            "deployments",
            "services",
            "pvcs",
            "pvs",
            "pods",
            "pod_owners",
        ):
            state.indexes[name] = kwargs[name]


@kopf.on.event(GROUP, VERSION, "jupytercontainers")
async def container_changed(namespace: str, name: str, **kwargs: Any) -> None:
    _remember(kwargs)
    state.reconciler.trigger((namespace, name))


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
@kopf.on.event("v1", "services", labels=MANAGED)
@kopf.on.event("v1", "persistentvolumeclaims", labels=MANAGED)
@kopf.on.event("v1", "persistentvolumes", labels=MANAGED)
@kopf.on.event("v1", "pods", labels=MANAGED)
async def managed_changed(
    labels: kopf.Labels, uid: str | None, type: str | None, **kwargs: Any
) -> None:
    _remember(kwargs)
    key = _owner_key(labels)
    if key is None:
        return
    state.reconciler.trigger(key)
    for event in state.pending_mirrors.pop(str(uid), []):
        _mirror(key, event)
    if type == "DELETED":
        state.pending_mirrors.pop(str(uid), None)


@kopf.on.event(GROUP, VERSION, "instancetypes")
@kopf.on.event(GROUP, VERSION, "volumes")
async def catalog_changed(type: str | None, **kwargs: Any) -> None:
    _remember(kwargs)
    if type is None:  # the initial listing: containers get their own events
        return
    # A catalog change can fix (or break) containers that reference it.
    for key in list(state.indexes["containers"].keys()):
        state.reconciler.trigger(key)


@kopf.on.event("v1", "events")
async def event_seen(body: kopf.Body, type: str | None, **kwargs: Any) -> None:
    _remember(kwargs)
    involved = body.get("involvedObject") or {}
    # Field selector: only Pod events reach here. Ours are all named jc-...
    if not str(involved.get("name", "")).startswith(naming.NAME_PREFIX):
        return
    pod_uid = str(involved.get("uid"))
    deleted = type == "DELETED"
    if not state.ledger.record(pod_uid, body, deleted=deleted):
        return
    mirror = not deleted and body.get("type") == "Warning" and _is_fresh(body)
    owners = state.indexes["pod_owners"].get(pod_uid)
    if not owners:
        # A pod's first events can overtake the pod on another watch stream: keep the
        # warning until the pod arrives (its arrival also recounts the events).
        if mirror:
            state.pending_mirrors.setdefault(pod_uid, []).append(dict(body))
        return
    key = next(iter(owners))
    state.reconciler.trigger(key)
    if mirror:
        _mirror(key, body)


def _mirror(key: Key, event: Mapping[str, Any]) -> None:
    """Post a pod's warning on the JupyterContainer, so `kubectl describe jc` shows it."""
    container = next(iter(state.indexes["containers"].get(key, [])), None)
    if container is None:
        return
    involved = event.get("involvedObject") or {}
    kopf.event(
        object_ref(container),
        type="Warning",
        reason=str(event.get("reason") or "PodWarning"),
        message=f"pod {involved.get('name')}: {event.get('message') or ''}"[:1024],
    )


def _is_fresh(event: Mapping[str, Any]) -> bool:
    """Events older than this process were mirrored by the previous one (or are stale)."""
    stamp = event.get("lastTimestamp") or event.get("eventTime") or ""
    seen = parse_iso(str(stamp)) if stamp else None
    return seen is not None and seen >= state.started_at


# ---------------------------------------------------------------- observation


def observe(key: Key) -> World:
    idx = state.indexes
    container = next(iter(idx["containers"].get(key, [])), None)
    objects: list[Mapping[str, Any]] = []
    for name in ("deployments", "services", "pvcs", "pvs"):
        objects.extend(idx[name].get(key, []))
    pods = list(idx["pods"].get(key, []))
    return World(
        container=container,
        objects=objects,
        pods=pods,
        instance_types=parse_catalog(idx["instance_types"], InstanceTypeSpec),
        volumes=parse_catalog(idx["volumes"], VolumeSpec),
        count_events=state.ledger.counts,
        quotas=idx["quotas"],
    )


# ---------------------------------------------------------------- start-up


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    state.settings = load_settings()
    state.started_at = now_utc() - timedelta(seconds=1)
    # Our own prefix, should a kopf feature that stores state ever be used. Not our
    # finalizer name: kopf removes "its" finalizer from objects without delete handlers.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="kopf.jupytercontainers.io"
    )
    # Without change-detecting handlers kopf's per-event essence (a deep copy) is unused.
    diffbase = (
        kopf.AnnotationsDiffBaseStorage
        if kopf_fixes.has_changing_handlers(kopf.get_default_registry())
        else kopf_fixes.EssenceFreeDiffBaseStorage
    )
    settings.persistence.diffbase_storage = diffbase(
        prefix="kopf.jupytercontainers.io", key="last-handled-configuration"
    )
    # Initial listings in pages, as the API server recommends for large lists: bounded
    # responses on both sides. (It did not lower the operator's own peak at a restart, which
    # is kopf holding every listed body until the indexes are filled: see kopf_fixes.)
    settings.watching.chunk_size = 200
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.label_selectors["pods"] = MANAGED_SELECTOR
    settings.watching.label_selectors["deployments"] = MANAGED_SELECTOR
    settings.watching.label_selectors["services"] = MANAGED_SELECTOR
    settings.watching.label_selectors["persistentvolumeclaims"] = MANAGED_SELECTOR
    settings.watching.label_selectors["persistentvolumes"] = MANAGED_SELECTOR
    settings.watching.field_selectors["events"] = "involvedObject.kind=Pod"
    client = shared_client(state.settings.field_manager)
    state.ledger = EventLedger()
    state.pending_mirrors = {}
    state.reconciler = Reconciler(client, state.settings, observe)


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    reconciler = getattr(state, "reconciler", None)
    if reconciler is not None:
        reconciler.queue.close()
    await close_shared_client()
