"""Admission webhooks (kopf), called by the API server.

Served by the process whose role includes admission (`shell.roles`): by default a process
of its own beside the reconciler's, so reviews never wait behind reconciles and watch events.

This module only gathers facts through the API (the bundle, the catalog, the
namespace, its quotas, secrets, SubjectAccessReviews), each when the pure judge
(`core.judge`, on the rules of `validation` and `quota`) asks for it. Failure policy and
the rest: docs/admission.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SubjectAccessReview
from pydantic import ValidationError

from jupyter_containers.api.models import (
    GROUP,
    VERSION,
    InstanceTypeSpec,
    JupyterImageSpec,
    ResourceBundleSpec,
    VolumeSpec,
)
from jupyter_containers.core import judge, validation
from jupyter_containers.core.catalog import parse_catalog
from jupyter_containers.core.judge import ContainerRequest, Lookup
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.validation import Identity, Problem
from jupyter_containers.shell.catalog_watch import CATALOG_INDEX_NAMES
from jupyter_containers.shell.context import admission_context_of
from jupyter_containers.shell.resources import (
    InstanceType,
    JupyterContainer,
    JupyterImage,
    Namespace,
    PersistentVolumeClaim,
    ResourceBundle,
    ResourceQuota,
    Secret,
    StorageClass,
    Volume,
)

logger = logging.getLogger(__name__)

#: The catalog by kind: InstanceTypes, Volumes and JupyterImages by name.
Catalog = tuple[dict[str, InstanceTypeSpec], dict[str, VolumeSpec], dict[str, JupyterImageSpec]]

#: Handler ids: the webhook names (`ID.jupytercontainers.io`) and URL paths (`/ID`) the
#: chart's own webhook configurations must use.
VALIDATE_CONTAINER = "validate-jupytercontainer"
MUTATE_CONTAINER = "mutate-jupytercontainer"
VALIDATE_BUNDLE = "validate-resourcebundle"
MUTATE_BUNDLE = "mutate-resourcebundle"

# failurePolicy Fail: a request the webhook cannot judge is refused, so the access model
# and created-by cannot be bypassed by an unreachable webhook. Not persistent: in managed
# (local) mode a gracefully stopped operator removes its webhooks, so the cluster stays
# usable with the CRD rules alone; the chart's static configurations stay (docs/admission.md).
# No side effects, so `kubectl apply --dry-run=server` is judged too.
_WEBHOOK = {"persistent": False, "side_effects": False, "ignore_failures": False}


def _refuse(problem: Problem | None) -> None:
    if problem is not None:
        raise kopf.AdmissionError(problem.message, code=int(problem.code))


# ---------------------------------------------------------------- lookups


class Lookups:
    """Reads for one admission request, each at most once."""

    def __init__(
        self,
        client: AsyncClient,
        watched_catalog: tuple[Mapping[str, Any], ...] | None = None,
        watched_containers: Mapping[Any, Any] | None = None,
    ) -> None:
        self.client = client
        #: The operator's own index of containers (`shell.world.containers`: (namespace,
        #: name) -> [object]), asked before a GET whether a name is taken.
        self.watched_containers = watched_containers
        #: The operator's own watch of the catalog (kopf indexes: name -> [spec]; instance
        #: types, volumes, images), read instead of LISTs when it knows the names asked for.
        self.watched_catalog = watched_catalog
        self._catalog: Catalog | None = None
        #: Secrets read for this request: (namespace, name) -> the Secret, None when absent.
        self._secrets: dict[tuple[str, str], Secret | None] = {}

    async def bundle(self, namespace: str, name: str) -> ResourceBundleSpec | None:
        try:
            obj = await self.client.get(ResourceBundle, name, namespace=namespace)
        except ApiError as err:
            if err.status.code == 404:
                return None
            raise
        try:
            return ResourceBundleSpec.model_validate(obj.to_dict().get("spec") or {})
        except ValidationError:
            logger.warning(
                "ResourceBundle %s/%s has an invalid spec; treated as absent", namespace, name
            )
            return None

    async def catalog(
        self, instance_type: str | None = None, volume: str | None = None, image: str | None = None
    ) -> Catalog:
        """The three catalogs; from the watch when it has entries and the names asked for.

        A name the watch does not know yet (an entry created a moment ago, or none at all) is
        looked up with a LIST, so a catalog applied together with a container is never
        refused for the watch's lag.
        """
        if self._catalog is None and self.watched_catalog is not None:
            watched_types, watched_volumes, *rest = self.watched_catalog
            watched_images: Mapping[str, Any] = rest[0] if rest else {}
            if (
                len(watched_types) > 0
                and (instance_type is None or instance_type in watched_types)
                and (volume is None or volume in watched_volumes)
                and (image is None or image in watched_images)
            ):
                self._catalog = (
                    parse_catalog(watched_types, InstanceTypeSpec),
                    parse_catalog(watched_volumes, VolumeSpec),
                    parse_catalog(watched_images, JupyterImageSpec),
                )
        if self._catalog is None:
            self._catalog = (
                parse_catalog(await self._listed(InstanceType), InstanceTypeSpec),
                parse_catalog(await self._listed(Volume), VolumeSpec),
                parse_catalog(await self._listed(JupyterImage), JupyterImageSpec),
            )
        return self._catalog

    async def _listed(self, kind: Any) -> dict[str, list[Mapping[str, Any]]]:
        """A cluster-scoped catalog kind, LISTed, as `name -> [spec]`."""
        out: dict[str, list[Mapping[str, Any]]] = {}
        async for obj in self.client.list(kind):
            body = obj.to_dict()
            out.setdefault(body["metadata"]["name"], []).append(body.get("spec") or {})
        return out

    async def name_taken(self, namespace: str, name: str) -> bool:
        """Whether a JupyterContainer of this name exists (for the duplicate-name words).

        The watch answers "no" for free: if it lags a create a moment ago, the API server's
        own AlreadyExists still refuses the request. A "yes" (or no watch) is confirmed with
        one GET, so a name freed by a delete a moment ago is never refused for the lag.
        """
        if self.watched_containers is not None and not self.watched_containers.get(
            (namespace, name)
        ):
            return False
        try:
            await self.client.get(JupyterContainer, name, namespace=namespace)
        except ApiError as err:
            if err.status.code == 404:
                return False
            raise
        return True

    async def namespace_labels(self, name: str) -> dict[str, str] | None:
        try:
            ns = await self.client.get(Namespace, name)
        except ApiError as err:
            if err.status.code == 404:
                return None
            raise
        return dict(ns.metadata.labels or {}) if ns.metadata else {}

    async def quotas(self, namespace: str) -> list[dict[str, Any]]:
        return [q.to_dict() async for q in self.client.list(ResourceQuota, namespace=namespace)]

    async def secret_keys(
        self, namespace: str, names: set[str]
    ) -> dict[str, frozenset[str] | None]:
        found: dict[str, frozenset[str] | None] = {}
        for name in sorted(names):
            try:
                secret = await self._secret(namespace, name)
            except ApiError as err:
                # Warnings are advice: without read access to secrets, give none.
                logger.warning("cannot read Secret %s/%s for a warning: %s", namespace, name, err)
                continue
            if secret is None:
                found[name] = None
                continue
            found[name] = frozenset((secret.data or {}).keys()) | frozenset(
                (secret.stringData or {}).keys()
            )
        return found

    async def _secret(self, namespace: str, name: str) -> Secret | None:
        """One Secret (None when it does not exist), read at most once per request."""
        if (namespace, name) not in self._secrets:
            try:
                self._secrets[namespace, name] = await self.client.get(
                    Secret, name, namespace=namespace
                )
            except ApiError as err:
                if err.status.code != 404:
                    raise
                self._secrets[namespace, name] = None
        return self._secrets[namespace, name]

    async def secret_labels(
        self, namespace: str, names: set[str]
    ) -> dict[str, dict[str, str] | None]:
        """Labels of the Secrets that exist (None: absent or not readable by the operator;
        the name rule of `secret_policy` still holds then)."""
        out: dict[str, dict[str, str] | None] = {}
        for name in sorted(names):
            try:
                secret = await self._secret(namespace, name)
            except ApiError as err:
                logger.warning("cannot read Secret %s/%s for its labels: %s", namespace, name, err)
                secret = None
            out[name] = dict(secret.metadata.labels or {}) if secret and secret.metadata else None
        return out

    async def may_get_secret(self, identity: Identity, namespace: str, name: str) -> bool:
        review = SubjectAccessReview(
            spec=SubjectAccessReviewSpec(
                user=identity.username,
                groups=sorted(identity.groups),
                uid=identity.uid,
                extra={k: list(v) for k, v in (identity.extra or {}).items()} or None,
                resourceAttributes=ResourceAttributes(
                    namespace=namespace, verb="get", group="", resource="secrets", name=name
                ),
            )
        )
        result = await self.client.create(review)
        return bool(result.status and result.status.allowed)

    async def may_create_pods(self, identity: Identity, namespace: str) -> bool:
        review = SubjectAccessReview(
            spec=SubjectAccessReviewSpec(
                user=identity.username,
                groups=sorted(identity.groups),
                uid=identity.uid,
                extra={k: list(v) for k, v in (identity.extra or {}).items()} or None,
                resourceAttributes=ResourceAttributes(
                    namespace=namespace, verb="create", group="", resource="pods"
                ),
            )
        )
        result = await self.client.create(review)
        return bool(result.status and result.status.allowed)

    # ---- volume growth

    async def pvc(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return (
                await self.client.get(PersistentVolumeClaim, name, namespace=namespace)
            ).to_dict()
        except ApiError as err:
            if err.status.code == 404:
                return None
            raise

    async def allows_expansion(self, name: str) -> bool | None:
        """A StorageClass's allowVolumeExpansion; None when there is no such class."""
        try:
            sc = await self.client.get(StorageClass, name)
        except ApiError as err:
            if err.status.code == 404:
                return None
            raise
        return bool(sc.allowVolumeExpansion)

    async def bundle_members(self, namespace: str, bundle: str) -> list[str]:
        names = []
        async for jc in self.client.list(JupyterContainer, namespace=namespace):
            body = jc.to_dict()
            meta = body.get("metadata") or {}
            if (body.get("spec") or {}).get("bundle") == bundle and not meta.get(
                "deletionTimestamp"
            ):
                names.append(meta["name"])
        return names


# ---------------------------------------------------------------- JupyterContainer


async def _look_up(look: Lookups, request: ContainerRequest, lookup: Lookup) -> Any:
    if lookup.what == judge.BUNDLE:
        return await look.bundle(lookup.namespace, str(lookup.names[0]))
    if lookup.what == judge.CATALOG:
        return await look.catalog(*lookup.names)
    if lookup.what == judge.NAME_TAKEN:
        return await look.name_taken(lookup.namespace, str(lookup.names[0]))
    if lookup.what == judge.NAMESPACE:
        return await look.namespace_labels(lookup.namespace)
    if lookup.what == judge.POD_ACCESS:
        return await look.may_create_pods(request.identity, lookup.namespace)
    if lookup.what == judge.QUOTAS:
        return await look.quotas(lookup.namespace)
    if lookup.what == judge.SECRET_KEYS:
        return await look.secret_keys(lookup.namespace, {str(n) for n in lookup.names})
    if lookup.what == judge.SECRET_LABELS:
        return await look.secret_labels(lookup.namespace, {str(n) for n in lookup.names})
    if lookup.what == judge.SECRET_ACCESS:
        return await look.may_get_secret(request.identity, lookup.namespace, str(lookup.names[0]))
    if lookup.what == judge.PVC:
        return await look.pvc(lookup.namespace, str(lookup.names[0]))
    if lookup.what == judge.STORAGE_CLASS:
        return await look.allows_expansion(str(lookup.names[0]))
    raise ValueError(f"unknown lookup {lookup.what!r}")


async def review_container(
    look: Lookups, cfg: Settings, request: ContainerRequest
) -> judge.Verdict:
    """Ask the pure judge; look up each fact it asks for, once, until it can answer."""
    facts: dict[Lookup, Any] = {}
    while True:
        outcome = judge.judge_container(request, facts, cfg)
        if isinstance(outcome, judge.Verdict):
            return outcome
        facts[outcome.lookup] = await _look_up(look, request, outcome.lookup)


def _body(obj: Any) -> dict[str, Any] | None:
    return None if obj is None else dict(obj)


@kopf.on.mutate(
    GROUP,
    VERSION,
    "jupytercontainers",
    id=MUTATE_CONTAINER,
    operations=["CREATE", "UPDATE"],
    **_WEBHOOK,
)
async def mutate_container(
    operation: str,
    body: kopf.Body,
    old: kopf.Body | None,
    userinfo: Mapping[str, Any],
    patch: kopf.Patch,
    **_: Any,
) -> None:
    identity = Identity.from_userinfo(userinfo)
    # Hook (validation.shape_problems): mutating webhooks run before the schema check.
    _refuse(validation.refusal(validation.shape_problems(body, "JupyterContainer")))
    meta_patch = validation.mutations(
        operation,
        identity,
        body.get("metadata") or {},
        None if old is None else old.get("metadata"),
    )
    if meta_patch:
        patch["metadata"] = meta_patch


@kopf.on.validate(
    GROUP,
    VERSION,
    "jupytercontainers",
    id=VALIDATE_CONTAINER,
    operations=["CREATE", "UPDATE", "DELETE"],
    **_WEBHOOK,
)
async def validate_container(
    operation: str,
    body: kopf.Body,
    old: kopf.Body | None,
    new: kopf.Body | None,
    userinfo: Mapping[str, Any],
    warnings: list[str],
    dryrun: bool,
    logger: kopf.Logger,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    ctx = admission_context_of(memo)
    identity = Identity.from_userinfo(userinfo)
    # Hook (validation.shape_problems): the schema has been checked by now; defence in depth.
    _refuse(validation.refusal(validation.shape_problems(new, "JupyterContainer")))
    meta = body.get("metadata") or {}
    # The catalog's indexes (shell.catalog_watch), which kopf passes to every handler.
    names = CATALOG_INDEX_NAMES
    watched = tuple(kwargs[n] for n in names) if all(n in kwargs for n in names) else None
    request = ContainerRequest(
        operation=operation,
        identity=identity,
        domain=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        new=_body(new),
        old=_body(old),
        operator=ctx.identity.is_operator(identity),
    )
    # The reconciler's index of containers where it runs in this process, else admission's own
    # index of their names (shell.admission_startup).
    taken = kwargs.get("containers", kwargs.get("container_names"))
    look = Lookups(ctx.client, watched, taken)
    verdict = await review_container(look, ctx.settings, request)
    warnings.extend(verdict.warnings)
    problem = verdict.problem
    if problem is not None:
        logger.info(
            "refused %s%s by %s: %s",
            operation,
            " (dry run)" if dryrun else "",
            identity.username,
            problem.message,
        )
    _refuse(problem)


# ---------------------------------------------------------------- ResourceBundle


@kopf.on.mutate(
    GROUP, VERSION, "resourcebundles", id=MUTATE_BUNDLE, operations=["CREATE"], **_WEBHOOK
)
async def mutate_bundle(
    operation: str, body: kopf.Body, userinfo: Mapping[str, Any], patch: kopf.Patch, **_: Any
) -> None:
    # Hook (validation.shape_problems): mutating webhooks run before the schema check.
    _refuse(validation.refusal(validation.shape_problems(body, "ResourceBundle")))
    defaults = validation.bundle_defaults(
        operation, Identity.from_userinfo(userinfo), body.get("spec") or {}
    )
    if defaults:
        patch["spec"] = defaults


@kopf.on.validate(
    GROUP,
    VERSION,
    "resourcebundles",
    id=VALIDATE_BUNDLE,
    operations=["CREATE", "UPDATE", "DELETE"],
    **_WEBHOOK,
)
async def validate_bundle(
    operation: str,
    body: kopf.Body,
    old: kopf.Body | None,
    new: kopf.Body | None,
    userinfo: Mapping[str, Any],
    memo: kopf.Memo,
    **_: Any,
) -> None:
    ctx = admission_context_of(memo)
    identity = Identity.from_userinfo(userinfo)
    if ctx.identity.is_operator(identity):
        return
    # Hook (validation.shape_problems): the schema has been checked by now; defence in depth.
    _refuse(validation.refusal(validation.shape_problems(new, "ResourceBundle")))
    meta = body.get("metadata") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    new_spec = old_spec = None
    if new is not None:
        new_spec, problems = validation.bundle_spec_problems(new.get("spec") or {})
        _refuse(validation.refusal(problems))
    if old is not None:
        old_spec, _ = validation.bundle_spec_problems(old.get("spec") or {})
    if not (operation == "DELETE" and identity.username in validation.KUBERNETES_DELETERS):
        _refuse(
            validation.bundle_change_problem(
                operation, identity, name, new_spec, old_spec, ctx.settings.admin_groups
            )
        )
    if operation == "DELETE":
        members = await Lookups(ctx.client).bundle_members(namespace, name)
        _refuse(validation.bundle_in_use_problem(name, namespace, members))
