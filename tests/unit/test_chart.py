"""The Helm chart: lint, and golden checks of what `helm template` renders.

The helm binary is built from the Go module proxy by `make tools` (which `make test`
runs first); a missing binary is a failure that says so, never a skip.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "jupyter-containers"
RELEASE, NAMESPACE = "jc", "jc-system"
FULLNAME = "jc-jupyter-containers"

#: The operator's permissions, one (apiGroup, resource, verb) per line. Each must be used by the
#: code (see the comments in templates/rbac.yaml); tests/cluster/test_chart_install.py proves
#: them sufficient by running the operator with exactly these.
EXPECTED_OPERATOR_RULES: frozenset[tuple[str, str, str]] = frozenset(
    [
        *(
            ("jupytercontainers.io", "jupytercontainers", v)
            for v in ("get", "list", "watch", "patch")
        ),
        ("jupytercontainers.io", "jupytercontainers/status", "patch"),
        *(("jupytercontainers.io", "resourcebundles", v) for v in ("get", "list", "watch")),
        ("jupytercontainers.io", "resourcebundles/status", "patch"),
        ("jupytercontainers.io", "jupyterimages/status", "patch"),  # pre-pull status
        *(
            ("jupytercontainers.io", r, v)
            for r in ("instancetypes", "volumes", "jupyterimages")
            for v in ("list", "watch")
        ),
        *(
            ("apps", "deployments", v)
            for v in ("get", "list", "watch", "create", "patch", "delete")
        ),
        *(
            ("networking.k8s.io", "networkpolicies", v)
            for v in ("get", "list", "watch", "create", "patch", "delete")
        ),
        *(
            ("", r, v)
            for r in ("services", "persistentvolumeclaims", "persistentvolumes")
            for v in ("get", "list", "watch", "create", "patch", "delete")
        ),
        *(("", "pods", v) for v in ("list", "watch")),
        *(("", "secrets", v) for v in ("get", "create", "delete")),
        *(("", "events", v) for v in ("list", "watch", "create")),
        ("", "namespaces", "get"),
        *(("", "resourcequotas", v) for v in ("list", "watch")),
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
        ("storage.k8s.io", "storageclasses", "get"),  # volume growth
        *(("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")),
    ]
)
#: With operator.watchNamespaces set, kopf also lists and watches namespaces.
EXPECTED_NAMESPACED_EXTRA = frozenset({("", "namespaces", "list"), ("", "namespaces", "watch")})


def helm_binary() -> str:
    candidates = [
        Path(os.environ.get("JC_BIN", Path.home() / ".cache/jupyter-containers/bin")) / "helm"
    ]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("helm")
    if found:
        return found
    pytest.fail(
        f"helm not found (looked in {candidates[0].parent} and PATH): run `make tools`, "
        "which builds it from the Go module proxy"
    )


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@cache
def _render(sets: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for s in sets:
        # "json:" values keep their JSON type (--set turns 120.5 into a string).
        args += ["--set-json", s[5:]] if s.startswith("json:") else ["--set", s]
    docs = yaml.safe_load_all(helm(*args).stdout)
    return tuple(d for d in docs if d)


def render(*sets: str) -> list[dict[str, Any]]:
    return list(_render(tuple(sets)))


def one(docs: Iterable[Mapping[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        dict(d)
        for d in docs
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def triples(rules: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


ALL_OPTIONS = (
    "webhook.certManager.enabled=true",
    "metrics.serviceMonitor.enabled=true",
    "rbac.userRoles.aggregateToEditAndAdmin=true",
    "operator.watchNamespaces={team-a,team-b}",
)


# ---------------------------------------------------------------- lint


@pytest.mark.parametrize("sets", [(), ALL_OPTIONS], ids=["defaults", "all-options"])
def test_helm_lint_passes(sets: tuple[str, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for s in sets:
        args += ["--set", s]
    result = helm(*args)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_chart_ships_the_generated_crds() -> None:
    shipped = {p.name for p in (CHART / "crds").glob("*.yaml")}
    assert shipped == {p.name for p in (ROOT / "crds").glob("*.yaml")}
    assert len(shipped) == 5
    for name in shipped:
        assert (CHART / "crds" / name).read_text() == (ROOT / "crds" / name).read_text(), name


# ---------------------------------------------------------------- RBAC


@pytest.mark.parametrize("sets", [(), ALL_OPTIONS], ids=["defaults", "all-options"])
def test_no_role_has_a_wildcard(sets: tuple[str, ...]) -> None:
    roles = [d for d in render(*sets) if d["kind"] in ("ClusterRole", "Role")]
    assert len(roles) >= 4
    for role in roles:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
            assert not rule.get("nonResourceURLs"), role["metadata"]["name"]


def test_operator_rules_are_exactly_the_expected_ones() -> None:
    role = one(render(), "ClusterRole", f"{FULLNAME}-operator")
    assert triples(role["rules"]) == EXPECTED_OPERATOR_RULES
    # No rule narrows or widens by name: the triples are the whole story.
    assert all(set(r) == {"apiGroups", "resources", "verbs"} for r in role["rules"])


def test_watching_some_namespaces_adds_only_namespace_list_and_watch() -> None:
    role = one(
        render("operator.watchNamespaces={team-a,team-b}"), "ClusterRole", f"{FULLNAME}-operator"
    )
    assert triples(role["rules"]) == EXPECTED_OPERATOR_RULES | EXPECTED_NAMESPACED_EXTRA


def test_operator_cannot_read_secrets_in_bulk() -> None:
    role = one(render(), "ClusterRole", f"{FULLNAME}-operator")
    secret_verbs = {v for g, r, v in triples(role["rules"]) if (g, r) == ("", "secrets")}
    assert secret_verbs == {"get", "create", "delete"}


def test_binding_names_the_charts_service_account() -> None:
    docs = render()
    binding = one(docs, "ClusterRoleBinding", f"{FULLNAME}-operator")
    sa = one(docs, "ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": f"{FULLNAME}-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}
    ]
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


def test_user_roles_equal_the_examples() -> None:
    """The chart ships examples/rbac/user-roles.yaml's roles (and binding) rule for rule."""
    examples = {
        (d["kind"], d["metadata"]["name"]): d
        for d in yaml.safe_load_all((ROOT / "examples/rbac/user-roles.yaml").read_text())
        if d
    }
    rendered = {
        (d["kind"], d["metadata"]["name"]): d
        for d in render()
        if d["metadata"]["name"].startswith("jupyter-containers-")
    }
    assert set(rendered) == set(examples)
    for key, example in examples.items():
        if key[0] == "ClusterRole":
            assert rendered[key]["rules"] == example["rules"], key
        else:
            assert rendered[key]["roleRef"] == example["roleRef"], key
            assert rendered[key]["subjects"] == example["subjects"], key


def test_user_roles_and_their_aggregation() -> None:
    plain = {d["metadata"]["name"]: d for d in render() if d["kind"] == "ClusterRole"}
    assert {"jupyter-containers-user", "jupyter-containers-bundle-creator"} <= set(plain)
    user = triples(plain["jupyter-containers-user"]["rules"])
    assert ("jupytercontainers.io", "jupytercontainers", "create") in user
    assert ("jupytercontainers.io", "resourcebundles", "create") not in user
    creator = triples(plain["jupyter-containers-bundle-creator"]["rules"])
    assert ("jupytercontainers.io", "resourcebundles", "create") in creator
    for role in plain.values():
        assert not any(
            k.startswith("rbac.authorization.k8s.io/aggregate-to")
            for k in role["metadata"]["labels"]
        )

    aggregated = {
        d["metadata"]["name"]: d["metadata"]["labels"]
        for d in render("rbac.userRoles.aggregateToEditAndAdmin=true")
        if d["kind"] == "ClusterRole"
    }
    assert (
        aggregated["jupyter-containers-user"]["rbac.authorization.k8s.io/aggregate-to-edit"]
        == "true"
    )
    assert (
        aggregated["jupyter-containers-user"]["rbac.authorization.k8s.io/aggregate-to-admin"]
        == "true"
    )
    creator_labels = aggregated["jupyter-containers-bundle-creator"]
    assert creator_labels["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-edit" not in creator_labels


# ---------------------------------------------------------------- webhooks


def _webhook_configs(docs: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["kind"]: dict(d)
        for d in docs
        if d["kind"] in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
    }


def container_named(obj: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A container of a Deployment (or of its pod spec) by name."""
    pod = obj["spec"]["template"]["spec"] if "template" in obj.get("spec", {}) else obj
    (container,) = [c for c in pod["containers"] if c["name"] == name]
    return dict(container)


def test_webhooks_point_at_the_webhook_service() -> None:
    docs = render()
    service = one(docs, "Service", f"{FULLNAME}-webhook")
    (port,) = service["spec"]["ports"]
    container = container_named(one(docs, "Deployment"), "admission")
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port["targetPort"] == "webhook" and container_ports["webhook"] == 9443
    assert service["spec"]["selector"] == one(docs, "Deployment")["spec"]["selector"]["matchLabels"]

    configs = _webhook_configs(docs)
    assert set(configs) == {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
    for config in configs.values():
        assert config["webhooks"]
        for hook in config["webhooks"]:
            svc = hook["clientConfig"]["service"]
            assert svc["name"] == service["metadata"]["name"]
            assert svc["namespace"] == NAMESPACE
            assert svc["port"] == port["port"]
            assert "url" not in hook["clientConfig"]
            assert hook["failurePolicy"] == "Fail"
            assert hook["sideEffects"] == "None"


def test_webhook_paths_and_rules_match_the_operators_kopf_handlers() -> None:
    """What kopf itself would register for the handlers of admission.py (managed mode)."""
    from kopf._cogs.structs.references import Resource
    from kopf._core.engines.admission import build_webhooks
    from kopf._core.intents import registries
    from kopf._core.intents.causes import WebhookType

    from jupyter_containers.api.models import GROUP, VERSION
    from jupyter_containers.shell import admission  # noqa: F401  (registers the handlers)

    registry = registries.get_default_registry()
    resources = [
        Resource(GROUP, VERSION, plural, namespaced=True)
        for plural in ("jupytercontainers", "resourcebundles")
    ]
    configs = _webhook_configs(render())
    for kind, reason in (
        ("ValidatingWebhookConfiguration", WebhookType.VALIDATING),
        ("MutatingWebhookConfiguration", WebhookType.MUTATING),
    ):
        handlers = [h for h in registry._webhooks.get_all_handlers() if h.reason == reason]
        expected = build_webhooks(
            handlers,
            resources=resources,
            name_suffix=GROUP,
            client_config={"service": {"name": "svc", "namespace": NAMESPACE}},
        )

        def shape(hook: Mapping[str, Any]) -> tuple[Any, ...]:
            (rule,) = hook["rules"]
            return (
                hook["name"],
                hook["clientConfig"]["service"]["path"],
                hook["sideEffects"],
                hook["failurePolicy"],
                tuple(rule["apiGroups"]),
                tuple(rule["apiVersions"]),
                tuple(rule["resources"]),
                tuple(sorted(rule["operations"])),
                json.dumps(hook.get("objectSelector"), sort_keys=True),
            )

        assert sorted(map(shape, configs[kind]["webhooks"])) == sorted(map(shape, expected)), kind


def _certificate(docs: Iterable[Mapping[str, Any]]) -> tuple[x509.Certificate, x509.Certificate]:
    secret = one(docs, "Secret", f"{FULLNAME}-webhook-tls")
    assert secret["type"] == "kubernetes.io/tls"
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    return (
        x509.load_pem_x509_certificate(data["ca.crt"]),
        x509.load_pem_x509_certificate(data["tls.crt"]),
    )


def test_self_managed_certificate_names_the_service_and_is_the_ca_bundle() -> None:
    docs = render()
    ca, cert = _certificate(docs)
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    host = f"{FULLNAME}-webhook.{NAMESPACE}.svc"
    assert host in san.get_values_for_type(x509.DNSName)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    for config in _webhook_configs(docs).values():
        for hook in config["webhooks"]:
            bundle = x509.load_pem_x509_certificate(
                base64.b64decode(hook["clientConfig"]["caBundle"])
            )
            assert bundle == ca
    # The pod mounts that Secret where the operator reads it (JC_WEBHOOK_CERT_DIR).
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    settings = one(docs, "ConfigMap")["data"]
    (mount,) = [
        m for m in container_named(pod, "admission")["volumeMounts"] if m["name"] == "webhook-tls"
    ]
    assert mount["mountPath"] == settings["JC_WEBHOOK_CERT_DIR"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "webhook-tls"]
    assert volume["secret"]["secretName"] == f"{FULLNAME}-webhook-tls"


def test_cert_manager_mode_issues_the_same_secret_and_injects_the_ca() -> None:
    docs = render("webhook.certManager.enabled=true")
    assert not [d for d in docs if d["kind"] == "Secret"]
    cert = one(docs, "Certificate")
    assert cert["spec"]["secretName"] == f"{FULLNAME}-webhook-tls"
    assert f"{FULLNAME}-webhook.{NAMESPACE}.svc" in cert["spec"]["dnsNames"]
    assert cert["spec"]["issuerRef"] == {"kind": "Issuer", "name": f"{FULLNAME}-selfsigned"}
    one(docs, "Issuer", f"{FULLNAME}-selfsigned")
    for config in _webhook_configs(docs).values():
        assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
            f"{NAMESPACE}/{FULLNAME}-webhook"
        )
        assert all("caBundle" not in h["clientConfig"] for h in config["webhooks"])

    docs = render(
        "webhook.certManager.enabled=true",
        "webhook.certManager.issuerRef.name=corp-ca",
        "webhook.certManager.issuerRef.kind=ClusterIssuer",
    )
    assert not [d for d in docs if d["kind"] == "Issuer"]
    assert one(docs, "Certificate")["spec"]["issuerRef"] == {
        "kind": "ClusterIssuer",
        "name": "corp-ca",
    }


def test_failure_policy_and_webhook_switch() -> None:
    configs = _webhook_configs(render("webhook.failurePolicy=Ignore"))
    assert {h["failurePolicy"] for c in configs.values() for h in c["webhooks"]} == {"Ignore"}
    docs = render("webhook.enabled=false")
    assert not _webhook_configs(docs)
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert f"{FULLNAME}-webhook" not in {
        d["metadata"]["name"] for d in docs if d["kind"] == "Service"
    }


# ---------------------------------------------------------------- the operator pod


def test_one_process_serves_both_when_asked() -> None:
    pod = one(render("webhook.ownProcess=false"), "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "args" not in container  # role `all`
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8081, "metrics": 8080, "webhook": 9443}
    assert container["readinessProbe"]["tcpSocket"] == {"port": "webhook"}
    assert "webhook-tls" in {m["name"] for m in container["volumeMounts"]}
    # No webhooks: one process, the reconciler only, ready by its liveness endpoint.
    pod = one(render("webhook.enabled=false"), "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["--role", "reconciler"]
    assert "webhook" not in {p["name"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_deployment_runs_two_operators_with_probes_and_resources() -> None:
    docs = render()
    deployment = one(docs, "Deployment")
    spec = deployment["spec"]
    # Every replica serves admission; a new one is ready before an old one stops.
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = spec["template"]["spec"]
    # Two processes per pod: the reconciler, and the admission webhooks on a loop of their own.
    operator, admission = pod["containers"]
    assert (operator["name"], operator["args"]) == ("operator", ["--role", "reconciler"])
    assert (admission["name"], admission["args"]) == ("admission", ["--role", "admission"])
    ports = {p["name"]: p["containerPort"] for p in operator["ports"]}
    assert ports == {"health": 8081, "metrics": 8080}
    # A pod is ready when all its containers are: the operator's readiness would take the
    # pod's admission out of the webhook Service whenever the reconciler is unwell.
    assert "readinessProbe" not in operator
    ports = {p["name"]: p["containerPort"] for p in admission["ports"]}
    assert ports == {"webhook": 9443, "webhook-health": 8082}
    assert admission["readinessProbe"]["tcpSocket"] == {"port": "webhook"}
    for container, health in ((operator, "health"), (admission, "webhook-health")):
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": health}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": health}
        assert set(container["resources"]) == {"requests", "limits"}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert container["envFrom"] == [{"configMapRef": {"name": f"{FULLNAME}-settings"}}]
        assert container["image"] == "jupyter-containers/operator:0.1.0"
    assert operator["env"] == [
        {
            "name": "JC_LEADER_ELECTION_IDENTITY",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
        }
    ]
    # Its own liveness port, and no metrics port (it records none; two would collide).
    assert admission["env"] == [
        {"name": "JC_HEALTH_PORT", "value": "8082"},
        {"name": "JC_METRICS_PORT", "value": "0"},
    ]
    digest = "sha256:" + "a" * 64
    pinned = one(render(f"image.digest={digest}"), "Deployment")
    assert {c["image"] for c in pinned["spec"]["template"]["spec"]["containers"]} == {
        f"jupyter-containers/operator@{digest}"
    }
    # Settings changes roll the pod (they are read once at start-up).
    annotations = spec["template"]["metadata"]["annotations"]
    other = one(render("operator.startDeadlineSeconds=900"), "Deployment")
    assert (
        other["spec"]["template"]["metadata"]["annotations"]["checksum/settings"]
        != (annotations["checksum/settings"])
    )


#: Volume types the restricted Pod Security Standard allows.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip


def test_pod_passes_the_restricted_pod_security_standard() -> None:
    """The checks of the restricted profile (Kubernetes Pod Security Standards, v1.34)."""
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(field)
    for volume in pod["volumes"]:
        (kind,) = set(volume) - {"name"}
        assert kind in RESTRICTED_VOLUMES, volume
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc.get("runAsUser") != 0
    assert psc["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost")
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert not sc.get("privileged")
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert set(sc["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}
        assert sc.get("runAsNonRoot", psc["runAsNonRoot"]) is True
        assert sc.get("runAsUser", psc.get("runAsUser")) != 0
        assert sc.get("seccompProfile", psc["seccompProfile"])["type"] in (
            "RuntimeDefault",
            "Localhost",
        )
        assert sc["readOnlyRootFilesystem"] is True
        assert not any(p.get("hostPort") for p in container.get("ports", []))


def test_a_disruption_budget_keeps_one_operator_during_drains() -> None:
    pdb = one(render(), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == one(render(), "Deployment")["spec"]["selector"]
    # One replica: a budget could only block drains.
    assert not [d for d in render("replicas=1") if d["kind"] == "PodDisruptionBudget"]
    assert not [
        d for d in render("podDisruptionBudget.enabled=false") if d["kind"] == "PodDisruptionBudget"
    ]


def _anti_affinity(*sets: str) -> dict[str, Any] | None:
    pod = one(render(*sets), "Deployment")["spec"]["template"]["spec"]
    return pod.get("affinity")


def test_replicas_spread_over_nodes() -> None:
    selector = one(render(), "Deployment")["spec"]["selector"]
    soft = _anti_affinity()
    assert soft is not None
    (term,) = soft["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"] == {
        "labelSelector": selector,
        "topologyKey": "kubernetes.io/hostname",
    }
    hard = _anti_affinity("podAntiAffinity=hard")
    assert hard is not None
    (required,) = hard["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required == {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}
    assert _anti_affinity("podAntiAffinity=none") is None
    own = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}
    assert _anti_affinity(f"json:affinity={json.dumps(own)}") == own


def test_leader_election_may_touch_only_the_charts_lease() -> None:
    docs = render()
    lease = one(docs, "Lease")
    assert lease["metadata"] == {
        **lease["metadata"],
        "name": f"{FULLNAME}-leader",
        "namespace": NAMESPACE,
    }
    assert "spec" not in lease  # the replicas write it; Helm's merge leaves it to them
    role = one(docs, "Role", f"{FULLNAME}-leader-election")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [f"{FULLNAME}-leader"],
            "verbs": ["get", "update"],
        }
    ]
    binding = one(docs, "RoleBinding", f"{FULLNAME}-leader-election")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
    ]
    data = one(docs, "ConfigMap")["data"]
    assert data["JC_LEADER_ELECTION_LEASE"] == f"{FULLNAME}-leader"
    assert data["JC_LEADER_ELECTION_NAMESPACE"] == NAMESPACE


def test_prepull_daemonsets_are_granted_only_in_their_namespace() -> None:
    docs = render()
    role = one(docs, "Role", f"{FULLNAME}-prepull")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert triples(role["rules"]) == {
        ("apps", "daemonsets", v) for v in ("list", "watch", "create", "patch", "delete")
    }
    cluster_role = one(docs, "ClusterRole", f"{FULLNAME}-operator")
    assert not {r for g, r, v in triples(cluster_role["rules"]) if r == "daemonsets"}
    binding = one(docs, "RoleBinding", f"{FULLNAME}-prepull")
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
    ]
    data = one(docs, "ConfigMap")["data"]
    assert data["JC_PREPULL_NAMESPACE"] == NAMESPACE
    assert data["JC_PREPULL_PAUSE_IMAGE"] == "registry.k8s.io/pause:3.10"

    elsewhere = render("prePull.namespace=images", "prePull.pauseImage=mirror.example/pause:3.10")
    assert one(elsewhere, "Role", f"{FULLNAME}-prepull")["metadata"]["namespace"] == "images"
    data = one(elsewhere, "ConfigMap")["data"]
    assert data["JC_PREPULL_NAMESPACE"] == "images"
    assert data["JC_PREPULL_PAUSE_IMAGE"] == "mirror.example/pause:3.10"

    off = render("prePull.enabled=false")
    assert not [d for d in off if d["kind"] == "Role" and d["metadata"]["name"].endswith("prepull")]
    assert "JC_PREPULL_NAMESPACE" not in one(off, "ConfigMap")["data"]


# ---------------------------------------------------------------- settings


def _settings_classes() -> list[type[Any]]:
    from jupyter_containers.core.settings import Settings

    return [Settings]


def test_configmap_sets_every_operator_setting() -> None:
    data = one(render(), "ConfigMap")["data"]
    # None (cluster default; any webhook client) unless a value is set.
    optional_unset = {"JC_DEFAULT_STORAGE_CLASS", "JC_WEBHOOK_CLIENT_CA_FILE"}
    optional_unset.add("JC_PREPULL_NAMESPACE")  # set: the release namespace; unset: no pre-pull
    # The pod's own name, set by the Deployment (downward API), not the ConfigMap.
    optional_unset.add("JC_LEADER_ELECTION_IDENTITY")
    for cls in _settings_classes():
        for field in cls.model_fields:
            var = f"JC_{field.upper()}"
            assert var in data or var in optional_unset, f"{var} ({cls.__name__}) not in the chart"
    assert set(data) <= {
        f"JC_{f.upper()}" for cls in _settings_classes() for f in cls.model_fields
    }, "the ConfigMap sets a variable the operator does not read"
    assert data["JC_WEBHOOK_MANAGED"] == "false"
    assert data["JC_WEBHOOK_LISTEN_ADDRESS"] == "0.0.0.0"
    assert data["JC_WEBHOOK_HOST"] == f"{FULLNAME}-webhook.{NAMESPACE}.svc"


@pytest.mark.parametrize(
    "sets",
    [
        (),
        (
            "operator.watchNamespaces={team-a,team-b}",
            "operator.adminGroups={platform-admins}",
            "operator.defaultStorageClass=fast",
            "json:operator.startDeadlineSeconds=120.5",
            "metrics.enabled=false",
            "operator.logFormat=text",
        ),
    ],
    ids=["defaults", "custom"],
)
def test_configmap_is_valid_operator_settings(
    sets: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rendered variables load into the operator's own settings classes unchanged."""
    data = one(render(*sets), "ConfigMap")["data"]
    for var in list(os.environ):
        if var.startswith("JC_"):
            monkeypatch.delenv(var)
    for var, value in data.items():
        monkeypatch.setenv(var, value)
    (settings,) = (cls() for cls in _settings_classes())
    if sets:
        assert settings.watch_namespaces == ["team-a", "team-b"]
        assert settings.admin_groups == ["platform-admins"]
        assert settings.default_storage_class == "fast"
        assert settings.start_deadline_seconds == 120.5
        assert settings.metrics_port == 0
        assert settings.log_format == "text"
    else:
        assert settings.watch_namespaces == [] and settings.log_format == "json"
        assert settings.default_storage_class is None
        assert settings.metrics_port == 8080 and settings.health_port == 8081
        assert settings.webhook_managed is False
    assert settings.watch_stall_seconds == 300


def test_extra_settings_pass_through() -> None:
    data = one(render("operator.extraSettings.JC_SOMETHING_NEW=42"), "ConfigMap")["data"]
    assert data["JC_SOMETHING_NEW"] == "42"


# ---------------------------------------------------------------- values.schema.json


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("webhook.failurePolicy=Sometimes", "/webhook/failurePolicy"),
        ("operator.logFormat=xml", "/operator/logFormat"),
        ("operator.startDeadlinSeconds=60", "startDeadlinSeconds"),
        ("operator.crashRestartThreshold=0", "/operator/crashRestartThreshold"),
        ("operator.watchNamespaces={Team_A}", "/operator/watchNamespaces/0"),
        ("health.watchStallSeconds=30", "/health/watchStallSeconds"),
        ("webhook.timeoutSeconds=60", "/webhook/timeoutSeconds"),
        ("image.digest=latest", "/image/digest"),
        ("operator.extraSettings.LOG=1", "/operator/extraSettings"),
        ("webhook.certManager.issuerRef.name=corp-ca", "/webhook/certManager/issuerRef"),
        ("replicas=0", "/replicas"),
        ("podAntiAffinity=maybe", "/podAntiAffinity"),
        ("leaderElection.leaseDurationSeconds=1", "/leaderElection/leaseDurationSeconds"),
    ],
)
def test_schema_rejects_a_bad_value_naming_it(value: str, error: str) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", value, check=False)
    assert result.returncode != 0, f"{value} was accepted"
    assert "don't meet the specifications of the schema" in result.stderr
    assert error in result.stderr, result.stderr


def test_schema_accepts_the_documented_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    # Every documented top-level value is described by the schema (and vice versa).
    assert set(values) == set(schema["properties"]) - {"global"}


# ---------------------------------------------------------------- isolation (issue 12, item 7)

CONSOLE_ON = ("console.enabled=true", "console.identity.trustedProxies={10.0.0.0/24}")


@pytest.mark.parametrize(
    ("sets", "namespace", "labels"),
    [
        ((), "", ""),
        (
            CONSOLE_ON,
            NAMESPACE,
            "app.kubernetes.io/component=console,app.kubernetes.io/instance=jc,"
            "app.kubernetes.io/name=jupyter-containers",
        ),
        (
            (
                *CONSOLE_ON,
                "networkPolicy.ingressNamespace=ingress",
                "networkPolicy.ingressPodLabels.app=proxy",
            ),
            "ingress",
            "app=proxy",
        ),
    ],
)
def test_the_network_policy_lets_this_releases_console_in_by_default(
    sets: tuple[str, ...], namespace: str, labels: str
) -> None:
    data = one(render(*sets), "ConfigMap")["data"]
    assert data["JC_NETWORK_POLICY"] == "true"
    assert data["JC_NETWORK_POLICY_INGRESS_NAMESPACE"] == namespace
    assert data["JC_NETWORK_POLICY_INGRESS_POD_LABELS"] == labels
    assert data["JC_NETWORK_POLICY_DENIED_EGRESS"] == "169.254.169.254/32"
    if CONSOLE_ON[0] in sets and not namespace.startswith("ingress"):
        console = one(render(*sets), "Deployment", f"{FULLNAME}-console")
        pod_labels = console["spec"]["template"]["metadata"]["labels"]
        assert dict(p.split("=") for p in labels.split(",")).items() <= pod_labels.items()


def test_a_webhook_client_ca_is_mounted_and_required() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    docs = render(f"webhook.clientCA={pem}")
    settings = one(docs, "ConfigMap", f"{FULLNAME}-settings")["data"]
    path = settings["JC_WEBHOOK_CLIENT_CA_FILE"]
    assert one(docs, "ConfigMap", f"{FULLNAME}-webhook-client-ca")["data"]["ca.crt"] == pem
    pod = one(docs, "Deployment", FULLNAME)["spec"]["template"]["spec"]
    mount = next(
        m
        for m in container_named(pod, "admission")["volumeMounts"]
        if m["name"] == "webhook-client-ca"
    )
    assert path == f"{mount['mountPath']}/ca.crt"
    volume = next(v for v in pod["volumes"] if v["name"] == "webhook-client-ca")
    assert volume["configMap"]["name"] == f"{FULLNAME}-webhook-client-ca"
    assert "JC_WEBHOOK_CLIENT_CA_FILE" not in one(render(), "ConfigMap")["data"]


def test_catalog_values_render_valid_catalog_entries() -> None:
    """values.catalog becomes InstanceTypes, Volumes and JupyterImages the models accept."""
    from jupyter_containers.api.models import InstanceTypeSpec, JupyterImageSpec, VolumeSpec

    catalog = {
        "instanceTypes": [{"name": "gpu", "spec": {"cpu": "8", "memory": "1Gi"}}],
        "volumes": [{"name": "home", "spec": {"type": "OnDemandPVC", "maxSize": "1Gi"}}],
        "images": [
            {"name": "scipy", "spec": {"image": "r/scipy:1", "allowedGroups": ["ml"]}},
        ],
    }
    docs = render("json:catalog=" + json.dumps(catalog))
    models = {
        "InstanceType": InstanceTypeSpec,
        "Volume": VolumeSpec,
        "JupyterImage": JupyterImageSpec,
    }
    found = {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in models}
    assert found == {("InstanceType", "gpu"), ("Volume", "home"), ("JupyterImage", "scipy")}
    for d in docs:
        if d["kind"] in models:
            models[d["kind"]].model_validate(d["spec"])
    assert not [d for d in render() if d["kind"] in models]


def test_configmap_lets_the_operators_probe_through_the_network_policy() -> None:
    """Culling's activity probe (docs/culling.md): the operator's own pods, unless switched off."""
    data = one(render(), "ConfigMap")["data"]
    assert data["JC_NETWORK_POLICY_OPERATOR_NAMESPACE"] == NAMESPACE
    labels = dict(p.split("=", 1) for p in data["JC_NETWORK_POLICY_OPERATOR_POD_LABELS"].split(","))
    deployment = one(render(), "Deployment", FULLNAME)
    assert labels == deployment["spec"]["selector"]["matchLabels"]
    assert (data["JC_CULL_IDLE_TIMEOUT"], data["JC_CULL_MAX_LIFETIME"]) == ("0s", "0s")
    off = one(render("networkPolicy.allowOperator=false"), "ConfigMap")["data"]
    assert off["JC_NETWORK_POLICY_OPERATOR_NAMESPACE"] == ""
    assert off["JC_NETWORK_POLICY_OPERATOR_POD_LABELS"] == ""
