"""The catalog (InstanceTypes, Volumes, JupyterImages) and Kubernetes quantities.

Pure: catalog entries by name in; the entry a container uses, the pod resources of an
instance type, and the one parser and formatters of quantities out. Used by the
reconciler's plan, the admission rules, the quota arithmetic and the CLI's checks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_CEILING, Decimal
from typing import Any

from lightkube.utils.quantity import parse_quantity

from jupyter_containers.api import rules
from jupyter_containers.api.models import (
    ALLOWED_VOLUME_TYPES,
    Entitled,
    InstanceTypeSpec,
    JupyterImageSpec,
    Reason,
    VolumeSpec,
    VolumeType,
)
from jupyter_containers.core.entitlements import Chooser, entitled, refused_by

logger = logging.getLogger(__name__)

MIB = 1024**2
_BINARY_SUFFIXES = (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", MIB), ("Ki", 1024))
_DECIMAL_SUFFIXES = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3))
#: CPU and byte resource names (ResourceQuota keys), for `format_quantity`.
CPU_KEYS = ("limits.cpu", "requests.cpu", "cpu")
MEMORY_KEYS = ("limits.memory", "requests.memory", "memory")
#: Units for showing byte quantities, largest first.
_BINARY_UNITS = (
    ("Ei", 2**60),
    ("Pi", 2**50),
    ("Ti", 2**40),
    ("Gi", 2**30),
    ("Mi", 2**20),
    ("Ki", 2**10),
)


class CatalogError(Exception):
    """The container cannot be built as configured; `message` says which field and the fix."""

    def __init__(self, message: str, reason: Reason = Reason.INVALID_CONFIGURATION) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


# ---------------------------------------------------------------- catalog


def parse_catalog(specs: Mapping[str, Iterable[Mapping[str, Any]]], model: Any) -> dict[str, Any]:
    """Catalog entries by name (`name -> [spec]`, as a kopf index holds them) parsed with
    `model`; an invalid entry is left out with a warning, as if it did not exist."""
    out: dict[str, Any] = {}
    for name in list(specs):
        for spec in specs.get(name, []):
            try:
                out[name] = model.model_validate(spec)
            except ValueError:
                logger.warning("ignoring invalid catalog entry %s %s", model.__name__, name)
    return out


def _usable(entry: Entitled, choosers: Sequence[Chooser]) -> bool:
    return all(entitled(entry, c) for c in choosers)


def offered_instance_types(
    catalog: Mapping[str, InstanceTypeSpec], choosers: Sequence[Chooser] = ()
) -> list[str]:
    """The instance types to offer, the default (first) first: available, entitled."""
    return sorted(
        (name for name, it in catalog.items() if it.available and _usable(it, choosers)),
        key=lambda name: (catalog[name].order, name),
    )


def resolve_instance_type(
    requested: str | None,
    catalog: Mapping[str, InstanceTypeSpec],
    choosers: Sequence[Chooser] = (),
    *,
    enforce: bool = True,
) -> tuple[str, InstanceTypeSpec]:
    """The InstanceType to use: the requested one, or the first available by (order, name)
    that `choosers` may use. `enforce`: refuse a requested one they may not use (False: a
    running container keeps what it started with; entitlements are judged at start)."""
    available = offered_instance_types(catalog, choosers)
    offer = ", ".join(available) or "none; ask an administrator to create an InstanceType"
    if requested is None:
        if not available:
            raise CatalogError(
                "spec.instanceType: no InstanceType is available; "
                "ask an administrator to create one."
            )
        return available[0], catalog[available[0]]
    if requested not in catalog:
        raise CatalogError(
            f"spec.instanceType: InstanceType {requested!r} does not exist; "
            f"choose one of the available ones ({offer})."
        )
    if not catalog[requested].available:
        raise CatalogError(
            f"spec.instanceType: InstanceType {requested!r} is not available; "
            f"choose one of the available ones ({offer})."
        )
    refused = refused_by(catalog[requested], choosers) if enforce else None
    if refused is not None:
        raise CatalogError(
            f"spec.instanceType: InstanceType {requested!r} is not offered to "
            f"{refused.describe()}; choose one you may use ({offer})."
        )
    return requested, catalog[requested]


def offered_volumes(
    catalog: Mapping[str, VolumeSpec], choosers: Sequence[Chooser] = ()
) -> list[str]:
    """The volumes to offer: On Demand PVC and NFS ones the choosers may use, by name."""
    return sorted(
        n for n, v in catalog.items() if v.type in ALLOWED_VOLUME_TYPES and _usable(v, choosers)
    )


def resolve_volume(
    requested: str | None,
    catalog: Mapping[str, VolumeSpec],
    choosers: Sequence[Chooser] = (),
    *,
    enforce: bool = True,
) -> tuple[str | None, VolumeSpec | None]:
    """The Volume to mount, or (None, None) for none. Only OnDemandPVC and NFS are allowed."""
    if requested is None:
        return None, None
    offer = ", ".join(offered_volumes(catalog, choosers)) or "none"
    if requested not in catalog:
        raise CatalogError(
            f"spec.volume: Volume {requested!r} does not exist; choose one of the "
            f"On Demand PVC or NFS volumes ({offer}) or remove spec.volume."
        )
    volume = catalog[requested]
    if volume.type not in ALLOWED_VOLUME_TYPES:
        raise CatalogError(rules.MSG_INVALID_VOLUME_TYPE)
    if volume.type == VolumeType.ON_DEMAND_PVC and not volume.maxSize:
        raise CatalogError(f"Volume {requested!r}: {rules.MSG_VOLUME_MAX_SIZE_REQUIRED}")
    if volume.type == VolumeType.NFS and volume.nfs is None:
        raise CatalogError(f"Volume {requested!r}: {rules.MSG_VOLUME_NFS_REQUIRED}")
    refused = refused_by(volume, choosers) if enforce else None
    if refused is not None:
        raise CatalogError(
            f"spec.volume: Volume {requested!r} is not offered to {refused.describe()}; "
            f"choose one you may use ({offer}) or remove spec.volume."
        )
    return requested, volume


def offered_images(
    catalog: Mapping[str, JupyterImageSpec], choosers: Sequence[Chooser] = ()
) -> list[str]:
    """The JupyterImages to offer, by (order, name): available, entitled."""
    return sorted(
        (n for n, i in catalog.items() if i.available and _usable(i, choosers)),
        key=lambda n: (catalog[n].order, n),
    )


def default_image(
    catalog: Mapping[str, JupyterImageSpec], choosers: Sequence[Chooser] = ()
) -> str | None:
    """The catalog's default for a container without spec.image: the first offered image
    marked default; None: the operator's configured image."""
    return next((n for n in offered_images(catalog, choosers) if catalog[n].default), None)


def resolve_image(
    requested: str | None,
    catalog: Mapping[str, JupyterImageSpec],
    fallback: str,
    choosers: Sequence[Chooser] = (),
    *,
    enforce: bool = True,
) -> tuple[str | None, str]:
    """The JupyterImage (None: the operator's) and the reference the pod runs.

    `fallback`: the operator's configured image, for no spec.image and no default in the
    catalog. `enforce` as in `resolve_instance_type` (availability too: a running container
    keeps its image when the entry is withdrawn).
    """
    if requested is None:
        name = default_image(catalog, choosers)
        return (name, catalog[name].pull_reference) if name else (None, fallback)
    offered = offered_images(catalog, choosers)
    offer = ", ".join(offered) or "none"
    if requested not in catalog:
        raise CatalogError(
            f"spec.image: JupyterImage {requested!r} does not exist; choose one of the "
            f"images you may use ({offer}) or remove spec.image for the default."
        )
    image = catalog[requested]
    if enforce and not image.available:
        raise CatalogError(
            f"spec.image: JupyterImage {requested!r} is not available; choose one of the "
            f"images you may use ({offer}) or remove spec.image for the default."
        )
    refused = refused_by(image, choosers) if enforce else None
    if refused is not None:
        raise CatalogError(
            f"spec.image: JupyterImage {requested!r} is not offered to {refused.describe()}; "
            f"choose one of the images you may use ({offer}) or remove spec.image for the "
            "default."
        )
    return requested, image.pull_reference


def image_display(name: str | None, image: JupyterImageSpec | None, reference: str) -> str:
    """For lists: 'SciPy (quay.io/jupyter/scipy-notebook:2025-01-06)'."""
    if name is None or image is None:
        return f"Platform default ({reference})"
    return f"{image.displayName or name} ({reference})"


# ---------------------------------------------------------------- quantities


def quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity ('500m', '2', '4Gi') as a number; ValueError when it is none."""
    try:
        parsed = parse_quantity(str(value))
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return parsed


def positive_quantity(value: str, where: str) -> Decimal:
    """A quantity that must be above zero; CatalogError naming `where` otherwise."""
    try:
        parsed: Decimal | None = quantity(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed <= 0:
        raise CatalogError(
            f"{where} {value!r} is not a positive Kubernetes quantity, e.g. '500m', '2' or '4Gi'."
        )
    return parsed


def format_cpu(cores: Decimal) -> str:
    """Canonical CPU quantity: whole cores as '2', else millicores as '500m' (rounded up)."""
    millis = math.ceil(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_bytes(n: int) -> str:
    """Canonical memory quantity: the largest exact suffix ('2Gi', '1500M'), else bytes."""
    for suffix, unit in (*_BINARY_SUFFIXES, *_DECIMAL_SUFFIXES):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def _round_up(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def format_quantity(value: Decimal, resource: str) -> str:
    """A quantity as a person reads it: '4', '500m', '1.5Gi', '3' (messages, the CLI)."""
    if resource in CPU_KEYS:
        if value == value.to_integral_value():
            return str(int(value))
        return f"{int(_round_up(value * 1000, Decimal(1)))}m"
    if resource in MEMORY_KEYS or resource.endswith("requests.storage"):
        magnitude = abs(value)
        for suffix, size in _BINARY_UNITS:
            if magnitude >= size:
                shown = (value / size).quantize(Decimal("0.01")).normalize()
                return f"{shown:f}{suffix}"
        return str(int(value))
    return str(int(value)) if value == value.to_integral_value() else f"{value.normalize():f}"


def resources(name: str, it: InstanceTypeSpec) -> dict[str, dict[str, str]]:
    """Limits from the InstanceType; requests = limits x requestRatio, never above the limits.

    CPU requests round up to a millicore, memory requests up to a whole MiB: the
    scheduler reserves at least the ratio asked for.
    """
    cpu = positive_quantity(it.cpu, f"InstanceType {name!r}: spec.cpu")
    memory = positive_quantity(it.memory, f"InstanceType {name!r}: spec.memory")
    ratio = Decimal(str(it.requestRatio))
    cpu_limit_millis = math.ceil(cpu * 1000)
    cpu_request_millis = min(math.ceil(cpu * ratio * 1000), cpu_limit_millis)
    memory_limit = math.ceil(memory)
    memory_request = min(math.ceil(memory * ratio / MIB) * MIB, memory_limit)
    return {
        "limits": {
            "cpu": format_cpu(Decimal(cpu_limit_millis) / 1000),
            "memory": format_bytes(memory_limit),
        },
        "requests": {
            "cpu": format_cpu(Decimal(cpu_request_millis) / 1000),
            "memory": format_bytes(memory_request),
        },
    }


# ---------------------------------------------------------------- display


def instance_display(name: str, it: InstanceTypeSpec) -> str:
    """For lists: e.g. 'small (1 CPU, 2Gi)'."""
    limits = resources(name, it)["limits"]
    cores = positive_quantity(limits["cpu"], f"InstanceType {name!r}: spec.cpu")
    return f"{it.displayName or name} ({format(cores.normalize(), 'f')} CPU, {limits['memory']})"


def volume_display(name: str | None, v: VolumeSpec | None, size: str | None = None) -> str:
    """For lists: 'No volume', 'home (On Demand PVC, 10Gi)' or 'data (NFS nfs.example:/x)'.

    `size`: the container's spec.volumeSize (default: the Volume's maxSize)."""
    if name is None or v is None:
        return "No volume"
    label = v.displayName or name
    if v.type == VolumeType.ON_DEMAND_PVC:
        return f"{label} (On Demand PVC, {size or v.maxSize})"
    if v.type == VolumeType.NFS and v.nfs is not None:
        mode = ", read-only" if v.nfs.readOnly else ""
        return f"{label} (NFS {v.nfs.server}:{v.nfs.path}{mode})"
    return f"{label} ({v.type})"
