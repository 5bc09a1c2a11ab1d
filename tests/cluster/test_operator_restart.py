"""Restarts: the operator converges after a crash and writes nothing when nothing changed.

Writes are counted by the API server (its audit log), not by the operator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyter_containers.api.models import InstanceTypeSpec, JupyterContainerSpec
from jupyter_containers.core import naming
from jupyter_containers.core.builders import (
    BuildInputs,
    build_deployment,
    build_service,
    build_token_secret,
)
from jupyter_containers.core.settings import Settings
from tests.cluster.conftest import (
    CATALOG,
    REPO,
    container_manifest,
    events_about,
    get_jc,
    jupyterlab_image,
    scenario,
)

pytestmark = pytest.mark.cluster

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
OPERATOR_AGENTS = ("kopf/", "python-httpx")


def audit_log(cluster: Any) -> Path:
    if not getattr(cluster, "local", False):
        pytest.skip("needs the local control plane's audit log (KUBECONFIG cluster given)")
    import subprocess

    out = subprocess.run(
        [str(REPO / "tools/cluster.sh"), "audit-log-path"],
        capture_output=True,
        text=True,
        check=True,
        env=cluster.env,
    )
    return Path(out.stdout.strip())


def operator_writes(log: Path, offset: int, namespace: str) -> list[dict[str, Any]]:
    """Write requests the operator made to objects in `namespace` since `offset`."""
    seen: dict[str, dict[str, Any]] = {}
    with log.open("rb") as f:
        f.seek(offset)
        for line in f:
            if not line.endswith(b"\n"):
                break  # the API server is still writing this line
            entry = json.loads(line)
            ref = entry.get("objectRef") or {}
            if (
                entry.get("verb") in WRITE_VERBS
                and ref.get("namespace") == namespace
                and str(entry.get("userAgent", "")).startswith(OPERATOR_AGENTS)
            ):
                seen[entry["auditID"]] = entry
    return list(seen.values())


def describe(writes: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{w['verb']} {w['objectRef'].get('resource')}/{w['objectRef'].get('subresource') or ''}"
        f" {w['objectRef'].get('name')}"
        for w in writes
    )


def settle(log: Path, namespace: str, quiet: float = 3.0, limit: float = 30.0) -> None:
    """Wait until the operator has made no write in `namespace` for `quiet` seconds."""
    start = time.monotonic()
    offset = log.stat().st_size
    last_change = time.monotonic()
    while time.monotonic() - start < limit:
        time.sleep(0.5)
        size = log.stat().st_size
        if operator_writes(log, offset, namespace):
            offset, last_change = size, time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            return
        offset = size
    raise AssertionError(f"operator still writing in {namespace} after {limit}s")


def bundle_list(kubectl: Any, namespace: str) -> list[str]:
    bundle = json.loads(
        kubectl("get", "resourcebundle", "team", "-n", namespace, "-o", "json").stdout
    )
    return list((bundle.get("status") or {}).get("containers") or [])


@pytest.fixture
def stopped_operator(operator: Any) -> Iterator[Any]:
    """The session's operator stopped for the test, and running again afterwards."""
    operator.stop()
    yield operator
    if operator.proc is None:
        operator.start()


def test_restart_over_existing_containers_makes_no_write(
    cluster: Any,
    kubectl: Any,
    namespace: str,
    operator: Any,
    make_container: Callable[..., Any],
    wait_phase: Callable[..., Any],
) -> None:
    log = audit_log(cluster)
    make_container("active", volume="test-home")
    make_container("stopped", volume="test-home", running=False)
    make_container("failed", tags=scenario("crashloop"))
    wait_phase("active", "Active")
    wait_phase("stopped", "Stopped")
    wait_phase("failed", "Failed")
    # The bundle's list is written at most every 10 s (bundles.WRITE_INTERVAL): wait for it,
    # so the state before the restart is the settled one.
    deadline = time.monotonic() + 30
    while bundle_list(kubectl, namespace) != ["active", "failed", "stopped"]:
        assert time.monotonic() < deadline, f"bundle lists {bundle_list(kubectl, namespace)}"
        time.sleep(0.5)
    settle(log, namespace)

    offset = log.stat().st_size
    operator.restart()
    # The restarted operator lists everything, reconciles every container once, and
    # should find nothing to do. Give it the time it would need to write.
    time.sleep(5)
    writes = operator_writes(log, offset, namespace)
    assert writes == [], f"writes after restart:\n{describe(writes)}"
    assert get_jc(cluster, namespace, "active")["status"]["phase"] == "Active"


def test_idle_operator_makes_no_write(
    cluster: Any,
    namespace: str,
    make_container: Callable[..., Any],
    wait_phase: Callable[..., Any],
) -> None:
    log = audit_log(cluster)
    make_container("idle", volume="test-home")
    wait_phase("idle", "Active")
    settle(log, namespace)
    offset = log.stat().st_size
    time.sleep(10)
    assert operator_writes(log, offset, namespace) == []


def test_killed_between_deployment_and_status_converges_without_duplicates(
    cluster: Any,
    kubectl: Any,
    namespace: str,
    bundle: str,
    stopped_operator: Any,
    wait_phase: Callable[..., Any],
) -> None:
    # State as a crash would leave it: the container exists, its Secret, Deployment and
    # Service were applied by the operator, but no status was written yet.
    manifest = container_manifest("crashed", bundle)
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))
    jc = get_jc(cluster, namespace, "crashed")
    small = next(
        d["spec"] for d in yaml.safe_load_all(CATALOG) if d["metadata"]["name"] == "test-small"
    )
    target = BuildInputs(
        name="crashed",
        domain=namespace,
        uid=jc["metadata"]["uid"],
        spec=JupyterContainerSpec.model_validate(jc["spec"]),
        instance_type_name="test-small",
        instance_type=InstanceTypeSpec.model_validate(small),
        volume_name=None,
        volume=None,
        # The operator's own settings: the test fixtures run it with the local image.
        settings=Settings(jupyter_image=jupyterlab_image()),
        attempt=1,
    )
    objects = [
        build_token_secret(target, "a-token-from-before-the-crash-0123456789"),
        build_deployment(target),
        build_service(target),
    ]
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=jupyter-containers",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump_all(objects),
    )
    before = json.loads(
        kubectl("get", "deploy", "jc-crashed", "-n", namespace, "-o", "json").stdout
    )

    stopped_operator.start()
    jc = wait_phase("crashed", "Active")

    after = json.loads(kubectl("get", "deploy", "jc-crashed", "-n", namespace, "-o", "json").stdout)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    # Adopted as it was: the Deployment was not rewritten, so no new ReplicaSet or pod.
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    replicasets = json.loads(kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)["items"]
    assert len(replicasets) == 1
    assert (
        len(json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]) == 1
    )
    secret = kubectl(
        "get", "secret", jc["status"]["tokenSecret"], "-n", namespace, "-o", "json"
    ).stdout
    assert json.loads(secret)["metadata"]["name"] == "jc-crashed-token"
    assert naming.FINALIZER in jc["metadata"]["finalizers"]
    labelled = kubectl(
        "get",
        "deploy,svc,secret,pvc",
        "-n",
        namespace,
        "-l",
        f"{naming.UID_LABEL}={jc['metadata']['uid']}",
        "-o",
        "name",
    ).stdout.split()
    assert sorted(labelled) == [
        "deployment.apps/jc-crashed",
        "secret/jc-crashed-token",
        "service/jc-crashed",
    ]


def test_pod_warnings_are_mirrored_once_and_counted(
    kubectl: Any,
    namespace: str,
    make_container: Callable[..., Any],
    wait_phase: Callable[..., Any],
    operator: Any,
) -> None:
    make_container("noisy", instanceType="test-gpu-only")
    jc = wait_phase("noisy", "Failed", reason="Unschedulable")

    def mirrored() -> list[dict[str, Any]]:
        return events_about(
            kubectl, namespace, "JupyterContainer", "noisy", reason="FailedScheduling"
        )

    events = mirrored()
    assert len(events) == 1, events
    assert "didn't match Pod's node affinity/selector" in events[0]["message"]
    assert jc["status"]["events"]["warnings"] >= 1
    assert jc["status"]["events"]["total"] >= jc["status"]["events"]["warnings"]
    operator.restart()
    time.sleep(3)
    assert len(mirrored()) == 1, "a restart mirrored the warning again"
