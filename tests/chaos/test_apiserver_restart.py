"""The API server and etcd killed and started again under load: the operator recovers by itself.

Local control plane only (its processes are ours to kill): kill -9 etcd and kube-apiserver
while containers are starting, start them again (`tools/cluster.sh up` restarts the dead
components and keeps etcd's data), then go on working. The operator process must be the same
one throughout (no restart), and everything must settle as its spec says.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.chaos import checker
from tests.chaos.conftest import size
from tests.cluster.conftest import OperatorProcess
from tests.conftest import CLUSTER_SH, Cluster


def _container(name: str, running: bool = True) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterContainer",
            "metadata": {"name": name},
            "spec": {"bundle": "team", "instanceType": "test-small", "running": running},
        }
    )


def _kill(cluster_dir: Path, component: str) -> None:
    pid = int((cluster_dir / "pids" / f"{component}.pid").read_text())
    os.kill(pid, signal.SIGKILL)


def _phase_all(cluster: Cluster, ns: str, names: dict[str, bool], timeout: int = 180) -> None:
    deadline = time.monotonic() + timeout
    for name, running in names.items():
        left = max(int(deadline - time.monotonic()), 5)
        cluster.kubectl(
            "wait",
            f"jc/{name}",
            "-n",
            ns,
            f"--for=jsonpath={{.status.phase}}={'Active' if running else 'Stopped'}",
            f"--timeout={left}s",
            check=False,
            timeout=left + 10,
        )


def test_api_server_and_etcd_restart_under_load(
    cluster: Cluster, chaos_operator: OperatorProcess, domain: str
) -> None:
    if not cluster.local:
        pytest.skip("kills the local control plane's processes (KUBECONFIG cluster given)")
    load = size("LOAD", 3)
    cluster_dir = Path(cluster.kubeconfig).parent
    proc, starts = chaos_operator.proc, chaos_operator.starts
    assert proc is not None
    names = {f"load-{i}": True for i in range(load)}
    for name in names:
        cluster.kubectl("create", "-n", domain, "-f", "-", input=_container(name))
    # While the operator is applying and watching them: the API server and etcd go.
    _kill(cluster_dir, "kube-apiserver")
    _kill(cluster_dir, "etcd")
    time.sleep(5)
    outage = time.monotonic()
    up = _cluster_up(cluster)
    assert "restart" in up, up
    # Work after the outage: a new container, a stop.
    cluster.kubectl("create", "-n", domain, "-f", "-", input=_container("after"))
    names["after"] = True
    stop = json.dumps({"spec": {"running": False}})
    cluster.kubectl("patch", "jc", "load-0", "-n", domain, "--type=merge", "-p", stop)
    names["load-0"] = False
    _phase_all(cluster, domain, names)
    recovered = time.monotonic() - outage
    time.sleep(3)
    report = checker.inspect(cluster, [domain])
    sys.stderr.write(
        f"\nchaos API server restart: {load + 1} containers, all settled {recovered:.0f} s "
        f"after the restart began; {report}\n"
    )
    assert chaos_operator.proc is proc and proc.poll() is None, chaos_operator.log_tail()
    assert chaos_operator.starts == starts, "the operator was restarted"
    assert not report.problems(), str(report)


@pytest.fixture(autouse=True)
def _whole_control_plane_after(cluster: Cluster) -> Iterator[None]:
    """kube-controller-manager and kube-scheduler may exit a little later, when their
    leader-election lease could not be renewed during the outage: later tests need them."""
    yield
    if cluster.local:
        time.sleep(20)
        _cluster_up(cluster)


def _cluster_up(cluster: Cluster) -> str:
    up = subprocess.run(
        [str(CLUSTER_SH), "up"], capture_output=True, text=True, timeout=300, env=cluster.env
    )
    assert up.returncode == 0, up.stderr
    return up.stderr
