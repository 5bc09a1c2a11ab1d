"""Fixes for kopf (1.45.x, pinned in pyproject.toml): its cost over many objects, and a namespace
it stopped watching too early.

## The start-up toggle set

Until every index is filled, each object's worker waits for the operator-wide "indexed"
`ToggleSet` (`kopf._cogs.aiokits.aiotoggles`). That set wakes its waiters with
`Condition.notify_all()` on every change, and it changes once for every listed object of an
indexed kind: a restart over N containers (a Deployment, Service and pod each, and their
Events) wakes thousands of waiting workers thousands of times. Measured with py-spy on the
benchmark's restart at N=1000: 37 s at 100% CPU, most of it in `notify_all`/`call_soon`
(BENCHMARKS.md).

`FastToggleSet` keeps kopf's semantics but lets a waiter sleep on an `asyncio.Event` of the
state it waits for, set only when the set's state (`all`/`any` of its toggles) actually
flips. kopf builds its sets through the module attribute `aiotoggles.ToggleSet` when the
operator starts, so `install()` (called before `kopf.operator`) swaps the class there; it
fails loudly if kopf moves it, and a unit test checks the hook.

## The diff-base essence of every event

For every watch event kopf builds the object's "essence" (a deep copy of the whole body)
to diff it against the last handled one, whether or not any handler needs the diff. Only
on.create/update/delete/resume handlers and daemons do; this operator has none (indexes and
on.event only), so `EssenceFreeDiffBaseStorage` builds an empty essence. Measured with py-spy
on the benchmark's creation of 1000 containers: 4.5% of the operator's CPU (BENCHMARKS.md).

## Whole bodies in every watched event

kopf keeps each listed object's body until every index is filled (and a worker keeps its
object's last body while it idles), so at a restart over N containers all their pods,
Deployments, Services, pod Events and JupyterContainers are in memory at once.
`install()` wraps kopf's watch stream (`watching.infinite_watch`, looked up through the
module by kopf's queueing; `health` wraps it too) to trim each event's object as it arrives
to what the operator reads (`core.watched`: `metadata.managedFields` of every kind, most of
a pod's spec and status, a Deployment's pod template, ...), as controller-runtime's cache
transforms (`TransformStripManagedFields`) do for informer caches.

## Events that change nothing the operator reads

Most watch events of the operator's children change only what it does not read: a
Deployment's replica counts and condition times (four events per start), a field the
trimming above removed. Each one still cost a kopf worker, three index functions, a handler
and a reconcile that decided nothing, on the loop where a pod's readiness waits its turn.
`UnchangedEvents` drops a MODIFIED event whose trimmed object (`core.watched.fingerprint`,
without the resourceVersion) equals the last one passed on for that object, for the kinds in
`core.watched.DEDUPLICATED`, as controller-runtime's predicates drop updates that change
nothing a controller watches.

## Workers parked with their bodies until every index is filled

kopf runs an object's index handlers, then parks its worker (with the body, its Body and
Patch wrappers and three loggers) until the indexes of every object of every kind are filled,
and only then runs its other handlers. At a restart over N containers that is every listed
object at once: 717 MiB at N=5000 (0.13 MiB per container) against 345 MiB for the process
that created them (BENCHMARKS.md). `process_without_parking` (swapped in for
`processing.process_resource_event`, which kopf's watchers call through the module) indexes
the object, reports it indexed, and runs its handlers at once, so the worker finishes and
lets go of its body. The handlers of this operator only record and trigger; whatever must
not act on half-filled indexes waits for the operator memo's `INDEXES_FILLED` event, which
this fix sets when kopf's "indexed" toggle set turns on (`shell.startup` holds the work
queues until then).

## Namespaces forgotten while their containers still wait for the operator

With `JC_WATCH_NAMESPACES`, kopf stops watching a namespace once it counts it deleted: since
1.45.2 (nolar/kopf#1225), marked for deletion with status conditions none of which is True.
The namespace controller's first status of a deletion can say just that (ContentRemaining
and FinalizersRemaining False) while a JupyterContainer with the operator's finalizer is still
there; the True conditions come one pass later, after kopf stopped the watch streams, and it
never watches that namespace again. The finalizer is then never removed and the namespace
stays Terminating for ever (a cluster test; a watch of the namespace showed that sequence).
`namespace_gone`, swapped in for `observation.is_deleted` (looked up through the module by
`revise_namespaces`), counts a namespace deleted at its DELETED event only. kopf notes that
the event "does not arrive sometimes": then the streams of a namespace that is gone stay
open, idle, until the operator restarts, instead of a namespace that never ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import kopf
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import watching
from kopf._core.reactor import observation, processing

from jupyter_containers.core import watched
from jupyter_containers.shell import metrics

_ORIGINAL = aiotoggles.ToggleSet
_PROCESS = processing.process_resource_event
_IS_DELETED = observation.is_deleted

#: The operator memo's key of an `asyncio.Event` set once every index is filled (kopf's
#: "operator indexed" toggle set is on); whoever puts one there is told.
INDEXES_FILLED = "kopf_fixes.indexes_filled"
_FILLED_WAITER = "kopf_fixes.indexes_filled_waiter"


class _FlipCondition(asyncio.Condition):
    """The set's condition (shared with its toggles) that also reports every change."""

    def __init__(self, changed: Callable[[], None]) -> None:
        super().__init__()
        self._changed = changed

    def notify_all(self) -> None:
        self._changed()
        super().notify_all()


class FastToggleSet(_ORIGINAL):
    def __init__(self, fn: Callable[[Iterable[bool]], bool]) -> None:
        super().__init__(fn)
        self._states = {True: asyncio.Event(), False: asyncio.Event()}
        # Toggles made by the set share this condition, so turning one also lands in _flip.
        self._condition = _FlipCondition(self._flip)
        self._flip()

    def _flip(self) -> None:
        on = self.is_on()
        self._states[not on].clear()
        self._states[on].set()

    async def wait_for(self, state: bool, /) -> None:
        await self._states[bool(state)].wait()


def install() -> None:
    """Swap the fixes into kopf (idempotent); fails loudly if kopf's internals moved."""
    current = getattr(aiotoggles, "ToggleSet", None)
    if current is not FastToggleSet:
        if current is not _ORIGINAL or not hasattr(_ORIGINAL, "make_toggle"):
            raise RuntimeError(
                "kopf._cogs.aiokits.aiotoggles.ToggleSet is not the class this fix was written "
                "for: the installed kopf is not 1.45.x; review jupyter_containers/kopf_fixes.py"
            )
        aiotoggles.ToggleSet = FastToggleSet  # type: ignore[misc]
    _strip_managed_fields_from_watches()
    _swap(processing, "process_resource_event", _PROCESS, process_without_parking)
    _swap(observation, "is_deleted", _IS_DELETED, namespace_gone)


def _swap(module: Any, name: str, original: Any, fix: Any) -> None:
    """Put `fix` where kopf looks `name` up (idempotent), only over kopf's own `original`."""
    current = getattr(module, name)
    if current is fix:
        return
    if current is not original:
        raise RuntimeError(
            f"{module.__name__}.{name} was replaced by someone else; "
            "review jupyter_containers/kopf_fixes.py"
        )
    setattr(module, name, fix)


def namespace_gone(raw_event: Any) -> bool:
    """Whether a namespace watch event says the namespace is gone (module doc)."""
    return bool(raw_event.get("type") == "DELETED")


async def process_without_parking(
    *args: Any,
    memobase: Any = None,
    operator_indexed: aiotoggles.ToggleSet | None = None,
    resource_indexed: aiotoggles.Toggle | None = None,
    **kwargs: Any,
) -> Any:
    """kopf's processing of one watch event, without waiting for the other objects' indexes
    when the operator memo has an `INDEXES_FILLED` event to tell instead (module doc)."""
    filled = memobase.get(INDEXES_FILLED) if isinstance(memobase, dict) else None
    if filled is None or operator_indexed is None or operator_indexed.is_on():
        if filled is not None and not filled.is_set():
            # kopf passes no toggle set once it is on (and none where nothing is indexed).
            filled.set()
        return await _PROCESS(
            *args,
            memobase=memobase,
            operator_indexed=operator_indexed,
            resource_indexed=resource_indexed,
            **kwargs,
        )
    # Without the toggles kopf indexes and handles at once; the drop is this event's instead.
    result = await _PROCESS(
        *args, memobase=memobase, operator_indexed=None, resource_indexed=None, **kwargs
    )
    if resource_indexed is not None:
        await operator_indexed.drop_toggle(resource_indexed)
    if _FILLED_WAITER not in memobase:
        memobase[_FILLED_WAITER] = asyncio.get_running_loop().create_task(
            _set_when_on(operator_indexed, filled), name="indexes filled"
        )
    return result


async def _set_when_on(toggles: aiotoggles.ToggleSet, filled: asyncio.Event) -> None:
    await toggles.wait_for(True)
    filled.set()


def _strip_managed_fields_from_watches() -> None:
    current = getattr(watching, "infinite_watch", None)
    if getattr(current, "__jc_strips_managed_fields__", False):
        return
    if not callable(current):
        raise RuntimeError(
            "kopf._cogs.clients.watching.infinite_watch is missing: the installed kopf is not "
            "1.45.x; review jupyter_containers/kopf_fixes.py"
        )
    watching.infinite_watch = watch_without_managed_fields(current)  # type: ignore[assignment]


def strip_managed_fields(raw_event: Any, resource: Any = None) -> Any:
    """The event with its object trimmed (in place) to what the operator reads of its kind
    (`core.watched`; managedFields at least); bookmarks and markers as they are."""
    obj = raw_event.get("object") if isinstance(raw_event, dict) else None
    if isinstance(obj, dict):
        watched.trim(getattr(resource, "group", ""), getattr(resource, "plural", ""), obj)
    return raw_event


def watch_without_managed_fields(
    watch: Callable[..., AsyncIterator[Any]],
) -> Callable[..., AsyncIterator[Any]]:
    """`watch` (kopf's stream, or another wrapper of it such as health's) without managedFields."""

    @functools.wraps(watch)
    async def infinite_watch(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        resource = kwargs.get("resource")
        kind = (getattr(resource, "group", ""), getattr(resource, "plural", ""))
        unchanged = UnchangedEvents(kind[1]) if kind in watched.DEDUPLICATED else None
        async with contextlib.aclosing(watch(*args, **kwargs)) as stream:  # type: ignore[type-var]
            async for raw_event in stream:
                event = strip_managed_fields(raw_event, resource)
                if unchanged is None or not unchanged.seen_before(event):
                    yield event

    infinite_watch.__jc_strips_managed_fields__ = True  # type: ignore[attr-defined]
    return infinite_watch


class UnchangedEvents:
    """Which events of one watch stream change nothing the operator reads (after trimming):
    a MODIFIED event whose object has the fingerprint of that object's last event passed on.

    Dropped before kopf's machinery (a worker, its wrappers, three indexes and a handler per
    event, and the reconcile the handler triggers): in a creation burst that machinery, not
    the API server, delayed a pod's readiness reaching its handler (BENCHMARKS.md). Applied
    after kopf's own stream, which has already taken the event's resourceVersion to resume
    from; the index keeps the previous, equal version of the object.
    """

    def __init__(self, plural: str) -> None:
        self._last: dict[str, bytes] = {}  # by uid: the fingerprint of the last event passed
        self._dropped = metrics.watch_events_unchanged.labels(resource=plural)

    def seen_before(self, raw_event: Any) -> bool:
        obj = raw_event.get("object") if isinstance(raw_event, dict) else None
        if not isinstance(obj, dict):
            return False  # a bookmark or kopf's own markers
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        if not uid:
            return False
        event_type = raw_event.get("type")
        if event_type == "DELETED":
            self._last.pop(uid, None)
            return False
        digest = watched.fingerprint(obj)
        if event_type == "MODIFIED" and self._last.get(uid) == digest:
            self._dropped.inc()
            return True
        self._last[uid] = digest
        return False


class EssenceFreeDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """Stores nothing and builds no essence: for operators without change-detecting handlers.

    `handlers.configure` uses it only when no such handler is registered.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        return {}


def has_changing_handlers(registry: kopf.OperatorRegistry) -> bool:
    """Whether any handler or daemon needs kopf's diff-base (on.create/update/resume, daemons)."""
    return bool(registry._changing.get_all_handlers() or registry._spawning.get_all_handlers())
