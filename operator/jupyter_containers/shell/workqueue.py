"""A keyed work queue: at most one reconcile per key at a time, bursts coalesced.

Watch events arrive in bursts (a pod change, its deployment's status, an event);
each only says "look at this container again". Running one reconcile per key and
folding every trigger that arrives meanwhile into one more run keeps the API
writes to the minimum and the state consistent, without polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

logger = logging.getLogger(__name__)


class KeyedWorkQueue(Generic[K]):
    def __init__(
        self,
        work: Callable[[K], Awaitable[None]],
        *,
        concurrency: int = 32,
        max_backoff: float = 60.0,
        on_error: Callable[[K, BaseException], None] | None = None,
    ) -> None:
        self._work = work
        self._limit = asyncio.Semaphore(concurrency)
        self._running: dict[K, asyncio.Task[None]] = {}
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._failures: dict[K, int] = {}
        self._max_backoff = max_backoff
        self._on_error = on_error
        #: False while paused (a standby replica): triggers and timers are dropped.
        self.active = True

    def trigger(self, key: K) -> None:
        """Reconcile `key` soon; if it is running now, once more after it finishes."""
        if not self.active:
            return
        if key in self._running:
            self._dirty.add(key)
            return
        self._running[key] = asyncio.get_running_loop().create_task(
            self._run(key), name=f"reconcile {key}"
        )

    def trigger_after(self, key: K, delay: float) -> None:
        """Reconcile `key` after `delay` seconds (a deadline), keeping the earliest timer."""
        if not self.active:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + max(delay, 0.0)
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def forget(self, key: K) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._failures.pop(key, None)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.trigger(key)

    async def _run(self, key: K) -> None:
        try:
            while True:
                self._dirty.discard(key)
                async with self._limit:
                    try:
                        await self._work(key)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        failures = self._failures.get(key, 0) + 1
                        self._failures[key] = failures
                        delay = min(2.0 ** (failures - 1), self._max_backoff)
                        logger.exception("reconcile of %s failed; retrying in %.0fs", key, delay)
                        if self._on_error is not None:
                            self._on_error(key, exc)
                        self.trigger_after(key, delay)
                    else:
                        self._failures.pop(key, None)
                if key not in self._dirty:
                    return
        finally:
            self._running.pop(key, None)

    async def drain(self) -> None:
        """Wait for the reconciles in flight (used at shutdown and in tests)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    def pause(self) -> None:
        """Stop at once: cancel the work in flight and the timers, drop what was pending and
        ignore triggers until `resume` (whoever resumes triggers every key again)."""
        self.active = False
        self._dirty.clear()
        self._failures.clear()
        self.close()

    def resume(self) -> None:
        self.active = True

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._running.values():
            task.cancel()
