"""kopf_fixes: the toggle set keeps kopf's semantics and wakes waiters only when it flips."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.structs import references
from kopf._core.reactor import observation

from jupyter_containers.shell import kopf_fixes
from jupyter_containers.shell.kopf_fixes import FastToggleSet


async def _blocked(awaitable: asyncio.Future[None] | asyncio.Task[None]) -> bool:
    await asyncio.sleep(0.01)
    return not awaitable.done()


def test_install_swaps_kopfs_class_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiotoggles, "ToggleSet", kopf_fixes._ORIGINAL)
    kopf_fixes.install()
    assert aiotoggles.ToggleSet is FastToggleSet
    kopf_fixes.install()
    assert aiotoggles.ToggleSet is FastToggleSet


def _namespace_event(kind: str, conditions: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "team-a"}
    if conditions is not None:
        meta["deletionTimestamp"] = "2026-12-02T07:12:48Z"
    status = {"conditions": [{"type": t, "status": v} for t, v in (conditions or {}).items()]}
    return {"type": kind, "object": {"metadata": meta, "status": status}}


#: A namespace deletion as the namespace controller wrote it (watched in a cluster test): the
#: first status says nothing remains although a JupyterContainer with a finalizer does.
NOTHING_REMAINS = {"NamespaceContentRemaining": "False", "NamespaceFinalizersRemaining": "False"}
REMAINS = {"NamespaceContentRemaining": "True", "NamespaceFinalizersRemaining": "True"}


@pytest.mark.parametrize(
    ("events", "watched"),
    [
        ([("MODIFIED", None)], True),
        ([("MODIFIED", {})], True),  # marked for deletion, no conditions yet
        ([("MODIFIED", NOTHING_REMAINS)], True),  # kopf 1.45.2 alone stops watching here
        ([("MODIFIED", NOTHING_REMAINS), ("MODIFIED", REMAINS)], True),
        ([("MODIFIED", NOTHING_REMAINS), ("DELETED", NOTHING_REMAINS)], False),
    ],
)
def test_a_namespace_is_watched_until_it_is_gone(
    events: list[tuple[str, dict[str, str] | None]], watched: bool
) -> None:
    kopf_fixes.install()
    insights = references.Insights()
    observation.revise_namespaces(
        insights=insights,
        namespaces=["team-*"],
        raw_events=[_namespace_event("ADDED", None)],  # type: ignore[list-item]
    )
    for kind, conditions in events:
        observation.revise_namespaces(
            insights=insights,
            namespaces=["team-*"],
            raw_events=[_namespace_event(kind, conditions)],  # type: ignore[list-item]
        )
    assert ("team-a" in insights.namespaces) == watched


def test_install_refuses_an_unknown_kopf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiotoggles, "ToggleSet", type("Other", (), {}))
    with pytest.raises(RuntimeError, match=r"not 1\.45\.x"):
        kopf_fixes.install()


async def test_all_set_waits_until_every_toggle_is_gone_or_on() -> None:
    toggles = FastToggleSet(all)
    await asyncio.wait_for(toggles.wait_for(True), 1)  # empty: on
    first = await toggles.make_toggle(name="a")
    second = await toggles.make_toggle(name="b")
    waiter = asyncio.create_task(toggles.wait_for(True))
    assert await _blocked(waiter)
    await toggles.drop_toggle(first)
    assert await _blocked(waiter)
    await second.turn_to(True)  # a toggle of the set, turned on directly
    await asyncio.wait_for(waiter, 1)
    assert toggles.is_on()
    await second.turn_to(False)
    assert toggles.is_off()
    await asyncio.wait_for(toggles.wait_for(False), 1)


async def test_any_set_as_kopfs_pause_uses_it() -> None:
    paused = FastToggleSet(any)
    await asyncio.wait_for(paused.wait_for(False), 1)  # empty: off
    reason = await paused.make_toggle(True, name="peering")
    await asyncio.wait_for(paused.wait_for(True), 1)
    waiter = asyncio.create_task(paused.wait_for(False))
    assert await _blocked(waiter)
    await paused.drop_toggles([reason])
    await asyncio.wait_for(waiter, 1)


async def test_many_waiters_and_toggles_are_linear() -> None:
    """kopf's start-up shape: each listed object's worker drops its toggle, then waits."""
    toggles = FastToggleSet(all)
    listing = await toggles.make_toggle(name="listing")

    async def worker(own: aiotoggles.Toggle) -> None:
        await asyncio.sleep(0)  # indexing
        await toggles.drop_toggle(own)
        await toggles.wait_for(True)

    started = time.monotonic()
    workers = []
    for i in range(2000):
        workers.append(asyncio.create_task(worker(await toggles.make_toggle(name=str(i)))))
        await asyncio.sleep(0)
    await toggles.drop_toggle(listing)
    await asyncio.wait_for(asyncio.gather(*workers), 10)
    # kopf's own set takes about 14 s for this on the 2-core development machine.
    assert time.monotonic() - started < 2


def test_essence_free_storage_builds_nothing_and_finds_nothing() -> None:
    storage = kopf_fixes.EssenceFreeDiffBaseStorage(prefix="kopf.jupytercontainers.io")
    body = kopf.Body({"metadata": {"name": "x", "annotations": {}}, "spec": {"a": {"b": 1}}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None


def test_the_operators_registry_has_no_change_detecting_handlers() -> None:
    # The operator relies on this to skip kopf's per-event essence (handlers.configure).
    import jupyter_containers.main  # noqa: F401  (registers every handler)

    assert not kopf_fixes.has_changing_handlers(kopf.get_default_registry())
    registry = kopf.OperatorRegistry()

    @kopf.on.update("example.com", "v1", "things", registry=registry)
    def changed(**_: object) -> None: ...

    assert kopf_fixes.has_changing_handlers(registry)


def test_install_wraps_kopfs_watch_stream_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from kopf._cogs.clients import watching

    async def original(*_: object, **__: object) -> Any:
        yield {"type": None, "object": {"metadata": {"name": "a"}}}

    monkeypatch.setattr(watching, "infinite_watch", original)
    kopf_fixes.install()
    wrapped = watching.infinite_watch
    assert wrapped is not original and wrapped.__jc_strips_managed_fields__
    assert wrapped.__wrapped__ is original  # type: ignore[attr-defined]
    kopf_fixes.install()
    assert watching.infinite_watch is wrapped


def test_managed_fields_are_dropped_from_events_and_nothing_else() -> None:
    event = {
        "type": "MODIFIED",
        "object": {
            "metadata": {"name": "x", "managedFields": [{"manager": "kubectl"}], "labels": {}},
            "spec": {"replicas": 1},
        },
    }
    assert kopf_fixes.strip_managed_fields(event) == {
        "type": "MODIFIED",
        "object": {"metadata": {"name": "x", "labels": {}}, "spec": {"replicas": 1}},
    }
    marker = object()  # kopf's bookmarks pass through untouched
    assert kopf_fixes.strip_managed_fields(marker) is marker


async def test_the_wrapped_stream_yields_every_event_stripped() -> None:
    async def fake_watch(*_: object, **__: object) -> Any:
        yield {"type": None, "object": {"metadata": {"name": "a", "managedFields": []}}}
        yield "LISTED"
        yield {"type": "ADDED", "object": {"metadata": {"name": "b"}}}

    wrapped = kopf_fixes.watch_without_managed_fields(fake_watch)
    seen = [e async for e in wrapped(resource="r", namespace=None)]
    assert seen == [
        {"type": None, "object": {"metadata": {"name": "a"}}},
        "LISTED",
        {"type": "ADDED", "object": {"metadata": {"name": "b"}}},
    ]


def test_install_swaps_kopfs_event_processing(monkeypatch: pytest.MonkeyPatch) -> None:
    from kopf._core.reactor import processing

    monkeypatch.setattr(processing, "process_resource_event", kopf_fixes._PROCESS)
    kopf_fixes.install()
    assert processing.process_resource_event is kopf_fixes.process_without_parking
    kopf_fixes.install()
    assert processing.process_resource_event is kopf_fixes.process_without_parking


async def test_an_object_is_handled_at_once_and_the_memo_told_when_all_are_indexed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before every index is filled, kopf's processing gets no toggles (so it indexes and runs
    the handlers without parking), the object's own toggle is dropped after it, and the memo's
    event is set only when the whole set turns on."""
    calls: list[dict[str, Any]] = []

    async def process(**kwargs: Any) -> str:
        calls.append(kwargs)
        return "rv"

    monkeypatch.setattr(kopf_fixes, "_PROCESS", process)
    toggles = FastToggleSet(all)
    other_kind = await toggles.make_toggle(name="pods not listed yet")
    this_object = await toggles.make_toggle(name="this container")
    filled = asyncio.Event()
    memo = kopf.Memo({kopf_fixes.INDEXES_FILLED: filled})

    result = await kopf_fixes.process_without_parking(
        raw_event={"type": None}, memobase=memo, operator_indexed=toggles,
        resource_indexed=this_object,
    )  # fmt: skip
    assert result == "rv"
    assert calls[0]["operator_indexed"] is None and calls[0]["resource_indexed"] is None
    assert this_object not in list(toggles)  # dropped: it is indexed
    await asyncio.sleep(0.01)
    assert not filled.is_set()  # the pods are not indexed yet
    await toggles.drop_toggle(other_kind)
    await asyncio.wait_for(filled.wait(), 1)

    # Once on, kopf's own path with its toggles (nothing to wait for any more).
    await kopf_fixes.process_without_parking(
        raw_event={"type": "MODIFIED"}, memobase=memo, operator_indexed=toggles,
        resource_indexed=None,
    )  # fmt: skip
    assert calls[1]["operator_indexed"] is toggles


async def test_without_the_memo_event_kopfs_processing_is_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []

    async def process(**kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(kopf_fixes, "_PROCESS", process)
    toggles = FastToggleSet(all)
    mine = await toggles.make_toggle(name="this container")
    await kopf_fixes.process_without_parking(
        raw_event={}, memobase=kopf.Memo(), operator_indexed=toggles, resource_indexed=mine
    )
    assert calls[0]["operator_indexed"] is toggles and calls[0]["resource_indexed"] is mine
