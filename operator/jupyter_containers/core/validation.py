"""Admission rules for JupyterContainers and ResourceBundles.

Pure: objects, catalog entries and facts the webhook looked up come in; messages come
out. `admission` gathers the facts through the API and turns the messages into
admission errors and warnings. The manual's wording is used where it has one
(`api.rules`); every other message names the field and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydantic import ValidationError

from jupyter_containers.api import rules
from jupyter_containers.api.models import (
    LOCKED_PHASES,
    InstanceTypeSpec,
    JupyterContainerSpec,
    JupyterImageSpec,
    Permission,
    ResourceBundleSpec,
    VolumeSpec,
    VolumeType,
    configuration_changes,
)
from jupyter_containers.core import catalog, naming
from jupyter_containers.core.entitlements import Chooser
from jupyter_containers.core.settings import Settings

#: Members of this group may do anything in the cluster; refusing them protects nothing.
MASTERS_GROUP = "system:masters"
#: Kubernetes controllers that delete objects on everyone's behalf (namespace deletion,
#: garbage collection): refusing them would leave namespaces stuck in Terminating.
KUBERNETES_DELETERS: frozenset[str] = frozenset(
    {
        "system:serviceaccount:kube-system:namespace-controller",
        "system:serviceaccount:kube-system:generic-garbage-collector",
        "system:kube-controller-manager",
    }
)
#: Written by `kubectl apply` on every change; it says nothing about who may change what.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)


class Code(IntEnum):
    """HTTP status of a refusal, as `kubectl` shows it."""

    FORBIDDEN = 403  # who you are does not allow it (also quota, as Kubernetes' own)
    # What you sent is wrong, including a reference to something missing: a 404 would read as
    # "the object you sent does not exist".
    INVALID = 422
    CONFLICT = 409  # the name is taken (the API server's AlreadyExists is a 409 too)


@dataclass(frozen=True)
class Problem:
    """One reason to refuse a request."""

    message: str
    code: Code = Code.INVALID


def refusal(problems: Iterable[Problem]) -> Problem | None:
    """All problems as one refusal (the most serious code), or None when there are none."""
    found = list(problems)
    if not found:
        return None
    code = Code.FORBIDDEN if any(p.code == Code.FORBIDDEN for p in found) else found[0].code
    return Problem(" ".join(p.message for p in found), code)


# ---------------------------------------------------------------- identity


@dataclass(frozen=True)
class Identity:
    """Who sent the request (the admission request's userInfo)."""

    username: str
    groups: frozenset[str] = frozenset()
    uid: str | None = None
    extra: Mapping[str, tuple[str, ...]] | None = None

    @classmethod
    def from_userinfo(cls, userinfo: Mapping[str, Any]) -> Identity:
        extra = {k: tuple(v) for k, v in (userinfo.get("extra") or {}).items()}
        return cls(
            username=str(userinfo.get("username") or ""),
            groups=frozenset(userinfo.get("groups") or ()),
            uid=userinfo.get("uid"),
            extra=extra or None,
        )

    def is_admin(self, admin_groups: Iterable[str] = ()) -> bool:
        return bool(self.groups & {MASTERS_GROUP, *admin_groups})


# ---------------------------------------------------------------- bundle permissions


def granted(
    identity: Identity,
    bundle: ResourceBundleSpec | None,
    created_by: str | None,
    admin_groups: Iterable[str] = (),
) -> frozenset[Permission]:
    """What `identity` may do with a container of `bundle` created by `created_by`."""
    if identity.is_admin(admin_groups) or (created_by and identity.username == created_by):
        return ALL_PERMISSIONS
    if bundle is None:
        return frozenset()
    if bundle.owner == identity.username:
        return ALL_PERMISSIONS
    allowed: set[Permission] = set()
    for grant in bundle.grants:
        if identity.username in grant.users or identity.groups & set(grant.groups):
            allowed.update(Permission(p) for p in grant.permissions)
    return frozenset(allowed)


def _spec_without_running(spec: Mapping[str, Any]) -> Any:
    # Parsed, so defaults and `[]` versus absent compare equal; raw when it does not parse.
    try:
        return JupyterContainerSpec.model_validate(spec).model_dump(exclude={"running"})
    except ValidationError:
        return {k: v for k, v in spec.items() if k != "running"}


def _running(spec: Mapping[str, Any]) -> bool:
    return bool(spec.get("running", True))


def _other_metadata(meta: Mapping[str, Any]) -> tuple[Any, ...]:
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k not in (LAST_APPLIED, naming.START_REQUESTED_ANNOTATION)
    }
    return (
        meta.get("labels") or {},
        annotations,
        sorted(meta.get("finalizers") or []),
        meta.get("ownerReferences") or [],
    )


def required_permissions(old: Mapping[str, Any], new: Mapping[str, Any]) -> frozenset[Permission]:
    """The bundle permissions an UPDATE from `old` to `new` needs.

    Starting and stopping (`spec.running`, the start-requested annotation) need
    start-stop; every other change of the spec or metadata needs update. A request
    that changes nothing needs nothing.
    """
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    needed: set[Permission] = set()
    start_key = naming.START_REQUESTED_ANNOTATION
    if _running(old_spec) != _running(new_spec) or (old_meta.get("annotations") or {}).get(
        start_key
    ) != (new_meta.get("annotations") or {}).get(start_key):
        needed.add(Permission.START_STOP)
    if _spec_without_running(old_spec) != _spec_without_running(new_spec) or _other_metadata(
        old_meta
    ) != _other_metadata(new_meta):
        needed.add(Permission.UPDATE)
    return frozenset(needed)


_ACTIONS = {
    Permission.UPDATE: "update",
    Permission.START_STOP: "start or stop",
    Permission.DELETE: "delete",
    Permission.VIEW: "view",
}


def access_problem(
    identity: Identity,
    needed: Iterable[Permission],
    *,
    container: str,
    bundle_name: str,
    bundle: ResourceBundleSpec | None,
    created_by: str | None,
    admin_groups: Iterable[str] = (),
) -> Problem | None:
    """The refusal when `identity` lacks one of the `needed` permissions on a container."""
    have = granted(identity, bundle, created_by, admin_groups)
    missing = [p for p in Permission if p in set(needed) - have]
    if not missing:
        return None
    what = " or ".join(_ACTIONS[p] for p in missing)
    grants = " and ".join(p.value for p in missing)
    owner = bundle.owner if bundle is not None else None
    who = [f"its creator ({created_by})" if created_by else "its creator"]
    if bundle is not None:
        who.append(f"the owner of ResourceBundle '{bundle_name}' ({owner})")
    who += [f"users and groups the bundle grants {grants}", "admins"]
    ask = f"ask {owner} to grant you {grants} in the bundle" if owner else "ask an admin"
    return Problem(
        f"{identity.username} may not {what} JupyterContainer '{container}': only "
        f"{', '.join(who[:-1])} and {who[-1]} may. To get access, {ask}.",
        Code.FORBIDDEN,
    )


def create_access_problem(
    identity: Identity,
    *,
    bundle_name: str,
    bundle: ResourceBundleSpec,
    admin_groups: Iterable[str] = (),
) -> Problem | None:
    """Adding a container to a bundle shares it with the bundle's grantees: that needs update."""
    if Permission.UPDATE in granted(identity, bundle, None, admin_groups):
        return None
    return Problem(
        f"spec.bundle: {identity.username} may not create containers in ResourceBundle "
        f"'{bundle_name}': only its owner ({bundle.owner}), users and groups it grants update, "
        f"and admins may. Choose a bundle you may use, create your own, or ask {bundle.owner} "
        "to grant you update.",
        Code.FORBIDDEN,
    )


def missing_bundle_problem(bundle_name: str, namespace: str) -> Problem:
    return Problem(
        f"spec.bundle: ResourceBundle '{bundle_name}' does not exist in namespace '{namespace}'; "
        f"create it first or choose an existing one (kubectl get resourcebundles -n {namespace}).",
        Code.INVALID,
    )


# ---------------------------------------------------------------- created-by


def mutations(
    operation: str,
    identity: Identity,
    new_meta: Mapping[str, Any],
    old_meta: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Metadata the mutating webhook sets: a merge patch of `metadata` (empty: nothing).

    CREATE records the creator and adds the cleanup finalizer (so the operator needs
    no write of its own); UPDATE puts back a created-by annotation a client dropped
    (e.g. `kubectl replace` with a manifest that never had it).
    """
    annotations = dict(new_meta.get("annotations") or {})
    key = naming.CREATED_BY_ANNOTATION
    groups_key = naming.CREATED_BY_GROUPS_ANNOTATION
    patch: dict[str, Any] = {}
    if operation == "CREATE":
        if key not in annotations:
            patch["annotations"] = {key: identity.username}
        # Always the request's groups: whatever a client sent is replaced, never trusted.
        groups = created_by_groups_value(identity)
        if annotations.get(groups_key) != groups:
            patch.setdefault("annotations", {})[groups_key] = groups
        finalizers = list(new_meta.get("finalizers") or [])
        if naming.FINALIZER not in finalizers:
            patch["finalizers"] = [*finalizers, naming.FINALIZER]
    elif operation == "UPDATE" and old_meta is not None:
        old_annotations = old_meta.get("annotations") or {}
        for k in (key, groups_key):
            previous = old_annotations.get(k)
            if previous is not None and k not in annotations:
                patch.setdefault("annotations", {})[k] = previous
    return patch


def created_by_groups_value(identity: Identity) -> str:
    """The created-by-groups annotation: the groups as a sorted JSON list."""
    return json.dumps(sorted(identity.groups), separators=(",", ":"))


def created_by_groups(annotations: Mapping[str, str]) -> list[str]:
    """The creator's recorded groups (none when absent or unreadable)."""
    try:
        groups = json.loads(annotations.get(naming.CREATED_BY_GROUPS_ANNOTATION) or "[]")
    except ValueError:
        return []
    return [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []


def operator_annotation_problem(
    new_meta: Mapping[str, Any], old_meta: Mapping[str, Any] | None
) -> Problem | None:
    """The stopped-by-operator annotation says why the operator stopped a container (culled,
    lifetime exceeded): only the operator sets it, so a user's stop cannot pass for one. Removing
    it is allowed (the stop is then the user's)."""
    key = naming.STOPPED_BY_ANNOTATION
    value = (new_meta.get("annotations") or {}).get(key)
    previous = ((old_meta or {}).get("annotations") or {}).get(key)
    if value is None or value == previous:
        return None
    return Problem(
        f"metadata.annotations['{key}'] is written by the operator when it stops a container "
        "(culling, lifetime); remove your change to it.",
        Code.FORBIDDEN,
    )


def created_by_problem(
    operation: str,
    identity: Identity,
    new_meta: Mapping[str, Any],
    old_meta: Mapping[str, Any] | None,
) -> Problem | None:
    """created-by is the creating user, set by the platform and never changed."""
    key = naming.CREATED_BY_ANNOTATION
    value = (new_meta.get("annotations") or {}).get(key)
    if operation == "CREATE":
        if value is not None and value != identity.username:
            return Problem(
                f"metadata.annotations['{key}']: the platform records the creator from the "
                f"request; it says '{value}' but you are '{identity.username}'. Remove the "
                "annotation.",
                Code.FORBIDDEN,
            )
    elif operation == "UPDATE" and old_meta is not None:
        for k in (key, naming.CREATED_BY_GROUPS_ANNOTATION):
            previous = (old_meta.get("annotations") or {}).get(k)
            if (new_meta.get("annotations") or {}).get(k) != previous:
                return Problem(
                    f"metadata.annotations['{k}'] cannot be changed (it is '{previous}'); "
                    "remove your change to it.",
                    Code.FORBIDDEN,
                )
    return None


# ---------------------------------------------------------------- the spec


def _loc(loc: tuple[int | str, ...]) -> str:
    out = "spec"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def spec_problems(spec: Mapping[str, Any]) -> tuple[JupyterContainerSpec | None, list[Problem]]:
    """The spec parsed by the API model (the CRD's rules, same messages), or its problems."""
    try:
        return JupyterContainerSpec.model_validate(spec), []
    except ValidationError as err:
        problems = []
        for error in err.errors():
            message = str(error["msg"])
            if not message.startswith("spec."):
                # pydantic's own messages and the policy's (jupyterlab_policy) do not say
                # where; the API field path does (`spec.args[2]`, `spec.env[0].name`).
                end = "" if message.endswith(".") else "."
                message = f"{_loc(tuple(error['loc']))}: {message}{end}"
            problems.append(Problem(message))
        return None, problems


def name_problems(name: str) -> list[Problem]:
    return [Problem(m) for m in rules.name_errors(name)]


def duplicate_name_problem() -> Problem:
    """A JupyterContainer of that name exists in the domain: the manual's words, naming the
    field (409, as the API server's own AlreadyExists)."""
    return Problem(f"metadata.name: {rules.MSG_DUPLICATE_NAME}", Code.CONFLICT)


def resolve_catalog(
    spec: JupyterContainerSpec,
    instance_types: Mapping[str, InstanceTypeSpec],
    volumes: Mapping[str, VolumeSpec],
    images: Mapping[str, JupyterImageSpec] | None = None,
    choosers: Sequence[Chooser] = (),
) -> tuple[
    tuple[str, InstanceTypeSpec] | None, tuple[str | None, VolumeSpec | None], list[Problem]
]:
    """The instance type and volume the spec names, resolved as the operator will, and the
    problems of those and of the image (`images`: the JupyterImages; None: not judged) for
    `choosers` (core.entitlements)."""
    problems: list[Problem] = []
    instance: tuple[str, InstanceTypeSpec] | None = None
    volume: tuple[str | None, VolumeSpec | None] = (None, None)
    try:
        instance = catalog.resolve_instance_type(spec.instanceType, instance_types, choosers)
    except catalog.CatalogError as err:
        problems.append(Problem(err.message))
    try:
        volume = catalog.resolve_volume(spec.volume, volumes, choosers)
    except catalog.CatalogError as err:
        problems.append(Problem(err.message))
    if images is not None:
        try:
            catalog.resolve_image(spec.image, images, "", choosers)
        except catalog.CatalogError as err:
            problems.append(Problem(err.message))
    return instance, volume, problems


def configure_problems(
    old: JupyterContainerSpec, new: JupyterContainerSpec, old_phase: str | None
) -> list[Problem]:
    """The bundle never changes; the configuration changes only while Stopped or Failed."""
    problems = []
    if old.bundle != new.bundle:
        problems.append(Problem(rules.MSG_BUNDLE_IMMUTABLE))
    if old_phase in LOCKED_PHASES and configuration_changes(old, new):
        problems.append(Problem(rules.MSG_STOP_BEFORE_CONFIGURING))
    return problems


def is_start(operation: str, old: JupyterContainerSpec | None, new: JupyterContainerSpec) -> bool:
    """Whether the request asks for a running container that was not asked to run before."""
    return new.running and (operation == "CREATE" or old is None or not old.running)


# ---------------------------------------------------------------- namespaces


def namespace_problem(
    domain: str,
    namespace: str,
    *,
    exists: bool,
    labels: Mapping[str, str],
    settings: Settings,
) -> Problem | None:
    """The deployment namespace must exist and be open to the container's domain."""
    if not exists:
        return Problem(
            f"spec.namespace: namespace '{namespace}' does not exist; choose an existing "
            f"namespace open to '{domain}', or leave spec.namespace out to deploy in '{domain}'.",
            Code.INVALID,
        )
    if settings.namespace_open_to(namespace, labels, domain):
        return None
    label = settings.domain_namespace_label
    return Problem(
        f"spec.namespace: namespace '{namespace}' is not open to containers of '{domain}'; "
        f"leave spec.namespace out to deploy in '{domain}', or choose a namespace labelled "
        f"{label}=true (or a list including '{domain}'), or ask an admin to open it.",
        Code.FORBIDDEN,
    )


def needs_pod_access_check(domain: str, namespace: str) -> bool:
    """Creating containers in a domain is the right to run them there; elsewhere, the user
    must be allowed to create pods, or the operator would run pods on their behalf where
    they may not."""
    return namespace != domain


def pod_access_problem(identity: Identity, namespace: str) -> Problem:
    return Problem(
        f"spec.namespace: {identity.username} may not create pods in namespace '{namespace}', "
        "so a container cannot be deployed there for you; choose a namespace where you may, "
        "or ask an admin for access.",
        Code.FORBIDDEN,
    )


# ---------------------------------------------------------------- warnings


def data_loss_warnings(
    name: str,
    domain: str,
    old: JupyterContainerSpec,
    new: JupyterContainerSpec,
    volumes: Mapping[str, VolumeSpec],
    *,
    old_pvc: str | None,
) -> list[str]:
    """The manual's data-loss warnings: a namespace or volume change deletes an On Demand PVC.

    `old_pvc`: the PVC the container has now (its status.pvcName), None if not known yet.
    """
    old_volume = volumes.get(old.volume) if old.volume else None
    if old_volume is None or old_volume.type != VolumeType.ON_DEMAND_PVC:
        return []
    old_ns = naming.deployment_namespace(domain, old)
    new_ns = naming.deployment_namespace(domain, new)
    pvc = f"'{old_pvc}'" if old_pvc else f"of '{name}'"
    warnings = []
    if old_ns != new_ns:
        warnings.append(
            f"Data loss: changing spec.namespace from '{old_ns}' to '{new_ns}' deletes the On "
            f"Demand PVC {pvc} (volume '{old.volume}') and creates a new one in '{new_ns}'. "
            "Notebooks saved to Git or external file systems are unaffected, but any unsaved "
            "data in the container is lost permanently."
        )
    if old.volume != new.volume:
        warnings.append(
            f"Data loss: changing spec.volume from '{old.volume}' to "
            f"'{new.volume or 'no volume'}' deletes the On Demand PVC {pvc} in '{old_ns}'; "
            "its data is lost. Back up any important data before making this change."
        )
    return warnings


def secret_references(spec: JupyterContainerSpec) -> list[tuple[str, str, str]]:
    """(variable, Secret, key) of every required secret reference in the spec."""
    refs = []
    for var in spec.env:
        ref = var.valueFrom.secretKeyRef if var.valueFrom is not None else None
        if ref is not None and not ref.optional:
            refs.append((var.name, ref.name, ref.key))
    return refs


def secret_warnings(
    spec: JupyterContainerSpec,
    namespace: str,
    secret_keys: Mapping[str, frozenset[str] | None],
) -> list[str]:
    """Warnings for secret references that do not resolve yet.

    `secret_keys`: for each referenced Secret, its data keys, or None when it does not exist.
    """
    warnings = []
    for var, secret, key in secret_references(spec):
        keys = secret_keys.get(secret)
        if keys is None:
            problem = f"Secret '{secret}', which does not exist in namespace '{namespace}' yet"
        elif key not in keys:
            problem = (
                f"key '{key}' of Secret '{secret}' in '{namespace}', which has no such key yet"
            )
        else:
            continue
        warnings.append(
            f"spec.env: {var!r} refers to {problem}; the container fails to start "
            "(CreateContainerConfigError) until it exists."
        )
    return warnings


# ---------------------------------------------------------------- resource bundles


def bundle_change_problem(
    operation: str,
    identity: Identity,
    name: str,
    new: ResourceBundleSpec | None,
    old: ResourceBundleSpec | None,
    admin_groups: Iterable[str] = (),
) -> Problem | None:
    """A bundle is created by its owner; only the owner (or an admin) changes or deletes it."""
    if identity.is_admin(admin_groups):
        return None
    if operation == "CREATE" and new is not None and new.owner != identity.username:
        return Problem(
            f"spec.owner: you create a ResourceBundle as its owner, so spec.owner must be "
            f"'{identity.username}' (it is '{new.owner}'); set it to '{identity.username}' or "
            "leave it out. To hand a bundle over, create it and then change its owner.",
            Code.FORBIDDEN,
        )
    if operation in ("UPDATE", "DELETE") and old is not None and old.owner != identity.username:
        verb = "change" if operation == "UPDATE" else "delete"
        return Problem(
            f"{identity.username} may not {verb} ResourceBundle '{name}': only its owner "
            f"({old.owner}) and admins may. Ask {old.owner} to make the change.",
            Code.FORBIDDEN,
        )
    return None


def bundle_in_use_problem(name: str, namespace: str, containers: Iterable[str]) -> Problem | None:
    """A bundle its containers still reference cannot be deleted."""
    names = sorted(containers)
    if not names:
        return None
    return Problem(
        f"ResourceBundle '{name}' is used by JupyterContainers {', '.join(names)}; delete them "
        f"first (kubectl delete jupytercontainers -n {namespace} {' '.join(names)}).",
        Code.FORBIDDEN,
    )


def bundle_spec_problems(
    spec: Mapping[str, Any],
) -> tuple[ResourceBundleSpec | None, list[Problem]]:
    try:
        return ResourceBundleSpec.model_validate(spec), []
    except ValidationError as err:
        return None, [Problem(f"{_loc(tuple(e['loc']))}: {e['msg']}.") for e in err.errors()]


def bundle_defaults(operation: str, identity: Identity, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch of a new bundle's spec: the creator owns a bundle that names no owner."""
    if operation == "CREATE" and not spec.get("owner") and identity.username:
        return {"owner": identity.username}
    return {}


# ---------------------------------------------------------------- shapes

#: The JSON type of each field a webhook reads, by kind: the mutating webhooks run before
#: the API server checks the CRD schema, so they see whatever was sent.
_META_SHAPES: dict[str, type] = {"annotations": dict, "labels": dict, "finalizers": list}
_SPEC_SHAPES: dict[str, dict[str, type]] = {
    "JupyterContainer": {"env": list, "args": list, "tags": dict, "bundle": str},
    "ResourceBundle": {"owner": str, "grants": list},
}
_JSON_NAMES = {dict: "an object", list: "a list", str: "a string"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    for kind, name in _JSON_NAMES.items():
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def _shape(path: str, value: Any, expected: type) -> str | None:
    # Mapping, not dict: kopf hands the body over as mapping views.
    if isinstance(value, Mapping if expected is dict else expected):
        return None
    return f"{path} must be {_JSON_NAMES[expected]}, not {_json_type(value)}; fix the manifest."


def shape_problems(obj: Mapping[str, Any] | None, kind: str) -> list[Problem]:
    """Fields of the wrong JSON type (spec not an object, env not a list, ...), each named.

    Only what the webhooks read; absent or null fields are left to the schema."""
    if obj is None:
        return []
    found = [*_meta_shapes(obj.get("metadata")), *_spec_shapes(obj.get("spec"), kind)]
    return [Problem(m) for m in found if m is not None]


def _meta_shapes(meta: Any) -> list[str | None]:
    if meta is None:
        return []
    found = [_shape("metadata", meta, dict)]
    if isinstance(meta, Mapping):
        for key, expected in _META_SHAPES.items():
            if meta.get(key) is not None:
                found.append(_shape(f"metadata.{key}", meta[key], expected))
        annotations = meta.get("annotations")
        if isinstance(annotations, Mapping):
            found += [
                _shape(f"metadata.annotations['{k}']", v, str)
                for k, v in annotations.items()
                if v is not None
            ]
    return found


def _spec_shapes(spec: Any, kind: str) -> list[str | None]:
    if spec is None:
        return []
    found = [_shape("spec", spec, dict)]
    if isinstance(spec, Mapping):
        for key, expected in _SPEC_SHAPES.get(kind, {}).items():
            if spec.get(key) is not None:
                found.append(_shape(f"spec.{key}", spec[key], expected))
        for i, item in enumerate(spec.get("env") if isinstance(spec.get("env"), list) else []):
            found.append(_shape(f"spec.env[{i}]", item, dict))
        for i, item in enumerate(
            spec.get("grants") if isinstance(spec.get("grants"), list) else []
        ):
            found.append(_shape(f"spec.grants[{i}]", item, dict))
    return found
