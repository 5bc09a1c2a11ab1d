"""ResourceQuota arithmetic: does one more container fit in a deployment namespace?

Pure: ResourceQuota objects (as dicts) and catalog entries in, a message or None out.
The admission webhook calls it when a running container is created; the reconciler
calls it before a start, to fail the start with reason QuotaExceeded instead of
letting the ReplicaSet be refused over and over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jupyter_containers.api.models import InstanceTypeSpec, VolumeSpec, VolumeType
from jupyter_containers.core import catalog
from jupyter_containers.core.catalog import format_quantity
from jupyter_containers.core.catalog import quantity as _quantity

#: Resource names a quota can hold for one container's pod, and what they measure.
CPU_KEYS = catalog.CPU_KEYS
MEMORY_KEYS = catalog.MEMORY_KEYS
#: Objects one start creates (Deployment, its ReplicaSet, the pod, the Service).
START_OBJECT_KEYS = (
    "pods",
    "count/pods",
    "count/deployments.apps",
    "count/replicasets.apps",
    "services",
    "count/services",
)
STORAGE_KEYS = ("requests.storage",)
PVC_COUNT_KEYS = ("persistentvolumeclaims", "count/persistentvolumeclaims")
_STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"


def demand(
    instance_type_name: str,
    instance_type: InstanceTypeSpec,
    volume: VolumeSpec | None,
    *,
    include_volume: bool,
    storage_class: str | None = None,
    volume_size: str | None = None,
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """What one start adds to a namespace's quota usage: (pod resources, volume resources).

    Raises `catalog.CatalogError` when the instance type's quantities are invalid.

    `include_volume`: the start creates the On Demand PVC (false when it exists already).
    `storage_class`: the PVC's class when the Volume names none (settings.default_storage_class),
    for class-scoped quota keys. `volume_size`: the container's spec.volumeSize (default maxSize).
    """
    # The same limits and requests the pod gets, so this math and the quota controller agree.
    res = catalog.resources(instance_type_name, instance_type)
    cpu_limit, memory_limit = _quantity(res["limits"]["cpu"]), _quantity(res["limits"]["memory"])
    cpu_request = _quantity(res["requests"]["cpu"])
    memory_request = _quantity(res["requests"]["memory"])
    pod: dict[str, Decimal] = {
        "limits.cpu": cpu_limit,
        "limits.memory": memory_limit,
        "requests.cpu": cpu_request,
        "requests.memory": memory_request,
        "cpu": cpu_request,
        "memory": memory_request,
    }
    pod.update({key: Decimal(1) for key in START_OBJECT_KEYS})
    storage: dict[str, Decimal] = {}
    if include_volume and volume is not None and volume.type == VolumeType.ON_DEMAND_PVC:
        size = _quantity(volume_size or volume.maxSize or "0")
        storage = {key: size for key in STORAGE_KEYS}
        storage.update({key: Decimal(1) for key in PVC_COUNT_KEYS})
        sc = volume.storageClassName or storage_class
        if sc:
            prefix = f"{sc}{_STORAGE_CLASS_SUFFIX}"
            storage[f"{prefix}requests.storage"] = size
            storage[f"{prefix}persistentvolumeclaims"] = Decimal(1)
    return pod, storage


# What a container's pod is, for quota scopes: not terminating (no activeDeadlineSeconds),
# not best-effort (it has requests), no priority class, no cross-namespace affinity.
_POD_SCOPES: dict[str, bool] = {
    "Terminating": False,
    "NotTerminating": True,
    "BestEffort": False,
    "NotBestEffort": True,
    "CrossNamespacePodAffinity": False,
}


def _scope_matches(scope: str, operator: str = "Exists", values: Iterable[str] = ()) -> bool:
    if scope == "PriorityClass":
        # The pod has no priority class: only "absent" or "not one of" selectors match.
        return operator in ("DoesNotExist", "NotIn")
    # An unknown scope is taken to apply, so a quota is never silently skipped.
    return _POD_SCOPES.get(scope, True)


def _quota_scopes(quota: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    spec = quota.get("spec") or {}
    scopes = [(s, "Exists", []) for s in spec.get("scopes") or []]
    for expr in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        scopes.append(
            (expr.get("scopeName", ""), expr.get("operator", "Exists"), expr.get("values") or [])
        )
    return scopes


def quota_applies_to_pod(quota: Mapping[str, Any]) -> bool:
    """Whether a quota's scopes select the container's pod."""
    return all(_scope_matches(*scope) for scope in _quota_scopes(quota))


def _is_scoped(quota: Mapping[str, Any]) -> bool:
    # A quota with pod scopes tracks only pod resources, never PVCs (Kubernetes rule).
    return any(scope != "VolumeAttributesClass" for scope, _, _ in _quota_scopes(quota))


@dataclass(frozen=True)
class Shortfall:
    """One quota limit a start would exceed."""

    quota: str
    resource: str
    requested: Decimal
    hard: Decimal
    used: Decimal
    subject: str  # "instance type 'x'", "volume 'y'"

    @property
    def available(self) -> Decimal:
        return max(self.hard - self.used, Decimal(0))

    def describe(self) -> str:
        fmt = format_quantity
        return (
            f"{self.subject} needs {self.resource} {fmt(self.requested, self.resource)} but only "
            f"{fmt(self.available, self.resource)} is available (ResourceQuota '{self.quota}': "
            f"hard {fmt(self.hard, self.resource)}, used {fmt(self.used, self.resource)})"
        )


def shortfalls(
    quotas: Iterable[Mapping[str, Any]],
    pod: Mapping[str, Decimal],
    storage: Mapping[str, Decimal],
    *,
    pod_subject: str,
    volume_subject: str,
) -> list[Shortfall]:
    """Every (quota, resource) whose hard limit the demand would exceed."""
    found: list[Shortfall] = []
    for quota in quotas:
        name = (quota.get("metadata") or {}).get("name", "?")
        status = quota.get("status") or {}
        # The quota controller fills status.hard from spec.hard; until it has, spec is the truth.
        hard = status.get("hard") or (quota.get("spec") or {}).get("hard") or {}
        used = status.get("used") or {}
        if not quota_applies_to_pod(quota):
            continue
        wanted: list[tuple[Mapping[str, Decimal], str]] = [(pod, pod_subject)]
        if not _is_scoped(quota):
            wanted.append((storage, volume_subject))
        for amounts, subject in wanted:
            for resource, requested in amounts.items():
                if resource not in hard:
                    continue
                limit = _quantity(hard[resource])
                in_use = _quantity(used.get(resource, "0"))
                if in_use + requested > limit:
                    found.append(Shortfall(name, resource, requested, limit, in_use, subject))
    return found


def check_quota(
    quotas: list[Mapping[str, Any]],
    instance_type_name: str,
    instance_type: InstanceTypeSpec,
    volume_name: str | None,
    volume: VolumeSpec | None,
    include_volume: bool,
    *,
    namespace: str | None = None,
    storage_class: str | None = None,
    volume_size: str | None = None,
) -> str | None:
    """The quota error for starting one container in the quotas' namespace, or None if it fits.

    `quotas`: every ResourceQuota of the deployment namespace. `include_volume`: the start
    creates the On Demand PVC (false when it exists already, e.g. starting a Stopped one).
    """
    pod, storage = demand(
        instance_type_name,
        instance_type,
        volume,
        include_volume=include_volume,
        storage_class=storage_class,
        volume_size=volume_size,
    )
    volume_subject = f"volume '{volume_name}'"
    found = shortfalls(
        quotas,
        pod,
        storage,
        pod_subject=f"instance type '{instance_type_name}'",
        volume_subject=volume_subject,
    )
    if not found:
        return None
    if namespace is None and quotas:
        namespace = (quotas[0].get("metadata") or {}).get("namespace")
    where = f" in namespace '{namespace}'" if namespace else ""
    details = "; ".join(s.describe() for s in found)
    fixes = []
    if any(s.resource in CPU_KEYS or s.resource in MEMORY_KEYS for s in found):
        fixes.append("choose a smaller instance type")
    if any(s.subject == volume_subject for s in found):
        fixes.append("choose a smaller volume")
    fixes += ["stop another container in the namespace", "ask an admin to raise the quota"]
    return f"Quota exceeded{where}: {details}. To fix it, {', '.join(fixes[:-1])} or {fixes[-1]}."
