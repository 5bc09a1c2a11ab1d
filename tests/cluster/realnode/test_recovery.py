"""`make cluster-up` (tools/cluster.sh up) brings back what died: the real node's kubelet and
containerd, and the control-plane components kwokctl does not restart, keeping the cluster's
state; the node then runs JupyterLab again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import CLUSTER_SH

RUN = Path("/run/jupyter-containers/realnode")
ACTIVE_TIMEOUT = 300


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [0] the state ("Z": a zombie), [19] the start
    time (clock ticks since boot), which with the pid names one process where a pid alone can
    be reused once pids wrap. FileNotFoundError: no such process."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()


def process(pidfile: Path) -> tuple[int, int]:
    pid = int(pidfile.read_text())
    return pid, int(stat_fields(pid)[19])


def kill(pidfile: Path) -> tuple[int, int]:
    pid, start = process(pidfile)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            fields = stat_fields(pid)
        except FileNotFoundError:
            return pid, start
        # A killed child of an exited parent may linger as a zombie (dead all the same); another
        # start time is another process that took the pid.
        if fields[0] == "Z" or int(fields[19]) != start:
            return pid, start
        time.sleep(0.1)
    raise AssertionError(f"process {pid} did not die")


def cluster_up() -> str:
    up = subprocess.run([str(CLUSTER_SH), "up"], capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stderr
    return up.stderr


def component_pidfile(name: str) -> Path:
    logs = subprocess.run(
        [str(CLUSTER_SH), "logs-dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(logs).parent / "pids" / f"{name}.pid"


def test_cluster_up_restarts_a_dead_kubelet_and_containerd(
    cluster: Any,
    real_node: str,
    real_container: Callable[..., dict[str, Any]],
    wait_phase: Callable[..., dict[str, Any]],
) -> None:
    assert cluster.local, "the real node belongs to the local cluster"
    old = {name: kill(RUN / f"{name}.pid") for name in ("kubelet", "containerd")}
    cluster_up()
    for name, killed in old.items():
        now = process(RUN / f"{name}.pid")
        assert now != killed, f"{name}: the pidfile still names the killed process {killed}"
        assert stat_fields(now[0])[0] != "Z", f"{name}: the new process {now[0]} is dead already"
    cluster.kubectl("wait", f"node/{real_node}", "--for=condition=Ready", "--timeout=60s")
    real_container("again")
    wait_phase("again", "Active", timeout=ACTIVE_TIMEOUT)


def test_cluster_up_restarts_dead_control_plane_components_and_keeps_the_state(
    cluster: Any,
    namespace: str,
    real_container: Callable[..., dict[str, Any]],
    wait_phase: Callable[..., dict[str, Any]],
) -> None:
    assert cluster.local
    cluster.kubectl("create", "configmap", "survivor", "-n", namespace, "--from-literal=a=b")
    for name in ("kube-scheduler", "kube-controller-manager"):
        kill(component_pidfile(name))
    log = cluster_up()
    assert "restarting kube-controller-manager kube-scheduler" in log, log
    # The same cluster, not a new one: what was stored before is still there.
    cluster.kubectl("get", "configmap", "survivor", "-n", namespace)
    # Scheduling and the controllers (Deployment -> ReplicaSet -> pod) work again.
    real_container("after")
    wait_phase("after", "Active", timeout=ACTIVE_TIMEOUT)
