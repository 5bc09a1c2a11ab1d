"""Fixtures for tests that need the operator: a real operator process, a catalog, containers.

The operator runs as its own process (as in production), with short deadlines so
that failure paths finish quickly, against the cluster of the `cluster` fixture.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import NAMESPACE_PREFIX

REPO = Path(__file__).resolve().parents[2]

#: Deadlines shortened for the tests; everything else is the operator's default.
TEST_SETTINGS = {
    "JC_START_DEADLINE_SECONDS": "40",
    "JC_UNSCHEDULABLE_GRACE_SECONDS": "3",
    "JC_PVC_BIND_GRACE_SECONDS": "20",
    # Culling is off unless an InstanceType asks for it; the ones that do want quick probes.
    "JC_CULL_PROBE_INTERVAL_SECONDS": "2",
    "JC_CULL_PROBE_TIMEOUT_SECONDS": "2",
}


@functools.cache  # one answer per session; every OperatorProcess asks
def real_node_pod_subnet() -> str:
    """The real node's pod subnet, as tools/realnode/node.sh configures it."""
    script = REPO / "tools" / "realnode" / "node.sh"
    out = subprocess.run([str(script), "pod-subnet"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


CATALOG = """
apiVersion: jupytercontainers.io/v1alpha1
kind: InstanceType
metadata: {name: test-small}
spec: {cpu: "1", memory: 2Gi, order: 1, displayName: Small}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: InstanceType
metadata: {name: test-large}
spec: {cpu: "4", memory: 16Gi, order: 20, displayName: Large}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: InstanceType
metadata: {name: test-gpu-only}
spec: {cpu: "1", memory: 1Gi, order: 30, nodeSelector: {accelerator: does-not-exist}}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: Volume
metadata: {name: test-home}
spec: {type: OnDemandPVC, maxSize: 1Gi, storageClassName: kwok-volume}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: Volume
metadata: {name: test-home-large}
spec: {type: OnDemandPVC, maxSize: 5Gi, storageClassName: kwok-volume}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: Volume
metadata: {name: test-unbound}
spec: {type: OnDemandPVC, maxSize: 1Gi, storageClassName: no-such-class}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: Volume
metadata: {name: test-nfs}
spec: {type: NFS, nfs: {server: nfs.example.internal, path: /exports/team}}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: Volume
metadata: {name: test-hostpath}
spec: {type: HostPath, hostPath: /data}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: JupyterImage
metadata: {name: x}
spec: {image: "registry.example/x:1"}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: JupyterImage
metadata: {name: minimal}
spec: {image: "quay.io/jupyter/minimal-notebook"}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: JupyterImage
metadata: {name: scipy}
spec: {image: "quay.io/jupyter/scipy-notebook:latest"}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: JupyterImage
metadata: {name: r-notebook}
spec: {image: "quay.io/jupyter/r-notebook"}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: JupyterImage
metadata: {name: base-1}
spec: {image: "jupyter/base:1"}
---
apiVersion: jupytercontainers.io/v1alpha1
kind: JupyterImage
metadata: {name: base-2}
spec: {image: "jupyter/base:2"}
"""


def jupyterlab_image(name: str = "jupyterlab") -> str:
    """The reference of a locally built image, jupyterlab or pause (tools/realnode/images.sh)."""
    script = REPO / "tools" / "realnode" / "images.sh"
    return subprocess.run(
        [str(script), "ref", name], capture_output=True, text=True, check=True
    ).stdout.strip()


def eventually(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    """The first truthy answer of `probe`, polled for `timeout` seconds (else fails, with the
    last answer)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:g}s (last: {last!r})")


def example_docs(namespace: str, without: Collection[Path] = ()) -> list[dict[str, Any]]:
    """examples/*.yaml (but the files `without`) as a test applies them: its own namespace
    stands in for team-a, whose Namespace is left out."""
    docs = []
    for path in sorted((REPO / "examples").glob("*.yaml")):
        if path in without:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc["kind"] == "Namespace":
                continue
            if doc["metadata"].get("namespace") == "team-a":
                doc["metadata"]["namespace"] = namespace
            docs.append(doc)
    return docs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    """The operator as a subprocess; restartable, with its log kept for failures."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, role: str | None = None) -> None:
        #: `--role` (jupyter_containers.shell.roles); None: the default, all in one process.
        self.role = role
        self.metrics_port = _free_port()
        self.health_port = _free_port()
        self.webhook_port = _free_port()
        self.env = {
            **env,
            **TEST_SETTINGS,
            # Only the real node's pod subnet: kwok's pod IPs are not routed here, so a probe
            # of one (with a token) would leave the machine.
            "JC_CULL_PROBE_NETWORKS": real_node_pod_subnet(),
            "JC_METRICS_PORT": str(self.metrics_port),
            "JC_HEALTH_PORT": str(self.health_port),
            "JC_WEBHOOK_PORT": str(self.webhook_port),
            "JC_WEBHOOK_HOST": "127.0.0.1",
            # Only this session's namespaces: other sessions may share the cluster.
            "JC_WATCH_NAMESPACES": f"{NAMESPACE_PREFIX}*",
            # The locally built JupyterLab (the real node pulls it from the local registry;
            # kwok's simulated pods never pull).
            "JC_JUPYTER_IMAGE": jupyterlab_image(),
            # Pre-pull pods sleep in the pause image the real node already runs as its sandbox.
            "JC_PREPULL_PAUSE_IMAGE": jupyterlab_image("pause"),
            "PYTHONUNBUFFERED": "1",
        }
        # Stable across restarts of this process, as a pod's name is across container restarts
        # (the chart's identity): a restarted leader renews its own Lease at once.
        self.env.setdefault("JC_LEADER_ELECTION_IDENTITY", f"operator-{uuid.uuid4().hex[:8]}")
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"operator-{self.starts}.log"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self, timeout: float = 60) -> None:
        assert self.proc is None, "operator already running"
        self.starts += 1
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_containers.main",
                "--verbose",
                *(["--role", self.role] if self.role else []),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited:\n{self.log_tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"operator not healthy after {timeout}s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a crashed or evicted operator."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
            return resp.read().decode()


@pytest.fixture
def operator_log(operator: OperatorProcess, request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        sys.stderr.write(f"\n--- operator log ---\n{operator.log_tail(200)}\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture
def bundle(cluster: Any, namespace: str) -> str:
    """A ResourceBundle `team` in the test namespace, owned by alice."""
    cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "jupytercontainers.io/v1alpha1",
                "kind": "ResourceBundle",
                "metadata": {"name": "team"},
                "spec": {"owner": "alice"},
            }
        ),
    )
    return "team"


def container_manifest(name: str, bundle: str = "team", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "JupyterContainer",
        "metadata": {"name": name},
        "spec": {"bundle": bundle, **spec},
    }


def catalog_image(cluster: Any, image: str) -> str:
    """spec.image names a JupyterImage: an image reference given to `make_container` is
    entered in the catalog first (named by its hash); a catalog name is kept."""
    if "/" not in image and ":" not in image:
        return image
    name = "t-" + hashlib.sha256(image.encode()).hexdigest()[:12]
    entry = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "JupyterImage",
        "metadata": {"name": name},
        "spec": {"image": image},
    }
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(entry))
    return name


def scenario(name: str) -> dict[str, str]:
    """Tags that make the local cluster's kwok stages produce a pod outcome."""
    return {"sim.jupytercontainers.io/scenario": name}


@pytest.fixture
def make_container(
    cluster: Any, namespace: str, bundle: str, operator: OperatorProcess, operator_log: None
) -> Callable[..., dict[str, Any]]:
    def make(name: str, **spec: Any) -> dict[str, Any]:
        if "image" in spec:
            spec["image"] = catalog_image(cluster, spec["image"])
        manifest = container_manifest(name, bundle, **spec)
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))
        return manifest

    return make


def events_about(
    kubectl: Callable[..., Any], namespace: str, kind: str, name: str, **fields: str
) -> list[dict[str, Any]]:
    """Kubernetes Events in `namespace` about one object (more field selectors as keywords)."""
    selector = ",".join(
        [f"involvedObject.kind={kind}", f"involvedObject.name={name}"]
        + [f"{k}={v}" for k, v in fields.items()]
    )
    out = kubectl("get", "events", "-n", namespace, "--field-selector", selector, "-o", "json")
    return list(json.loads(out.stdout)["items"])


def get_jc(cluster: Any, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", "jupytercontainer", name, "-n", namespace, "-o", "json")
    return json.loads(out.stdout)


@pytest.fixture
def wait_phase(cluster: Any, namespace: str) -> Callable[..., dict[str, Any]]:
    """Wait (a watch, through kubectl wait) for a container's phase; returns the object."""

    def wait(
        name: str, phase: str, timeout: float = 60, reason: str | None = None
    ) -> dict[str, Any]:
        """Until status.phase is `phase` (and, when given, status.reason is `reason`).

        The reason is awaited too, not just read: a phase such as Starting passes through
        several progress reasons.
        """
        deadline = time.monotonic() + timeout
        for path, want in (("phase", phase), ("reason", reason)):
            if want is None:
                continue
            left = max(int(deadline - time.monotonic()), 1)
            result = cluster.kubectl(
                "wait",
                f"jupytercontainer/{name}",
                "-n",
                namespace,
                f"--for=jsonpath={{.status.{path}}}={want}",
                f"--timeout={left}s",
                check=False,
                timeout=left + 10,
            )
            if result.returncode != 0:
                obj = get_jc(cluster, namespace, name)
                raise AssertionError(
                    f"{name} did not reach {path} {want} in {timeout}s; status:\n"
                    f"{yaml.safe_dump(obj.get('status'))}"
                )
        obj = get_jc(cluster, namespace, name)
        assert obj["status"]["phase"] == phase, yaml.safe_dump(obj["status"])
        return obj

    return wait
