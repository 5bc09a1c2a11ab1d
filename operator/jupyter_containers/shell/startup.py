"""The reconciler's start-up and cleanup (kopf activities; roles `reconciler` and `all`).

Start-up takes the settings `main` loaded once (from the memo it handed kopf), makes the
API clients (the bundle writer's, the reconciler's own, and in role `all` admission's),
configures kopf (watches, persistence, and in role `all` the webhook server), and builds the
reconciler, the event ledger and the bundle writer into one `OperatorContext` kept in kopf's
memo.
With leader election (`JC_LEADER_ELECTION_LEASE`), start-up also starts the `shell.leader`
elector: the reconciler and the bundle writer stand by until this replica holds the Lease,
while the watches, indexes and webhooks run on every replica. Cleanup stops leading first,
then releases the Lease. Importing this module registers every handler of the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, cast

import kopf
from lightkube import AsyncClient

from jupyter_containers.core.events import EventLedger
from jupyter_containers.core.settings import Settings
from jupyter_containers.shell import (
    bundles,
    catalog_watch,
    kopf_fixes,
    kopf_settings,
    metrics,
    prepuller,
    watch,
    world,
)
from jupyter_containers.shell.bundles import BundleWriter
from jupyter_containers.shell.context import (
    ADMISSION_KEY,
    BOOT_KEY,
    MEMO_KEY,
    Boot,
    OperatorContext,
)
from jupyter_containers.shell.culler import Culler
from jupyter_containers.shell.leader import Elector, LeaderOnlyClient, default_identity
from jupyter_containers.shell.namespace_policies import NamespacePolicies
from jupyter_containers.shell.prepuller import PrePuller
from jupyter_containers.shell.reconciler import Reconciler, now_utc
from jupyter_containers.shell.resources import operator_client
from jupyter_containers.shell.webhook_server import start_webhooks, stop_webhooks

__all__ = ["bundles", "catalog_watch", "prepuller", "start", "stop", "watch"]  # their handlers


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    boot: Boot = memo[BOOT_KEY]
    cfg = boot.settings
    started_at = now_utc() - timedelta(seconds=1)
    kopf_settings.configure(settings)
    client = operator_client(cfg.field_manager)
    if boot.serves_admission:  # role `all`: the webhook server on this loop too
        memo[ADMISSION_KEY] = await start_webhooks(settings, cfg, client)
    elector = _elector(cfg, client) if cfg.leader_election_lease else None
    writer = _writer(client, elector)
    indexes = world.Indexes()
    ledger = EventLedger()
    memo[MEMO_KEY] = ctx = OperatorContext(
        settings=cfg,
        client=client,
        started_at=started_at,
        indexes=indexes,
        ledger=ledger,
        reconciler=_reconciler(cfg, elector, indexes, ledger),
        bundles=BundleWriter(writer),
        heartbeats=boot.heartbeats,
        elector=elector,
        culler=Culler(writer, cfg, indexes, leading=elector.may_write if elector else lambda: True),
        prepull=(puller := PrePuller(writer, cfg)),
    )
    _start_workers(ctx, memo)
    if elector is None:
        metrics.leader.set(1)
        return

    def stand_by() -> None:
        ctx.reconciler.stand_by()
        ctx.bundles.stand_by()
        puller.stand_by()

    stand_by()

    def lead() -> None:
        # The watches are warm: every container they hold is reconciled from what they hold.
        # (Before the first handler ran the indexes are not known yet; the initial listing's
        # events then trigger each container.)
        try:
            keys = list(ctx.indexes["containers"].keys())
        except KeyError:
            keys = []
        # In a kopf handler's context, as reconciles started by watch events run (kopf.event
        # needs its event queue, which kopf sets per handler).
        ctx.in_handler_context(lambda: ctx.reconciler.lead(keys))
        ctx.in_handler_context(ctx.bundles.lead)
        puller.lead()

    elector.on_lead, elector.on_stand_by = lead, stand_by
    ctx.election = asyncio.get_running_loop().create_task(elector.run(), name="election")


def _start_workers(ctx: OperatorContext, memo: kopf.Memo) -> None:
    """Start the culler and the pre-puller, and hold every work queue until kopf has indexed
    every listed object (kopf_fixes: handlers run as each object is indexed, so at a restart
    a reconcile must not see half of the world)."""
    assert ctx.culler is not None and ctx.prepull is not None
    ctx.culler.start()
    ctx.prepull.start()
    reconciler = ctx.reconciler
    queues = [reconciler.queue, reconciler.policies.queue, ctx.bundles.queue, ctx.prepull.queue]
    for queue in queues:
        queue.hold()
    memo[kopf_fixes.INDEXES_FILLED] = filled = asyncio.Event()

    async def release() -> None:
        await filled.wait()
        ctx.indexes.filled = True
        for queue in queues:
            ctx.in_handler_context(queue.release)

    ctx.indexing = asyncio.get_running_loop().create_task(release(), name="indexes filled")


def _reconciler(
    cfg: Settings, elector: Elector | None, indexes: world.Indexes, ledger: EventLedger
) -> Reconciler:
    """The reconciler and its keeper of namespace NetworkPolicies, on connections of their own: a
    burst of reconciles queues in its pool (resources.REQUEST_TIMEOUT), and an admission review
    (the API server waits 30 s at most) must not queue behind it."""
    client = _writer(operator_client(cfg.field_manager), elector)
    return Reconciler(
        client,
        cfg,
        lambda key: world.observe(indexes, ledger, key),
        policies=NamespacePolicies(client, cfg, indexes),
    )


def _writer(client: AsyncClient, elector: Elector | None) -> AsyncClient:
    """The writers write only while this replica leads; admission reads with the plain client."""
    return (
        client
        if elector is None
        else cast(AsyncClient, LeaderOnlyClient(client, elector.may_write))
    )


def _elector(cfg: Settings, client: AsyncClient) -> Elector:
    assert cfg.leader_election_lease
    return Elector(
        client,
        namespace=cfg.leader_election_namespace,
        name=cfg.leader_election_lease,
        identity=cfg.leader_election_identity or default_identity(),
        timings=cfg.lease_timings(),
    )


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    ctx: OperatorContext | None = memo.get(MEMO_KEY)
    if ctx is None:
        return
    if ctx.election is not None:  # stops leading, then releases the Lease
        ctx.election.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ctx.election
    if ctx.indexing is not None:
        ctx.indexing.cancel()
    ctx.reconciler.queue.close()
    ctx.reconciler.policies.close()
    ctx.bundles.close()
    if ctx.culler is not None:
        await ctx.culler.close()
    if ctx.prepull is not None:
        await ctx.prepull.close()
    await ctx.reconciler.client.close()
    await ctx.client.close()
    stop_webhooks(memo.get(ADMISSION_KEY))
