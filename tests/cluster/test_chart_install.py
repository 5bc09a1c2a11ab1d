"""The Helm chart on a real API server: install it, prove its RBAC sufficient and not excessive.

kwok simulates the operator Deployment's pod (nothing runs in it), so the real operator runs
here as a local process with the chart's ServiceAccount token (a kubeconfig holding only that
token: no impersonation, no admin credentials), the chart's settings ConfigMap and its webhook
certificate. The one network path kwok lacks, Service -> pod, is replaced: the chart's webhook
Service becomes an ExternalName Service for localhost, where the operator listens on port 443.
The API server still finds the webhooks through the chart's configurations and that Service
name, and checks the operator's certificate against the chart's caBundle.

The chart's webhooks are limited to this test's team namespace, and the operator watches only
it and the team's deployment namespace, so other tests on the same cluster are unaffected.
The session's own operator (managed webhooks for every namespace, admin credentials) is
stopped while this module runs.

The tests run in file order: the module fixtures install, upgrade and finally uninstall.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import eventually
from tests.operator_identity import write_token_kubeconfig
from tests.unit.test_chart import (
    CHART,
    EXPECTED_NAMESPACED_EXTRA,
    EXPECTED_OPERATOR_RULES,
    helm_binary,
    triples,
)

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]

WEBHOOK_PORT = 443  # the chart's webhook Service port: an ExternalName Service keeps it
DEPLOYABLE = "jupytercontainers.io/deployable"  # opens a namespace to other domains' containers


@dataclass
class Release:
    name: str
    namespace: str  # the operator's
    team: str  # a domain: where people create containers
    work: str  # where the team's containers run (spec.namespace)
    fullname: str
    service_account: str
    revision_after_upgrade: int
    tls_before: dict[str, str]
    tls_after: dict[str, str]
    ca_bundles_before: set[str]
    ca_bundles_after: set[str]

    @property
    def sa_user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def _helm(cluster: Any, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    context = ["--kube-context", cluster.context] if cluster.context else []
    result = subprocess.run(
        [helm_binary(), *context, *args],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _json(cluster: Any, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def _ca_bundles(cluster: Any, fullname: str) -> set[str]:
    bundles = set()
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        config = _json(cluster, "get", kind, fullname)
        bundles |= {hook["clientConfig"]["caBundle"] for hook in config["webhooks"]}
    return bundles


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def release(cluster: Any, crds: Any, catalog: Any, operator: Any) -> Iterator[Release]:
    from jupyter_containers.shell.webhook_server import WEBHOOK_CONFIGURATION

    # The session operator reconciles every namespace and its managed webhooks (if left behind)
    # would judge this test's requests: it pauses while the chart's operator works.
    operator.stop()
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        cluster.kubectl("delete", kind, WEBHOOK_CONFIGURATION, "--ignore-not-found")

    suffix = uuid.uuid4().hex[:6]
    name, namespace = f"jc{suffix}", f"chart-{suffix}"
    team, work = f"{namespace}-team", f"{namespace}-work"
    fullname = f"{name}-jupyter-containers"
    # Pods in the operator's namespace and in the deployment namespace must pass the restricted
    # Pod Security Standard, which the API server enforces there.
    for ns, labels in (
        (namespace, ["pod-security.kubernetes.io/enforce=restricted"]),
        (team, []),
        (work, ["pod-security.kubernetes.io/enforce=restricted", f"{DEPLOYABLE}={team}"]),
    ):
        cluster.kubectl("create", "namespace", ns)
        if labels:
            cluster.kubectl("label", "namespace", ns, *labels)
    values = [
        "--set",
        f"operator.watchNamespaces={{{team},{work}}}",
        "--set-json",
        "webhook.namespaceSelector="
        + json.dumps({"matchLabels": {"kubernetes.io/metadata.name": team}}),
        # The user ClusterRoles have fixed names other tests may have applied from examples/.
        "--set",
        "rbac.userRoles.create=false",
        # Every write of this operator carries its own field manager, so it can be told apart.
        "--set",
        f"operator.fieldManager={name}-operator",
    ]
    try:
        _helm(cluster, "install", name, str(CHART), "--namespace", namespace, *values)
        secret = f"{fullname}-webhook-tls"
        tls_before = _json(cluster, "get", "secret", secret, "-n", namespace)["data"]
        ca_before = _ca_bundles(cluster, fullname)
        _helm(cluster, "upgrade", name, str(CHART), "--namespace", namespace, "--reuse-values")
        status = json.loads(
            _helm(cluster, "status", name, "--namespace", namespace, "-o", "json").stdout
        )
        yield Release(
            name=name,
            namespace=namespace,
            team=team,
            work=work,
            fullname=fullname,
            service_account=fullname,
            revision_after_upgrade=int(status["version"]),
            tls_before=tls_before,
            tls_after=_json(cluster, "get", "secret", secret, "-n", namespace)["data"],
            ca_bundles_before=ca_before,
            ca_bundles_after=_ca_bundles(cluster, fullname),
        )
    finally:
        _helm(cluster, "uninstall", name, "--namespace", namespace, "--ignore-not-found")
        for ns in (team, work, namespace):
            cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false")
        operator.start()


@dataclass
class LocalProcess:
    """One container of the chart's operator pod, run here as a process."""

    container: str
    proc: subprocess.Popen[bytes]
    log: Path
    health_port: int


class LocalOperator:
    """The chart's operator pod as local processes: one per container, with its args."""

    def __init__(self, processes: list[LocalProcess], metrics: int):
        self.processes, self.metrics_port = processes, metrics

    def process(self, container: str) -> LocalProcess:
        (found,) = [p for p in self.processes if p.container == container]
        return found

    @property
    def health_port(self) -> int:
        return self.process("operator").health_port

    def log_text(self) -> str:
        return "".join(
            f"--- {p.container} ---\n" + p.log.read_text(errors="replace") for p in self.processes
        )

    def get(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()


def _service_account_kubeconfig(cluster: Any, release: Release, path: Path) -> None:
    """A kubeconfig whose only credential is a token of the chart's ServiceAccount."""
    token = cluster.kubectl(
        "create", "token", release.service_account, "-n", release.namespace, "--duration=1h"
    ).stdout.strip()
    write_token_kubeconfig(cluster, token, path)


@pytest.fixture(scope="module")
def local_operator(
    cluster: Any, release: Release, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalOperator]:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", WEBHOOK_PORT))
        except OSError as err:
            pytest.fail(
                f"port {WEBHOOK_PORT} on 127.0.0.1 is taken ({err}): the chart's webhook Service "
                "port must be free here for the API server to reach the local operator"
            )
    ns, fullname = release.namespace, release.fullname
    work = tmp_path_factory.mktemp("chart-operator")

    service = f"{fullname}-webhook"
    cluster.kubectl("delete", "service", service, "-n", ns)
    cluster.kubectl(
        "create",
        "-n",
        ns,
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": service},
                "spec": {
                    "type": "ExternalName",
                    "externalName": "localhost",
                    "ports": [{"name": "https", "port": WEBHOOK_PORT}],
                },
            }
        ),
    )

    # What the pod would mount: the chart's certificate Secret and settings ConfigMap.
    certs = work / "webhook-tls"
    certs.mkdir()
    for key, value in _json(cluster, "get", "secret", f"{fullname}-webhook-tls", "-n", ns)[
        "data"
    ].items():
        (certs / key).write_bytes(base64.b64decode(value))
    settings = _json(cluster, "get", "configmap", f"{fullname}-settings", "-n", ns)["data"]
    kubeconfig = work / "kubeconfig"
    _service_account_kubeconfig(cluster, release, kubeconfig)

    metrics = _free_port()
    base = {k: v for k, v in cluster.env.items() if not k.startswith("JC_")}
    base.update(settings)
    base.update(
        {
            "KUBECONFIG": str(kubeconfig),
            # Local stand-ins for the pod's network and mounts; everything else is the chart's.
            "JC_WEBHOOK_LISTEN_ADDRESS": "127.0.0.1",
            "JC_WEBHOOK_PORT": str(WEBHOOK_PORT),
            "JC_WEBHOOK_CERT_DIR": str(certs),
            "JC_LOG_FORMAT": "text",
            "PYTHONUNBUFFERED": "1",
        }
    )
    # Each container of the chart's pod, with its own args and literal env (the pod's ports are
    # replaced by free local ones: two processes here share one network namespace, as in a pod,
    # but other tests' processes share it too).
    deployment = _json(cluster, "get", "deployment", fullname, "-n", ns)
    processes: list[LocalProcess] = []
    op = LocalOperator(processes, metrics)
    try:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            env = dict(base)
            env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
            health = _free_port()
            env["JC_HEALTH_PORT"] = str(health)
            if env.get("JC_METRICS_PORT") != "0":
                env["JC_METRICS_PORT"] = str(metrics)
            log = work / f"{container['name']}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "jupyter_containers.main",
                        "--verbose",
                        *container.get("args", []),
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            processes.append(LocalProcess(container["name"], proc, log, health))
        deadline = time.monotonic() + 60
        while True:
            for p in processes:
                assert p.proc.poll() is None, f"{p.container} exited:\n{op.log_text()[-5000:]}"
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", WEBHOOK_PORT), timeout=1).close()
                if all(op.get(p.health_port, "/healthz")[0] == 200 for p in processes):
                    break
            assert time.monotonic() < deadline, f"operator not up:\n{op.log_text()[-5000:]}"
            time.sleep(0.3)
        yield op
    finally:
        for p in processes:
            p.proc.terminate()
        for p in processes:
            try:
                p.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait()
        sys.stderr.write(f"\n--- chart operator log (tail) ---\n{op.log_text()[-3000:]}\n")


# ---------------------------------------------------------------- the install itself


def test_install_runs_the_operator_pod_under_restricted_pod_security(
    cluster: Any, release: Release
) -> None:
    ns = release.namespace
    selector = f"app.kubernetes.io/instance={release.name},app.kubernetes.io/component=operator"
    deadline = time.monotonic() + 60
    # The chart's default: two replicas (every one serves admission; the Lease's holder
    # reconciles).
    while len(pods := _json(cluster, "get", "pods", "-n", ns, "-l", selector)["items"]) < 2:
        events = cluster.kubectl("get", "events", "-n", ns).stdout
        assert time.monotonic() < deadline, f"not both operator pods were admitted:\n{events}"
        time.sleep(0.5)
    for pod in pods:
        assert pod["spec"]["serviceAccountName"] == release.service_account
    labels = _json(cluster, "get", "namespace", ns)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    crds = {c["metadata"]["name"] for c in _json(cluster, "get", "crd")["items"]}
    assert {
        "jupytercontainers.jupytercontainers.io",
        "resourcebundles.jupytercontainers.io",
        "instancetypes.jupytercontainers.io",
        "volumes.jupytercontainers.io",
    } <= crds


def test_upgrade_keeps_the_webhook_certificate(release: Release) -> None:
    assert release.revision_after_upgrade == 2
    assert set(release.tls_before) == {"ca.crt", "tls.crt", "tls.key"}
    assert release.tls_after == release.tls_before
    assert release.ca_bundles_after == release.ca_bundles_before == {release.tls_before["ca.crt"]}


# ---------------------------------------------------------------- not excessive


def test_cluster_role_is_exactly_the_expected_rules(cluster: Any, release: Release) -> None:
    role = _json(cluster, "get", "clusterrole", f"{release.fullname}-operator")
    # Installed with watchNamespaces, so kopf's namespace list/watch is included.
    assert triples(role["rules"]) == EXPECTED_OPERATOR_RULES | EXPECTED_NAMESPACED_EXTRA
    binding = _json(cluster, "get", "clusterrolebinding", f"{release.fullname}-operator")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": release.service_account,
            "namespace": release.namespace,
        }
    ]


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("list", "secrets", False),
        ("watch", "secrets", False),
        ("update", "secrets", False),
        ("delete", "namespaces", False),
        ("create", "clusterroles", False),
        ("create", "clusterrolebindings", False),
        ("create", "pods", False),
        ("create", "pods/exec", False),
        ("update", "deployments.apps", False),
        ("delete", "jupytercontainers.jupytercontainers.io", False),
        ("create", "jupytercontainers.jupytercontainers.io", False),
        ("patch", "instancetypes.jupytercontainers.io", False),
        ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", False),
        ("get", "nodes", False),
        ("impersonate", "users", False),
        ("create", "serviceaccounts/token", False),
        # The other side, so a "no" above cannot come from a broken check.
        ("get", "secrets", True),
        ("create", "secrets", True),
        ("patch", "deployments.apps", True),
        ("patch", "jupytercontainers.jupytercontainers.io/status", True),
        ("create", "subjectaccessreviews.authorization.k8s.io", True),
    ],
)
def test_service_account_cannot_do_more(
    cluster: Any, release: Release, verb: str, resource: str, allowed: bool
) -> None:
    resource, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, resource, "-n", release.namespace]
    if sub:
        args.append(f"--subresource={sub}")
    result = cluster.kubectl(*args, f"--as={release.sa_user}", check=False)
    assert result.stdout.strip() == ("yes" if allowed else "no"), (verb, resource, sub, result)


# ---------------------------------------------------------------- sufficient


#: In the team's namespace alice may work with containers; its bundle is hers.
ALICE_TEAM = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: jupyter-user}
rules:
  - apiGroups: [jupytercontainers.io]
    resources: [jupytercontainers]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [jupytercontainers.io]
    resources: [resourcebundles]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-jupyter-user}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: jupyter-user}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
---
apiVersion: jupytercontainers.io/v1alpha1
kind: ResourceBundle
metadata: {name: team}
spec: {owner: alice}
"""

#: In the deployment namespace alice may create pods (the webhook asks the API server), and
#: a Secret her container's env refers to.
ALICE_WORK = """
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-edit}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {api-key: not-a-real-key}
"""


def _wait_phase(cluster: Any, ns: str, name: str, phase: str) -> dict[str, Any]:
    result = cluster.kubectl(
        "wait",
        f"jupytercontainer/{name}",
        "-n",
        ns,
        f"--for=jsonpath={{.status.phase}}={phase}",
        "--timeout=60s",
        check=False,
        timeout=70,
    )
    obj = _json(cluster, "get", "jupytercontainer", name, "-n", ns)
    assert result.returncode == 0, f"not {phase}:\n{yaml.safe_dump(obj.get('status'))}"
    return obj


def _owned(cluster: Any, ns: str, name: str) -> dict[str, list[str]]:
    found = {}
    for kind in ("deployments", "services", "persistentvolumeclaims", "secrets"):
        items = _json(cluster, "get", kind, "-n", ns, "-l", f"jupytercontainers.io/name={name}")
        found[kind] = sorted(i["metadata"]["name"] for i in items["items"])
    return found


def _assert_audited_writes(cluster: Any, release: Release) -> None:
    """The API server's audit log (local cluster: writes at Metadata level) of the account."""
    path = subprocess.run(
        [str(REPO / "tools" / "cluster.sh"), "audit-log-path"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    done: set[tuple[str, str, int]] = set()
    with open(path, encoding="utf-8") as log:
        for line in log:
            if release.sa_user not in line:
                continue
            event = json.loads(line)
            if event["user"]["username"] != release.sa_user:
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "") + (
                f"/{ref['subresource']}" if ref.get("subresource") else ""
            )
            done.add((event["verb"], resource, event["responseStatus"]["code"]))
    refused = {d for d in done if d[2] in (401, 403)}
    assert not refused, refused
    writes = {(verb, resource) for verb, resource, code in done if code < 300}
    assert {
        ("patch", "deployments"),
        ("patch", "services"),
        ("patch", "persistentvolumeclaims"),
        ("create", "secrets"),
        ("delete", "deployments"),
        ("delete", "persistentvolumeclaims"),
        ("delete", "secrets"),
        ("patch", "jupytercontainers"),
        ("patch", "jupytercontainers/status"),
        ("patch", "resourcebundles/status"),
        ("create", "events"),
        ("create", "subjectaccessreviews"),
    } <= writes, writes


def test_operator_with_only_the_chart_permissions_runs_a_container(
    cluster: Any, release: Release, local_operator: LocalOperator
) -> None:
    """Create (through the webhooks), Active, stop, start, delete: all with the chart's RBAC."""
    team, work, name = release.team, release.work, "lab"
    cluster.kubectl("apply", "-n", team, "-f", "-", input=ALICE_TEAM)
    cluster.kubectl("apply", "-n", work, "-f", "-", input=ALICE_WORK)
    env = [
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "api-key"}}},
        {"name": "LATER", "valueFrom": {"secretKeyRef": {"name": "not-yet", "key": "k"}}},
    ]
    manifest = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "JupyterContainer",
        "metadata": {"name": name},
        "spec": {
            "bundle": "team",
            "namespace": work,
            "instanceType": "test-small",
            "volume": "test-home",
            "env": env,
        },
    }
    created = cluster.kubectl(
        "apply", "-n", team, "-f", "-", as_user="alice", input=yaml.safe_dump(manifest)
    )
    # The validating webhook, reached through the chart's configuration and Service, read the
    # Secrets by name (its warning); the mutating one recorded the creator.
    assert "'not-yet'" in created.stderr, created.stderr
    jc = _wait_phase(cluster, team, name, "Active")
    assert jc["metadata"]["annotations"]["jupytercontainers.io/created-by"] == "alice"
    assert "jupytercontainers.io/cleanup" in jc["metadata"]["finalizers"]
    status = jc["status"]
    assert status["deploymentNamespace"] == work
    made = {
        "deployments": [status["serviceName"]],
        "services": [status["serviceName"]],
        "persistentvolumeclaims": [status["pvcName"]],
        "secrets": [status["tokenSecret"]],
    }
    assert _owned(cluster, work, name) == made
    # This process made them (its field manager), not some other operator.
    manager = f"{release.name}-operator"
    for kind, operation in (
        ("deployments", "Apply"),
        ("services", "Apply"),
        ("persistentvolumeclaims", "Apply"),
        ("secrets", "Update"),
    ):
        (obj,) = made[kind]
        fields = _json(cluster, "get", kind, obj, "-n", work, "--show-managed-fields")
        entries = {(m["manager"], m["operation"]) for m in fields["metadata"]["managedFields"]}
        assert (manager, operation) in entries, (kind, entries)
    fields = _json(cluster, "get", "jc", name, "-n", team, "--show-managed-fields")
    status_managers = {
        m["manager"]
        for m in fields["metadata"]["managedFields"]
        if m.get("subresource") == "status"
    }
    assert status_managers == {manager}

    for running, phase in ((False, "Stopped"), (True, "Active")):
        patch = json.dumps({"spec": {"running": running}})
        cluster.kubectl(
            "patch", "jc", name, "-n", team, "--type=merge", "-p", patch, as_user="alice"
        )
        _wait_phase(cluster, team, name, phase)

    cluster.kubectl("delete", "jc", name, "-n", team, "--timeout=60s", as_user="alice", timeout=70)
    assert _owned(cluster, work, name) == {kind: [] for kind in made}

    log = local_operator.log_text()
    # The work was done by these processes, with the ServiceAccount's token, never refused.
    assert f"operator identity {release.sa_user}" in log
    # The chart's two containers: admission was judged by the one process that serves it.
    assert [p.container for p in local_operator.processes] == ["operator", "admission"]
    served = {
        p.container: "admission webhooks on" in p.log.read_text() for p in local_operator.processes
    }
    assert served == {"operator": False, "admission": True}
    # ("Forbidden": 403 responses and kopf's APIForbiddenError; "forbidden": their message.)
    for refusal in ("Forbidden", "forbidden", "Not enough permissions", "Failed to post"):
        assert refusal not in log, f"{refusal!r} in the operator log"
    if cluster.local:
        _assert_audited_writes(cluster, release)
    code, metrics = local_operator.get(local_operator.metrics_port, "/metrics")
    assert code == 200
    assert "jupyter_containers_reconcile_errors_total 0.0" in metrics


def _watch_report(op: LocalOperator, port: int, streams: int) -> dict[str, Any]:
    """The liveness report once it counts `streams` open watches.

    kopf answers /healthz from its probes' last results for 10 s, and the fixture's first
    probe may have run before kopf opened the streams: so the report is read again until it
    shows them, for longer than that cache.
    """

    def report() -> dict[str, Any] | None:
        status, body = op.get(port, "/healthz")
        assert status == 200, body
        watch: dict[str, Any] = json.loads(body)["watch"]
        return watch if watch.get("streams", 0) >= streams else None

    return eventually(f"/healthz on {port} counting {streams} watch streams", report, timeout=40)


def test_liveness_endpoint_reports_the_watch_streams(
    release: Release, local_operator: LocalOperator
) -> None:
    # containers, bundles, catalog, managed kinds, pods, events
    report = _watch_report(local_operator, local_operator.health_port, 8)
    assert report["streams"] >= 8, report
    assert report["silentSeconds"] < 150
    # The admission process's own: the catalog's three kinds and the containers' names.
    admission = _watch_report(local_operator, local_operator.process("admission").health_port, 4)
    assert 4 <= admission["streams"] < report["streams"], (admission, report)


# ---------------------------------------------------------------- uninstall (last)


def test_uninstall_removes_the_cluster_scoped_objects(cluster: Any, release: Release) -> None:
    _helm(cluster, "uninstall", release.name, "--namespace", release.namespace, "--wait")
    for kind in (
        "clusterrole",
        "clusterrolebinding",
        "validatingwebhookconfiguration",
        "mutatingwebhookconfiguration",
    ):
        left = cluster.kubectl(
            "get", kind, "-l", f"app.kubernetes.io/instance={release.name}", "-o", "name"
        ).stdout.strip()
        assert not left, left
    # CRDs stay (helm never deletes them): the data of other releases depends on them.
    assert cluster.kubectl("get", "crd", "jupytercontainers.jupytercontainers.io").returncode == 0
