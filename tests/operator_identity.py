"""The operator of the test session runs as the Helm chart's identity, not as the cluster admin.

The chart's rbac.yaml is rendered (`helm template`, with `operator.watchNamespaces` set as the
session operator watches `t-SESSION-*`) and its ClusterRoles, Roles and bindings are applied
under session names, bound to a ServiceAccount of the session; the operator gets a kubeconfig
whose only credential is that account's token. So every request the operator makes during the
cluster tests is authorised by exactly the chart's rules, and the API server's audit log
(tools/kwok/audit-policy.yaml logs every request of a ServiceAccount) says which it used:
tests/cluster/test_least_privilege.py compares the two.

The chart's pre-pull DaemonSets live in its release namespace too (`prepull_env`).

The chart's Lease (leader election) is applied too, in the identity namespace where the chart's
Role is bound: the session operator elects itself with it (`leader_election_env`), as each chart
replica does, so its get and update are exercised and audited like every other rule.

One grant is the test harness's, not the chart's: the session operator registers its own
webhook configurations (managed mode, `JC_WEBHOOK_MANAGED`), which the chart installs
statically instead. HARNESS_RULES holds it; the least-privilege test leaves it out.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import BIN, SESSION_ID, Cluster

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "jupyter-containers"
#: The values the session's operator corresponds to: it watches some namespaces (the pattern
#: `t-SESSION-*`; the chart takes names only, and which ones does not change its rules).
CHART_VALUES = ("operator.watchNamespaces={watched}",)
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
#: Rendered with the RBAC: the Lease the chart's Role names.
LEASE_KIND = "Lease"
IDENTITY_NAMESPACE = f"jc-op-{SESSION_ID}"
SERVICE_ACCOUNT = "operator"
USERNAME = f"system:serviceaccount:{IDENTITY_NAMESPACE}:{SERVICE_ACCOUNT}"

#: Granted to the session operator by the test harness only (with the reason).
HARNESS_RULES: tuple[dict[str, Any], ...] = (
    {
        # Managed webhooks (kopf creates and patches its configurations); the chart's are static.
        "apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
        "verbs": ["create", "patch"],
    },
)


@dataclass(frozen=True)
class Grant:
    """One rule of a role, bound to the session account: where it applies (None: everywhere)."""

    namespace: str | None
    rule: Mapping[str, Any]


def helm_binary() -> str:
    return str(BIN / "helm")


@cache
def chart_rbac(values: Sequence[str] = CHART_VALUES) -> tuple[dict[str, Any], ...]:
    """The chart's RBAC objects, as `helm template` renders them (release jc, ns jc-system)."""
    args = [helm_binary(), "template", "jc", str(CHART), "--namespace", "jc-system"]
    for value in values:
        args += ["--set", value]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return tuple(
        d
        for d in yaml.safe_load_all(out)
        if d and (d.get("kind") in (*RBAC_KINDS, LEASE_KIND) or _is_operator_deployment(d))
    )


def chart_lease(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The chart's Lease, moved to the identity namespace (where its Role is bound here)."""
    (lease,) = [d for d in docs if d.get("kind") == LEASE_KIND]
    meta = {**lease["metadata"], "namespace": IDENTITY_NAMESPACE}
    return {"apiVersion": lease["apiVersion"], "kind": LEASE_KIND, "metadata": meta}


def leader_election_env() -> dict[str, str]:
    """The chart's leader-election settings for an operator of the session's identity (each
    process adds its own JC_LEADER_ELECTION_IDENTITY)."""
    lease = chart_lease(chart_rbac())
    return {
        "JC_LEADER_ELECTION_LEASE": lease["metadata"]["name"],
        "JC_LEADER_ELECTION_NAMESPACE": IDENTITY_NAMESPACE,
    }


def prepull_env() -> dict[str, str]:
    """The chart's pre-pull namespace is its release namespace, where its pre-pull Role is
    bound: here the identity namespace, where the session's Role for it is."""
    return {"JC_PREPULL_NAMESPACE": IDENTITY_NAMESPACE}


def _is_operator_deployment(doc: Mapping[str, Any]) -> bool:
    labels = doc.get("metadata", {}).get("labels") or {}
    return (
        doc.get("kind") == "Deployment" and labels.get("app.kubernetes.io/component") == "operator"
    )


def operator_grants(docs: Sequence[Mapping[str, Any]]) -> list[Grant]:
    """The rules the chart binds to the operator's own ServiceAccount (its Deployment's)."""
    (deployment,) = [d for d in docs if _is_operator_deployment(d)]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
    grants: list[Grant] = []
    for binding in docs:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        subjects = binding.get("subjects") or []
        if not any(s.get("kind") == "ServiceAccount" and s["name"] == account for s in subjects):
            continue
        namespace = binding["metadata"].get("namespace")
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"]))
        if role is None:
            continue
        where = None if binding["kind"] == "ClusterRoleBinding" else namespace
        grants += [Grant(where, rule) for rule in role.get("rules", [])]
    return grants


def _session_objects(grants: Sequence[Grant]) -> list[dict[str, Any]]:
    """The chart's grants (plus the harness's) as session-named roles bound to the account."""
    subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": IDENTITY_NAMESPACE}
    name = f"jc-op-{SESSION_ID}"
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": IDENTITY_NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": IDENTITY_NAMESPACE},
        },
    ]
    by_namespace: dict[str | None, list[Mapping[str, Any]]] = {}
    for grant in grants:
        by_namespace.setdefault(grant.namespace, []).append(grant.rule)
    by_namespace[None] = [*by_namespace.get(None, []), *HARNESS_RULES]
    rbac = "rbac.authorization.k8s.io"
    for namespace, rules in by_namespace.items():
        meta: dict[str, Any] = {"name": name, "labels": {"jupytercontainers.io/test": "true"}}
        if namespace is not None:
            # The chart's Role lives in its release namespace; ours in the same-named one would
            # not exist, so a namespaced grant goes to the identity namespace.
            meta["namespace"] = IDENTITY_NAMESPACE
        role_kind = "ClusterRole" if namespace is None else "Role"
        objects.append(
            {"apiVersion": f"{rbac}/v1", "kind": role_kind, "metadata": meta, "rules": rules}
        )
        objects.append(
            {
                "apiVersion": f"{rbac}/v1",
                "kind": f"{role_kind}Binding",
                "metadata": meta,
                "roleRef": {"apiGroup": rbac, "kind": role_kind, "name": name},
                "subjects": [subject],
            }
        )
    return objects


def create(cluster: Cluster, path: Path) -> str:
    """Apply the session's identity and write a kubeconfig holding only its token at `path`."""
    objects = [*_session_objects(operator_grants(chart_rbac())), chart_lease(chart_rbac())]
    cluster.kubectl(
        "apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects, sort_keys=False)
    )
    token = cluster.kubectl(
        "create", "token", SERVICE_ACCOUNT, "-n", IDENTITY_NAMESPACE, "--duration=48h"
    ).stdout.strip()
    write_token_kubeconfig(cluster, token, path)
    return str(path)


def write_token_kubeconfig(cluster: Cluster, token: str, path: Path) -> None:
    """A kubeconfig at `path` for the test cluster whose only credential is `token`."""
    admin = json.loads(cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    (entry,) = admin["clusters"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "cluster", "cluster": entry["cluster"]}],
                "users": [{"name": "operator", "user": {"token": token}}],
                "contexts": [
                    {"name": "operator", "context": {"cluster": "cluster", "user": "operator"}}
                ],
                "current-context": "operator",
            }
        )
    )
    path.chmod(0o600)


def delete(cluster: Cluster) -> None:
    name = f"jc-op-{SESSION_ID}"
    cluster.kubectl(
        "delete", "clusterrole,clusterrolebinding", name, "--ignore-not-found", check=False
    )
    cluster.kubectl("delete", "namespace", IDENTITY_NAMESPACE, "--wait=false", check=False)
