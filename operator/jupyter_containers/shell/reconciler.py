"""The imperative shell: read the observed world, call the pure core, write the difference.

Triggered by watch events only (see `handlers`). Every write is skipped when it
would change nothing: desired objects carry a spec hash compared with what the
indexes observed, and status is patched only when it differs. That is what makes
an operator restart over N existing containers write nothing at all.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType
from pydantic import ValidationError

from jupyter_containers.api.models import (
    API_VERSION,
    InstanceTypeSpec,
    JupyterContainerSpec,
    Phase,
    Reason,
    VolumeSpec,
    VolumeType,
)
from jupyter_containers.core import naming
from jupyter_containers.core.builders import (
    CatalogError,
    Target,
    build_deployment,
    build_nfs_pv,
    build_pvc,
    build_service,
    build_token_secret,
    instance_display,
    resolve_instance_type,
    resolve_volume,
    volume_display,
)
from jupyter_containers.core.lifecycle import Observed, Verdict, decide
from jupyter_containers.core.quota import check_quota
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.status import StatusInputs, build_status, status_differs
from jupyter_containers.shell import metrics
from jupyter_containers.shell.resources import MANAGED_KINDS, JupyterContainer, Secret
from jupyter_containers.shell.workqueue import KeyedWorkQueue

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (domain namespace, container name)

#: How long a status change that keeps the phase (a progress message within Starting, event
#: counts, the pod name) may wait, so that the changes of a burst go out in one write. Phase,
#: attempt, observedGeneration and condition changes are written at once, as is everything
#: pending with them.
STATUS_DETAIL_DELAY = 1.0
#: Reconciles in flight at once (each holds at most one API request at a time).
RECONCILE_CONCURRENCY = 256


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class World:
    """What the indexes observed for one container."""

    container: Mapping[str, Any] | None
    objects: list[Mapping[str, Any]]  # Deployments, Services, PVCs labelled for this container
    pods: list[Mapping[str, Any]]
    instance_types: Mapping[str, InstanceTypeSpec]
    volumes: Mapping[str, VolumeSpec]
    #: Event counts ({"warnings", "total"}) of the pods with these uids.
    count_events: Callable[[Iterable[str]], Mapping[str, int]] = lambda _uids: {
        "warnings": 0,
        "total": 0,
    }
    #: ResourceQuotas by namespace, as watched.
    quotas: Mapping[str, Iterable[Mapping[str, Any]]] = field(default_factory=dict)


class Reconciler:
    def __init__(
        self,
        client: AsyncClient,
        settings: Settings,
        observe: Callable[[Key], World],
        *,
        clock: Callable[[], datetime] = now_utc,
        detail_delay: float = STATUS_DETAIL_DELAY,
    ) -> None:
        self.client = client
        self.settings = settings
        self.observe = observe
        self.clock = clock
        # Reconciles mostly wait for the API server. With a small limit, a pod's readiness
        # waited behind the creation work of hundreds of other containers (BENCHMARKS.md).
        self.queue: KeyedWorkQueue[Key] = KeyedWorkQueue(
            self.reconcile,
            concurrency=RECONCILE_CONCURRENCY,
            on_error=lambda _k, _e: metrics.reconcile_errors.inc(),
        )
        self.phases = metrics.PhaseTracker()
        # What this process wrote last, so a reconcile that runs before the watch
        # delivered our own write does not write the same thing again.
        self._applied: dict[tuple[str, str, str], str] = {}
        self._deleted: set[tuple[str, str, str]] = set()
        # Our last status write per container, with the uid of the object it went to.
        self._status_written: dict[Key, tuple[str, dict[str, Any]]] = {}
        self.detail_delay = detail_delay
        self._detail_since: dict[Key, float] = {}  # loop time a held-back change was first seen

    # ------------------------------------------------------------ entry points

    def trigger(self, key: Key) -> None:
        self.queue.trigger(key)

    async def reconcile(self, key: Key) -> None:
        world = self.observe(key)
        jc = world.container
        if jc is None:
            self.queue.forget(key)
            self.phases.set(key, None)
            self._status_written.pop(key, None)
            self._detail_since.pop(key, None)
            return
        meta = jc["metadata"]
        if meta.get("deletionTimestamp"):
            await self._finalize(key, jc, world)
            return
        if naming.FINALIZER not in (meta.get("finalizers") or []):
            await self._add_finalizer(jc)
        await self._converge(key, jc, world)

    # ------------------------------------------------------------ convergence

    async def _converge(self, key: Key, jc: Mapping[str, Any], world: World) -> None:
        domain, name = key
        meta = jc["metadata"]
        uid = meta["uid"]
        generation = int(meta.get("generation") or 1)
        status = self._stored_status(key, jc)
        annotations: Mapping[str, str] = meta.get("annotations") or {}
        now = self.clock()

        try:
            spec = JupyterContainerSpec.model_validate(jc.get("spec") or {})
        except ValidationError as exc:
            await self._write_failed_config(key, jc, _validation_message(exc), domain)
            return

        deploy_ns = naming.deployment_namespace(domain, spec)
        try:
            it_name, it = resolve_instance_type(spec.instanceType, world.instance_types)
            vol_name, vol = resolve_volume(spec.volume, world.volumes)
        except CatalogError as exc:
            await self._write_failed_config(key, jc, exc.message, deploy_ns)
            return

        # Attempts: a new one on first start, on start after Stopped, on an explicit
        # start request (annotation), and on a configuration saved while Failed.
        phase = status.get("phase")
        attempt = int(status.get("attempt") or 0)
        start_request = annotations.get(naming.START_REQUESTED_ANNOTATION)
        handled_request = status.get("startRequest")
        new_attempt = spec.running and (
            phase in (None, Phase.STOPPED)
            or (start_request is not None and start_request != handled_request)
            or (phase == Phase.FAILED and generation != status.get("observedGeneration"))
        )
        if new_attempt:
            attempt += 1
            started_at = now
        else:
            started_at = parse_iso(status.get("startedAt"))

        target = Target(
            name=name,
            domain=domain,
            uid=uid,
            spec=spec,
            instance_type_name=it_name,
            instance_type=it,
            volume_name=vol_name,
            volume=vol,
            settings=self.settings,
            attempt=attempt,
        )
        desired_pvc = build_pvc(target)
        # Storage (an NFS Volume's PV, then the PVC) outlives terminate; it goes with the
        # container, with its volume or namespace. An On Demand PVC's data goes with it,
        # an NFS share's never (its PV is Retain).
        storage = [o for o in (build_nfs_pv(target), desired_pvc) if o is not None]
        observed = [o for o in world.objects if not _is_deleting(o)]

        # Quota at start: checked before anything is created, so a start that cannot
        # fit fails at once with the numbers instead of leaving a ReplicaSet retrying.
        # Only when nothing of this container runs yet (its own pod would count twice).
        existing = _find(observed, "Deployment", deploy_ns, target.base_name, uid)
        quota_problem: str | None = None
        if spec.running and existing is None:
            if new_attempt:
                has_pvc = desired_pvc is not None and any(
                    _ref(o) == _ref(desired_pvc) for o in observed
                )
                quota_problem = self._quota_problem(
                    target,
                    list(world.quotas.get(target.deploy_namespace, [])),
                    include_volume=desired_pvc is not None and not has_pvc,
                )
            elif phase == Phase.FAILED and status.get("reason") == Reason.QUOTA_EXCEEDED:
                quota_problem = status.get("message") or "quota exceeded"
        deploy = spec.running and quota_problem is None

        desired: list[dict[str, Any]] = []
        keep: set[tuple[str, str, str]] = set()
        if deploy:
            desired = [*storage, build_deployment(target), build_service(target)]
        else:
            keep |= {_ref(o) for o in storage}  # terminate keeps the storage
        keep |= {_ref(o) for o in desired}
        # Anything of ours the desired state no longer has goes: objects in a former
        # deployment namespace, the PVC of a former volume, Deployment and Service of a
        # terminated container. An object that has a desired name but belongs to a
        # former volume or to an earlier container of the same name must be gone
        # before its successor is created; its deletion event wakes us up again.
        blocked: set[tuple[str, str, str]] = set()
        for obj in world.objects:
            ref = _ref(obj)
            current = _belongs_to(obj, uid, vol_name)
            if ref in keep and current and not _is_deleting(obj):
                continue
            if ref in keep:
                blocked.add(ref)
            if _is_deleting(obj):
                continue
            if ref[0] in STORAGE_KINDS and not _storage_is_ours(obj, uid, world):
                continue
            await self._delete(ref)
        namespaces = {o["metadata"].get("namespace") for o in observed} - {None, deploy_ns}
        for ns in namespaces:
            await self._delete(
                ("Secret", ns, naming.token_secret_name(naming.base_name(name, domain, ns)))
            )
        secret_name = naming.token_secret_name(target.base_name)

        token_secret = status.get("tokenSecret")
        if deploy:
            if new_attempt or token_secret != secret_name:
                # Never made for this namespace before: create it straight away (a 409 means
                # it exists). Otherwise it is there unless someone deleted it: look first.
                await self._ensure_token_secret(
                    target, secret_name, known_absent=token_secret != secret_name
                )
            if not blocked:
                observed_refs = {_ref(o) for o in observed}
                for obj in desired:
                    if _waits_for_its_pv(obj, observed_refs):
                        # The PV controller binds a pre-bound claim at once only when it
                        # has seen the PV; otherwise at its next resync, 15 s later. The
                        # PV's watch event brings us back here.
                        continue
                    await self._apply_if_changed(obj, observed)
        token_secret = secret_name if deploy or token_secret == secret_name else None

        deployment = _find(observed, "Deployment", deploy_ns, target.base_name, uid)
        pvc = (
            _find(
                observed, "PersistentVolumeClaim", deploy_ns, desired_pvc["metadata"]["name"], uid
            )
            if desired_pvc is not None
            else None
        )
        pods = [
            p
            for p in world.pods
            if (p["metadata"].get("labels") or {}).get(naming.UID_LABEL) == uid
            and (p["metadata"].get("annotations") or {}).get(naming.ATTEMPT_ANNOTATION)
            == str(attempt)
            and p["metadata"].get("namespace") == deploy_ns
        ]
        previous = (
            None
            if new_attempt or phase is None
            else Verdict(
                Phase(phase),
                Reason(status.get("reason") or Reason.CREATED),
                status.get("message") or "",
            )
        )
        verdict = decide(
            Observed(
                running=spec.running,
                attempt_started_at=started_at,
                deployment=deployment if spec.running else None,
                pods=pods if spec.running else [],
                pvc=pvc,
                pvc_required=desired_pvc is not None,
                now=now,
                previous=previous,
            ),
            self.settings,
        )
        if quota_problem is not None:
            verdict = Verdict(Phase.FAILED, Reason.QUOTA_EXCEEDED, quota_problem)
        pod_name = _newest(pods)
        new_status = build_status(
            StatusInputs(
                verdict=verdict,
                generation=generation,
                now_iso=iso(now),
                attempt=attempt,
                started_at=iso(started_at) if started_at else None,
                start_request=start_request,
                deployment_namespace=deploy_ns,
                instance={
                    "name": it_name,
                    "cpu": it.cpu,
                    "memory": it.memory,
                    "display": instance_display(it_name, it),
                },
                volume_display=volume_display(vol_name, vol),
                created_by=annotations.get(naming.CREATED_BY_ANNOTATION),
                # The current attempt's pods only: an earlier pod's events would count until
                # that pod is gone, and the count flap (a status write each way) on every start.
                events=world.count_events(p["metadata"]["uid"] for p in pods),
                pod_name=pod_name,
                pvc_name=desired_pvc["metadata"]["name"] if desired_pvc is not None else None,
                service_name=target.base_name if deploy else None,
                token_secret=token_secret,
            ),
            status,
        )
        await self._write_status(key, jc, new_status)
        if verdict.recheck_after is not None:
            self.queue.trigger_after(key, verdict.recheck_after)

    # ------------------------------------------------------------ deletion

    async def _finalize(self, key: Key, jc: Mapping[str, Any], world: World) -> None:
        meta = jc["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if naming.FINALIZER not in finalizers:
            return
        uid = meta["uid"]
        namespaces: set[str] = set()
        for obj in world.objects:
            labels = obj["metadata"].get("labels") or {}
            if labels.get(naming.UID_LABEL) != uid:
                continue
            if obj["metadata"].get("namespace"):
                namespaces.add(obj["metadata"]["namespace"])
            if obj["kind"] in STORAGE_KINDS and not _storage_is_ours(obj, uid, world):
                continue
            await self._delete(_ref(obj))
        status = jc.get("status") or {}
        if status.get("deploymentNamespace"):
            namespaces.add(status["deploymentNamespace"])
        domain, name = key
        for ns in namespaces:
            await self._delete(
                ("Secret", ns, naming.token_secret_name(naming.base_name(name, domain, ns)))
            )
        finalizers.remove(naming.FINALIZER)
        try:
            await self.client.patch(
                JupyterContainer,
                meta["name"],
                [
                    {"op": "test", "path": "/metadata/finalizers", "value": meta["finalizers"]},
                    {"op": "replace", "path": "/metadata/finalizers", "value": finalizers},
                ],
                namespace=meta["namespace"],
                patch_type=PatchType.JSON,
            )
        except ApiError as exc:
            if exc.status.code not in (404, 422):
                raise
            if exc.status.code == 422:  # the list changed under us: look again
                self.queue.trigger_after(key, 0.5)
                return
        self._status_written.pop(key, None)
        self._detail_since.pop(key, None)
        self.phases.set(key, None)

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

    async def _apply_if_changed(
        self, obj: Mapping[str, Any], observed: Iterable[Mapping[str, Any]]
    ) -> None:
        ref = _ref(obj)
        want = obj["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION]
        for o in observed:
            if _ref(o) == ref:
                have = (o["metadata"].get("annotations") or {}).get(naming.SPEC_HASH_ANNOTATION)
                # A PVC's or PV's source, size and class are immutable: once it exists it
                # stays as made (a volume change makes a new one).
                if have == want or ref[0] in STORAGE_KINDS:
                    self._applied[ref] = want
                    return
        if self._applied.get(ref) == want:
            return
        kind, ns, name = ref
        await self.client.patch(
            MANAGED_KINDS[kind],
            name,
            dict(obj),
            namespace=ns or None,
            patch_type=PatchType.APPLY,
            field_manager=self.settings.field_manager,
            force=True,
        )
        self._applied[ref] = want
        self._deleted.discard(ref)

    async def _delete(self, ref: tuple[str, str, str]) -> None:
        if ref in self._deleted:
            return
        kind, ns, name = ref
        try:
            await self.client.delete(MANAGED_KINDS[kind], name, namespace=ns or None)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
        self._deleted.add(ref)
        self._applied.pop(ref, None)

    def _quota_problem(
        self, target: Target, quotas: list[Mapping[str, Any]], *, include_volume: bool
    ) -> str | None:
        ns = target.deploy_namespace
        if not quotas:
            return None
        return check_quota(
            quotas,
            target.instance_type_name,
            target.instance_type,
            target.volume_name,
            target.volume,
            include_volume,
            namespace=ns,
            storage_class=(target.volume.storageClassName if target.volume else None)
            or self.settings.default_storage_class,
        )

    async def _ensure_token_secret(
        self, target: Target, secret_name: str, *, known_absent: bool
    ) -> None:
        """Create the token Secret once; never rotate it (open sessions keep working)."""
        ns = target.deploy_namespace
        if not known_absent:
            try:
                await self.client.get(Secret, secret_name, namespace=ns)
                return
            except ApiError as exc:
                if exc.status.code != 404:
                    raise
        body = build_token_secret(target, secrets.token_urlsafe(32))
        try:
            await self.client.create(Secret(**_secret_kwargs(body)), namespace=ns)
        except ApiError as exc:
            if exc.status.code != 409:
                raise
        self._deleted.discard(("Secret", ns, secret_name))

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
        self, key: Key, jc: Mapping[str, Any], new_status: dict[str, Any]
    ) -> None:
        current: Mapping[str, Any] = jc.get("status") or {}
        last = self._last_written(key, jc)
        self.phases.set(key, new_status["phase"])
        if not status_differs(current, new_status):
            return
        if last is not None and not status_differs(last, new_status):
            return  # the index has not seen our own last write yet
        if self._hold_back(key, last or current, new_status):
            return
        self._detail_since.pop(key, None)
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
        self._status_written[key] = (str(meta.get("uid")), new_status)
        if new_status["phase"] != old_phase:
            self._record_transition(jc, old_phase, new_status)

    def _hold_back(
        self, key: Key, stored: Mapping[str, Any], new_status: Mapping[str, Any]
    ) -> bool:
        """Whether to delay a detail-only change (see STATUS_DETAIL_DELAY); schedules the write."""
        if self.detail_delay <= 0 or not stored or _milestone(stored) != _milestone(new_status):
            return False
        now = asyncio.get_running_loop().time()
        wait = self._detail_since.setdefault(key, now) + self.detail_delay - now
        if wait <= 0:
            return False
        self.queue.trigger_after(key, wait)
        return True

    async def _write_failed_config(
        self, key: Key, jc: Mapping[str, Any], message: str, deploy_ns: str
    ) -> None:
        status: Mapping[str, Any] = jc.get("status") or {}
        meta = jc["metadata"]
        now = self.clock()
        verdict = Verdict(Phase.FAILED, Reason.INVALID_CONFIGURATION, message)
        new_status = build_status(
            StatusInputs(
                verdict=verdict,
                generation=int(meta.get("generation") or 1),
                now_iso=iso(now),
                attempt=int(status.get("attempt") or 0),
                started_at=status.get("startedAt"),
                start_request=(meta.get("annotations") or {}).get(
                    naming.START_REQUESTED_ANNOTATION
                ),
                deployment_namespace=deploy_ns,
                instance=status.get("instance"),
                volume_display=status.get("volume") or "No volume",
                created_by=(meta.get("annotations") or {}).get(naming.CREATED_BY_ANNOTATION),
                events=status.get("events") or {},
                pod_name=status.get("podName"),
                pvc_name=status.get("pvcName"),
                service_name=status.get("serviceName"),
                token_secret=status.get("tokenSecret"),
            ),
            status,
        )
        await self._write_status(key, jc, new_status)

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


def object_ref(jc: Mapping[str, Any]) -> dict[str, Any]:
    """Enough of a JupyterContainer for kopf to post an Event about it."""
    meta = jc["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "JupyterContainer",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
    }


STORAGE_KINDS = frozenset({"PersistentVolumeClaim", "PersistentVolume"})


def _milestone(status: Mapping[str, Any]) -> tuple[Any, ...]:
    """What clients wait for (phase, kstatus conditions, observedGeneration): never held back."""
    conditions = sorted(
        (str(c.get("type")), str(c.get("status"))) for c in status.get("conditions") or []
    )
    return (
        status.get("phase"),
        status.get("attempt"),
        status.get("observedGeneration"),
        tuple(conditions),
    )


def _ref(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace or "" when cluster-scoped, name)."""
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace") or "", meta["name"])


def _is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def _find(
    objects: Iterable[Mapping[str, Any]], kind: str, ns: str, name: str, uid: str
) -> Mapping[str, Any] | None:
    for o in objects:
        meta = o["metadata"]
        if (
            o["kind"] == kind
            and meta["namespace"] == ns
            and meta["name"] == name
            and (meta.get("labels") or {}).get(naming.UID_LABEL) == uid
        ):
            return o
    return None


def _waits_for_its_pv(obj: Mapping[str, Any], observed_refs: set[tuple[str, str, str]]) -> bool:
    volume_name = obj["spec"].get("volumeName") if obj["kind"] == "PersistentVolumeClaim" else None
    if not volume_name or _ref(obj) in observed_refs:
        return False
    return ("PersistentVolume", "", volume_name) not in observed_refs


def _belongs_to(obj: Mapping[str, Any], uid: str, volume_name: str | None) -> bool:
    """Whether an object is the current one of this container (same uid; same volume for PVCs)."""
    meta = obj["metadata"]
    if (meta.get("labels") or {}).get(naming.UID_LABEL) != uid:
        return False
    if obj["kind"] != "PersistentVolumeClaim":
        return True
    return (meta.get("annotations") or {}).get(naming.VOLUME_ANNOTATION) == volume_name


def _storage_is_ours(obj: Mapping[str, Any], uid: str, world: World) -> bool:
    """Only a PVC or PV this operator created for this very container is ever deleted."""
    meta = obj["metadata"]
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if labels.get(naming.MANAGED_BY_LABEL) != naming.MANAGED_BY_VALUE:
        return False
    if labels.get(naming.UID_LABEL) != uid:
        return False
    volume = world.volumes.get(annotations.get(naming.VOLUME_ANNOTATION, ""))
    # One whose catalog entry is gone was still made by us for an allowed type.
    return volume is None or volume.type in (VolumeType.ON_DEMAND_PVC, VolumeType.NFS)


def _newest(pods: list[Mapping[str, Any]]) -> str | None:
    if not pods:
        return None
    newest = max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")
    return newest["metadata"]["name"]


def _secret_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    from lightkube.models.meta_v1 import ObjectMeta

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


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"spec.{loc}: {err['msg']}")
    return "; ".join(parts)
