"""Idle culling and maximum lifetime: the pure judgement (core/culling.py), durations
(api/culling_policy.py) and the stop's status (core.plan through culling.stopped_verdict)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from jupyter_containers.api.culling_policy import format_duration, parse_duration
from jupyter_containers.api.models import InstanceTypeSpec, Phase, Reason
from jupyter_containers.core import culling
from jupyter_containers.core.culling import Activity, Cull, CullFacts, CullPolicy, Keep
from jupyter_containers.core.lifecycle import MSG_STOPPED, Verdict
from jupyter_containers.core.settings import Settings

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20s", 20), ("30m", 1800), ("8h", 28800), ("1h30m", 5400), ("2d", 172800), ("0s", 0)],
)
def test_durations_parse_and_format(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["", "30", "1.5h", "-1m", "30 m", "1y", "367d"])
def test_bad_durations_name_the_field(text: str) -> None:
    with pytest.raises(ValueError, match=r"spec\.culling\.idleTimeout: a duration such as"):
        parse_duration(text, "spec.culling.idleTimeout")


def test_instance_type_refuses_a_bad_duration_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"spec\.culling\.maxLifetime: a duration"):
        InstanceTypeSpec.model_validate(
            {"cpu": "1", "memory": "1Gi", "culling": {"maxLifetime": "8 hours"}}
        )


def test_settings_refuse_a_bad_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_CULL_IDLE_TIMEOUT", "soon")
    with pytest.raises(ValidationError, match="JC_CULL_IDLE_TIMEOUT: a duration"):
        Settings()


@pytest.mark.parametrize(
    ("own", "idle", "lifetime", "want"),
    [
        (None, "0s", "0s", CullPolicy(None, None)),  # off unless configured
        (None, "1h", "0s", CullPolicy(3600, None)),  # the cluster default
        ({"idleTimeout": "20s"}, "1h", "12h", CullPolicy(20, 43200)),  # own wins, per field
        ({"idleTimeout": "0s"}, "1h", "0s", CullPolicy(None, None)),  # 0s: off despite default
        ({"maxLifetime": "8h"}, "0s", "0s", CullPolicy(None, 28800)),
        ({"idleTimeout": "bogus"}, "0s", "0s", CullPolicy(None, None)),  # misread: never cull
    ],
)
def test_policy_for(own: dict | None, idle: str, lifetime: str, want: CullPolicy) -> None:
    spec = {"cpu": "1", "culling": own} if own is not None else {"cpu": "1"}
    assert culling.policy_for(spec, idle, lifetime) == want


def test_activity_from_api_ignores_the_status_last_activity() -> None:
    kernels = [
        {"id": "a", "execution_state": "idle", "last_activity": "2026-01-01T12:00:10.5Z"},
        {"id": "b", "execution_state": "busy", "last_activity": "2026-01-01T12:00:05Z"},
    ]
    terminals = [{"name": "1", "last_activity": "2026-01-01T12:00:30+00:00"}]
    server = {
        "started": "2026-01-01T11:59:00Z",
        "last_activity": "2026-01-01T12:05:00Z",  # API requests: a browser's polling, our probe
        "connections": 2,
        "kernels": 2,
    }
    a = culling.activity_from_api(kernels, terminals, server, at(60))
    assert a.last_activity == at(30)
    assert (a.busy_kernels, a.kernels, a.terminals, a.connections) == (1, 2, 1, 2)
    assert a.server_started == at(-60)


def test_activity_from_api_tolerates_garbage() -> None:
    a = culling.activity_from_api([{"last_activity": "yesterday"}, {}], [], {}, at(0))
    assert a.last_activity is None and a.kernels == 2 and a.connections == 0


@pytest.mark.parametrize(
    ("previous", "last", "busy", "want"),
    [
        (None, None, 0, None),
        (None, at(5), 0, at(5)),
        (at(9), at(5), 0, at(9)),  # a kernel shut down took its last_activity with it
        (at(1), at(5), 1, at(60)),  # busy: activity now (a time.sleep sends nothing)
    ],
)
def test_latest_activity(
    previous: datetime | None, last: datetime | None, busy: int, want: datetime | None
) -> None:
    activity = Activity(probed_at=at(60), last_activity=last, busy_kernels=busy)
    assert culling.latest_activity(previous, activity) == want


IDLE = CullPolicy(idle_timeout=20, max_lifetime=None)
LIFE = CullPolicy(idle_timeout=None, max_lifetime=60)
BOTH = CullPolicy(idle_timeout=20, max_lifetime=60)


@pytest.mark.parametrize(
    ("policy", "last", "reachable", "now", "want"),
    [
        # idle timeout counted from becoming Active when nothing happened since
        (IDLE, None, True, 10, Keep(at(20), Reason.CULLED, at(0))),
        (IDLE, None, True, 20, Reason.CULLED),
        # any activity extends it
        (IDLE, at(15), True, 30, Keep(at(35), Reason.CULLED, at(15))),
        (IDLE, at(15), True, 36, Reason.CULLED),
        # JupyterLab does not answer: never culled as idle
        (IDLE, None, False, 500, Keep(None, None, at(0))),
        # the lifetime holds whatever the activity and the probe
        (LIFE, at(59), True, 60, Reason.LIFETIME_EXCEEDED),
        (LIFE, None, False, 61, Reason.LIFETIME_EXCEEDED),
        (LIFE, at(10), True, 30, Keep(at(60), Reason.LIFETIME_EXCEEDED, at(10))),
        # both: the nearer deadline is the one shown
        (BOTH, at(50), True, 55, Keep(at(60), Reason.LIFETIME_EXCEEDED, at(50))),
        (BOTH, at(5), True, 10, Keep(at(25), Reason.CULLED, at(5))),
        (BOTH, None, False, 10, Keep(at(60), Reason.LIFETIME_EXCEEDED, at(0))),
    ],
)
def test_judge(
    policy: CullPolicy, last: datetime | None, reachable: bool, now: float, want: object
) -> None:
    got = culling.judge(CullFacts(policy, at(0), last, reachable, at(now)))
    if isinstance(want, Keep):
        assert got == want
    else:
        assert isinstance(got, Cull) and got.reason == want


def test_cull_messages_say_how_long() -> None:
    idle = culling.judge(CullFacts(IDLE, at(0), at(10), True, at(95)))
    assert isinstance(idle, Cull)
    assert idle.message.startswith("Culled: idle for 1m25s (idle timeout 20s;")
    assert "volume and token kept" in idle.message
    life = culling.judge(CullFacts(LIFE, at(0), at(59), True, at(60)))
    assert isinstance(life, Cull)
    assert life.message.startswith("Stopped after its maximum lifetime of 1m (Active since ")


def test_culling_status_block() -> None:
    block = culling.culling_status(BOTH, Keep(at(25), Reason.CULLED, at(5)), reachable=False)
    assert block == {
        "idleTimeout": "20s",
        "maxLifetime": "1m",
        "lastActivity": "2026-01-01T12:00:05Z",
        "cullAt": "2026-01-01T12:00:25Z",
        "cullReason": "Culled",
        "activityUnknown": True,
    }


def _block(cull_at: str | None, **more: object) -> dict[str, object]:
    return {"idleTimeout": "1h", "cullAt": cull_at, "cullReason": "Culled", **more}


@pytest.mark.parametrize(
    ("stored", "desired", "want"),
    [
        (None, _block("2026-01-01T13:00:00Z"), True),
        (_block("2026-01-01T13:00:00Z"), _block("2026-01-01T13:00:00Z"), False),
        # later by less than the granularity (300 s for 1h): kept, a lower bound of time left
        (_block("2026-01-01T13:00:00Z"), _block("2026-01-01T13:04:59Z"), False),
        (_block("2026-01-01T13:00:00Z"), _block("2026-01-01T13:05:00Z"), True),
        # earlier: at once (a shorter limit configured)
        (_block("2026-01-01T13:00:00Z"), _block("2026-01-01T12:59:59Z"), True),
        # anything else changed
        (
            _block("2026-01-01T13:00:00Z"),
            _block("2026-01-01T13:00:00Z", activityUnknown=True),
            True,
        ),
        (_block("2026-01-01T13:00:00Z"), _block(None), True),
    ],
)
def test_status_needs_write(stored: dict | None, desired: dict, want: bool) -> None:
    granularity = culling.write_granularity(CullPolicy(idle_timeout=3600))
    assert granularity == 300
    assert culling.status_needs_write(stored, desired, granularity) is want


STOPPED = Verdict(Phase.STOPPED, Reason.STOPPED, MSG_STOPPED)


@pytest.mark.parametrize(
    ("annotation", "attempt", "verdict", "want_reason"),
    [
        (None, 3, STOPPED, Reason.STOPPED),
        (
            culling.stop_annotation(Cull(Reason.CULLED, "Culled: idle"), 3),
            3,
            STOPPED,
            Reason.CULLED,
        ),
        # an earlier attempt's cull: this stop is the user's
        (
            culling.stop_annotation(Cull(Reason.CULLED, "Culled: idle"), 2),
            3,
            STOPPED,
            Reason.STOPPED,
        ),
        (
            culling.stop_annotation(Cull(Reason.LIFETIME_EXCEEDED, "Stopped after"), 3),
            3,
            STOPPED,
            Reason.LIFETIME_EXCEEDED,
        ),
        # not a stop: left alone
        (
            culling.stop_annotation(Cull(Reason.CULLED, "x"), 3),
            3,
            Verdict(Phase.ACTIVE, Reason.READY, ""),
            Reason.READY,
        ),
        # set by hand: ignored unless it parses to one of the two reasons
        ("not json", 3, STOPPED, Reason.STOPPED),
        (
            json.dumps({"reason": "Stopped", "message": "x", "attempt": 3}),
            3,
            STOPPED,
            Reason.STOPPED,
        ),
        (json.dumps({"reason": "Culled", "message": "", "attempt": 3}), 3, STOPPED, Reason.STOPPED),
    ],
)
def test_stopped_verdict(
    annotation: str | None, attempt: int, verdict: Verdict, want_reason: Reason
) -> None:
    got = culling.stopped_verdict(annotation, attempt, verdict)
    assert got.reason == want_reason
    if want_reason in culling.CULL_REASONS:
        assert got.phase == Phase.STOPPED and got.message == json.loads(annotation)["message"]


# ---------------------------------------------------------------- what the plugin shows


def _jc(phase: str, reason: str = "Ready", **culling_block: object) -> dict[str, object]:
    status: dict[str, object] = {"phase": phase, "reason": reason}
    if culling_block:
        status["culling"] = culling_block
    return {"metadata": {"name": "a"}, "status": status}


@pytest.mark.parametrize(
    ("jc", "want"),
    [
        (_jc("Active"), None),
        (
            _jc("Active", cullAt="2026-01-01T12:12:00Z", cullReason="Culled"),
            "culled in 12m if idle",
        ),
        (
            _jc("Active", cullAt="2026-01-01T15:00:00Z", cullReason="LifetimeExceeded"),
            "stops in 3h: maximum lifetime",
        ),
        (_jc("Active", cullAt="2026-01-01T11:59:00Z", cullReason="Culled"), "culled in 0s if idle"),
    ],
)
def test_plugin_time_left(jc: dict, want: str | None) -> None:
    from jupyter_containers.cli import render

    assert render.culling_left(jc, T0) == want


def test_plugin_details_row_and_list_badge() -> None:
    from jupyter_containers.cli import render

    jc = _jc(
        "Active",
        idleTimeout="30m",
        maxLifetime="8h",
        cullAt="2026-01-01T12:20:00Z",
        cullReason="Culled",
        lastActivity="2026-01-01T11:50:00Z",
        activityUnknown=True,
    )
    assert render.culling_text(jc, T0) == (
        "idle timeout 30m, maximum lifetime 8h; culled in 20m if idle; last activity 10 minutes "
        "ago; JupyterLab does not answer the activity probe: not culled as idle"
    )
    assert render.culling_text(_jc("Active"), T0) is None
    assert render.status_cell(_jc("Stopped", "Culled")).plain == "Stopped (Culled)"
    assert render.status_cell(_jc("Stopped", "Stopped")).plain == "Stopped"


def test_console_summary() -> None:
    active = {
        "phase": "Active",
        "culling": {
            "idleTimeout": "30m",
            "cullAt": "2026-01-01T12:20:00Z",
            "cullReason": "Culled",
            "lastActivity": "2026-01-01T11:50:00Z",
        },
    }
    assert culling.summary(active) == (
        "idle timeout 30m; stopped at 2026-01-01T12:20:00Z (if idle until then); "
        "latest activity 2026-01-01T11:50:00Z"
    )
    culled = {"phase": "Stopped", "reason": "Culled", "message": "Culled: idle for 31m"}
    assert culling.summary(culled) == "Culled: idle for 31m"
    assert culling.summary({"phase": "Stopped", "reason": "Stopped"}) is None
    assert culling.summary({"phase": "Active"}) is None


def test_console_details_and_live_fields_carry_the_culling_line() -> None:
    from jupyter_containers.console import views

    jc = {
        "metadata": {"name": "a", "namespace": "team", "uid": "u"},
        "spec": {"bundle": "b"},
        "status": {"phase": "Stopped", "reason": "LifetimeExceeded", "message": "Stopped after"},
    }
    assert views.details(jc, T0).culling == "Stopped after"
    assert views.live_fields(jc)["culling"] == "Stopped after"
    jc["status"] = {"phase": "Active"}
    assert views.details(jc, T0).culling is None and views.live_fields(jc)["culling"] == ""
