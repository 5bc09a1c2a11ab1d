"""Fixtures shared by the whole suite: the cluster and small kubectl helpers around it.

The cluster is the local kwok control plane (`tools/cluster.sh up`, see docs/local-cluster.md),
or, when KUBECONFIG is set, whatever it points at (kind, k3d, a real cluster), used as is.
Tests under tests/cluster/ are marked `cluster` automatically: `pytest -m 'not cluster'` runs
the rest without any API server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client, KubeConfig

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SH = REPO / "tools" / "cluster.sh"
NODE_SH = REPO / "tools" / "realnode" / "node.sh"
CRD_DIR = REPO / "crds"
BIN = Path(os.environ.get("JC_BIN") or Path.home() / ".cache" / "jupyter-containers" / "bin")
LOCAL_CONTEXT = "kwok-jupyter-containers"
TEST_NAMESPACE_LABEL = "jupytercontainers.io/test"
#: Every namespace of this test session starts with this, so the session's operator can
#: watch just them (`t-SESSION-*`) and two sessions on one cluster do not act on each
#: other's objects.
SESSION_ID = uuid.uuid4().hex[:4]
NAMESPACE_PREFIX = f"t-{SESSION_ID}-"

#: Beside the local cluster's kubeconfig: when a test (re)started its API server (see below).
API_SERVER_STARTS = "api-server-starts.jsonl"

Manifest = str | Mapping[str, Any] | Sequence[Mapping[str, Any]]
ApplyYaml = Callable[..., "subprocess.CompletedProcess[str]"]
WaitJsonpath = Callable[..., None]


@dataclass(frozen=True)
class Cluster:
    """How to reach the cluster: for kubectl here and for any subprocess a test starts."""

    kubeconfig: str
    context: str | None
    #: Environment for subprocesses: os.environ plus KUBECONFIG and PATH with $JC_BIN first.
    env: dict[str, str]
    #: True for the local kwok control plane, False for a cluster taken from KUBECONFIG.
    local: bool = False

    @property
    def kubectl_path(self) -> str:
        found = shutil.which("kubectl", path=self.env["PATH"])
        if found is None:
            raise AssertionError(f"no kubectl on PATH ({self.env['PATH']}); run `make tools`")
        return found

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the cluster; with `check`, a non-zero exit fails the test."""
        cmd = [self.kubectl_path]
        if self.context:
            cmd += ["--context", self.context]
        if as_user is not None:
            cmd += ["--as", as_user]
        for group in as_groups:
            cmd += ["--as-group", group]
        cmd += args
        try:
            result = subprocess.run(
                cmd,
                input=input,
                capture_output=True,
                text=True,
                env=self.env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"`{shlex.join(cmd)}` did not finish in {timeout}s") from exc
        if check and result.returncode != 0:
            raise AssertionError(
                f"`{shlex.join(cmd)}` exited {result.returncode}:\n{result.stderr}{result.stdout}"
            )
        return result


@contextmanager
def api_server_starting(cluster: Cluster) -> Iterator[None]:
    """Around a test's restart of the local API server, until it is ready: the window is
    recorded, because until its caches are synced its authorizer refuses what RBAC grants (a CI
    run: the operator's Lease get refused 1.3 s after a restart), and the least-privilege test
    must not take that refusal for the chart's."""
    began = datetime.now(UTC)
    try:
        yield
        deadline = time.monotonic() + 90
        while cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=10).stdout != "ok":
            assert time.monotonic() < deadline, "the API server is not ready 90 s after a restart"
            time.sleep(0.5)
    finally:
        window = [began.isoformat(), datetime.now(UTC).isoformat()]
        with (Path(cluster.kubeconfig).parent / API_SERVER_STARTS).open("a") as starts:
            starts.write(json.dumps(window) + "\n")


def api_server_starts(cluster: Cluster) -> list[tuple[datetime, datetime]]:
    """The windows `api_server_starting` recorded on this cluster (a new cluster has none)."""
    path = Path(cluster.kubeconfig).parent / API_SERVER_STARTS
    lines = path.read_text().splitlines() if path.exists() else []
    return [
        (datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in map(json.loads, lines)
    ]


def _subprocess_env(kubeconfig: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["KUBECONFIG"] = kubeconfig
    return env


def _local_cluster() -> Cluster:
    up = subprocess.run(
        [str(CLUSTER_SH), "up"], capture_output=True, text=True, timeout=600, check=False
    )
    if up.returncode != 0:
        pytest.fail(
            f"`tools/cluster.sh up` failed (exit {up.returncode}):\n{up.stderr}{up.stdout}\n"
            "Build the binaries with `make tools`, or set KUBECONFIG to use another cluster.",
            pytrace=False,
        )
    path = subprocess.run(
        [str(CLUSTER_SH), "kubeconfig"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Cluster(path, LOCAL_CONTEXT, _subprocess_env(path), local=True)


def _external_cluster(kubeconfig: str) -> Cluster:
    env = _subprocess_env(kubeconfig)
    probe = Cluster(kubeconfig, None, env)
    current = probe.kubectl("config", "current-context", check=False)
    # Pin the context the run started with, so a `kubectl config use-context` elsewhere during
    # the run cannot move the tests to another cluster.
    context = current.stdout.strip() if current.returncode == 0 else None
    return Cluster(kubeconfig, context or None, env)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The cluster of the session: KUBECONFIG's as is when set, else the local control plane."""
    kubeconfig = os.environ.get("KUBECONFIG")
    found = _external_cluster(kubeconfig) if kubeconfig else _local_cluster()
    ready = found.kubectl("get", "--raw", "/readyz", check=False, timeout=20)
    if ready.returncode != 0:
        pytest.fail(
            f"the API server of {found.kubeconfig} (context {found.context}) is not ready:\n"
            f"{ready.stderr}",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def operator_kubeconfig(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A kubeconfig holding only the token of a ServiceAccount with the chart's operator rules
    (tests/operator_identity.py): every operator process of the session runs with it."""
    from tests import operator_identity

    path = tmp_path_factory.mktemp("operator-identity") / "kubeconfig"
    yield operator_identity.create(cluster, path)
    operator_identity.delete(cluster)


@pytest.fixture
def kubectl(cluster: Cluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    return cluster.kubectl


def _namespace_name(test_name: str) -> str:
    # Readable in `kubectl get ns` when something is left behind, unique across parallel runs,
    # and short enough for tests that derive names from it (`{namespace}-deploy`).
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    slug = slug.removeprefix("test-")[:20].strip("-") or "t"
    return f"{NAMESPACE_PREFIX}{slug}-{uuid.uuid4().hex[:6]}"


def create_test_namespace(
    cluster: Cluster, test_name: str, labels: Mapping[str, str] | None = None, test_id: str = ""
) -> str:
    """Create a uniquely named test namespace (with `labels` from the start) and return its name.

    Returns once pods can be created in it. The caller deletes it.
    """
    name = _namespace_name(test_name)
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {TEST_NAMESPACE_LABEL: "true", **(labels or {})},
            "annotations": {"jupytercontainers.io/test-id": test_id or test_name},
        },
    }
    cluster.kubectl("create", "-f", "-", input=yaml.safe_dump(manifest))
    # Admission refuses pods until the service account controller made the default account.
    cluster.kubectl(
        "wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s", timeout=70
    )
    return name


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace, labelled jupytercontainers.io/test=true, deleted after the test."""
    name = create_test_namespace(cluster, request.node.name, test_id=request.node.nodeid)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def manifest_text(manifest: Manifest) -> str:
    """YAML text of a manifest given as text, one object, or a list of objects."""
    if isinstance(manifest, str):
        return manifest
    if isinstance(manifest, Mapping):
        return yaml.safe_dump(dict(manifest), sort_keys=False)
    return yaml.safe_dump_all([dict(obj) for obj in manifest], sort_keys=False)


@pytest.fixture
def apply_yaml(cluster: Cluster) -> ApplyYaml:
    """`kubectl apply --server-side --force-conflicts` (field manager `kubectl`, as a user's).

    Takes YAML text, one object or a list of objects; returns the CompletedProcess.
    """

    def apply(
        manifest: Manifest,
        namespace: str | None = None,
        as_user: str | None = None,
        check: bool = True,
        dry_run_server: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        args = ["apply", "--server-side", "--force-conflicts", "-f", "-"]
        if namespace is not None:
            args += ["-n", namespace]
        if dry_run_server:
            args.append("--dry-run=server")
        return cluster.kubectl(*args, input=manifest_text(manifest), check=check, as_user=as_user)

    return apply


@pytest.fixture
def wait_jsonpath(cluster: Cluster) -> WaitJsonpath:
    """`kubectl wait --for=jsonpath=...` (a watch); on timeout fails with the object's YAML.

    `resource` is kubectl's argument(s), e.g. "pod/nb" or "pods -l app=x"; `jsonpath` may be
    given with or without braces ("{.status.phase}" or ".status.phase").
    """

    def wait(
        resource: str,
        jsonpath: str,
        value: str,
        namespace: str | None = None,
        timeout: float = 60,
    ) -> None:
        expression = jsonpath if jsonpath.startswith("{") else "{" + jsonpath + "}"
        ns = ["-n", namespace] if namespace is not None else []
        target = shlex.split(resource)
        result = cluster.kubectl(
            "wait",
            *target,
            *ns,
            f"--for=jsonpath={expression}={value}",
            f"--timeout={timeout:g}s",
            check=False,
            timeout=timeout + 15,
        )
        if result.returncode != 0:
            current = cluster.kubectl("get", *target, *ns, "-o", "yaml", check=False)
            raise AssertionError(
                f"{resource}: {expression} did not become {value!r} within {timeout:g}s "
                f"({result.stderr.strip()}); now:\n{current.stdout or current.stderr}"
            )

    return wait


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> list[str]:
    """Every CRD in crds/ applied server-side and Established; returns their names."""
    files = sorted(CRD_DIR.glob("*.yaml"))
    names = [
        doc["metadata"]["name"]
        for path in files
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]
    if not names:
        return []
    args = [arg for path in files for arg in ("-f", str(path))]
    cluster.kubectl("apply", "--server-side", "--force-conflicts", *args)
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        *(f"crd/{name}" for name in names),
        "--timeout=60s",
        timeout=70,
    )
    return names


@pytest.fixture(scope="session")
def lightkube_client(cluster: Cluster) -> Client:
    """A synchronous lightkube Client for the cluster (first file of a KUBECONFIG list)."""
    path = cluster.kubeconfig.split(os.pathsep)[0]
    config = KubeConfig.from_file(path).get(context_name=cluster.context)
    if config is None:
        pytest.fail(f"no context {cluster.context!r} in {path}", pytrace=False)
    return Client(config=config, field_manager="jupyter-containers-tests")


def no_real_node_reason() -> str | None:
    """Why this session's cluster has no real node (tools/realnode), or None when it has one.

    None also where it should have one but it is not Ready: those tests then fail."""
    if os.environ.get("JC_REAL_NODE") == "0":
        return "JC_REAL_NODE=0"
    if os.environ.get("KUBECONFIG"):
        return "the cluster comes from KUBECONFIG (the real node belongs to the local cluster)"
    if os.environ.get("JC_REAL_NODE") != "1":
        check = subprocess.run([str(NODE_SH), "check"], capture_output=True, text=True)
        if check.returncode != 0:
            return f"this machine cannot run the real node: {check.stdout.strip()}"
    return None


_DESELECTED = pytest.StashKey[tuple[int, str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cluster_dir = Path(__file__).parent / "cluster"
    chaos_dir = Path(__file__).parent / "chaos"
    realnode_dir = cluster_dir / "realnode"
    for item in items:
        if cluster_dir in item.path.parents or chaos_dir in item.path.parents:
            item.add_marker(pytest.mark.cluster)
        if chaos_dir in item.path.parents:
            item.add_marker(pytest.mark.chaos)
        if realnode_dir in item.path.parents:
            item.add_marker(pytest.mark.realnode)
        if item.get_closest_marker("realnode") is not None and not item.get_closest_marker(
            "timeout"
        ):
            # Real pods: a cold image pull and a terminate/start cycle outlast the default 300 s.
            item.add_marker(pytest.mark.timeout(900))
    # Tests that judge what the whole session did (the audit log) run after all the others.
    last = [item for item in items if item.get_closest_marker("session_end") is not None]
    items[:] = [item for item in items if item.get_closest_marker("session_end") is None] + last
    real = [item for item in items if item.get_closest_marker("realnode") is not None]
    reason = no_real_node_reason() if real else None
    if reason is not None:
        # Deselected, never skipped: the summary says how many did not run, and why.
        items[:] = [item for item in items if item.get_closest_marker("realnode") is None]
        config.hook.pytest_deselected(items=real)
        config.stash[_DESELECTED] = (len(real), reason)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _DESELECTED in config.stash:
        count, reason = config.stash[_DESELECTED]
        terminalreporter.write_line(f"{count} real-node tests deselected: {reason}", yellow=True)


# ---------------------------------------------------------------- the session's operator
# Here, not in tests/cluster/conftest.py: the console tests (a sibling directory) use the
# same operator. A fixture imported into a second conftest is a second fixture, and was a
# second operator process in the session (two reconcilers, two cullers).


@pytest.fixture(scope="session")
def catalog(cluster: Cluster, crds: Any) -> None:
    from tests.cluster.conftest import CATALOG

    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=CATALOG)


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster,
    crds: Any,
    catalog: None,
    operator_kubeconfig: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    from tests import operator_identity
    from tests.cluster.conftest import OperatorProcess

    # As the chart's ServiceAccount with the chart's rules (tests/operator_identity.py), so the
    # cluster tests prove them sufficient and test_least_privilege.py that none is unused.
    # It elects itself with the chart's Lease (a one-replica release).
    env = {
        **cluster.env,
        "KUBECONFIG": operator_kubeconfig,
        **operator_identity.leader_election_env(),
        **operator_identity.prepull_env(),
    }
    op = OperatorProcess(env, tmp_path_factory.mktemp("operator"))
    op.start()
    yield op
    # Test namespaces are deleted without waiting; their containers' finalizers need
    # the operator, so let it finish them before it stops.
    listing = cluster.kubectl("get", "namespaces", "-o", "name", check=False).stdout.split()
    ours = [n for n in listing if n.startswith(f"namespace/{NAMESPACE_PREFIX}")]
    if ours and op.proc is not None:
        cluster.kubectl("wait", "--for=delete", *ours, "--timeout=60s", check=False, timeout=70)
    op.stop()
