"""Isolation on a real API server (issue 12, item 7): each container's NetworkPolicy.

The local cluster's network (kwok pods, the real node's CNI bridge) enforces no NetworkPolicy:
these tests prove the objects are right (made, selecting exactly the container's pods, deleted
with it), not that a network plugin enforces them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_containers.core import naming
from tests.conftest import Cluster

pytestmark = pytest.mark.cluster


def _policies(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "networkpolicies", "-n", namespace, "-o", "json")
    return list(json.loads(out.stdout)["items"])


def _selected_pods(cluster: Cluster, namespace: str, selector: dict[str, str]) -> list[str]:
    labels = ",".join(f"{k}={v}" for k, v in selector.items())
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", labels, "-o", "json")
    return [p["metadata"]["name"] for p in json.loads(out.stdout)["items"]]


def test_each_container_gets_a_network_policy_made_and_deleted_with_it(
    cluster: Cluster, namespace: str, make_container: Any, wait_phase: Any
) -> None:
    make_container("lab")
    make_container("other")
    lab = wait_phase("lab", "Active")
    wait_phase("other", "Active")
    by_name = {p["metadata"]["name"]: p for p in _policies(cluster, namespace)}
    assert set(by_name) == {"jc-lab", "jc-other"}
    policy = by_name["jc-lab"]
    labels = policy["metadata"]["labels"]
    assert labels[naming.UID_LABEL] == lab["metadata"]["uid"]
    assert labels[naming.MANAGED_BY_LABEL] == naming.MANAGED_BY_VALUE
    spec = policy["spec"]
    # Selects exactly this container's pod, not the other's.
    selected = _selected_pods(cluster, namespace, spec["podSelector"]["matchLabels"])
    assert selected == [lab["status"]["podName"]]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    # The test operator names no console: no pod may connect (port-forward is not pod traffic).
    assert spec.get("ingress", []) == []
    assert {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}} in spec["egress"][
        1
    ]["to"]

    cluster.kubectl(
        "patch", "jc", "lab", "-n", namespace, "--type=merge", "-p", '{"spec":{"running":false}}'
    )
    wait_phase("lab", "Stopped")
    names = {p["metadata"]["name"] for p in _policies(cluster, namespace)}
    assert names == {"jc-other"}  # terminate deletes it with the Service
    cluster.kubectl(
        "patch", "jc", "lab", "-n", namespace, "--type=merge", "-p", '{"spec":{"running":true}}'
    )
    wait_phase("lab", "Active")
    assert {p["metadata"]["name"] for p in _policies(cluster, namespace)} == {"jc-lab", "jc-other"}
    cluster.kubectl("delete", "jc", "lab", "-n", namespace, "--timeout=60s")
    assert {p["metadata"]["name"] for p in _policies(cluster, namespace)} == {"jc-other"}
