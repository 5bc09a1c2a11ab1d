"""The benchmark's private kwok cluster (bench/cluster.sh), its nodes, CRDs and catalog."""

from __future__ import annotations

import math
import os
import subprocess
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
BIN = Path(os.environ.get("JC_BIN", Path.home() / ".cache/jupyter-containers/bin"))

#: Pods per benchmark node: kwok nodes cost a heartbeat each, so few large ones.
PODS_PER_NODE = 500

INSTANCE_TYPE = "bench-small"
VOLUME = "bench-home"

INSTANCE_TYPE_SPEC = {"cpu": "100m", "memory": "256Mi", "order": 1, "displayName": "Bench"}
VOLUME_SPEC = {"type": "OnDemandPVC", "maxSize": "1Gi", "storageClassName": "kwok-volume"}


def catalog_objects() -> list[dict[str, object]]:
    group = "jupytercontainers.io/v1alpha1"
    return [
        {
            "apiVersion": group,
            "kind": "InstanceType",
            "metadata": {"name": INSTANCE_TYPE},
            "spec": INSTANCE_TYPE_SPEC,
        },
        {"apiVersion": group, "kind": "Volume", "metadata": {"name": VOLUME}, "spec": VOLUME_SPEC},
    ]


class BenchCluster:
    def __init__(self) -> None:
        self.script = BENCH / "cluster.sh"

    def _script(self, *args: str) -> str:
        out = subprocess.run([str(self.script), *args], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"bench/cluster.sh {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout.strip()

    def up(self) -> None:
        self._script("up")

    def down(self) -> None:
        self._script("down")

    @property
    def kubeconfig(self) -> Path:
        return Path(self._script("kubeconfig"))

    @property
    def audit_log(self) -> Path:
        return Path(self._script("audit-log-path"))

    @property
    def env(self) -> dict[str, str]:
        """Environment for processes that talk to this cluster (operator, kubectl)."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        }

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 600) -> str:
        out = subprocess.run(
            ["kubectl", *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout

    def ensure_nodes(self, pods: int) -> int:
        """Enough simulated nodes for `pods` pods (the shared nodes.yaml has 2 x 110)."""
        count = max(math.ceil(pods * 1.1 / PODS_PER_NODE), 1)
        nodes = [_node(f"bench-node-{i}", i) for i in range(count)]
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(nodes))
        self.kubectl("wait", "--for=condition=Ready", "node", "-l", "type=kwok", "--timeout=120s")
        deadline = time.monotonic() + 120
        # The node lifecycle controller removes the not-ready taint a moment after Ready.
        while self.kubectl(
            "get", "nodes", "-l", "type=kwok", "-o", "jsonpath={.items[*].spec.taints}"
        ).strip():
            if time.monotonic() > deadline:
                raise RuntimeError("node taints were not removed within 120s")
            time.sleep(0.5)
        return count

    def install(self) -> None:
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
        self.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        # Established comes before the new resources' storage serves lists ("storage is
        # (re)initializing", 429) for a moment.
        deadline = time.monotonic() + 60
        while True:
            try:
                self.kubectl(
                    "get", "jupytercontainers,resourcebundles", "-A", "--request-timeout=10s"
                )
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            input=yaml.safe_dump_all(catalog_objects()),
        )


def _node(name: str, index: int) -> dict[str, object]:
    capacity = {
        "cpu": "1000",
        "memory": "4Ti",
        # Room for two attempts: a start right after a terminate meets the previous attempt's
        # pods still being removed by the garbage collector (252 of 5000 starts went
        # Unschedulable, "Too many pods", with room for one, session 11).
        "pods": str(2 * PODS_PER_NODE),
        "ephemeral-storage": "10Ti",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/agent": "",
            },
        },
        # A /16 each: kwok hands out pod IPs from the node's podCIDR.
        "spec": {"podCIDR": f"10.{100 + index}.0.0/16", "podCIDRs": [f"10.{100 + index}.0.0/16"]},
        "status": {
            "addresses": [{"address": f"192.0.3.{10 + index}", "type": "InternalIP"}],
            "allocatable": capacity,
            "capacity": capacity,
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"},
        },
    }
