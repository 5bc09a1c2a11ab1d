"""Image pre-pull: keeps each JupyterImage with spec.prePull pulled by a DaemonSet.

The decisions are `core.prepull`'s; this shell gathers the facts and applies them. Facts: the
JupyterImages and InstanceTypes from kopf's indexes, and the DaemonSets of the pre-pull
namespace from a list-then-watch of that one namespace (not a kopf watch: kopf watches the
operator's namespaces, often the whole cluster, and the chart grants DaemonSets only in its
release namespace). Every JupyterImage or InstanceType event and every DaemonSet event of that
namespace triggers the images concerned on a `KeyedWorkQueue`; nothing polls.

Writes (the DaemonSet's apply or delete, the image's status.prePull) go through the leader's
client and only while this replica leads; every replica keeps the DaemonSet watch warm.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import DaemonSet
from lightkube.types import PatchType

from jupyter_containers.api.models import GROUP, VERSION, InstanceTypeSpec, JupyterImageSpec
from jupyter_containers.core import naming, prepull
from jupyter_containers.core.catalog import parse_catalog
from jupyter_containers.core.settings import Settings
from jupyter_containers.shell.context import context_of
from jupyter_containers.shell.resources import JupyterImage
from jupyter_containers.shell.workqueue import KeyedWorkQueue

logger = logging.getLogger(__name__)

#: Seconds before the DaemonSet watch is listed again after an error, doubling up to the last.
WATCH_BACKOFF = (1.0, 30.0)


class PrePuller:
    """One sync per JupyterImage at a time: its DaemonSet and its status.prePull."""

    def __init__(self, client: AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.queue: KeyedWorkQueue[str] = KeyedWorkQueue(self._sync, concurrency=4)
        #: kopf's live indexes (images, instance_types, image_states), from the first event.
        self._indexes: Mapping[str, kopf.Index[Any, Any]] = {}
        #: The DaemonSets of the pre-pull namespace, by name, as the watch last saw them.
        self._daemonsets: dict[str, prepull.Observed] = {}
        self._listed = asyncio.Event()
        #: Spec hash applied per DaemonSet name, in case the watch has not caught up yet.
        self._applied: dict[str, str] = {}
        #: status.prePull written per image (uid, dump), in case the watch has not caught up.
        self._written: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self._watch_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ triggers

    def remember(self, handler_kwargs: Mapping[str, Any]) -> None:
        if not self._indexes:
            self._indexes = {
                name: handler_kwargs[name] for name in ("images", "instance_types", "image_states")
            }

    def trigger(self, image: str) -> None:
        self.queue.trigger(image)

    def trigger_all(self) -> None:
        """Every image known, and every image a DaemonSet of ours was made for."""
        names = set(self._indexes["images"].keys()) if self._indexes else set()
        names |= {o.image_name for o in self._daemonsets.values() if o.image_name}
        for name in sorted(names):
            self.queue.trigger(name)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.settings.prepull_namespace is None:
            self._listed.set()  # nothing to watch: no DaemonSet is ever made
            return
        loop = asyncio.get_running_loop()
        self._watch_task = loop.create_task(self._watch(), name="prepull daemonsets")

    def lead(self) -> None:
        self.queue.resume()
        self.trigger_all()

    def stand_by(self) -> None:
        self.queue.pause()
        self._applied.clear()
        self._written.clear()

    async def close(self) -> None:
        self.queue.close()
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)

    # ------------------------------------------------------------ the DaemonSet watch

    async def _watch(self) -> None:
        namespace = self.settings.prepull_namespace
        delay = WATCH_BACKOFF[0]
        while True:
            try:
                listing = self.client.list(DaemonSet, namespace=namespace)
                seen = {}
                async for ds in listing:
                    observed = prepull.Observed.of(ds.to_dict())
                    seen[observed.name] = observed
                before, self._daemonsets = self._daemonsets, seen
                for gone in before.keys() - seen.keys():
                    self._applied.pop(gone, None)
                self._listed.set()
                for observed in (*before.values(), *seen.values()):
                    self._trigger_owner(observed)
                delay = WATCH_BACKOFF[0]
                async for kind, ds in self.client.watch(
                    DaemonSet, namespace=namespace, resource_version=listing.resourceVersion
                ):
                    observed = prepull.Observed.of(ds.to_dict())
                    if kind == "DELETED":
                        self._daemonsets.pop(observed.name, None)
                        self._applied.pop(observed.name, None)  # deleted by anyone: apply again
                    else:
                        self._daemonsets[observed.name] = observed
                    self._trigger_owner(observed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a 410 Gone, a dropped connection: list again
                logger.warning("pre-pull: DaemonSet watch in %s: %s; listing again", namespace, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, WATCH_BACKOFF[1])

    def _trigger_owner(self, observed: prepull.Observed) -> None:
        if observed.image_name and prepull.is_ours(observed.labels):
            self.queue.trigger(observed.image_name)

    # ------------------------------------------------------------ one sync

    async def _sync(self, name: str) -> None:
        await self._listed.wait()
        if not self._indexes:
            return  # no catalog event yet: the first one triggers every image
        images = parse_catalog(
            {name: self._indexes["images"].get(name, [])}, JupyterImageSpec
        )  # an invalid entry is as if absent (parse_catalog warns)
        state = next(iter(self._indexes["image_states"].get(name, [])), None)
        uid = state["uid"] if state else None
        instance_types = parse_catalog(self._indexes["instance_types"], InstanceTypeSpec)
        ds_name = prepull.daemonset_name(name)
        observed = self._daemonsets.get(ds_name)
        decision = prepull.decide(
            name, uid, images.get(name), instance_types, observed, self.settings
        )
        if decision.action is prepull.Action.APPLY and decision.body is not None:
            await self._apply(ds_name, decision.body)
        elif decision.action is prepull.Action.DELETE:
            await self._delete(ds_name)
        if state is not None:
            await self._write_status(name, state, decision.status)

    async def _apply(self, ds_name: str, body: dict[str, Any]) -> None:
        want = body["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION]
        if self._applied.get(ds_name) == want:
            return
        await self.client.patch(
            DaemonSet,
            ds_name,
            body,
            namespace=self.settings.prepull_namespace,
            patch_type=PatchType.APPLY,
            field_manager=self.settings.field_manager,
            force=True,
        )
        self._applied[ds_name] = want
        logger.info("pre-pull: applied DaemonSet %s", ds_name)

    async def _delete(self, ds_name: str) -> None:
        try:
            await self.client.delete(DaemonSet, ds_name, namespace=self.settings.prepull_namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
        self._applied.pop(ds_name, None)
        logger.info("pre-pull: deleted DaemonSet %s", ds_name)

    async def _write_status(
        self, name: str, state: Mapping[str, Any], status: prepull.PrePullStatus | None
    ) -> None:
        want = status.model_dump(exclude_none=True) if status is not None else None
        if state.get("prePull") == want or self._written.get(name) == (state["uid"], want):
            return
        try:
            await self.client.patch(
                JupyterImage.Status,
                name,
                {"status": {"prePull": want}},
                patch_type=PatchType.MERGE,
            )
        except ApiError as exc:
            if exc.status.code == 404:  # deleted meanwhile
                return
            raise
        self._written[name] = (state["uid"], want)


# ---------------------------------------------------------------- watch handlers


@kopf.index(GROUP, VERSION, "jupyterimages")
async def image_states(body: kopf.Body, name: str, uid: str, **_: Any) -> dict[str, Any]:
    """What the sync compares against: the image's uid and its status.prePull."""
    status = body.get("status") or {}
    pre_pull = status.get("prePull")
    return {name: {"uid": uid, "prePull": dict(pre_pull) if pre_pull is not None else None}}


@kopf.on.event(GROUP, VERSION, "jupyterimages")
async def image_seen(name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    puller = context_of(memo).prepull
    if puller is not None:
        puller.remember(kwargs)
        puller.trigger(name)


@kopf.on.event(GROUP, VERSION, "instancetypes")
async def instance_type_seen(type: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    puller = context_of(memo).prepull
    if puller is None:
        return
    puller.remember(kwargs)
    if type is not None:  # the initial listing: the images' own events trigger them
        puller.trigger_all()
