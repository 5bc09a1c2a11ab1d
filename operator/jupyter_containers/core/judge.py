"""The verdict on one admission request for a JupyterContainer: request and facts in.

Pure. The rules are docs/admission.md's, in its order, from `validation`, `quota`,
`bounds` and `secret_policy`.
The facts (the bundle, the catalog, the namespace, its quotas, secrets and their
labels, SubjectAccessReviews) are looked up by the shell (`shell.admission`) only when a rule
needs them: `judge_container` returns the `Lookup` it is missing instead of a verdict,
the shell adds the answer to the facts and asks again. So a request refused for its
spec costs no lookup, and each lookup is made at most once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_containers.api.models import JupyterContainerSpec, Permission, VolumeType
from jupyter_containers.core import bounds, naming, quota, secret_policy, validation, volume_size
from jupyter_containers.core.entitlements import Chooser, bundle_ref
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.validation import Identity, Problem


@dataclass(frozen=True)
class ContainerRequest:
    """One admission request on a JupyterContainer, as the API server sent it."""

    operation: str  # CREATE, UPDATE or DELETE
    identity: Identity
    domain: str
    name: str
    new: Mapping[str, Any] | None
    old: Mapping[str, Any] | None
    operator: bool = False
    """The operator's own request (finalizer removal): never refused for access. The
    rules on the spec still hold; the operator does not change it."""


@dataclass(frozen=True)
class Lookup:
    """A fact a rule needs: what, in which namespace, of which names."""

    what: str  # one of the constants below
    namespace: str = ""
    names: tuple[str | None, ...] = ()


BUNDLE = "bundle"  # ResourceBundleSpec | None (names: the bundle)
CATALOG = "catalog"  # (instance types, volumes, images) (names: the three asked for)
NAMESPACE = "namespace"  # labels, or None when the namespace does not exist
POD_ACCESS = "pod-access"  # bool: the user may create pods there
QUOTAS = "quotas"  # list of ResourceQuota dicts
SECRET_KEYS = "secret-keys"  # name -> frozenset of keys, None when absent
SECRET_LABELS = "secret-labels"  # name -> labels, None when absent or unreadable
SECRET_ACCESS = "secret-access"  # bool: the user may get the Secret (names: the Secret)
NAME_TAKEN = "name-taken"  # bool: a JupyterContainer of this name exists (names: the name)
# ---- volume growth
PVC = "pvc"  # the PVC as a dict, None when absent (names: the PVC)
STORAGE_CLASS = "storage-class"  # allowVolumeExpansion, None when absent (names: the class)


@dataclass(frozen=True)
class Verdict:
    problem: Problem | None = None
    """The refusal; None admits the request."""
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Need:
    """The judge cannot answer without this fact."""

    lookup: Lookup


Facts = Mapping[Lookup, Any]


class _Missing(Exception):
    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup


def _fact(facts: Facts, lookup: Lookup) -> Any:
    if lookup not in facts:
        raise _Missing(lookup)
    return facts[lookup]


def judge_container(request: ContainerRequest, facts: Facts, settings: Settings) -> Verdict | Need:
    """The refusal (or None) and the warnings, or the fact still needed to decide."""
    try:
        if request.operation == "DELETE":
            return _judge_delete(request, facts, settings)
        return _judge_write(request, facts, settings)
    except _Missing as missing:
        return Need(missing.lookup)


def _refused(problems: list[Problem] | tuple[Problem, ...]) -> Verdict:
    return Verdict(validation.refusal(problems))


def _spec(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (obj or {}).get("spec") or {}


def _created_by(obj: Mapping[str, Any]) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(naming.CREATED_BY_ANNOTATION)


def _bundle(facts: Facts, domain: str, name: str) -> Any:
    return _fact(facts, Lookup(BUNDLE, domain, (name,))) if name else None


def _judge_delete(request: ContainerRequest, facts: Facts, settings: Settings) -> Verdict:
    identity, old = request.identity, request.old
    if request.operator or identity.username in validation.KUBERNETES_DELETERS or old is None:
        return Verdict()
    bundle_name = str(_spec(old).get("bundle") or "")
    return Verdict(
        validation.access_problem(
            identity,
            {Permission.DELETE},
            container=request.name,
            bundle_name=bundle_name,
            bundle=_bundle(facts, request.domain, bundle_name),
            created_by=_created_by(old),
            admin_groups=settings.admin_groups,
        )
    )


def _judge_write(request: ContainerRequest, facts: Facts, settings: Settings) -> Verdict:
    assert request.new is not None
    taken = _name_taken(request, facts)
    if taken is not None:
        return _refused([taken])
    old = request.old
    # Like CRD validation ratcheting: a spec the request leaves as it was is not judged
    # again, so objects stored before a rule existed can still be stopped and deleted.
    unchanged = old is not None and _spec(old) == _spec(request.new)
    spec, problems = validation.spec_problems(_spec(request.new))
    if request.operation == "CREATE":
        problems += validation.name_problems(request.name)
    if problems and not unchanged:
        return _refused(problems)
    # The annotations the operator reads (bounds), when the request sets them.
    annotation_problems = bounds.annotation_problems(
        request.new.get("metadata") or {}, None if old is None else old.get("metadata") or {}
    )
    if annotation_problems:
        return _refused([Problem(m) for m in annotation_problems])
    # Who may do this, before anything about the request is looked at further.
    old_spec = None if old is None else validation.spec_problems(_spec(old))[0]
    refusals = [p for p in (_access(request, spec, facts, settings), _forged(request)) if p]
    if refusals:
        return _refused(refusals)
    if spec is None:  # unchanged and invalid: nothing more to judge
        return Verdict()
    if old_spec is not None:
        problems = validation.configure_problems(
            old_spec, spec, ((old or {}).get("status") or {}).get("phase")
        )
        if problems:
            return _refused(problems)
    return _judge_spec(request, spec, old_spec, facts, settings)


def _name_taken(request: ContainerRequest, facts: Facts) -> Problem | None:
    """The manual's duplicate-name words, before anything else is judged.

    Without it the API server's own AlreadyExists text would reach a kubectl user (it
    checks only after admission). A name the name rules refuse cannot exist, so is not
    looked up; a refusal for a name alone is what the form shows on its Name field.
    """
    if request.operation != "CREATE" or validation.name_problems(request.name):
        return None
    if not _fact(facts, Lookup(NAME_TAKEN, request.domain, (request.name,))):
        return None
    return validation.duplicate_name_problem()


def _access(
    request: ContainerRequest,
    spec: JupyterContainerSpec | None,
    facts: Facts,
    settings: Settings,
) -> Problem | None:
    identity, domain = request.identity, request.domain
    if request.operation == "CREATE":
        assert spec is not None
        bundle = _bundle(facts, domain, spec.bundle)
        if bundle is None:
            return validation.missing_bundle_problem(spec.bundle, domain)
        return validation.create_access_problem(
            identity, bundle_name=spec.bundle, bundle=bundle, admin_groups=settings.admin_groups
        )
    assert request.old is not None and request.new is not None
    needed = validation.required_permissions(request.old, request.new)
    if not needed or request.operator:
        return None
    bundle_name = str(_spec(request.old).get("bundle") or "")
    return validation.access_problem(
        identity,
        needed,
        container=request.name,
        bundle_name=bundle_name,
        bundle=_bundle(facts, domain, bundle_name),
        created_by=_created_by(request.old),
        admin_groups=settings.admin_groups,
    )


def _forged(request: ContainerRequest) -> Problem | None:
    if request.operator:
        return None
    assert request.new is not None
    new_meta = request.new.get("metadata") or {}
    old_meta = None if request.old is None else request.old.get("metadata") or {}
    return validation.created_by_problem(
        request.operation, request.identity, new_meta, old_meta
    ) or validation.operator_annotation_problem(new_meta, old_meta)


def _judge_spec(
    request: ContainerRequest,
    spec: JupyterContainerSpec,
    old_spec: JupyterContainerSpec | None,
    facts: Facts,
    settings: Settings,
) -> Verdict:
    """Catalog, namespace and quota (refusals), then the warnings."""
    domain = request.domain
    instance_types, volumes, images = _fact(
        facts, Lookup(CATALOG, names=(spec.instanceType, spec.volume, spec.image))
    )
    deploy_ns = spec.namespace or domain
    old_ns = (old_spec.namespace or domain) if old_spec is not None else None
    creating = request.operation == "CREATE"
    problems: list[Problem] = []
    instance = volume_name = volume = None
    if creating or old_spec is None or _catalog_choice(old_spec) != _catalog_choice(spec):
        instance, (volume_name, volume), catalog_problems = validation.resolve_catalog(
            spec, instance_types, volumes, images, _choosers(request, spec, settings)
        )
        problems += catalog_problems
    if creating or deploy_ns != old_ns:
        ns_problem = _namespace_problem(request, deploy_ns, facts, settings)
        if ns_problem is not None:
            problems.append(ns_problem)
    if creating and spec.running and instance is not None and not problems:
        message = quota.check_quota(
            _fact(facts, Lookup(QUOTAS, deploy_ns)),
            instance[0],
            instance[1],
            volume_name,
            volume,
            include_volume=volume is not None and volume.type == VolumeType.ON_DEMAND_PVC,
            namespace=deploy_ns,
            storage_class=settings.default_storage_class,
            volume_size=spec.volumeSize,
        )
        if message is not None:
            problems.append(Problem(message, validation.Code.FORBIDDEN))
    problems += _secret_ref_problems(request, spec, old_spec, deploy_ns, facts)
    if not problems:
        problems += _volume_size_problems(request, spec, old_spec, volumes, facts)
    if problems:
        return _refused(problems)
    return Verdict(None, _warnings(request, spec, old_spec, volumes, facts))


def _secret_ref_problems(
    request: ContainerRequest,
    spec: JupyterContainerSpec,
    old_spec: JupyterContainerSpec | None,
    deploy_ns: str,
    facts: Facts,
) -> list[Problem]:
    """secret_policy's rules for the env's Secret references (HTTP 403).

    Operator-owned Secrets: on every write that sets or starts the references. Whether the
    user may read them: when the user writes them (CREATE, an env or namespace change), as
    the request's user and groups; a start by a grantee is not asked for the creator's
    Secrets here: the operator asks for the creator at every start (`core.plan`).
    """
    refs = secret_policy.secret_refs(spec)
    if not refs:
        return []
    written = (
        request.operation == "CREATE"
        or old_spec is None
        or old_spec.env != spec.env
        or (old_spec.namespace or "") != (spec.namespace or "")
    )
    if not (written or validation.is_start(request.operation, old_spec, spec)):
        return []
    names = tuple(sorted({ref.secret for ref in refs}))
    labels = _fact(facts, Lookup(SECRET_LABELS, deploy_ns, names))
    messages = secret_policy.operator_secret_problems(refs, labels)
    if not messages and written:
        readable = {
            name: _fact(facts, Lookup(SECRET_ACCESS, deploy_ns, (name,)))
            for name in sorted(secret_policy.needs_access_review(refs))
        }
        messages = secret_policy.unreadable_secret_problems(
            refs, readable, request.identity.username, deploy_ns
        )
    return [Problem(m, validation.Code.FORBIDDEN) for m in messages]


# ---------------------------------------------------------------- volume growth


def _volume_size_problems(
    request: ContainerRequest,
    spec: JupyterContainerSpec,
    old_spec: JupyterContainerSpec | None,
    volumes: Any,
    facts: Facts,
) -> list[Problem]:
    """spec.volumeSize (core.volume_size), judged when it or the volume changes: a size the
    Volume allows, and, for the PVC the container has, never smaller, bound, and of a
    StorageClass that allows expansion. (While Starting or Active it cannot change at all:
    the CRD's stop-before-configuring rule.)"""
    if old_spec is not None and (old_spec.volumeSize, old_spec.volume) == (
        spec.volumeSize,
        spec.volume,
    ):
        return []
    volume = volumes.get(spec.volume) if spec.volume else None
    if spec.volume and volume is None:
        return []  # the catalog's own refusal says so
    simple = volume_size.no_volume_problem(spec, volume) or volume_size.above_maximum_problem(
        spec.volumeSize, spec.volume, volume
    )
    if simple is not None or spec.volumeSize is None:
        return [Problem(simple)] if simple is not None else []
    claim = _current_claim(request, spec, old_spec, facts)
    if claim is None:
        return []  # a new PVC is made at this size
    size = spec.volumeSize
    found = volume_size.shrink_problem(size, claim) or volume_size.not_bound_problem(size, claim)
    if found is None and claim.needs_growth(size):
        allows = (
            _fact(facts, Lookup(STORAGE_CLASS, names=(claim.storage_class,)))
            if claim.storage_class
            else False
        )
        found = volume_size.expansion_problem(claim, allows)
        if found is None:
            namespace = naming.deployment_namespace(request.domain, spec)
            quotas = _fact(facts, Lookup(QUOTAS, namespace))
            message = volume_size.growth_quota_problem(size, claim, quotas, namespace)
            return [Problem(message, validation.Code.FORBIDDEN)] if message else []
    return [Problem(found)] if found is not None else []


def _current_claim(
    request: ContainerRequest,
    spec: JupyterContainerSpec,
    old_spec: JupyterContainerSpec | None,
    facts: Facts,
) -> volume_size.Claim | None:
    """The On Demand PVC this container has and keeps (same volume and namespace), if any:
    the one its status names, when its uid label is the container's."""
    old = request.old or {}
    pvc_name = (old.get("status") or {}).get("pvcName")
    domain = request.domain
    if old_spec is None or not pvc_name or old_spec.volume != spec.volume:
        return None
    if naming.deployment_namespace(domain, old_spec) != naming.deployment_namespace(domain, spec):
        return None
    namespace = naming.deployment_namespace(domain, spec)
    pvc = _fact(facts, Lookup(PVC, namespace, (pvc_name,)))
    uid = (old.get("metadata") or {}).get("uid")
    if (
        pvc is None
        or ((pvc.get("metadata") or {}).get("labels") or {}).get(naming.UID_LABEL) != uid
    ):
        return None
    return volume_size.Claim.of(pvc)


def _catalog_choice(spec: JupyterContainerSpec) -> tuple[str | None, ...]:
    return (spec.instanceType, spec.volume, spec.image)


def _choosers(
    request: ContainerRequest, spec: JupyterContainerSpec, settings: Settings
) -> tuple[Chooser, ...]:
    """Who must be entitled to the catalog entries the spec picks (core.entitlements): the
    requesting user; on an update by someone else, also the creator (by the groups recorded
    at creation), whose groups the operator judges at every start."""
    bundle = bundle_ref(request.domain, spec.bundle)
    identity = request.identity
    choosers = [Chooser.of(bundle, identity.groups, settings.admin_groups)]
    creator = _created_by(request.old) if request.old is not None else None
    if creator and creator != identity.username:
        annotations = (request.old or {}).get("metadata", {}).get("annotations") or {}
        recorded = validation.created_by_groups(annotations)
        whom = f"the container's creator {creator}"
        choosers.append(Chooser.of(bundle, recorded, settings.admin_groups, whom))
    return tuple(choosers)


def _namespace_problem(
    request: ContainerRequest, deploy_ns: str, facts: Facts, settings: Settings
) -> Problem | None:
    labels = _fact(facts, Lookup(NAMESPACE, deploy_ns))
    problem = validation.namespace_problem(
        request.domain, deploy_ns, exists=labels is not None, labels=labels or {}, settings=settings
    )
    if (
        problem is None
        and validation.needs_pod_access_check(request.domain, deploy_ns)
        and not _fact(facts, Lookup(POD_ACCESS, deploy_ns))
    ):
        problem = validation.pod_access_problem(request.identity, deploy_ns)
    return problem


def _warnings(
    request: ContainerRequest,
    spec: JupyterContainerSpec,
    old_spec: JupyterContainerSpec | None,
    volumes: Any,
    facts: Facts,
) -> list[str]:
    domain, old = request.domain, request.old
    deploy_ns = spec.namespace or domain
    old_ns = (old_spec.namespace or domain) if old_spec is not None else None
    warnings: list[str] = []
    if old_spec is not None:
        warnings += validation.data_loss_warnings(
            request.name,
            domain,
            old_spec,
            spec,
            volumes,
            old_pvc=((old or {}).get("status") or {}).get("pvcName"),
        )
    refs = validation.secret_references(spec)
    if refs and (
        request.operation == "CREATE"
        or old_spec is None
        or old_spec.env != spec.env
        or deploy_ns != old_ns
        or validation.is_start(request.operation, old_spec, spec)
    ):
        names = tuple(sorted({secret for _, secret, _ in refs}))
        keys = _fact(facts, Lookup(SECRET_KEYS, deploy_ns, names))
        warnings += validation.secret_warnings(spec, deploy_ns, keys)
    return warnings
