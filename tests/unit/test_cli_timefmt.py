"""Durations, RFC 3339 times and relative times (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jupyter_containers.cli import timefmt
from jupyter_containers.cli.errors import UsageError

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("1.5h", 5400), ("500ms", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert timefmt.parse_duration(text, "--since") == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m5", "5x", "1h 30m", "-5m"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--since .* is not a duration"):
        timefmt.parse_duration(text, "--since")


def test_rfc3339_with_nanoseconds_and_offsets() -> None:
    assert timefmt.parse_rfc3339("2026-01-01T00:00:04.001000000Z") == datetime(
        2026, 1, 1, 0, 0, 4, 1000, tzinfo=UTC
    )
    assert timefmt.parse_rfc3339("2026-01-01T02:00:00+02:00") == datetime(2026, 1, 1, tzinfo=UTC)
    assert timefmt.parse_rfc3339("yesterday") is None


def test_parse_time_accepts_times_and_durations_ago() -> None:
    assert timefmt.parse_time("2026-01-01T11:00:00Z", "--until", NOW) == NOW - timedelta(hours=1)
    assert timefmt.parse_time("10m", "--until", NOW) == NOW - timedelta(minutes=10)
    with pytest.raises(UsageError, match=r"^--until 'soon' is neither an RFC 3339 time"):
        timefmt.parse_time("soon", "--until", NOW)


def test_rfc3339_output() -> None:
    assert (
        timefmt.rfc3339(datetime(2026, 1, 1, 12, 0, 0, 999, tzinfo=UTC)) == "2026-01-01T12:00:00Z"
    )


def test_relative_and_age() -> None:
    assert timefmt.relative(NOW - timedelta(seconds=3), NOW) == "just now"
    assert timefmt.relative(NOW - timedelta(minutes=1), NOW) == "1 minute ago"
    assert timefmt.relative(NOW - timedelta(hours=5), NOW) == "5 hours ago"
    assert timefmt.relative(NOW - timedelta(days=3), NOW) == "3 days ago"
    assert timefmt.relative(None, NOW) == "unknown time"
    assert timefmt.age(NOW - timedelta(seconds=42), NOW) == "42s"
    assert timefmt.age(NOW - timedelta(minutes=90), NOW) == "1h"
    assert timefmt.age(None, NOW) == "<unknown>"
