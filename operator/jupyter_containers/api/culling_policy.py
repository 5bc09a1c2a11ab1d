"""Idle culling and maximum lifetime: the InstanceType's policy and the container's status block.

Durations are written as people write them ("30m", "8h", "1h30m", "2d"); "0s" switches a
limit off where a cluster default would set it. The parser is here, next to the pattern the
CRD checks, so the CRD, the settings and the operator read the same text the same way.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

#: One to four number-unit pairs, largest unit first is not required ("90m" is fine).
DURATION_PATTERN = r"^([0-9]{1,7}[smhd]){1,4}$"
_PART = re.compile(r"([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: Longer than anyone keeps a JupyterLab running (and small enough for every int64).
MAX_DURATION_SECONDS = 366 * 86400

Duration = Annotated[str, StringConstraints(min_length=2, max_length=32, pattern=DURATION_PATTERN)]


class Model(BaseModel):
    """As `models.Model` (which imports this module): camelCase, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=True)


def msg_duration(field: str) -> str:
    return (
        f"{field}: a duration such as '30m', '8h' or '1h30m' (units s, m, h, d; at most 366d); "
        "'0s' switches it off"
    )


def parse_duration(text: str, field: str = "duration") -> float:
    """Seconds of a duration text; ValueError naming `field` when it is not one."""
    if not re.fullmatch(DURATION_PATTERN, text or ""):
        raise ValueError(msg_duration(field))
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(msg_duration(field))
    return float(seconds)


def format_duration(seconds: float) -> str:
    """The shortest exact text for whole seconds: 20s, 5m, 1h30m, 2d."""
    total = max(round(seconds), 0)
    if total == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        amount, total = divmod(total, _UNIT_SECONDS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


class CullingPolicy(Model):
    """When the operator stops a running container by itself (docs/culling.md)."""

    idleTimeout: Duration | None = Field(
        default=None,
        description="Stop a container after this long without activity in its JupyterLab "
        "(a busy kernel, kernel or terminal output or input); the status reason is Culled. "
        "Unset: the cluster default (JC_CULL_IDLE_TIMEOUT); '0s': never.",
    )
    maxLifetime: Duration | None = Field(
        default=None,
        description="Stop a container this long after it became Active, busy or not; the "
        "status reason is LifetimeExceeded. Unset: the cluster default (JC_CULL_MAX_LIFETIME); "
        "'0s': never.",
    )

    @field_validator("idleTimeout", "maxLifetime", mode="before")
    @classmethod
    def _duration(cls, value: object, info: object) -> object:
        name = getattr(info, "field_name", "duration")
        if isinstance(value, str):
            try:
                parse_duration(value, f"spec.culling.{name}")
            except ValueError as exc:
                raise PydanticCustomError(
                    "jupyter_containers", "{message}", {"message": str(exc)}
                ) from None
        return value


class CullingStatus(Model):
    """What culling will do to a running container if nothing happens (written by the operator)."""

    idleTimeout: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="The idle timeout in force (unset: no idle culling)."
    )
    maxLifetime: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="The maximum lifetime in force (unset: none)."
    )
    lastActivity: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="Latest activity seen in JupyterLab (RFC 3339): kernel or terminal traffic, "
        "or a kernel seen busy. Requests of browsers and of the operator do not count.",
    )
    cullAt: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="When the container is stopped if nothing happens (RFC 3339); any activity "
        "moves it later. Written at most every few minutes, so it may be a little early.",
    )
    cullReason: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="The reason it will be stopped with: Culled or LifetimeExceeded."
    )
    activityUnknown: bool | None = Field(
        default=None,
        description="True while JupyterLab does not answer the operator's activity probe: it is "
        "then not culled as idle (the maximum lifetime still holds).",
    )
