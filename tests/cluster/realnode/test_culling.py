"""Idle culling and maximum lifetime against real JupyterLab servers: activity is what the
server itself reports (a busy kernel, with nobody connected), never the requests of a client.

One test, two containers of one InstanceType (idle timeout 30 s, lifetime 90 s): the idle one
is culled at about 30 s with its PVC kept, while the one running a long cell outlives the idle
timeout (the operator probes both; probes are no activity) and is then
stopped by its lifetime.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.cluster.conftest import events_about, get_jc
from tests.cluster.realnode.conftest import Lab
from tests.cluster.realnode.jupyter import start_code

pytestmark = pytest.mark.realnode

IDLE_SECONDS = 30
LIFETIME_SECONDS = 90
ACTIVE_TIMEOUT = 300
CULLED_TYPE = f"""
apiVersion: jupytercontainers.io/v1alpha1
kind: InstanceType
metadata: {{name: real-culled}}
spec:
  displayName: Real node, culled
  cpu: "1"
  memory: 768Mi
  requestRatio: 0.1
  order: 92
  nodeSelector: {{type: real}}
  tolerations:
  - {{key: jupytercontainers.io/real-node, operator: Exists, effect: NoSchedule}}
  culling: {{idleTimeout: {IDLE_SECONDS}s, maxLifetime: {LIFETIME_SECONDS}s}}
"""


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_idle_lab_is_culled_a_busy_kernel_keeps_one_until_its_lifetime(
    cluster: Any,
    namespace: str,
    real_container: Callable[..., dict[str, Any]],
    wait_phase: Callable[..., dict[str, Any]],
    open_lab: Callable[[str], Lab],
) -> None:
    cluster.kubectl("apply", "--server-side", "-f", "-", input=CULLED_TYPE)
    # One start at a time: two JupyterLabs starting at once on a busy 2-core machine can miss
    # the tests' 40 s start deadline.
    real_container("busy", instanceType="real-culled")
    wait_phase("busy", "Active", timeout=ACTIVE_TIMEOUT)
    lab = open_lab("busy")
    status, kernel = lab.request("POST", "api/kernels", {"name": "python3"})
    assert status == 201, kernel
    start_code(lab.base, lab.token, kernel["id"], "import time; time.sleep(600)")
    lab.process.terminate()  # nobody connected from here on
    real_container("idle", instanceType="real-culled", volume="real-home")
    wait_phase("idle", "Active", timeout=ACTIVE_TIMEOUT)

    idle = wait_phase("idle", "Stopped", timeout=IDLE_SECONDS + 30, reason="Culled")
    st = idle["status"]
    lived = (_at(st["stoppedAt"]) - _at(st["readyAt"])).total_seconds()
    assert IDLE_SECONDS <= lived <= IDLE_SECONDS + 15, st
    assert st["message"].startswith("Culled: idle for "), st["message"]
    assert idle["spec"]["running"] is False
    pvcs = cluster.kubectl("get", "pvc", "-n", namespace, "-o", "json").stdout
    assert [p["metadata"]["name"] for p in json.loads(pvcs)["items"]] == [st["pvcName"]]
    assert any(
        e["reason"] == "Culled"
        for e in events_about(cluster.kubectl, namespace, "JupyterContainer", "idle")
    )

    # The busy one, meanwhile: Active past its idle timeout, its time left in status (the busy
    # kernel keeps moving the idle deadline; the nearer of the two is shown).
    busy = get_jc(cluster, namespace, "busy")
    culling = busy["status"].get("culling") or {}
    if busy["status"]["phase"] == "Active":
        assert (culling["idleTimeout"], culling["maxLifetime"]) == ("30s", "1m30s"), culling
        assert culling["cullReason"] in ("Culled", "LifetimeExceeded"), culling
        assert not culling.get("activityUnknown"), culling
        assert _at(culling["lastActivity"]) > _at(busy["status"]["readyAt"]), culling

    # ... until its lifetime: stopped then, not culled as idle at 30 s.
    stopped = wait_phase(
        "busy", "Stopped", timeout=LIFETIME_SECONDS + 60, reason="LifetimeExceeded"
    )
    st = stopped["status"]
    lived = (_at(st["stoppedAt"]) - _at(st["readyAt"])).total_seconds()
    assert LIFETIME_SECONDS <= lived <= LIFETIME_SECONDS + 15, st
    assert st["message"].startswith("Stopped after its maximum lifetime of 1m30s"), st["message"]
