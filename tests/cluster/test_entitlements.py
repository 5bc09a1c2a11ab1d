"""Image catalog and entitlements against the real API server and webhook (issue 15).

One test, several cases: admission by group and by bundle, the listings each user gets, and
the re-check at start after an entitlement is withdrawn (the operator, as the lifecycle's
InvalidConfiguration, and the start once it is given back).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.cluster.cli_fixtures import (  # fixtures are used by name
    Plugin,
    bundle_manifest,
    jup,
    user_roles,
    users,
    webhooks_ready,
)
from tests.cluster.conftest import container_manifest

pytestmark = pytest.mark.cluster
__all__ = ["jup", "user_roles", "users", "webhooks_ready"]

GPU_GROUP = "test-gpu-team"


def _catalog(namespace: str, gpu_groups: list[str]) -> str:
    # Order 1000: never the default instance type of other tests' admins.
    return yaml.safe_dump_all(
        [
            {
                "apiVersion": "jupytercontainers.io/v1alpha1",
                "kind": "InstanceType",
                "metadata": {"name": "ent-gpu"},
                "spec": {"cpu": "1", "memory": "1Gi", "order": 1000, "allowedGroups": gpu_groups},
            },
            {
                "apiVersion": "jupytercontainers.io/v1alpha1",
                "kind": "JupyterImage",
                "metadata": {"name": "ent-cuda"},
                "spec": {
                    "image": "registry.example/cuda-lab:1",
                    "digest": "sha256:" + "c" * 64,
                    "allowedGroups": [GPU_GROUP],
                },
            },
            {
                "apiVersion": "jupytercontainers.io/v1alpha1",
                "kind": "Volume",
                "metadata": {"name": "ent-share"},
                "spec": {
                    "type": "OnDemandPVC",
                    "maxSize": "1Gi",
                    "storageClassName": "kwok-volume",
                    "allowedBundles": [f"{namespace}/team"],
                },
            },
        ]
    )


def _offer(jup: Plugin, user: str, *args: str, groups: tuple[str, ...] = ()) -> dict[str, set]:
    out = json.loads(jup("catalog", "-o", "json", *args, as_user=user, as_groups=groups).stdout)
    return {kind: {entry["name"] for entry in entries} for kind, entries in out.items()}


def test_entitlements_at_admission_in_listings_and_at_start(
    cluster: Any,
    namespace: str,
    jup: Plugin,
    users: tuple[str, ...],
    wait_phase: Callable[..., dict[str, Any]],
) -> None:
    cluster.kubectl("apply", "-f", "-", input=_catalog(namespace, [GPU_GROUP]))
    grant = {"users": ["bob"], "permissions": ["view", "update", "start-stop"]}
    cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=bundle_manifest("team", "alice", grant)
    )
    try:
        _check(cluster, namespace, jup, wait_phase)
    finally:
        cluster.kubectl("delete", "jc", "--all", "-n", namespace, "--wait=false", check=False)
        cluster.kubectl(
            "delete", "instancetype/ent-gpu", "jupyterimage/ent-cuda", "volume/ent-share",
            "--wait=false", check=False,
        )  # fmt: skip


def _apply(cluster: Any, namespace: str, user: str, groups: tuple[str, ...], **spec: Any) -> Any:
    name = spec.pop("name")
    manifest = container_manifest(name, "team", running=False, **spec)
    return cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest),
        as_user=user, as_groups=groups, check=False,
    )  # fmt: skip


def _check(
    cluster: Any, namespace: str, jup: Plugin, wait_phase: Callable[..., dict[str, Any]]
) -> None:
    gpu = (GPU_GROUP,)
    # Admission by group: alice is in no group that may use the GPU entries.
    refused = _apply(cluster, namespace, "alice", (), name="a1", image="ent-cuda")
    assert refused.returncode != 0
    assert (
        f"spec.image: JupyterImage 'ent-cuda' is not offered to bundle '{namespace}/team' or "
        "your groups; choose one of the images you may use (" in refused.stderr
    ), refused.stderr
    assert "scipy" in refused.stderr and "remove spec.image for the default" in refused.stderr
    refused = _apply(cluster, namespace, "alice", (), name="a2", instanceType="ent-gpu")
    assert refused.returncode != 0
    assert "spec.instanceType: InstanceType 'ent-gpu' is not offered" in refused.stderr
    # An image reference is no catalog name (the CRD's rule, before the webhook).
    refused = _apply(cluster, namespace, "alice", (), name="a3", image="quay.io/x/y:1")
    assert refused.returncode != 0 and "spec.image: names a JupyterImage" in refused.stderr
    # Admission by bundle: the volume is this bundle's, for anyone who may use the bundle.
    assert _apply(cluster, namespace, "alice", (), name="a4", volume="ent-share").returncode == 0
    # bob is in the group: image, instance type and the bundle's volume.
    made = _apply(
        cluster, namespace, "bob", gpu, name="gpu-nb", image="ent-cuda", instanceType="ent-gpu"
    )
    assert made.returncode == 0, made.stderr

    # The listings: each user sees only what they may pick.
    alice = _offer(jup, "alice")
    assert "ent-cuda" not in alice["images"] and {"scipy", "x"} <= alice["images"]
    assert "ent-gpu" not in alice["instanceTypes"] and "ent-share" not in alice["volumes"]
    assert "ent-share" in _offer(jup, "alice", "--bundle", "team")["volumes"]
    bob = _offer(jup, "bob", groups=gpu)
    assert "ent-cuda" in bob["images"] and "ent-gpu" in bob["instanceTypes"]
    cuda = json.loads(jup("catalog", "-o", "json", as_user="bob", as_groups=gpu).stdout)
    pinned = next(i for i in cuda["images"] if i["name"] == "ent-cuda")
    assert pinned["image"] == "registry.example/cuda-lab:1@sha256:" + "c" * 64

    # Re-check at start: the group loses the instance type; bob's start is admitted (the
    # spec keeps its choice) and the operator refuses it for the creator's groups.
    cluster.kubectl("apply", "-f", "-", input=_catalog(namespace, ["someone-else"]))
    started = cluster.kubectl(
        "patch", "jc", "gpu-nb", "-n", namespace, "--type=merge", "-p",
        '{"spec": {"running": true}}', as_user="bob", as_groups=gpu, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    failed = wait_phase("gpu-nb", "Failed", reason="InvalidConfiguration", timeout=60)
    assert (
        f"spec.instanceType: InstanceType 'ent-gpu' is not offered to bundle '{namespace}/team' "
        "or the groups of the container's creator bob" in failed["status"]["message"]
    ), failed["status"]
    # Given back, the container starts by itself, running the pinned image.
    cluster.kubectl("apply", "-f", "-", input=_catalog(namespace, [GPU_GROUP]))
    wait_phase("gpu-nb", "Active", timeout=90)
    deployment = json.loads(
        cluster.kubectl(
            "get",
            "deployments",
            "-n",
            namespace,
            "-l",
            "jupytercontainers.io/name=gpu-nb",
            "-o",
            "json",
        ).stdout
    )["items"][0]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example/cuda-lab:1@sha256:" + "c" * 64
