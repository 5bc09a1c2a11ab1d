"""Hardening on a real API server with real RBAC and impersonated users (issue 12).

The users of test_admission: alice has only the `jupyter-containers-user` role in the test
namespace (no right to read Secrets), `root` is an admin (system:masters).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from jupyter_containers.api import jupyterlab_policy, rules
from jupyter_containers.core import bounds, naming, secret_policy
from jupyter_containers.core.secret_policy import SecretRef
from tests.cluster import test_admission
from tests.cluster.conftest import container_manifest, get_jc, scenario
from tests.cluster.test_admission import DENIED, Users, refused
from tests.unit.test_jupyterlab_policy import ALLOWED_ARGS, REFUSED_ARGS
from tests.unit.test_quantities import QUANTITIES

pytestmark = pytest.mark.cluster

# test_admission's fixtures: alice, bob, carol and root with their roles and the bundle `team`.
user_roles = test_admission.user_roles
users = test_admission.users


def secret_env(*secrets: str) -> list[dict[str, Any]]:
    return [
        {"name": f"V{i}", "valueFrom": {"secretKeyRef": {"name": s, "key": "k"}}}
        for i, s in enumerate(secrets)
    ]


def grant_secret_read(cluster: Any, namespace: str, user: str, secret: str) -> None:
    cluster.kubectl(
        "create", "role", f"read-{secret}", "--verb=get", "--resource=secrets",
        f"--resource-name={secret}", "-n", namespace,
    )  # fmt: skip
    cluster.kubectl(
        "create", "rolebinding", f"{user}-read-{secret}", f"--role=read-{secret}",
        f"--user={user}", "-n", namespace,
    )  # fmt: skip


# ---------------------------------------------------------------- 1. Secret references


def test_secret_refs_to_platform_and_unreadable_secrets_are_refused(
    users: Users, cluster: Any, namespace: str
) -> None:
    # Another container's token Secret, by name (exists or not) and by label.
    victim = users.create("alice", "victim")
    token = naming.token_secret_name("jc-victim")
    cluster.kubectl(
        "wait", "jc/victim", "-n", namespace, f"--for=jsonpath={{.status.tokenSecret}}={token}"
    )
    labelled = "innocent-name"
    cluster.kubectl(
        "create", "secret", "generic", labelled, "--from-literal=k=v", "-n", namespace
    )  # fmt: skip
    cluster.kubectl(
        "label", "secret", labelled, "-n", namespace,
        f"{naming.UID_LABEL}={victim['metadata']['uid']}",
    )  # fmt: skip
    cluster.kubectl(
        "create", "secret", "generic", "theirs", "--from-literal=k=v", "-n", namespace
    )  # fmt: skip

    env = secret_env(token, labelled, "theirs")
    result = users.apply("alice", container_manifest("thief", env=env))
    refs = [SecretRef(i, f"V{i}", s, "k") for i, s in enumerate((token, labelled))]
    for ref in refs:
        assert secret_policy.msg_operator_secret(ref) in result.stderr, result.stderr
    assert result.returncode != 0 and DENIED in result.stderr
    assert "spec.env[0].valueFrom.secretKeyRef" in result.stderr
    # Platform Secrets are refused for everyone, admins included.
    admin = users.apply("root", container_manifest("thief", env=secret_env(token)))
    refused(admin, secret_policy.msg_operator_secret(refs[0]))

    unreadable = users.apply("alice", container_manifest("thief", env=secret_env("theirs")))
    refused(
        unreadable,
        secret_policy.msg_unreadable_secret(SecretRef(0, "V0", "theirs", "k"), "alice", namespace),
    )
    # Optional references read the Secret all the same.
    env = secret_env("theirs")
    env[0]["valueFrom"]["secretKeyRef"]["optional"] = True
    refused(
        users.apply("alice", container_manifest("thief", env=env)),
        "spec.env[0].valueFrom.secretKeyRef: 'V0' refers to Secret 'theirs'",
    )
    # A Secret alice may read is hers to use.
    grant_secret_read(cluster, namespace, "alice", "theirs")
    allowed = users.apply("alice", container_manifest("thief", env=secret_env("theirs")))
    assert allowed.returncode == 0, allowed.stderr


def test_secret_access_is_checked_again_at_every_start(
    users: Users, cluster: Any, namespace: str, wait_phase: Any
) -> None:
    cluster.kubectl(
        "create", "secret", "generic", "mine", "--from-literal=k=v", "-n", namespace
    )  # fmt: skip
    grant_secret_read(cluster, namespace, "alice", "mine")
    users.create("alice", "lab", env=secret_env("mine"))
    jc = wait_phase("lab", "Active")
    annotations = jc["metadata"]["annotations"]
    assert json.loads(annotations[naming.CREATED_BY_GROUPS_ANNOTATION]) == ["system:authenticated"]

    assert users.patch("alice", "lab", {"spec": {"running": False}}).returncode == 0
    wait_phase("lab", "Stopped")
    # Revoked while stopped: the start itself is admitted (a start changes no reference),
    # the operator asks again and refuses to deploy.
    cluster.kubectl("delete", "rolebinding", "alice-read-mine", "-n", namespace)
    assert users.patch("alice", "lab", {"spec": {"running": True}}).returncode == 0
    failed = wait_phase("lab", "Failed", reason="SecretNotAllowed")
    assert failed["status"]["message"] == secret_policy.msg_unreadable_secret(
        SecretRef(0, "V0", "mine", "k"), "alice", namespace
    )
    deployments = cluster.kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout
    assert "jc-lab" not in deployments

    # Granted again: a new start request deploys it.
    cluster.kubectl(
        "create", "rolebinding", "alice-read-mine", "--role=read-mine", "--user=alice",
        "-n", namespace,
    )  # fmt: skip
    start = {"metadata": {"annotations": {naming.START_REQUESTED_ANNOTATION: _now()}}}
    assert users.patch("alice", "lab", start).returncode == 0
    wait_phase("lab", "Active")


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- 2. JupyterLab policy


def test_the_crd_judges_args_and_env_names_as_the_policy(users: Users) -> None:
    refused_args = [a for a in REFUSED_ARGS if rules.platform_arg_of(a) is None]
    result = users.apply("root", container_manifest("args", args=refused_args), dry_run=True)
    assert result.returncode != 0
    for i, arg in enumerate(refused_args):
        line = f"spec.args[{i}]: Forbidden: {jupyterlab_policy.msg_arg_not_allowed(arg)}"
        if "\n" in arg:  # the API server renders no message with a line break: its rule
            line = f"spec.args[{i}]: Forbidden: failed rule: "
        assert line in result.stderr, (arg, result.stderr)
    ok = users.apply("root", container_manifest("args", args=ALLOWED_ARGS), dry_run=True)
    assert ok.returncode == 0, ok.stderr

    names = ["PYTHONPATH", "LD_PRELOAD", "JUPYTER_CONFIG_DIR", "HOME", "NOTEBOOK_ARGS"]
    env = [{"name": n, "value": "x"} for n in names]
    result = users.apply("root", container_manifest("env", env=env), dry_run=True)
    for i, name in enumerate(names):
        line = f"spec.env[{i}].name: Forbidden: {jupyterlab_policy.msg_env_owned(name)}"
        assert line in result.stderr, (name, result.stderr)


# ---------------------------------------------------------------- 3. annotations


def test_start_requested_annotation_is_validated(users: Users) -> None:
    users.create("alice", "nb", running=False)
    key = naming.START_REQUESTED_ANNOTATION
    for bad in ("x" * 100, "tomorrow", "2026-01-01T10:00:00Z" + "0" * 50):
        result = users.patch("alice", "nb", {"metadata": {"annotations": {key: bad}}})
        refused(result, bounds.msg_start_request(bad))
    ok = users.patch("alice", "nb", {"metadata": {"annotations": {key: _now()}}})
    assert ok.returncode == 0, ok.stderr


# ---------------------------------------------------------------- 4. quantities


def test_the_crd_accepts_exactly_the_quantities_the_operator_parses(cluster: Any) -> None:
    docs = [
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "InstanceType",
            "metadata": {"name": f"hardening-q{i}"},
            "spec": {"cpu": q, "memory": q},
        }
        for i, (q, _) in enumerate(QUANTITIES)
    ]
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs), check=False
    )
    out = result.stdout + result.stderr
    for i, (q, accepted) in enumerate(QUANTITIES):
        name = f"hardening-q{i}"
        if accepted:
            assert f"instancetype.jupytercontainers.io/{name} created (server dry run)" in (
                result.stdout
            ), (q, out)
        else:
            assert f'"{name}" is invalid' in result.stderr, (q, out)
            assert rules.msg_quantity("spec.cpu", "'1' or '500m'") in result.stderr


# ---------------------------------------------------------------- 5. malformed objects


@pytest.mark.parametrize(
    ("resource", "spec", "message"),
    [
        ("resourcebundles", 5, "spec must be an object, not a number"),
        ("resourcebundles", {"owner": "x", "grants": {"users": []}}, "spec.grants must be a list"),
        ("jupytercontainers", [1], "spec must be an object, not a list"),
        ("jupytercontainers", {"bundle": "team", "env": "A=1"}, "spec.env must be a list"),
        ("jupytercontainers", {"bundle": "team", "env": [7]}, "spec.env[0] must be an object"),
    ],
)
def test_webhooks_name_the_field_of_a_malformed_object(
    users: Users, cluster: Any, namespace: str, resource: str, spec: Any, message: str
) -> None:
    kind = {"resourcebundles": "ResourceBundle", "jupytercontainers": "JupyterContainer"}
    body = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": kind[resource],
        "metadata": {"name": "malformed"},
        "spec": spec,
    }
    path = f"/apis/jupytercontainers.io/v1alpha1/namespaces/{namespace}/{resource}"
    result = cluster.kubectl(
        "create", "--raw", path, "-f", "-", input=json.dumps(body), check=False
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    for crash in ("500", "Internal", "AttributeError", "has no attribute"):
        assert crash not in result.stderr, result.stderr


# ---------------------------------------------------------------- 6. tags


def test_tags_reach_the_deployment_and_only_the_simulation_key_the_pod(
    users: Users, cluster: Any, namespace: str, wait_phase: Any
) -> None:
    tags = {"sidecar.istio.io/inject": "true", "team": "ds", **scenario("default")}
    users.create("alice", "tagged", tags=tags)
    jc = wait_phase("tagged", "Active")
    deploy = json.loads(
        cluster.kubectl(
            "get", "deployment", jc["status"]["serviceName"], "-n", namespace, "-o", "json"
        ).stdout
    )
    for key, value in tags.items():
        assert deploy["metadata"]["annotations"][key] == value
    pod = deploy["spec"]["template"]["metadata"]["annotations"]
    assert "sidecar.istio.io/inject" not in pod and "team" not in pod
    assert pod["sim.jupytercontainers.io/scenario"] == "default"
    assert get_jc(cluster, namespace, "tagged")["spec"]["tags"] == tags
