"""The operator's client: a request that waits for one of the pool's connections never fails
for that wait (a burst of reconciles queues there; BENCHMARKS.md, "Reconcile errors")."""

from __future__ import annotations

import asyncio

import httpx2

from jupyter_containers.shell.resources import REQUEST_TIMEOUT

ANSWER_AFTER = 0.3


async def _slow_server() -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            await asyncio.sleep(ANSWER_AFTER)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _burst(limit: httpx2.Timeout, requests: int) -> list[BaseException | None]:
    server, port = await _slow_server()
    limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
    async with server, httpx2.AsyncClient(timeout=limit, limits=limits) as client:

        async def one() -> BaseException | None:
            try:
                await client.get(f"http://127.0.0.1:{port}/")
            except httpx2.TransportError as exc:
                return exc
            return None

        return await asyncio.gather(*(one() for _ in range(requests)))


def test_the_request_timeout_bounds_answers_not_the_wait_for_a_connection() -> None:
    assert REQUEST_TIMEOUT.pool is None
    assert REQUEST_TIMEOUT.connect == 10.0
    # The API server's own --request-timeout: it answers (an error at worst) by then.
    assert REQUEST_TIMEOUT.read == REQUEST_TIMEOUT.write == 60.0


async def test_a_queued_request_waits_longer_than_its_timeout_and_succeeds() -> None:
    # Scaled down: each answer takes 0.3 s, the timeout is 0.5 s, 4 requests share 1 connection
    # (the last waits 0.9 s for it).
    scaled = httpx2.Timeout(0.5, pool=REQUEST_TIMEOUT.pool)
    assert await _burst(scaled, 4) == [None] * 4
    # With a pool timeout (httpx's and lightkube's default), the same burst fails.
    bounded = await _burst(httpx2.Timeout(0.5), 4)
    assert any(isinstance(e, httpx2.PoolTimeout) for e in bounded)
