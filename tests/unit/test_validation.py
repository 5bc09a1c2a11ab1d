"""Admission rules (pure): access, created-by, the spec, the catalog, namespaces, warnings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jupyter_containers.api import rules
from jupyter_containers.api.models import (
    InstanceTypeSpec,
    JupyterContainerSpec,
    Permission,
    ResourceBundleSpec,
    VolumeSpec,
)
from jupyter_containers.core import naming
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.validation import (
    ALL_PERMISSIONS,
    Code,
    Identity,
    Problem,
    access_problem,
    bundle_change_problem,
    bundle_defaults,
    bundle_in_use_problem,
    bundle_spec_problems,
    configure_problems,
    create_access_problem,
    created_by_groups,
    created_by_problem,
    data_loss_warnings,
    granted,
    is_start,
    missing_bundle_problem,
    mutations,
    name_problems,
    namespace_problem,
    needs_pod_access_check,
    operator_annotation_problem,
    pod_access_problem,
    refusal,
    required_permissions,
    resolve_catalog,
    secret_warnings,
    spec_problems,
)

ALICE = Identity("alice", frozenset({"system:authenticated"}))
BOB = Identity("bob", frozenset({"system:authenticated"}))
CAROL = Identity("carol", frozenset({"system:authenticated", "analysts"}))
ADMIN = Identity("root", frozenset({"system:masters", "system:authenticated"}))
OPS = Identity("olga", frozenset({"platform-ops"}))

TEAM = ResourceBundleSpec.model_validate(
    {
        "owner": "alice",
        "grants": [
            {"users": ["bob"], "permissions": ["start-stop"]},
            {"groups": ["reviewers"], "permissions": ["view", "update"]},
        ],
    }
)

INSTANCE_TYPES = {
    "small": InstanceTypeSpec(cpu="1", memory="2Gi", order=10),
    "large": InstanceTypeSpec(cpu="4", memory="16Gi", order=20),
    "retired": InstanceTypeSpec(cpu="1", memory="1Gi", order=1, available=False),
}
VOLUMES = {
    "home": VolumeSpec(type="OnDemandPVC", maxSize="1Gi"),
    "home-large": VolumeSpec(type="OnDemandPVC", maxSize="5Gi"),
    "shared": VolumeSpec(type="NFS", nfs={"server": "nfs.example", "path": "/x"}),
    "scratch": VolumeSpec(type="HostPath", hostPath="/data"),
    "tmp": VolumeSpec(type="TmpFS"),
}


def spec(**fields: Any) -> JupyterContainerSpec:
    return JupyterContainerSpec.model_validate({"bundle": "team", **fields})


def jc(spec_: dict[str, Any] | None = None, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "nb", "annotations": dict(annotations), "finalizers": []},
        "spec": {"bundle": "team", **(spec_ or {})},
    }


# ---------------------------------------------------------------- identity and grants


def test_identity_from_userinfo() -> None:
    who = Identity.from_userinfo(
        {"username": "bob", "groups": ["a", "b"], "uid": "42", "extra": {"scopes": ["x"]}}
    )
    assert who == Identity("bob", frozenset({"a", "b"}), "42", {"scopes": ("x",)})


def test_admins() -> None:
    assert ADMIN.is_admin()
    assert not OPS.is_admin()
    assert OPS.is_admin(["platform-ops"])


def test_granted() -> None:
    assert granted(ALICE, TEAM, None) == ALL_PERMISSIONS  # owner
    assert granted(CAROL, TEAM, "carol") == ALL_PERMISSIONS  # creator
    assert granted(ADMIN, TEAM, "alice") == ALL_PERMISSIONS
    assert granted(OPS, TEAM, "alice", ["platform-ops"]) == ALL_PERMISSIONS
    assert granted(BOB, TEAM, "alice") == {Permission.START_STOP}
    assert granted(CAROL, TEAM, "alice") == frozenset()
    reviewer = Identity("rita", frozenset({"reviewers"}))
    assert granted(reviewer, TEAM, "alice") == {Permission.VIEW, Permission.UPDATE}
    assert granted(BOB, None, "alice") == frozenset()  # no bundle: creator and admins only


def test_required_permissions() -> None:
    base = jc({"image": "a"})
    assert required_permissions(base, jc({"image": "a"})) == frozenset()
    assert required_permissions(base, jc({"image": "a", "running": False})) == {
        Permission.START_STOP
    }
    start = {naming.START_REQUESTED_ANNOTATION: "2025-01-01T00:00:00Z"}
    assert required_permissions(base, jc({"image": "a"}, **start)) == {Permission.START_STOP}
    assert required_permissions(base, jc({"image": "b"})) == {Permission.UPDATE}
    assert required_permissions(base, jc({"image": "b", "running": False})) == {
        Permission.UPDATE,
        Permission.START_STOP,
    }
    assert required_permissions(base, jc({"image": "a"}, team="x")) == {Permission.UPDATE}


def test_required_permissions_ignore_apply_bookkeeping_and_defaults() -> None:
    old = jc({"image": "a"})
    new = jc({"image": "a", "env": [], "tags": {}, "running": True})
    new["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    assert required_permissions(old, new) == frozenset()


def test_access_problem_for_bob_and_carol() -> None:
    assert (
        access_problem(
            BOB,
            {Permission.START_STOP},
            container="nb",
            bundle_name="team",
            bundle=TEAM,
            created_by="alice",
        )
        is None
    )
    problem = access_problem(
        BOB,
        {Permission.UPDATE},
        container="nb",
        bundle_name="team",
        bundle=TEAM,
        created_by="alice",
    )
    assert problem == Problem(
        "bob may not update JupyterContainer 'nb': only its creator (alice), the owner of "
        "ResourceBundle 'team' (alice), users and groups the bundle grants update and admins "
        "may. To get access, ask alice to grant you update in the bundle.",
        Code.FORBIDDEN,
    )
    problem = access_problem(
        CAROL,
        {Permission.DELETE},
        container="nb",
        bundle_name="team",
        bundle=TEAM,
        created_by="alice",
    )
    assert problem is not None and problem.message.startswith(
        "carol may not delete JupyterContainer 'nb'"
    )
    problem = access_problem(
        CAROL,
        {Permission.START_STOP},
        container="nb",
        bundle_name="team",
        bundle=None,
        created_by="alice",
    )
    assert problem is not None and "start or stop" in problem.message
    assert "ask an admin" in problem.message


def test_create_access() -> None:
    assert create_access_problem(ALICE, bundle_name="team", bundle=TEAM) is None
    assert create_access_problem(ADMIN, bundle_name="team", bundle=TEAM) is None
    reviewer = Identity("rita", frozenset({"reviewers"}))
    assert create_access_problem(reviewer, bundle_name="team", bundle=TEAM) is None
    problem = create_access_problem(BOB, bundle_name="team", bundle=TEAM)
    assert problem is not None and problem.code == Code.FORBIDDEN
    assert problem.message.startswith(
        "spec.bundle: bob may not create containers in ResourceBundle 'team'"
    )


def test_missing_bundle() -> None:
    problem = missing_bundle_problem("nope", "dev")
    assert problem.message.startswith(
        "spec.bundle: ResourceBundle 'nope' does not exist in namespace 'dev'"
    )
    assert "kubectl get resourcebundles -n dev" in problem.message


# ---------------------------------------------------------------- created-by


def test_mutations_on_create() -> None:
    meta = {"name": "nb", "finalizers": ["other"]}
    groups = json.dumps(sorted(ALICE.groups), separators=(",", ":"))
    assert mutations("CREATE", ALICE, meta, None) == {
        "annotations": {
            naming.CREATED_BY_ANNOTATION: "alice",
            naming.CREATED_BY_GROUPS_ANNOTATION: groups,
        },
        "finalizers": ["other", naming.FINALIZER],
    }
    # A created-by already there is left for the validating webhook to judge; forged groups
    # are replaced with the request's.
    forged = {
        "annotations": {
            naming.CREATED_BY_ANNOTATION: "bob",
            naming.CREATED_BY_GROUPS_ANNOTATION: '["system:masters"]',
        },
        "finalizers": [naming.FINALIZER],
    }
    assert mutations("CREATE", ALICE, forged, None) == {
        "annotations": {naming.CREATED_BY_GROUPS_ANNOTATION: groups}
    }
    recorded = {**forged["annotations"], naming.CREATED_BY_GROUPS_ANNOTATION: groups}
    assert created_by_groups(recorded) == sorted(ALICE.groups)
    assert created_by_groups({naming.CREATED_BY_GROUPS_ANNOTATION: "not json"}) == []
    assert created_by_groups({}) == []


def test_mutations_on_update_restore_a_dropped_annotation() -> None:
    old = {"annotations": {naming.CREATED_BY_ANNOTATION: "alice"}}
    assert mutations("UPDATE", BOB, {"annotations": {}}, old) == {
        "annotations": {naming.CREATED_BY_ANNOTATION: "alice"}
    }
    assert mutations("UPDATE", BOB, old, old) == {}
    assert mutations("UPDATE", BOB, {}, {}) == {}


def test_created_by_problem() -> None:
    key = naming.CREATED_BY_ANNOTATION
    own = {"annotations": {key: "carol"}}
    assert created_by_problem("CREATE", CAROL, own, None) is None
    forged = created_by_problem("CREATE", CAROL, {"annotations": {key: "alice"}}, None)
    assert forged == Problem(
        f"metadata.annotations['{key}']: the platform records the creator from the request; "
        "it says 'alice' but you are 'carol'. Remove the annotation.",
        Code.FORBIDDEN,
    )
    old = {"annotations": {key: "alice"}}
    assert created_by_problem("UPDATE", ADMIN, {"annotations": {key: "alice"}}, old) is None
    changed = created_by_problem("UPDATE", ADMIN, {"annotations": {key: "root"}}, old)
    assert changed is not None and "cannot be changed (it is 'alice')" in changed.message
    groups_key = naming.CREATED_BY_GROUPS_ANNOTATION
    old_groups = {"annotations": {key: "alice", groups_key: '["team"]'}}
    new_groups = {"annotations": {key: "alice", groups_key: '["system:masters"]'}}
    changed = created_by_problem("UPDATE", ALICE, new_groups, old_groups)
    assert changed is not None and groups_key in changed.message


STOPPED_BY = naming.STOPPED_BY_ANNOTATION


@pytest.mark.parametrize(
    ("new", "old", "refused"),
    [
        ({}, None, False),
        ({STOPPED_BY: "x"}, None, True),  # created with it
        ({STOPPED_BY: "x"}, {}, True),  # added
        ({STOPPED_BY: "y"}, {STOPPED_BY: "x"}, True),  # changed
        ({STOPPED_BY: "x"}, {STOPPED_BY: "x"}, False),  # kept (any other change)
        ({}, {STOPPED_BY: "x"}, False),  # removed: the stop is then the user's
    ],
)
def test_only_the_operator_writes_its_stop_annotation(
    new: dict[str, str], old: dict[str, str] | None, refused: bool
) -> None:
    old_meta = None if old is None else {"annotations": old}
    problem = operator_annotation_problem({"annotations": new}, old_meta)
    assert (problem is not None) == refused
    if problem is not None:
        assert problem.code == Code.FORBIDDEN
        assert f"metadata.annotations['{STOPPED_BY}']" in problem.message


# ---------------------------------------------------------------- the spec


def test_spec_problems_reserved_env_names_the_field() -> None:
    parsed, problems = spec_problems(
        {"bundle": "t", "env": [{"name": "RESTARTABLE", "value": "no"}]}
    )
    assert parsed is None
    assert [p.message for p in problems] == [
        f"spec.env[0].name: {rules.msg_reserved_env('RESTARTABLE')}"
    ]


@pytest.mark.parametrize("arg", ["--port=9999", "--ip", "--NotebookApp.token=x"])
def test_spec_problems_platform_args(arg: str) -> None:
    _, problems = spec_problems({"bundle": "t", "args": [arg]})
    assert len(problems) == 1
    assert problems[0].message.startswith(f"spec.args[0]: {arg!r} sets ")
    assert "which the platform owns" in problems[0].message


def test_spec_problems_pydantic_messages_get_the_field_path() -> None:
    _, problems = spec_problems({"bundle": "t", "instanceType": "Not_Valid"})
    assert len(problems) == 1
    assert problems[0].message.startswith("spec.instanceType: String should match pattern")
    _, problems = spec_problems({})
    assert problems[0].message == "spec.bundle: Field required."
    _, problems = spec_problems({"bundle": "t", "env": [{"name": "A"}]})
    assert problems[0].message == rules.msg_env_value_xor("A")


def test_spec_ok() -> None:
    args = ["--LabApp.expose_app_in_browser=True"]
    parsed, problems = spec_problems({"bundle": "t", "args": args})
    assert problems == [] and parsed is not None and parsed.args == args


def test_name_problems() -> None:
    assert name_problems("nb-1") == []
    assert [p.message for p in name_problems("Bad_Name")] == [rules.MSG_NAME_PATTERN]
    assert [p.message for p in name_problems("a" * 54)] == [rules.MSG_NAME_LENGTH]


# ---------------------------------------------------------------- the catalog


def test_catalog_defaults_to_first_available_instance_type() -> None:
    instance, volume, problems = resolve_catalog(spec(), INSTANCE_TYPES, VOLUMES)
    assert problems == [] and instance == ("small", INSTANCE_TYPES["small"])
    assert volume == (None, None)


@pytest.mark.parametrize("name", ["scratch", "tmp"])
def test_invalid_volume_type_exact_message(name: str) -> None:
    _, _, problems = resolve_catalog(spec(volume=name), INSTANCE_TYPES, VOLUMES)
    assert [p.message for p in problems] == [
        "Only On Demand PVC and NFS volumes are allowed in Jupyter Containers."
    ]


def test_unknown_instance_type_and_volume_name_the_choices() -> None:
    _, _, problems = resolve_catalog(
        spec(instanceType="xl", volume="nope"), INSTANCE_TYPES, VOLUMES
    )
    assert [p.message for p in problems] == [
        "spec.instanceType: InstanceType 'xl' does not exist; choose one of the available ones "
        "(small, large).",
        "spec.volume: Volume 'nope' does not exist; choose one of the On Demand PVC or NFS "
        "volumes (home, home-large, shared) or remove spec.volume.",
    ]


def test_unavailable_instance_type() -> None:
    _, _, problems = resolve_catalog(spec(instanceType="retired"), INSTANCE_TYPES, VOLUMES)
    assert problems[0].message.startswith(
        "spec.instanceType: InstanceType 'retired' is not available"
    )


def test_configure_problems() -> None:
    old = spec(image="a")
    assert configure_problems(old, spec(image="b"), "Stopped") == []
    assert configure_problems(old, spec(image="b"), "Failed") == []
    for phase in ("Starting", "Active"):
        assert [p.message for p in configure_problems(old, spec(image="b"), phase)] == [
            rules.MSG_STOP_BEFORE_CONFIGURING
        ]
        assert configure_problems(old, spec(image="a", running=False), phase) == []
    moved = JupyterContainerSpec.model_validate({"bundle": "other", "image": "a"})
    assert [p.message for p in configure_problems(old, moved, "Stopped")] == [
        rules.MSG_BUNDLE_IMMUTABLE
    ]


def test_is_start() -> None:
    assert is_start("CREATE", None, spec())
    assert not is_start("CREATE", None, spec(running=False))
    assert is_start("UPDATE", spec(running=False), spec())
    assert not is_start("UPDATE", spec(), spec(image="x"))


# ---------------------------------------------------------------- namespaces


SETTINGS = Settings()
LABEL = SETTINGS.domain_namespace_label


@pytest.mark.parametrize(
    ("namespace", "labels", "open_"),
    [
        ("dev", {}, True),  # the domain itself
        ("shared", {LABEL: "true"}, True),
        ("shared", {LABEL: "ops, dev"}, True),
        ("shared", {LABEL: "ops"}, False),
        ("shared", {}, False),
    ],
)
def test_namespace_open_to_domain(namespace: str, labels: dict[str, str], open_: bool) -> None:
    problem = namespace_problem("dev", namespace, exists=True, labels=labels, settings=SETTINGS)
    assert (problem is None) is open_
    if problem is not None:
        assert problem.code == Code.FORBIDDEN
        assert problem.message.startswith(
            "spec.namespace: namespace 'shared' is not open to containers of 'dev'"
        )
        assert f"{LABEL}=true" in problem.message


def test_missing_namespace() -> None:
    problem = namespace_problem("dev", "gone", exists=False, labels={}, settings=SETTINGS)
    assert problem is not None and problem.message.startswith(
        "spec.namespace: namespace 'gone' does not exist"
    )


def test_pod_access() -> None:
    assert not needs_pod_access_check("dev", "dev")
    assert needs_pod_access_check("dev", "shared")
    assert pod_access_problem(CAROL, "shared").message.startswith(
        "spec.namespace: carol may not create pods in namespace 'shared'"
    )


# ---------------------------------------------------------------- warnings


PVC = "jc-nb-home-a1b2c3"


def test_data_loss_warnings() -> None:
    old = spec(volume="home")
    assert (
        data_loss_warnings("nb", "dev", old, spec(volume="home", image="x"), VOLUMES, old_pvc=PVC)
        == []
    )
    [moved] = data_loss_warnings(
        "nb", "dev", old, spec(volume="home", namespace="shared"), VOLUMES, old_pvc=PVC
    )
    assert moved == (
        "Data loss: changing spec.namespace from 'dev' to 'shared' deletes the On Demand PVC "
        "'jc-nb-home-a1b2c3' (volume 'home') and creates a new one in 'shared'. Notebooks saved "
        "to Git or external file systems are unaffected, but any unsaved data in the container "
        "is lost permanently."
    )
    [swapped] = data_loss_warnings("nb", "dev", old, spec(volume="shared"), VOLUMES, old_pvc=PVC)
    assert swapped.startswith(
        "Data loss: changing spec.volume from 'home' to 'shared' deletes the On Demand PVC "
        "'jc-nb-home-a1b2c3' in 'dev'"
    )
    assert "Back up any important data before making this change." in swapped
    [dropped] = data_loss_warnings("nb", "dev", old, spec(), VOLUMES, old_pvc=None)
    assert "to 'no volume'" in dropped
    assert "the On Demand PVC of 'nb'" in dropped  # no status yet: named by its container
    assert (
        len(
            data_loss_warnings(
                "nb", "dev", old, spec(volume="shared", namespace="x"), VOLUMES, old_pvc=PVC
            )
        )
        == 2
    )
    # NFS storage is never deleted: no warning.
    assert (
        data_loss_warnings(
            "nb", "dev", spec(volume="shared"), spec(namespace="x"), VOLUMES, old_pvc=None
        )
        == []
    )


def test_secret_warnings() -> None:
    s = spec(
        env=[
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            {
                "name": "C",
                "valueFrom": {"secretKeyRef": {"name": "x", "key": "y", "optional": True}},
            },
            {"name": "D", "value": "plain"},
        ]
    )
    warnings = secret_warnings(s, "dev", {"db": None, "api": frozenset({"other"})})
    assert warnings == [
        "spec.env: 'A' refers to Secret 'db', which does not exist in namespace 'dev' yet; the "
        "container fails to start (CreateContainerConfigError) until it exists.",
        "spec.env: 'B' refers to key 'token' of Secret 'api' in 'dev', which has no such key "
        "yet; the container fails to start (CreateContainerConfigError) until it exists.",
    ]
    assert (
        secret_warnings(s, "dev", {"db": frozenset({"password"}), "api": frozenset({"token"})})
        == []
    )


# ---------------------------------------------------------------- bundles


def test_bundle_changes() -> None:
    mine = ResourceBundleSpec(owner="alice")
    assert bundle_change_problem("CREATE", ALICE, "team", mine, None) is None
    assert bundle_change_problem("CREATE", ADMIN, "team", mine, None) is None
    problem = bundle_change_problem("CREATE", CAROL, "team", mine, None)
    assert problem is not None and problem.message.startswith(
        "spec.owner: you create a ResourceBundle as its owner, so spec.owner must be 'carol'"
    )
    assert bundle_change_problem("UPDATE", ALICE, "team", TEAM, mine) is None
    problem = bundle_change_problem("UPDATE", CAROL, "team", TEAM, mine)
    assert problem is not None and problem.message == (
        "carol may not change ResourceBundle 'team': only its owner (alice) and admins may. "
        "Ask alice to make the change."
    )
    problem = bundle_change_problem("DELETE", BOB, "team", None, TEAM)
    assert problem is not None and problem.message.startswith("bob may not delete ResourceBundle")
    assert bundle_change_problem("DELETE", OPS, "team", None, TEAM, ["platform-ops"]) is None


def test_bundle_in_use() -> None:
    assert bundle_in_use_problem("team", "dev", []) is None
    problem = bundle_in_use_problem("team", "dev", ["b", "a"])
    assert problem is not None and problem.message == (
        "ResourceBundle 'team' is used by JupyterContainers a, b; delete them first "
        "(kubectl delete jupytercontainers -n dev a b)."
    )


def test_bundle_defaults_and_spec() -> None:
    assert bundle_defaults("CREATE", CAROL, {}) == {"owner": "carol"}
    assert bundle_defaults("CREATE", CAROL, {"owner": "carol"}) == {}
    assert bundle_defaults("UPDATE", CAROL, {}) == {}
    parsed, problems = bundle_spec_problems({"owner": "a", "grants": [{"permissions": ["fly"]}]})
    assert parsed is None
    assert problems[0].message.startswith("spec.grants[0].permissions[0]: Input should be")


def test_refusal_joins_messages_with_the_strongest_code() -> None:
    assert refusal([]) is None
    joined = refusal([Problem("One."), Problem("Two.", Code.FORBIDDEN)])
    assert joined == Problem("One. Two.", Code.FORBIDDEN)


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("obj", "kind", "messages"),
    [
        (
            {"spec": 5},
            "ResourceBundle",
            ["spec must be an object, not a number; fix the manifest."],
        ),
        (
            {"spec": [1]},
            "JupyterContainer",
            ["spec must be an object, not a list; fix the manifest."],
        ),
        (
            {"spec": {"env": "A=1", "args": "--debug", "tags": ["a"]}},
            "JupyterContainer",
            [
                "spec.env must be a list, not a string; fix the manifest.",
                "spec.args must be a list, not a string; fix the manifest.",
                "spec.tags must be an object, not a list; fix the manifest.",
            ],
        ),
        (
            {"spec": {"env": [1, {"name": "A"}], "bundle": True}},
            "JupyterContainer",
            [
                "spec.bundle must be a string, not a boolean; fix the manifest.",
                "spec.env[0] must be an object, not a number; fix the manifest.",
            ],
        ),
        (
            {"spec": {"owner": 7, "grants": {"users": []}}},
            "ResourceBundle",
            [
                "spec.owner must be a string, not a number; fix the manifest.",
                "spec.grants must be a list, not an object; fix the manifest.",
            ],
        ),
        (
            {"metadata": {"annotations": {"a": 1}, "finalizers": "x"}},
            "JupyterContainer",
            [
                "metadata.finalizers must be a list, not a string; fix the manifest.",
                "metadata.annotations['a'] must be a string, not a number; fix the manifest.",
            ],
        ),
        (
            {"metadata": "x"},
            "ResourceBundle",
            ["metadata must be an object, not a string; fix the manifest."],
        ),
        ({"spec": {"bundle": "b", "env": [], "args": []}}, "JupyterContainer", []),
        ({"spec": None, "metadata": {"annotations": None}}, "JupyterContainer", []),
        (None, "JupyterContainer", []),
    ],
)
def test_shape_problems_name_the_field(
    obj: dict[str, Any] | None, kind: str, messages: list[str]
) -> None:
    from jupyter_containers.core.validation import shape_problems

    assert [p.message for p in shape_problems(obj, kind)] == messages
