"""What one reconcile of a JupyterContainer should do: a snapshot in, a `Plan` out.

Pure: the snapshot is what the watches hold about the container (see `shell.world`),
`now` is an input, and the result is a list of writes for the shell to make
(`shell.reconciler` applies a Plan and nothing else). Each case of the manual's
lifecycle table and each failure reason is a row of tests/unit/test_plan.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from jupyter_containers.api.models import (
    InstanceTypeSpec,
    JupyterContainerSpec,
    JupyterImageSpec,
    Phase,
    Reason,
    VolumeSpec,
    VolumeType,
)
from jupyter_containers.core import bounds, culling, faults, naming, secret_policy, validation
from jupyter_containers.core.builders import (
    BuildInputs,
    build_deployment,
    build_nfs_pv,
    build_pvc,
    build_service,
)
from jupyter_containers.core.catalog import (
    CatalogError,
    instance_display,
    resolve_image,
    resolve_instance_type,
    resolve_volume,
    volume_display,
)
from jupyter_containers.core.entitlements import Chooser, bundle_ref
from jupyter_containers.core.lifecycle import MSG_STOPPED, AttemptFacts, Verdict, decide
from jupyter_containers.core.namespace_policy import msg_policy_taken
from jupyter_containers.core.quota import check_quota
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.status import StatusInputs, build_status, iso, parse_iso
from jupyter_containers.core.volume_size import (
    Claim,
    Growth,
    StorageClassFacts,
    StorageClassLookup,
    above_maximum_problem,
    decide_growth,
    growth_size,
    shown_size,
    storage_status,
)

#: (kind, namespace or "" when cluster-scoped, name): how plans name an object.
Ref = tuple[str, str, str]

#: Kinds whose objects outlive terminate and are deleted only when this operator made them.
STORAGE_KINDS = frozenset({"PersistentVolumeClaim", "PersistentVolume"})


@dataclass(frozen=True)
class ContainerSnapshot:
    """What the watches hold about one JupyterContainer (`shell.world.observe` builds it)."""

    container: Mapping[str, Any] | None
    """The JupyterContainer (metadata, spec, status); None when it is gone."""
    objects: Sequence[Mapping[str, Any]]
    """Its Deployments, Services, PVCs and PVs (labelled with its domain and name), and the
    NetworkPolicy of its own an earlier version made (now unwanted: deleted)."""
    pods: Sequence[Mapping[str, Any]]
    instance_types: Mapping[str, InstanceTypeSpec]
    volumes: Mapping[str, VolumeSpec]
    images: Mapping[str, JupyterImageSpec] = field(default_factory=dict)
    """The JupyterImages of the catalog."""
    pod_events: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Event counts ({"warnings", "total"}) by pod uid."""
    quotas: Mapping[str, Iterable[Mapping[str, Any]]] = field(default_factory=dict)
    """ResourceQuotas by namespace."""
    owners: Mapping[Ref, str] = field(default_factory=dict)
    """The uid label of every object the operator manages, of any container, by ref ("" when
    it has none): a desired name held by another container is a NameCollision."""
    foreign_policies: frozenset[str] = frozenset()
    """Namespaces where the shell found the shared NetworkPolicy's name held by an object
    without the managed-by label (`core.namespace_policy`): no start there."""


@dataclass(frozen=True)
class DesiredObject:
    """An object to server-side apply; `up_to_date`: the watch shows it with this spec hash."""

    body: Mapping[str, Any]
    up_to_date: bool
    observed: bool = False
    """The watch shows an object of this container under this name (else the shell checks
    who holds the name before the first write)."""

    @property
    def ref(self) -> Ref:
        return ref_of(self.body)

    @property
    def spec_hash(self) -> str:
        return str(self.body["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION])


@dataclass(frozen=True)
class TokenAction:
    """Create the token Secret (never rotate it); `known_absent`: no need to look first."""

    build: BuildInputs
    name: str
    known_absent: bool


#: SecretLookup.what: the labels of the Secrets (name -> labels; a Secret that does not
#: exist is left out) and whether the creator may get them (name -> bool, SubjectAccessReviews).
SECRET_LABELS = "labels"
SECRET_ACCESS = "access"


@dataclass(frozen=True)
class SecretLookup:
    """Facts about the Secrets a new attempt's env refers to: the shell reads them and
    plans again with the answers (`SecretFacts`)."""

    what: str  # SECRET_LABELS or SECRET_ACCESS
    namespace: str
    names: tuple[str, ...]
    user: str = ""
    """SECRET_ACCESS: the creator (created-by) and the groups recorded at creation."""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecretFacts:
    """The answers to the SecretLookups so far (None: not asked yet)."""

    labels: Mapping[str, Mapping[str, str] | None] | None = None
    readable: Mapping[str, bool] | None = None


#: NamespaceLookup.what: the deployment namespace's labels (None when it does not exist),
#: and whether the creator may create pods there (a SubjectAccessReview).
NAMESPACE_LABELS = "namespace"
POD_ACCESS = "pods"


@dataclass(frozen=True)
class NamespaceLookup:
    """Facts the namespace rule needs at a new attempt outside the domain (the webhook
    checks the same; the reconciler checks again in case the webhook did not run)."""

    what: str  # NAMESPACE_LABELS or POD_ACCESS
    namespace: str
    user: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class NamespaceFacts:
    """The answers so far (`asked`: the labels were read; `labels` None: no such namespace)."""

    asked: bool = False
    labels: Mapping[str, str] | None = None
    pod_access: bool | None = None


@dataclass(frozen=True)
class Plan:
    """The writes of one reconcile, in the order the shell makes them.

    `needs`: the plan cannot be made without these facts; nothing else is set, the shell
    answers and plans again."""

    needs: SecretLookup | NamespaceLookup | StorageClassLookup | None = None

    add_finalizer: bool = False
    delete: tuple[Ref, ...] = ()
    token: TokenAction | None = None
    apply: tuple[DesiredObject, ...] = ()
    blocked: frozenset[Ref] = frozenset()
    """Desired objects still held by a predecessor being deleted: nothing is applied yet."""
    verdict: Verdict | None = None
    status: dict[str, Any] | None = None
    recheck_after: float | None = None
    resize: PvcResize | None = None
    """Grow the container's own On Demand PVC (core.volume_size), after the applies."""
    shared_policy: str | None = None
    """The deployment namespace whose shared NetworkPolicy must exist before anything of this
    container is written (`core.namespace_policy`); None: it deploys nothing (or the setting
    is off)."""


@dataclass(frozen=True)
class PvcResize:
    """Patch spec.resources.requests.storage of a PVC whose uid label is `uid`."""

    ref: Ref
    uid: str
    size: str


@dataclass(frozen=True)
class _Attempt:
    number: int
    is_new: bool
    started_at: datetime | None


@dataclass(frozen=True)
class _OnDemandPvc:
    """The container's On Demand PVC as the watch shows it (None: not made yet, or no such
    volume), and what growing it writes: status.storage and the PVC's patch."""

    claim: Claim | None
    storage_status: dict[str, Any] | None
    resize: PvcResize | None


def plan(
    container: Mapping[str, Any],
    snapshot: ContainerSnapshot,
    settings: Settings,
    now: datetime,
    *,
    status: Mapping[str, Any] | None = None,
    secrets: SecretFacts | None = None,
    namespace: NamespaceFacts | None = None,
    storage_class: StorageClassFacts | None = None,
) -> Plan:
    """The Plan for a container that is not being deleted.

    `status`: the status as stored, when the shell knows a later one than the snapshot's
    (its own write the watch has not delivered yet); default: the container's.
    `secrets`, `namespace`, `storage_class`: the answers to the `Plan.needs` of earlier
    calls with the same inputs.
    """
    meta = container["metadata"]
    stored: Mapping[str, Any] = status if status is not None else container.get("status") or {}
    add_finalizer = naming.FINALIZER not in (meta.get("finalizers") or [])
    domain = meta["namespace"]
    try:
        spec = JupyterContainerSpec.model_validate(container.get("spec") or {})
    except ValidationError as exc:
        return _invalid(container, snapshot, now, validation_message(exc), domain, add_finalizer)
    deploy_ns = naming.deployment_namespace(domain, spec)
    attempt = _attempt(container, spec, stored, now)
    try:
        build = _build_inputs(container, spec, snapshot, settings, attempt, stored)
    except CatalogError as exc:
        return _invalid(container, snapshot, now, exc.message, deploy_ns, add_finalizer)
    if (too_big := _above_maximum(build, snapshot)) is not None:
        return _invalid(container, snapshot, now, too_big, deploy_ns, add_finalizer)
    ns_facts = namespace or NamespaceFacts()
    ns_problem = _namespace_gate(container, build, settings, stored, attempt, ns_facts)
    if isinstance(ns_problem, NamespaceLookup):
        return Plan(needs=ns_problem)
    secret_problem = _secret_gate(container, build, stored, attempt, secrets or SecretFacts())
    if isinstance(secret_problem, SecretLookup):
        return Plan(needs=secret_problem)
    refused = _failed(Reason.NAMESPACE_NOT_ALLOWED, ns_problem) or _failed(
        Reason.SECRET_NOT_ALLOWED, secret_problem
    )
    return _grow_and_converge(
        container, snapshot, stored, build, attempt, now, add_finalizer, refused, storage_class
    )


# ---------------------------------------------------------------- volume growth


def _claim(build: BuildInputs, objects: Iterable[Mapping[str, Any]]) -> Claim | None:
    """The container's current On Demand PVC as the watch shows it (its uid label checked)."""
    if build.volume is None or build.volume.type != VolumeType.ON_DEMAND_PVC:
        return None
    pvc = find(
        [o for o in objects if not is_deleting(o)],
        "PersistentVolumeClaim",
        build.deploy_namespace,
        build.pvc_name,
        build.uid,
    )
    if pvc is None or not _belongs_to(pvc, build.uid, build.volume_name):
        return None
    return Claim.of(pvc)


def _above_maximum(build: BuildInputs, snapshot: ContainerSnapshot) -> str | None:
    """spec.volumeSize above the Volume's maxSize (the webhook did not run, or the admin
    lowered maxSize): no PVC is made or grown that large. A PVC that has the size already
    stays as it is."""
    size = build.spec.volumeSize
    problem = above_maximum_problem(size, build.volume_name, build.volume)
    if problem is None or size is None:
        return None
    claim = _claim(build, snapshot.objects)
    return problem if claim is None or claim.needs_growth(size) else None


def _growth(
    container: Mapping[str, Any],
    build: BuildInputs,
    stored: Mapping[str, Any],
    claim: Claim | None,
    storage_class: StorageClassFacts | None,
) -> Growth | StorageClassLookup:
    size = growth_size(build.spec, build.volume)
    before = stored.get("storage") or {}
    kept = (
        before.get("message")
        if before.get("resize") == "Refused"
        and before.get("requested") == size
        and stored.get("observedGeneration") == _generation(container)
        else None
    )
    return decide_growth(size, claim, kept_refusal=kept, storage_class=storage_class)


def _grow_and_converge(
    container: Mapping[str, Any],
    snapshot: ContainerSnapshot,
    stored: Mapping[str, Any],
    build: BuildInputs,
    attempt: _Attempt,
    now: datetime,
    add_finalizer: bool,
    refused: Verdict | None,
    storage_class: StorageClassFacts | None,
) -> Plan:
    """`_converge`, with the growth of the On Demand PVC (or the StorageClass it needs)."""
    claim = _claim(build, snapshot.objects)
    growth = _growth(container, build, stored, claim, storage_class)
    if isinstance(growth, StorageClassLookup):
        return Plan(needs=growth)
    pvc = _OnDemandPvc(claim, *_storage_writes(build, stored, claim, growth))
    return _converge(container, snapshot, stored, build, attempt, now, add_finalizer, refused, pvc)


def _shown_pvc(
    desired_pvc: Mapping[str, Any] | None, claim: Claim | None, deploy: bool
) -> str | None:
    """status.pvcName: the On Demand PVC once it exists (`claim`) or this start makes it, not
    before (a container created stopped, or moved while stopped, has none until it starts)."""
    if desired_pvc is None or not (deploy or claim is not None):
        return None
    return str(desired_pvc["metadata"]["name"])


def _storage_writes(
    build: BuildInputs, stored: Mapping[str, Any], claim: Claim | None, growth: Growth
) -> tuple[dict[str, Any] | None, PvcResize | None]:
    """status.storage, and the PVC patch that grows it (if any)."""
    size = shown_size(build.spec, build.volume, claim)
    status = storage_status(size, claim, growth, stored.get("storage"))
    if growth.size is None or claim is None:
        return status, None
    ref = ("PersistentVolumeClaim", build.deploy_namespace, claim.name)
    return status, PvcResize(ref, build.uid, growth.size)


def _build_inputs(
    container: Mapping[str, Any],
    spec: JupyterContainerSpec,
    snapshot: ContainerSnapshot,
    settings: Settings,
    attempt: _Attempt,
    stored: Mapping[str, Any],
) -> BuildInputs:
    """The catalog entries the spec picks, resolved (CatalogError when it cannot be built).

    Entitlements are judged at every start, for the creator (core.entitlements); a running
    container keeps what it started with when an entitlement is withdrawn.
    """
    choosers = (_creator_chooser(container, spec, settings),)
    enforce = attempt.is_new
    it_name, it = resolve_instance_type(
        spec.instanceType, snapshot.instance_types, choosers, enforce=enforce
    )
    vol_name, vol = resolve_volume(spec.volume, snapshot.volumes, choosers, enforce=enforce)
    _, image = resolve_image(
        spec.image, snapshot.images, settings.jupyter_image, choosers, enforce=enforce
    )
    # A running attempt keeps the image it started with: a catalog edit (a new tag or digest,
    # another default) reaches it at its next start, not as a restart now.
    image = (None if enforce else stored.get("image")) or image
    meta = container["metadata"]
    return BuildInputs(
        name=meta["name"],
        domain=meta["namespace"],
        uid=meta["uid"],
        spec=spec,
        instance_type_name=it_name,
        instance_type=it,
        volume_name=vol_name,
        volume=vol,
        settings=settings,
        attempt=attempt.number,
        image_reference=image,
    )


def _creator_chooser(
    container: Mapping[str, Any], spec: JupyterContainerSpec, settings: Settings
) -> Chooser:
    """The container's bundle and its creator's groups as recorded at creation."""
    annotations = container["metadata"].get("annotations") or {}
    creator = annotations.get(naming.CREATED_BY_ANNOTATION) or "unknown"
    return Chooser.of(
        bundle_ref(container["metadata"]["namespace"], spec.bundle),
        validation.created_by_groups(annotations),
        settings.admin_groups,
        f"the container's creator {creator}",
    )


def _attempt(
    container: Mapping[str, Any],
    spec: JupyterContainerSpec,
    stored: Mapping[str, Any],
    now: datetime,
) -> _Attempt:
    """A new attempt on first start, on start after Stopped, on an explicit start request
    (annotation), on a configuration saved while Failed, and when a configuration that could
    not be built (InvalidConfiguration: a catalog entry missing or unavailable) builds again.

    The last is no attempt's failure but a missing dependency, as a pod waiting for its
    ConfigMap: containers applied before their catalog (GitOps, `make run` on a fresh cluster)
    start once it arrives, instead of staying Failed while the plan deploys their pod.
    """
    phase = stored.get("phase")
    # An invalid value (the webhook bypassed) is ignored, not copied cut (bounds).
    start_request = _start_request(container)
    new = spec.running and (
        phase in (None, Phase.STOPPED)
        or (start_request is not None and start_request != stored.get("startRequest"))
        or (phase == Phase.FAILED and _generation(container) != stored.get("observedGeneration"))
        or (phase == Phase.FAILED and stored.get("reason") == Reason.INVALID_CONFIGURATION)
    )
    number = int(stored.get("attempt") or 0)
    if new:
        return _Attempt(number + 1, True, now)
    return _Attempt(number, False, parse_iso(stored.get("startedAt")))


def _converge(
    container: Mapping[str, Any],
    snapshot: ContainerSnapshot,
    stored: Mapping[str, Any],
    build: BuildInputs,
    attempt: _Attempt,
    now: datetime,
    add_finalizer: bool,
    refused: Verdict | None,
    pvc: _OnDemandPvc,
) -> Plan:
    """`refused`: why this start may not deploy, or None."""
    spec, uid = build.spec, build.uid
    desired_pvc = build_pvc(build)
    # Storage (an NFS Volume's PV, then the PVC) outlives terminate; it goes with the
    # container, with its volume or namespace. An On Demand PVC's data goes with it,
    # an NFS share's never (its PV is Retain).
    storage = [o for o in (build_nfs_pv(build), desired_pvc) if o is not None]
    observed = [o for o in snapshot.objects if not is_deleting(o)]
    refused = refused or _start_refusal(build, snapshot, stored, attempt, observed, desired_pvc)
    desired, refused = _wanted(build, snapshot, stored, attempt, storage, refused)
    deploy = spec.running and refused is None
    shared_policy = build.deploy_namespace if deploy and build.settings.network_policy else None
    # Terminate keeps the storage.
    keep = {ref_of(o) for o in (desired if deploy else storage)}
    deletions, blocked = _deletions(snapshot, build, stored, keep)
    token, token_secret = _token(build, stored, attempt, deploy)
    apply: tuple[DesiredObject, ...] = _applies(desired, observed) if deploy and not blocked else ()
    pods = _attempt_pods(snapshot.pods, uid, attempt.number, build.deploy_namespace)
    verdict = refused or _verdict(build, stored, attempt, observed, desired_pvc, pods, now)
    stop = _annotation(container, culling.STOPPED_BY_ANNOTATION)  # the culler's stop says why
    verdict = culling.stopped_verdict(stop, attempt.number, verdict)
    new_status = _status(
        container,
        stored,
        build,
        attempt,
        verdict,
        now,
        events=_event_counts(snapshot.pod_events, pods),
        pod_name=_newest(pods),
        pvc_name=_shown_pvc(desired_pvc, pvc.claim, deploy),
        deployed=deploy,
        token_secret=token_secret,
        storage=pvc.storage_status,
    )
    return Plan(
        add_finalizer=add_finalizer,
        delete=deletions,
        token=token,
        apply=apply,
        blocked=frozenset(blocked),
        verdict=verdict,
        status=new_status,
        recheck_after=verdict.recheck_after,
        resize=pvc.resize,
        shared_policy=shared_policy,
    )


def _start_refusal(
    build: BuildInputs,
    snapshot: ContainerSnapshot,
    stored: Mapping[str, Any],
    attempt: _Attempt,
    observed: Sequence[Mapping[str, Any]],
    desired_pvc: Mapping[str, Any] | None,
) -> Verdict | None:
    """The quota does not fit the start, or the API server refused this attempt's objects."""
    return _failed(
        Reason.QUOTA_EXCEEDED,
        _quota_gate(build, snapshot, stored, attempt, observed, desired_pvc),
    ) or _failed(Reason.REJECTED, _kept_rejection(build.spec, stored, attempt))


def _wanted(
    build: BuildInputs,
    snapshot: ContainerSnapshot,
    stored: Mapping[str, Any],
    attempt: _Attempt,
    storage: list[dict[str, Any]],
    refused: Verdict | None,
) -> tuple[list[dict[str, Any]], Verdict | None]:
    """The objects a running container wants, unless a gate refused the start or one of
    their names is another's (then nothing, and the collision as the refusal).

    Not the NetworkPolicy: one per namespace, shared (`Plan.shared_policy`). The one a
    container had of its own before is no longer wanted, so it goes as any unwanted child."""
    if not build.spec.running or refused is not None:
        return [], refused
    wanted = [*storage, build_deployment(build), build_service(build)]
    collision = _collision_gate(build, snapshot, stored, attempt, wanted)
    return ([], collision) if collision is not None else (wanted, None)


def _status(
    container: Mapping[str, Any],
    stored: Mapping[str, Any],
    build: BuildInputs,
    attempt: _Attempt,
    verdict: Verdict,
    now: datetime,
    *,
    events: Mapping[str, int],
    pod_name: str | None,
    pvc_name: str | None,
    deployed: bool,
    token_secret: str | None,
    storage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return build_status(
        StatusInputs(
            verdict=verdict,
            generation=_generation(container),
            now_iso=iso(now),
            attempt=attempt.number,
            started_at=iso(attempt.started_at) if attempt.started_at else None,
            start_request=_start_request(container),
            deployment_namespace=build.deploy_namespace,
            instance={
                "name": build.instance_type_name,
                "cpu": build.instance_type.cpu,
                "memory": build.instance_type.memory,
                "display": instance_display(build.instance_type_name, build.instance_type),
            },
            volume_display=volume_display(build.volume_name, build.volume, build.spec.volumeSize),
            created_by=_annotation(container, naming.CREATED_BY_ANNOTATION),
            events=events,
            pod_name=pod_name,
            pvc_name=pvc_name,
            service_name=build.base_name if deployed else None,
            token_secret=token_secret,
            storage=storage,
            image=build.image if deployed else None,
        ),
        stored,
    )


def _quota_gate(
    build: BuildInputs,
    snapshot: ContainerSnapshot,
    stored: Mapping[str, Any],
    attempt: _Attempt,
    observed: Sequence[Mapping[str, Any]],
    desired_pvc: Mapping[str, Any] | None,
) -> str | None:
    """Why the start does not fit the namespace's quota, or None.

    Checked before anything is created, so a start that cannot fit fails at once with the
    numbers instead of leaving a ReplicaSet retrying. Only when nothing of this container
    runs yet (its own pod would count twice).
    """
    existing = find(observed, "Deployment", build.deploy_namespace, build.base_name, build.uid)
    if not build.spec.running or existing is not None:
        return None
    if not attempt.is_new:
        if stored.get("phase") == Phase.FAILED and stored.get("reason") == Reason.QUOTA_EXCEEDED:
            return stored.get("message") or "quota exceeded"
        return None
    quotas = list(snapshot.quotas.get(build.deploy_namespace, []))
    if not quotas:
        return None
    has_pvc = desired_pvc is not None and any(ref_of(o) == ref_of(desired_pvc) for o in observed)
    return check_quota(
        quotas,
        build.instance_type_name,
        build.instance_type,
        build.volume_name,
        build.volume,
        desired_pvc is not None and not has_pvc,
        namespace=build.deploy_namespace,
        storage_class=(build.volume.storageClassName if build.volume else None)
        or build.settings.default_storage_class,
        volume_size=build.spec.volumeSize,
    )


def _secret_gate(
    container: Mapping[str, Any],
    build: BuildInputs,
    stored: Mapping[str, Any],
    attempt: _Attempt,
    facts: SecretFacts,
) -> str | SecretLookup | None:
    """Why the env's Secret references refuse this start (secret_policy), the fact still
    needed to decide, or None.

    Every reconcile: the name rule (no lookup). A new attempt: also the labels of the
    referenced Secrets and, when `start_secret_access_review`, whether the creator may
    still get them. A refusal stays until the next attempt (a new start or a new spec).
    """
    refs = secret_policy.secret_refs(build.spec) if build.spec.running else []
    if not refs:
        return None
    by_name = secret_policy.operator_secret_problems(refs, {})
    if by_name:
        return " ".join(by_name)
    if not attempt.is_new:
        return _kept_secret_refusal(stored)
    ns = build.deploy_namespace
    if facts.labels is None:
        return SecretLookup(SECRET_LABELS, ns, tuple(sorted({ref.secret for ref in refs})))
    problems = secret_policy.operator_secret_problems(refs, facts.labels)
    annotations = container["metadata"].get("annotations") or {}
    created_by = annotations.get(naming.CREATED_BY_ANNOTATION)
    if not problems and build.settings.start_secret_access_review and created_by:
        if facts.readable is None:
            return SecretLookup(
                SECRET_ACCESS,
                ns,
                tuple(sorted(secret_policy.needs_access_review(refs))),
                user=created_by,
                groups=tuple(validation.created_by_groups(annotations)),
            )
        problems = secret_policy.unreadable_secret_problems(refs, facts.readable, created_by, ns)
    return " ".join(problems) or None


def _kept_rejection(
    spec: JupyterContainerSpec, stored: Mapping[str, Any], attempt: _Attempt
) -> str | None:
    """The API server refused this attempt's objects as invalid (core.faults): not again."""
    return None if attempt.is_new or not spec.running else faults.kept_rejection(stored)


def _failed(reason: Reason, message: str | None) -> Verdict | None:
    return Verdict(Phase.FAILED, reason, message) if message is not None else None


def _kept_refusal(stored: Mapping[str, Any], reason: Reason) -> str | None:
    """A refusal of the current attempt stays until the next attempt."""
    if stored.get("phase") == Phase.FAILED and stored.get("reason") == reason:
        return str(stored.get("message") or reason)
    return None


def _namespace_gate(
    container: Mapping[str, Any],
    build: BuildInputs,
    settings: Settings,
    stored: Mapping[str, Any],
    attempt: _Attempt,
    facts: NamespaceFacts,
) -> str | NamespaceLookup | None:
    """Why the deployment namespace refuses this start, the fact still needed, or None.

    The webhook's namespace rule, again, at every new attempt outside the domain: the
    webhook may not have run (disabled, down with failurePolicy Ignore). The creator's
    pod right is asked for the created-by user; without one (the mutating webhook sets it)
    nobody can be asked, so nothing is deployed outside the domain.
    """
    ns, domain = build.deploy_namespace, build.domain
    if not build.spec.running or not validation.needs_pod_access_check(domain, ns):
        return None
    if not attempt.is_new:
        return _kept_refusal(stored, Reason.NAMESPACE_NOT_ALLOWED)
    if not facts.asked:
        return NamespaceLookup(NAMESPACE_LABELS, ns)
    problem = validation.namespace_problem(
        domain,
        ns,
        exists=facts.labels is not None,
        labels=facts.labels or {},
        settings=settings,
    )
    if problem is not None:
        return problem.message
    annotations = container["metadata"].get("annotations") or {}
    created_by = annotations.get(naming.CREATED_BY_ANNOTATION)
    if not created_by:
        return msg_unknown_creator(domain, ns)
    if facts.pod_access is None:
        groups = tuple(validation.created_by_groups(annotations))
        return NamespaceLookup(POD_ACCESS, ns, user=created_by, groups=groups)
    if not facts.pod_access:
        identity = validation.Identity(created_by)
        return validation.pod_access_problem(identity, ns).message
    return None


def msg_unknown_creator(domain: str, namespace: str) -> str:
    return (
        f"spec.namespace: nobody is recorded as the creator of this container (annotation "
        f"{naming.CREATED_BY_ANNOTATION}; the admission webhook did not run), so the operator "
        f"cannot check that they may create pods in namespace '{namespace}' and deploys only "
        f"in '{domain}'; leave spec.namespace out, or re-create the container while the "
        "webhook is up."
    )


def _collision_gate(
    build: BuildInputs,
    snapshot: ContainerSnapshot,
    stored: Mapping[str, Any],
    attempt: _Attempt,
    wanted: Sequence[Mapping[str, Any]],
) -> Verdict | None:
    """A desired name held by an object of another container (or of nobody known): never
    applied over, the start fails until the next attempt."""
    if not attempt.is_new:
        kept = _kept_refusal(stored, Reason.NAME_COLLISION)
        if kept is not None:
            return Verdict(Phase.FAILED, Reason.NAME_COLLISION, kept)
    ns = build.deploy_namespace
    if build.settings.network_policy and ns in snapshot.foreign_policies:
        return Verdict(Phase.FAILED, Reason.NAME_COLLISION, msg_policy_taken(ns))
    ours = {ref_of(o) for o in snapshot.objects}
    token = ("Secret", build.deploy_namespace, naming.token_secret_name(build.base_name))
    for ref in [*(ref_of(o) for o in wanted), token]:
        owner = snapshot.owners.get(ref)
        if owner is not None and owner != build.uid and ref not in ours:
            return Verdict(Phase.FAILED, Reason.NAME_COLLISION, msg_name_collision(ref, owner))
    return None


def msg_name_collision(ref: Ref, owner: str) -> str:
    kind, ns, name = ref
    where = f" in namespace '{ns}'" if ns else ""
    whose = (
        f"belongs to another container ({naming.UID_LABEL}={owner})"
        if owner
        else f"exists without this container's {naming.UID_LABEL} label"
    )
    return (
        f"Name collision: {kind} '{name}'{where} {whose}, so the operator does not write over "
        "it. Delete or rename that object, or give this container another name."
    )


def _kept_secret_refusal(stored: Mapping[str, Any]) -> str | None:
    return _kept_refusal(stored, Reason.SECRET_NOT_ALLOWED)


def _deletions(
    snapshot: ContainerSnapshot, build: BuildInputs, stored: Mapping[str, Any], keep: set[Ref]
) -> tuple[tuple[Ref, ...], set[Ref]]:
    """What goes, and which kept names are still held by a predecessor.

    Anything of ours the desired state no longer has goes: objects in a former deployment
    namespace, the PVC of a former volume, Deployment and Service of a terminated
    container. An object that has a desired name but belongs to a former volume or to an
    earlier container of the same name must be gone before its successor is created; its
    deletion event wakes the reconciler up again. Token Secrets are not watched: the one
    status names goes when it is not the current one (a namespace change, also while
    stopped), and so do those of every former namespace the watches show objects in (the
    shell deletes a Secret only when its uid label is this container's).
    """
    deletions: list[Ref] = []
    blocked: set[Ref] = set()
    for obj in snapshot.objects:
        ref = ref_of(obj)
        current = _belongs_to(obj, build.uid, build.volume_name)
        if ref in keep and current and not is_deleting(obj) and not _made_differently(obj):
            continue
        if ref in keep:
            blocked.add(ref)
        if is_deleting(obj):
            continue
        if ref[0] in STORAGE_KINDS and not storage_is_ours(obj, build.uid, snapshot.volumes):
            continue
        deletions.append(ref)
    deploy_ns = build.deploy_namespace
    current_token = ("Secret", deploy_ns, naming.token_secret_name(build.base_name))
    former = {o["metadata"].get("namespace") for o in snapshot.objects if not is_deleting(o)}
    former.discard(deploy_ns)
    tokens = [_stored_token(stored, build.domain)]
    for ns in sorted(n for n in former if n):
        tokens += _token_refs(build.name, build.domain, ns)
    for ref in tokens:
        if ref is not None and ref != current_token and ref not in deletions:
            deletions.append(ref)
    return tuple(deletions), blocked


def _stored_token(stored: Mapping[str, Any], domain: str) -> Ref | None:
    name = stored.get("tokenSecret")
    return ("Secret", stored.get("deploymentNamespace") or domain, name) if name else None


def _token(
    build: BuildInputs, stored: Mapping[str, Any], attempt: _Attempt, deploy: bool
) -> tuple[TokenAction | None, str | None]:
    """The token Secret to ensure (if any), and the name status shows."""
    name = naming.token_secret_name(build.base_name)
    shown = stored.get("tokenSecret")
    action = None
    if deploy and (attempt.is_new or shown != name):
        # Never made for this namespace before: create it straight away (a 409 means it
        # exists). Otherwise it is there unless someone deleted it: look first.
        action = TokenAction(build, name, known_absent=shown != name)
    return action, name if deploy or shown == name else None


def _made_differently(obj: Mapping[str, Any]) -> bool:
    """An object of ours that an apply cannot bring to the desired state, because the field
    that differs is immutable: a Service with a virtual IP, made before Services were headless
    (`build_service`). It goes, and its successor is made once the watch shows it gone."""
    cluster_ip = (obj.get("spec") or {}).get("clusterIP")
    return obj.get("kind") == "Service" and cluster_ip not in (None, "", "None")


def _applies(
    desired: Sequence[Mapping[str, Any]], observed: Sequence[Mapping[str, Any]]
) -> tuple[DesiredObject, ...]:
    by_ref = {ref_of(o): o for o in observed}
    out = []
    for obj in desired:
        ref = ref_of(obj)
        if _waits_for_its_pv(obj, set(by_ref)):
            # The PV controller binds a pre-bound claim at once only when it has seen the
            # PV; otherwise at its next resync, 15 s later. The PV's watch event brings the
            # reconciler back here.
            continue
        seen = by_ref.get(ref)
        have = ((seen or {}).get("metadata", {}).get("annotations") or {}).get(
            naming.SPEC_HASH_ANNOTATION
        )
        want = obj["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION]
        # A PVC's or PV's source, size and class are immutable: once it exists it stays as
        # made (a volume change makes a new one).
        up_to_date = seen is not None and (have == want or ref[0] in STORAGE_KINDS)
        out.append(DesiredObject(obj, up_to_date, observed=seen is not None))
    return tuple(out)


def _verdict(
    build: BuildInputs,
    stored: Mapping[str, Any],
    attempt: _Attempt,
    observed: Sequence[Mapping[str, Any]],
    desired_pvc: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    now: datetime,
) -> Verdict:
    ns, uid = build.deploy_namespace, build.uid
    deployment = find(observed, "Deployment", ns, build.base_name, uid)
    pvc = (
        find(observed, "PersistentVolumeClaim", ns, desired_pvc["metadata"]["name"], uid)
        if desired_pvc is not None
        else None
    )
    phase = stored.get("phase")
    previous = (
        None
        if attempt.is_new or phase is None
        else Verdict(
            Phase(phase),
            Reason(stored.get("reason") or Reason.CREATED),
            stored.get("message") or "",
        )
    )
    running = build.spec.running
    return decide(
        AttemptFacts(
            running=running,
            attempt_started_at=attempt.started_at,
            deployment=deployment if running else None,
            pods=pods if running else [],
            pvc=pvc,
            pvc_required=desired_pvc is not None,
            now=now,
            previous=previous,
        ),
        build.settings,
    )


def _invalid(
    container: Mapping[str, Any],
    snapshot: ContainerSnapshot,
    now: datetime,
    message: str,
    deploy_ns: str,
    add_finalizer: bool,
) -> Plan:
    """A configuration that cannot be built: Failed, everything else as the container's
    status has it (no attempt begins, so the shell's later write does not matter here).

    Terminate works whatever the catalog or the spec says now (an InstanceType retired or
    deleted, a spec stored before a rule existed): `running: false` deletes the Deployment
    and Service and the container is Stopped, the problem in the message."""
    stored: Mapping[str, Any] = container.get("status") or {}
    verdict = Verdict(Phase.FAILED, Reason.INVALID_CONFIGURATION, message)
    deletions: tuple[Ref, ...] = ()
    if (container.get("spec") or {}).get("running") is False:
        uid = container["metadata"]["uid"]
        deletions = tuple(
            ref_of(o)
            for o in snapshot.objects
            if o["kind"] not in STORAGE_KINDS and not is_deleting(o) and _owned(o, uid)
        )
        verdict = Verdict(
            Phase.STOPPED, Reason.STOPPED, f"{MSG_STOPPED} It cannot start again: {message}"
        )
    stopped = verdict.phase == Phase.STOPPED
    new_status = build_status(
        StatusInputs(
            verdict=verdict,
            generation=_generation(container),
            now_iso=iso(now),
            attempt=int(stored.get("attempt") or 0),
            started_at=stored.get("startedAt"),
            start_request=_annotation(container, naming.START_REQUESTED_ANNOTATION),
            deployment_namespace=deploy_ns,
            instance=stored.get("instance"),
            volume_display=stored.get("volume") or "No volume",
            created_by=_annotation(container, naming.CREATED_BY_ANNOTATION),
            events=stored.get("events") or {},
            pod_name=None if stopped else stored.get("podName"),
            pvc_name=stored.get("pvcName"),
            service_name=None if stopped else stored.get("serviceName"),
            token_secret=stored.get("tokenSecret"),
            storage=stored.get("storage"),
        ),
        stored,
    )
    return Plan(add_finalizer=add_finalizer, delete=deletions, verdict=verdict, status=new_status)


def finalize_deletions(container: Mapping[str, Any], snapshot: ContainerSnapshot) -> list[Ref]:
    """What goes before the finalizer is removed: every object of this container (storage
    only when this operator made it), and its token Secret in every namespace it used.

    `snapshot.objects`: what a LIST by uid label found (the shell's, not the index's: the
    index may not have seen a child yet). Token Secrets cannot be listed (the operator may
    not list Secrets): they are named in every namespace the container is known to have
    used, and the shell deletes one only when its uid label is this container's.
    """
    meta = container["metadata"]
    uid = meta["uid"]
    domain = meta["namespace"]
    deletions: list[Ref] = []
    namespaces: set[str] = {domain}
    spec_ns = (container.get("spec") or {}).get("namespace")
    if isinstance(spec_ns, str) and spec_ns:
        namespaces.add(spec_ns)
    for obj in snapshot.objects:
        if not _owned(obj, uid):
            continue
        if obj["metadata"].get("namespace"):
            namespaces.add(obj["metadata"]["namespace"])
        if obj["kind"] in STORAGE_KINDS and not storage_is_ours(obj, uid, snapshot.volumes):
            continue
        deletions.append(ref_of(obj))
    stored = container.get("status") or {}
    if stored.get("deploymentNamespace"):
        namespaces.add(stored["deploymentNamespace"])
    tokens = [_stored_token(stored, domain)]
    for ns in sorted(namespaces):
        tokens += _token_refs(meta["name"], domain, ns)
    deletions += [ref for ref in dict.fromkeys(tokens) if ref is not None]
    return deletions


# ---------------------------------------------------------------- readers


def ref_of(obj: Mapping[str, Any]) -> Ref:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace") or "", meta["name"])


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def find(
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


def storage_is_ours(obj: Mapping[str, Any], uid: str, volumes: Mapping[str, VolumeSpec]) -> bool:
    """Only a PVC or PV this operator created for this very container is ever deleted."""
    meta = obj["metadata"]
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if labels.get(naming.MANAGED_BY_LABEL) != naming.MANAGED_BY_VALUE:
        return False
    if labels.get(naming.UID_LABEL) != uid:
        return False
    volume = volumes.get(annotations.get(naming.VOLUME_ANNOTATION, ""))
    # One whose catalog entry is gone was still made by us for an allowed type.
    return volume is None or volume.type in (VolumeType.ON_DEMAND_PVC, VolumeType.NFS)


def validation_message(exc: ValidationError) -> str:
    return "; ".join(
        f"spec.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )


def _token_refs(name: str, domain: str, ns: str) -> list[Ref]:
    """The token Secret's name in `ns`, and the one it had before `jx-` names."""
    names = {naming.base_name(name, domain, ns), naming.legacy_base_name(name, domain, ns)}
    return [("Secret", ns, naming.token_secret_name(base)) for base in sorted(names)]


def _owned(obj: Mapping[str, Any], uid: str) -> bool:
    return (obj["metadata"].get("labels") or {}).get(naming.UID_LABEL) == uid


def _belongs_to(obj: Mapping[str, Any], uid: str, volume_name: str | None) -> bool:
    """Whether an object is the current one of this container (same uid; same volume for PVCs)."""
    meta = obj["metadata"]
    if (meta.get("labels") or {}).get(naming.UID_LABEL) != uid:
        return False
    if obj["kind"] != "PersistentVolumeClaim":
        return True
    return (meta.get("annotations") or {}).get(naming.VOLUME_ANNOTATION) == volume_name


def _waits_for_its_pv(obj: Mapping[str, Any], observed_refs: set[Ref]) -> bool:
    volume_name = obj["spec"].get("volumeName") if obj["kind"] == "PersistentVolumeClaim" else None
    if not volume_name or ref_of(obj) in observed_refs:
        return False
    return ("PersistentVolume", "", volume_name) not in observed_refs


def _attempt_pods(
    pods: Iterable[Mapping[str, Any]], uid: str, attempt: int, ns: str
) -> list[Mapping[str, Any]]:
    return [
        p
        for p in pods
        if (p["metadata"].get("labels") or {}).get(naming.UID_LABEL) == uid
        and (p["metadata"].get("annotations") or {}).get(naming.ATTEMPT_ANNOTATION) == str(attempt)
        and p["metadata"].get("namespace") == ns
    ]


def _event_counts(
    by_pod: Mapping[str, Mapping[str, int]], pods: Iterable[Mapping[str, Any]]
) -> dict[str, int]:
    """The current attempt's pods only: an earlier pod's events would count until that pod is
    gone, and the count flap (a status write each way) on every start."""
    counts = [by_pod.get(p["metadata"]["uid"], {}) for p in pods]
    return {
        "warnings": sum(c.get("warnings", 0) for c in counts),
        "total": sum(c.get("total", 0) for c in counts),
    }


def _newest(pods: Sequence[Mapping[str, Any]]) -> str | None:
    if not pods:
        return None
    newest = max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")
    return newest["metadata"]["name"]


def _generation(container: Mapping[str, Any]) -> int:
    return int(container["metadata"].get("generation") or 1)


def _annotation(container: Mapping[str, Any], key: str) -> str | None:
    return (container["metadata"].get("annotations") or {}).get(key)


def _start_request(container: Mapping[str, Any]) -> str | None:
    """The start-requested annotation when valid (bounds), else None."""
    return bounds.valid_start_request(_annotation(container, naming.START_REQUESTED_ANNOTATION))
