"""My / Shared with me, the list filters and paging (pure)."""

from __future__ import annotations

from typing import Any

from jupyter_containers.cli.selection import (
    Identity,
    View,
    bundle_grants,
    created_by,
    deployment_namespace,
    instance_text,
    paginate,
    select,
    volume_text,
)

ALICE = Identity("alice", frozenset({"team-a"}))
BOB = Identity("bob", frozenset({"team-b"}))


def jc(
    name: str, creator: str | None, *, bundle: str = "team", ns: str = "d", **status: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if creator:
        meta["annotations"] = {"jupytercontainers.io/created-by": creator}
    return {"metadata": meta, "spec": {"bundle": bundle}, "status": status}


def bundle(owner: str, *grants: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"owner": owner, "grants": list(grants)}}


def test_created_by_prefers_status_then_annotation() -> None:
    obj = jc("a", "alice", createdBy="carol")
    assert created_by(obj) == "carol"
    assert created_by(jc("a", "alice")) == "alice"
    assert created_by(jc("a", None)) is None


def test_bundle_grants_owner_users_groups_and_not_others() -> None:
    assert bundle_grants(bundle("alice"), ALICE)
    assert bundle_grants(bundle("carol", {"users": ["alice"], "permissions": ["view"]}), ALICE)
    assert bundle_grants(bundle("carol", {"groups": ["team-a"], "permissions": ["delete"]}), ALICE)
    assert not bundle_grants(
        bundle("carol", {"groups": ["team-b"], "permissions": ["view"]}), ALICE
    )
    assert not bundle_grants(bundle("carol", {"users": ["alice"], "permissions": []}), ALICE)
    assert not bundle_grants(None, ALICE)


def test_my_view_is_what_i_created() -> None:
    items = [jc("mine", "alice"), jc("bobs", "bob"), jc("nobody", None)]
    chosen = select(items, view=View.MINE, who=ALICE, bundles={})
    assert [i["metadata"]["name"] for i in chosen] == ["mine"]


def test_shared_view_needs_a_granting_bundle_and_excludes_mine() -> None:
    items = [
        jc("mine", "alice", bundle="open"),
        jc("shared", "bob", bundle="open"),
        jc("private", "bob", bundle="closed"),
        jc("group", "carol", bundle="by-group"),
    ]
    bundles = {
        ("d", "open"): bundle("bob", {"users": ["alice"], "permissions": ["view"]}),
        ("d", "closed"): bundle("bob"),
        ("d", "by-group"): bundle("carol", {"groups": ["team-a"], "permissions": ["update"]}),
    }
    chosen = select(items, view=View.SHARED, who=ALICE, bundles=bundles)
    assert [i["metadata"]["name"] for i in chosen] == ["group", "shared"]
    # Seen by bob: he owns "open", so alice's container there is shared with him; his own
    # containers are never "shared", and carol's bundle does not grant him anything.
    chosen = select(items, view=View.SHARED, who=BOB, bundles=bundles)
    assert [i["metadata"]["name"] for i in chosen] == ["mine"]


def test_filters_namespace_status_search() -> None:
    items = [
        jc("nb-one", "alice", phase="Active", deploymentNamespace="gpu"),
        jc("nb-two", "alice", phase="Failed"),
        jc("other", "alice", phase="Active"),
    ]
    mine = {"view": View.MINE, "who": ALICE, "bundles": {}}
    names = lambda **f: [i["metadata"]["name"] for i in select(items, **mine, **f)]  # noqa: E731
    assert names(deploy_namespace="gpu") == ["nb-one"]
    assert names(deploy_namespace="d") == ["nb-two", "other"]
    assert names(status="Active") == ["nb-one", "other"]
    assert names(search="NB") == ["nb-one", "nb-two"]
    assert names(search="nb", status="Failed") == ["nb-two"]


def test_deployment_namespace_status_then_spec_then_domain() -> None:
    obj = jc("a", "alice")
    assert deployment_namespace(obj) == "d"
    obj["spec"]["namespace"] = "spec-ns"
    assert deployment_namespace(obj) == "spec-ns"
    obj["status"]["deploymentNamespace"] = "status-ns"
    assert deployment_namespace(obj) == "status-ns"


def test_paging() -> None:
    items = [jc(f"c{i:02}", "alice") for i in range(45)]
    first = paginate(items, 1, 20)
    assert (first.number, first.pages, first.total, len(first.items)) == (1, 3, 45, 20)
    assert first.first_index == 1
    last = paginate(items, 3, 20)
    assert [i["metadata"]["name"] for i in last.items] == [f"c{i}" for i in range(40, 45)]
    assert last.first_index == 41
    assert paginate(items, 4, 20).items == []
    everything = paginate(items, 1, 0)
    assert (everything.pages, len(everything.items)) == (1, 45)
    empty = paginate([], 1, 20)
    assert (empty.pages, empty.total, empty.first_index) == (1, 0, 0)


def test_instance_and_volume_text() -> None:
    obj = jc("a", "alice", instance={"name": "small", "cpu": "1", "memory": "2Gi"})
    assert instance_text(obj) == "small (1 CPU, 2Gi)"
    obj["status"]["instance"]["display"] = "Small (1 CPU, 2Gi)"
    assert instance_text(obj) == "Small (1 CPU, 2Gi)"
    bare = jc("b", "alice")
    assert instance_text(bare) == "-"
    bare["spec"]["instanceType"] = "large"
    assert instance_text(bare) == "large"
    assert volume_text(bare) == "No volume"
    bare["spec"]["volume"] = "home"
    assert volume_text(bare) == "home"
