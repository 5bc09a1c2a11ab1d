"""Growing a container's On Demand PVC: the size rules, the growth decision, its status.

Pure. `spec.volumeSize` asks for a size (default: the Volume's `maxSize`, the manual's "PVC
size is determined by the volume's configured maximum size"). A PVC is created at that size;
a larger spec.volumeSize set later grows the same PVC in place (a patch of its
spec.resources.requests.storage: no new PVC, no data lost), provided that:

- the size is at most the Volume's maxSize;
- it is not smaller than the PVC's size (a volume never shrinks);
- the PVC is bound (Kubernetes resizes bound claims only);
- its StorageClass allows volume expansion (`allowVolumeExpansion: true`);
- the container is Stopped or Failed when the size changes (the stop-before-configuring rule
  of every configuration field, in the CRD).

The webhook (`core.judge`) refuses a request that breaks one of them, naming the field and the
fix; the reconciler (`core.plan`) decides again from what its watches show, in case the
webhook did not run, and reports the growth in `status.storage` from the PVC's
status.capacity and its conditions (Resizing, FileSystemResizePending).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_containers.api.models import (
    JupyterContainerSpec,
    ResizeState,
    VolumeSpec,
    VolumeType,
)
from jupyter_containers.core import quota
from jupyter_containers.core.catalog import quantity

#: PVC conditions set while a resize is under way (external-resizer, kubelet).
RESIZING = "Resizing"
FILE_SYSTEM_RESIZE_PENDING = "FileSystemResizePending"
#: States in which a resize is still under way.
UNDER_WAY = frozenset(
    {ResizeState.REQUESTED, ResizeState.IN_PROGRESS, ResizeState.FILE_SYSTEM_RESIZE_PENDING}
)


def requested_size(spec: JupyterContainerSpec, volume: VolumeSpec | None) -> str | None:
    """The size the container's On Demand PVC should have (None without one)."""
    if volume is None or volume.type != VolumeType.ON_DEMAND_PVC:
        return None
    return spec.volumeSize or volume.maxSize


def growth_size(spec: JupyterContainerSpec, volume: VolumeSpec | None) -> str | None:
    """The size an existing PVC is grown to: only one asked for explicitly. Without
    spec.volumeSize a PVC keeps the size it was made with (an admin raising a Volume's maxSize
    grows no PVC)."""
    return spec.volumeSize if requested_size(spec, volume) is not None else None


def shown_size(
    spec: JupyterContainerSpec, volume: VolumeSpec | None, claim: Claim | None
) -> str | None:
    """status.storage.requested: spec.volumeSize, else the PVC's size, else the maxSize a new
    one gets."""
    if requested_size(spec, volume) is None:
        return None
    return (
        spec.volumeSize
        or (claim.size if claim is not None else None)
        or requested_size(spec, volume)
    )


def _bigger(a: str, b: str | None) -> bool:
    """a > b, as quantities; False when either is not one (a stored value the watch shows)."""
    try:
        return b is not None and quantity(a) > quantity(b)
    except ValueError:
        return False


# ---------------------------------------------------------------- the PVC as observed


@dataclass(frozen=True)
class Claim:
    """What the size rules read of an existing PVC."""

    name: str
    request: str | None
    """spec.resources.requests.storage"""
    capacity: str | None
    """status.capacity.storage (what the volume has)"""
    bound: bool
    storage_class: str | None
    conditions: frozenset[str] = frozenset()
    phase: str | None = None

    @classmethod
    def of(cls, pvc: Mapping[str, Any]) -> Claim:
        spec = pvc.get("spec") or {}
        status = pvc.get("status") or {}
        return cls(
            name=str(pvc["metadata"]["name"]),
            request=((spec.get("resources") or {}).get("requests") or {}).get("storage"),
            capacity=(status.get("capacity") or {}).get("storage"),
            bound=status.get("phase") == "Bound",
            storage_class=spec.get("storageClassName") or None,
            conditions=frozenset(
                str(c.get("type"))
                for c in status.get("conditions") or []
                if c.get("status") == "True"
            ),
            phase=status.get("phase"),
        )

    @property
    def size(self) -> str | None:
        """The size it was asked to have (what a growth starts from)."""
        return self.request or self.capacity

    def needs_growth(self, size: str) -> bool:
        return _bigger(size, self.size)


# ---------------------------------------------------------------- refusals


def above_maximum_problem(
    size: str | None, volume_name: str | None, volume: VolumeSpec | None
) -> str | None:
    if size is None or volume is None or volume.type != VolumeType.ON_DEMAND_PVC:
        return None
    if not _bigger(size, volume.maxSize):
        return None
    return (
        f"spec.volumeSize: {size} is above the maximum size of Volume '{volume_name}' "
        f"(its spec.maxSize, {volume.maxSize}). Choose at most {volume.maxSize}, or ask an "
        f"admin to raise the maxSize of Volume '{volume_name}'."
    )


def no_volume_problem(spec: JupyterContainerSpec, volume: VolumeSpec | None) -> str | None:
    """spec.volumeSize sizes an On Demand PVC only."""
    if spec.volumeSize is None:
        return None
    if volume is None:
        return (
            "spec.volumeSize: the container has no volume to size; choose an On Demand PVC "
            "volume in spec.volume, or remove spec.volumeSize."
        )
    if volume.type != VolumeType.ON_DEMAND_PVC:
        return (
            f"spec.volumeSize: Volume '{spec.volume}' is {volume.type}, whose size is not the "
            "container's; only an On Demand PVC volume is sized by spec.volumeSize. Remove "
            "spec.volumeSize."
        )
    return None


def shrink_problem(size: str, claim: Claim) -> str | None:
    if not _bigger(claim.size or "0", size):
        return None
    return (
        f"spec.volumeSize: {size} is smaller than PVC '{claim.name}' ({claim.size}); a volume "
        f"never shrinks. Keep spec.volumeSize at {claim.size} or more."
    )


def not_bound_problem(size: str, claim: Claim) -> str | None:
    if claim.bound or not claim.needs_growth(size):
        return None
    return (
        f"spec.volumeSize: PVC '{claim.name}' is not bound to a volume yet "
        f"({claim.phase or 'Pending'}), and only a bound PVC can grow. Start the container "
        "once so the PVC is provisioned, stop it, then grow it."
    )


def expansion_problem(claim: Claim, allows_expansion: bool | None) -> str | None:
    """`allows_expansion`: the StorageClass's allowVolumeExpansion (None: no such class)."""
    if allows_expansion:
        return None
    keep = f"Keep spec.volumeSize at {claim.size}"
    if claim.storage_class is None:
        return (
            f"spec.volumeSize: PVC '{claim.name}' has no StorageClass, so it cannot grow. {keep}."
        )
    sc = claim.storage_class
    if allows_expansion is None:
        return (
            f"spec.volumeSize: StorageClass '{sc}' of PVC '{claim.name}' does not exist, so the "
            f"PVC cannot grow. {keep}, or ask an admin to restore StorageClass '{sc}'."
        )
    return (
        f"spec.volumeSize: StorageClass '{sc}' of PVC '{claim.name}' does not allow volume "
        f"expansion, so the PVC cannot grow. {keep}, or ask an admin to set "
        f"allowVolumeExpansion: true on StorageClass '{sc}' (if its provisioner can expand "
        "volumes)."
    )


def growth_quota_problem(
    size: str, claim: Claim, quotas: Iterable[Mapping[str, Any]], namespace: str
) -> str | None:
    """The growth against the namespace's ResourceQuotas (requests.storage, also the class's
    own key): Kubernetes would refuse the PVC's patch; the webhook says so first, with the
    numbers."""
    try:
        more = quantity(size) - quantity(claim.size or "0")
    except ValueError:
        return None
    if more <= 0:
        return None
    storage = {key: more for key in quota.STORAGE_KEYS}
    if claim.storage_class:
        storage[f"{claim.storage_class}.storageclass.storage.k8s.io/requests.storage"] = more
    found = quota.shortfalls(
        quotas, {}, storage, pod_subject="", volume_subject=f"growing PVC '{claim.name}'"
    )
    if not found:
        return None
    details = "; ".join(s.describe() for s in found)
    return (
        f"spec.volumeSize: Quota exceeded in namespace '{namespace}': {details}. Choose a "
        "smaller spec.volumeSize, or ask an admin to raise the quota."
    )


# ---------------------------------------------------------------- the reconciler's decision


@dataclass(frozen=True)
class StorageClassLookup:
    """The plan needs the PVC's StorageClass (allowVolumeExpansion) to grow it."""

    name: str


@dataclass(frozen=True)
class StorageClassFacts:
    """The answer: `allows_expansion` None when the class does not exist."""

    allows_expansion: bool | None


@dataclass(frozen=True)
class Growth:
    """What to do about the PVC's size: patch it to `size`, or report `refusal`."""

    size: str | None = None
    refusal: str | None = None


def decide_growth(
    size: str | None,
    claim: Claim | None,
    *,
    kept_refusal: str | None,
    storage_class: StorageClassFacts | None,
) -> Growth | StorageClassLookup:
    """Whether to grow the PVC now.

    `kept_refusal`: the refusal status shows for this very size and spec generation: kept, so
    a refused growth is not looked up again on every event (a new spec asks again).
    """
    if size is None or claim is None or not claim.bound or not claim.needs_growth(size):
        return Growth()
    if kept_refusal is not None:
        return Growth(refusal=kept_refusal)
    if claim.storage_class is None:
        return Growth(refusal=expansion_problem(claim, False))
    if storage_class is None:
        return StorageClassLookup(claim.storage_class)
    refusal = expansion_problem(claim, storage_class.allows_expansion)
    return Growth(refusal=refusal) if refusal is not None else Growth(size=size)


def storage_status(
    size: str | None,
    claim: Claim | None,
    growth: Growth,
    previous: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """status.storage: requested and capacity, and the growth's state when there is one.

    The state comes from the PVC: its request above what it had (a patch not made yet, or not
    bound yet) is Requested; a request above its capacity is InProgress (the resizer's
    `Resizing` condition, or none yet), or FileSystemResizePending (the volume grew, the file
    system grows when a pod next mounts it); capacity reaching the request is Done. A PVC never
    grown has no state.
    """
    if size is None:
        return None
    out: dict[str, Any] = {"requested": size}
    if claim is None:
        return out
    if claim.capacity:
        out["capacity"] = claim.capacity
    before = (previous or {}).get("resize")
    state: ResizeState | None
    if growth.refusal is not None:
        state, message = ResizeState.REFUSED, growth.refusal
    elif growth.size is not None or claim.needs_growth(size):
        state = ResizeState.REQUESTED
        message = (
            f"PVC '{claim.name}' grows from {claim.size} to {size}."
            if claim.bound
            else f"PVC '{claim.name}' grows to {size} once it is bound to a volume."
        )
    elif _bigger(claim.request or "0", claim.capacity):
        if FILE_SYSTEM_RESIZE_PENDING in claim.conditions:
            state = ResizeState.FILE_SYSTEM_RESIZE_PENDING
            message = (
                f"PVC '{claim.name}' grew to {claim.request}; its file system grows when the "
                "container next starts."
            )
        else:
            state = ResizeState.IN_PROGRESS
            message = (
                f"PVC '{claim.name}' is being resized from {claim.capacity} to {claim.request}."
            )
    elif before in UNDER_WAY or before == ResizeState.DONE:
        state, message = ResizeState.DONE, f"PVC '{claim.name}' grew to {claim.capacity}."
    else:
        return out
    return {**out, "resize": state.value, "message": message}
