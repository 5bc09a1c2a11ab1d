"""Quota arithmetic: one more container against the ResourceQuotas of a namespace."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from jupyter_containers.api.models import InstanceTypeSpec, VolumeSpec
from jupyter_containers.core import catalog
from jupyter_containers.core.quota import (
    check_quota,
    demand,
    format_quantity,
    quota_applies_to_pod,
)

LARGE = InstanceTypeSpec(cpu="4", memory="16Gi")
SMALL = InstanceTypeSpec(cpu="1", memory="2Gi")
HALF = InstanceTypeSpec(cpu="2", memory="4Gi", requestRatio=0.25)
HOME = VolumeSpec(type="OnDemandPVC", maxSize="5Gi", storageClassName="fast")
NFS = VolumeSpec(type="NFS", nfs={"server": "nfs.example", "path": "/x"})


def rq(
    name: str,
    hard: dict[str, str],
    used: dict[str, str] | None = None,
    *,
    scopes: list[str] | None = None,
    selector: list[dict[str, Any]] | None = None,
    status: bool = True,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"hard": hard}
    if scopes:
        spec["scopes"] = scopes
    if selector:
        spec["scopeSelector"] = {"matchExpressions": selector}
    quota: dict[str, Any] = {"metadata": {"name": name, "namespace": "team"}, "spec": spec}
    if status:
        quota["status"] = {"hard": hard, "used": used or {}}
    return quota


def test_fits_returns_none() -> None:
    quotas = [rq("compute", {"limits.cpu": "8", "limits.memory": "32Gi"}, {"limits.cpu": "4"})]
    assert check_quota(quotas, "large", LARGE, None, None, False) is None


def test_no_quota_fits() -> None:
    assert check_quota([], "large", LARGE, "home", HOME, True) is None


def test_cpu_shortfall_names_instance_type_and_numbers() -> None:
    quotas = [rq("compute", {"limits.cpu": "6"}, {"limits.cpu": "3"})]
    message = check_quota(quotas, "large", LARGE, None, None, False)
    assert message == (
        "Quota exceeded in namespace 'team': instance type 'large' needs limits.cpu 4 but only 3 "
        "is available (ResourceQuota 'compute': hard 6, used 3). To fix it, choose a smaller "
        "instance type, stop another container in the namespace or ask an admin to raise the "
        "quota."
    )


def test_fits_exactly() -> None:
    quotas = [rq("compute", {"limits.cpu": "4", "requests.memory": "16Gi"})]
    assert check_quota(quotas, "large", LARGE, None, None, False) is None


def test_memory_and_storage_shortfalls_name_both_fields() -> None:
    quotas = [
        rq("compute", {"requests.memory": "20Gi"}, {"requests.memory": "10Gi"}),
        rq("storage", {"requests.storage": "6Gi"}, {"requests.storage": "1536Mi"}),
    ]
    message = check_quota(quotas, "large", LARGE, "home", HOME, True)
    assert message is not None
    assert (
        "instance type 'large' needs requests.memory 16Gi but only 10Gi is available "
        "(ResourceQuota 'compute': hard 20Gi, used 10Gi)" in message
    )
    assert (
        "volume 'home' needs requests.storage 5Gi but only 4.5Gi is available "
        "(ResourceQuota 'storage': hard 6Gi, used 1.5Gi)" in message
    )
    assert "choose a smaller instance type, choose a smaller volume" in message


def test_existing_pvc_is_not_counted_again() -> None:
    quotas = [
        rq(
            "storage",
            {"requests.storage": "6Gi", "persistentvolumeclaims": "1"},
            {"requests.storage": "5Gi", "persistentvolumeclaims": "1"},
        )
    ]
    assert check_quota(quotas, "small", SMALL, "home", HOME, False) is None
    message = check_quota(quotas, "small", SMALL, "home", HOME, True)
    assert message is not None
    assert "volume 'home' needs persistentvolumeclaims 1 but only 0 is available" in message


def test_nfs_volume_uses_no_storage_quota() -> None:
    quotas = [rq("storage", {"requests.storage": "0", "persistentvolumeclaims": "0"})]
    assert check_quota(quotas, "small", SMALL, "shared", NFS, True) is None


def test_storage_class_scoped_keys() -> None:
    key = "fast.storageclass.storage.k8s.io/requests.storage"
    quotas = [rq("fast", {key: "4Gi"})]
    message = check_quota(quotas, "small", SMALL, "home", HOME, True)
    assert message is not None and f"volume 'home' needs {key} 5Gi but only 4Gi" in message
    # A Volume without a class falls back to the operator's default class.
    classless = VolumeSpec(type="OnDemandPVC", maxSize="5Gi")
    assert check_quota(quotas, "small", SMALL, "home", classless, True) is None
    assert check_quota(quotas, "small", SMALL, "home", classless, True, storage_class="fast")


def test_requests_follow_request_ratio_like_the_pod() -> None:
    pod, _ = demand("half", HALF, None, include_volume=False)
    res = catalog.resources("half", HALF)
    assert pod["requests.cpu"] == Decimal("0.5") and res["requests"]["cpu"] == "500m"
    assert pod["requests.memory"] == 1024**3 and res["requests"]["memory"] == "1Gi"
    assert pod["limits.cpu"] == 2 and pod["cpu"] == pod["requests.cpu"]
    quotas = [rq("compute", {"requests.cpu": "1", "limits.cpu": "2"}, {"requests.cpu": "500m"})]
    assert check_quota(quotas, "half", HALF, None, None, False) is None


def test_object_counts() -> None:
    quotas = [rq("objects", {"pods": "2", "services": "5"}, {"pods": "2", "services": "1"})]
    message = check_quota(quotas, "small", SMALL, None, None, False)
    assert message is not None
    assert "instance type 'small' needs pods 1 but only 0 is available" in message
    # A count alone is not fixed by a smaller instance type.
    assert "smaller instance type" not in message


def test_overused_quota_shows_zero_available() -> None:
    quotas = [rq("compute", {"limits.cpu": "2"}, {"limits.cpu": "3"})]
    message = check_quota(quotas, "small", SMALL, None, None, False)
    assert message is not None and "but only 0 is available" in message and "used 3" in message


def test_quota_without_status_uses_spec() -> None:
    quotas = [rq("compute", {"limits.cpu": "2"}, status=False)]
    message = check_quota(quotas, "large", LARGE, None, None, False)
    assert message is not None and "hard 2, used 0" in message


@pytest.mark.parametrize(
    ("scopes", "selector", "applies"),
    [
        (["NotTerminating", "NotBestEffort"], None, True),
        (["BestEffort"], None, False),
        (["Terminating"], None, False),
        (None, [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}], False),
        (None, [{"scopeName": "PriorityClass", "operator": "DoesNotExist"}], True),
        (None, [{"scopeName": "PriorityClass", "operator": "NotIn", "values": ["high"]}], True),
        (["CrossNamespacePodAffinity"], None, False),
    ],
)
def test_scopes(scopes: list[str] | None, selector: Any, applies: bool) -> None:
    quota = rq("scoped", {"limits.cpu": "1"}, scopes=scopes, selector=selector)
    assert quota_applies_to_pod(quota) is applies
    message = check_quota([quota], "large", LARGE, None, None, False)
    assert (message is not None) is applies


def test_scoped_quota_ignores_storage() -> None:
    quota = rq("pods-only", {"requests.storage": "1Gi"}, scopes=["NotBestEffort"])
    assert check_quota([quota], "small", SMALL, "home", HOME, True) is None


@pytest.mark.parametrize(
    ("value", "resource", "text"),
    [
        (Decimal("0.5"), "limits.cpu", "500m"),
        (Decimal(3), "requests.cpu", "3"),
        (Decimal(1536 * 1024**2), "requests.memory", "1.5Gi"),
        (Decimal(512 * 1024**2), "requests.storage", "512Mi"),
        (Decimal(100), "memory", "100"),
        (Decimal(2), "pods", "2"),
    ],
)
def test_format_quantity(value: Decimal, resource: str, text: str) -> None:
    assert format_quantity(value, resource) == text
