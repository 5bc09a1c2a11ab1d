"""Maximum lifetime on the simulated cluster: the operator stops a container by itself.

kwok's pods run no JupyterLab, so every activity probe goes unanswered: this also shows that a
JupyterLab that does not answer is not culled as idle (the idle timeout here is shorter than
the lifetime), while the lifetime still holds. Activity itself is tested against a real
JupyterLab on the real node (tests/cluster/realnode/test_culling.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.cluster.conftest import events_about
from tests.cluster.test_metrics import samples, value

pytestmark = pytest.mark.cluster

LIFETIME_TYPE = """
apiVersion: jupytercontainers.io/v1alpha1
kind: InstanceType
metadata: {name: test-short-lived}
spec:
  cpu: "1"
  memory: 1Gi
  order: 60
  culling: {idleTimeout: 3s, maxLifetime: 12s}
"""


def test_max_lifetime_stops_it_keeps_the_volume_and_an_unanswered_probe_is_not_idleness(
    operator: Any,
    namespace: str,
    make_container: Callable[..., Any],
    wait_phase: Callable[..., Any],
    kubectl: Any,
) -> None:
    kubectl("apply", "--server-side", "-f", "-", input=LIFETIME_TYPE)
    before = samples(operator)
    make_container("brief", instanceType="test-short-lived", volume="test-home")
    wait_phase("brief", "Active")
    # Past the idle timeout, the probe unanswered: still Active, the lifetime is what is due.
    kubectl(
        "wait",
        "jc/brief",
        "-n",
        namespace,
        "--for=jsonpath={.status.culling.activityUnknown}=true",
        "--timeout=30s",
    )
    status = json.loads(kubectl("get", "jc", "brief", "-n", namespace, "-o", "json").stdout)[
        "status"
    ]
    assert status["phase"] == "Active"
    assert status["culling"]["cullReason"] == "LifetimeExceeded"
    assert status["culling"]["idleTimeout"] == "3s" and status["culling"]["maxLifetime"] == "12s"

    stopped = wait_phase("brief", "Stopped", timeout=40, reason="LifetimeExceeded")
    status = stopped["status"]
    assert status["message"].startswith("Stopped after its maximum lifetime of 12s (Active since ")
    assert stopped["spec"]["running"] is False  # the user's own terminate path: start works
    assert _culling_cleared(kubectl, namespace)
    # The volume stays; the Deployment goes.
    pvcs = json.loads(kubectl("get", "pvc", "-n", namespace, "-o", "json").stdout)["items"]
    assert [p["metadata"]["name"] for p in pvcs] == [status["pvcName"]]
    deployments = kubectl("get", "deploy", "-n", namespace, "-o", "name").stdout.split()
    assert deployments == []
    events = events_about(kubectl, namespace, "JupyterContainer", "brief")
    assert any(
        e["reason"] == "LifetimeExceeded" and "Active -> Stopped" in e["message"] for e in events
    ), events
    after = samples(operator)
    assert value(after, "jupyter_containers_culled_total", reason="LifetimeExceeded") >= (
        value(before, "jupyter_containers_culled_total", reason="LifetimeExceeded") + 1
    )
    assert value(after, "jupyter_containers_culled_total", reason="Culled") == value(
        before, "jupyter_containers_culled_total", reason="Culled"
    )


def _culling_cleared(kubectl: Any, namespace: str) -> bool:
    """status.culling is removed shortly after the stop (it describes a running container)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = kubectl("get", "jc", "brief", "-n", namespace, "-o", "json").stdout
        if "culling" not in json.loads(out)["status"]:
            return True
        time.sleep(0.5)
    return False
