"""The watch-stall liveness probe: heartbeat bookkeeping and the hook into kopf's watch streams."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import watching
from kopf._core.reactor import queueing

from jupyter_containers.core.settings import Settings
from jupyter_containers.shell import health
from jupyter_containers.shell.context import BOOT_KEY


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_stream_is_healthy() -> None:
    beats = health.WatchHeartbeats(Clock())
    assert beats.check(10) == {
        "streams": 0,
        "withBookmarks": 0,
        "stalest": None,
        "silentSeconds": 0.0,
    }


def test_the_stalest_stream_with_bookmarks_decides() -> None:
    clock = Clock()
    beats = health.WatchHeartbeats(clock)
    pods = beats.opened("pods cluster-wide")
    events = beats.opened("events cluster-wide")
    beats.opened("volumes cluster-wide")  # never a bookmark: not judged
    beats.beat(pods, bookmark=True)
    beats.beat(events, bookmark=True)
    clock.now += 50
    beats.beat(pods)
    clock.now += 20
    assert beats.check(100) == {
        "streams": 3,
        "withBookmarks": 2,
        "stalest": "events cluster-wide",
        "silentSeconds": 70.0,
    }
    clock.now += 31
    with pytest.raises(health.StuckWatch, match=r"events cluster-wide .* for 101s"):
        beats.check(100)
    # Any item on that stream (a bookmark, an event) makes the operator healthy again.
    beats.beat(events)
    assert beats.check(100)["stalest"] == "pods cluster-wide"


def test_a_stream_without_bookmarks_is_not_judged() -> None:
    """The API server sends no bookmarks outside its watch cache (Events by default)."""
    clock = Clock()
    beats = health.WatchHeartbeats(clock)
    events = beats.opened("events in namespace team-a")
    beats.beat(events)  # ordinary events only
    clock.now += 3600
    assert beats.check(300) == {
        "streams": 1,
        "withBookmarks": 0,
        "stalest": None,
        "silentSeconds": 0.0,
    }


def test_a_closed_stream_no_longer_counts() -> None:
    clock = Clock()
    beats = health.WatchHeartbeats(clock)
    token = beats.opened("volumes cluster-wide")
    beats.beat(token, bookmark=True)
    clock.now += 500
    beats.closed(token)
    beats.beat(token, bookmark=True)  # late beats of a closed stream are ignored
    assert beats.check(10)["streams"] == 0


def test_stuck_watch_is_a_permanent_error() -> None:
    # kopf retries ordinary exceptions inside the probe request; a permanent error fails it now.
    assert issubclass(health.StuckWatch, kopf.PermanentError)


def test_the_hook_is_installed_where_kopf_looks_it_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watching, "infinite_watch", watching.infinite_watch)  # undone afterwards
    first, second = health.WatchHeartbeats(), health.WatchHeartbeats()
    health.install(first)
    assert watching.infinite_watch.__jc_heartbeats__ is first  # type: ignore[attr-defined]
    # kopf's watcher resolves the function through the module on each call, so the wrapper
    # is what it runs (kopf 1.45.x); if this changes, health.py must follow.
    assert "watching.infinite_watch(" in inspect.getsource(queueing.watcher)
    health.install(second)  # a second install swaps the heartbeats: no double wrapping
    assert watching.infinite_watch.__jc_heartbeats__ is second  # type: ignore[attr-defined]
    assert watching.infinite_watch.__wrapped__.__name__ == "infinite_watch"  # type: ignore[attr-defined]
    assert not hasattr(watching.infinite_watch.__wrapped__, "__jc_heartbeats__")  # type: ignore[attr-defined]


def test_the_wrapper_beats_on_every_item_and_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    beats = health.WatchHeartbeats(clock)
    seen: list[dict[str, Any]] = []

    async def fake_watch(*, resource: Any, namespace: str | None, **_: Any) -> AsyncIterator[Any]:
        for n, kind in enumerate(["ADDED", "BOOKMARK", "MODIFIED"]):
            clock.now += 10
            yield {"type": kind, "n": n}

    monkeypatch.setattr(watching, "infinite_watch", fake_watch)
    health.install(beats)
    wrapped = watching.infinite_watch
    assert wrapped is not fake_watch

    class Resource:
        plural = "pods"

    reports: list[dict[str, Any]] = []

    async def consume() -> None:
        async for item in wrapped(resource=Resource(), namespace="team-a", settings=None):
            seen.append(item)
            reports.append(beats.report())

    asyncio.run(consume())
    assert [item["n"] for item in seen] == [0, 1, 2]
    assert [r["withBookmarks"] for r in reports] == [0, 1, 1]
    assert reports[-1] == {
        "streams": 1,
        "withBookmarks": 1,
        "stalest": "pods in namespace team-a",
        "silentSeconds": 0.0,
    }
    assert beats.report()["streams"] == 0


def test_probe_reports_and_fails() -> None:
    clock = Clock()
    beats = health.WatchHeartbeats(clock)
    ctx = SimpleNamespace(heartbeats=beats, settings=Settings(watch_stall_seconds=60))
    memo = kopf.Memo({BOOT_KEY: ctx})
    beats.beat(beats.opened("jupytercontainers cluster-wide"), bookmark=True)
    clock.now += 59
    assert health.watch_streams(memo=memo)["silentSeconds"] == 59.0
    clock.now += 2
    with pytest.raises(health.StuckWatch, match="JC_WATCH_STALL_SECONDS=60"):
        health.watch_streams(memo=memo)


def test_probe_before_start_up_has_finished() -> None:
    assert health.watch_streams(memo=kopf.Memo()) == {"streams": 0, "starting": True}


def test_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_WATCH_STALL_SECONDS", "240")
    assert Settings().watch_stall_seconds == 240
    monkeypatch.setenv("JC_WATCH_STALL_SECONDS", "0")
    with pytest.raises(ValueError, match="watch_stall_seconds"):
        Settings()
