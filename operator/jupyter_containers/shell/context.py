"""The operator process's contexts: made once at start-up, kept in kopf's memo.

`shell.startup` builds the reconciler's (settings loaded once, the API clients, the
reconciler, the event ledger, the bundle writer) and closes it at cleanup; the process that
serves admission (`shell.roles`) also keeps the admission webhooks' own, smaller context.
Handlers get them from the `memo` kopf passes them: no module keeps process state.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightkube import AsyncClient

    from jupyter_containers.core.events import EventLedger
    from jupyter_containers.core.settings import Settings
    from jupyter_containers.shell.bundles import BundleWriter
    from jupyter_containers.shell.culler import Culler
    from jupyter_containers.shell.health import WatchHeartbeats
    from jupyter_containers.shell.leader import Elector
    from jupyter_containers.shell.prepuller import PrePuller
    from jupyter_containers.shell.reconciler import Reconciler
    from jupyter_containers.shell.webhook_server import AdmissionIdentity
    from jupyter_containers.shell.world import Indexes

#: The key of the context in kopf's memo (kopf copies the memo per object, shallowly:
#: every copy refers to this one context).
MEMO_KEY = "jupyter_containers"
#: The key of what `main` made before kopf started (`Boot`), in the memo it hands kopf.
BOOT_KEY = "jupyter_containers_boot"
#: The key of the admission webhooks' context (`AdmissionContext`).
ADMISSION_KEY = "jupyter_containers_admission"


@dataclass(frozen=True)
class Boot:
    """What the process made before kopf started: the settings, loaded once (logging, ports and
    the watched namespaces need them before kopf runs), and the watch heartbeats (hooked in
    before kopf opens its first stream)."""

    settings: Settings
    heartbeats: WatchHeartbeats
    role: str = "all"
    """What this process does (`shell.roles`): all, reconciler or admission."""

    @property
    def serves_admission(self) -> bool:
        return self.role in ("all", "admission")


@dataclass(frozen=True)
class AdmissionContext:
    """What the admission webhooks read: the settings, their API client (reads and
    SubjectAccessReviews only) and who the operator is."""

    settings: Settings
    client: AsyncClient
    identity: AdmissionIdentity


@dataclass
class OperatorContext:
    settings: Settings
    client: AsyncClient
    started_at: datetime
    """A second before start-up: events older than this were mirrored by a previous process."""
    indexes: Indexes
    ledger: EventLedger
    reconciler: Reconciler
    bundles: BundleWriter
    heartbeats: WatchHeartbeats
    pending_mirrors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Pod warnings that arrived before their pod, by pod uid."""
    elector: Elector | None = None
    """The Lease this replica leads by (None: no election, it always leads)."""
    election: asyncio.Task[None] | None = None
    """The elector's loop (cancelled at cleanup, which releases the Lease)."""
    indexing: asyncio.Task[None] | None = None
    """Waits for kopf to fill every index, then releases the held work queues (startup)."""
    handler_context: contextvars.Context | None = None
    """The context vars of a kopf handler (kopf's event queue for `kopf.event`), kept from the
    first watch event: reconciles started by the elector run in it, as the ones a handler
    triggers do."""

    def remember_handler_context(self) -> None:
        if self.handler_context is None:
            self.handler_context = contextvars.copy_context()

    def in_handler_context(self, fn: Callable[[], None]) -> None:
        """Call `fn` in a kopf handler's context (when one was seen; else in the current)."""
        if self.handler_context is None:
            fn()
        else:
            self.handler_context.run(fn)

    @property
    def leading(self) -> bool:
        """Whether this replica may write (reconcile, bundle lists, mirrored Events)."""
        return self.elector is None or self.elector.may_write()

    culler: Culler | None = None
    """Idle culling and maximum lifetime (shell/culler.py), started with the context."""
    prepull: PrePuller | None = None
    """Image pre-pull DaemonSets (shell/prepuller.py), started with the context."""
    image_generations: dict[str, int | None] = field(default_factory=dict)
    """metadata.generation of each JupyterImage last seen: a status write (pre-pull) changes
    none, and must not re-trigger every container."""


def context_of(memo: Mapping[str, Any]) -> OperatorContext:
    """The context from a handler's `memo` (set by `shell.startup.start`)."""
    return memo[MEMO_KEY]  # type: ignore[no-any-return]


def admission_context_of(memo: Mapping[str, Any]) -> AdmissionContext:
    """The admission webhooks' context from a handler's `memo` (set by the start-up of the
    process that serves them)."""
    return memo[ADMISSION_KEY]  # type: ignore[no-any-return]
