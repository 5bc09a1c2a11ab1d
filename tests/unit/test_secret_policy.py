"""secret_policy: which Secrets an env secretKeyRef may name."""

from __future__ import annotations

import pytest

from jupyter_containers.api.models import JupyterContainerSpec
from jupyter_containers.core import naming, secret_policy
from jupyter_containers.core.secret_policy import SecretRef


def spec_with(*refs: tuple[str, str, bool | None]) -> JupyterContainerSpec:
    env: list[dict[str, object]] = [{"name": "PLAIN", "value": "x"}]
    for i, (secret, key, optional) in enumerate(refs):
        ref: dict[str, object] = {"name": secret, "key": key}
        if optional is not None:
            ref["optional"] = optional
        env.append({"name": f"V{i}", "valueFrom": {"secretKeyRef": ref}})
    return JupyterContainerSpec.model_validate({"bundle": "b", "env": env})


def test_refs_include_optional_ones_with_their_index() -> None:
    refs = secret_policy.secret_refs(spec_with(("db", "pw", None), ("api", "k", True)))
    assert refs == [SecretRef(1, "V0", "db", "pw"), SecretRef(2, "V1", "api", "k")]
    assert refs[1].field == "spec.env[2].valueFrom.secretKeyRef"


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("jc-demo-token", True),
        ("jc-demo-1a2b3c-token", True),
        ("jc--token", False),  # no container name between
        ("jc-token", False),
        ("db", False),
        ("my-jc-demo-token", False),
        ("jc-demo-token2", False),
    ],
)
def test_token_secret_names(name: str, token: bool) -> None:
    assert secret_policy.is_token_secret_name(name) is token


@pytest.mark.parametrize(
    ("labels", "owned"),
    [
        (None, False),
        ({}, False),
        ({"team": "a"}, False),
        ({naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE}, True),
        ({naming.MANAGED_BY_LABEL: "helm"}, False),
        ({naming.UID_LABEL: "1234"}, True),
    ],
)
def test_operator_labels(labels: dict[str, str] | None, owned: bool) -> None:
    assert secret_policy.is_operator_labelled(labels) is owned


def test_operator_secrets_are_refused_by_name_and_by_label() -> None:
    refs = [
        SecretRef(0, "A", "jc-other-token", "token"),
        SecretRef(1, "B", "innocent-name", "k"),
        SecretRef(2, "C", "mine", "k"),
    ]
    labels = {"innocent-name": {naming.UID_LABEL: "u"}, "mine": {"team": "a"}}
    problems = secret_policy.operator_secret_problems(refs, labels)
    assert problems == [
        secret_policy.msg_operator_secret(refs[0]),
        secret_policy.msg_operator_secret(refs[1]),
    ]
    assert problems[0].startswith(
        "spec.env[0].valueFrom.secretKeyRef: 'A' refers to Secret 'jc-other-token', which "
        "belongs to the platform"
    )
    # A token name is refused without asking who may read it.
    assert secret_policy.needs_access_review(refs) == {"innocent-name", "mine"}


def test_unreadable_secrets() -> None:
    refs = [SecretRef(0, "A", "mine", "k"), SecretRef(3, "D", "theirs", "k")]
    problems = secret_policy.unreadable_secret_problems(
        refs, {"mine": True, "theirs": False}, "alice", "team-a"
    )
    assert problems == [
        "spec.env[3].valueFrom.secretKeyRef: 'D' refers to Secret 'theirs' in namespace "
        "'team-a', which alice may not read (get secrets); a container can only use Secrets "
        "its creator may read. Refer to a Secret you may read, or ask an admin for get on "
        "Secret 'theirs'."
    ]
    # Not reviewed (e.g. a review that failed) is not readable.
    assert len(secret_policy.unreadable_secret_problems(refs, {}, "alice", "team-a")) == 2
