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
from tests.conftest import BIN, Cluster, api_server_starting


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


@pytest.mark.timeout(900)
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
    # `make chaos`: longer than kopf's ~54 s of retries of one request (its watches then
    # start their retries again, measured: the operator lives on).
    time.sleep(size("OUTAGE_SECONDS", 5))
    outage = time.monotonic()
    # kube-controller-manager and kube-scheduler exit when their lease could not be renewed
    # during the outage (some now, some later); a real control plane's supervisor (kubelet,
    # systemd) restarts them.
    assert {"etcd", "kube-apiserver"} <= set(restart_dead(cluster))
    time.sleep(20)
    restart_dead(cluster)
    # Once a CI run found no operator behind the webhook here: its log then says why.
    log = chaos_operator.log_tail
    assert proc.poll() is None, f"the operator exited ({proc.returncode}):\n{log(200)}"
    # Work after the outage: a new container, a stop.
    created = cluster.kubectl(
        "create", "-n", domain, "-f", "-", input=_container("after"), check=False
    )
    assert created.returncode == 0, f"{created.stderr}\n{log(200)}"
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
        time.sleep(5)
        restart_dead(cluster)


COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def restart_dead(cluster: Cluster) -> list[str]:
    """Start the local control plane's dead components again, as `tools/cluster.sh up` does,
    but never recreate the cluster (that would wipe the state this test is about)."""
    cluster_dir = Path(cluster.kubeconfig).parent
    dead = []
    for component in COMPONENTS:
        pid_file = cluster_dir / "pids" / f"{component}.pid"
        if not pid_file.exists() or not _alive(int(pid_file.read_text())):
            dead.append(component)
            pid_file.unlink(missing_ok=True)
    if not dead:
        return dead
    with api_server_starting(cluster):
        kwok_env = {
            "KWOK_WORKDIR": str(cluster_dir.parents[1]),
            "KWOK_RUNTIME": "binary",
            "KWOK_KUBE_APISERVER_BINARY": str(BIN / "kube-apiserver"),
            "KWOK_KUBE_CONTROLLER_MANAGER_BINARY": str(BIN / "kube-controller-manager"),
            "KWOK_KUBE_SCHEDULER_BINARY": str(BIN / "kube-scheduler"),
            "KWOK_KUBECTL_BINARY": str(BIN / "kubectl"),
            "KWOK_ETCD_BINARY": str(BIN / "etcd"),
            "KWOK_CONTROLLER_BINARY": str(BIN / "kwok"),
        }
        start = subprocess.run(
            [str(BIN / "kwokctl"), "--name", cluster_dir.name, "start", "cluster"],
            capture_output=True,
            text=True,
            timeout=180,
            env={**cluster.env, **kwok_env},
        )
        assert start.returncode == 0, start.stderr
    return dead
