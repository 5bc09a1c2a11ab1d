"""Smoke tests proving the test cluster is a real Kubernetes control plane.

Controllers, scheduler, RBAC, admission (ResourceQuota, PodSecurity, CEL), volumes and logs all
behave as on a real cluster, and every kwok pod scenario (tools/kwok/stages/pod-scenarios.yaml)
yields the exact pod status a kubelet would write. Tests needing kwok itself (scenarios, logs,
nodes, the audit log, tools/cluster.sh) are skipped on a cluster taken from KUBECONFIG.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.core.resource import NamespacedResource
from lightkube.resources.core_v1 import Event, Pod

from tests.conftest import CLUSTER_SH, Cluster, WaitJsonpath, create_test_namespace

IMAGE = "quay.io/jupyter/base-notebook:2024-12-02"
INVALID_IMAGE = "quay.io/Jupyter/Base-Notebook:latest"
KWOK_NODES = {"kwok-node-0", "kwok-node-1"}
SCENARIO = "sim.jupytercontainers.io/scenario"
MESSAGE = "sim.jupytercontainers.io/message"
#: After a scenario reached its final status, this long without a pod change proves that no
#: stage keeps replaying on it.
QUIET_SECONDS = 2.0

PodDict = dict[str, Any]


@pytest.fixture(scope="module")
def local(cluster: Cluster) -> None:
    if not cluster.local:
        pytest.skip("needs the local kwok control plane (KUBECONFIG points elsewhere)")


def pod_manifest(name: str, scenario: str | None = None, **spec: Any) -> dict[str, Any]:
    annotations = {SCENARIO: scenario} if scenario else {}
    container = {"name": "notebook", "image": IMAGE, **spec.pop("container", {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": [container], **spec},
    }


def get_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind]
    assert len(found) == 1, f"expected one {kind} condition:\n{yaml.safe_dump(obj['status'])}"
    return found[0]


def container(pod: PodDict) -> dict[str, Any]:
    statuses = pod["status"].get("containerStatuses", [])
    assert len(statuses) == 1, yaml.safe_dump(pod["status"])
    return statuses[0]


def list_resource_version(cluster: Cluster, kind: str, namespace: str) -> str:
    return cluster.kubectl(
        "get", kind, "-n", namespace, "-o", "jsonpath={.metadata.resourceVersion}"
    ).stdout


def watch_until(
    cluster: Cluster,
    resource: type[NamespacedResource],
    namespace: str,
    since: str,
    done: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 60,
    fields: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every version of the objects from resourceVersion `since` until `done(seen)` holds.

    Returns (seen, late): `late` holds changes in the QUIET_SECONDS after `done`. A watch from
    a known resourceVersion misses no intermediate state, however brief.
    """

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        config = KubeConfig.from_file(cluster.kubeconfig).get(context_name=cluster.context)
        client = AsyncClient(config=config)
        seen: list[dict[str, Any]] = []
        late: list[dict[str, Any]] = []
        try:
            try:
                async with asyncio.timeout(timeout):
                    async for _, obj in client.watch(
                        resource, namespace=namespace, resource_version=since, fields=fields
                    ):
                        seen.append(obj.to_dict())
                        if done(seen):
                            break
            except TimeoutError:
                raise AssertionError(
                    f"not done within {timeout}s; seen:\n{yaml.safe_dump_all(seen)}"
                ) from None
            last = seen[-1]["metadata"]["resourceVersion"]
            try:
                async with asyncio.timeout(QUIET_SECONDS):
                    async for _, obj in client.watch(
                        resource, namespace=namespace, resource_version=last, fields=fields
                    ):
                        late.append(obj.to_dict())
            except TimeoutError:
                pass
        finally:
            await client.close()
        return seen, late

    return asyncio.run(run())


# ----------------------------------------------------------------------------- nodes, workloads


def test_kwok_nodes_are_ready_and_big(cluster: Cluster, local: None) -> None:
    nodes = get_json(cluster, "nodes", "-l", "type=kwok")["items"]
    assert {n["metadata"]["name"] for n in nodes} >= KWOK_NODES
    for node in nodes:
        assert condition(node, "Ready")["status"] == "True"
        allocatable = node["status"]["allocatable"]
        assert (allocatable["cpu"], allocatable["memory"], allocatable["pods"]) == (
            "32",
            "256Gi",
            "110",
        )
        assert not node["spec"].get("taints"), node["spec"]["taints"]


def test_deployment_becomes_available_with_a_ready_pod(
    cluster: Cluster, namespace: str, apply_yaml: Callable[..., Any]
) -> None:
    apply_yaml(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "notebook", "image": IMAGE}]},
                },
            },
        },
        namespace=namespace,
    )
    cluster.kubectl(
        "wait", "deployment/web", "-n", namespace, "--for=condition=Available", "--timeout=60s"
    )
    deployment = get_json(cluster, "deployment/web", "-n", namespace)
    assert deployment["status"]["readyReplicas"] == 1
    assert deployment["status"]["availableReplicas"] == 1
    (pod,) = get_json(cluster, "pods", "-n", namespace, "-l", "app=web")["items"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert pod["status"]["phase"] == "Running"
    assert condition(pod, "Ready")["status"] == "True"
    assert condition(pod, "PodScheduled")["status"] == "True"
    assert pod["spec"]["nodeName"]


def test_pvc_binds_and_its_pod_is_scheduled(
    cluster: Cluster,
    local: None,
    namespace: str,
    apply_yaml: Callable[..., Any],
    wait_jsonpath: WaitJsonpath,
) -> None:
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "home"},
        # No storageClassName: the DefaultStorageClass admission plugin picks kwok-volume.
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    pod = pod_manifest(
        "with-home",
        container={"volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}]},
        volumes=[{"name": "home", "persistentVolumeClaim": {"claimName": "home"}}],
    )
    # The claim first, the pod once it is bound. Applied together, the scheduler can try the
    # pod before its informer has the claim ("unbound immediate PersistentVolumeClaims. not
    # found"); the claim's arrival should requeue the pod, but a CI run saw it stay
    # unschedulable past 60 s (the scheduler's own fallback retry is after 5 minutes).
    apply_yaml([pvc], namespace=namespace)
    wait_jsonpath("pvc/home", "{.status.phase}", "Bound", namespace=namespace)
    apply_yaml([pod], namespace=namespace)
    wait_jsonpath(
        "pod/with-home", '{.status.conditions[?(@.type=="Ready")].status}', "True", namespace
    )
    claim = get_json(cluster, "pvc/home", "-n", namespace)
    assert claim["spec"]["storageClassName"] == "kwok-volume"
    assert claim["status"]["capacity"]["storage"] == "1Gi"
    volume = get_json(cluster, "pv", claim["spec"]["volumeName"])
    assert volume["spec"]["claimRef"]["name"] == "home"
    assert volume["spec"]["claimRef"]["namespace"] == namespace
    assert volume["status"]["phase"] == "Bound"
    scheduled = get_json(cluster, "pod/with-home", "-n", namespace)
    assert scheduled["spec"]["nodeName"] in KWOK_NODES
    assert condition(scheduled, "PodScheduled")["status"] == "True"


def test_impossible_node_selector_gives_failed_scheduling(
    cluster: Cluster, namespace: str, apply_yaml: Callable[..., Any]
) -> None:
    since = list_resource_version(cluster, "events", namespace)
    apply_yaml(
        pod_manifest("nowhere", nodeSelector={"accelerator": "does-not-exist"}),
        namespace=namespace,
    )
    events, _ = watch_until(
        cluster,
        Event,
        namespace,
        since,
        lambda seen: any(e.get("reason") == "FailedScheduling" for e in seen),
        fields={"involvedObject.name": "nowhere"},
    )
    (event,) = [e for e in events if e.get("reason") == "FailedScheduling"]
    assert event["type"] == "Warning"
    assert re.match(r"0/\d+ nodes are available: ", event["message"]), event["message"]
    assert "didn't match Pod's node affinity/selector" in event["message"]
    pod = get_json(cluster, "pod/nowhere", "-n", namespace)
    scheduled = condition(pod, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]


def test_kubectl_logs_returns_the_simulated_jupyterlab_lines(
    cluster: Cluster,
    local: None,
    namespace: str,
    apply_yaml: Callable[..., Any],
    wait_jsonpath: WaitJsonpath,
) -> None:
    apply_yaml(pod_manifest("nb"), namespace=namespace)
    wait_jsonpath("pod/nb", '{.status.conditions[?(@.type=="Ready")].status}', "True", namespace)

    logs = cluster.kubectl("logs", "nb", "-n", namespace).stdout.splitlines()
    assert logs[0] == "Entered start.sh with args: jupyter lab"
    assert "[I 2026-01-01 00:00:04.001 ServerApp] Jupyter Server 2.14.0 is running at:" in logs
    assert not any("token=" in line and "token=..." not in line for line in logs)

    stamped = cluster.kubectl("logs", "nb", "-n", namespace, "--timestamps").stdout
    assert stamped.startswith("2026-01-01T00:00:00.000000000Z Entered start.sh")

    since = cluster.kubectl(
        "logs", "nb", "-n", namespace, "--since-time=2026-01-01T00:00:20Z"
    ).stdout.splitlines()
    assert since == [
        "[I 2026-01-01 00:00:20.118 ServerApp] Kernel started: "
        "3f5c2d1e-8b7a-4c6d-9e0f-1a2b3c4d5e6f",
        "[I 2026-01-01 00:00:20.904 ServerApp] Connecting to kernel "
        "3f5c2d1e-8b7a-4c6d-9e0f-1a2b3c4d5e6f.",
        "[I 2026-01-01 00:01:00.000 ServerApp] Saving file at /Untitled.ipynb",
    ]
    tail = cluster.kubectl("logs", "nb", "-n", namespace, "--tail=1").stdout
    assert tail == "[I 2026-01-01 00:01:00.000 ServerApp] Saving file at /Untitled.ipynb\n"
    previous = cluster.kubectl("logs", "nb", "-n", namespace, "--previous").stdout
    assert previous.splitlines()[-1] == "Killed"


# ------------------------------------------------------------------------------ pod scenarios

#: Pod name -> (scenario annotation, extra pod metadata/spec, "reached its final status").
SCENARIO_PODS: dict[str, tuple[str | None, dict[str, Any], Callable[[PodDict], bool]]] = {}


def _waiting(pod: PodDict, reason: str) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return bool(statuses[0].get("state", {}).get("waiting", {}).get("reason") == reason)


def _terminated(pod: PodDict, reason: str) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return bool(statuses[0].get("state", {}).get("terminated", {}).get("reason") == reason)


def _ready(pod: PodDict) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _running(pod: PodDict) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return pod["status"].get("phase") == "Running" and "running" in statuses[0].get("state", {})


SECRET_ENV = {
    "env": [
        {
            "name": "API_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "nb-credentials", "key": "token"}},
        }
    ]
}
SCENARIO_PODS.update(
    {
        "none": (None, {}, _ready),
        "crashloop": ("crashloop", {}, lambda p: _waiting(p, "CrashLoopBackOff")),
        "oomkilled": ("oomkilled", {}, lambda p: _waiting(p, "CrashLoopBackOff")),
        "oomkilled-at-start": (
            "oomkilled-at-start",
            {},
            lambda p: _waiting(p, "CrashLoopBackOff"),
        ),
        "errimagepull": ("errimagepull", {}, lambda p: _waiting(p, "ImagePullBackOff")),
        "invalidimage": (
            "invalidimage",
            {"container": {"image": INVALID_IMAGE}},
            lambda p: _waiting(p, "InvalidImageName"),
        ),
        "configerror": (
            "configerror",
            {"container": SECRET_ENV},
            lambda p: _waiting(p, "CreateContainerConfigError"),
        ),
        "configerror-message": (
            "configerror",
            {"annotations": {MESSAGE: "couldn't find key token in Secret team/nb-credentials"}},
            lambda p: _waiting(p, "CreateContainerConfigError"),
        ),
        "error-exit": ("error-exit", {}, lambda p: _terminated(p, "Error")),
        "pod-failed": ("pod-failed", {}, lambda p: p["status"].get("phase") == "Failed"),
        "never-ready": ("never-ready", {}, _running),
    }
)


@pytest.fixture(scope="module")
def scenario_runs(
    cluster: Cluster, local: None
) -> Iterator[tuple[str, dict[str, list[PodDict]], dict[str, list[PodDict]]]]:
    """All scenario pods started together, each watched from creation to its final status.

    Yields (namespace, every version of each pod, changes after the final status).
    """
    namespace = create_test_namespace(cluster, "scenarios")
    try:
        since = list_resource_version(cluster, "pods", namespace)
        pods = []
        for name, (scenario, extra, _) in SCENARIO_PODS.items():
            extra = dict(extra)
            manifest = pod_manifest(name, scenario, container=extra.pop("container", {}))
            manifest["metadata"]["annotations"].update(extra.pop("annotations", {}))
            pods.append(manifest)
        cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(pods))

        def all_final(seen: list[PodDict]) -> bool:
            latest = {p["metadata"]["name"]: p for p in seen}
            return all(
                name in latest and final(latest[name])
                for name, (_, _, final) in SCENARIO_PODS.items()
            )

        seen, late = watch_until(cluster, Pod, namespace, since, all_final)
        history = {
            name: [p for p in seen if p["metadata"]["name"] == name] for name in SCENARIO_PODS
        }
        after = {name: [p for p in late if p["metadata"]["name"] == name] for name in SCENARIO_PODS}
        yield namespace, history, after
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture
def run(
    scenario_runs: tuple[str, dict[str, list[PodDict]], dict[str, list[PodDict]]],
    request: pytest.FixtureRequest,
) -> tuple[str, list[PodDict], PodDict]:
    """(namespace, history, final pod) of the scenario pod named by the test's parameter."""
    namespace, history, after = scenario_runs
    name: str = request.param
    assert after[name] == [], f"{name} kept changing after its final status:\n" + yaml.safe_dump(
        [p["status"] for p in after[name]]
    )
    return namespace, history[name], history[name][-1]


def assert_not_ready(pod: PodDict) -> None:
    for kind in ("Ready", "ContainersReady"):
        cond = condition(pod, kind)
        assert (cond["status"], cond["reason"], cond["message"]) == (
            "False",
            "ContainersNotReady",
            "containers with unready status: [notebook]",
        )
    assert condition(pod, "Initialized")["status"] == "True"
    assert condition(pod, "PodReadyToStartContainers")["status"] == "True"
    assert condition(pod, "PodScheduled")["status"] == "True"


def backoff_message(pod: PodDict) -> str:
    meta = pod["metadata"]
    return (
        "back-off 10s restarting failed container=notebook "
        f"pod={meta['name']}_{meta['namespace']}({meta['uid']})"
    )


@pytest.mark.parametrize("run", ["none"], indirect=True)
def test_scenario_none_is_running_and_ready(run: tuple[str, list[PodDict], PodDict]) -> None:
    _, _, pod = run
    assert pod["status"]["phase"] == "Running"
    for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"):
        assert condition(pod, kind)["status"] == "True", kind
    assert condition(pod, "PodScheduled")["status"] == "True"
    status = container(pod)
    assert (status["ready"], status["started"], status["restartCount"]) == (True, True, 0)
    assert set(status["state"]) == {"running"}
    assert status["lastState"] == {}
    assert status["containerID"].startswith("containerd://")
    assert status["imageID"].startswith("quay.io/jupyter/base-notebook@sha256:")
    assert pod["status"]["podIP"]
    # The kwok nodes' InternalIP (tools/kwok/nodes.yaml), where the kwok controller answers.
    assert pod["status"]["hostIP"] == "127.0.0.1"
    assert pod["spec"]["nodeName"] in KWOK_NODES


@pytest.mark.parametrize("run", ["crashloop"], indirect=True)
def test_scenario_crashloop(run: tuple[str, list[PodDict], PodDict]) -> None:
    _, history, pod = run
    assert not any(_ready(p) for p in history)
    assert pod["status"]["phase"] == "Running"
    assert_not_ready(pod)
    status = container(pod)
    assert (status["ready"], status["started"], status["restartCount"]) == (False, False, 1)
    assert status["state"] == {
        "waiting": {"reason": "CrashLoopBackOff", "message": backoff_message(pod)}
    }
    terminated = status["lastState"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("Error", 1)
    assert terminated["containerID"] == status["containerID"]


def assert_oom_backoff(pod: PodDict) -> None:
    assert pod["status"]["phase"] == "Running"
    assert_not_ready(pod)
    status = container(pod)
    assert (status["ready"], status["started"], status["restartCount"]) == (False, False, 1)
    assert status["state"] == {
        "waiting": {"reason": "CrashLoopBackOff", "message": backoff_message(pod)}
    }
    terminated = status["lastState"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)


def oom_killed_index(history: list[PodDict]) -> int:
    """Index of the version showing the OOM kill itself (state.terminated, restartCount 0)."""
    (index,) = [i for i, p in enumerate(history) if _terminated(p, "OOMKilled")]
    status = container(history[index])
    assert status["state"]["terminated"]["exitCode"] == 137
    assert (status["restartCount"], status["ready"], status["lastState"]) == (0, False, {})
    assert history[index]["status"]["phase"] == "Running"
    assert condition(history[index], "Ready")["status"] == "False"
    return index


@pytest.mark.parametrize("run", ["oomkilled"], indirect=True)
def test_scenario_oomkilled_after_being_ready(run: tuple[str, list[PodDict], PodDict]) -> None:
    _, history, pod = run
    ready = [i for i, p in enumerate(history) if _ready(p)]
    killed = oom_killed_index(history)
    assert ready and max(ready) < killed, "the pod was not Ready before the OOM kill"
    ready_since = condition(history[ready[0]], "Ready")["lastTransitionTime"]
    killed_at = container(history[killed])["state"]["terminated"]["finishedAt"]
    # Long enough for the operator to report Active first (timestamps have 1 s resolution).
    assert killed_at > ready_since, (ready_since, killed_at)
    assert_oom_backoff(pod)


@pytest.mark.parametrize("run", ["oomkilled-at-start"], indirect=True)
def test_scenario_oomkilled_at_start(run: tuple[str, list[PodDict], PodDict]) -> None:
    _, history, pod = run
    assert not any(_ready(p) for p in history)
    oom_killed_index(history)
    assert_oom_backoff(pod)


PULL_ERROR = (
    f'rpc error: code = Unknown desc = failed to pull and unpack image "{IMAGE}": failed to '
    f'resolve reference "{IMAGE}": pull access denied, repository does not exist or may require '
    "authorization: server message: insufficient_scope: authorization failed"
)


def assert_pending_waiting(pod: PodDict, reason: str, message: str) -> None:
    assert pod["status"]["phase"] == "Pending"
    assert_not_ready(pod)
    status = container(pod)
    assert status["state"] == {"waiting": {"reason": reason, "message": message}}
    assert (status["ready"], status["started"], status["restartCount"]) == (False, False, 0)
    assert status["lastState"] == {}
    assert "containerID" not in status
    assert pod["status"]["podIP"]


@pytest.mark.parametrize("run", ["errimagepull"], indirect=True)
def test_scenario_errimagepull_then_imagepullbackoff(
    run: tuple[str, list[PodDict], PodDict],
) -> None:
    _, history, pod = run
    (pull,) = [p for p in history if _waiting(p, "ErrImagePull")]
    assert_pending_waiting(pull, "ErrImagePull", PULL_ERROR)
    assert_pending_waiting(
        pod, "ImagePullBackOff", f'Back-off pulling image "{IMAGE}": ErrImagePull: {PULL_ERROR}'
    )


@pytest.mark.parametrize("run", ["invalidimage"], indirect=True)
def test_scenario_invalidimage(run: tuple[str, list[PodDict], PodDict]) -> None:
    _, _, pod = run
    assert_pending_waiting(
        pod,
        "InvalidImageName",
        f'Failed to apply default image tag "{INVALID_IMAGE}": couldn\'t parse image name '
        f'"{INVALID_IMAGE}": invalid reference format',
    )


@pytest.mark.parametrize("run", ["configerror"], indirect=True)
def test_scenario_configerror_names_the_missing_secret(
    run: tuple[str, list[PodDict], PodDict],
) -> None:
    _, _, pod = run
    assert_pending_waiting(pod, "CreateContainerConfigError", 'secret "nb-credentials" not found')


@pytest.mark.parametrize("run", ["configerror-message"], indirect=True)
def test_scenario_configerror_message_annotation(run: tuple[str, list[PodDict], PodDict]) -> None:
    _, _, pod = run
    assert_pending_waiting(
        pod,
        "CreateContainerConfigError",
        "couldn't find key token in Secret team/nb-credentials",
    )


@pytest.mark.parametrize("run", ["error-exit"], indirect=True)
def test_scenario_error_exit(run: tuple[str, list[PodDict], PodDict]) -> None:
    _, history, pod = run
    assert not any(_ready(p) for p in history)
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["restartPolicy"] == "Always"
    assert_not_ready(pod)
    status = container(pod)
    assert (status["ready"], status["started"], status["restartCount"]) == (False, False, 0)
    assert status["lastState"] == {}
    terminated = status["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("Error", 1)


@pytest.mark.parametrize("run", ["pod-failed"], indirect=True)
def test_scenario_pod_failed_is_evicted_after_being_ready(
    run: tuple[str, list[PodDict], PodDict],
) -> None:
    _, history, pod = run
    assert any(_ready(p) for p in history[:-1])
    message = "The node was low on resource: memory."
    assert (pod["status"]["phase"], pod["status"]["reason"]) == ("Failed", "Evicted")
    assert pod["status"]["message"] == message
    disruption = condition(pod, "DisruptionTarget")
    assert (disruption["status"], disruption["reason"], disruption["message"]) == (
        "True",
        "TerminationByKubelet",
        message,
    )
    for kind in ("Ready", "ContainersReady"):
        cond = condition(pod, kind)
        assert (cond["status"], cond["reason"]) == ("False", "PodFailed")
    terminated = container(pod)["state"]["terminated"]
    assert terminated["exitCode"] == 137


@pytest.mark.parametrize("run", ["never-ready"], indirect=True)
def test_scenario_never_ready(run: tuple[str, list[PodDict], PodDict]) -> None:
    _, history, pod = run
    assert not any(_ready(p) for p in history)
    assert pod["status"]["phase"] == "Running"
    assert_not_ready(pod)
    status = container(pod)
    assert (status["ready"], status["started"], status["restartCount"]) == (False, True, 0)
    assert set(status["state"]) == {"running"}


def test_scenario_events_are_warnings(
    cluster: Cluster, scenario_runs: tuple[str, Any, Any]
) -> None:
    namespace = scenario_runs[0]
    events = get_json(cluster, "events", "-n", namespace, "--field-selector", "type=Warning")
    reasons = {(e["involvedObject"]["name"], e["reason"]) for e in events["items"]}
    assert {
        ("crashloop", "BackOff"),
        ("errimagepull", "Failed"),
        ("configerror", "Failed"),
        ("pod-failed", "Evicted"),
        ("never-ready", "Unhealthy"),
    } <= reasons
    assert not any(name == "none" for name, _ in reasons)


# ------------------------------------------------------------------- API server: CEL, RBAC, ...


def test_crd_status_subresource_and_cel_rule(
    cluster: Cluster, namespace: str, apply_yaml: Callable[..., Any]
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.smoke.jupytercontainers.io"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["replicas", "maxReplicas"],
                                    "properties": {
                                        "replicas": {"type": "integer"},
                                        "maxReplicas": {"type": "integer"},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.replicas <= self.maxReplicas",
                                            "message": "replicas must not exceed maxReplicas",
                                        }
                                    ],
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {"phase": {"type": "string"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    apply_yaml(crd)
    try:
        cluster.kubectl("wait", f"crd/widgets.{group}", "--for=condition=Established")

        def widget(replicas: int, **extra: Any) -> dict[str, Any]:
            return {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"replicas": replicas, "maxReplicas": 3},
                **extra,
            }

        refused = apply_yaml(widget(5), namespace=namespace, check=False)
        assert refused.returncode != 0
        assert "spec: Invalid value" in refused.stderr
        assert "replicas must not exceed maxReplicas" in refused.stderr

        apply_yaml(widget(2), namespace=namespace)
        cluster.kubectl(
            "patch", f"widgets.{group}/w", "-n", namespace, "--subresource=status",
            "--type=merge", "-p", '{"status": {"phase": "Ready"}}',
        )  # fmt: skip
        # With a status subresource, writes to the main resource leave status alone.
        cluster.kubectl(
            "patch", f"widgets.{group}/w", "-n", namespace,
            "--type=merge", "-p", '{"spec": {"replicas": 3}, "status": {"phase": "Forged"}}',
        )  # fmt: skip
        stored = get_json(cluster, f"widgets.{group}/w", "-n", namespace)
        assert stored["spec"]["replicas"] == 3
        assert stored["status"] == {"phase": "Ready"}
    finally:
        cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


def test_impersonated_user_needs_rbac(
    cluster: Cluster, namespace: str, apply_yaml: Callable[..., Any]
) -> None:
    user, group = f"smoke-{uuid.uuid4().hex[:6]}", "smoke-readers"
    denied = cluster.kubectl("get", "pods", "-n", namespace, as_user=user, check=False)
    assert denied.returncode != 0
    assert (
        f'User "{user}" cannot list resource "pods" in API group "" in the namespace "{namespace}"'
    ) in denied.stderr

    apply_yaml(
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "pod-readers"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "pod-reader",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
                ],
            },
        ],
        namespace=namespace,
    )
    # The RBAC authorizer reads bindings from an informer: allow it a moment to see the new
    # one. There is nothing to watch for, hence the short poll.
    deadline = time.monotonic() + 10
    while True:
        allowed = cluster.kubectl(
            "get", "pods", "-n", namespace, as_user=user, as_groups=[group], check=False
        )
        if allowed.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert allowed.returncode == 0, allowed.stderr
    # The binding is for the group: the same user without it is still refused, and so is a
    # write the role does not grant.
    assert cluster.kubectl("get", "pods", "-n", namespace, as_user=user, check=False).returncode
    refused = cluster.kubectl(
        "delete", "pod", "anything", "-n", namespace, as_user=user, as_groups=[group], check=False
    )
    assert 'cannot delete resource "pods"' in refused.stderr


def test_resource_quota_refuses_the_second_pod(
    cluster: Cluster,
    namespace: str,
    apply_yaml: Callable[..., Any],
    wait_jsonpath: WaitJsonpath,
) -> None:
    apply_yaml(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "one-pod"},
            "spec": {"hard": {"pods": "1"}},
        },
        namespace=namespace,
    )
    # Quota admission refuses everything while the quota controller has not computed usage.
    wait_jsonpath("resourcequota/one-pod", "{.status.hard.pods}", "1", namespace=namespace)
    apply_yaml(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "two"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "two"}},
                "template": {
                    "metadata": {"labels": {"app": "two"}},
                    "spec": {"containers": [{"name": "notebook", "image": IMAGE}]},
                },
            },
        },
        namespace=namespace,
    )
    wait_jsonpath(
        "deployment/two",
        '{.status.conditions[?(@.type=="ReplicaFailure")].reason}',
        "FailedCreate",
        namespace=namespace,
    )
    failure = condition(get_json(cluster, "deployment/two", "-n", namespace), "ReplicaFailure")
    assert failure["status"] == "True"
    quota = "exceeded quota: one-pod, requested: pods=1, used: pods=1, limited: pods=1"
    assert quota in failure["message"]
    assert len(get_json(cluster, "pods", "-n", namespace, "-l", "app=two")["items"]) == 1


def test_restricted_namespace_refuses_a_privileged_pod(cluster: Cluster) -> None:
    namespace = create_test_namespace(
        cluster, "restricted", labels={"pod-security.kubernetes.io/enforce": "restricted"}
    )
    try:
        privileged = pod_manifest("root", container={"securityContext": {"privileged": True}})
        refused = cluster.kubectl(
            "create", "-n", namespace, "-f", "-", input=yaml.safe_dump(privileged), check=False
        )
        assert refused.returncode != 0
        assert 'violates PodSecurity "restricted:latest"' in refused.stderr
        assert 'privileged (container "notebook" must not set securityContext.privileged=true)' in (
            refused.stderr
        )
        compliant = pod_manifest(
            "restricted",
            container={
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                }
            },
            securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        )
        cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(compliant))
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


# -------------------------------------------------------------------------- the tooling itself


def test_writes_are_in_the_audit_log(cluster: Cluster, local: None, namespace: str) -> None:
    name = f"audited-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "configmap", name, "-n", namespace)
    cluster.kubectl("get", "configmap", name, "-n", namespace)
    path = Path(
        subprocess.run(
            [str(CLUSTER_SH), "audit-log-path"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    # Lines end with "\n" only (a request may carry U+2028 and the like, which splitlines()
    # would split on: the fuzz tests send such field names); the API server may still be
    # writing the last one.
    complete = path.read_text().split("\n")[:-1]
    events = [
        event
        for event in map(json.loads, complete)
        if event.get("objectRef", {}).get("name") == name
    ]
    assert [(e["verb"], e["level"], e["stage"]) for e in events] == [
        ("create", "Metadata", "ResponseComplete")
    ]
    assert events[0]["objectRef"]["namespace"] == namespace
    assert events[0]["userAgent"].startswith("kubectl/")


def test_cluster_up_reuses_the_healthy_cluster(local: None) -> None:
    start = time.monotonic()
    up = subprocess.run(
        [str(CLUSTER_SH), "up"], capture_output=True, text=True, timeout=120, check=True
    )
    elapsed = time.monotonic() - start
    assert "reusing the healthy cluster jupyter-containers" in up.stderr
    assert elapsed < 5, f"reusing took {elapsed:.1f}s"
