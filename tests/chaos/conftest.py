"""Fault and fuzz tests: an operator of their own, killed and starved on purpose.

The chaos operator is a second operator process of the session, as the chart's ServiceAccount,
watching only the chaos namespaces (`c-SESSION-*`), so killing it never disturbs the session's
operator (`t-SESSION-*`). It does not manage webhooks (kopf's managed configuration has one
fixed name, the session operator's): the module installs its own configurations, limited to
the chaos namespaces by label, with the chaos operator's certificate kept in one directory so
the caBundle stays valid across kills, as the chart's does across pod restarts.

Sizes come from the environment, so `make chaos` runs the full versions and `make test` the
reduced defaults (CHAOS_* below).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import CATALOG, OperatorProcess
from tests.conftest import SESSION_ID, Cluster

CHAOS_PREFIX = f"c-{SESSION_ID}-"
CHAOS_LABEL = "jupytercontainers.io/chaos"
#: A session id may read as a number ("9e57"), which a label value must not be.
CHAOS_LABEL_VALUE = f"s-{SESSION_ID}"


def size(name: str, default: int) -> int:
    """A size of the chaos runs: JC_CHAOS_<NAME> (make chaos sets them) or the reduced default."""
    return int(os.environ.get(f"JC_CHAOS_{name}", default))


def _webhooks(port: int, ca: str) -> list[dict[str, Any]]:
    name = f"jc-chaos-{SESSION_ID}"
    selector = {"matchLabels": {CHAOS_LABEL: CHAOS_LABEL_VALUE}}

    def hook(path: str, resource: str, operations: list[str]) -> dict[str, Any]:
        return {
            "name": f"{path}.jupytercontainers.io",
            "clientConfig": {"url": f"https://127.0.0.1:{port}/{path}", "caBundle": ca},
            "rules": [
                {
                    "apiGroups": ["jupytercontainers.io"],
                    "apiVersions": ["v1alpha1"],
                    "resources": [resource],
                    "operations": operations,
                    "scope": "Namespaced",
                }
            ],
            "namespaceSelector": selector,
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 10,
        }

    group = "admissionregistration.k8s.io/v1"
    return [
        {
            "apiVersion": group,
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [
                hook(
                    "validate-jupytercontainer", "jupytercontainers", ["CREATE", "UPDATE", "DELETE"]
                ),
                hook("validate-resourcebundle", "resourcebundles", ["CREATE", "UPDATE", "DELETE"]),
            ],
        },
        {
            "apiVersion": group,
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [
                hook("mutate-jupytercontainer", "jupytercontainers", ["CREATE", "UPDATE"]),
                hook("mutate-resourcebundle", "resourcebundles", ["CREATE"]),
            ],
        },
    ]


@pytest.fixture(scope="module")
def chaos_operator(
    cluster: Cluster,
    crds: Any,
    operator_kubeconfig: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=CATALOG)
    work = tmp_path_factory.mktemp("chaos-operator")
    certs = work / "webhook-certs"
    certs.mkdir()
    op = OperatorProcess({**cluster.env, "KUBECONFIG": operator_kubeconfig}, work)
    op.env.update(
        {
            "JC_WATCH_NAMESPACES": f"{CHAOS_PREFIX}*",
            "JC_WEBHOOK_MANAGED": "false",
            "JC_WEBHOOK_CERT_DIR": str(certs),
            "JC_LOG_FORMAT": "text",
            # Starts delayed by kills and outages must not fail on the tests' short deadline.
            "JC_START_DEADLINE_SECONDS": "300",
        }
    )
    op.start()
    ca = base64.b64encode((certs / "ca.crt").read_bytes()).decode()
    configs = _webhooks(op.webhook_port, ca)
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": configs})
    )
    try:
        yield op
    finally:
        listing = cluster.kubectl("get", "namespaces", "-o", "name", check=False).stdout.split()
        ours = [n for n in listing if n.startswith(f"namespace/{CHAOS_PREFIX}")]
        if ours:
            if op.proc is None:
                op.start()
            cluster.kubectl("delete", *ours, "--wait=false", check=False)
            cluster.kubectl(
                "wait", "--for=delete", *ours, "--timeout=90s", check=False, timeout=100
            )
        op.stop()
        name = f"jc-chaos-{SESSION_ID}"
        cluster.kubectl(
            "delete",
            "validatingwebhookconfiguration,mutatingwebhookconfiguration",
            name,
            "--ignore-not-found",
            check=False,
        )


def chaos_namespace(cluster: Cluster, slug: str, deployable_for: str | None = None) -> str:
    """A chaos namespace (watched by the chaos operator, judged by its webhooks)."""
    name = f"{CHAOS_PREFIX}{slug}-{uuid.uuid4().hex[:5]}"
    labels = {CHAOS_LABEL: CHAOS_LABEL_VALUE, "jupytercontainers.io/test": "true"}
    if deployable_for:
        labels["jupytercontainers.io/deployable"] = deployable_for
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels},
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
    cluster.kubectl(
        "wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s", timeout=70
    )
    return name


@pytest.fixture
def domain(cluster: Cluster, chaos_operator: OperatorProcess) -> Iterator[str]:
    """A chaos domain with a bundle `team` (owner alice) and a second deployment namespace."""
    ns = chaos_namespace(cluster, "dom")
    bundle = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "ResourceBundle",
        "metadata": {"name": "team"},
        "spec": {"owner": "alice"},
    }
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(bundle))
    yield ns
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def other(cluster: Cluster, domain: str) -> Iterator[str]:
    ns = chaos_namespace(cluster, "alt", deployable_for=domain)
    yield ns
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")
