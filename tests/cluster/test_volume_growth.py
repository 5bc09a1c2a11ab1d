"""Growing a home volume on a real API server: the same PVC grows, or a clear refusal.

The local cluster simulates the storage: kwok's volume stages provision and bind the PVCs, and
its `pvc-resize` Stage (tools/kwok/stages/volume.yaml) plays the external resizer, setting a
grown PVC's status.capacity to its request. Class `kwok-volume` allows expansion,
`kwok-volume-fixed` does not (tools/kwok/storage-class.yaml): the refusals are the webhook's,
the growth is the operator's patch of its own PVC (status.storage reports it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from jupyter_containers.api import rules
from tests.cluster.cli_fixtures import Plugin, jup, webhooks_ready  # fixtures are used by name
from tests.cluster.conftest import get_jc

pytestmark = pytest.mark.cluster
__all__ = ["jup", "webhooks_ready"]

Wait = Callable[..., dict[str, Any]]
Make = Callable[..., dict[str, Any]]

VOLUMES = """
apiVersion: jupytercontainers.io/v1alpha1
kind: Volume
metadata: {name: grow-home}
spec: {type: OnDemandPVC, maxSize: 3Gi, storageClassName: kwok-volume}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: Volume
metadata: {name: grow-fixed}
spec: {type: OnDemandPVC, maxSize: 3Gi, storageClassName: kwok-volume-fixed}
"""


@pytest.fixture(scope="module")
def growth_volumes(cluster: Any, crds: Any) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=VOLUMES)


def pvc_of(kubectl: Any, namespace: str, name: str) -> dict[str, Any]:
    out = kubectl(
        "get", "pvc", "-n", namespace, "-l", f"jupytercontainers.io/name={name}", "-o", "json"
    )
    (pvc,) = json.loads(out.stdout)["items"]
    return pvc


def patch(kubectl: Any, namespace: str, name: str, **spec: Any) -> Any:
    return kubectl(
        "patch",
        "jc",
        name,
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": spec}),
        check=False,
    )


def refused(result: Any, *words: str) -> None:
    assert result.returncode != 0, result.stdout
    for word in words:
        assert word in result.stderr, result.stderr


def wait_storage(
    cluster: Any, namespace: str, name: str, resize: str, timeout: float = 30
) -> dict[str, Any]:
    """Until status.storage.resize is `resize` (the status follows the PVC's watch events)."""
    deadline = time.monotonic() + timeout
    while True:
        storage = get_jc(cluster, namespace, name)["status"].get("storage") or {}
        if storage.get("resize") == resize or time.monotonic() > deadline:
            assert storage.get("resize") == resize, storage
            return storage
        time.sleep(0.5)


def stopped_with_a_pvc(
    kubectl: Any, namespace: str, make: Make, wait: Wait, name: str, **spec: Any
) -> dict[str, Any]:
    make(name, **spec)
    wait(name, "Active")
    patch(kubectl, namespace, name, running=False)
    wait(name, "Stopped", reason="Stopped")
    return pvc_of(kubectl, namespace, name)


def test_a_stopped_container_grows_its_pvc_in_place(
    cluster: Any,
    kubectl: Any,
    namespace: str,
    make_container: Make,
    wait_phase: Wait,
    jup: Plugin,
    growth_volumes: None,
) -> None:
    make_container("lab", volume="grow-home", volumeSize="1Gi")
    wait_phase("lab", "Active")
    pvc = pvc_of(kubectl, namespace, "lab")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"

    # While Active: the configuration is locked (the CRD's rule, webhook or not).
    refused(patch(kubectl, namespace, "lab", volumeSize="2Gi"), rules.MSG_STOP_BEFORE_CONFIGURING)

    patch(kubectl, namespace, "lab", running=False)
    wait_phase("lab", "Stopped", reason="Stopped")
    refused(
        patch(kubectl, namespace, "lab", volumeSize="512Mi"),
        "spec.volumeSize: 512Mi is smaller than 1Gi; a volume never shrinks",
    )
    refused(
        patch(kubectl, namespace, "lab", volumeSize="4Gi"),
        "spec.volumeSize: 4Gi is above the maximum size of Volume 'grow-home' (its "
        "spec.maxSize, 3Gi)",
        "ask an admin to raise the maxSize",
    )

    # Through the plugin, as a user would.
    jup("configure", "lab", "--volume-size", "2Gi", "--yes")
    storage = wait_storage(cluster, namespace, "lab", "Done")
    assert storage["requested"] == "2Gi" and storage["capacity"] == "2Gi"
    grown = pvc_of(kubectl, namespace, "lab")
    assert grown["metadata"]["uid"] == pvc["metadata"]["uid"]  # the same PVC: no data lost
    assert grown["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert "Volume size:" in jup("describe", "lab").stdout

    # It starts again on the same, larger PVC.
    patch(kubectl, namespace, "lab", running=True)
    jc = wait_phase("lab", "Active")
    assert jc["status"]["volume"] == "grow-home (On Demand PVC, 2Gi)"
    assert pvc_of(kubectl, namespace, "lab")["metadata"]["uid"] == pvc["metadata"]["uid"]


def test_a_class_without_expansion_is_refused_naming_it(
    cluster: Any,
    kubectl: Any,
    namespace: str,
    make_container: Make,
    wait_phase: Wait,
    growth_volumes: None,
) -> None:
    pvc = stopped_with_a_pvc(
        kubectl, namespace, make_container, wait_phase, "fixed", volume="grow-fixed"
    )
    assert pvc["spec"]["resources"]["requests"]["storage"] == "3Gi"  # maxSize by default
    # Bigger than the PVC needs expansion; the class's maximum is what the Volume allows.
    refused(patch(kubectl, namespace, "fixed", volumeSize="4Gi"), "above the maximum size")
    kubectl(
        "patch",
        "volume",
        "grow-fixed",
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"maxSize": "5Gi"}}),
    )
    try:
        refused(
            patch(kubectl, namespace, "fixed", volumeSize="4Gi"),
            "StorageClass 'kwok-volume-fixed' of PVC",
            "does not allow volume expansion",
            "allowVolumeExpansion: true",
        )
    finally:
        kubectl(
            "patch",
            "volume",
            "grow-fixed",
            "--type",
            "merge",
            "-p",
            json.dumps({"spec": {"maxSize": "3Gi"}}),
        )
    after = pvc_of(kubectl, namespace, "fixed")
    assert after["metadata"]["uid"] == pvc["metadata"]["uid"]
    assert after["spec"]["resources"]["requests"]["storage"] == "3Gi"
