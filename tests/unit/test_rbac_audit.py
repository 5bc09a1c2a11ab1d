"""The least-privilege judgement (tests/rbac_audit.py) on hand-made audit entries and rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.rbac_audit import Rule, Use, is_refused, judge, received_during, rules_of, uses_of


def entry(verb: str, resource: str, code: int = 200, **ref: Any) -> dict[str, Any]:
    return {
        "verb": verb,
        "objectRef": {"resource": resource, **ref},
        "responseStatus": {"code": code},
    }


@pytest.mark.parametrize(
    ("audit", "uses"),
    [
        (entry("get", "secrets", namespace="a", name="s"), [Use("get", "", "secrets", "a", "s")]),
        (
            entry(
                "patch", "jupytercontainers", apiGroup="jupytercontainers.io", subresource="status"
            ),
            [Use("patch", "jupytercontainers.io", "jupytercontainers/status", None)],
        ),
        # A server-side apply that created the object was authorised as a create as well.
        (
            entry("patch", "services", 201, namespace="a", name="x"),
            [Use("patch", "", "services", "a", "x"), Use("create", "", "services", "a", "x")],
        ),
        ({"verb": "get", "requestURI": "/apis", "responseStatus": {"code": 200}}, []),
    ],
)
def test_uses_of_an_audit_entry(audit: dict[str, Any], uses: list[Use]) -> None:
    assert uses_of(audit) == uses


def test_rules_expand_every_group_resource_verb() -> None:
    rules = rules_of([{"apiGroups": ["", "apps"], "resources": ["a"], "verbs": ["get", "list"]}])
    assert {(r.group, r.resource, r.verb) for r in rules} == {
        ("", "a", "get"),
        ("", "a", "list"),
        ("apps", "a", "get"),
        ("apps", "a", "list"),
    }


@pytest.mark.parametrize(
    ("rule", "use", "covered"),
    [
        (Rule("", "secrets", "get"), Use("get", "", "secrets", "ns"), True),
        (Rule("", "secrets", "get"), Use("list", "", "secrets", "ns"), False),
        (Rule("", "secrets", "get", namespace="ns"), Use("get", "", "secrets", "other"), False),
        (Rule("", "secrets", "get", namespace="ns"), Use("get", "", "secrets", None), False),
        (Rule("", "secrets", "get", names=("a",)), Use("get", "", "secrets", "ns", "b"), False),
        (Rule("*", "*", "*"), Use("delete", "apps", "deployments", "ns"), True),
        (Rule("", "pods", "get"), Use("get", "", "pods/log", "ns"), False),
    ],
)
def test_rule_covers(rule: Rule, use: Use, covered: bool) -> None:
    assert rule.covers(use) is covered


def test_judge_reports_both_directions_and_honours_defaults_harness_and_allowlist() -> None:
    granted = [Rule("", "secrets", "get"), Rule("", "pods", "list"), Rule("", "events", "watch")]
    uses = [
        Use("get", "", "secrets", "a"),
        Use("create", "", "configmaps", "a"),  # not granted
        Use("create", "authentication.k8s.io", "selfsubjectreviews", None),  # by default
        Use("patch", "admissionregistration.k8s.io", "webhooks", None),  # harness
    ]
    verdict = judge(
        uses,
        [],
        granted,
        [Rule("authentication.k8s.io", "selfsubjectreviews", "create")],
        [Rule("admissionregistration.k8s.io", "webhooks", "patch")],
        {("watch", "", "events"): "the reason"},
    )
    assert verdict.used_not_granted == [Use("create", "", "configmaps", "a")]
    assert verdict.granted_not_used == [Rule("", "pods", "list")]


def test_only_an_authorisation_denial_counts_as_refused() -> None:
    forbid = {"authorization.k8s.io/decision": "forbid"}
    assert is_refused({**entry("get", "secrets", 403), "annotations": forbid})
    # A webhook or quota refusal is a 403 too, after RBAC allowed the request.
    allow = {"authorization.k8s.io/decision": "allow"}
    assert not is_refused({**entry("create", "pods", 403), "annotations": allow})


def test_a_cluster_wide_and_a_namespaced_use_of_one_verb_sort_together() -> None:
    # The operator lists its children by label cluster-wide at delete, and in a namespace
    # through its watches: both in one session (a plain dataclass order raised on None < str).
    uses = [
        Use("list", "apps", "deployments", "team-a"),
        Use("list", "apps", "deployments", None),
        Use("list", "apps", "deployments", "team-a"),
    ]
    verdict = judge(uses, uses[:1], [Rule("apps", "deployments", "list")], [], [], {})
    assert verdict.used_not_granted == [] and verdict.granted_not_used == []
    assert verdict.refused == [Use("list", "apps", "deployments", "team-a")]


def test_a_request_received_within_an_api_server_start_is_the_starts() -> None:
    began = datetime(2026, 12, 1, 19, 31, 37, tzinfo=UTC)
    starts = [(began, began + timedelta(seconds=5))]
    at = {"requestReceivedTimestamp": "2026-12-01T19:31:39.136935Z"}
    after = {"requestReceivedTimestamp": "2026-12-01T19:31:42.500000Z"}
    before = {"requestReceivedTimestamp": "2026-12-01T19:31:36.999999Z"}
    assert received_during(at, starts)
    assert not received_during(after, starts)
    assert not received_during(before, starts)
    assert not received_during(at, [])
