"""Least privilege, proven: the operator used every rule the chart grants it, and no other.

The session's operator runs as a ServiceAccount bound to exactly the chart's rendered rules
(tests/operator_identity.py). The local cluster's audit log records every request of a
ServiceAccount (tools/kwok/audit-policy.yaml), so after the session's cluster tests (this test
is moved to the end of the session: tests/conftest.py) it lists every (verb, resource,
subresource, namespaced or not) the operator asked for and fails on any rule granted and never
used, or used and not granted, or refused. Both sides are read, not written here: the chart's
rules from `helm template`, the uses from the log, so RBAC added to the chart with new code
is judged the same way.

It first drives one full lifecycle itself, so it holds when run alone: create as a user with
a volume and a Secret in env, stop, grow the volume, start, a namespace change, an NFS volume,
bundle sharing, an operator restart and delete; and an image pre-pulled, rolled and un-pulled.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyter_containers.core import prepull
from tests import operator_identity, rbac_audit
from tests.cluster.conftest import jupyterlab_image
from tests.conftest import CLUSTER_SH, Cluster, api_server_starts

pytestmark = [pytest.mark.cluster, pytest.mark.session_end]

#: (verb, group, resource) the chart grants and a test session may not exercise, with why.
RARELY_USED: dict[tuple[str, str, str], str] = {}

#: In the domain: alice and bob work with containers (the chart's user role, in short).
USERS = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: jupyter-user}
rules:
  - apiGroups: [jupytercontainers.io]
    resources: [jupytercontainers]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [jupytercontainers.io]
    resources: [resourcebundles]
    verbs: [get, list, watch, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: jupyter-users}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: jupyter-user}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
"""

#: Where alice's containers run she may create pods (the webhook asks) and read her Secret.
EDITOR = """
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


def _apply(cluster: Cluster, namespace: str, manifest: Any, as_user: str | None = None) -> None:
    text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=text, as_user=as_user)


def _patch(cluster: Cluster, ns: str, name: str, as_user: str = "alice", **spec: Any) -> None:
    body = json.dumps({"spec": spec})
    cluster.kubectl("patch", "jc", name, "-n", ns, "--type=merge", "-p", body, as_user=as_user)


def _container(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "JupyterContainer",
        "metadata": {"name": name},
        "spec": {"bundle": "team", "instanceType": "test-small", **spec},
    }


def _lifecycle(cluster: Cluster, team: str, work: str, operator: Any, wait_phase: Any) -> None:
    for ns in (team, work):
        _apply(cluster, ns, EDITOR)
    _apply(cluster, team, USERS)
    bundle = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "ResourceBundle",
        "metadata": {"name": "team"},
        "spec": {"owner": "alice"},
    }
    _apply(cluster, team, bundle)
    env = [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "api-key"}}}]
    lab = _container("lab", volume="test-home-large", volumeSize="1Gi", env=env)
    _apply(cluster, team, lab, as_user="alice")
    wait_phase("lab", "Active")
    # `kubectl create` of a taken name: the webhook reads the container to answer first.
    text = yaml.safe_dump(lab)
    taken = cluster.kubectl("create", "-n", team, "-f", "-", input=text, check=False)
    assert taken.returncode != 0 and "metadata.name" in taken.stderr, taken.stderr
    _patch(cluster, team, "lab", running=False)
    wait_phase("lab", "Stopped")
    # Volume growth: the webhook and the reconciler read the PVC's StorageClass.
    _patch(cluster, team, "lab", volumeSize="2Gi")
    _patch(cluster, team, "lab", running=True)
    wait_phase("lab", "Active")
    _patch(cluster, team, "lab", running=False)
    wait_phase("lab", "Stopped")
    _patch(cluster, team, "lab", namespace=work)
    _patch(cluster, team, "lab", running=True)
    assert wait_phase("lab", "Active", timeout=90)["status"]["deploymentNamespace"] == work
    # Bundle sharing: bob may start and stop alice's containers.
    grants = {"grants": [{"users": ["bob"], "permissions": ["start-stop"]}]}
    _apply(cluster, team, {**bundle, "spec": {"owner": "alice", **grants}}, as_user="alice")
    _patch(cluster, team, "lab", as_user="bob", running=False)
    wait_phase("lab", "Stopped")
    _apply(cluster, team, _container("shared", volume="test-nfs"), as_user="alice")
    wait_phase("shared", "Active")
    operator.restart()
    _patch(cluster, team, "lab", as_user="bob", running=True)
    wait_phase("lab", "Active")
    for name in ("lab", "shared"):
        cluster.kubectl(
            "delete", "jc", name, "-n", team, "--timeout=60s", as_user="alice", timeout=70
        )
    _pre_pull(cluster, team)


def _pre_pull(cluster: Cluster, team: str) -> None:
    """Image pre-pull: its DaemonSet made, rolled and deleted (the chart's pre-pull Role), the
    image's status written."""
    image = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "JupyterImage",
        "metadata": {"name": f"lp-{team}"},
        # Local: with the real node in the session, a pre-puller runs there too and pulls.
        "spec": {"image": jupyterlab_image(), "prePull": True},
    }
    ds = f"daemonset/{prepull.daemonset_name(image['metadata']['name'])}"
    where = ("-n", operator_identity.IDENTITY_NAMESPACE)
    _apply(cluster, team, image)
    try:
        cluster.kubectl("wait", "--for=create", ds, *where, "--timeout=60s", timeout=70)
        digest = "sha256:" + "c" * 64
        name = image["metadata"]["name"]
        cluster.kubectl(
            "patch",
            "jupyterimage",
            name,
            "--type=merge",
            "-p",
            f'{{"spec":{{"digest":"{digest}"}}}}',
        )
        cluster.kubectl(
            "wait",
            "--for=jsonpath={.spec.template.spec.initContainers[0].imagePullPolicy}=IfNotPresent",
            ds,
            *where,
            "--timeout=60s",
            timeout=70,
        )
        cluster.kubectl(
            "patch", "jupyterimage", name, "--type=merge", "-p", '{"spec":{"prePull":false}}'
        )
        cluster.kubectl("wait", "--for=delete", ds, *where, "--timeout=60s", timeout=70)
    finally:
        cluster.kubectl("delete", "jupyterimage", image["metadata"]["name"], "--ignore-not-found")


def _default_rules(cluster: Cluster) -> list[rbac_audit.Rule]:
    """What the cluster lets every (service) account do: its bindings to those groups."""
    groups = {"system:authenticated", "system:serviceaccounts"}
    groups.add(f"system:serviceaccounts:{operator_identity.IDENTITY_NAMESPACE}")
    bindings = json.loads(cluster.kubectl("get", "clusterrolebindings", "-o", "json").stdout)
    roles = {
        r["metadata"]["name"]: r
        for r in json.loads(cluster.kubectl("get", "clusterroles", "-o", "json").stdout)["items"]
    }
    rules: list[rbac_audit.Rule] = []
    for binding in bindings["items"]:
        subjects = binding.get("subjects") or []
        if not any(s.get("kind") == "Group" and s.get("name") in groups for s in subjects):
            continue
        role = roles.get(binding["roleRef"]["name"])
        rules += rbac_audit.rules_of(role.get("rules") or []) if role else []
    return rules


def _chart_rules() -> list[rbac_audit.Rule]:
    # The chart's namespaced Roles (none today) apply in its release namespace, which the
    # session's identity maps to its own namespace.
    return [
        rule
        for grant in operator_identity.operator_grants(operator_identity.chart_rbac())
        for rule in rbac_audit.rules_of(
            [grant.rule],
            operator_identity.IDENTITY_NAMESPACE if grant.namespace else None,
        )
    ]


def _audit_log(cluster: Cluster) -> Path:
    path = subprocess.run(
        [str(CLUSTER_SH), "audit-log-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(path)


def test_operator_used_exactly_the_rules_the_chart_grants(
    cluster: Cluster,
    namespace: str,
    operator: Any,
    operator_log: None,
    wait_phase: Any,
) -> None:
    if not cluster.local:
        pytest.skip("needs the local control plane's audit log (KUBECONFIG cluster given)")
    work = f"{namespace}-work"
    cluster.kubectl("create", "namespace", work)
    cluster.kubectl("label", "namespace", work, f"jupytercontainers.io/deployable={namespace}")
    try:
        _lifecycle(cluster, namespace, work, operator, wait_phase)
    finally:
        cluster.kubectl("delete", "namespace", work, "--wait=false", check=False)
    time.sleep(2)  # the last requests' audit lines

    files = rbac_audit.log_files(_audit_log(cluster))
    entries = list(rbac_audit.read_entries(files, operator_identity.USERNAME))
    assert entries, f"no request of {operator_identity.USERNAME} in {files}"
    uses = [use for entry in entries for use in rbac_audit.uses_of(entry)]
    # Refusals while a test restarted the API server are its authorizer's start (a use not
    # granted is still found below: every request counts as a use).
    starts = api_server_starts(cluster)
    refused = [
        use
        for entry in entries
        if rbac_audit.is_refused(entry) and not rbac_audit.received_during(entry, starts)
        for use in rbac_audit.uses_of(entry)
    ]
    harness = rbac_audit.rules_of(operator_identity.HARNESS_RULES)
    verdict = rbac_audit.judge(
        uses, refused, _chart_rules(), _default_rules(cluster), harness, RARELY_USED
    )
    counts = Counter(use.key() for use in uses)
    summary = "\n".join(f"  {n:6d} {' '.join(k)}" for k, n in sorted(counts.items()))
    assert not verdict.refused, "refused:\n" + "\n".join(map(str, verdict.refused)) + summary
    assert not verdict.used_not_granted, (
        "used but not granted by the chart:\n"
        + "\n".join(map(str, verdict.used_not_granted))
        + f"\nall uses:\n{summary}"
    )
    assert not verdict.granted_not_used, (
        "granted by the chart but never used (remove it, or add it to RARELY_USED with why):\n"
        + "\n".join(map(str, verdict.granted_not_used))
        + f"\nall uses:\n{summary}"
    )
