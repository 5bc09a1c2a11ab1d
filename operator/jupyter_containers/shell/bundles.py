"""ResourceBundle status: the containers that belong to each bundle.

Kept from two kopf indexes (containers by bundle, bundles with their listed
containers) and written only when the list changes, so a restart over unchanged
bundles writes nothing. Who may do what with a bundle's containers is enforced by
the admission webhook (`admission`, `validation`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from jupyter_containers.api.models import GROUP, VERSION
from jupyter_containers.shell.context import context_of
from jupyter_containers.shell.resources import ResourceBundle
from jupyter_containers.shell.workqueue import KeyedWorkQueue

logger = logging.getLogger(__name__)

BundleKey = tuple[str, str]  # (namespace, bundle name)

#: Attempts at one status write before waiting for the next event to try again.
PATCH_ATTEMPTS = 3
#: Seconds between two writes of one bundle's list: when many containers join or leave at
#: once, the list is written once per interval with all of them, not once per container.
WRITE_INTERVAL = 10.0


class BundleWriter:
    """Writes each bundle's `status.containers`, one write at a time per bundle.

    On a `KeyedWorkQueue`: one sync per bundle at a time (two events computing the list
    at once cannot race) and triggers that arrive meanwhile fold into one more sync.
    """

    def __init__(self, client: AsyncClient, *, interval: float = WRITE_INTERVAL) -> None:
        self.client = client
        self.interval = interval
        self.queue: KeyedWorkQueue[BundleKey] = KeyedWorkQueue(self._sync, concurrency=32)
        #: kopf's live indexes (bundle_members, bundle_lists), kept from the first event.
        self._indexes: Mapping[str, kopf.Index[Any, Any]] = {}
        #: (bundle uid, list) this process wrote last, in case the watch has not caught up.
        self._written: dict[BundleKey, tuple[str, list[str]]] = {}
        #: Loop time of the last write per bundle.
        self._last_write: dict[BundleKey, float] = {}

    def trigger(self, key: BundleKey, handler_kwargs: Mapping[str, Any]) -> None:
        if not self._indexes:
            self._indexes = {
                name: handler_kwargs[name] for name in ("bundle_members", "bundle_lists")
            }
        self.queue.trigger(key)

    def forget(self, key: BundleKey) -> None:
        self.queue.forget(key)
        self._written.pop(key, None)
        self._last_write.pop(key, None)

    def close(self) -> None:
        self.queue.close()

    def stand_by(self) -> None:
        """Stop writing at once (see `Reconciler.stand_by`)."""
        self.queue.pause()
        self._written.clear()
        self._last_write.clear()

    def lead(self) -> None:
        """Start writing: every bundle the watch holds is compared with its members again."""
        self.queue.resume()
        if self._indexes:
            for key in list(self._indexes["bundle_lists"].keys()):
                self.queue.trigger(key)

    async def _sync(self, key: BundleKey) -> None:
        """Write the bundle's container list when it differs from what is there."""
        observed = next(iter(self._indexes["bundle_lists"].get(key, [])), None)
        if observed is None:
            return  # no such bundle (yet): its own event will sync it
        uid, listed = observed
        desired = desired_members(self._indexes["bundle_members"], key)
        if desired == listed or self._written.get(key) == (uid, desired):
            return
        loop = asyncio.get_running_loop()
        wait = self._last_write.get(key, -self.interval) + self.interval - loop.time()
        if wait > 0:
            # kopf's indexes are live views: the later sync sees the list as it is then.
            self.queue.trigger_after(key, wait)
            return
        self._last_write[key] = loop.time()
        await self._write(key, uid, desired)

    async def _write(self, key: BundleKey, uid: str, desired: list[str]) -> None:
        namespace, name = key
        for attempt in range(1, PATCH_ATTEMPTS + 1):
            try:
                await self.client.patch(
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
                self._written[key] = (uid, desired)
                return


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


@kopf.on.event(GROUP, VERSION, "jupytercontainers")
async def container_moved(spec: kopf.Spec, namespace: str, memo: kopf.Memo, **kwargs: Any) -> None:
    bundle = spec.get("bundle")
    if bundle:
        context_of(memo).bundles.trigger((namespace, bundle), kwargs)


@kopf.on.event(GROUP, VERSION, "resourcebundles")
async def bundle_seen(
    type: str | None, namespace: str, name: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    writer = context_of(memo).bundles
    if type == "DELETED":
        writer.forget((namespace, name))
        return
    writer.trigger((namespace, name), kwargs)
