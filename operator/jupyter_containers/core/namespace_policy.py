"""The one NetworkPolicy of a deployment namespace: make it, keep it, delete it or refuse.

Pure. Every running JupyterLab pod of a namespace is selected by one shared NetworkPolicy
(`core.builders.build_network_policy`, named `naming.NETWORK_POLICY_NAME`). It must exist
before the first Deployment there is applied, and it goes when no JupyterLab of the operator
is left there (no Deployment, no pod, no start on its way). `shell.namespace_policies` gathers
the facts (its watch, its own last write, a GET when the watch cannot tell) and does what
`decide` says.

Whether the object under that name is ours is decided by the managed-by label only: the
operator watches objects with that label, so one without it is someone else's, never written
over or deleted; a container that would need it is refused a start (`msg_policy_taken`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from jupyter_containers.core import naming


class Holder(StrEnum):
    """Who holds the name in the namespace, as far as the operator knows."""

    NOBODY = "nobody"
    """No object has the name (a GET answered 404)."""
    OURS = "ours"
    """Ours (managed-by label) with the spec hash wanted."""
    OURS_STALE = "stale"
    """Ours, made with other settings (another spec hash)."""
    FOREIGN = "foreign"
    """An object without the managed-by label: someone else's."""
    UNKNOWN = "unknown"
    """The watch does not show ours, and it sees only ours: someone else's may exist."""


class Action(StrEnum):
    APPLY = "apply"
    """Server-side apply the desired policy (the name is free or ours)."""
    DELETE = "delete"
    """Delete ours (after the shell checked its label once more)."""
    LEAVE = "leave"
    """Nothing to write."""
    LOOK = "look"
    """Read the name first (a GET), then decide again with what it holds."""
    REFUSE = "refuse"
    """Someone else's object holds the name: never touched; the containers are refused."""


def decide(*, enabled: bool, holder: Holder, remaining: int) -> Action:
    """What to do with the namespace's policy.

    `enabled`: the operator's network_policy setting. `remaining`: the JupyterLab Deployments
    and pods of the operator in the namespace, plus the starts about to apply one there.
    """
    wanted = enabled and remaining > 0
    if holder == Holder.FOREIGN:
        return Action.REFUSE if wanted else Action.LEAVE
    if holder == Holder.UNKNOWN:
        # Nothing of ours to delete that the watch shows; a wanted one needs the name read.
        return Action.LOOK if wanted else Action.LEAVE
    if holder == Holder.NOBODY:
        return Action.APPLY if wanted else Action.LEAVE
    if not wanted:
        return Action.DELETE
    return Action.LEAVE if holder == Holder.OURS else Action.APPLY


def holder_of(
    labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None, wanted_hash: str
) -> Holder:
    """Who holds the name, from the object's labels and annotations (None: no object)."""
    if labels is None:
        return Holder.NOBODY
    if labels.get(naming.MANAGED_BY_LABEL) != naming.MANAGED_BY_VALUE:
        return Holder.FOREIGN
    have = (annotations or {}).get(naming.SPEC_HASH_ANNOTATION)
    return Holder.OURS if have == wanted_hash else Holder.OURS_STALE


def msg_policy_taken(namespace: str) -> str:
    return (
        f"Name collision: NetworkPolicy '{naming.NETWORK_POLICY_NAME}' in namespace "
        f"'{namespace}' exists without the label "
        f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY_VALUE}, so the operator does not write "
        "over it, and starts no JupyterLab there without its own NetworkPolicy. Delete or "
        "rename that NetworkPolicy (the operator makes its own under that name), then start "
        "the container again."
    )
