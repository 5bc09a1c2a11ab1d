"""`create` (flags and the guided flow in a pseudo-terminal) and `configure`.

The guided flow is driven through pexpect as a person types: a validation error at
each step, its correction, the review with the quota, then Create.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pexpect
import pytest
import yaml

from jupyter_containers.api import rules
from tests.cluster.cli_fixtures import (  # fixtures are used by name
    Plugin,
    jup,
    scratch_namespace,
    user_roles,
    users,
    webhooks_ready,
)
from tests.cluster.conftest import get_jc

pytestmark = pytest.mark.cluster
__all__ = ["jup", "scratch_namespace", "user_roles", "users", "webhooks_ready"]

Wait = Callable[..., dict[str, Any]]


def quota(cluster: Any, namespace: str, hard: dict[str, str]) -> None:
    cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "team-quota"},
                "spec": {"hard": hard},
            }
        ),
    )
    # The quota controller fills status.hard; the webhook and the review read it.
    cluster.kubectl(
        "wait",
        "resourcequota/team-quota",
        "-n",
        namespace,
        "--for=jsonpath={.status.hard.limits\\.cpu}",
        "--timeout=30s",
    )


def test_create_with_every_flag(
    jup: Plugin, bundle: str, wait_phase: Wait, cluster: Any, namespace: str
) -> None:
    out = jup(
        "create",
        "full",
        "--bundle",
        "team",
        "--instance-type",
        "test-small",
        "--volume",
        "test-home",
        "--image",
        "scipy",
        "-e",
        "MODE=dev",
        "--env-from-secret",
        "API_KEY=api-keys:key",
        "--arg=--ServerApp.iopub_data_rate_limit=1e10",
        "--tag",
        "owner=alice",
    )
    assert out.stdout.splitlines() == [
        f"Jupyter container 'full' created in namespace '{namespace}' "
        f"(deploying to '{namespace}').",
        "Follow it with: kubectl jupyter watch full",
    ]
    # The webhook's warning about the missing Secret is shown as kubectl shows it.
    assert "Warning: spec.env: 'API_KEY' refers to Secret 'api-keys'" in out.stderr
    spec = get_jc(cluster, namespace, "full")["spec"]
    assert spec == {
        "bundle": "team",
        "instanceType": "test-small",
        "volume": "test-home",
        "image": "scipy",
        "env": [
            {"name": "MODE", "value": "dev"},
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api-keys", "key": "key"}}},
        ],
        "args": ["--ServerApp.iopub_data_rate_limit=1e10"],
        "tags": {"owner": "alice"},
        "running": True,
    }


def test_create_errors_are_the_manuals(
    jup: Plugin, bundle: str, cluster: Any, namespace: str
) -> None:
    jup("create", "taken", "--bundle", "team", "--no-start")
    dup = jup("create", "taken", "--bundle", "team", expect=1)
    assert dup.stderr.strip() == f"error: {rules.MSG_DUPLICATE_NAME}"
    bad_volume = jup("create", "v", "--bundle", "team", "--volume", "test-hostpath", expect=1)
    assert rules.MSG_INVALID_VOLUME_TYPE in bad_volume.stderr
    bad_name = jup("create", "Bad_Name", "--bundle", "team", expect=1)
    assert rules.MSG_NAME_PATTERN in bad_name.stderr
    reserved = jup("create", "r", "--bundle", "team", "-e", "JUPYTER_TOKEN=x", expect=1)
    assert rules.msg_reserved_env("JUPYTER_TOKEN") in reserved.stderr
    owned = jup("create", "o", "--bundle", "team", "--arg=--port=9999", expect=1)
    assert rules.msg_platform_arg("--port=9999", "--port") in owned.stderr
    no_bundle = jup("create", "x", "--bundle", "nope", expect=1)
    assert "ResourceBundle 'nope' does not exist" in no_bundle.stderr
    missing = jup("create", "x", expect=2)  # no terminal: no guided flow, a usage error
    assert "Missing --bundle: give it on the command line" in missing.stderr
    unknown = jup("create", "x", "--bundle", "team", "--instance-type", "huge", expect=1)
    assert "InstanceType 'huge' does not exist" in unknown.stderr
    quota(cluster, namespace, {"limits.cpu": "2", "limits.memory": "8Gi"})
    over = jup("create", "big", "--bundle", "team", "--instance-type", "test-large", expect=1)
    assert f"Quota exceeded in namespace '{namespace}'" in over.stderr
    assert "instance type 'test-large' needs limits.cpu 4 but only 2 is available" in over.stderr
    names = cluster.kubectl("get", "jc", "-n", namespace, "-o", "name").stdout.split()
    assert names == ["jupytercontainer.jupytercontainers.io/taken"]


def test_dry_run_is_server_side_and_creates_nothing(
    jup: Plugin, bundle: str, cluster: Any, namespace: str
) -> None:
    out = jup("create", "dry", "--bundle", "team", "--dry-run")
    assert (
        out.stdout.strip()
        == "Jupyter container 'dry' is valid (server dry run; nothing was created)."
    )
    as_yaml = yaml.safe_load(
        jup("create", "dry", "--bundle", "team", "--dry-run", "-o", "yaml").stdout
    )
    # The server ran the mutating webhook on it: created-by is recorded, uid assigned.
    assert as_yaml["metadata"]["annotations"]["jupytercontainers.io/created-by"]
    assert as_yaml["metadata"]["uid"]
    assert cluster.kubectl("get", "jc", "-n", namespace, "-o", "name").stdout == ""
    refused = jup(
        "create", "dry", "--bundle", "team", "--volume", "test-hostpath", "--dry-run", expect=1
    )
    assert rules.MSG_INVALID_VOLUME_TYPE in refused.stderr


def guided(jup: Plugin, *args: str) -> pexpect.spawn:
    command = jup.command("create", *args)
    child = pexpect.spawn(
        command[0],
        command[1:],
        # TERM=dumb: rich prints plain text (no escape sequences) on 80 columns, so the
        # expectations read as the screen does; long messages wrap, hence `start_of`.
        env={**jup.env, "TERM": "dumb"},
        encoding="utf-8",
        timeout=60,
    )
    return child


def start_of(message: str) -> str:
    """The part of a message that fits on its first line of an 80-column screen."""
    return message[:50]


def test_guided_create_validates_each_step(
    jup: Plugin, bundle: str, wait_phase: Wait, cluster: Any, namespace: str
) -> None:
    jup("create", "taken", "--bundle", "team", "--no-start")
    quota(
        cluster, namespace, {"limits.cpu": "2", "limits.memory": "8Gi", "requests.storage": "3Gi"}
    )
    child = guided(jup)
    try:
        child.expect_exact("Step 1 of 4: General")
        child.expect_exact("Name")
        child.sendline("Bad_Name")
        child.expect_exact(start_of(rules.MSG_NAME_PATTERN))
        child.expect_exact("Name")
        child.sendline("taken")
        child.expect_exact(rules.MSG_DUPLICATE_NAME)
        child.sendline("nb-guided")
        child.expect_exact("Resource bundle (team)")  # the only bundle is the default
        child.sendline("")
        child.expect_exact(f"Namespace ({namespace})")
        child.sendline("")
        child.expect_exact("Instance type")
        child.sendline("test-large")  # 4 CPUs: more than the quota's 2
        child.expect_exact("Volume (empty for none)")
        child.sendline("test-hostpath")
        child.expect_exact(start_of(rules.MSG_INVALID_VOLUME_TYPE))
        child.expect_exact("Volume (empty for none)")
        child.sendline("test-home")
        child.expect_exact(f"Quota exceeded in namespace '{namespace}'")
        child.expect_exact("Instance type")
        child.sendline("test-small")
        child.expect_exact("Volume ('none' for none) (test-home)")
        child.sendline("")

        child.expect_exact("Step 2 of 4: Configurations")
        child.expect_exact("Environment variable name")
        child.sendline("JUPYTER_TOKEN")
        child.expect_exact("Value of JUPYTER_TOKEN from")
        child.sendline("")
        child.expect_exact("Value:")
        child.sendline("x")
        child.expect_exact(start_of(rules.msg_reserved_env("JUPYTER_TOKEN")))
        child.expect_exact("Environment variable name")
        child.sendline("MODE")
        child.expect_exact("Value of MODE from")
        child.sendline("plain")
        child.expect_exact("Value:")
        child.sendline("dev")
        child.expect_exact("1) MODE=dev")
        child.expect_exact("Environment variable name")
        child.sendline("")
        child.expect_exact("Argument")
        child.sendline("--port=1")
        child.expect_exact(start_of(rules.msg_platform_arg("--port=1", "--port")))
        child.expect_exact("Argument")
        child.sendline("--ServerApp.iopub_data_rate_limit=1e10")
        child.expect_exact("Argument")
        child.sendline("")

        child.expect_exact("Step 3 of 4: Tags")
        child.expect_exact("Tag KEY=VALUE")
        child.sendline("kubernetes.io/x=1")
        child.expect_exact(start_of(rules.msg_tag_key_platform("kubernetes.io/x")))
        child.sendline("owner=alice")
        child.expect_exact("1) owner=alice")
        child.sendline("")

        child.expect_exact("Step 4 of 4: Review & Create")
        child.expect_exact("Name:")
        child.expect_exact("nb-guided")
        child.expect_exact("Instance type:")
        child.expect_exact("test-small (1 CPU, 2Gi memory)")
        child.expect_exact("Volume:")
        child.expect_exact("test-home (OnDemandPVC 1Gi)")
        child.expect_exact("MODE=dev")
        child.expect_exact("--ServerApp.iopub_data_rate_limit=1e10")
        child.expect_exact("owner=alice")
        child.expect_exact(f"Resource Summary (quota of namespace '{namespace}')")
        child.expect(r"team-quota\s+limits\.cpu\s+1\s+0\s+2\s+2\s+ok")
        child.expect(r"team-quota\s+requests\.storage\s+1Gi\s+0\s+3Gi\s+3Gi\s+ok")
        child.expect_exact("Create this container? [create/back/cancel] (create)")
        child.sendline("")
        child.expect_exact("Jupyter container 'nb-guided' created")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    jc = wait_phase("nb-guided", "Active")
    assert jc["spec"] == {
        "bundle": "team",
        "instanceType": "test-small",
        "volume": "test-home",
        "env": [{"name": "MODE", "value": "dev"}],
        "args": ["--ServerApp.iopub_data_rate_limit=1e10"],
        "tags": {"owner": "alice"},
        "running": True,
    }


def test_guided_create_cancelled_creates_nothing(
    jup: Plugin, bundle: str, cluster: Any, namespace: str
) -> None:
    child = guided(jup, "nb-cancel", "--instance-type", "test-small")
    try:
        child.expect_exact("Name (nb-cancel)")  # flags given are the defaults
        child.sendline("")
        for prompt in ("Resource bundle", "Namespace", "Instance type (test-small)", "Volume"):
            child.expect_exact(prompt)
            child.sendline("")
        child.expect_exact("Data loss without a volume")
        for prompt in ("Environment variable name", "Argument", "Tag KEY=VALUE"):
            child.expect_exact(prompt)
            child.sendline("")
        child.expect_exact("Create this container?")
        child.sendline("cancel")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 4
    assert cluster.kubectl("get", "jc", "-n", namespace, "-o", "name").stdout == ""


def test_configure_rules_and_data_loss_confirmation(
    jup: Plugin, bundle: str, wait_phase: Wait, cluster: Any, namespace: str
) -> None:
    jup(
        "create",
        "cfg",
        "--bundle",
        "team",
        "--volume",
        "test-home",
        "-e",
        "A=1",
        "-e",
        "B=2",
        "--tag",
        "old=1",
    )
    wait_phase("cfg", "Active")
    locked = jup("configure", "cfg", "--instance-type", "test-large", expect=1)
    assert locked.stderr.splitlines()[0] == f"error: {rules.MSG_STOP_BEFORE_CONFIGURING}"
    assert "kubectl jupyter terminate cfg" in locked.stderr

    jup("terminate", "cfg", "--yes", "--wait", "--timeout", "60")
    immutable = jup("configure", "cfg", "--bundle", "other", expect=2)
    assert rules.MSG_BUNDLE_IMMUTABLE in immutable.stderr
    nothing = jup("configure", "cfg", expect=2)
    assert "Nothing to change" in nothing.stderr

    out = jup(
        "configure",
        "cfg",
        "--instance-type",
        "test-large",
        "-e",
        "A=changed",
        "--remove-env",
        "B",
        "--tag",
        "new=2",
        "--remove-tag",
        "old",
    )
    assert out.stdout.strip() == "Jupyter container 'cfg' configured: instanceType, env, tags."
    spec = get_jc(cluster, namespace, "cfg")["spec"]
    assert spec["instanceType"] == "test-large"
    assert spec["env"] == [{"name": "A", "value": "changed"}]
    assert spec["tags"] == {"new": "2"}

    declined = jup("configure", "cfg", "--volume", "test-home-large", input="n\n", expect=4)
    assert (
        "Data loss: changing spec.volume from 'test-home' to 'test-home-large' deletes the On "
        "Demand PVC" in declined.stderr
    )
    assert "Yes, change it? [y/N]" in declined.stderr
    assert get_jc(cluster, namespace, "cfg")["spec"]["volume"] == "test-home"

    accepted = jup("configure", "cfg", "--volume", "test-home-large", input="y\n")
    assert accepted.stdout.strip() == "Jupyter container 'cfg' configured: volume."
    # The webhook's warning was read in the confirmation: not printed a second time.
    assert accepted.stderr.count("Data loss:") == 1
    assert get_jc(cluster, namespace, "cfg")["spec"]["volume"] == "test-home-large"

    dry = jup("configure", "cfg", "--no-volume", "--yes", "--dry-run")
    assert (
        dry.stdout.strip()
        == "Jupyter container 'cfg' configured: volume (server dry run; nothing was saved)."
    )
    assert get_jc(cluster, namespace, "cfg")["spec"]["volume"] == "test-home-large"
    as_json = json.loads(jup("configure", "cfg", "--image", "x", "-o", "json").stdout)
    assert as_json["spec"]["image"] == "x"


def test_guided_configure_edits_a_stopped_container(
    jup: Plugin, bundle: str, wait_phase: Wait, cluster: Any, namespace: str
) -> None:
    jup("create", "edit-me", "--bundle", "team", "--volume", "test-home", "-e", "A=1", "--no-start")
    wait_phase("edit-me", "Stopped")
    command = jup.command("configure", "edit-me")
    child = pexpect.spawn(
        command[0], command[1:], env={**jup.env, "TERM": "dumb"}, encoding="utf-8", timeout=60
    )
    try:
        child.expect_exact("Step 1 of 4: General")
        child.expect_exact("Name: edit-me (read-only)")
        child.expect_exact("Resource bundle: team (read-only)")
        child.expect_exact(f"Namespace ({namespace})")
        child.sendline("")
        child.expect_exact("Instance type (")
        child.sendline("test-large")
        child.expect_exact("Volume ('none' for none) (test-home)")
        child.sendline("test-home-large")
        child.expect_exact("Step 2 of 4: Configurations")
        child.expect_exact("1) A=1")
        child.expect_exact("Environment variable name")
        child.sendline("remove A")
        child.expect_exact("Environment variables: none")
        child.expect_exact("Environment variable name")
        child.sendline("")
        child.expect_exact("Argument")
        child.sendline("")
        child.expect_exact("Step 3 of 4: Tags")
        child.sendline("")
        child.expect_exact("Step 4 of 4: Review & Save")
        child.expect_exact("test-large (4 CPU, 16Gi memory)")
        child.expect_exact("Save this container? [save/back/cancel] (save)")
        child.sendline("save")
        # The data-loss warning of the volume change, then the console's confirmation.
        child.expect_exact("Data loss: changing spec.volume from 'test-home' to")
        child.expect_exact("Yes, change it? [y/N]")
        child.sendline("y")
        child.expect_exact("Jupyter container 'edit-me' configured: instanceType, volume, env.")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    spec = get_jc(cluster, namespace, "edit-me")["spec"]
    assert (spec["instanceType"], spec["volume"], spec.get("env", [])) == (
        "test-large",
        "test-home-large",
        [],
    )
