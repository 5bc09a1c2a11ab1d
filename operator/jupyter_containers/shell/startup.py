"""The operator's one start-up and one cleanup (kopf activities).

Start-up takes the settings `main` loaded once (from the memo it handed kopf), makes the
API clients (admission's and the bundle writer's, and the reconciler's own), configures
kopf (watches, persistence, webhook server), asks who the operator is, and builds the reconciler,
the event ledger and the bundle writer into one `OperatorContext` kept in kopf's memo.
Cleanup closes all of it. Importing this module registers every handler of the shell.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import kopf

from jupyter_containers.core.events import EventLedger
from jupyter_containers.shell import bundles, watch, world
from jupyter_containers.shell.admission import start_webhooks, stop_webhooks
from jupyter_containers.shell.bundles import BundleWriter
from jupyter_containers.shell.context import BOOT_KEY, MEMO_KEY, Boot, OperatorContext
from jupyter_containers.shell.reconciler import Reconciler, now_utc
from jupyter_containers.shell.resources import operator_client

__all__ = ["bundles", "start", "stop", "watch"]  # imported for their handlers


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    boot: Boot = memo[BOOT_KEY]
    cfg = boot.settings
    started_at = now_utc() - timedelta(seconds=1)
    watch.configure_kopf(settings)
    client = operator_client(cfg.field_manager)
    identity = await start_webhooks(settings, cfg, client)
    indexes = world.Indexes()
    ledger = EventLedger()
    memo[MEMO_KEY] = OperatorContext(
        settings=cfg,
        client=client,
        started_at=started_at,
        indexes=indexes,
        ledger=ledger,
        # Its own connections: a burst of reconciles queues in its pool (resources.REQUEST_TIMEOUT),
        # and an admission review (the API server waits 30 s at most) must not queue behind it.
        reconciler=Reconciler(
            operator_client(cfg.field_manager),
            cfg,
            lambda key: world.observe(indexes, ledger, key),
        ),
        bundles=BundleWriter(client),
        admission=identity,
        heartbeats=boot.heartbeats,
    )


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    ctx: OperatorContext | None = memo.get(MEMO_KEY)
    if ctx is None:
        return
    ctx.reconciler.queue.close()
    ctx.bundles.close()
    await ctx.reconciler.client.close()
    await ctx.client.close()
    stop_webhooks(ctx.admission)
