"""Entitlements: who may pick an InstanceType, Volume or JupyterImage of the catalog.

Pure. An entry with neither `allowedBundles` nor `allowedGroups` is everyone's. Otherwise a
container may use it when its bundle is listed ('namespace/bundle', or 'namespace/*' for
every bundle of a namespace) or its user is in a listed group; admins always may. Judged
for the requesting user at admission (`core.judge`) and for the creator's recorded groups at
every start (`core.plan`); the listings (CLI, console) offer only what `entitled` allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jupyter_containers.api.models import Entitled


def bundle_ref(domain: str, bundle: str) -> str:
    """How an entitlement names a bundle: 'namespace/name'."""
    return f"{domain}/{bundle}"


@dataclass(frozen=True)
class Chooser:
    """Who picks an entry: the container's bundle and a user's groups."""

    bundle: str | None
    """'namespace/name' of the container's bundle; None when not known (a listing without
    one): then only entries a group (or no restriction) allows are offered."""
    groups: frozenset[str] = frozenset()
    admin: bool = False
    whom: str = "you"
    """Who the refusal names: 'you', or 'the container's creator alice'."""

    @classmethod
    def of(
        cls,
        bundle: str | None,
        groups: Iterable[str],
        admin_groups: Iterable[str],
        whom: str = "you",
    ) -> Chooser:
        # Here, not at the top: core.validation imports core.catalog, which imports this.
        from jupyter_containers.core.validation import MASTERS_GROUP

        found = frozenset(groups)
        return cls(bundle, found, bool(found & {MASTERS_GROUP, *admin_groups}), whom)

    def describe(self) -> str:
        """For messages: 'bundle 'ns/b' or your groups'."""
        groups = "your groups" if self.whom == "you" else f"the groups of {self.whom}"
        return f"bundle '{self.bundle}' or {groups}" if self.bundle else groups


def restricted(entry: Entitled) -> bool:
    return bool(entry.allowedBundles or entry.allowedGroups)


def entitled(entry: Entitled, chooser: Chooser) -> bool:
    """Whether `chooser` may pick `entry`."""
    if chooser.admin or not restricted(entry):
        return True
    if chooser.bundle is not None:
        namespace = chooser.bundle.partition("/")[0]
        if chooser.bundle in entry.allowedBundles or f"{namespace}/*" in entry.allowedBundles:
            return True
    return bool(chooser.groups & set(entry.allowedGroups))


def refused_by(entry: Entitled, choosers: Sequence[Chooser]) -> Chooser | None:
    """The first chooser who may not pick `entry`, or None when all may."""
    return next((c for c in choosers if not entitled(entry, c)), None)


def for_bundles(entry: Entitled, bundles: Iterable[str], chooser: Chooser) -> list[str] | None:
    """Which of `bundles` ('namespace/name') may use `entry` for this user: None when any may
    (no restriction, an admin, or one of the user's groups), else the list (maybe empty).
    For forms where the bundle is picked next to the entry."""
    anyone = Chooser(None, chooser.groups, chooser.admin)
    if entitled(entry, anyone):
        return None
    return [b for b in bundles if entitled(entry, Chooser(b, chooser.groups, chooser.admin))]
