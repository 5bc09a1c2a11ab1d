"""Fixtures for tests on the local cluster's real node (tools/realnode): real JupyterLab pods.

Pods land there through an InstanceType that selects the node and tolerates its taint, and On
Demand PVCs are provisioned by the node's local-path provisioner. Every test here is marked
`realnode`. Where the session's cluster has no real node (JC_REAL_NODE=0, or a KUBECONFIG
cluster), these tests are deselected and the run says so; where it should have one but the node
is not Ready, they fail.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NODE_NAME = "jc-real-node"
STORAGE_CLASS = "jc-local-path"
VOLUME_DIR = Path.home() / ".cache" / "jupyter-containers" / "realnode" / "volumes"

#: Small enough that several JupyterLab pods fit on a 2-core development machine.
REAL_CATALOG = f"""
apiVersion: jupytercontainers.io/v1alpha1
kind: InstanceType
metadata: {{name: real-tiny}}
spec:
  displayName: Real node, tiny
  cpu: "1"
  memory: 768Mi
  requestRatio: 0.1
  order: 90
  nodeSelector: {{type: real}}
  tolerations:
  - {{key: jupytercontainers.io/real-node, operator: Exists, effect: NoSchedule}}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: InstanceType
metadata: {{name: real-oom}}
spec:
  displayName: Real node, 256Mi
  cpu: "1"
  memory: 256Mi
  requestRatio: 0.1
  order: 91
  nodeSelector: {{type: real}}
  tolerations:
  - {{key: jupytercontainers.io/real-node, operator: Exists, effect: NoSchedule}}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: Volume
metadata: {{name: real-home}}
spec: {{type: OnDemandPVC, maxSize: 1Gi, storageClassName: {STORAGE_CLASS}}}
"""


@pytest.fixture(scope="session")
def real_node(cluster: Any) -> str:
    """The real node's name, once it is Ready (fails the test, never skips, when it is not)."""
    result = cluster.kubectl(
        "wait",
        f"node/{NODE_NAME}",
        "--for=condition=Ready",
        "--timeout=90s",
        check=False,
        timeout=100,
    )
    if result.returncode != 0:
        pytest.fail(
            f"the real node {NODE_NAME} is not Ready ({result.stderr.strip()}): see "
            "`tools/cluster.sh status` and ~/.cache/jupyter-containers/realnode/logs/",
            pytrace=False,
        )
    return NODE_NAME


@pytest.fixture(scope="session")
def real_catalog(cluster: Any, crds: Any, real_node: str) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=REAL_CATALOG)


@pytest.fixture
def real_container(
    make_container: Callable[..., dict[str, Any]], real_catalog: None
) -> Callable[..., dict[str, Any]]:
    """make_container on the real node: instance type real-tiny unless given."""

    def make(name: str, **spec: Any) -> dict[str, Any]:
        spec.setdefault("instanceType", "real-tiny")
        return make_container(name, **spec)

    return make


@dataclass
class Lab:
    """A JupyterLab reached through `kubectl jupyter open` (a port-forward kept open)."""

    url: str  # http://127.0.0.1:PORT/BASE/lab?token=...
    base: str  # http://127.0.0.1:PORT/BASE/
    token: str
    process: subprocess.Popen[str]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: bool = True,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        """One HTTP request to BASE/path; (status, decoded JSON or text)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"token {self.token}")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read().decode(errors="replace")
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw


_URL = re.compile(r"(http://127\.0\.0\.1:\d+(/\S*/)lab\?token=(\S+))")


@pytest.fixture
def open_lab(cluster: Any, namespace: str) -> Iterator[Callable[[str], Lab]]:
    """Run `kubectl jupyter open NAME` and return the Lab it prints; stopped after the test."""
    opened: list[subprocess.Popen[str]] = []

    def open_(name: str, timeout: float = 60) -> Lab:
        env = {**cluster.env, "NO_COLOR": "1", "COLUMNS": "400"}
        process = subprocess.Popen(
            ["kubectl-jupyter", "open", name, "-n", namespace],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        opened.append(process)
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(
            target=lambda: [lines.put(line) for line in process.stdout], daemon=True
        ).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if process.poll() is not None:
                    raise AssertionError(
                        f"kubectl jupyter open exited {process.returncode}: "
                        f"{process.stderr.read() if process.stderr else ''}"
                    ) from None
                continue
            match = _URL.search(line)
            if match:
                url, path, token = match.groups()
                base = url.split("/lab?token=")[0] + "/"
                assert base.endswith(path)
                return Lab(url=url, base=base, token=urllib.parse.unquote(token), process=process)
        raise AssertionError(f"kubectl jupyter open printed no URL within {timeout}s")

    yield open_
    for process in opened:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def pod_of(cluster: Any) -> Callable[[str, str], dict[str, Any]]:
    """The one pod of a container (by its uid label) in a namespace."""

    def pod(namespace: str, uid: str) -> dict[str, Any]:
        out = cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", f"jupytercontainers.io/uid={uid}", "-o", "json"
        )
        items = json.loads(out.stdout)["items"]
        assert len(items) == 1, [i["metadata"]["name"] for i in items]
        return dict(items[0])

    return pod
