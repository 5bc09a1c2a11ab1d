"""The form's validation, shared by the flags and the guided flow.

The admission webhook's rules, from the same pure functions (`validation`, `quota`,
`catalog`), with the facts looked up as the requesting user: the name rules and
duplicate name, the bundle and the right to use it, an available namespace, the
catalog (instance type, volume type) and the quota. Each check returns the messages
to show under its field; empty means fine. The server stays the authority: `create`
still submits (or dry-runs) the object and shows what the server says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lightkube import ApiError

from jupyter_containers.api import rules
from jupyter_containers.api.models import (
    InstanceTypeSpec,
    JupyterImageSpec,
    ResourceBundleSpec,
    VolumeSpec,
    VolumeType,
)
from jupyter_containers.cli.containers import Containers
from jupyter_containers.cli.cost import CostLine, cost_lines
from jupyter_containers.core import catalog, quota, validation
from jupyter_containers.core.entitlements import Chooser, bundle_ref
from jupyter_containers.core.settings import Settings
from jupyter_containers.shell.resources import JupyterContainer, Namespace


@dataclass(frozen=True)
class QuotaReport:
    namespace: str
    lines: list[CostLine]
    message: str | None  # the webhook's quota error, None when the container fits
    readable: bool  # False: the user may not read the namespace's ResourceQuotas


class Checker:
    def __init__(self, containers: Containers) -> None:
        self.repo = containers
        self.domain = containers.domain
        # The operator's defaults (the namespace label, admin groups); the server has the
        # deployed values and has the last word.
        self.settings = Settings.model_construct()
        #: The bundle chosen so far: entries restricted to bundles are offered for it.
        self.picked_bundle: str | None = None

    # ------------------------------------------------------------ facts

    @cached_property
    def catalog(
        self,
    ) -> tuple[dict[str, InstanceTypeSpec], dict[str, VolumeSpec], dict[str, JupyterImageSpec]]:
        return (
            dict(self.repo.instance_types()),
            dict(self.repo.volumes()),
            dict(self.repo.images()),
        )

    def chooser(self) -> Chooser:
        """The user and the bundle picked so far (`picked_bundle`), for the entitlements."""
        bundle = bundle_ref(self.domain, self.picked_bundle) if self.picked_bundle else None
        return Chooser.of(bundle, self.identity.groups, self.settings.admin_groups)

    @property
    def instance_types(self) -> list[tuple[str, InstanceTypeSpec]]:
        """The instance types the user may pick, the default (first) first."""
        types = self.catalog[0]
        return [(n, types[n]) for n in catalog.offered_instance_types(types, [self.chooser()])]

    def allowed_volumes(self) -> list[tuple[str, VolumeSpec]]:
        """The On Demand PVC and NFS volumes the user may pick."""
        volumes = self.catalog[1]
        return [(n, volumes[n]) for n in catalog.offered_volumes(volumes, [self.chooser()])]

    @property
    def images(self) -> list[tuple[str, JupyterImageSpec]]:
        """The JupyterImages the user may pick, by (order, name)."""
        images = self.catalog[2]
        return [(n, images[n]) for n in catalog.offered_images(images, [self.chooser()])]

    def default_image(self) -> str | None:
        """The catalog's default image for this user (None: the operator's image)."""
        return catalog.default_image(self.catalog[2], [self.chooser()])

    def instance_spec(self, name: str) -> InstanceTypeSpec | None:
        return self.catalog[0].get(name)

    def volume_spec(self, name: str | None) -> VolumeSpec | None:
        return self.catalog[1].get(name) if name else None

    def default_instance_type(self) -> str | None:
        types = self.instance_types
        return types[0][0] if types else None

    @cached_property
    def bundle_names(self) -> list[str]:
        return sorted(name for (_, name) in self.repo.bundles([self.domain]))

    @property
    def identity(self) -> validation.Identity:
        return self.repo.kube.identity

    # ------------------------------------------------------------ fields

    def name(self, name: str) -> list[str]:
        if not name:
            return ["Name is required."]
        errors = [p.message for p in validation.name_problems(name)]
        if errors:
            return errors
        try:
            self.repo.client.get(JupyterContainer, name, namespace=self.domain)
        except ApiError as err:
            if err.status.code == 404:
                return []
            raise
        return [rules.MSG_DUPLICATE_NAME]

    def bundle(self, name: str) -> list[str]:
        if not name:
            return [
                "spec.bundle: a resource bundle is required; it controls who can access "
                "the container."
            ]
        found = self.repo.bundle(name)
        if found is None:
            return [validation.missing_bundle_problem(name, self.domain).message]
        try:
            spec = ResourceBundleSpec.model_validate(found.get("spec") or {})
        except ValueError:
            return []  # the server judges a bundle it cannot parse either
        problem = validation.create_access_problem(
            self.identity, bundle_name=name, bundle=spec, admin_groups=self.settings.admin_groups
        )
        return [problem.message] if problem else []

    def namespace(self, namespace: str) -> list[str]:
        """An existing namespace open to the domain, where the user may create pods."""
        _, problems = validation.spec_problems({"bundle": "x", "namespace": namespace})
        if problems:
            return [p.message for p in problems]
        labels: Mapping[str, str] | None
        try:
            ns = self.repo.client.get(Namespace, namespace)
            labels = (ns.metadata.labels if ns.metadata else None) or {}
        except ApiError as err:
            if err.status.code == 404:
                labels = None
            elif err.status.code == 403:
                labels = {}  # may not read namespaces: only the server can judge this
                if namespace != self.domain:
                    return self._pod_access(namespace)
                return []
            else:
                raise
        problem = validation.namespace_problem(
            self.domain,
            namespace,
            exists=labels is not None,
            labels=labels or {},
            settings=self.settings,
        )
        if problem is not None:
            return [problem.message]
        return self._pod_access(namespace)

    def _pod_access(self, namespace: str) -> list[str]:
        if not validation.needs_pod_access_check(self.domain, namespace):
            return []
        if self.repo.kube.can("create", "pods", namespace):
            return []
        return [validation.pod_access_problem(self.identity, namespace).message]

    def available_namespaces(self, limit: int = 30) -> list[str]:
        """The namespaces open to the domain (best effort: listing may be forbidden)."""
        try:
            items = list(self.repo.client.list(Namespace))
        except ApiError:
            return [self.domain]
        names = [self.domain]
        for ns in items:
            name = ns.metadata.name if ns.metadata else None
            labels = (ns.metadata.labels if ns.metadata else None) or {}
            if (
                name
                and name != self.domain
                and self.settings.namespace_open_to(name, labels, self.domain)
            ):
                names.append(name)
        return names[:limit]

    def instance_type(self, name: str | None) -> list[str]:
        try:
            catalog.resolve_instance_type(name or None, self.catalog[0], [self.chooser()])
        except catalog.CatalogError as err:
            return [err.message]
        return []

    def volume(self, name: str | None) -> list[str]:
        try:
            catalog.resolve_volume(name or None, self.catalog[1], [self.chooser()])
        except catalog.CatalogError as err:
            return [err.message]
        return []

    def image(self, name: str | None) -> list[str]:
        try:
            catalog.resolve_image(name or None, self.catalog[2], "", [self.chooser()])
        except catalog.CatalogError as err:
            return [err.message]
        return []

    def quota(
        self,
        instance_type: str,
        volume: str | None,
        namespace: str,
        *,
        existing_pvc: bool = False,
        volume_size: str | None = None,
    ) -> QuotaReport:
        """The cost against the namespace's quotas. `existing_pvc`: the PVC is counted already;
        `volume_size`: the spec's volumeSize (default: the Volume's maxSize)."""
        instance = self.instance_spec(instance_type)
        quotas = self.repo.quotas(namespace)
        if instance is None or quotas is None:
            return QuotaReport(namespace, [], None, readable=quotas is not None)
        volume_spec = self.volume_spec(volume)
        include = (
            not existing_pvc
            and volume_spec is not None
            and volume_spec.type == VolumeType.ON_DEMAND_PVC
        )
        try:
            pod, storage = quota.demand(
                instance_type,
                instance,
                volume_spec,
                include_volume=include,
                storage_class=self.settings.default_storage_class,
                volume_size=volume_size,
            )
            message = quota.check_quota(
                quotas,
                instance_type,
                instance,
                volume,
                volume_spec,
                include,
                namespace=namespace,
                storage_class=self.settings.default_storage_class,
                volume_size=volume_size,
            )
        except catalog.CatalogError as err:
            return QuotaReport(namespace, [], err.message, readable=True)
        return QuotaReport(namespace, cost_lines(quotas, pod, storage), message, readable=True)

    def general(
        self,
        spec: Mapping[str, Any],
        *,
        name: str | None = None,
        existing_pvc: bool = False,
        fields: tuple[str, ...] = ("bundle", "namespace", "instanceType", "volume", "image"),
    ) -> list[str]:
        """Every General-tab check of a spec dict, as the webhook would refuse them."""
        errors: list[str] = []
        if name is not None:
            errors += self.name(name)
        namespace = spec.get("namespace") or self.domain
        self.picked_bundle = spec.get("bundle") or self.picked_bundle
        if "bundle" in fields:
            errors += self.bundle(spec.get("bundle", ""))
        if "namespace" in fields:
            errors += self.namespace(namespace)
        catalog_errors: list[str] = []
        if "instanceType" in fields:
            catalog_errors += self.instance_type(spec.get("instanceType"))
        if "volume" in fields:
            catalog_errors += self.volume(spec.get("volume"))
        if "image" in fields:
            catalog_errors += self.image(spec.get("image"))
        errors += catalog_errors
        if not errors and spec.get("running", True):
            instance = spec.get("instanceType") or self.default_instance_type() or ""
            report = self.quota(
                instance,
                spec.get("volume"),
                namespace,
                existing_pvc=existing_pvc,
                volume_size=spec.get("volumeSize"),
            )
            if report.message:
                errors.append(report.message)
        return errors
