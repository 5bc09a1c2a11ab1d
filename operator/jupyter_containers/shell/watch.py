"""Watch handlers: every watch event only says which container to look at again.

Only `on.event` handlers (with the indexes of `shell.world`): kopf then stores nothing
on the objects (no diff-base, no progress annotations), so watching costs no writes.
A pod's warning Events are also mirrored onto its JupyterContainer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import kopf

from jupyter_containers.api.models import GROUP, VERSION
from jupyter_containers.core import naming, urgency
from jupyter_containers.core.status import parse_iso
from jupyter_containers.shell.context import OperatorContext, context_of
from jupyter_containers.shell.reconciler import object_ref
from jupyter_containers.shell.world import MANAGED, Key, owner_key

logger = logging.getLogger(__name__)


@kopf.on.event(GROUP, VERSION, "jupytercontainers")
async def container_changed(namespace: str, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    ctx = context_of(memo)
    ctx.indexes.remember(kwargs)
    ctx.remember_handler_context()
    ctx.reconciler.trigger((namespace, name))
    if ctx.culler is not None:
        ctx.culler.notice((namespace, name))


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
@kopf.on.event("v1", "services", labels=MANAGED)
@kopf.on.event("v1", "persistentvolumeclaims", labels=MANAGED)
@kopf.on.event("v1", "persistentvolumes", labels=MANAGED)
@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
@kopf.on.event("v1", "pods", labels=MANAGED)
async def managed_changed(
    labels: kopf.Labels,
    uid: str | None,
    type: str | None,
    resource: kopf.Resource,
    namespace: str | None,
    name: str,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    ctx = context_of(memo)
    ctx.indexes.remember(kwargs)
    ctx.reconciler.policies.seen(resource.plural, namespace, name, type)
    key = owner_key(labels)
    if key is None:
        return
    if type == "DELETED":  # by anyone: what this process applied there is gone, apply it again
        ctx.reconciler.forget_applied((str(resource.kind), namespace or "", name))
    # Work on a container that already exists (its pod became Ready...) goes ahead of new ones.
    ctx.reconciler.trigger(key, urgent=urgency.urgent_child_event(resource.plural, type))
    for event in ctx.pending_mirrors.pop(str(uid), []):
        _mirror(ctx, key, event)


@kopf.on.event(GROUP, VERSION, "instancetypes")
@kopf.on.event(GROUP, VERSION, "volumes")
@kopf.on.event(GROUP, VERSION, "jupyterimages")
async def catalog_changed(
    type: str | None, name: str, meta: kopf.Meta, memo: kopf.Memo, **kwargs: Any
) -> None:
    ctx = context_of(memo)
    ctx.indexes.remember(kwargs)
    if kwargs["resource"].plural == "jupyterimages":
        # JupyterImages have a status (pre-pull): a write of it changes no generation.
        seen = ctx.image_generations.get(name, -1)
        generation = meta.get("generation")
        if type == "DELETED":
            ctx.image_generations.pop(name, None)
        else:
            ctx.image_generations[name] = generation
            if seen == generation:
                return
    if type is None:  # the initial listing: containers get their own events
        return
    # A catalog change can fix (or break) containers that reference it; an InstanceType's
    # culling policy is the culler's.
    for key in list(ctx.indexes["containers"].keys()):
        ctx.reconciler.trigger(key)
        if ctx.culler is not None:
            ctx.culler.notice(key)


@kopf.on.event("v1", "events")
async def event_seen(body: kopf.Body, type: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    ctx = context_of(memo)
    ctx.indexes.remember(kwargs)
    involved = body.get("involvedObject") or {}
    # Field selector: only Pod events reach here. Ours are all named jc-... or jx-...
    if not str(involved.get("name", "")).startswith((naming.NAME_PREFIX, naming.FOREIGN_PREFIX)):
        return
    pod_uid = str(involved.get("uid"))
    deleted = type == "DELETED"
    if not ctx.ledger.record(pod_uid, body, deleted=deleted):
        return
    mirror = not deleted and body.get("type") == "Warning" and _is_fresh(body, ctx.started_at)
    owners = ctx.indexes["pod_owners"].get(pod_uid)
    if not owners:
        # A pod's first events can overtake the pod on another watch stream: keep the
        # warning until the pod arrives (its arrival also recounts the events).
        if mirror:
            ctx.pending_mirrors.setdefault(pod_uid, []).append(dict(body))
        return
    key = next(iter(owners))
    ctx.reconciler.trigger(key, urgent=urgency.urgent_pod_event(type, body.get("type")))
    if mirror:
        _mirror(ctx, key, body)


def _mirror(ctx: OperatorContext, key: Key, event: Mapping[str, Any]) -> None:
    """Post a pod's warning on the JupyterContainer, so `kubectl describe jc` shows it."""
    if not ctx.leading:  # the leader posts it; a standby writes nothing
        return
    container = ctx.indexes.container(key)
    if container is None:
        return
    involved = event.get("involvedObject") or {}
    kopf.event(
        object_ref(container),
        type="Warning",
        reason=str(event.get("reason") or "PodWarning"),
        message=f"pod {involved.get('name')}: {event.get('message') or ''}"[:1024],
    )


def _is_fresh(event: Mapping[str, Any], started_at: datetime) -> bool:
    """Events older than this process were mirrored by the previous one (or are stale)."""
    stamp = event.get("lastTimestamp") or event.get("eventTime") or ""
    seen = parse_iso(str(stamp)) if stamp else None
    return seen is not None and seen >= started_at
