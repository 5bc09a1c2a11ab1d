"""The kwok scenarios (tools/kwok/stages/pod-scenarios.yaml) against the real kubelet: the same
failure produced for real on the real node and simulated on a kwok node gives a pod status that
agrees, field by field, in everything the operator reads (tests/cluster/test_lifecycle.py
relies on the simulation standing in for the real thing)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from tests.cluster.conftest import jupyterlab_image

REAL_PLACEMENT = {
    "nodeSelector": {"type": "real"},
    "tolerations": [
        {"key": "jupytercontainers.io/real-node", "operator": "Exists", "effect": "NoSchedule"}
    ],
}

#: scenario -> (how the real node is made to fail, the final waiting reason, message pattern)
SCENARIOS: dict[str, tuple[dict[str, Any], str, str]] = {
    "configerror": (
        {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]},
        "CreateContainerConfigError",
        r'^secret "absent" not found$',
    ),
    "errimagepull": (
        {"image": "MISSING"},
        "ImagePullBackOff",
        r'^Back-off pulling image "[^"]+": ErrImagePull: ',
    ),
    "oomkilled": (
        {
            "command": ["/opt/jupyter/bin/python3", "-c", "bytearray(10**9)"],
            "resources": {"limits": {"memory": "64Mi"}},
        },
        "CrashLoopBackOff",
        r"^back-off \d+[ms]+ restarting failed container=c pod=[^_]+_[^(]+\([0-9a-f-]+\)$",
    ),
    "crashloop": (
        {"command": ["/bin/sh", "-c", "exit 1"]},
        "CrashLoopBackOff",
        r"^back-off \d+[ms]+ restarting failed container=c pod=[^_]+_[^(]+\([0-9a-f-]+\)$",
    ),
}


def pod(name: str, scenario: str, real: bool) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "c",
        "image": jupyterlab_image(),
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }
    spec: dict[str, Any] = {"containers": [container], "automountServiceAccountToken": False}
    annotations: dict[str, str] = {}
    if real:
        change, _, _ = SCENARIOS[scenario]
        for key, value in change.items():
            container[key] = jupyterlab_image() + "-missing" if value == "MISSING" else value
        spec.update(REAL_PLACEMENT)
    else:
        annotations["sim.jupytercontainers.io/scenario"] = scenario
        if scenario == "configerror":
            container["env"] = SCENARIOS[scenario][0]["env"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    }


def snapshot_when_waiting(
    kubectl: Any, namespace: str, name: str, reason: str, timeout: float = 180
) -> dict[str, Any]:
    """The pod as read at a moment its container waits with `reason`. One read, not a wait and
    then a read: a real crash loop moves on (restarts, runs again) between two requests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = json.loads(kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)
        statuses = obj.get("status", {}).get("containerStatuses") or [{}]
        if statuses[0].get("state", {}).get("waiting", {}).get("reason") == reason:
            return dict(obj)
        time.sleep(0.3)
    raise AssertionError(f"{name} never waited with {reason}: {obj.get('status')}")


def projection(obj: dict[str, Any]) -> dict[str, Any]:
    """What the operator's lifecycle reads of a pod status."""
    status = obj["status"]
    (cs,) = status["containerStatuses"]
    (state_kind,) = cs["state"]
    last = cs.get("lastState") or {}
    last_kind = next(iter(last), None)
    conditions = {
        c["type"]: (c["status"], c.get("reason"))
        for c in status.get("conditions", [])
        if c["type"] in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
    }
    return {
        "phase": status["phase"],
        "ready": cs["ready"],
        "started": cs.get("started"),
        "restarted": cs["restartCount"] > 0,
        "state": state_kind,
        "reason": cs["state"][state_kind].get("reason"),
        "lastState": last_kind,
        "lastReason": last[last_kind].get("reason") if last_kind else None,
        "lastExitCode": last[last_kind].get("exitCode") if last_kind else None,
        "conditions": conditions,
    }


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_simulated_status_matches_the_real_kubelet(
    scenario: str, kubectl: Any, namespace: str, real_node: str
) -> None:
    _, reason, pattern = SCENARIOS[scenario]
    statuses = {}
    for kind in ("real", "kwok"):
        name = f"{scenario}-{kind}"
        kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            input=json.dumps(pod(name, scenario, kind == "real")),
        )
    for kind in ("real", "kwok"):
        statuses[kind] = snapshot_when_waiting(kubectl, namespace, f"{scenario}-{kind}", reason)
    real, simulated = (projection(statuses[k]) for k in ("real", "kwok"))
    assert simulated == real, f"kwok {simulated}\n!= real {real}"
    for kind, obj in statuses.items():
        message = obj["status"]["containerStatuses"][0]["state"]["waiting"].get("message", "")
        assert re.search(pattern, message), f"{kind}: {message!r} does not match {pattern!r}"
