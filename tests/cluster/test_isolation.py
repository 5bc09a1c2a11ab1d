"""Isolation on a real API server (issue 12, item 7; issue 16): one NetworkPolicy per deployment
namespace, selecting every JupyterLab pod of the operator there.

The local cluster's network (kwok pods, the real node's CNI bridge) enforces no NetworkPolicy:
these tests prove the objects are right (made before the first Deployment, selecting exactly
the containers' pods, deleted with the last of them, made again when deleted by hand, never
written over when someone else's holds the name), not that a network plugin enforces them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from jupyter_containers.core import naming
from jupyter_containers.core.namespace_policy import msg_policy_taken
from tests.cluster.conftest import container_manifest, eventually
from tests.cluster.test_operator_restart import audit_log, operator_writes
from tests.conftest import Cluster

pytestmark = pytest.mark.cluster

SHARED = naming.NETWORK_POLICY_NAME


def _policies(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    out = cluster.kubectl("get", "networkpolicies", "-n", namespace, "-o", "json")
    return {p["metadata"]["name"]: p for p in json.loads(out.stdout)["items"]}


def _selected_pods(cluster: Cluster, namespace: str, selector: dict[str, str]) -> set[str]:
    labels = ",".join(f"{k}={v}" for k, v in selector.items())
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", labels, "-o", "json")
    return {p["metadata"]["name"] for p in json.loads(out.stdout)["items"]}


def _patch_running(cluster: Cluster, namespace: str, name: str, running: bool) -> None:
    patch = json.dumps({"spec": {"running": running}})
    cluster.kubectl("patch", "jc", name, "-n", namespace, "--type=merge", "-p", patch)


def _request_start(cluster: Cluster, namespace: str, name: str) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = naming.START_REQUESTED_ANNOTATION
    cluster.kubectl("annotate", "jc", name, "-n", namespace, f"{key}={now}", "--overwrite")


def test_one_policy_selects_every_container_of_the_namespace_until_the_last_goes(
    cluster: Cluster, namespace: str, make_container: Any, wait_phase: Any
) -> None:
    make_container("lab")
    make_container("other")
    lab = wait_phase("lab", "Active")
    other = wait_phase("other", "Active")
    policies = _policies(cluster, namespace)
    assert set(policies) == {SHARED}  # none of a container's own
    policy = policies[SHARED]
    labels = policy["metadata"]["labels"]
    assert labels[naming.MANAGED_BY_LABEL] == naming.MANAGED_BY_VALUE
    assert naming.UID_LABEL not in labels and naming.NAME_LABEL not in labels
    spec = policy["spec"]
    # Exactly the two containers' pods.
    selected = _selected_pods(cluster, namespace, spec["podSelector"]["matchLabels"])
    assert selected == {lab["status"]["podName"], other["status"]["podName"]}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    # The test operator names no console: no pod may connect (port-forward is not pod traffic).
    assert spec.get("ingress", []) == []
    assert {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}} in spec["egress"][
        1
    ]["to"]

    # One stopped: the policy stays for the other.
    uid = policy["metadata"]["uid"]
    _patch_running(cluster, namespace, "lab", False)
    wait_phase("lab", "Stopped")
    assert _policies(cluster, namespace)[SHARED]["metadata"]["uid"] == uid
    # The last one deleted (the other is stopped): it goes, once its pod is gone too.
    cluster.kubectl("delete", "jc", "other", "-n", namespace, "--timeout=60s")
    eventually("the policy gone", lambda: SHARED not in _policies(cluster, namespace))
    pods = cluster.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()
    assert pods == []
    # A start makes it again, before the container's Deployment.
    _patch_running(cluster, namespace, "lab", True)
    lab = wait_phase("lab", "Active")
    policy = _policies(cluster, namespace)[SHARED]
    selected = _selected_pods(cluster, namespace, policy["spec"]["podSelector"]["matchLabels"])
    assert selected == {lab["status"]["podName"]}


def test_a_burst_in_one_namespace_applies_the_policy_once_and_first(
    cluster: Cluster, namespace: str, make_container: Any, wait_phase: Any
) -> None:
    log = audit_log(cluster)
    offset = log.stat().st_size
    names = [f"lab{i}" for i in range(6)]
    manifests = [container_manifest(name) for name in names]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(manifests))
    for name in names:
        wait_phase(name, "Active")
    writes = operator_writes(log, offset, namespace)
    resources = [w["objectRef"].get("resource") for w in writes]
    policy_writes = [w for w in writes if w["objectRef"].get("resource") == "networkpolicies"]
    assert [(w["verb"], w["objectRef"]["name"]) for w in policy_writes] == [("patch", SHARED)]
    # Applied before the first Deployment: no pod ever runs without it.
    assert resources.index("networkpolicies") < resources.index("deployments")


def test_a_policy_deleted_by_hand_is_made_again(
    cluster: Cluster, namespace: str, make_container: Any, wait_phase: Any
) -> None:
    make_container("lab")
    wait_phase("lab", "Active")
    before = _policies(cluster, namespace)[SHARED]["metadata"]["uid"]
    cluster.kubectl("delete", "networkpolicy", SHARED, "-n", namespace)
    remade = eventually(
        "the policy made again",
        lambda: (_policies(cluster, namespace).get(SHARED) or {}).get("metadata"),
    )
    assert remade["uid"] != before
    assert wait_phase("lab", "Active")["status"]["phase"] == "Active"


def test_someone_elses_policy_under_the_name_refuses_the_start_and_is_never_touched(
    cluster: Cluster, namespace: str, make_container: Any, wait_phase: Any
) -> None:
    foreign = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": SHARED, "labels": {"team": "platform"}},
        "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(foreign))
    made = _policies(cluster, namespace)[SHARED]
    make_container("lab")
    failed = wait_phase("lab", "Failed", reason="NameCollision")
    assert failed["status"]["message"] == msg_policy_taken(namespace)
    deployments = cluster.kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout
    assert deployments.split() == []
    after = _policies(cluster, namespace)[SHARED]
    assert after["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
    assert after["spec"] == made["spec"]

    # Removed by its owner: the next start makes the operator's own.
    cluster.kubectl("delete", "networkpolicy", SHARED, "-n", namespace)
    _request_start(cluster, namespace, "lab")
    wait_phase("lab", "Active")
    labels = _policies(cluster, namespace)[SHARED]["metadata"]["labels"]
    assert labels[naming.MANAGED_BY_LABEL] == naming.MANAGED_BY_VALUE


def test_a_containers_own_policy_of_an_earlier_version_is_deleted(
    cluster: Cluster, namespace: str, make_container: Any, wait_phase: Any
) -> None:
    """Before policies were per namespace each container had one, named and labelled like its
    Deployment: the operator deletes it (the shared one is there first)."""
    make_container("lab")
    lab = wait_phase("lab", "Active")
    own = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "jc-lab",
            "labels": naming.common_labels("lab", namespace, lab["metadata"]["uid"]),
        },
        "spec": {
            "podSelector": {"matchLabels": naming.selector_labels("lab", namespace)},
            "policyTypes": ["Ingress", "Egress"],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(own))
    eventually("the old policy gone", lambda: "jc-lab" not in _policies(cluster, namespace))
    assert set(_policies(cluster, namespace)) == {SHARED}
    assert wait_phase("lab", "Active")["status"]["phase"] == "Active"
