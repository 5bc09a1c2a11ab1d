"""What a user did according to the API server's audit log, against what its RBAC rules grant.

Pure functions over audit entries (tools/kwok/audit-policy.yaml logs every request of a
ServiceAccount at Metadata level) and RBAC rules; tests/cluster/test_least_privilege.py feeds
them the session operator's log and the chart's rules. The resource naming is bench/'s
(jcbench.audit.resource_of); entries are selected by user (bench/ selects by user agent, since
its operator runs as the admin) and, as there, one per request (watches folded by auditID).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.jcbench.audit import resource_of

#: A server-side apply of an object that did not exist is authorised as a create too (the API
#: server asks RBAC for both): the audit log shows it as a patch answered 201.
CREATED = 201


@dataclass(frozen=True)
class Use:
    """One kind of request: verb on group/resource[/subresource], in a namespace or not."""

    verb: str
    group: str
    resource: str  # with "/subresource" when there is one
    namespace: str | None  # None: a cluster-wide request (or a cluster-scoped object)
    name: str = ""

    def key(self) -> tuple[str, str, str, str]:
        scope = "namespaced" if self.namespace else "cluster"
        return (self.verb, self.group, self.resource, scope)

    def order(self) -> tuple[str, str, str, str, str]:
        """For sorting: a cluster-wide request (namespace None) first, beside namespaced ones."""
        return (self.verb, self.group, self.resource, self.namespace or "", self.name)

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''}{where}"


@dataclass(frozen=True)
class Rule:
    """One (group, resource, verb) of a role, where it applies (None: every namespace)."""

    group: str
    resource: str
    verb: str
    namespace: str | None = None
    names: tuple[str, ...] = ()

    def covers(self, use: Use) -> bool:
        return (
            self.group in ("*", use.group)
            and self.resource in ("*", use.resource)
            and self.verb in ("*", use.verb)
            and (self.namespace is None or self.namespace == use.namespace)
            and (not self.names or use.name in self.names)
        )

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''}{where}"


def rules_of(rule_list: Iterable[Mapping[str, Any]], namespace: str | None = None) -> list[Rule]:
    """Every (group, resource, verb) of RBAC `rules`, non-resource URLs left out."""
    return [
        Rule(group, resource, verb, namespace, tuple(rule.get("resourceNames") or ()))
        for rule in rule_list
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    ]


def uses_of(entry: Mapping[str, Any]) -> list[Use]:
    """What one audit entry asked to do ([] for a non-resource request such as discovery)."""
    ref = entry.get("objectRef")
    if not ref or not ref.get("resource"):
        return []
    resource = resource_of(entry)
    use = Use(
        str(entry.get("verb")),
        str(ref.get("apiGroup") or ""),
        resource,
        ref.get("namespace") or None,
        str(ref.get("name") or ""),
    )
    code = int((entry.get("responseStatus") or {}).get("code") or 0)
    if use.verb == "patch" and code == CREATED:
        return [use, Use("create", use.group, use.resource, use.namespace, use.name)]
    return [use]


def read_entries(paths: Sequence[Path], username: str) -> Iterator[dict[str, Any]]:
    """The audit entries of `username`, one per request, from the log and its rotated files."""
    needle = f'"username":"{username}"'.encode()
    seen: set[str] = set()
    for path in paths:
        with path.open("rb") as log:
            for line in log:
                if needle not in line or not line.endswith(b"\n"):
                    continue
                entry = json.loads(line)
                if entry.get("user", {}).get("username") != username:
                    continue  # the name in another field (an impersonated user, a request body)
                if entry["auditID"] in seen:
                    continue  # a watch logs ResponseStarted and ResponseComplete
                seen.add(entry["auditID"])
                yield entry


def log_files(audit_log: Path) -> list[Path]:
    """The audit log and any rotated `audit-*.log` beside it (kwokctl.yaml: 1 GiB, 1 backup)."""
    rotated = sorted(audit_log.parent.glob(f"{audit_log.stem}-*{audit_log.suffix}"))
    return [*rotated, audit_log] if audit_log.exists() else rotated


@dataclass(frozen=True)
class Verdict:
    used_not_granted: list[Use]
    granted_not_used: list[Rule]
    refused: list[Use]


def judge(
    uses: Iterable[Use],
    refused: Iterable[Use],
    granted: Sequence[Rule],
    by_default: Sequence[Rule],
    harness: Sequence[Rule],
    rarely_used: Mapping[tuple[str, str, str], str],
) -> Verdict:
    """Compare requests with grants.

    `granted`: the chart's rules; `by_default`: what every authenticated account may do (the
    cluster's own bindings, e.g. SelfSubjectReview); `harness`: the test harness's extra rules
    (neither required nor reported); `rarely_used`: (verb, group, resource) -> why a granted
    rule may go unexercised.
    """
    distinct = sorted(set(uses), key=Use.order)
    outside = [
        use for use in distinct if not any(r.covers(use) for r in (*granted, *by_default, *harness))
    ]
    # Unused: no request of the grant's kind at all (a request that a default role also
    # covers still counts: the chart's rule is what a cluster without that default needs).
    unused = [
        rule
        for rule in granted
        if not any(rule.covers(use) for use in distinct)
        and (rule.verb, rule.group, rule.resource) not in rarely_used
    ]
    return Verdict(outside, unused, sorted(set(refused), key=Use.order))


def received_during(entry: Mapping[str, Any], windows: Iterable[tuple[datetime, datetime]]) -> bool:
    """Whether the API server received the request within one of `windows` (aware datetimes)."""
    received = datetime.fromisoformat(str(entry["requestReceivedTimestamp"]))
    return any(began <= received <= ended for began, ended in windows)


def is_refused(entry: Mapping[str, Any]) -> bool:
    """Refused by authorisation (403 with the authorizer's decision), not by admission."""
    code = int((entry.get("responseStatus") or {}).get("code") or 0)
    decision = (entry.get("annotations") or {}).get("authorization.k8s.io/decision")
    return code == 403 and decision == "forbid"
