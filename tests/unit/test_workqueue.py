"""The keyed work queue: one run per key at a time, bursts folded, failures retried."""

from __future__ import annotations

import asyncio

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
