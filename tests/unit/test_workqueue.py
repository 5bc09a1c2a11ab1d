"""The keyed work queue: one run per key at a time, bursts folded, failures retried."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_containers.shell.workqueue import KeyedWorkQueue


async def test_burst_while_running_is_folded_into_one_more_run() -> None:
    runs: list[str] = []
    gate = asyncio.Event()

    async def work(key: str) -> None:
        runs.append(key)
        if len(runs) == 1:
            await gate.wait()

    q: KeyedWorkQueue[str] = KeyedWorkQueue(work)
    q.trigger("a")
    await asyncio.sleep(0)
    for _ in range(5):
        q.trigger("a")
    gate.set()
    await q.drain()
    assert runs == ["a", "a"]


async def test_keys_run_concurrently_but_never_twice_at_once() -> None:
    active: set[str] = set()
    overlaps: list[str] = []

    async def work(key: str) -> None:
        if key in active:
            overlaps.append(key)
        active.add(key)
        await asyncio.sleep(0.01)
        active.discard(key)

    q: KeyedWorkQueue[str] = KeyedWorkQueue(work, concurrency=4)
    for key in "abcabc":
        q.trigger(key)
    await q.drain()
    assert overlaps == []


async def test_failure_is_retried_with_backoff() -> None:
    calls = 0
    errors: list[str] = []

    async def work(key: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("api down")

    q: KeyedWorkQueue[str] = KeyedWorkQueue(work, on_error=lambda k, e: errors.append(str(e)))
    q.trigger("a")
    await q.drain()
    assert calls == 1 and errors == ["api down"]
    await asyncio.sleep(1.1)  # first backoff is 1 s
    await q.drain()
    assert calls == 2
    q.close()


async def test_trigger_after_keeps_the_earliest_deadline() -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    async def work(key: str) -> None:
        runs.append(loop.time())

    q: KeyedWorkQueue[str] = KeyedWorkQueue(work)
    start = loop.time()
    q.trigger_after("a", 5)
    q.trigger_after("a", 0.05)
    q.trigger_after("a", 3)
    await asyncio.sleep(0.2)
    await q.drain()
    assert len(runs) == 1 and runs[0] - start < 1
    q.close()


async def test_pause_cancels_work_in_flight_and_drops_triggers_until_resumed() -> None:
    started: list[str] = []
    finished: list[str] = []

    async def work(key: str) -> None:
        started.append(key)
        await asyncio.sleep(10)
        finished.append(key)

    q: KeyedWorkQueue[str] = KeyedWorkQueue(work)
    q.trigger("a")
    q.trigger_after("b", 0.01)
    await asyncio.sleep(0)
    q.trigger("a")  # would run once more after the first run
    q.pause()
    q.trigger("c")
    q.trigger_after("d", 0)
    await asyncio.sleep(0.05)
    await q.drain()
    assert (started, finished) == (["a"], [])
    q.resume()
    q.trigger("e")
    await asyncio.sleep(0)
    assert started == ["a", "e"]
    q.close()
    await q.drain()


def _one_slot_held_by_busy() -> tuple[KeyedWorkQueue[str], list[str], asyncio.Event]:
    """A queue of one slot that records the keys as they begin; "busy", once triggered,
    holds the slot until the event is set."""
    started: list[str] = []
    release = asyncio.Event()

    async def work(key: str) -> None:
        started.append(key)
        if key == "busy":
            await release.wait()

    return KeyedWorkQueue(work, concurrency=1), started, release


async def _started_order(triggers: list[tuple[str, bool]], *, promote: list[str]) -> list[str]:
    """The order in which keys begin once the one busy slot frees: `triggers` queue behind
    a running "busy", then `promote` get urgent triggers while they wait."""
    q, started, release = _one_slot_held_by_busy()
    q.trigger("busy")
    await asyncio.sleep(0)
    for key, urgent in triggers:
        q.trigger(key, urgent=urgent)
    await asyncio.sleep(0)
    for key in promote:
        q.trigger(key, urgent=True)
    release.set()
    await q.drain()
    return started[1:]


@pytest.mark.parametrize(
    ("triggers", "promote", "order"),
    [
        # Plain triggers alone: first come, first served.
        ([("a", False), ("b", False), ("c", False)], [], ["a", "b", "c"]),
        # An urgent trigger takes the next slot ahead of the plain ones queued before it.
        ([("a", False), ("b", False), ("r", True)], [], ["r", "a", "b"]),
        # Urgent ones keep their own arrival order.
        ([("a", False), ("r", True), ("s", True)], [], ["r", "s", "a"]),
        # A plain waiter that gets an urgent trigger moves up, behind the urgent ones before it.
        ([("a", False), ("b", False), ("r", True)], ["b"], ["r", "b", "a"]),
        # An urgent trigger for a key already waiting urgently changes nothing.
        ([("r", True), ("s", True)], ["r"], ["r", "s"]),
    ],
)
async def test_urgent_triggers_take_the_next_free_slot(
    triggers: list[tuple[str, bool]], promote: list[str], order: list[str]
) -> None:
    assert await _started_order(triggers, promote=promote) == order


async def test_an_urgent_trigger_while_running_makes_the_next_run_urgent() -> None:
    started: list[str] = []
    release = asyncio.Event()

    async def work(key: str) -> None:
        started.append(key)
        if len(started) <= 2:  # "r" and then "busy" hold the two slots
            await release.wait()

    q: KeyedWorkQueue[str] = KeyedWorkQueue(work, concurrency=2)
    q.trigger("r")
    q.trigger("busy")
    await asyncio.sleep(0)
    q.trigger("a")
    q.trigger("r", urgent=True)  # while "r" runs: its next run jumps ahead of "a"
    release.set()
    await q.drain()
    assert started[2:] == ["r", "a"]


class _Held:
    """Work whose runs each block until their key is let go; records which keys run now."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self._go: dict[str, asyncio.Event] = {}

    async def work(self, key: str) -> None:
        self.running.add(key)
        await self._go.setdefault(key, asyncio.Event()).wait()
        self._go.pop(key)
        self.running.discard(key)

    async def let_go(self, key: str) -> None:
        self._go.setdefault(key, asyncio.Event()).set()
        for _ in range(3):
            await asyncio.sleep(0)


async def test_plain_runs_leave_the_reserved_slots_to_urgent_ones() -> None:
    held = _Held()
    q: KeyedWorkQueue[str] = KeyedWorkQueue(held.work, concurrency=3, plain_concurrency=2)
    for key in ("a", "b", "c"):
        q.trigger(key)
    await asyncio.sleep(0)
    assert held.running == {"a", "b"}  # "c" waits although a slot is free
    q.trigger("r", urgent=True)
    await asyncio.sleep(0)
    assert held.running == {"a", "b", "r"}  # the kept slot, at once
    await held.let_go("r")
    assert held.running == {"a", "b"}  # a slot an urgent run gave back stays kept
    await held.let_go("a")
    assert held.running == {"b", "c"}  # a plain slot given back passes to the plain waiter
    q.trigger("s", urgent=True)
    q.trigger("t", urgent=True)
    await asyncio.sleep(0)
    assert held.running == {"b", "c", "s"}  # urgent ones wait only when every slot is taken
    await held.let_go("b")
    assert held.running == {"c", "s", "t"}  # and take a plain slot given back first
    for key in ("c", "s", "t"):
        await held.let_go(key)
    await q.drain()
    assert held.running == set()


async def test_urgent_runs_may_take_every_slot() -> None:
    held = _Held()
    q: KeyedWorkQueue[str] = KeyedWorkQueue(held.work, concurrency=2, plain_concurrency=1)
    q.trigger("r", urgent=True)
    q.trigger("s", urgent=True)
    q.trigger("a")
    await asyncio.sleep(0)
    assert held.running == {"r", "s"}
    await held.let_go("r")
    assert held.running == {"s", "a"}
    q.trigger("b")  # the plain share is taken: "b" waits
    await asyncio.sleep(0)
    assert held.running == {"s", "a"}
    for key in ("s", "a", "b"):
        await held.let_go(key)
    await q.drain()
    assert held.running == set()


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    q, started, _release = _one_slot_held_by_busy()
    q.trigger("busy")
    q.trigger("a")
    await asyncio.sleep(0)
    q.pause()  # cancels "busy" (holding the slot) and "a" (waiting for it)
    await q.drain()
    q.resume()
    q.trigger("b")
    await asyncio.sleep(0.01)
    await q.drain()
    assert started == ["busy", "b"]


async def test_held_triggers_run_once_each_at_release() -> None:
    started: list[str] = []

    async def work(key: str) -> None:
        started.append(key)

    q: KeyedWorkQueue[str] = KeyedWorkQueue(work)
    q.hold()
    for key in ("a", "b", "a"):
        q.trigger(key)
    q.trigger_after("c", 0)
    await asyncio.sleep(0.01)
    assert started == []  # nothing runs while held
    q.release()
    await asyncio.sleep(0)
    await q.drain()
    assert sorted(started) == ["a", "b", "c"]


async def test_a_pause_drops_what_was_held() -> None:
    started: list[str] = []

    async def work(key: str) -> None:
        started.append(key)

    q: KeyedWorkQueue[str] = KeyedWorkQueue(work)
    q.hold()
    q.trigger("a")
    q.pause()  # a standby replica: another one writes meanwhile
    q.resume()
    q.trigger("b")  # the new leader's own triggers stay held until release
    await asyncio.sleep(0)
    assert started == []
    q.release()
    await asyncio.sleep(0)
    await q.drain()
    assert started == ["b"]
