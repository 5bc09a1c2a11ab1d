"""Which containers a list shows: My / Shared with me, the filters, and the page.

Pure functions over the objects as dicts, so the console's rules are unit-tested
without a cluster. `Identity` is the webhook's: the user as the API server names them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jupyter_containers.api.models import Phase
from jupyter_containers.core.naming import CREATED_BY_ANNOTATION
from jupyter_containers.core.validation import Identity

Obj = Mapping[str, Any]


class View(StrEnum):
    MINE = "My Jupyter Containers"
    SHARED = "Shared with me"


def created_by(jc: Obj) -> str | None:
    """Who created the container: the operator's status, else the webhook's annotation."""
    status = jc.get("status") or {}
    annotations = (jc.get("metadata") or {}).get("annotations") or {}
    return status.get("createdBy") or annotations.get(CREATED_BY_ANNOTATION)


def bundle_grants(bundle: Obj | None, who: Identity) -> bool:
    """Whether a ResourceBundle gives `who` any permission (the owner has all of them)."""
    if bundle is None:
        return False
    spec = bundle.get("spec") or {}
    if spec.get("owner") == who.username:
        return True
    for grant in spec.get("grants") or []:
        if not grant.get("permissions"):
            continue
        if who.username in (grant.get("users") or []):
            return True
        if who.groups & set(grant.get("groups") or []):
            return True
    return False


def deployment_namespace(jc: Obj) -> str:
    status = jc.get("status") or {}
    spec = jc.get("spec") or {}
    meta = jc.get("metadata") or {}
    return str(status.get("deploymentNamespace") or spec.get("namespace") or meta.get("namespace"))


def phase_of(jc: Obj) -> str | None:
    return (jc.get("status") or {}).get("phase")


def in_view(jc: Obj, view: View, who: Identity, bundles: Mapping[tuple[str, str], Obj]) -> bool:
    """My: created by me. Shared: created by someone else, in a bundle that grants me access."""
    creator = created_by(jc)
    if view is View.MINE:
        return creator == who.username
    if creator == who.username:
        return False
    meta = jc.get("metadata") or {}
    key = (meta.get("namespace", ""), (jc.get("spec") or {}).get("bundle", ""))
    return bundle_grants(bundles.get(key), who)


def matches(
    jc: Obj,
    *,
    deploy_namespace: str | None = None,
    status: Phase | str | None = None,
    search: str | None = None,
) -> bool:
    """The console's filters: deployment namespace, status, and a name search (substring)."""
    if deploy_namespace and deployment_namespace(jc) != deploy_namespace:
        return False
    if status and phase_of(jc) != str(status):
        return False
    name = str((jc.get("metadata") or {}).get("name", ""))
    return not (search and search.strip().lower() not in name.lower())


@dataclass(frozen=True)
class Page:
    items: Sequence[Obj]
    number: int
    pages: int
    total: int
    size: int

    @property
    def first_index(self) -> int:
        """1-based position of the first item in the whole list (0 when empty)."""
        return (self.number - 1) * self.size + 1 if self.items else 0


def paginate(items: Sequence[Obj], page: int, size: int) -> Page:
    """One page of `size` items (page numbers start at 1; size 0 means everything)."""
    total = len(items)
    if size <= 0:
        return Page(items=list(items), number=1, pages=1, total=total, size=max(total, 1))
    pages = max(1, math.ceil(total / size))
    start = (page - 1) * size
    return Page(
        items=list(items[start : start + size]), number=page, pages=pages, total=total, size=size
    )


def select(
    containers: Iterable[Obj],
    *,
    view: View,
    who: Identity,
    bundles: Mapping[tuple[str, str], Obj],
    deploy_namespace: str | None = None,
    status: Phase | str | None = None,
    search: str | None = None,
) -> list[Obj]:
    """The containers of one view that pass the filters, sorted by domain then name."""
    chosen = [
        jc
        for jc in containers
        if in_view(jc, view, who, bundles)
        and matches(jc, deploy_namespace=deploy_namespace, status=status, search=search)
    ]
    return sorted(
        chosen,
        key=lambda jc: (jc["metadata"].get("namespace", ""), jc["metadata"].get("name", "")),
    )


def instance_text(jc: Obj) -> str:
    """The instance with CPU and memory: the operator's display text, else built from parts."""
    status = jc.get("status") or {}
    instance = status.get("instance") or {}
    if instance.get("display"):
        return str(instance["display"])
    name = instance.get("name") or (jc.get("spec") or {}).get("instanceType")
    cpu, memory = instance.get("cpu"), instance.get("memory")
    if not name:
        return "-"
    if cpu and memory:
        return f"{name} ({cpu} CPU, {memory})"
    return str(name)


def volume_text(jc: Obj) -> str:
    status = jc.get("status") or {}
    return str(status.get("volume") or (jc.get("spec") or {}).get("volume") or "No volume")
