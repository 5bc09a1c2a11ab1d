"""The imperative shell of a JupyterContainer: apply the Plan the pure core made.

Triggered by watch events only (see `shell.watch`). `core.plan` decides; this module
reads the facts a plan asks for (the Secrets a start refers to, SubjectAccessReviews for
their creator), makes the writes of a Plan (finalizer, deletions, token Secret, applies,
status) and remembers what it wrote, so a reconcile that runs before the watch delivered its own
write does not write the same thing again. Every write is skipped when it would change
nothing: that is what makes an operator restart over N existing containers write
nothing at all.

A request that fails (refused, conflict, server error, no answer) ends the reconcile:
`core.faults` decides what status, Event and log line say and when to retry; the retry
waits out its backoff whatever else triggers the container meanwhile (only a change of the
user's own, a new generation or start request, retries at once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx2
import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.authorization_v1 import SubjectAccessReview
from lightkube.types import PatchType

from jupyter_containers.api.models import API_VERSION, Phase
from jupyter_containers.core import faults, naming
from jupyter_containers.core.builders import build_token_secret
from jupyter_containers.core.plan import (
    NAMESPACE_LABELS,
    SECRET_LABELS,
    ContainerSnapshot,
    DesiredObject,
    NamespaceFacts,
    NamespaceLookup,
    Plan,
    PvcResize,
    Ref,
    SecretFacts,
    SecretLookup,
    TokenAction,
    finalize_deletions,
    plan,
)
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.status import (
    EVENT_COUNT_DELAY,
    parse_iso,
    status_differs,
    write_delay,
)
from jupyter_containers.core.volume_size import StorageClassFacts, StorageClassLookup
from jupyter_containers.shell import metrics
from jupyter_containers.shell.namespace_policies import NamespacePolicies, PolicyTaken
from jupyter_containers.shell.resources import (
    MANAGED_KINDS,
    JupyterContainer,
    Namespace,
    PersistentVolumeClaim,
    Secret,
    StorageClass,
)
from jupyter_containers.shell.workqueue import KeyedWorkQueue

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (domain namespace, container name)
T = TypeVar("T")
#: What a request raises when it fails: an answer (ApiError) or none (transport).
REQUEST_ERRORS = (ApiError, httpx2.TransportError)

#: How long a status change that keeps the phase (a progress message within Starting, a
#: warning count, the pod name) may wait, so that the changes of a burst go out in one write.
#: Phase, attempt, observedGeneration and condition changes are written at once, as is
#: everything pending with them; a change of the Normal event count alone waits longer
#: (`core.status.EVENT_COUNT_DELAY`).
STATUS_DETAIL_DELAY = 1.0
#: Reconciles in flight at once (each holds at most one API request at a time). Twice the
#: client's connections (`resources.CONNECTIONS`): enough to keep every connection busy, and
#: the queue an urgent reconcile may still meet in the connection pool (FIFO) stays short; the
#: work queue orders the rest, urgent first (`workqueue`). At 256 (before), a readiness write
#: that took a free slot could still queue behind 255 other reconciles' requests in the pool.
RECONCILE_CONCURRENCY = 64
#: Of those, plain runs (creations, spec changes) hold at most this many: fewer than the
#: client's connections, so an urgent one (a pod became Ready) finds a slot and a connection
#: free in any burst, instead of waiting for a creation to finish (p99 3.4 s, session 8).
PLAIN_RECONCILE_CONCURRENCY = 24


def now_utc() -> datetime:
    return datetime.now(UTC)


class NameTaken(Exception):
    """A name the plan wants is held by an object without this container's uid label."""

    def __init__(self, ref: Ref, owner: str) -> None:
        super().__init__(f"{ref} is held by {owner or 'an object without a uid label'}")
        self.ref, self.owner = ref, owner


class Reconciler:
    def __init__(
        self,
        client: AsyncClient,
        settings: Settings,
        observe: Callable[[Key], ContainerSnapshot],
        *,
        policies: NamespacePolicies,
        clock: Callable[[], datetime] = now_utc,
        detail_delay: float = STATUS_DETAIL_DELAY,
        count_delay: float = EVENT_COUNT_DELAY,
    ) -> None:
        self.client = client
        self.settings = settings
        self.observe = observe
        self.clock = clock
        # The shared NetworkPolicy of each deployment namespace, ensured before a start.
        self.policies = policies
        policies.wake = self.trigger
        # Reconciles mostly wait for the API server. With a small limit, a pod's readiness
        # waited behind the creation work of hundreds of other containers (BENCHMARKS.md).
        self.queue: KeyedWorkQueue[Key] = KeyedWorkQueue(
            self.reconcile,
            concurrency=RECONCILE_CONCURRENCY,
            plain_concurrency=PLAIN_RECONCILE_CONCURRENCY,
            on_error=lambda _k, _e: metrics.reconcile_errors.inc(),
        )
        self.phases = metrics.PhaseTracker()
        # What this process wrote last, so a reconcile that runs before the watch
        # delivered our own write does not write the same thing again.
        self._applied: dict[tuple[str, str, str], str] = {}
        # What this process deleted, by container: kept until the container is forgotten or
        # the object is applied again (one set of every ref ever deleted grew with each
        # container deleted, for the life of the process).
        self._deleted: dict[Key, set[Ref]] = {}
        self._resized: dict[tuple[str, str, str], str] = {}  # PVC -> size patched to
        # Our last status write per container, with the uid of the object it went to.
        self._status_written: dict[Key, tuple[str, dict[str, Any]]] = {}
        self.detail_delay = detail_delay
        self.count_delay = count_delay
        self._detail_since: dict[Key, float] = {}  # loop time a held-back change was first seen
        self._backoff: dict[Key, _Backoff] = {}  # containers whose last reconcile failed
        # The uid whose finalizer this process removed, per container, until the watch shows
        # it gone: a reconcile in between (its children's deletions trigger one) sees the
        # deleting object still holding the finalizer and would list and patch it again
        # (at N=5000: 4851 of 5000 containers, five cluster-wide LISTs and a 404 each).
        self._finalized: dict[Key, str] = {}

    # ------------------------------------------------------------ entry points

    def trigger(self, key: Key, *, urgent: bool = False) -> None:
        """`urgent`: a change of an object this container already has (`workqueue`)."""
        self.queue.trigger(key, urgent=urgent)

    def forget_applied(self, ref: Ref) -> None:
        """The watch saw `ref` deleted: the next reconcile applies it again if still wanted
        (without this, the memo of our last apply took a deleted object for up to date).

        The memo of our deletions stays: a reconcile that began before this event still plans
        from the index as it was, and deleted the object a second time (a 404 for 77 of 1000
        Services in a terminate burst at N=1000)."""
        self._applied.pop(ref, None)

    def stand_by(self) -> None:
        """Stop reconciling at once (leadership lost, or not yet won): cancel the reconciles in
        flight and forget what this process wrote, since another replica writes meanwhile."""
        self.queue.pause()
        self.policies.stand_by()
        self._applied.clear()
        self._deleted.clear()
        self._status_written.clear()
        self._detail_since.clear()
        self._backoff.clear()

    def lead(self, keys: Iterable[Key]) -> None:
        """Start reconciling: every container the watches hold, from what they hold now."""
        self.queue.resume()
        self.policies.lead()
        for key in list(keys):
            self.queue.trigger(key)

    async def reconcile(self, key: Key) -> None:
        snapshot = self.observe(key)
        jc = snapshot.container
        if jc is None:
            self.queue.forget(key)
            self._forget(key)
            self._finalized.pop(key, None)
            self.policies.release(key)
            return
        if self._backing_off(key, jc):
            return
        made: list[Plan] = []  # the plans of this reconcile, the last one for a failure's status
        try:
            if jc["metadata"].get("deletionTimestamp"):
                await self._finalize(key, jc, snapshot)
                return
            await self._plan_and_apply(key, jc, snapshot, made)
        except _RequestFailed as exc:
            await self._failed(key, jc, made[-1] if made else None, exc.failure)
            return
        if key not in self._detail_since:  # every write made: the failures are over
            self._backoff.pop(key, None)

    async def _plan_and_apply(
        self, key: Key, jc: Mapping[str, Any], snapshot: ContainerSnapshot, made: list[Plan]
    ) -> None:
        """Plan, look up what the plan asks for and plan again, then apply the Plan."""
        now, stored = self.clock(), self._stored_status(key, jc)
        facts, ns_facts = SecretFacts(), NamespaceFacts()
        sc_facts: StorageClassFacts | None = None
        while True:
            todo = plan(
                jc,
                snapshot,
                self.settings,
                now,
                status=stored,
                secrets=facts,
                namespace=ns_facts,
                storage_class=sc_facts,
            )
            made.append(todo)
            if isinstance(todo.needs, NamespaceLookup):
                ns_facts = await self._answer_namespace(todo.needs, ns_facts)
            elif isinstance(todo.needs, StorageClassLookup):
                lookup = self._storage_class(todo.needs.name)
                sc_facts = await _step(faults.READ, "StorageClass", todo.needs.name, lookup)
            elif todo.needs is not None:
                facts = await self._answer(todo.needs, facts)
            else:
                try:
                    await self._apply_plan(key, jc, todo)
                    return
                except NameTaken as taken:
                    # Plan again knowing who holds the name: a NameCollision, nothing applied.
                    owners = {**snapshot.owners, taken.ref: taken.owner}
                    snapshot = dataclasses.replace(snapshot, owners=owners)
                except PolicyTaken as taken:
                    # The same for the namespace's NetworkPolicy: no start there.
                    foreign = snapshot.foreign_policies | {taken.namespace}
                    snapshot = dataclasses.replace(snapshot, foreign_policies=foreign)

    async def _apply_plan(self, key: Key, jc: Mapping[str, Any], todo: Plan) -> None:
        name = jc["metadata"]["name"]
        if todo.add_finalizer:
            await _step(faults.FINALIZER, "JupyterContainer", name, self._add_finalizer(jc))
        # Before anything of the container is written (an old NetworkPolicy of its own is
        # deleted below): its pods never run without the namespace's.
        await self._ensure_policy(key, todo)
        uid = str(jc["metadata"]["uid"])
        await _step(faults.READ, "the child names of", name, self._check_names(todo, uid))
        for ref in todo.delete:
            await _step(faults.DELETE, ref[0], ref[2], self._delete(key, ref, uid))
        if todo.token is not None:
            token = self._ensure_token_secret(key, todo.token)
            await _step(faults.CREATE, "Secret", todo.token.name, token)
        for desired in todo.apply:
            kind, _, child = desired.ref
            await _step(faults.APPLY, kind, child, self._apply_if_changed(key, desired))
        if todo.resize is not None:
            resize = self._resize(todo.resize)
            await _step(faults.APPLY, "PersistentVolumeClaim", todo.resize.ref[2], resize)
        if todo.status is not None:
            status = self._write_status(key, jc, todo.status)
            await _step(faults.STATUS, "JupyterContainer", name, status)
        if todo.recheck_after is not None:
            self.queue.trigger_after(key, todo.recheck_after)

    async def _ensure_policy(self, key: Key, todo: Plan) -> None:
        if todo.shared_policy is None:
            self.policies.release(key)
            return
        ensure = self.policies.ensure(key, todo.shared_policy)
        await _step(faults.APPLY, "NetworkPolicy", naming.NETWORK_POLICY_NAME, ensure)

    # ------------------------------------------------------------ failures

    def _backing_off(self, key: Key, jc: Mapping[str, Any]) -> bool:
        """Whether the last failure's retry time is still ahead (then it is scheduled)."""
        backoff = self._backoff.get(key)
        if backoff is None:
            return False
        if backoff.fingerprint != _fingerprint(jc):
            del self._backoff[key]  # the user changed something: try it at once
            return False
        wait = backoff.not_before - asyncio.get_running_loop().time()
        if wait <= 0:
            return False
        self.queue.trigger_after(key, wait)
        return True

    async def _failed(
        self, key: Key, jc: Mapping[str, Any], todo: Plan | None, failure: faults.RequestFailure
    ) -> None:
        previous = self._backoff.get(key)
        failures = (previous.failures if previous else 0) + 1
        meta = jc["metadata"]
        base: Mapping[str, Any] | None = None
        if not meta.get("deletionTimestamp"):
            planned = todo.status if todo else None
            base = faults.failure_base(planned, self._stored_status(key, jc), failure)
        decision = faults.judge_failure(
            failure,
            failures=failures,
            previous_kind=previous.kind if previous else None,
            status=base,
            generation=int(meta.get("generation") or 1),
            now=self.clock(),
        )
        if decision.error:
            metrics.reconcile_errors.inc()
        log = logger.warning if decision.log_level == "warning" else logger.info
        log("%s/%s: %s", key[0], key[1], decision.log)
        if decision.event is not None:
            type_, reason, message = decision.event
            kopf.event(object_ref(jc), type=type_, reason=reason, message=message)
        if decision.status is not None:
            try:
                await self._write_status(key, jc, decision.status, hold_back=False)
            except REQUEST_ERRORS as exc:
                logger.info("%s/%s: status not written either: %s", key[0], key[1], exc)
        if decision.retry_after is None:
            self._backoff.pop(key, None)
            return
        not_before = asyncio.get_running_loop().time() + decision.retry_after
        self._backoff[key] = _Backoff(failures, not_before, decision.kind, _fingerprint(jc))
        self.queue.trigger_after(key, decision.retry_after)

    # ------------------------------------------------------------ facts the plan asks for

    async def _answer(self, lookup: SecretLookup, facts: SecretFacts) -> SecretFacts:
        """`facts` with the answer to `lookup` (the env's Secrets at a new attempt)."""
        if lookup.what == SECRET_LABELS:
            labels: dict[str, Mapping[str, str] | None] = {}
            for name in lookup.names:
                try:
                    secret = await _step(
                        faults.READ,
                        "Secret",
                        name,
                        self.client.get(Secret, name, namespace=lookup.namespace),
                    )
                except _RequestFailed as exc:
                    if exc.failure.code != 404:
                        raise
                    continue
                labels[name] = dict(secret.metadata.labels or {}) if secret.metadata else {}
            return dataclasses.replace(facts, labels=labels)
        readable = {
            name: await _step(
                faults.READ, "SubjectAccessReview", name, self._may_get_secret(lookup, name)
            )
            for name in lookup.names
        }
        return dataclasses.replace(facts, readable=readable)

    async def _answer_namespace(
        self, lookup: NamespaceLookup, facts: NamespaceFacts
    ) -> NamespaceFacts:
        """`facts` with the answer to `lookup` (the namespace rule at a new attempt)."""
        if lookup.what == NAMESPACE_LABELS:
            try:
                ns = await self.client.get(Namespace, lookup.namespace)
            except ApiError as exc:
                if exc.status.code != 404:
                    raise
                return dataclasses.replace(facts, asked=True, labels=None)
            labels = dict((ns.metadata.labels if ns.metadata else None) or {})
            return dataclasses.replace(facts, asked=True, labels=labels)
        attributes = ResourceAttributes(
            namespace=lookup.namespace, verb="create", group="", resource="pods"
        )
        review = SubjectAccessReview(
            spec=SubjectAccessReviewSpec(
                user=lookup.user, groups=list(lookup.groups) or None, resourceAttributes=attributes
            )
        )
        result = await self.client.create(review)
        return dataclasses.replace(facts, pod_access=bool(result.status and result.status.allowed))

    async def _may_get_secret(self, lookup: SecretLookup, name: str) -> bool:
        """A SubjectAccessReview: may the creator (user and recorded groups) get the Secret."""
        review = SubjectAccessReview(
            spec=SubjectAccessReviewSpec(
                user=lookup.user,
                groups=list(lookup.groups) or None,
                resourceAttributes=ResourceAttributes(
                    namespace=lookup.namespace,
                    verb="get",
                    group="",
                    resource="secrets",
                    name=name,
                ),
            )
        )
        result = await self.client.create(review)
        return bool(result.status and result.status.allowed)

    # ------------------------------------------------------------ volume growth

    async def _storage_class(self, name: str) -> StorageClassFacts:
        """Whether a StorageClass allows volume expansion (None: it does not exist)."""
        try:
            sc = await self.client.get(StorageClass, name)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            return StorageClassFacts(None)
        return StorageClassFacts(bool(sc.allowVolumeExpansion))

    async def _resize(self, resize: PvcResize) -> None:
        """Grow the PVC in place. The JSON patch's `test` makes the API server check the uid
        label in the same request: a PVC that is not this container's is never written."""
        if self._resized.get(resize.ref) == resize.size:
            return  # patched already; the watch has not shown it yet
        _, ns, name = resize.ref
        label = naming.UID_LABEL.replace("~", "~0").replace("/", "~1")
        await self.client.patch(
            PersistentVolumeClaim,
            name,
            [
                {"op": "test", "path": f"/metadata/labels/{label}", "value": resize.uid},
                {
                    "op": "replace",
                    "path": "/spec/resources/requests/storage",
                    "value": resize.size,
                },
            ],
            namespace=ns,
            patch_type=PatchType.JSON,
        )
        self._resized[resize.ref] = resize.size

    def _forget(self, key: Key) -> None:
        self.phases.set(key, None)
        self._deleted.pop(key, None)
        self._status_written.pop(key, None)
        self._detail_since.pop(key, None)
        self._backoff.pop(key, None)

    # ------------------------------------------------------------ deletion

    async def _finalize(self, key: Key, jc: Mapping[str, Any], snapshot: ContainerSnapshot) -> None:
        meta = jc["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        self.policies.release(key)
        uid = str(meta["uid"])
        if naming.FINALIZER not in finalizers or self._finalized.get(key) == uid:
            return
        owned = await _step(faults.READ, "the objects of", meta["name"], self._list_owned(uid))
        listed = dataclasses.replace(snapshot, objects=owned)
        for ref in finalize_deletions(jc, listed):
            await _step(faults.DELETE, ref[0], ref[2], self._delete(key, ref, uid))
        finalizers.remove(naming.FINALIZER)
        try:
            patch = self.client.patch(
                JupyterContainer,
                meta["name"],
                [
                    {"op": "test", "path": "/metadata/finalizers", "value": meta["finalizers"]},
                    {"op": "replace", "path": "/metadata/finalizers", "value": finalizers},
                ],
                namespace=meta["namespace"],
                patch_type=PatchType.JSON,
            )
            await _step(faults.FINALIZER, "JupyterContainer", meta["name"], patch)
        except _RequestFailed as exc:
            if exc.failure.code not in (404, 422):
                raise
            if exc.failure.code == 422:  # the list changed under us: look again
                self.queue.trigger_after(key, 0.5)
                return
        self._forget(key)
        self._finalized[key] = uid

    async def _list_owned(self, uid: str) -> list[dict[str, Any]]:
        """Every Deployment, Service, PVC and PV labelled with this uid, in any namespace:
        one LIST per kind, so a child the index has not seen yet goes too."""
        found: list[dict[str, Any]] = []
        for kind, resource in MANAGED_KINDS.items():
            if kind == "Secret":  # never listed (see finalize_deletions)
                continue
            namespace = None if kind == "PersistentVolume" else "*"
            async for obj in self.client.list(
                resource, namespace=namespace, labels={naming.UID_LABEL: uid}
            ):
                found.append({**obj.to_dict(), "kind": kind})
        return found

    async def _add_finalizer(self, jc: Mapping[str, Any]) -> None:
        meta = jc["metadata"]
        await self.client.patch(
            JupyterContainer,
            meta["name"],
            [{"op": "add", "path": "/metadata/finalizers/-", "value": naming.FINALIZER}]
            if meta.get("finalizers")
            else [{"op": "add", "path": "/metadata/finalizers", "value": [naming.FINALIZER]}],
            namespace=meta["namespace"],
            patch_type=PatchType.JSON,
        )

    # ------------------------------------------------------------ writes

    async def _check_names(self, todo: Plan, uid: str) -> None:
        """Before anything is written: who holds each name to apply that the watch does not
        show as this container's (a force-apply would take over whatever holds it)."""
        for desired in todo.apply:
            ref = desired.ref
            if desired.observed or ref in self._applied:
                continue
            kind, ns, name = ref
            holder = await self._uid_label(MANAGED_KINDS[kind], name, ns or None)
            if holder is not None and holder != uid:
                raise NameTaken(ref, holder)

    async def _apply_if_changed(self, key: Key, desired: DesiredObject) -> None:
        ref, want = desired.ref, desired.spec_hash
        if desired.up_to_date:
            self._applied[ref] = want
            return
        if self._applied.get(ref) == want:
            return
        kind, ns, name = ref
        await self.client.patch(
            MANAGED_KINDS[kind],
            name,
            dict(desired.body),
            namespace=ns or None,
            patch_type=PatchType.APPLY,
            field_manager=self.settings.field_manager,
            force=True,
        )
        self._applied[ref] = want
        self._deleted.get(key, set()).discard(ref)

    async def _uid_label(self, resource: Any, name: str, namespace: str | None) -> str | None:
        """The uid label of an existing object ("" when it has none), None when absent."""
        try:
            obj = await self.client.get(resource, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            return None
        return str(
            ((obj.metadata.labels if obj.metadata else None) or {}).get(naming.UID_LABEL, "")
        )

    async def _delete(self, key: Key, ref: Ref, uid: str) -> None:
        deleted = self._deleted.setdefault(key, set())
        if ref in deleted:
            return
        kind, ns, name = ref
        if kind == "Secret":
            # Token Secrets are named, not watched: delete only this container's.
            holder = await self._uid_label(Secret, name, ns)
            if holder != uid:
                deleted.add(ref)
                return
        try:
            await self.client.delete(MANAGED_KINDS[kind], name, namespace=ns or None)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
        deleted.add(ref)
        self._applied.pop(ref, None)
        self._resized.pop(ref, None)  # a PVC made again under this name starts afresh

    async def _ensure_token_secret(self, key: Key, token: TokenAction) -> None:
        """Create the token Secret once; never rotate it (open sessions keep working)."""
        ns, uid = token.build.deploy_namespace, token.build.uid
        ref = ("Secret", ns, token.name)
        if not token.known_absent:
            holder = await self._uid_label(Secret, token.name, ns)
            if holder is not None and holder != uid:
                raise NameTaken(ref, holder)
            if holder == uid:
                return
        body = build_token_secret(token.build, secrets.token_urlsafe(32))
        try:
            await self.client.create(Secret(**_secret_kwargs(body)), namespace=ns)
        except ApiError as exc:
            if exc.status.code != 409:
                raise
            holder = await self._uid_label(Secret, token.name, ns)
            if holder is not None and holder != uid:
                raise NameTaken(ref, holder) from exc
        self._deleted.get(key, set()).discard(ref)

    def _last_written(self, key: Key, jc: Mapping[str, Any]) -> dict[str, Any] | None:
        written = self._status_written.get(key)
        if written is None or written[0] != jc["metadata"].get("uid"):
            return None  # none yet, or written to an earlier container of the same name
        return written[1]

    def _stored_status(self, key: Key, jc: Mapping[str, Any]) -> Mapping[str, Any]:
        """The status as stored: the index's, or our own later write it has not seen yet.

        Only the operator writes status, so an index entry that differs from our last write
        to the same object predates that write. Deciding from it would begin the attempt
        again (a new startedAt, so one more status write, and the quota and token Secret
        checks repeated).
        """
        current: Mapping[str, Any] = jc.get("status") or {}
        last = self._last_written(key, jc)
        return last if last is not None and status_differs(current, last) else current

    async def _write_status(
        self,
        key: Key,
        jc: Mapping[str, Any],
        new_status: dict[str, Any],
        *,
        hold_back: bool = True,
    ) -> None:
        current: Mapping[str, Any] = jc.get("status") or {}
        last = self._last_written(key, jc)
        self.phases.set(key, new_status["phase"])
        if not status_differs(current, new_status) or (
            last is not None and not status_differs(last, new_status)  # our write, not seen yet
        ):
            self._detail_since.pop(key, None)  # nothing pending (a held change went back)
            return
        if hold_back and self._hold_back(key, last or current, new_status):
            return
        old_phase = (last or current).get("phase")
        meta = jc["metadata"]
        # The whole status, not a diff against a possibly stale view: a partial patch
        # computed from an old index entry could mix two verdicts (phase of one,
        # reason of the other).
        await self.client.patch(
            JupyterContainer.Status,
            meta["name"],
            {"status": new_status},
            namespace=meta["namespace"],
            patch_type=PatchType.MERGE,
        )
        # Only now: a write that failed keeps its hold-back time, so the retry is not held
        # back once more (which made the failure retry every ~2 s during an outage).
        self._detail_since.pop(key, None)
        self._status_written[key] = (str(meta.get("uid")), new_status)
        if new_status["phase"] != old_phase:
            self._record_transition(jc, old_phase, new_status)

    def _hold_back(
        self, key: Key, stored: Mapping[str, Any], new_status: Mapping[str, Any]
    ) -> bool:
        """Whether to delay the write (`core.status.write_delay`); schedules it if so."""
        if self.detail_delay <= 0:
            return False
        delay = write_delay(
            stored, new_status, detail_delay=self.detail_delay, count_delay=self.count_delay
        )
        if not delay:
            return False
        now = asyncio.get_running_loop().time()
        wait = self._detail_since.setdefault(key, now) + delay - now
        if wait <= 0:
            return False
        self.queue.trigger_after(key, wait)
        return True

    def _record_transition(
        self, jc: Mapping[str, Any], old_phase: str | None, new_status: Mapping[str, Any]
    ) -> None:
        phase, reason, message = new_status["phase"], new_status["reason"], new_status["message"]
        metrics.transitions.labels(phase=phase).inc()
        if phase == Phase.FAILED:
            metrics.failures.labels(reason=reason).inc()
        if phase == Phase.ACTIVE:
            started, ready = (
                parse_iso(new_status.get("startedAt")),
                parse_iso(new_status.get("readyAt")),
            )
            if started and ready:
                metrics.time_to_active.observe(max((ready - started).total_seconds(), 0.0))
        if phase == Phase.STARTING:
            # Entering Starting is the answer to the user's own request (create, start, a
            # saved configuration); status shows it at once. An Event is posted for the
            # outcome (Active or Failed, naming the phase it came from), one write per start.
            return
        kopf.event(
            object_ref(jc),
            type="Warning" if phase == Phase.FAILED else "Normal",
            reason=str(reason),
            message=f"{old_phase or '(new)'} -> {phase}: {message}",
        )


# ---------------------------------------------------------------- helpers


@dataclasses.dataclass(frozen=True)
class _Backoff:
    failures: int
    """Consecutive failed reconciles."""
    not_before: float
    """Loop time of the retry."""
    kind: faults.FailureKind
    fingerprint: tuple[Any, ...]
    """The user's intent when it failed (see _fingerprint)."""


def _fingerprint(jc: Mapping[str, Any]) -> tuple[Any, ...]:
    """What only the user changes: a new one ends the backoff (our status writes do not)."""
    meta = jc["metadata"]
    annotations = meta.get("annotations") or {}
    return (
        meta.get("uid"),
        meta.get("generation"),
        annotations.get(naming.START_REQUESTED_ANNOTATION),
        bool(meta.get("deletionTimestamp")),
    )


class _RequestFailed(Exception):
    def __init__(self, failure: faults.RequestFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


async def _step(action: str, kind: str, name: str, request: Awaitable[T]) -> T:
    """Await `request`; a failure becomes `_RequestFailed` with its facts."""
    try:
        return await request
    except REQUEST_ERRORS as exc:
        raise _RequestFailed(request_failure(action, kind, name, exc)) from exc


def request_failure(action: str, kind: str, name: str, exc: BaseException) -> faults.RequestFailure:
    """The facts of a failed request, for `core.faults`."""
    if isinstance(exc, ApiError):
        status = exc.status
        code = status.code or (exc.response.status_code if exc.response is not None else None)
        causes = tuple(str(c.reason) for c in (status.details and status.details.causes) or ())
        return faults.RequestFailure(
            action, kind, name, code, str(status.reason or ""), str(status.message or ""), causes
        )
    return faults.RequestFailure(action, kind, name, None, type(exc).__name__, str(exc))


def object_ref(jc: Mapping[str, Any]) -> dict[str, Any]:
    """Enough of a JupyterContainer for kopf to post an Event about it."""
    meta = jc["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "JupyterContainer",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
    }


def _secret_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "metadata": ObjectMeta(
            name=meta["name"],
            namespace=meta["namespace"],
            labels=meta.get("labels"),
            annotations=meta.get("annotations"),
        ),
        "type": body.get("type", "Opaque"),
        "stringData": body.get("stringData"),
    }
