"""Reading and changing JupyterContainers and the objects around them, as plain dicts."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from lightkube import ApiError
from lightkube.types import PatchType

from jupyter_containers.api.models import InstanceTypeSpec, JupyterImageSpec, VolumeSpec
from jupyter_containers.cli.cluster import Kube, api_errors
from jupyter_containers.cli.errors import CliError, NotFoundError
from jupyter_containers.core.naming import DOMAIN_LABEL, NAME_LABEL, START_REQUESTED_ANNOTATION
from jupyter_containers.shell.resources import (
    Deployment,
    Event,
    InstanceType,
    JupyterContainer,
    JupyterImage,
    Pod,
    ResourceBundle,
    ResourceQuota,
    Secret,
    Service,
    Volume,
)

Obj = dict[str, Any]

#: PUTs of one replace while only status (or metadata) changes between the read and the write.
REPLACE_ATTEMPTS = 4


def _is_conflict(err: ApiError) -> bool:
    """A stale resourceVersion (not AlreadyExists, which is a 409 too)."""
    return err.status.code == 409 and err.status.reason == "Conflict"


def _dict(obj: Any) -> Obj:
    return dict(obj) if isinstance(obj, dict) else obj.to_dict()


def _resource(obj: Mapping[str, Any]) -> Any:
    """A JupyterContainer for lightkube (its generic resources are dicts; the stub says kwargs)."""
    return JupyterContainer(dict(obj))  # type: ignore[call-overload]


def what(name: str) -> str:
    return f"Jupyter container '{name}'"


class Containers:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.client = kube.client
        self.domain = kube.domain

    # ------------------------------------------------------------ containers

    def get(self, name: str) -> Obj:
        try:
            return _dict(self.client.get(JupyterContainer, name, namespace=self.domain))
        except ApiError as err:
            if err.status.code == 404:
                raise NotFoundError(
                    f"{what(name)} not found in namespace '{self.domain}'.",
                    hint=f"List the containers with: kubectl jupyter list -n {self.domain}",
                ) from None
            raise

    def containers(self, all_namespaces: bool = False) -> list[Obj]:
        namespace = "*" if all_namespaces else self.domain
        with api_errors("Jupyter containers", None if all_namespaces else self.domain):
            return [_dict(jc) for jc in self.client.list(JupyterContainer, namespace=namespace)]

    def create(self, manifest: Mapping[str, Any], *, dry_run: bool = False) -> Obj:
        name = manifest["metadata"]["name"]
        with api_errors(what(name), self.domain):
            created = self.client.create(
                _resource(manifest), namespace=self.domain, dry_run=dry_run
            )
        return _dict(created)

    def replace(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> Obj:
        """PUT with the read resourceVersion: a concurrent change of the spec (a new
        generation) is a conflict, not lost.

        The operator writes status at any time, and every write moves the resourceVersion: a
        conflict at the same generation puts the spec again on the object read afresh (its
        metadata and status kept), a few times, rather than refusing a change nobody made.
        """
        name = obj["metadata"]["name"]
        generation = obj["metadata"].get("generation")
        with api_errors(what(name), self.domain):
            for _ in range(REPLACE_ATTEMPTS - 1):
                try:
                    return _dict(self.client.replace(_resource(obj), dry_run=dry_run))
                except ApiError as err:
                    if not _is_conflict(err) or generation is None:
                        raise
                fresh = self.get(name)
                if fresh["metadata"].get("generation") != generation:
                    break  # the spec changed: the last PUT below is refused as a conflict
                obj = {**fresh, "spec": obj.get("spec")}
            return _dict(self.client.replace(_resource(obj), dry_run=dry_run))

    def patch(self, name: str, patch: Mapping[str, Any]) -> Obj:
        with api_errors(what(name), self.domain):
            result = self.client.patch(
                JupyterContainer,
                name,
                dict(patch),
                namespace=self.domain,
                patch_type=PatchType.MERGE,
            )
        return _dict(result)

    def set_running(self, name: str, running: bool, start_request: str | None = None) -> Obj:
        patch: dict[str, Any] = {"spec": {"running": running}}
        if start_request:
            patch["metadata"] = {"annotations": {START_REQUESTED_ANNOTATION: start_request}}
        return self.patch(name, patch)

    def delete(self, name: str) -> None:
        with api_errors(what(name), self.domain):
            self.client.delete(JupyterContainer, name, namespace=self.domain)

    # ------------------------------------------------------------ access

    def bundles(self, namespaces: Iterable[str]) -> dict[tuple[str, str], Obj]:
        """The ResourceBundles of these domains by (namespace, name); unreadable ones skipped."""
        found: dict[tuple[str, str], Obj] = {}
        for namespace in sorted(set(namespaces)):
            try:
                for bundle in self.client.list(ResourceBundle, namespace=namespace):
                    data = _dict(bundle)
                    found[(namespace, data["metadata"]["name"])] = data
            except ApiError as err:
                if err.status.code != 403:
                    raise
        return found

    def bundle(self, name: str) -> Obj | None:
        try:
            return _dict(self.client.get(ResourceBundle, name, namespace=self.domain))
        except ApiError as err:
            if err.status.code == 404:
                return None
            raise

    # ------------------------------------------------------------ catalog

    def instance_types(self) -> list[tuple[str, InstanceTypeSpec]]:
        """The catalog's instance types (entries that do not parse are left out)."""
        with api_errors("instance types"):
            items = [_dict(it) for it in self.client.list(InstanceType)]
        parsed = []
        for item in items:
            try:
                spec = InstanceTypeSpec.model_validate(item.get("spec") or {})
            except ValueError:
                continue
            parsed.append((item["metadata"]["name"], spec))
        return parsed

    def volumes(self) -> list[tuple[str, VolumeSpec]]:
        with api_errors("volumes"):
            items = [_dict(v) for v in self.client.list(Volume)]
        parsed = []
        for item in items:
            try:
                parsed.append(
                    (item["metadata"]["name"], VolumeSpec.model_validate(item.get("spec") or {}))
                )
            except ValueError:
                continue
        return sorted(parsed, key=lambda pair: pair[0])

    def images(self) -> list[tuple[str, JupyterImageSpec]]:
        """The catalog's JupyterImages (entries that do not parse are left out)."""
        with api_errors("images"):
            items = [_dict(i) for i in self.client.list(JupyterImage)]
        parsed = []
        for item in items:
            try:
                spec = JupyterImageSpec.model_validate(item.get("spec") or {})
            except ValueError:
                continue
            parsed.append((item["metadata"]["name"], spec))
        return parsed

    def quotas(self, namespace: str) -> list[Mapping[str, Any]] | None:
        """The namespace's ResourceQuotas, or None when the user may not read them."""
        try:
            return [_dict(q) for q in self.client.list(ResourceQuota, namespace=namespace)]
        except ApiError as err:
            if err.status.code in (403, 404):
                return None
            raise

    # ------------------------------------------------------------ deployed objects

    def selector(self, jc: Mapping[str, Any]) -> dict[str, Any]:
        meta = jc["metadata"]
        return {DOMAIN_LABEL: meta["namespace"], NAME_LABEL: meta["name"]}

    def pods(self, jc: Mapping[str, Any], namespace: str) -> list[Obj]:
        with api_errors("pods", namespace):
            return [
                _dict(p)
                for p in self.client.list(Pod, namespace=namespace, labels=self.selector(jc))
            ]

    def deployment(self, jc: Mapping[str, Any], namespace: str) -> Obj | None:
        """The container's Deployment, or None (also when the user may not read Deployments)."""
        try:
            found = self.client.list(Deployment, namespace=namespace, labels=self.selector(jc))
            items = [_dict(d) for d in found]
        except ApiError as err:
            if err.status.code == 403:
                return None
            raise
        return items[0] if items else None

    def service(self, name: str, namespace: str) -> Obj | None:
        """A Service, or None when the user may not read Services."""
        try:
            return _dict(self.client.get(Service, name, namespace=namespace))
        except ApiError as err:
            if err.status.code == 403:
                return None
            with api_errors(f"Service '{name}'", namespace):
                raise

    def token(self, secret_name: str, namespace: str) -> str:
        with api_errors(f"token Secret '{secret_name}'", namespace):
            secret = _dict(self.client.get(Secret, secret_name, namespace=namespace))
        encoded = (secret.get("data") or {}).get("token")
        if not encoded:
            raise CliError(f"The token Secret '{secret_name}' has no key 'token'.")
        return base64.b64decode(encoded).decode()

    def events(self, namespace: str) -> list[Obj]:
        with api_errors("events", namespace):
            return [_dict(e) for e in self.client.list(Event, namespace=namespace)]
