"""The Resource Summary of the review step: what the container costs against each quota.

The arithmetic is the admission webhook's (`jupyter_containers.core.quota`): the same demand,
the same quota scopes. This module only lays it out line by line for the review.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lightkube.utils.quantity import parse_quantity

from jupyter_containers.core import quota


@dataclass(frozen=True)
class CostLine:
    quota: str
    resource: str
    requested: Decimal
    used: Decimal
    hard: Decimal

    @property
    def available(self) -> Decimal:
        return max(Decimal(0), self.hard - self.used)

    @property
    def fits(self) -> bool:
        return self.requested <= self.available

    def shown(self, value: Decimal) -> str:
        return quota.format_quantity(value, self.resource)


def _amount(value: Any) -> Decimal:
    return parse_quantity(str(value)) or Decimal(0)


def _has_pod_scopes(item: Mapping[str, Any]) -> bool:
    spec = item.get("spec") or {}
    return bool(spec.get("scopes") or (spec.get("scopeSelector") or {}).get("matchExpressions"))


def cost_lines(
    quotas: Iterable[Mapping[str, Any]],
    pod: Mapping[str, Decimal],
    storage: Mapping[str, Decimal],
) -> list[CostLine]:
    """One line per (quota, resource) the container would use, in the quotas' order."""
    lines = []
    for item in quotas:
        if not quota.quota_applies_to_pod(item):
            continue
        name = (item.get("metadata") or {}).get("name", "?")
        status = item.get("status") or {}
        hard = status.get("hard") or (item.get("spec") or {}).get("hard") or {}
        used = status.get("used") or {}
        # A quota with pod scopes counts pods only, never PVCs (a Kubernetes rule).
        amounts = dict(pod) if _has_pod_scopes(item) else {**pod, **storage}
        for resource in sorted(hard):
            if resource not in amounts:
                continue
            lines.append(
                CostLine(
                    quota=name,
                    resource=resource,
                    requested=amounts[resource],
                    used=_amount(used.get(resource, "0")),
                    hard=_amount(hard[resource]),
                )
            )
    return lines
