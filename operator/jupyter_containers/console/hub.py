"""One watch of JupyterContainers per console server, fanned out to every browser.

The console's own identity watches (list + watch, all namespaces, resumed from the last
resourceVersion); each browser's event stream gets the changes of the domains its user
may list (decided by the API server: an access review as the user, see app.py). No
browser polls; a lost watch is re-established and the browsers are told the API server
is unreachable until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from lightkube import AsyncClient
from lightkube.config.kubeconfig import SingleConfig

from jupyter_containers.console import views
from jupyter_containers.shell.resources import JupyterContainer

log = logging.getLogger(__name__)


@dataclass(eq=False)  # one per browser stream, kept in a set by identity
class Subscriber:
    #: The domains whose changes it gets; None: every change (the stream filters them, once
    #: it knows the user's domains).
    domains: frozenset[str] | None
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(1000))
    #: Its queue overflowed (a slow browser, or a re-established watch replaying every
    #: container): changes were lost, so its stream ends and the browser reconnects, which
    #: sends the page's current state again; never a page quietly showing an old state.
    lagged: bool = False


class Hub:
    def __init__(self, config: SingleConfig, domain_filter: Callable[[str], bool]) -> None:
        self.config = config
        self.domain_filter = domain_filter
        self.subscribers: set[Subscriber] = set()
        self.api_up = True
        #: The latest row of every watched container: a browser that subscribes gets the
        #: current state of what its page shows (changes between render and subscribe).
        self.latest: dict[tuple[str, str], dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="console-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _publish(self, message: dict[str, Any], domain: str | None = None) -> None:
        for sub in list(self.subscribers):
            if domain is not None and sub.domains is not None and domain not in sub.domains:
                continue
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                sub.lagged = True

    def _set_up(self, up: bool) -> None:
        if up != self.api_up:
            self.api_up = up
            self._publish({"type": "api", "up": up})

    async def _run(self) -> None:
        delay = 0.5
        while True:
            client = AsyncClient(self.config)
            try:
                async for kind, obj in self._watch(client):
                    delay = 0.5
                    self._set_up(True)
                    data = obj if isinstance(obj, dict) else obj.to_dict()
                    domain = str(data["metadata"].get("namespace", ""))
                    if not self.domain_filter(domain):
                        continue
                    payload = views.live_fields(data)
                    key = (domain, payload["name"])
                    if kind == "DELETED":
                        self.latest.pop(key, None)
                    else:
                        self.latest[key] = payload
                    self._publish({"type": kind, "container": payload}, domain)
            except asyncio.CancelledError:
                raise
            except httpx2.TransportError as exc:  # the API server is unreachable
                log.warning("watch of JupyterContainers lost (%s); retrying", exc)
                self._set_up(False)
            except Exception as exc:  # an answer, but not a watch (e.g. the CRD is missing)
                log.warning("watch of JupyterContainers failed (%s); retrying", exc)
            finally:
                with contextlib.suppress(Exception):
                    await client.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _watch(self, client: AsyncClient) -> AsyncIterator[tuple[str, Any]]:
        # A small list first proves the API server is (back) up; the watch without a
        # resourceVersion then sends every current object as ADDED, so browsers catch up
        # on what changed while it was away.
        async for _ in client.list(JupyterContainer, namespace="*", chunk_size=1):
            break
        self._set_up(True)
        async for kind, obj in client.watch(JupyterContainer, namespace="*"):
            yield kind, obj

    @contextlib.asynccontextmanager
    async def subscribe(self, domains: frozenset[str] | None) -> AsyncIterator[Subscriber]:
        sub = Subscriber(domains)
        self.subscribers.add(sub)
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)

    def snapshot(
        self, shown: list[tuple[str, str]], domains: frozenset[str]
    ) -> list[dict[str, Any]]:
        """The current rows of the containers a page shows (only in the user's domains)."""
        return [
            {"type": "MODIFIED", "container": self.latest[key]}
            for key in shown
            if key[0] in domains and key in self.latest
        ]
