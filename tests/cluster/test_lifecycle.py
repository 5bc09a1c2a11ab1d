"""The manual's lifecycle on a real API server: every row, every failure, stop/start/delete.

Pod outcomes come from the local cluster's kwok stages, selected with a tag.
Each test asserts the status (phase, reason, message) and the Kubernetes objects.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from jupyter_containers.api import jupyterlab_policy
from jupyter_containers.core.status import EVENT_COUNT_DELAY
from tests.cluster.conftest import (
    events_about,
    eventually,
    get_jc,
    jupyterlab_image,
    scenario,
)

pytestmark = pytest.mark.cluster

Wait = Callable[..., dict[str, Any]]
Make = Callable[..., dict[str, Any]]


def objects(kubectl: Any, namespace: str, kind: str) -> list[dict[str, Any]]:
    out = kubectl("get", kind, "-n", namespace, "-l", "jupytercontainers.io/name", "-o", "json")
    return json.loads(out.stdout)["items"]


def names(kubectl: Any, namespace: str, kind: str) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objects(kubectl, namespace, kind))


def transitions(kubectl: Any, namespace: str, name: str) -> list[str]:
    """The container's phase transitions, oldest first, from its Kubernetes Events."""
    # resourceVersion orders writes; event timestamps have one-second resolution.
    events = sorted(
        events_about(kubectl, namespace, "JupyterContainer", name),
        key=lambda e: int(e["metadata"]["resourceVersion"]),
    )
    return [e["message"].split(":", 1)[0] for e in events if " -> " in e["message"].split(":")[0]]


def patch_spec(kubectl: Any, domain: str, name: str, **spec: Any) -> None:
    kubectl("patch", "jc", name, "-n", domain, "--type", "merge", "-p", json.dumps({"spec": spec}))


def token_of(kubectl: Any, namespace: str, secret: str) -> str:
    out = kubectl("get", "secret", secret, "-n", namespace, "-o", "jsonpath={.data.token}")
    return base64.b64decode(out.stdout).decode()


# ---------------------------------------------------------------- (new) -> Starting -> Active


def test_new_container_goes_starting_then_active_with_all_its_objects(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container(
        "lab",
        volume="test-home",
        env=[{"name": "TEAM", "value": "ds"}],
        args=["--ServerApp.terminado_settings={'shell_command': ['/bin/bash']}"],
        tags={"team": "ds"},
    )
    jc = wait_phase("lab", "Active", reason="Ready")
    status = jc["status"]
    # Entering Starting answers the user's own request: only outcomes are posted as Events.
    assert transitions(kubectl, namespace, "lab") == ["Starting -> Active"]
    assert status["instance"] == {
        "name": "test-small",
        "cpu": "1",
        "memory": "2Gi",
        "display": status["instance"]["display"],
    }
    assert "1 CPU" in status["instance"]["display"] and "2Gi" in status["instance"]["display"]
    assert status["volume"].startswith("test-home")
    assert status["deploymentNamespace"] == namespace
    assert status["observedGeneration"] == jc["metadata"]["generation"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    # kstatus: kubectl wait on the Ready condition works.
    kubectl("wait", "jc/lab", "-n", namespace, "--for=condition=Ready", "--timeout=10s")

    (deploy,) = objects(kubectl, namespace, "deployments")
    assert deploy["metadata"]["name"] == status["serviceName"] == "jc-lab"
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["strategy"]["type"] == "Recreate"
    pod_spec = deploy["spec"]["template"]["spec"]
    (container,) = pod_spec["containers"]
    assert container["imagePullPolicy"] == "Always"
    assert container["args"][:5] == [
        "--ip=0.0.0.0",
        "--port=8888",
        f"--ServerApp.base_url=/jupyter/{namespace}/lab/",
        "--ServerApp.allow_origin=",
        "--IdentityProvider.token=$(JUPYTER_TOKEN)",
    ]
    # Then the security traits the platform pins (jupyterlab_policy), then the user's.
    pinned = jupyterlab_policy.pinned_args("$(JUPYTER_TOKEN)", "/home/jovyan")
    assert container["args"][5:] == [
        *pinned,
        "--ServerApp.terminado_settings={'shell_command': ['/bin/bash']}",
    ]
    assert {"name": "PYTHONNOUSERSITE", "value": "1"} in container["env"]
    env = {e["name"]: e for e in container["env"]}
    assert env["JUPYTER_ENABLE_LAB"]["value"] == "true"
    assert env["RESTARTABLE"]["value"] == "yes"
    assert env["TEAM"]["value"] == "ds"
    assert env["JUPYTER_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": status["tokenSecret"],
        "key": "token",
    }
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert {"mountPath": "/home/jovyan", "name": "home"} in [
        {k: m[k] for k in ("mountPath", "name")} for m in container["volumeMounts"]
    ]
    # Tags on the Deployment, never on the pod (where they would steer other controllers).
    assert deploy["metadata"]["annotations"]["team"] == "ds"
    assert "team" not in deploy["spec"]["template"]["metadata"]["annotations"]

    assert names(kubectl, namespace, "services") == ["jc-lab"]
    (pvc,) = objects(kubectl, namespace, "pvc")
    assert pvc["metadata"]["name"] == status["pvcName"]
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert len(token_of(kubectl, namespace, status["tokenSecret"])) >= 32
    # The token is in the Secret only: not in the status, not in the pod spec.
    assert token_of(kubectl, namespace, status["tokenSecret"]) not in json.dumps(jc)
    assert token_of(kubectl, namespace, status["tokenSecret"]) not in json.dumps(deploy)

    listing = kubectl("get", "jc", "-n", namespace).stdout.splitlines()
    assert listing[0].split() == [
        "NAME",
        "STATUS",
        "INSTANCE",
        "NAMESPACE",
        "VOLUME",
        "BUNDLE",
        "AGE",
    ]
    assert listing[1].split()[:2] == ["lab", "Active"]
    # The console's status and namespace filters, served by the API server.
    selected = kubectl(
        "get",
        "jc",
        "-n",
        namespace,
        "--field-selector",
        f"status.phase=Active,status.deploymentNamespace={namespace}",
        "-o",
        "name",
    ).stdout.split()
    assert selected == ["jupytercontainer.jupytercontainers.io/lab"]
    none = kubectl(
        "get", "jc", "-n", namespace, "--field-selector", "status.phase=Failed", "-o", "name"
    )
    assert none.stdout.split() == []


def test_no_volume_is_shown_as_no_volume_and_mounts_no_home(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("bare")
    jc = wait_phase("bare", "Active")
    assert jc["status"]["volume"] == "No volume"
    assert objects(kubectl, namespace, "pvc") == []
    (deploy,) = objects(kubectl, namespace, "deployments")
    # Only the platform's read-only JupyterLab config directory (core/builders.py).
    volumes = deploy["spec"]["template"]["spec"]["volumes"]
    assert [v["name"] for v in volumes] == ["jupyter-config"]
    assert "downwardAPI" in volumes[0]


# ---------------------------------------------------------------- Active -> Stopped -> Starting


def test_terminate_keeps_pvc_and_token_and_start_reuses_them(
    cluster: Any, kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("lab", volume="test-home")
    jc = wait_phase("lab", "Active")
    (pvc,) = objects(kubectl, namespace, "pvc")
    token = token_of(kubectl, namespace, jc["status"]["tokenSecret"])

    patch_spec(kubectl, namespace, "lab", running=False)
    jc = wait_phase("lab", "Stopped", reason="Stopped")
    assert names(kubectl, namespace, "deployments") == []
    assert names(kubectl, namespace, "services") == []
    assert jc["status"]["stoppedAt"]
    ready = next(c for c in jc["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"

    patch_spec(kubectl, namespace, "lab", running=True)
    jc = wait_phase("lab", "Active")
    (pvc_after,) = objects(kubectl, namespace, "pvc")
    assert pvc_after["metadata"]["uid"] == pvc["metadata"]["uid"]
    assert token_of(kubectl, namespace, jc["status"]["tokenSecret"]) == token
    assert jc["status"]["attempt"] == 2
    assert transitions(kubectl, namespace, "lab") == [
        "Starting -> Active",
        "Active -> Stopped",
        "Starting -> Active",
    ]
    # The event counts are the current pod's, not the first attempt's pod's too (a Normal
    # Event after Active, such as a late `Scheduled`, waits for the next status write, at most
    # core.status.EVENT_COUNT_DELAY).
    pod = jc["status"]["podName"]
    deadline = time.monotonic() + EVENT_COUNT_DELAY + 30
    while True:
        counted = get_jc(cluster, namespace, "lab")["status"]["events"]
        events = events_about(kubectl, namespace, "Pod", pod)
        seen = {
            "warnings": sum(1 for e in events if e.get("type") == "Warning"),
            "total": len(events),
        }
        if (counted["warnings"], counted["total"]) == (seen["warnings"], seen["total"]):
            break
        assert time.monotonic() < deadline, f"status counts {counted} events, pod {pod} has {seen}"
        time.sleep(0.5)


def test_terminate_while_starting(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("slow", tags=scenario("never-ready"))
    wait_phase("slow", "Starting", reason="ContainerStarting")
    patch_spec(kubectl, namespace, "slow", running=False)
    wait_phase("slow", "Stopped")
    assert names(kubectl, namespace, "deployments") == []


def test_created_with_running_false_is_stopped_and_deploys_nothing(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("later", running=False, volume="test-home")
    wait_phase("later", "Stopped")
    assert names(kubectl, namespace, "deployments") == []
    assert names(kubectl, namespace, "services") == []


# ---------------------------------------------------------------- failures


FAILURES = [
    ("crashloop", "CrashLoopBackOff", "exit code 1"),
    ("oomkilled-at-start", "OOMKilled", "2Gi memory limit"),
    # The image the operator runs with (the local registry's JupyterLab; kwok pulls nothing).
    ("errimagepull", "ImagePullFailed", jupyterlab_image().rsplit(":", 1)[0]),
    ("invalidimage", "InvalidImageName", "image"),
    ("configerror", "CreateContainerConfigError", "not found"),
    ("error-exit", "ContainerExitedWithError", "exit code 1"),
    ("pod-failed", "PodFailed", "Evicted"),
]


@pytest.mark.parametrize(("outcome", "reason", "fragment"), FAILURES, ids=[f[0] for f in FAILURES])
def test_pod_failure_is_reported_with_reason_and_keeps_the_pod(
    kubectl: Any,
    namespace: str,
    make_container: Make,
    wait_phase: Wait,
    outcome: str,
    reason: str,
    fragment: str,
) -> None:
    make_container("broken", tags=scenario(outcome))
    jc = wait_phase("broken", "Failed", reason=reason)
    assert fragment in jc["status"]["message"]
    stalled = next(c for c in jc["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True"
    # The Deployment and its pod stay, so logs and events remain readable.
    assert names(kubectl, namespace, "deployments") == ["jc-broken"]
    assert jc["status"]["podName"] in names(kubectl, namespace, "pods")
    assert transitions(kubectl, namespace, "broken")[-1].endswith("-> Failed")
    # `kubectl get jc -o wide` shows the message, as the console's hover did.
    wide = kubectl("get", "jc", "broken", "-n", namespace, "-o", "wide").stdout
    assert "Failed" in wide and jc["status"]["message"][:40] in wide


def test_active_container_that_crashes_at_runtime_fails(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("oom", tags=scenario("oomkilled"))
    wait_phase("oom", "Failed", reason="OOMKilled", timeout=60)
    assert transitions(kubectl, namespace, "oom") == ["Starting -> Active", "Active -> Failed"]


def test_unschedulable_past_the_grace_period_fails_with_the_schedulers_message(
    namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("nowhere", instanceType="test-gpu-only")
    jc = wait_phase("nowhere", "Failed", reason="Unschedulable", timeout=60)
    assert "node" in jc["status"]["message"] and "selector" in jc["status"]["message"]


def test_pvc_that_never_binds_fails_with_volume_failed(
    namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("nopvc", volume="test-unbound")
    jc = wait_phase("nopvc", "Failed", reason="VolumeFailed", timeout=60)
    assert "PersistentVolumeClaim" in jc["status"]["message"]


def test_start_deadline_exceeded(namespace: str, make_container: Make, wait_phase: Wait) -> None:
    make_container("stuck", tags=scenario("never-ready"))
    jc = wait_phase("stuck", "Failed", reason="StartDeadlineExceeded", timeout=90)
    assert "40s" in jc["status"]["message"] or "40 s" in jc["status"]["message"]


def test_quota_refusal_at_start_fails_with_quota_exceeded(
    kubectl: Any, apply_yaml: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("big", running=False)
    wait_phase("big", "Stopped")
    apply_yaml(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "tight"},
            "spec": {"hard": {"limits.memory": "1Gi", "limits.cpu": "4"}},
        },
        namespace=namespace,
    )
    kubectl(
        "wait",
        "resourcequota/tight",
        "-n",
        namespace,
        "--for=jsonpath={.status.hard.limits\\.memory}=1Gi",
        "--timeout=30s",
    )
    patch_spec(kubectl, namespace, "big", running=True)
    jc = wait_phase("big", "Failed", reason="QuotaExceeded", timeout=60)
    assert "limits.memory" in jc["status"]["message"]
    assert "1Gi" in jc["status"]["message"]


# ---------------------------------------------------------------- Failed -> Starting


def test_failed_container_started_again_gets_a_fresh_pod(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("flaky", tags=scenario("crashloop"))
    jc = wait_phase("flaky", "Failed", reason="CrashLoopBackOff")
    first_pod = jc["status"]["podName"]
    # Start again (the plugin's `start` does this): a new attempt, still crashing.
    kubectl(
        "annotate",
        "jc",
        "flaky",
        "-n",
        namespace,
        "--overwrite",
        "jupytercontainers.io/start-requested=2026-01-01T00:00:00Z",
    )
    jc = wait_phase("flaky", "Failed", reason="CrashLoopBackOff")
    assert jc["status"]["attempt"] == 2
    assert jc["status"]["podName"] != first_pod
    # Fixing the configuration while Failed is saved and starts a new attempt.
    kubectl(
        "patch",
        "jc",
        "flaky",
        "-n",
        namespace,
        "--type",
        "json",
        "-p",
        json.dumps([{"op": "replace", "path": "/spec/tags", "value": {"fixed": "yes"}}]),
    )
    jc = wait_phase("flaky", "Active")
    assert jc["status"]["attempt"] == 3
    moves = transitions(kubectl, namespace, "flaky")
    assert sum(m.endswith("-> Failed") for m in moves) == 2 and moves[-1] == "Starting -> Active"


# ---------------------------------------------------------------- delete


def test_delete_removes_everything_and_the_name_is_free_at_once(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("gone", volume="test-home")
    wait_phase("gone", "Active")
    kubectl("delete", "jc", "gone", "-n", namespace, "--timeout=60s")
    for kind in ("deployments", "services", "pvc", "secrets"):
        remaining = [
            o
            for o in objects(kubectl, namespace, kind)
            if not o["metadata"].get("deletionTimestamp")
        ]
        assert remaining == [], kind
    # The name is reusable right away, with a new PVC.
    make_container("gone", volume="test-home")
    jc = wait_phase("gone", "Active", timeout=90)
    assert jc["status"]["attempt"] == 1


def test_a_service_and_deployment_deleted_by_hand_are_made_again(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    """The operator's memo of its own applies must not take a deleted child for up to date."""
    make_container("heal")
    wait_phase("heal", "Active")
    before = {k: objects(kubectl, namespace, k)[0]["metadata"]["uid"] for k in ("svc", "deploy")}
    kubectl("delete", "service", "jc-heal", "-n", namespace, "--wait=true")

    def remade(kind: str) -> str | None:
        live = [o for o in objects(kubectl, namespace, kind) if o["metadata"]["name"] == "jc-heal"]
        uid = live[0]["metadata"]["uid"] if live else None
        return uid if uid not in (None, before[kind]) else None

    eventually("the Service made again", lambda: remade("svc"))
    kubectl("delete", "deployment", "jc-heal", "-n", namespace, "--wait=true")
    eventually("the Deployment made again", lambda: remade("deploy"))
    jc = wait_phase("heal", "Active")
    assert jc["status"]["attempt"] == 1  # the same attempt, healed: no new start


def test_delete_of_a_failed_container(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("bad", tags=scenario("crashloop"))
    wait_phase("bad", "Failed")
    kubectl("delete", "jc", "bad", "-n", namespace, "--timeout=60s")
    assert names(kubectl, namespace, "deployments") == []


def test_a_pvc_the_operator_did_not_create_is_never_deleted(
    kubectl: Any, apply_yaml: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    # A PVC with the operator's labels but not made for this container (e.g. restored
    # from a backup, or another container's): deleting the container leaves it alone.
    apply_yaml(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": "precious",
                "labels": {
                    "app.kubernetes.io/managed-by": "jupyter-containers-operator",
                    "jupytercontainers.io/domain": namespace,
                    "jupytercontainers.io/name": "lab",
                    "jupytercontainers.io/uid": "00000000-0000-0000-0000-000000000000",
                },
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "kwok-volume",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        namespace=namespace,
    )
    make_container("lab")
    wait_phase("lab", "Active")
    kubectl("delete", "jc", "lab", "-n", namespace, "--timeout=60s")
    assert names(kubectl, namespace, "pvc") == ["precious"]


@pytest.fixture
def other_namespace(kubectl: Any, namespace: str) -> Any:
    """A second namespace, open to the test namespace's domain."""
    name = f"{namespace}-deploy"
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name, f"jupytercontainers.io/deployable={namespace}")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_cross_namespace_container_is_cleaned_up_on_delete(
    kubectl: Any, namespace: str, other_namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("remote", namespace=other_namespace, volume="test-home")
    jc = wait_phase("remote", "Active")
    assert jc["status"]["deploymentNamespace"] == other_namespace
    assert len(names(kubectl, other_namespace, "deployments")) == 1
    assert names(kubectl, namespace, "deployments") == []
    kubectl("delete", "jc", "remote", "-n", namespace, "--timeout=60s")
    for kind in ("deployments", "services", "pvc", "secrets"):
        remaining = [
            o
            for o in objects(kubectl, other_namespace, kind)
            if not o["metadata"].get("deletionTimestamp")
        ]
        assert remaining == [], kind


def test_deleting_the_namespace_of_an_active_container_ends_it_quietly(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait, operator: Any
) -> None:
    """The namespace goes, with the container: the operator still watches the namespace while
    it terminates (kopf alone stopped at the namespace controller's first status, and the
    container's finalizer kept the namespace Terminating for ever), and what it can no longer
    make there (the namespace controller deletes the Service and Deployment before the
    container) is not a failure: no warning, no error, no retry."""
    make_container("doomed")
    wait_phase("doomed", "Active")
    offset = operator.log_path.stat().st_size
    kubectl("delete", "namespace", namespace, "--timeout=50s")
    gone = kubectl("get", "namespace", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr, gone.stdout
    log = operator.log_path.read_bytes()[offset:].decode(errors="replace").splitlines()
    about = [line for line in log if f"{namespace}/doomed" in line or f"/{namespace}/" in line]
    loud = [line for line in about if " WARNING " in line or " ERROR " in line]
    assert loud == [], "\n".join(loud)


def test_namespace_change_while_stopped_moves_the_pvc(
    kubectl: Any, namespace: str, other_namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("mover", volume="test-home")
    wait_phase("mover", "Active")
    (old_pvc,) = objects(kubectl, namespace, "pvc")
    patch_spec(kubectl, namespace, "mover", running=False)
    wait_phase("mover", "Stopped")
    patch_spec(kubectl, namespace, "mover", namespace=other_namespace)
    patch_spec(kubectl, namespace, "mover", running=True)
    jc = wait_phase("mover", "Active", timeout=90)
    assert jc["status"]["deploymentNamespace"] == other_namespace
    (new_pvc,) = objects(kubectl, other_namespace, "pvc")
    assert new_pvc["metadata"]["uid"] != old_pvc["metadata"]["uid"]
    leftovers = [
        o
        for kind in ("deployments", "services", "pvc", "secrets")
        for o in objects(kubectl, namespace, kind)
        if not o["metadata"].get("deletionTimestamp")
    ]
    assert leftovers == []


def test_volume_change_while_stopped_replaces_the_pvc(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("grow", volume="test-home")
    wait_phase("grow", "Active")
    patch_spec(kubectl, namespace, "grow", running=False)
    wait_phase("grow", "Stopped")
    patch_spec(kubectl, namespace, "grow", volume="test-home-large", running=True)
    jc = wait_phase("grow", "Active", timeout=90)
    live = [
        o for o in objects(kubectl, namespace, "pvc") if not o["metadata"].get("deletionTimestamp")
    ]
    assert [p["spec"]["resources"]["requests"]["storage"] for p in live] == ["5Gi"]
    assert jc["status"]["volume"].startswith("test-home-large")


def test_restricted_namespace_accepts_the_pods(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    make_container("secure", volume="test-home")
    wait_phase("secure", "Active")
    assert len(names(kubectl, namespace, "pods")) == 1


def test_nfs_volume_in_a_restricted_namespace_and_its_cleanup(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    make_container("shared", volume="test-nfs")
    jc = wait_phase("shared", "Active")
    assert jc["status"]["volume"].startswith("test-nfs")
    (deploy,) = objects(kubectl, namespace, "deployments")
    volumes = deploy["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in volumes if v["name"] == "home"]
    assert volume["persistentVolumeClaim"]["claimName"] == jc["status"]["pvcName"]
    (pvc,) = objects(kubectl, namespace, "pvc")
    assert pvc["status"]["phase"] == "Bound"
    pv = json.loads(kubectl("get", "pv", pvc["spec"]["volumeName"], "-o", "json").stdout)
    assert pv["spec"]["nfs"]["server"] == "nfs.example.internal"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    kubectl("delete", "jc", "shared", "-n", namespace, "--timeout=60s")
    live = [
        o for o in objects(kubectl, namespace, "pvc") if not o["metadata"].get("deletionTimestamp")
    ]
    assert live == []
    gone = kubectl("get", "pv", pv["metadata"]["name"], "--ignore-not-found", "-o", "name")
    assert gone.stdout.strip() in ("", f"persistentvolume/{pv['metadata']['name']}")
    if gone.stdout.strip():
        again = json.loads(kubectl("get", "pv", pv["metadata"]["name"], "-o", "json").stdout)
        assert again["metadata"].get("deletionTimestamp")


def test_missing_instance_type_is_a_clear_failure_not_a_crash(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait, operator: Any
) -> None:
    # The webhook refuses unknown names at admission; a catalog entry removed later
    # must still give a clear status, never a crashed operator.
    temp = yaml.safe_dump(
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "InstanceType",
            "metadata": {"name": f"{namespace}-temp"},
            "spec": {"cpu": "1", "memory": "1Gi"},
        }
    )
    kubectl("apply", "-f", "-", input=temp)
    make_container("orphan", instanceType=f"{namespace}-temp", running=False)
    wait_phase("orphan", "Stopped")
    kubectl("delete", "instancetype", f"{namespace}-temp")
    patch_spec(kubectl, namespace, "orphan", running=True)
    jc = wait_phase("orphan", "Failed", reason="InvalidConfiguration")
    assert f"{namespace}-temp" in jc["status"]["message"]
    assert "spec.instanceType" in jc["status"]["message"]
    assert operator.proc is not None and operator.proc.poll() is None
    failed_attempt = int(jc["status"].get("attempt") or 0)
    assert names(kubectl, namespace, "deployments") == []  # nothing deployed while invalid

    # The entry comes back: a missing dependency, not a failed attempt, so the container
    # starts by itself (it deployed its pod but stayed Failed before).
    kubectl("apply", "-f", "-", input=temp)
    jc = wait_phase("orphan", "Active")
    assert jc["status"]["attempt"] == failed_attempt + 1
    kubectl("delete", "jupytercontainer", "orphan", "-n", namespace, "--timeout=60s")
    kubectl("delete", "instancetype", f"{namespace}-temp")
