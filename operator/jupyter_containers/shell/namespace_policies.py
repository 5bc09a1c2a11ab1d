"""The one NetworkPolicy of each deployment namespace: made before the first start there,
deleted when no JupyterLab of the operator is left, made again when someone deletes it.

`core.namespace_policy` decides; this module gathers its facts (the indexes of `shell.world`,
what this process wrote last, a GET when the watch cannot tell who holds the name) and makes
the writes. One lock per namespace: two callers never write one namespace's policy at once.

- The reconciler calls `ensure` before it writes anything of a container that deploys in a
  namespace. It returns at once when the watch (or this process's own last write) shows the
  policy with the wanted spec hash, so a burst of starts in one namespace costs one apply; the
  starts that arrive while it is being applied wait for that one apply. A start is counted
  until the watch shows its Deployment, so the policy is never deleted under a start that is
  on its way.
- Its own queue, by namespace, is triggered by watch events: the last Deployment or pod of ours
  in a namespace DELETED (the policy goes), an event of the policy itself (deleted by hand:
  made again), a start that deploys there no more (`release`), and every namespace the
  watches know once when this replica begins to lead. No polling.

The reconciler pauses and resumes it with leadership (`stand_by`, `lead`): a standby replica
writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx2
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType

from jupyter_containers.core import naming
from jupyter_containers.core.builders import build_network_policy
from jupyter_containers.core.namespace_policy import Action, Holder, decide, holder_of
from jupyter_containers.core.settings import Settings
from jupyter_containers.shell.resources import NetworkPolicy
from jupyter_containers.shell.workqueue import KeyedWorkQueue
from jupyter_containers.shell.world import Indexes, Key

logger = logging.getLogger(__name__)

#: Namespaces synced at once (each sync holds at most one API request at a time).
SYNC_CONCURRENCY = 8
#: Seconds before a failed sync is tried again: doubled per failure, at most MAX_BACKOFF.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class PolicyTaken(Exception):
    """The namespace's policy name is held by an object without the managed-by label."""

    def __init__(self, namespace: str) -> None:
        super().__init__(f"{naming.NETWORK_POLICY_NAME} in {namespace} is not the operator's")
        self.namespace = namespace


class NamespacePolicies:
    def __init__(self, client: AsyncClient, settings: Settings, indexes: Indexes) -> None:
        self.client = client
        self.settings = settings
        self.indexes = indexes
        self.queue: KeyedWorkQueue[str] = KeyedWorkQueue(self._sync, concurrency=SYNC_CONCURRENCY)
        #: Reconcile a container again (the reconciler sets it): when someone else's object
        #: takes the policy's name, each container there is refused.
        self.wake: Callable[[Key], None] = lambda _key: None
        self._locks: dict[str, asyncio.Lock] = {}
        #: What this process wrote last by namespace, until the watch shows the policy again:
        #: the spec hash applied, or None (deleted: the watch may still show the old one).
        self._written: dict[str, str | None] = {}
        #: Starts whose Deployment the watch does not show yet: container -> namespace.
        self._pending: dict[Key, str] = {}
        self._pending_in: dict[str, set[Key]] = {}
        self._desired: dict[str, tuple[dict[str, Any], str] | None] = {}
        self._failures: dict[str, int] = {}  # consecutive failed syncs by namespace

    # ------------------------------------------------------------ the reconciler's calls

    async def ensure(self, key: Key, namespace: str) -> None:
        """Return once the namespace's policy exists as wanted (the container may deploy).

        Raises PolicyTaken when someone else's object holds its name (never written over)."""
        self._claim(key, namespace)
        if self._holder(namespace) == Holder.OURS:
            return
        async with self._lock(namespace):
            if await self._converge(namespace) == Action.REFUSE:
                raise PolicyTaken(namespace)

    def release(self, key: Key) -> None:
        """The container deploys nowhere (stopped, refused, deleted): its start counts no more."""
        namespace = self._pending.pop(key, None)
        if namespace is not None:
            self._unpend(key, namespace)
            self.queue.trigger(namespace)

    # ------------------------------------------------------------ watch events

    def seen(self, plural: str, namespace: str | None, name: str, type_: str | None) -> None:
        """A watch event of a managed object (`shell.watch`)."""
        if not namespace:
            return
        if plural == "networkpolicies":
            if name != naming.NETWORK_POLICY_NAME:
                return
            # The watch shows the policy as it is now. Our own deletion stays remembered until
            # its DELETED event: an older event must not make the deleted one look present.
            if type_ == "DELETED" or self._written.get(namespace) is not None:
                self._written.pop(namespace, None)
            self.queue.trigger(namespace)
        elif (
            type_ == "DELETED"
            and plural in ("deployments", "pods")
            and self._remaining(namespace) == 0
        ):
            self.queue.trigger(namespace)

    # ------------------------------------------------------------ leadership

    def stand_by(self) -> None:
        """Stop writing at once (see `Reconciler.stand_by`) and forget what this process wrote."""
        self.queue.pause()
        self._failures.clear()
        self._written.clear()
        self._pending.clear()
        self._pending_in.clear()

    def lead(self) -> None:
        """Start writing: every namespace the watches show a policy, Deployment or pod in."""
        self.queue.resume()
        if not self.indexes.ready:
            return  # the initial listing's events trigger them
        namespaces: set[str] = set()
        for index in ("namespace_policies", "namespace_deployments", "namespace_pods"):
            namespaces.update(self.indexes[index].keys())
        for namespace in sorted(namespaces):
            self.queue.trigger(namespace)

    def close(self) -> None:
        self.queue.close()

    # ------------------------------------------------------------ facts

    def _policy(self, namespace: str) -> tuple[dict[str, Any], str] | None:
        """The desired policy and its spec hash (None: the setting is off)."""
        if namespace not in self._desired:
            body = build_network_policy(namespace, self.settings)
            self._desired[namespace] = (
                None
                if body is None
                else (body, body["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION])
            )
        return self._desired[namespace]

    def _wanted_hash(self, namespace: str) -> str:
        desired = self._policy(namespace)
        return desired[1] if desired is not None else ""

    def _holder(self, namespace: str) -> Holder:
        """Who holds the name, from this process's last write, else from the watch."""
        want = self._wanted_hash(namespace)
        if namespace in self._written:
            written = self._written[namespace]
            if written is None:
                return Holder.UNKNOWN  # deleted by us: the watch may not show it yet
            if written == want:
                return Holder.OURS
        seen = next(iter(self._index("namespace_policies").get(namespace, ())), None)
        if seen is None:
            return Holder.UNKNOWN  # the watch sees only ours: someone else's may be there
        meta = seen["metadata"]
        return holder_of(meta.get("labels") or {}, meta.get("annotations"), want)

    def _remaining(self, namespace: str) -> int:
        """JupyterLab Deployments and pods of ours in the namespace, and starts on their way."""
        return (
            len(self._index("namespace_deployments").get(namespace, ()))
            + len(self._index("namespace_pods").get(namespace, ()))
            + len(self._pending_in.get(namespace, ()))
        )

    def _index(self, name: str) -> Any:
        return self.indexes[name] if self.indexes.ready else {}

    def _deployed(self, key: Key, namespace: str) -> bool:
        """Whether the watch shows a Deployment of the container in the namespace."""
        return any(
            o["metadata"].get("namespace") == namespace
            for o in self._index("deployments").get(key, ())
        )

    def _claim(self, key: Key, namespace: str) -> None:
        before = self._pending.get(key)
        if before == namespace:
            return
        if before is not None:  # it moved: the former namespace may have nothing left
            self.release(key)
        if not self._deployed(key, namespace):
            self._pending[key] = namespace
            self._pending_in.setdefault(namespace, set()).add(key)

    def _unpend(self, key: Key, namespace: str) -> None:
        keys = self._pending_in.get(namespace)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._pending_in[namespace]

    def _prune(self, namespace: str) -> None:
        """Starts whose Deployment the watch shows now count by their Deployment."""
        for key in list(self._pending_in.get(namespace, ())):
            if self._deployed(key, namespace):
                self._pending.pop(key, None)
                self._unpend(key, namespace)

    # ------------------------------------------------------------ writes

    def _lock(self, namespace: str) -> asyncio.Lock:
        lock = self._locks.get(namespace)
        if lock is None:
            lock = self._locks[namespace] = asyncio.Lock()
        return lock

    async def _sync(self, namespace: str) -> None:
        if not self.indexes.ready:
            return
        self._prune(namespace)
        try:
            async with self._lock(namespace):
                action = await self._converge(namespace)
        except (ApiError, httpx2.TransportError) as exc:
            # Refused or no answer (a namespace being deleted refuses new objects): the next
            # event may settle it; otherwise try again later, without a traceback each time.
            failures = self._failures[namespace] = self._failures.get(namespace, 0) + 1
            delay = min(FIRST_BACKOFF * 2 ** (failures - 1), MAX_BACKOFF)
            logger.info(
                "namespace %s: NetworkPolicy %s not settled (%s); again in %.0f s",
                namespace,
                naming.NETWORK_POLICY_NAME,
                exc,
                delay,
            )
            self.queue.trigger_after(namespace, delay)
            return
        self._failures.pop(namespace, None)
        if action == Action.REFUSE:
            logger.warning(
                "namespace %s: NetworkPolicy %s is not the operator's (no %s label): its "
                "JupyterLab containers are refused a start until it is gone",
                namespace,
                naming.NETWORK_POLICY_NAME,
                naming.MANAGED_BY_LABEL,
            )
            owners = set(self._index("namespace_deployments").get(namespace, ()))
            for key in sorted(owners | self._pending_in.get(namespace, set())):
                self.wake(key)

    async def _converge(self, namespace: str) -> Action:
        """Decide and write (the namespace's lock held)."""
        desired = self._policy(namespace)
        enabled = desired is not None
        holder = self._holder(namespace)
        action = decide(enabled=enabled, holder=holder, remaining=self._remaining(namespace))
        if action == Action.LOOK:
            holder = await self._look(namespace)
            action = decide(enabled=enabled, holder=holder, remaining=self._remaining(namespace))
        if action == Action.APPLY and desired is not None:
            await self._apply(namespace, *desired)
        elif action == Action.DELETE:
            return await self._delete(namespace)
        return action

    async def _look(self, namespace: str) -> Holder:
        """Who holds the name, read from the API server."""
        holder = await self._read(namespace)
        if holder == Holder.OURS:
            self._written[namespace] = self._wanted_hash(namespace)
        return holder

    async def _read(self, namespace: str) -> Holder:
        try:
            obj = await self.client.get(
                NetworkPolicy, naming.NETWORK_POLICY_NAME, namespace=namespace
            )
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            return Holder.NOBODY
        meta = obj.metadata
        labels = dict((meta.labels if meta else None) or {})
        annotations = dict((meta.annotations if meta else None) or {})
        return holder_of(labels, annotations, self._wanted_hash(namespace))

    async def _apply(self, namespace: str, body: dict[str, Any], spec_hash: str) -> None:
        await self.client.patch(
            NetworkPolicy,
            naming.NETWORK_POLICY_NAME,
            body,
            namespace=namespace,
            patch_type=PatchType.APPLY,
            field_manager=self.settings.field_manager,
            force=True,
        )
        self._written[namespace] = spec_hash

    async def _delete(self, namespace: str) -> Action:
        """Delete ours: its label read once more first, never someone else's."""
        if await self._read(namespace) not in (Holder.OURS, Holder.OURS_STALE):
            return Action.LEAVE
        if self._remaining(namespace) > 0:
            return Action.LEAVE  # a start came while the label was read
        # From here on a start waits for the lock and reads the name (no stale "present").
        self._written[namespace] = None
        try:
            await self.client.delete(NetworkPolicy, naming.NETWORK_POLICY_NAME, namespace=namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
        return Action.DELETE
