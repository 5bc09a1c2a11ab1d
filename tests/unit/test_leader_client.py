"""The writers' client writes only while this replica leads (shell.leader.LeaderOnlyClient)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_containers.shell.leader import LeaderOnlyClient, NotLeading
from jupyter_containers.shell.workqueue import KeyedWorkQueue


class Recorder:
    """Stands in for the lightkube client: records the calls that reach it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def get(self, *_: Any, **__: Any) -> str:
        self.calls.append("get")
        return "got"

    async def patch(self, *_: Any, **__: Any) -> str:
        self.calls.append("patch")
        return "patched"

    async def delete(self, *_: Any, **__: Any) -> None:
        self.calls.append("delete")


async def test_writes_pass_only_while_leading_and_reads_always() -> None:
    inner, leading = Recorder(), [True]
    client: Any = LeaderOnlyClient(inner, lambda: leading[0])  # type: ignore[arg-type]
    assert await client.patch("x") == "patched"
    leading[0] = False
    assert await client.get("x") == "got"
    with pytest.raises(NotLeading, match="patch refused"):
        await client.patch("x")
    with pytest.raises(NotLeading, match="delete refused"):
        await client.delete("x")
    assert inner.calls == ["patch", "get"]


async def test_a_refused_write_cancels_the_reconcile_instead_of_failing_it() -> None:
    errors: list[BaseException] = []
    client: Any = LeaderOnlyClient(Recorder(), lambda: False)  # type: ignore[arg-type]

    async def work(key: str) -> None:
        await client.patch(key)

    q: KeyedWorkQueue[str] = KeyedWorkQueue(work, on_error=lambda _k, e: errors.append(e))
    q.trigger("a")
    await asyncio.sleep(0)
    await q.drain()
    assert errors == []  # no retry scheduled, no error counted: the stand-by follows
    q.close()
