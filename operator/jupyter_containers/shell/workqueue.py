"""A keyed work queue: at most one reconcile per key at a time, bursts coalesced.

Watch events arrive in bursts (a pod change, its deployment's status, an event);
each only says "look at this container again". Running one reconcile per key and
folding every trigger that arrives meanwhile into one more run keeps the API
writes to the minimum and the state consistent, without polling.

Work on what already exists goes first: a trigger marked `urgent` (a change of an object the
operator made: a pod became Ready, a Deployment went away) takes the next free slot ahead of
every plain trigger (a new container, a spec change). In a burst of thousands of creations,
plain FIFO made a pod's readiness wait behind all the creation work queued before it: 39 s
at p50 at N=5000 (BENCHMARKS.md). Within a class, the order is first come, first served.

Ordering alone was not enough: in a burst, plain runs held every slot, so an urgent run
waited for one of them to finish (p99 3.4 s at N=1000, session 8). So plain runs may hold at
most `plain_slots` of the slots; the rest are kept for urgent ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

logger = logging.getLogger(__name__)


class PriorityGate(Generic[K]):
    """A semaphore of `slots` whose waiters are served urgent first, each class in order; plain
    holders are at most `plain_slots` (default: all), so the others wait for urgent work only.

    `acquire` tells the class the slot was taken as; `release` is given it back."""

    def __init__(self, slots: int, plain_slots: int | None = None) -> None:
        self._free = slots
        self._plain_cap = slots if plain_slots is None else min(plain_slots, slots)
        self._plain_held = 0
        # Insertion-ordered: the oldest waiter of a class is its first entry.
        self._urgent: dict[K, asyncio.Future[bool]] = {}
        self._plain: dict[K, asyncio.Future[bool]] = {}

    @property
    def urgent_waiting(self) -> bool:
        return bool(self._urgent)

    def is_waiting(self, key: K) -> bool:
        return key in self._urgent or key in self._plain

    def _plain_may_take(self) -> bool:
        return self._plain_held < self._plain_cap

    async def acquire(self, key: K, *, urgent: bool) -> bool:
        """Wait for a slot; True if it is held as urgent (a promoted waiter's is)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._plain)[key] = future
        # The line's own rules decide, so a newcomer never passes a waiter of its class.
        self._hand_over()
        if future.done():
            return future.result()
        try:
            return await future
        except asyncio.CancelledError:
            self._urgent.pop(key, None)
            self._plain.pop(key, None)
            if future.done() and not future.cancelled():
                self.release(future.result())  # handed over as the waiter was cancelled
            raise

    def promote(self, key: K) -> None:
        """Move a plain waiter to the end of the urgent line (no-op if it is not waiting)."""
        future = self._plain.pop(key, None)
        if future is not None:
            self._urgent[key] = future

    def release(self, urgent: bool) -> None:
        """Give back a slot held as `urgent` (or not): it passes to the next waiter allowed it."""
        if not urgent:
            self._plain_held -= 1
        self._free += 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self._free > 0 and self._urgent:
            future = self._urgent.pop(next(iter(self._urgent)))
            if not future.done():
                self._free -= 1
                future.set_result(True)
        while self._free > 0 and self._plain and self._plain_may_take():
            future = self._plain.pop(next(iter(self._plain)))
            if not future.done():
                self._free -= 1
                self._plain_held += 1
                future.set_result(False)


class KeyedWorkQueue(Generic[K]):
    def __init__(
        self,
        work: Callable[[K], Awaitable[None]],
        *,
        concurrency: int = 32,
        plain_concurrency: int | None = None,
        max_backoff: float = 60.0,
        on_error: Callable[[K, BaseException], None] | None = None,
    ) -> None:
        self._work = work
        self._slots: PriorityGate[K] = PriorityGate(concurrency, plain_concurrency)
        self._urgent: set[K] = set()  # keys with an urgent trigger their next run has not begun
        self._running: dict[K, asyncio.Task[None]] = {}
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._failures: dict[K, int] = {}
        self._max_backoff = max_backoff
        self._on_error = on_error
        #: False while paused (a standby replica): triggers and timers are dropped.
        self.active = True
        #: Not None while held (until the watches' first listings are indexed): the keys
        #: triggered meanwhile, each with whether a trigger was urgent; run at `release`.
        self._held: dict[K, bool] | None = None

    def trigger(self, key: K, *, urgent: bool = False) -> None:
        """Reconcile `key` soon; if it is running now, once more after it finishes.

        `urgent`: that run takes the next free slot ahead of plain triggers (module doc)."""
        if not self.active:
            return
        if self._held is not None:
            self._held[key] = self._held.get(key, False) or urgent
            return
        if urgent:
            self._urgent.add(key)
            self._slots.promote(key)
        if key in self._running:
            if not self._slots.is_waiting(key):  # a run not yet begun reads the news anyway
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
        holding: bool | None = None  # while a slot is held: whether it was taken as urgent
        try:
            while True:
                self._dirty.discard(key)
                if holding is None:
                    holding = await self._slots.acquire(key, urgent=key in self._urgent)
                self._urgent.discard(key)  # this run reads the state the trigger was about
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
                # Run again: an urgent rerun keeps its slot unless other urgent work waits.
                if key not in self._urgent or self._slots.urgent_waiting:
                    self._slots.release(holding)
                    holding = None
        finally:
            if holding is not None:
                self._slots.release(holding)
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
        self._urgent.clear()
        if self._held is not None:
            self._held.clear()
        self._failures.clear()
        self.close()

    def resume(self) -> None:
        self.active = True

    def hold(self) -> None:
        """Keep what is triggered from now on, without running it, until `release`."""
        if self._held is None:
            self._held = {}

    def release(self) -> None:
        """Run everything triggered while held (those a pause dropped excepted)."""
        held, self._held = self._held or {}, None
        for key, urgent in held.items():
            self.trigger(key, urgent=urgent)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._running.values():
            task.cancel()
