"""core.namespace_policy: the one NetworkPolicy of a deployment namespace, one row per case."""

from __future__ import annotations

import pytest

from jupyter_containers.core import naming
from jupyter_containers.core.namespace_policy import (
    Action,
    Holder,
    decide,
    holder_of,
    msg_policy_taken,
)

A, D, L, K, R = Action.APPLY, Action.DELETE, Action.LEAVE, Action.LOOK, Action.REFUSE

#: (setting on, who holds the name, JupyterLabs left or on their way) -> what to do, and why.
ROWS = [
    (True, Holder.NOBODY, 1, A, "a start in a namespace without it: made first"),
    (True, Holder.NOBODY, 0, L, "nothing runs there: not made"),
    (True, Holder.OURS, 5, L, "there as wanted: no write (a burst costs one apply)"),
    (True, Holder.OURS, 0, D, "the last JupyterLab gone: it goes"),
    (True, Holder.OURS_STALE, 2, A, "other settings since it was made: applied again"),
    (True, Holder.OURS_STALE, 0, D, "stale and nothing left: it goes"),
    (True, Holder.UNKNOWN, 1, K, "the watch shows none: whose is the name? read it first"),
    (True, Holder.UNKNOWN, 0, L, "the watch shows none and none is needed: nothing read"),
    (True, Holder.FOREIGN, 1, R, "someone else's holds the name: untouched, starts refused"),
    (True, Holder.FOREIGN, 0, L, "someone else's, nothing of ours there: left alone"),
    (False, Holder.OURS, 3, D, "the setting off: ours goes even with containers running"),
    (False, Holder.OURS_STALE, 3, D, "the setting off, stale: goes"),
    (False, Holder.NOBODY, 3, L, "the setting off, none there: nothing"),
    (False, Holder.UNKNOWN, 3, L, "the setting off: nothing read"),
    (False, Holder.FOREIGN, 3, L, "the setting off: someone else's is no concern, none refused"),
]


@pytest.mark.parametrize(
    ("enabled", "holder", "remaining", "action"),
    [row[:4] for row in ROWS],
    ids=[row[4] for row in ROWS],
)
def test_decide(enabled: bool, holder: Holder, remaining: int, action: Action) -> None:
    assert decide(enabled=enabled, holder=holder, remaining=remaining) == action


def test_every_holder_and_action_has_a_row() -> None:
    assert {row[1] for row in ROWS} == set(Holder)
    assert {row[3] for row in ROWS} == set(Action)


def test_a_look_always_ends_in_another_decision() -> None:
    """What a GET can answer is never UNKNOWN: decide once more never asks again."""
    for holder in (Holder.NOBODY, Holder.OURS, Holder.OURS_STALE, Holder.FOREIGN):
        for enabled in (True, False):
            for remaining in (0, 1):
                assert decide(enabled=enabled, holder=holder, remaining=remaining) != K


OURS = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE}


@pytest.mark.parametrize(
    ("labels", "annotations", "holder"),
    [
        (None, None, Holder.NOBODY),
        (OURS, {naming.SPEC_HASH_ANNOTATION: "h1"}, Holder.OURS),
        (OURS, {naming.SPEC_HASH_ANNOTATION: "h0"}, Holder.OURS_STALE),
        (OURS, None, Holder.OURS_STALE),
        ({}, {naming.SPEC_HASH_ANNOTATION: "h1"}, Holder.FOREIGN),
        # Ours is the managed-by label, not the look: another value is someone else's.
        (
            {naming.MANAGED_BY_LABEL: "helm", naming.COMPONENT_LABEL: "network-policy"},
            {},
            Holder.FOREIGN,
        ),
    ],
)
def test_holder_of(
    labels: dict[str, str] | None, annotations: dict[str, str] | None, holder: Holder
) -> None:
    assert holder_of(labels, annotations, "h1") == holder


def test_the_refusal_names_the_object_and_the_fix() -> None:
    message = msg_policy_taken("team-a")
    assert f"NetworkPolicy '{naming.NETWORK_POLICY_NAME}' in namespace 'team-a'" in message
    assert f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY_VALUE}" in message
    assert "Delete or rename that NetworkPolicy" in message
