"""Admission on a real API server with real RBAC and impersonated users.

alice creates containers and owns the bundle `team`; bob is granted start-stop only; carol
has no grant; `root` is an admin (group system:masters). All three users have the
`jupyter-containers-user` ClusterRole in the test namespace (examples/rbac/user-roles.yaml),
so every refusal below comes from the webhook, not from RBAC.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyter_containers.api import rules
from jupyter_containers.core import naming
from tests.cluster.conftest import container_manifest

pytestmark = pytest.mark.cluster

ROLES = Path(__file__).resolve().parents[2] / "examples" / "rbac" / "user-roles.yaml"
DENIED = 'admission webhook "validate-jupytercontainer.jupytercontainers.io" denied the request: '
BUNDLE_DENIED = (
    'admission webhook "validate-resourcebundle.jupytercontainers.io" denied the request: '
)
ADMIN_GROUPS = ("system:masters",)

Wait = Callable[..., dict[str, Any]]


class Users:
    """kubectl as alice, bob, carol or the admin, in the test namespace."""

    def __init__(self, cluster: Any, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def run(
        self, user: str | None, *args: str, input: str | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        groups = ADMIN_GROUPS if user == "root" else ()
        return self.cluster.kubectl(
            *args,
            "-n",
            self.namespace,
            input=input,
            check=check,
            as_user=user,
            as_groups=groups,
        )

    def apply(
        self, user: str | None, manifest: dict[str, Any], *, dry_run: bool = False
    ) -> subprocess.CompletedProcess[str]:
        extra = ("--dry-run=server",) if dry_run else ()
        return self.run(user, "apply", *extra, "-f", "-", input=yaml.safe_dump(manifest))

    def create(self, user: str, name: str, **spec: Any) -> dict[str, Any]:
        result = self.apply(user, container_manifest(name, "team", **spec))
        assert result.returncode == 0, result.stderr
        return self.get(name)

    def patch(self, user: str | None, name: str, patch: dict[str, Any]) -> Any:
        return self.run(user, "patch", "jc", name, "--type", "merge", "-p", json.dumps(patch))

    def delete(self, user: str | None, name: str) -> subprocess.CompletedProcess[str]:
        return self.run(user, "delete", "jc", name, "--wait=false")

    def get(self, name: str, kind: str = "jc") -> dict[str, Any]:
        out = self.run(None, "get", kind, name, "-o", "json", check=True)
        return json.loads(out.stdout)


def refused(result: subprocess.CompletedProcess[str], message: str, prefix: str = DENIED) -> None:
    assert result.returncode != 0, f"expected a refusal, got: {result.stdout}"
    assert prefix + message in result.stderr, result.stderr


@pytest.fixture(scope="session")
def user_roles(cluster: Any) -> None:
    cluster.kubectl("apply", "-f", str(ROLES))


@pytest.fixture
def users(
    cluster: Any, namespace: str, user_roles: None, operator: Any, operator_log: None
) -> Users:
    """RBAC for the three users and the bundle `team` (owner alice, bob start-stop)."""
    for user in ("alice", "bob", "carol"):
        cluster.kubectl(
            "create", "rolebinding", f"{user}-jc", "--clusterrole=jupyter-containers-user",
            f"--user={user}", "-n", namespace,
        )  # fmt: skip
    cluster.kubectl(
        "create", "rolebinding", "alice-bundles", "--clusterrole=jupyter-containers-bundle-creator",
        "--user=alice", "-n", namespace,
    )  # fmt: skip
    u = Users(cluster, namespace)
    bundle = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "ResourceBundle",
        "metadata": {"name": "team"},
        "spec": {
            "owner": "alice",
            "grants": [{"users": ["bob"], "permissions": ["start-stop"]}],
        },
    }
    result = u.apply("alice", bundle)
    assert result.returncode == 0, result.stderr
    return u


@pytest.fixture
def other_namespace(cluster: Any, namespace: str) -> Iterator[str]:
    """A second namespace, open to the test domain; nobody but admins may create pods there."""
    name = f"{namespace}-x{uuid.uuid4().hex[:4]}"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, f"jupytercontainers.io/deployable={namespace}")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def set_grants(users: Users, grants: list[dict[str, Any]]) -> None:
    patch = json.dumps({"spec": {"grants": grants}})
    result = users.run("alice", "patch", "resourcebundle", "team", "--type", "merge", "-p", patch)
    assert result.returncode == 0, result.stderr


def wait_for(predicate: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- created-by


def test_created_by_is_recorded_with_the_finalizer(users: Users) -> None:
    jc = users.create("alice", "mine", running=False)
    assert jc["metadata"]["annotations"][naming.CREATED_BY_ANNOTATION] == "alice"
    assert naming.FINALIZER in jc["metadata"]["finalizers"]


def test_forged_created_by_is_refused(users: Users) -> None:
    manifest = container_manifest("forged", running=False)
    manifest["metadata"]["annotations"] = {naming.CREATED_BY_ANNOTATION: "bob"}
    key = naming.CREATED_BY_ANNOTATION
    message = (
        f"metadata.annotations['{key}']: the platform records the creator from the request; "
        "it says 'bob' but you are 'alice'. Remove the annotation."
    )
    refused(users.apply("alice", manifest), message)
    refused(users.apply("alice", manifest, dry_run=True), message)
    # Stating oneself is fine.
    manifest["metadata"]["annotations"] = {key: "alice"}
    assert users.apply("alice", manifest).returncode == 0


def test_kubectl_create_of_a_taken_name_gets_the_manuals_words(users: Users) -> None:
    """`kubectl create` (not apply: that would update) of a name that exists: the webhook
    answers before the API server's AlreadyExists, with the manual's words and the field."""
    users.create("alice", "taken", running=False)
    manifest = yaml.safe_dump(container_manifest("taken", running=False))
    words = f"metadata.name: {rules.MSG_DUPLICATE_NAME}"
    for extra in ((), ("--dry-run=server",)):
        result = users.run("alice", "create", *extra, "-f", "-", input=manifest)
        refused(result, words)
        assert (
            "AlreadyExists" not in result.stderr and '"taken" already exists' not in result.stderr
        )
    # Also for a user with no access to the bundle: the name is what the API server would
    # have refused first too.
    refused(users.run("carol", "create", "-f", "-", input=manifest), words)
    # Deleted, the name is free again at once (the watch's lag never refuses it).
    assert users.run("alice", "delete", "jc", "taken", "--wait=true").returncode == 0
    result = users.run("alice", "create", "-f", "-", input=manifest)
    assert result.returncode == 0, result.stderr


def test_created_by_cannot_change(users: Users) -> None:
    users.create("alice", "mine", running=False)
    key = naming.CREATED_BY_ANNOTATION
    for user in ("alice", "root"):
        result = users.run(user, "annotate", "jc", "mine", f"{key}=carol", "--overwrite")
        refused(result, f"metadata.annotations['{key}'] cannot be changed (it is 'alice')")
    # A client that drops the annotation (kubectl replace) gets it back.
    jc = users.get("mine")
    del jc["metadata"]["annotations"][key]
    result = users.run("alice", "replace", "-f", "-", input=json.dumps(jc))
    assert result.returncode == 0, result.stderr
    assert users.get("mine")["metadata"]["annotations"][key] == "alice"


def test_only_the_operator_says_it_stopped_a_container(users: Users) -> None:
    users.create("alice", "mine", running=False)
    key = naming.STOPPED_BY_ANNOTATION
    message = f"metadata.annotations['{key}'] is written by the operator when it stops a container"
    for user in ("alice", "root"):
        refused(users.run(user, "annotate", "jc", "mine", f"{key}=forged"), message)
    manifest = container_manifest("forged-stop", running=False)
    manifest["metadata"]["annotations"] = {key: "forged"}
    refused(users.apply("alice", manifest), message)


# ---------------------------------------------------------------- bundle permissions


def test_bob_may_start_and_stop_but_not_update_or_delete(users: Users, wait_phase: Wait) -> None:
    users.create("alice", "shared", running=False)
    wait_phase("shared", "Stopped")
    # start-stop: spec.running and the start-requested annotation.
    assert users.patch("bob", "shared", {"spec": {"running": True}}).returncode == 0
    wait_phase("shared", "Active")
    assert users.patch("bob", "shared", {"spec": {"running": False}}).returncode == 0
    wait_phase("shared", "Stopped")
    start = {naming.START_REQUESTED_ANNOTATION: "2030-01-01T00:00:00Z"}
    result = users.patch("bob", "shared", {"metadata": {"annotations": start}})
    assert result.returncode == 0, result.stderr

    refused(
        users.patch("bob", "shared", {"spec": {"image": "minimal"}}),
        "bob may not update JupyterContainer 'shared': only its creator (alice), the owner of "
        "ResourceBundle 'team' (alice), users and groups the bundle grants update and admins "
        "may. To get access, ask alice to grant you update in the bundle.",
    )
    refused(
        users.run("bob", "label", "jc", "shared", "team=ds"),
        "bob may not update JupyterContainer 'shared'",
    )
    refused(users.delete("bob", "shared"), "bob may not delete JupyterContainer 'shared'")


def test_carol_without_a_grant_may_do_nothing(users: Users) -> None:
    users.create("alice", "private", running=False)
    refused(
        users.patch("carol", "private", {"spec": {"running": True}}),
        "carol may not start or stop JupyterContainer 'private'",
    )
    refused(
        users.patch("carol", "private", {"spec": {"image": "x"}}),
        "carol may not update JupyterContainer 'private'",
    )
    refused(users.delete("carol", "private"), "carol may not delete JupyterContainer 'private'")
    refused(
        users.apply("carol", container_manifest("hers", running=False)),
        "spec.bundle: carol may not create containers in ResourceBundle 'team': only its owner "
        "(alice), users and groups it grants update, and admins may.",
    )


def test_grants_to_groups_and_the_admin(users: Users, cluster: Any, namespace: str) -> None:
    users.create("alice", "team-nb", running=False)
    # A grant to a group carol is in.
    set_grants(users, [{"groups": ["analysts"], "permissions": ["update"]}])
    as_analyst = cluster.kubectl(
        "patch", "jc", "team-nb", "-n", namespace, "--type", "merge",
        "-p", json.dumps({"spec": {"image": "scipy"}}),
        check=False, as_user="carol", as_groups=("analysts",),
    )  # fmt: skip
    assert as_analyst.returncode == 0, as_analyst.stderr
    refused(
        cluster.kubectl(
            "delete",
            "jc",
            "team-nb",
            "-n",
            namespace,
            "--wait=false",
            check=False,
            as_user="carol",
            as_groups=("analysts",),
        ),
        "carol may not delete JupyterContainer 'team-nb'",
    )
    # The admin may do anything, including delete; the operator then finishes the delete.
    assert users.patch("root", "team-nb", {"spec": {"image": "x"}}).returncode == 0
    assert users.delete("root", "team-nb").returncode == 0
    wait_for(
        lambda: users.run(None, "get", "jc", "team-nb").returncode != 0,
        what="team-nb to be deleted",
    )


def test_creator_keeps_access_and_owner_may_delete(users: Users) -> None:
    set_grants(users, [{"users": ["bob"], "permissions": ["update"]}])  # so bob may create
    jc = users.create("bob", "bobs", running=False)
    assert jc["metadata"]["annotations"][naming.CREATED_BY_ANNOTATION] == "bob"
    set_grants(users, [])
    # bob, the creator, keeps every permission on his container without any grant...
    assert users.patch("bob", "bobs", {"spec": {"image": "x"}}).returncode == 0
    refused(
        users.apply("bob", container_manifest("another", running=False)),
        "spec.bundle: bob may not create containers in ResourceBundle 'team'",
    )
    # ...and alice, the bundle owner, may delete it.
    assert users.delete("alice", "bobs").returncode == 0


# ---------------------------------------------------------------- the spec and the catalog


def test_invalid_volume_type_has_the_manuals_message(users: Users) -> None:
    manifest = container_manifest("hp", volume="test-hostpath")
    for dry_run in (True, False):
        refused(users.apply("alice", manifest, dry_run=dry_run), rules.MSG_INVALID_VOLUME_TYPE)
    assert users.run(None, "get", "jc", "hp").returncode != 0


def test_unknown_instance_type_and_volume_name_the_available_ones(users: Users) -> None:
    result = users.apply("alice", container_manifest("typo", instanceType="xl", volume="nope"))
    refused(result, "spec.instanceType: InstanceType 'xl' does not exist; choose one of the ")
    assert "test-small" in result.stderr and "test-large" in result.stderr
    assert "spec.volume: Volume 'nope' does not exist; choose one of the On Demand PVC" in (
        result.stderr
    )
    assert "test-nfs" in result.stderr and "test-hostpath" not in result.stderr


def test_reserved_env_and_platform_args_are_refused(users: Users) -> None:
    env = users.apply(
        "alice", container_manifest("env", env=[{"name": "JUPYTER_TOKEN", "value": "x"}])
    )
    assert env.returncode != 0 and rules.msg_reserved_env("JUPYTER_TOKEN") in env.stderr
    args = users.apply("alice", container_manifest("args", args=["--port=9999"]))
    assert args.returncode != 0
    assert rules.msg_platform_arg("--port=9999", "--port") in args.stderr


def test_missing_bundle(users: Users, namespace: str) -> None:
    refused(
        users.apply("alice", container_manifest("lost", bundle="nope")),
        f"spec.bundle: ResourceBundle 'nope' does not exist in namespace '{namespace}'",
    )


def test_stop_before_configuring_and_bundle_immutable(
    users: Users, wait_phase: Wait, namespace: str
) -> None:
    users.create("alice", "busy")
    wait_phase("busy", "Active")
    result = users.patch("alice", "busy", {"spec": {"image": "r-notebook"}})
    assert result.returncode != 0 and rules.MSG_STOP_BEFORE_CONFIGURING in result.stderr
    assert users.patch("alice", "busy", {"spec": {"running": False}}).returncode == 0
    wait_phase("busy", "Stopped")
    result = users.patch("alice", "busy", {"spec": {"image": "r-notebook"}})
    assert result.returncode == 0, result.stderr
    result = users.patch("alice", "busy", {"spec": {"bundle": "other"}})
    assert result.returncode != 0 and rules.MSG_BUNDLE_IMMUTABLE in result.stderr


# ---------------------------------------------------------------- namespaces


def test_namespace_must_exist_and_be_open(users: Users, cluster: Any, namespace: str) -> None:
    refused(
        users.apply("alice", container_manifest("far", namespace="does-not-exist")),
        "spec.namespace: namespace 'does-not-exist' does not exist",
    )
    closed = f"{namespace}-closed"
    cluster.kubectl("create", "namespace", closed)
    try:
        refused(
            users.apply("root", container_manifest("far", namespace=closed)),
            f"spec.namespace: namespace '{closed}' is not open to containers of '{namespace}'",
        )
        cluster.kubectl("label", "namespace", closed, "jupytercontainers.io/deployable=other")
        refused(
            users.apply("root", container_manifest("far", namespace=closed)),
            f"spec.namespace: namespace '{closed}' is not open to containers of '{namespace}'",
        )
        cluster.kubectl(
            "label", "namespace", closed, "--overwrite", "jupytercontainers.io/deployable=true"
        )
        result = users.apply("root", container_manifest("far", namespace=closed, running=False))
        assert result.returncode == 0, result.stderr
    finally:
        users.run("root", "delete", "jc", "far", "--ignore-not-found")
        cluster.kubectl("delete", "namespace", closed, "--wait=false", check=False)


def test_a_user_who_cannot_create_pods_there_cannot_target_it(
    users: Users, cluster: Any, namespace: str, other_namespace: str
) -> None:
    manifest = container_manifest("away", namespace=other_namespace, running=False)
    message = (
        f"spec.namespace: alice may not create pods in namespace '{other_namespace}', so a "
        "container cannot be deployed there for you"
    )
    refused(users.apply("alice", manifest), message)
    refused(users.apply("alice", manifest, dry_run=True), message)
    # The same for a move of an existing container.
    users.create("alice", "home", running=False)
    refused(users.patch("alice", "home", {"spec": {"namespace": other_namespace}}), message)
    # Once RBAC lets her create pods there, she may.
    cluster.kubectl(
        "create", "role", "pod-creator", "--verb=create", "--resource=pods", "-n", other_namespace
    )
    cluster.kubectl(
        "create", "rolebinding", "alice-pods", "--role=pod-creator", "--user=alice",
        "-n", other_namespace,
    )  # fmt: skip
    result = users.apply("alice", manifest)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- quota


def test_quota_fits_one_container_but_not_two(
    users: Users, cluster: Any, namespace: str, wait_phase: Wait
) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "compute"},
        "spec": {"hard": {"limits.cpu": "1", "requests.storage": "1Gi"}},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(quota))
    cluster.kubectl(
        "wait", "resourcequota/compute", "-n", namespace,
        "--for=jsonpath={.status.hard.limits\\.cpu}=1", "--timeout=30s",
    )  # fmt: skip
    users.create("alice", "first", instanceType="test-small", volume="test-home")
    wait_phase("first", "Active")
    wait_for(
        lambda: (
            users.get("compute", "resourcequota")["status"].get("used", {})
            == {"limits.cpu": "1", "requests.storage": "1Gi"}
        ),
        # The quota controller recounts on pod/PVC events, but lags on a loaded 2-core host.
        timeout=120,
        what="the quota to count the first pod and PVC",
    )
    second = container_manifest("second", instanceType="test-small", volume="test-home")
    message = (
        f"Quota exceeded in namespace '{namespace}': instance type 'test-small' needs limits.cpu "
        "1 but only 0 is available (ResourceQuota 'compute': hard 1, used 1); volume 'test-home' "
        "needs requests.storage 1Gi but only 0 is available (ResourceQuota 'compute': hard 1Gi, "
        "used 1Gi). To fix it, choose a smaller instance type, choose a smaller volume, stop "
        "another container in the namespace or ask an admin to raise the quota."
    )
    refused(users.apply("alice", second, dry_run=True), message)
    refused(users.apply("alice", second), message)
    # Stopped, it asks for no CPU and is accepted (the start is checked by the operator).
    stopped = container_manifest("second", instanceType="test-small", running=False)
    assert users.apply("alice", stopped).returncode == 0


# ---------------------------------------------------------------- warnings


def test_warnings_for_data_loss_and_missing_secrets(
    users: Users, cluster: Any, namespace: str, other_namespace: str
) -> None:
    # A container may use only Secrets its creator may read (test_hardening.py).
    cluster.kubectl(
        "create", "role", "read-db", "--verb=get", "--resource=secrets", "--resource-name=db",
        "-n", namespace,
    )  # fmt: skip
    cluster.kubectl(
        "create", "rolebinding", "alice-read-db", "--role=read-db", "--user=alice",
        "-n", namespace,
    )  # fmt: skip
    env = [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    manifest = container_manifest("warn", volume="test-home", env=env, running=False)
    secret_warning = (
        "Warning: spec.env: 'DB' refers to Secret 'db', which does not exist in namespace "
        f"'{namespace}' yet; the container fails to start (CreateContainerConfigError) until it "
        "exists."
    )
    dry = users.apply("alice", manifest, dry_run=True)
    real = users.apply("alice", manifest)
    assert dry.returncode == real.returncode == 0, real.stderr
    assert secret_warning in dry.stderr and secret_warning in real.stderr

    cluster.kubectl("create", "secret", "generic", "db", "--from-literal=other=x", "-n", namespace)
    env[0]["valueFrom"]["secretKeyRef"]["key"] = "pass"
    result = users.patch("alice", "warn", {"spec": {"env": env}})
    assert result.returncode == 0, result.stderr
    assert (
        f"Warning: spec.env: 'DB' refers to key 'pass' of Secret 'db' in '{namespace}', which "
        "has no such key yet"
    ) in result.stderr

    # The warning names the PVC the operator reports in status.pvcName, which it does once the
    # PVC is made: at the first start.
    assert users.patch("alice", "warn", {"spec": {"running": True}}).returncode == 0
    uid = json.loads(cluster.kubectl("get", "jc", "warn", "-n", namespace, "-o", "json").stdout)[
        "metadata"
    ]["uid"]
    pvc = naming.pvc_name("jc-warn", uid, "test-home")
    cluster.kubectl("wait", "jc/warn", "-n", namespace, f"--for=jsonpath={{.status.pvcName}}={pvc}")
    assert users.patch("alice", "warn", {"spec": {"running": False}}).returncode == 0
    cluster.kubectl("wait", "jc/warn", "-n", namespace, "--for=jsonpath={.status.phase}=Stopped")
    result = users.patch("alice", "warn", {"spec": {"volume": "test-nfs"}})
    assert result.returncode == 0, result.stderr
    assert (
        "Warning: Data loss: changing spec.volume from 'test-home' to 'test-nfs' deletes the On "
        f"Demand PVC '{pvc}' in '{namespace}'; its data is lost. Back up any important "
        "data before making this change."
    ) in result.stderr
    back = users.patch("alice", "warn", {"spec": {"volume": "test-home"}})
    assert back.returncode == 0 and "Data loss" not in back.stderr  # NFS data is never deleted

    # Stopped since, it has no PVC of test-home yet (status.pvcName none): the warning names the
    # container's.
    def observed() -> bool:
        jc = users.get("warn")
        return bool(
            (jc.get("status") or {}).get("observedGeneration") == jc["metadata"]["generation"]
        )

    wait_for(observed, timeout=60, what="the operator's status of the volume changes")
    status = users.get("warn").get("status") or {}
    assert status.get("pvcName") is None, status

    # root may create pods anywhere: the move is allowed, with the manual's warning.
    moved = users.patch("root", "warn", {"spec": {"namespace": other_namespace}})
    assert moved.returncode == 0, moved.stderr
    assert (
        f"Warning: Data loss: changing spec.namespace from '{namespace}' to '{other_namespace}' "
        "deletes the On Demand PVC of 'warn' (volume 'test-home') and creates a new one in "
        f"'{other_namespace}'. Notebooks saved to Git or external file systems are unaffected, "
        "but any unsaved data in the container is lost permanently."
    ) in moved.stderr


# ---------------------------------------------------------------- ResourceBundles


def test_bundle_status_lists_its_containers(users: Users) -> None:
    def listed() -> list[str]:
        return list(users.get("team", "resourcebundle").get("status", {}).get("containers", []))

    users.create("alice", "one", running=False)
    users.create("alice", "two", running=False)
    wait_for(lambda: listed() == ["one", "two"], what="both containers in the bundle status")
    assert users.delete("alice", "one").returncode == 0
    wait_for(lambda: listed() == ["two"], what="the deleted container to leave the bundle")


def test_bundle_rules(users: Users, cluster: Any, namespace: str) -> None:
    cluster.kubectl(
        "create", "rolebinding", "carol-bundles",
        "--clusterrole=jupyter-containers-bundle-creator", "--user=carol", "-n", namespace,
    )  # fmt: skip
    # A bundle created without an owner is owned by its creator.
    own = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "ResourceBundle",
        "metadata": {"name": "carols"},
        "spec": {"description": "mine"},
    }
    result = users.apply("carol", own)
    assert result.returncode == 0, result.stderr
    assert users.get("carols", "resourcebundle")["spec"]["owner"] == "carol"
    # ...and never by somebody else.
    own["metadata"]["name"] = "for-alice"
    own["spec"]["owner"] = "alice"
    refused(
        users.apply("carol", own),
        "spec.owner: you create a ResourceBundle as its owner, so spec.owner must be 'carol'",
        BUNDLE_DENIED,
    )
    # Only the owner changes a bundle (otherwise anyone could grant themselves access).
    grant = {"spec": {"grants": [{"users": ["carol"], "permissions": ["update"]}]}}
    refused(
        users.run(
            "carol", "patch", "resourcebundle", "team", "--type", "merge", "-p", json.dumps(grant)
        ),
        "carol may not change ResourceBundle 'team': only its owner (alice) and admins may.",
        BUNDLE_DENIED,
    )
    # bob has no RBAC to write bundles: plain RBAC refuses him, creating included.
    result = users.run("bob", "delete", "resourcebundle", "carols")
    assert result.returncode != 0 and "forbidden" in result.stderr
    own["metadata"]["name"], own["spec"]["owner"] = "bobs", "bob"
    result = users.apply("bob", own)
    assert result.returncode != 0
    assert 'cannot create resource "resourcebundles"' in result.stderr
    # A bundle in use cannot be deleted, even by its owner.
    users.create("alice", "member", running=False)
    refused(
        users.run("alice", "delete", "resourcebundle", "team"),
        "ResourceBundle 'team' is used by JupyterContainers member; delete them first "
        f"(kubectl delete jupytercontainers -n {namespace} member).",
        BUNDLE_DENIED,
    )
    assert users.delete("alice", "member").returncode == 0
    wait_for(lambda: users.run(None, "get", "jc", "member").returncode != 0, what="member deleted")
    assert users.run("alice", "delete", "resourcebundle", "team").returncode == 0
