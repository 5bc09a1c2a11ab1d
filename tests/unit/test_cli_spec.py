"""Flags -> a spec validated by the API models, with errors naming the flag (pure)."""

from __future__ import annotations

import pytest

from jupyter_containers.api import rules
from jupyter_containers.cli import spec
from jupyter_containers.cli.errors import CliError, ExitCode, UsageError


def test_env_flags() -> None:
    assert spec.plain_env(["A=1", "B=x=y", "C="]) == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "x=y"},
        {"name": "C", "value": ""},
    ]
    assert spec.secret_env(["TOKEN=api-keys:token"]) == [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-keys", "key": "token"}}}
    ]


@pytest.mark.parametrize(
    ("call", "text", "message"),
    [
        (spec.plain_env, "NOVALUE", "--env 'NOVALUE': expected NAME=VALUE."),
        (spec.secret_env, "T=only-secret", "--env-from-secret 'only-secret': expected SECRET:KEY"),
        (spec.tags_from, "=v", "--tag '=v': expected KEY=VALUE."),
    ],
)
def test_bad_pairs_name_the_flag(call, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as err:
        call([text])
    assert err.value.message.startswith(message)
    assert err.value.exit_code == ExitCode.USAGE


def test_validate_uses_the_manual_messages() -> None:
    with pytest.raises(CliError) as err:
        spec.validate({"bundle": "team", "env": [{"name": "JUPYTER_TOKEN", "value": "x"}]})
    assert err.value.message == f"spec.env[0].name: {rules.msg_reserved_env('JUPYTER_TOKEN')}"
    with pytest.raises(CliError) as err:
        spec.validate({"bundle": "team", "args": ["--port=9999"]})
    assert err.value.message == f"spec.args[0]: {rules.msg_platform_arg('--port=9999', '--port')}"
    with pytest.raises(CliError) as err:
        spec.validate({"bundle": "team", "tags": {"kubernetes.io/x": "1"}})
    assert err.value.message == rules.msg_tag_key_platform("kubernetes.io/x")


def test_validate_names_the_flag_for_pattern_errors() -> None:
    with pytest.raises(CliError) as err:
        spec.validate({"bundle": "Team!"})
    assert err.value.message.startswith("--bundle 'Team!': String should match pattern")
    with pytest.raises(CliError) as err:
        spec.validate({"bundle": "team", "namespace": "Bad_NS"})
    assert err.value.message.startswith("--deploy-namespace 'Bad_NS'")


def test_check_name() -> None:
    spec.check_name("nb-1")
    with pytest.raises(CliError) as err:
        spec.check_name("NB_1")
    assert err.value.message == rules.MSG_NAME_PATTERN
    with pytest.raises(CliError) as err:
        spec.check_name("a" * 54)
    assert err.value.message == rules.MSG_NAME_LENGTH


def test_manifest_leaves_out_empty_fields() -> None:
    model = spec.validate({"bundle": "team", "tags": {"owner": "alice"}})
    assert spec.manifest("nb1", "dom", model) == {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "JupyterContainer",
        "metadata": {"name": "nb1", "namespace": "dom"},
        "spec": {"bundle": "team", "tags": {"owner": "alice"}, "running": True},
    }


def test_apply_changes_merges_env_and_tags() -> None:
    current = {
        "bundle": "team",
        "volume": "home",
        "image": "img:1",
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "args": ["--x"],
        "tags": {"keep": "1", "drop": "2"},
        "running": False,
    }
    changes = spec.Changes(
        instance_type="large",
        no_volume=True,
        default_image=True,
        env=[{"name": "A", "value": "new"}, {"name": "C", "value": "3"}],
        remove_env=["B"],
        args=[],
        tags={"add": "3"},
        remove_tags=["drop"],
    )
    assert changes.any()
    assert spec.apply_changes(current, changes) == {
        "bundle": "team",
        "instanceType": "large",
        "env": [{"name": "A", "value": "new"}, {"name": "C", "value": "3"}],
        "args": [],
        "tags": {"keep": "1", "add": "3"},
        "running": False,
    }
    assert not spec.Changes().any()


def test_apply_changes_refuses_contradictions_and_unknown_removals() -> None:
    with pytest.raises(UsageError, match="--volume and --no-volume"):
        spec.apply_changes({}, spec.Changes(volume="a", no_volume=True))
    with pytest.raises(UsageError, match="--remove-env 'X': the container has no such variable"):
        spec.apply_changes({"env": []}, spec.Changes(remove_env=["X"]))
    with pytest.raises(UsageError, match="--remove-tag 'k': the container has no such tag"):
        spec.apply_changes({}, spec.Changes(remove_tags=["k"]))
