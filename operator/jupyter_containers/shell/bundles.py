"""ResourceBundle status: the containers that belong to each bundle.

Kept from two kopf indexes (containers by bundle, bundles with their listed
containers) and written only when the list changes, so a restart over unchanged
bundles writes nothing. Who may do what with a bundle's containers is enforced by
the admission webhook (`admission`, `validation`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from jupyter_containers.api.models import GROUP, VERSION
from jupyter_containers.core.settings import load_settings
from jupyter_containers.shell.resources import ResourceBundle, close_shared_client, shared_client

logger = logging.getLogger(__name__)

BundleKey = tuple[str, str]  # (namespace, bundle name)

#: Attempts at one status write before waiting for the next event to try again.
PATCH_ATTEMPTS = 3
#: Seconds between two writes of one bundle's list: when many containers join or leave at
#: once, the list is written once per interval with all of them, not once per container.
WRITE_INTERVAL = 10.0


class BundleState:
    client: AsyncClient
    #: One writer per bundle: two events computing the list at once must not race.
    locks: defaultdict[BundleKey, asyncio.Lock] = defaultdict(asyncio.Lock)
    #: (bundle uid, list) this process wrote last, in case the watch has not caught up.
    written: dict[BundleKey, tuple[str, list[str]]] = {}
    #: Loop time of the last write per bundle, and the bundles with a later write scheduled.
    last_write: dict[BundleKey, float] = {}
    scheduled: set[BundleKey] = set()
    tasks: set[asyncio.Task[None]] = set()  # delayed writes in flight (kept from the GC)


state = BundleState()


# Indexes are `async` although they do no I/O: kopf runs plain functions in a thread pool.
@kopf.index(GROUP, VERSION, "jupytercontainers")
async def bundle_members(
    spec: kopf.Spec, meta: kopf.Meta, namespace: str, name: str, **_: Any
) -> dict[BundleKey, str]:
    bundle = spec.get("bundle")
    # A container being deleted has already left its bundle for the user.
    if not bundle or meta.get("deletionTimestamp"):
        return {}
    return {(namespace, bundle): name}


@kopf.index(GROUP, VERSION, "resourcebundles")
async def bundle_lists(
    status: kopf.Status, namespace: str, name: str, uid: str, **_: Any
) -> dict[BundleKey, tuple[str, list[str]]]:
    return {(namespace, name): (uid, list(status.get("containers") or []))}


def desired_members(index: kopf.Index[BundleKey, str], key: BundleKey) -> list[str]:
    return sorted(set(index.get(key, [])))


async def sync_bundle(
    key: BundleKey,
    members: kopf.Index[BundleKey, str],
    lists: kopf.Index[BundleKey, tuple[str, list[str]]],
) -> None:
    """Write the bundle's container list when it differs from what is there."""
    async with state.locks[key]:
        observed = next(iter(lists.get(key, [])), None)
        if observed is None:
            return  # no such bundle (yet): its own event will sync it
        uid, listed = observed
        desired = desired_members(members, key)
        if desired == listed or state.written.get(key) == (uid, desired):
            return
        loop = asyncio.get_running_loop()
        wait = state.last_write.get(key, -WRITE_INTERVAL) + WRITE_INTERVAL - loop.time()
        if wait > 0:
            if key not in state.scheduled:
                state.scheduled.add(key)
                loop.call_later(wait, _sync_later, key, members, lists)
            return
        state.last_write[key] = loop.time()
        namespace, name = key
        for attempt in range(1, PATCH_ATTEMPTS + 1):
            try:
                await state.client.patch(
                    ResourceBundle.Status,
                    name,
                    {"status": {"containers": desired}},
                    namespace=namespace,
                    patch_type=PatchType.MERGE,
                )
            except ApiError as err:
                if err.status.code == 404:  # deleted meanwhile
                    return
                if attempt == PATCH_ATTEMPTS:
                    raise
                await asyncio.sleep(attempt)
            else:
                state.written[key] = (uid, desired)
                return


def _sync_later(
    key: BundleKey,
    members: kopf.Index[BundleKey, str],
    lists: kopf.Index[BundleKey, tuple[str, list[str]]],
) -> None:
    state.scheduled.discard(key)
    # kopf's indexes are live views: the later sync sees the list as it is then.
    task = asyncio.get_running_loop().create_task(sync_bundle(key, members, lists))
    state.tasks.add(task)
    task.add_done_callback(_sync_done)


def _sync_done(task: asyncio.Task[None]) -> None:
    state.tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("bundle status write failed", exc_info=task.exception())


@kopf.on.startup()
async def configure_bundles(**_: Any) -> None:
    state.client = shared_client(load_settings().field_manager)


@kopf.on.cleanup()
async def close_bundles(**_: Any) -> None:
    await close_shared_client()


@kopf.on.event(GROUP, VERSION, "jupytercontainers")
async def container_moved(
    spec: kopf.Spec,
    namespace: str,
    bundle_members: kopf.Index[BundleKey, str],
    bundle_lists: kopf.Index[BundleKey, tuple[str, list[str]]],
    **_: Any,
) -> None:
    bundle = spec.get("bundle")
    if bundle:
        await sync_bundle((namespace, bundle), bundle_members, bundle_lists)


@kopf.on.event(GROUP, VERSION, "resourcebundles")
async def bundle_seen(
    type: str | None,
    namespace: str,
    name: str,
    bundle_members: kopf.Index[BundleKey, str],
    bundle_lists: kopf.Index[BundleKey, tuple[str, list[str]]],
    **_: Any,
) -> None:
    key = (namespace, name)
    if type == "DELETED":
        state.written.pop(key, None)
        state.locks.pop(key, None)
        state.last_write.pop(key, None)
        return
    await sync_bundle(key, bundle_members, bundle_lists)
