"""Liveness: the operator is alive while its watch streams keep delivering.

The API server sends a bookmark about once a minute on every watch it serves from its
watch cache, even when nothing changes, and kopf reconnects a stream that stayed silent
for its `inactivity_timeout` (70 s). A stream that has shown it gets bookmarks and then
delivers nothing at all for several minutes is therefore stuck: reconnecting keeps failing
(API server unreachable, credentials revoked) or its task is wedged. The operator then
misses changes, so the liveness probe fails and the kubelet restarts the pod. A blocked
event loop fails the probe as well: nothing answers it.

Streams that never received a bookmark are not judged: the API server sends none for
resources outside its watch cache (Events, by default) or when the cache is disabled, and
silence there is normal.

kopf does not hand bookmarks to handlers, so this module wraps kopf's watch-stream
generator (`kopf._cogs.clients.watching.infinite_watch`, looked up through its module by
kopf's watcher on every call). kopf is pinned to 1.45.x; `install()` fails loudly if that
function moves, and a unit test checks the hook. `main` installs it before kopf opens any
stream and keeps the heartbeats in the process context; nothing here is module state.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import kopf
from kopf._cogs.clients import watching

from jupyter_containers.shell.context import BOOT_KEY, Boot


@dataclass
class _Stream:
    what: str
    last: float
    bookmarked: bool = False


class WatchHeartbeats:
    """When each open watch stream last delivered something (event, bookmark or listing)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ids = itertools.count()
        self._streams: dict[int, _Stream] = {}

    def opened(self, what: str) -> int:
        token = next(self._ids)
        self._streams[token] = _Stream(what, self._clock())
        return token

    def beat(self, token: int, *, bookmark: bool = False) -> None:
        stream = self._streams.get(token)
        if stream is not None:
            stream.last = self._clock()
            stream.bookmarked = stream.bookmarked or bookmark

    def closed(self, token: int) -> None:
        self._streams.pop(token, None)

    def report(self) -> dict[str, Any]:
        """Open streams, those judged (they get bookmarks), and the most silent of those."""
        now = self._clock()
        judged = [s for s in self._streams.values() if s.bookmarked]
        report: dict[str, Any] = {
            "streams": len(self._streams),
            "withBookmarks": len(judged),
            "stalest": None,
            "silentSeconds": 0.0,
        }
        if judged:
            stalest = min(judged, key=lambda s: s.last)
            report["stalest"] = stalest.what
            report["silentSeconds"] = round(now - stalest.last, 1)
        return report

    def check(self, threshold: float) -> dict[str, Any]:
        """The report; raises `StuckWatch` when a stream has been silent past `threshold`."""
        report = self.report()
        if report["silentSeconds"] > threshold:
            raise StuckWatch(
                f"the watch stream of {report['stalest']} delivered nothing (not even a bookmark) "
                f"for {report['silentSeconds']:.0f}s, more than JC_WATCH_STALL_SECONDS="
                f"{threshold:g}; restarting the operator reconnects it"
            )
        return report


class StuckWatch(kopf.PermanentError):
    """A permanent error, so kopf answers the probe with a failure at once (no retries)."""


def _describe(resource: Any, namespace: str | None) -> str:
    where = f"in namespace {namespace}" if namespace else "cluster-wide"
    return f"{getattr(resource, 'plural', resource)} {where}"


def _is_bookmark(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "BOOKMARK"


def install(heartbeats: WatchHeartbeats) -> None:
    """Route every kopf watch stream through `heartbeats`.

    Installing again only swaps the heartbeats the one wrapper reports to, so a process
    that runs the operator twice (tests) never wraps the wrapper.
    """
    current = watching.infinite_watch
    if getattr(current, "__jc_heartbeats__", None) is not None:
        current.__jc_heartbeats__ = heartbeats  # type: ignore[attr-defined]
        return
    if not callable(current):
        raise RuntimeError(
            "kopf._cogs.clients.watching.infinite_watch is missing: the installed kopf is not the "
            "pinned 1.45.x; update jupyter_containers/shell/health.py for this kopf version"
        )
    original = current

    @functools.wraps(original)
    async def infinite_watch(
        *, resource: Any, namespace: str | None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        beats: WatchHeartbeats = infinite_watch.__jc_heartbeats__  # type: ignore[attr-defined]
        token = beats.opened(_describe(resource, namespace))
        try:
            async for item in original(resource=resource, namespace=namespace, **kwargs):
                beats.beat(token, bookmark=_is_bookmark(item))
                yield item
        finally:
            beats.closed(token)

    infinite_watch.__jc_heartbeats__ = heartbeats  # type: ignore[attr-defined]
    watching.infinite_watch = infinite_watch  # type: ignore[assignment]


@kopf.on.probe(id="watch")
def watch_streams(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    """Served by kopf at the liveness endpoint (`/healthz` on JC_HEALTH_PORT)."""
    # From what `main` made before kopf started, so every role (shell.roles) is judged.
    boot: Boot | None = memo.get(BOOT_KEY)
    if boot is None:  # not started by `main`: no stream is watched through the heartbeats
        return {"streams": 0, "starting": True}
    return boot.heartbeats.check(boot.settings.watch_stall_seconds)
