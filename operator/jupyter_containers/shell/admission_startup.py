"""Start-up and cleanup of a process that only serves admission (role `admission`).

It runs no reconciler and writes nothing: it starts the webhook server and keeps the two
watches admission reads instead of the API (the catalog, `shell.catalog_watch`, and the
names of the JupyterContainers that exist, below). The names only: admission asks whether a
name is taken, and a process of its own must not hold every container's body as the
reconciler's index does.
"""

from __future__ import annotations

from typing import Any

import kopf

from jupyter_containers.api.models import GROUP, VERSION
from jupyter_containers.shell import admission, catalog_watch, kopf_settings
from jupyter_containers.shell.context import ADMISSION_KEY, BOOT_KEY, AdmissionContext, Boot
from jupyter_containers.shell.resources import operator_client
from jupyter_containers.shell.webhook_server import start_webhooks, stop_webhooks

__all__ = ["admission", "catalog_watch", "container_names", "start", "stop"]


@kopf.index(GROUP, VERSION, "jupytercontainers")
async def container_names(namespace: str, name: str, **_: Any) -> dict[tuple[str, str], bool]:
    return {(namespace, name): True}


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    boot: Boot = memo[BOOT_KEY]
    kopf_settings.configure(settings)
    client = operator_client(boot.settings.field_manager)
    memo[ADMISSION_KEY] = await start_webhooks(settings, boot.settings, client)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    ctx: AdmissionContext | None = memo.get(ADMISSION_KEY)
    if ctx is not None:
        await ctx.client.close()
        stop_webhooks(ctx)
