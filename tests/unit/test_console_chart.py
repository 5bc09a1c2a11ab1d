"""The chart's console: off by default, least-privilege RBAC, Ingress and HTTPRoute options."""

from __future__ import annotations

import pytest

from tests.unit.test_chart import CHART, FULLNAME, NAMESPACE, helm, one, render, triples

CONSOLE = f"{FULLNAME}-console"
ON = ("console.enabled=true", "console.identity.trustedProxies={10.0.0.0/24}")

#: What the console's own identity may do (docs/console.md explains each).
EXPECTED_CONSOLE_RULES = frozenset(
    [
        ("", "users", "impersonate"),
        ("", "groups", "impersonate"),
        *(("jupytercontainers.io", "jupytercontainers", v) for v in ("get", "list", "watch")),
        ("", "namespaces", "list"),
        ("", "secrets", "get"),
        ("discovery.k8s.io", "endpointslices", "list"),
    ]
)


def test_console_is_off_by_default() -> None:
    names = {d["metadata"]["name"] for d in render()}
    assert not any(n.startswith(CONSOLE) for n in names)


def test_console_needs_a_way_to_sign_in() -> None:
    result = helm(
        "template",
        "jc",
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--set",
        "console.enabled=true",
        check=False,
    )
    assert result.returncode != 0
    assert "console.identity.trustedProxies" in result.stderr


def test_console_rules_are_least_privilege() -> None:
    docs = render(*ON)
    role = one(docs, "ClusterRole", CONSOLE)
    assert triples(role["rules"]) == EXPECTED_CONSOLE_RULES
    # Never impersonates ServiceAccounts or user extras (e.g. scopes).
    assert not {r for g, r, v in triples(role["rules"]) if v == "impersonate"} - {"users", "groups"}
    binding = one(docs, "ClusterRoleBinding", CONSOLE)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": CONSOLE, "namespace": NAMESPACE}
    ]


def test_console_deployment_and_service() -> None:
    docs = render(*ON)
    deployment = one(docs, "Deployment", CONSOLE)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == CONSOLE
    container = pod["containers"][0]
    assert container["command"] == ["jupyter-containers-console"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["JC_CONSOLE_DEV_LOGIN"] == "false"
    assert env["JC_CONSOLE_TRUSTED_PROXIES"] == "10.0.0.0/24"
    assert env["JC_CONSOLE_UPSTREAM"] == "service"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    service = one(docs, "Service", CONSOLE)
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= (
        service["spec"]["selector"].items()
    )
    assert not [d for d in docs if d["kind"] in ("Ingress", "HTTPRoute")]


def test_console_ingress_and_httproute() -> None:
    docs = render(
        *ON,
        "console.ingress.enabled=true",
        "console.ingress.host=jc.example.org",
        "console.httpRoute.enabled=true",
        'json:console.httpRoute.parentRefs=[{"name":"gw"}]',
    )
    ingress = one(docs, "Ingress", CONSOLE)
    assert ingress["spec"]["rules"][0]["host"] == "jc.example.org"
    route = one(docs, "HTTPRoute", CONSOLE)
    assert route["spec"]["parentRefs"] == [{"name": "gw"}]
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == CONSOLE


@pytest.mark.parametrize(
    "bad", ["console.upstream=proxy", "console.identity.trustedProxyz={x}", "console.port=0"]
)
def test_console_values_are_checked(bad: str) -> None:
    result = helm("template", "jc", str(CHART), "--set", bad, check=False)
    assert result.returncode != 0 and "console" in result.stderr
