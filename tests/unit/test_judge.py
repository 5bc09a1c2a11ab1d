"""core.judge: one row per rule of docs/admission.md ("Validating a JupyterContainer").

Each row is a request and the cluster it meets; `run` answers the judge's lookups from
that cluster the way `shell.admission.review_container` answers them from the API, and
records which lookups were asked for (the fewest requests: a refused spec asks none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from jupyter_containers.api import rules
from jupyter_containers.api.models import (
    InstanceTypeSpec,
    JupyterImageSpec,
    ResourceBundleSpec,
    VolumeSpec,
)
from jupyter_containers.core import judge, naming
from jupyter_containers.core.judge import ContainerRequest, Lookup, Need, Verdict
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.validation import KUBERNETES_DELETERS, Code, Identity

ALICE = Identity("alice", frozenset({"system:authenticated"}))
BOB = Identity("bob", frozenset({"system:authenticated"}))
EVE = Identity("eve", frozenset({"system:authenticated"}))
GPU_USER = Identity("gina", frozenset({"system:authenticated", "gpu-team"}))
ADMIN = Identity("root", frozenset({"system:masters"}))
OPERATOR = Identity("system:serviceaccount:jc:operator", frozenset())
SETTINGS = Settings()

TEAM = ResourceBundleSpec.model_validate(
    {"owner": "alice", "grants": [{"users": ["bob"], "permissions": ["start-stop"]}]}
)
CATALOG = (
    {
        "small": InstanceTypeSpec(cpu="1", memory="2Gi"),
        "retired": InstanceTypeSpec(cpu="1", memory="1Gi", available=False),
    },
    {
        "home": VolumeSpec(type="OnDemandPVC", maxSize="1Gi"),
        "other": VolumeSpec(type="OnDemandPVC", maxSize="2Gi"),
        "scratch": VolumeSpec(type="HostPath", hostPath="/data"),
        "team-share": VolumeSpec(
            type="NFS", nfs={"server": "nfs", "path": "/x"}, allowedBundles=["team-a/team"]
        ),
        "ml-share": VolumeSpec(
            type="NFS", nfs={"server": "nfs", "path": "/y"}, allowedBundles=["team-b/*"]
        ),
    },
    {
        "lab": JupyterImageSpec(image="quay.io/jupyter/base-notebook:x"),
        "lab2": JupyterImageSpec(image="quay.io/jupyter/base-notebook:y"),
        "old": JupyterImageSpec(image="quay.io/jupyter/base-notebook:0", available=False),
        "cuda": JupyterImageSpec(image="example.org/cuda-lab:1", allowedGroups=["gpu-team"]),
    },
)
CATALOG[0]["gpu"] = InstanceTypeSpec(cpu="8", memory="32Gi", allowedGroups=["gpu-team"])
GINA_TEAM = ResourceBundleSpec.model_validate(
    {"owner": "alice", "grants": [{"users": ["gina", "bob"], "permissions": ["update"]}]}
)
FULL_QUOTA = {
    "metadata": {"name": "compute", "namespace": "team-a"},
    "spec": {"hard": {"limits.cpu": "1"}},
    "status": {"hard": {"limits.cpu": "1"}, "used": {"limits.cpu": "1"}},
}


@dataclass
class Cluster:
    """What the lookups find."""

    bundles: dict[str, ResourceBundleSpec] = field(default_factory=lambda: {"team": TEAM})
    namespaces: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            "team-a": {},
            "shared": {"jupytercontainers.io/deployable": "true"},
            "closed": {},
        }
    )
    pod_access: dict[str, bool] = field(default_factory=dict)
    quotas: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    secrets: dict[str, frozenset[str]] = field(default_factory=dict)
    secret_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    unreadable: frozenset[str] = frozenset()
    """Secrets the requesting user may not get (SubjectAccessReview)."""
    containers: frozenset[str] = frozenset()
    """The JupyterContainers that exist in the domain."""

    def answer(self, lookup: Lookup) -> Any:
        if lookup.what == judge.NAME_TAKEN:
            assert lookup.namespace == "team-a"
            return str(lookup.names[0]) in self.containers
        if lookup.what == judge.BUNDLE:
            return self.bundles.get(str(lookup.names[0]))
        if lookup.what == judge.CATALOG:
            return CATALOG
        if lookup.what == judge.NAMESPACE:
            return self.namespaces.get(lookup.namespace)
        if lookup.what == judge.POD_ACCESS:
            return self.pod_access.get(lookup.namespace, False)
        if lookup.what == judge.QUOTAS:
            return self.quotas.get(lookup.namespace, [])
        if lookup.what == judge.SECRET_KEYS:
            return {str(n): self.secrets.get(str(n)) for n in lookup.names}
        if lookup.what == judge.SECRET_LABELS:
            return {str(n): self.secret_labels.get(str(n)) for n in lookup.names}
        if lookup.what == judge.SECRET_ACCESS:
            return str(lookup.names[0]) not in self.unreadable
        raise AssertionError(lookup)


def run(request: ContainerRequest, cluster: Cluster) -> tuple[Verdict, list[str]]:
    facts: dict[Lookup, Any] = {}
    asked: list[str] = []
    for _ in range(10):
        outcome = judge.judge_container(request, facts, SETTINGS)
        if isinstance(outcome, Verdict):
            return outcome, asked
        assert isinstance(outcome, Need) and outcome.lookup not in facts
        asked.append(outcome.lookup.what)
        facts[outcome.lookup] = cluster.answer(outcome.lookup)
    raise AssertionError("the judge keeps asking")


def jc(
    *, created_by: str | None = "alice", phase: str | None = "Stopped", **spec: Any
) -> dict[str, Any]:
    annotations = {naming.CREATED_BY_ANNOTATION: created_by} if created_by else {}
    return {
        "metadata": {"name": "demo", "namespace": "team-a", "annotations": annotations},
        "spec": {"bundle": "team", "running": False, **spec},
        "status": {"phase": phase, "pvcName": "jc-demo-home"} if phase else {},
    }


def secret_env(secret: str = "s") -> list[dict[str, Any]]:
    return [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "k"}}}]


def annotated(body: dict[str, Any], **annotations: str) -> dict[str, Any]:
    body["metadata"]["annotations"].update(annotations)
    return body


OPERATOR_LABELS = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE}
START = naming.START_REQUESTED_ANNOTATION
GROUPS = naming.CREATED_BY_GROUPS_ANNOTATION


def create(identity: Identity = ALICE, name: str = "demo", **spec: Any) -> ContainerRequest:
    body = jc(created_by=None, phase=None, **spec)
    return ContainerRequest("CREATE", identity, "team-a", name, body, None)


def update(
    old: dict[str, Any], new: dict[str, Any], identity: Identity = ALICE
) -> ContainerRequest:
    return ContainerRequest("UPDATE", identity, "team-a", "demo", new, old)


def delete(identity: Identity, *, operator: bool = False) -> ContainerRequest:
    return ContainerRequest("DELETE", identity, "team-a", "demo", None, jc(), operator=operator)


@dataclass(frozen=True)
class Row:
    request: ContainerRequest
    admitted: bool
    says: str = ""
    code: Code | None = None
    cluster: Cluster = field(default_factory=Cluster)
    warns: str = ""
    asked: list[str] | None = None  # the lookups, in order, when the row checks them


ROWS: dict[str, Row] = {
    # ------------------------------------------------ 1. the spec
    # ------------------------------------------------ 0. the name is taken (asked first)
    "CREATE: a taken name gets the manual's words, naming metadata.name, nothing else asked": Row(
        create(),
        False,
        f"metadata.name: {rules.MSG_DUPLICATE_NAME}",
        Code.CONFLICT,
        cluster=Cluster(containers=frozenset({"demo"})),
        asked=[judge.NAME_TAKEN],
    ),
    "CREATE: a taken name is refused alone, before an invalid spec": Row(
        create(instanceType="x" * 300),
        False,
        f"metadata.name: {rules.MSG_DUPLICATE_NAME}",
        Code.CONFLICT,
        cluster=Cluster(containers=frozenset({"demo"})),
    ),
    "CREATE: a taken name is refused before access (as the API server would)": Row(
        create(BOB),
        False,
        rules.MSG_DUPLICATE_NAME,
        cluster=Cluster(containers=frozenset({"demo"})),
    ),
    "CREATE: another name in the domain is free": Row(
        create(name="other"), True, cluster=Cluster(containers=frozenset({"demo"}))
    ),
    "CREATE: a name the name rules refuse is not looked up": Row(
        create(name="Bad_Name"), False, rules.MSG_NAME_PATTERN, asked=[]
    ),
    "UPDATE of an existing container is not a duplicate": Row(
        update(jc(), jc(image="lab")), True, cluster=Cluster(containers=frozenset({"demo"}))
    ),
    "DELETE asks nothing about the name": Row(
        delete(ALICE), True, cluster=Cluster(containers=frozenset({"demo"})), asked=[judge.BUNDLE]
    ),
    # ------------------------------------------------ 1. the spec
    "invalid spec refused, only the name looked up": Row(
        create(instanceType="x" * 300),
        False,
        "spec.instanceType",
        Code.INVALID,
        asked=[judge.NAME_TAKEN],
    ),
    "CREATE: the name rules": Row(create(name="Bad_Name"), False, rules.MSG_NAME_PATTERN),
    "UPDATE leaving an invalid spec unchanged is not judged again (ratcheting)": Row(
        update(jc(instanceType="x" * 300), jc(instanceType="x" * 300)), True
    ),
    # ------------------------------------------------ 2. access
    "CREATE: the bundle must exist": Row(
        create(bundle="nope"), False, "ResourceBundle 'nope' does not exist", Code.INVALID
    ),
    "CREATE: needs update in the bundle": Row(
        create(BOB), False, "bob may not create containers", Code.FORBIDDEN
    ),
    "CREATE by the bundle owner": Row(
        create(), True, asked=[judge.NAME_TAKEN, judge.BUNDLE, judge.CATALOG, judge.NAMESPACE]
    ),
    "CREATE by an admin": Row(create(ADMIN), True),
    "UPDATE running needs start-stop: a grantee may": Row(
        update(jc(), jc(running=True), BOB), True
    ),
    "UPDATE running needs start-stop: others may not": Row(
        update(jc(), jc(running=True), EVE), False, "eve may not start", Code.FORBIDDEN
    ),
    "UPDATE of the spec needs update": Row(
        update(jc(), jc(image="lab"), BOB), False, "bob may not", Code.FORBIDDEN
    ),
    # No bundle looked up; the catalog is (the operator's watch of it, usually: no request).
    "UPDATE changing nothing needs nothing": Row(
        update(jc(), jc(), EVE), True, asked=[judge.CATALOG]
    ),
    "DELETE needs delete": Row(delete(EVE), False, "eve may not delete", Code.FORBIDDEN),
    "DELETE by the creator": Row(delete(ALICE), True),
    "DELETE by the operator is never refused": Row(delete(EVE, operator=True), True, asked=[]),
    "DELETE by a Kubernetes controller is never refused": Row(
        delete(Identity(sorted(KUBERNETES_DELETERS)[0], frozenset())), True, asked=[]
    ),
    "created-by forged on CREATE": Row(
        ContainerRequest(
            "CREATE", ALICE, "team-a", "demo", jc(created_by="root", phase=None), None
        ),
        False,
        "the platform records the creator",
        Code.FORBIDDEN,
    ),
    "created-by changed on UPDATE": Row(
        update(jc(), jc(created_by="bob")), False, "cannot be changed", Code.FORBIDDEN
    ),
    "created-by-groups changed on UPDATE": Row(
        update(annotated(jc(), **{GROUPS: '["a"]'}), annotated(jc(), **{GROUPS: '["admins"]'})),
        False,
        f"metadata.annotations['{GROUPS}'] cannot be changed",
        Code.FORBIDDEN,
    ),
    # ------------------------------------------------ the annotations the operator reads
    "start-requested must be an RFC 3339 time, refused before any lookup": Row(
        update(jc(), annotated(jc(), **{START: "yesterday"})),
        False,
        f"metadata.annotations['{START}']: 'yesterday' is not an RFC 3339 time",
        Code.INVALID,
        asked=[],
    ),
    "start-requested: a valid time is admitted": Row(
        update(jc(running=True), annotated(jc(running=True), **{START: "2026-01-01T10:00:00Z"})),
        True,
    ),
    "start-requested stored before the rule is not judged again": Row(
        update(annotated(jc(), **{START: "x" * 100}), annotated(jc(), **{START: "x" * 100})), True
    ),
    # ------------------------------------------------ 3. configuration
    "the bundle never changes": Row(
        update(jc(), jc(bundle="other")), False, rules.MSG_BUNDLE_IMMUTABLE[:20]
    ),
    "configuring while Active is refused": Row(
        update(jc(phase="Active", running=True), jc(phase="Active", running=True, image="lab2")),
        False,
        rules.MSG_STOP_BEFORE_CONFIGURING,
    ),
    # ------------------------------------------------ 4. catalog, namespace, quota
    "unknown instance type names the available ones": Row(
        create(instanceType="huge"), False, "choose one of the available ones (small)"
    ),
    "unavailable instance type": Row(create(instanceType="retired"), False, "is not available"),
    "unknown volume": Row(create(volume="nope"), False, "Volume 'nope' does not exist"),
    "HostPath volume": Row(create(volume="scratch"), False, rules.MSG_INVALID_VOLUME_TYPE),
    # ------------------------------------------------ 4b. image catalog and entitlements
    "an image the catalog lacks names spec.image and the images one may pick": Row(
        create(image="nope"),
        False,
        "spec.image: JupyterImage 'nope' does not exist; choose one of the images you may "
        "use (lab, lab2) or remove spec.image",
    ),
    "an unavailable image is refused": Row(create(image="old"), False, "'old' is not available"),
    "a group's image is refused to others, naming bundle and groups": Row(
        create(image="cuda"),
        False,
        "JupyterImage 'cuda' is not offered to bundle 'team-a/team' or your groups",
        Code.INVALID,
    ),
    "a group's image and instance type are admitted for the group": Row(
        create(GPU_USER, image="cuda", instanceType="gpu"),
        True,
        cluster=Cluster(bundles={"team": ResourceBundleSpec(owner="gina")}),
    ),
    "a group's instance type is refused to others, the offer without it": Row(
        create(instanceType="gpu"), False, "not offered to bundle 'team-a/team' or your groups"
    ),
    "an admin may use every entry": Row(create(ADMIN, image="cuda", instanceType="gpu"), True),
    "a bundle's volume is admitted for its bundle": Row(create(volume="team-share"), True),
    "a namespace's volume ('team-b/*') is refused in another namespace": Row(
        create(volume="ml-share"), False, "Volume 'ml-share' is not offered to bundle 'team-a/team'"
    ),
    "an update by an entitled grantee is refused when the creator is not entitled": Row(
        update(jc(), jc(image="cuda"), GPU_USER),
        False,
        "not offered to bundle 'team-a/team' or the groups of the container's creator alice",
        cluster=Cluster(bundles={"team": GINA_TEAM}),
    ),
    "an update by a grantee within the creator's entitlements is admitted": Row(
        update(
            annotated(jc(), **{GROUPS: '["gpu-team"]'}),
            annotated(jc(image="cuda"), **{GROUPS: '["gpu-team"]'}),
            GPU_USER,
        ),
        True,
        cluster=Cluster(bundles={"team": GINA_TEAM}),
    ),
    "UPDATE keeping the catalog choice is not judged for it": Row(
        update(jc(instanceType="retired"), jc(instanceType="retired", running=True)), True
    ),
    "deployment namespace must exist": Row(
        create(namespace="ghost"), False, "namespace 'ghost' does not exist", Code.INVALID
    ),
    "deployment namespace must be open to the domain": Row(
        create(namespace="closed"), False, "is not open to containers of", Code.FORBIDDEN
    ),
    "open namespace: the user must be allowed to create pods there": Row(
        create(namespace="shared"), False, "may not create pods in namespace", Code.FORBIDDEN
    ),
    "open namespace, pods allowed": Row(
        create(namespace="shared"),
        True,
        cluster=Cluster(pod_access={"shared": True}),
        asked=[judge.NAME_TAKEN, judge.BUNDLE, judge.CATALOG, judge.NAMESPACE, judge.POD_ACCESS],
    ),
    "quota on CREATE of a running container": Row(
        create(running=True),
        False,
        "Quota exceeded in namespace 'team-a'",
        Code.FORBIDDEN,
        cluster=Cluster(quotas={"team-a": [FULL_QUOTA]}),
    ),
    "no quota check for a stopped container": Row(
        create(), True, cluster=Cluster(quotas={"team-a": [FULL_QUOTA]})
    ),
    # ------------------------------------------------ Secret references (secret_policy)
    "a token Secret's name is refused, no SubjectAccessReview asked": Row(
        create(env=secret_env("jc-other-token")),
        False,
        "which belongs to the platform",
        Code.FORBIDDEN,
        asked=[
            judge.NAME_TAKEN,
            judge.BUNDLE,
            judge.CATALOG,
            judge.NAMESPACE,
            judge.SECRET_LABELS,
        ],
    ),
    "a Secret labelled as the operator's is refused": Row(
        create(env=secret_env()),
        False,
        "spec.env[0].valueFrom.secretKeyRef: 'TOKEN' refers to Secret 's', which belongs",
        Code.FORBIDDEN,
        cluster=Cluster(secret_labels={"s": OPERATOR_LABELS}),
    ),
    "a Secret the user may not get is refused (SubjectAccessReview as the user)": Row(
        create(env=secret_env()),
        False,
        "in namespace 'team-a', which alice may not read (get secrets)",
        Code.FORBIDDEN,
        cluster=Cluster(unreadable=frozenset({"s"})),
        asked=[
            judge.NAME_TAKEN,
            judge.BUNDLE,
            judge.CATALOG,
            judge.NAMESPACE,
            judge.SECRET_LABELS,
            judge.SECRET_ACCESS,
        ],
    ),
    "changing env to a Secret the user may not get is refused": Row(
        update(jc(), jc(env=secret_env())),
        False,
        "which alice may not read",
        Code.FORBIDDEN,
        cluster=Cluster(unreadable=frozenset({"s"})),
    ),
    "a start by a grantee: labels checked, no review for the grantee": Row(
        update(jc(env=secret_env()), jc(env=secret_env(), running=True), BOB),
        True,
        cluster=Cluster(unreadable=frozenset({"s"}), secrets={"s": frozenset({"k"})}),
        asked=[judge.BUNDLE, judge.CATALOG, judge.SECRET_LABELS, judge.SECRET_KEYS],
    ),
    "a start is refused for an operator-labelled Secret": Row(
        update(jc(env=secret_env()), jc(env=secret_env(), running=True), BOB),
        False,
        "which belongs to the platform",
        Code.FORBIDDEN,
        cluster=Cluster(secret_labels={"s": OPERATOR_LABELS}),
    ),
    "an update leaving env and running alone asks nothing about Secrets": Row(
        update(jc(env=secret_env()), jc(env=secret_env(), image="lab")),
        True,
        cluster=Cluster(unreadable=frozenset({"s"})),
        asked=[judge.BUNDLE, judge.CATALOG],
    ),
    # ------------------------------------------------ 5. warnings
    "warning: changing the volume deletes the On Demand PVC": Row(
        update(jc(volume="home"), jc(volume="other")), True, warns="Data loss"
    ),
    "warning: a secretKeyRef to a missing Secret": Row(
        create(env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
        True,
        warns="Secret 's', which does not exist",
    ),
    "no warning once the Secret has the key": Row(
        create(env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
        True,
        cluster=Cluster(secrets={"s": frozenset({"k"})}),
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_judge(row: Row) -> None:
    verdict, asked = run(row.request, row.cluster)
    if row.admitted:
        assert verdict.problem is None, verdict.problem
    else:
        assert verdict.problem is not None
        assert row.says in verdict.problem.message
        if row.code is not None:
            assert verdict.problem.code == row.code
    if row.warns:
        assert any(row.warns in w for w in verdict.warnings), verdict.warnings
    elif row.admitted:
        assert verdict.warnings == []
    if row.asked is not None:
        assert asked == row.asked


def test_the_judge_asks_for_each_fact_once_and_then_answers() -> None:
    request = create(
        namespace="shared",
        running=True,
        env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    )
    _, asked = run(request, Cluster(pod_access={"shared": True}))
    assert asked == [
        judge.NAME_TAKEN,
        judge.BUNDLE,
        judge.CATALOG,
        judge.NAMESPACE,
        judge.POD_ACCESS,
        judge.QUOTAS,
        judge.SECRET_LABELS,
        judge.SECRET_ACCESS,
        judge.SECRET_KEYS,
    ]
