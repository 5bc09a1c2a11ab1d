"""Times as users type them (durations, RFC 3339) and as they read them (relative, ages)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from jupyter_containers.cli.errors import UsageError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
# RFC 3339 with any number of fraction digits (the API server sends nanoseconds).
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_duration(text: str, option: str) -> timedelta:
    """'90s', '5m', '1h30m', '2d' (kubectl's units plus days)."""
    value = text.strip()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise UsageError(
            f"{option} {text!r} is not a duration; use a number with a unit, "
            "e.g. 30s, 5m, 1h30m, 2d."
        )
    return timedelta(seconds=total)


def parse_rfc3339(text: str) -> datetime | None:
    """An RFC 3339 time as an aware datetime (fractions beyond microseconds dropped), or None."""
    match = _RFC3339.match(text.strip())
    if match is None:
        return None
    base, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone in ("Z", "z") else zone
    return datetime.fromisoformat(f"{base.replace(' ', 'T')}.{micro}{zone}")


def parse_time(text: str, option: str, now: datetime) -> datetime:
    """An RFC 3339 time, or a duration meaning that long before `now`."""
    parsed = parse_rfc3339(text)
    if parsed is not None:
        return parsed
    try:
        return now - parse_duration(text, option)
    except UsageError:
        raise UsageError(
            f"{option} {text!r} is neither an RFC 3339 time (e.g. 2024-05-01T12:00:00Z) nor a "
            "duration (e.g. 10m, meaning ten minutes ago)."
        ) from None


def rfc3339(moment: datetime) -> str:
    """UTC, second precision, 'Z' suffix: what the API accepts for sinceTime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc() -> datetime:
    return datetime.now(UTC)


def _unit_count(seconds: int) -> tuple[int, str]:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return seconds // size, unit
    return seconds, "second"


def relative(moment: datetime | None, now: datetime) -> str:
    """'just now', '1 minute ago', '3 days ago'."""
    if moment is None:
        return "unknown time"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 10:
        return "just now"
    count, unit = _unit_count(seconds)
    return f"{count} {unit}{'s' if count != 1 else ''} ago"


def age(moment: datetime | None, now: datetime) -> str:
    """kubectl's short ages: '42s', '5m', '3h', '2d'."""
    if moment is None:
        return "<unknown>"
    seconds = max(0, int((now - moment).total_seconds()))
    for suffix, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"
