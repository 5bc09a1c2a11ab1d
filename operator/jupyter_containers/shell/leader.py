"""Leader election: the one replica that holds the Lease reconciles; every replica serves admission.

The algorithm is client-go's leaderelection (see `core.lease`), run on the operator's event
loop with its one API client. kopf's own peering is not used: it is not a lease, and it pauses
the watching of every operator of equal priority, so a standby would lose its warm indexes.
Here every replica keeps all of kopf's watches and indexes running (admission reads them, and
a new leader decides from them at once); only the writers stand by: the reconciler's and the
bundle writer's work queues, paused until this replica leads (`on_lead`) and paused again, with
the work in flight cancelled, the moment it stops leading (`on_stand_by`).

The moment it stops: a timer set at every successful renewal fires `renew_deadline` after
that renewal started, unless a later one succeeded; a renewal request still hanging then is
cancelled too. A replica that reads the Lease and finds another holder stops at once. And the
writers' client (`LeaderOnlyClient`) checks the deadline itself before every write, so a
process that was frozen past its deadline (SIGSTOP, a stalled VM) writes nothing when it
thaws, even before the timer's callback gets its turn on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx2
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta

from jupyter_containers.core import lease
from jupyter_containers.core.lease import Action, LeaseRecord, LeaseTimings
from jupyter_containers.shell import metrics

logger = logging.getLogger(__name__)

#: coordination.k8s.io/v1 Lease as a generic resource: its spec goes to the API as written
#: (`core.lease.spec_of` formats the MicroTimes as the API server parses them).
Lease = create_namespaced_resource("coordination.k8s.io", "v1", "Lease", "leases")


class LeaseMissing(RuntimeError):
    """The Lease is absent and may not be created: nothing leads until someone creates it."""


#: Errors of one attempt that leave the replica a candidate (it tries again).
_TRANSIENT = (ApiError, httpx2.HTTPError, OSError, TimeoutError, LeaseMissing)


class NotLeading(asyncio.CancelledError):
    """A write refused because this replica no longer leads: the work that wanted it is
    cancelled (as the stand-by that follows cancels the rest), not failed."""


class LeaderOnlyClient:
    """The API client of the writers (reconciler, bundle writer): reads pass through; every
    write first checks that this replica leads and is within its renew deadline."""

    WRITES = frozenset({"create", "patch", "replace", "delete", "apply", "deletecollection"})

    def __init__(self, client: AsyncClient, may_write: Callable[[], bool]) -> None:
        self._client = client
        self._may_write = may_write

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in self.WRITES:
            return attr

        @functools.wraps(attr)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            if not self._may_write():
                raise NotLeading(f"{name} refused: this replica does not hold the leader Lease")
            result: Awaitable[Any] = attr(*args, **kwargs)
            return await result

        return guarded


def default_identity() -> str:
    """client-go's default: the host name plus a random suffix, unique per process."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}_{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


class Elector:
    """Takes, holds and releases one Lease; calls `on_lead` / `on_stand_by` as that changes."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        timings: LeaseTimings,
        on_lead: Callable[[], None] = lambda: None,
        on_stand_by: Callable[[], None] = lambda: None,
        wall_clock: Callable[[], datetime] = _now,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timings = timings
        self.on_lead = on_lead
        self.on_stand_by = on_stand_by
        self._wall = wall_clock
        self.leading = False
        self._deadline: asyncio.TimerHandle | None = None
        #: The record last read, its resourceVersion, and the loop time it was first seen.
        self._observed: tuple[str | None, float] = (None, 0.0)
        self._record: LeaseRecord | None = None
        self._resource_version: str | None = None

    def may_write(self) -> bool:
        """Whether this replica leads and its renew deadline has not passed (by the clock,
        not by the deadline timer, which a frozen process runs late)."""
        if not self.leading or self._deadline is None:
            return False
        return asyncio.get_running_loop().time() < self._deadline.when()

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Until cancelled: try to take or renew the Lease every retry period. Cancelled: stop
        leading and release the Lease."""
        loop = asyncio.get_running_loop()
        logger.info(
            "leader election: Lease %s/%s as %s (lease %gs, renew deadline %gs, retry %gs)",
            self.namespace,
            self.name,
            self.identity,
            self.timings.lease_duration,
            self.timings.renew_deadline,
            self.timings.retry_period,
        )
        try:
            while True:
                started = loop.time()
                # A leader's attempt may take until its deadline; a candidate's one period.
                budget = (
                    self._deadline.when() - started
                    if self.leading and self._deadline is not None
                    else self.timings.retry_period
                )
                try:
                    async with asyncio.timeout(max(budget, 0.1)):
                        held = await self._try_acquire_or_renew()
                except _TRANSIENT as exc:
                    logger.warning("leader election: Lease %s not renewed: %s", self.name, exc)
                    held = False
                if held:
                    self._renewed(started)
                await asyncio.sleep(self.timings.retry_period)
        finally:
            await self._release()

    def _renewed(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        if self._deadline is not None:
            self._deadline.cancel()
        deadline = lease.leader_deadline(started, self.timings)
        self._deadline = loop.call_at(deadline, self._stop_leading, "renew deadline passed")
        if not self.leading:
            self.leading = True
            metrics.leader.set(1)
            logger.info("leader election: %s leads (Lease %s)", self.identity, self.name)
            self.on_lead()

    def _stop_leading(self, why: str) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if not self.leading:
            return
        self.leading = False
        metrics.leader.set(0)
        logger.warning("leader election: %s stops leading: %s", self.identity, why)
        self.on_stand_by()

    # ------------------------------------------------------------ one attempt

    async def _read(self) -> tuple[LeaseRecord | None, str | None]:
        try:
            obj = await self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as err:
            if err.status.code == 404:
                return None, None
            raise
        body = obj.to_dict()
        return lease.record_of(body.get("spec")), (body.get("metadata") or {}).get(
            "resourceVersion"
        )

    async def _try_acquire_or_renew(self) -> bool:
        """One read and at most one write; True when this replica holds the Lease after it."""
        loop = asyncio.get_running_loop()
        record, version = await self._read()
        if version != self._observed[0]:
            self._observed = (version, loop.time())
        self._record, self._resource_version = record, version
        step = lease.next_step(
            record,
            self.identity,
            unchanged_for=loop.time() - self._observed[1],
            now=self._wall(),
            timings=self.timings,
        )
        if step.action is Action.WAIT:
            if self.leading:
                self._stop_leading(f"the Lease is held by {record.holder if record else '?'}")
            return False
        assert step.record is not None
        try:
            if step.action is Action.CREATE:
                written = await self.client.create(self._lease(step.record, None))
            else:
                written = await self.client.replace(self._lease(step.record, version))
        except ApiError as err:
            if err.status.code in (404, 409):  # another replica wrote first: read again
                return False
            if err.status.code == 403 and step.action is Action.CREATE:
                raise LeaseMissing(
                    f"Lease {self.namespace}/{self.name} does not exist and this operator may "
                    "not create it (the chart's RBAC allows get and update of that name only): "
                    "the Helm chart creates it (templates/lease.yaml); `helm upgrade` the "
                    "release, or create the Lease"
                ) from err
            raise
        self._record = step.record
        self._resource_version = written.metadata.resourceVersion if written.metadata else None
        self._observed = (self._resource_version, loop.time())
        return True

    def _lease(self, record: LeaseRecord, version: str | None) -> Any:
        return Lease(
            metadata=ObjectMeta(name=self.name, namespace=self.namespace, resourceVersion=version),
            spec=lease.spec_of(record),
        )

    async def _release(self) -> None:
        """Stop leading, then hand the Lease over (no holder), so a successor need not wait."""
        was_leading = self.leading
        self._stop_leading("the operator is stopping")
        if not was_leading or self._record is None or self._record.holder != self.identity:
            return
        try:
            async with asyncio.timeout(self.timings.retry_period):
                await self.client.replace(
                    self._lease(lease.released(self._record, self._wall()), self._resource_version)
                )
            logger.info("leader election: %s released Lease %s", self.identity, self.name)
        except (*_TRANSIENT, asyncio.CancelledError) as exc:
            logger.warning("leader election: Lease %s not released: %r", self.name, exc)
