"""The console's view models and identity rules: objects in, page data out (no cluster)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jupyter_containers.api import rules
from jupyter_containers.cli.errors import UsageError
from jupyter_containers.cli.selection import View
from jupyter_containers.console import identity, views
from jupyter_containers.console.config import ConsoleSettings, Upstream
from jupyter_containers.console.proxy import upstream_url
from jupyter_containers.core.validation import Identity

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ALICE = Identity("alice")
CAROL = Identity("carol", frozenset({"team"}))


def jc(
    name: str,
    *,
    domain: str = "d1",
    creator: str = "alice",
    phase: str | None = "Active",
    message: str | None = None,
    bundle: str = "team",
    **spec: Any,
) -> dict[str, Any]:
    status: dict[str, Any] = {"createdBy": creator}
    if phase:
        status["phase"] = phase
    if message:
        status["message"] = message
    return {
        "metadata": {
            "name": name,
            "namespace": domain,
            "uid": f"uid-{name}",
            "creationTimestamp": (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": {"bundle": bundle, **spec},
        "status": status,
    }


BUNDLES = {
    ("d1", "team"): {
        "spec": {"owner": "alice", "grants": [{"users": ["carol"], "permissions": ["view"]}]}
    },
    ("d1", "private"): {"spec": {"owner": "alice"}},
}


@pytest.mark.parametrize(
    ("phase", "start", "terminate", "configure"),
    [
        ("Starting", False, True, False),
        ("Active", False, True, False),
        ("Stopped", True, False, True),
        ("Failed", True, False, True),
    ],
)
def test_row_actions_follow_the_manual(
    phase: str, start: bool, terminate: bool, configure: bool
) -> None:
    row = views.row(jc("nb", phase=phase))
    assert (row.can_start, row.can_terminate, row.can_configure) == (start, terminate, configure)


def test_row_error_only_for_failed() -> None:
    assert (
        views.row(jc("a", phase="Failed", message="CrashLoopBackOff")).error == "CrashLoopBackOff"
    )
    assert views.row(jc("b", phase="Starting", message="Deploying")).error is None


def test_row_without_status_is_starting_or_stopped() -> None:
    fresh = jc("a", phase=None)
    assert views.row(fresh).phase == "Starting"
    assert views.row({**fresh, "spec": {"bundle": "x", "running": False}}).phase == "Stopped"


@pytest.mark.parametrize(
    ("who", "view", "expected"),
    [
        (ALICE, View.MINE, ["mine1", "mine2"]),
        (ALICE, View.SHARED, ["carols"]),  # carol created it in the bundle alice owns
        (CAROL, View.MINE, ["carols"]),
        (CAROL, View.SHARED, ["mine1"]),  # only the bundle that grants carol access
    ],
)
def test_list_views(who: Identity, view: View, expected: list[str]) -> None:
    items = [
        jc("mine1"),
        jc("mine2", bundle="private"),
        jc("carols", creator="carol", bundle="team"),
    ]
    page = views.list_page(items, BUNDLES, who, views.Filters(view=view), size=20)
    assert [r.name for r in page.rows] == expected


def test_filters_and_pagination() -> None:
    items = [jc(f"nb-{i:02d}", phase="Stopped" if i % 2 else "Active") for i in range(25)]
    filters = views.Filters.from_query({"status": "Stopped", "search": "NB-1", "page": "1"})
    page = views.list_page(items, BUNDLES, ALICE, filters, size=3)
    assert [r.name for r in page.rows] == ["nb-11", "nb-13", "nb-15"]
    assert (page.number, page.pages, page.total, page.first, page.last) == (1, 2, 5, 1, 3)
    assert views.list_page(items, BUNDLES, ALICE, views.Filters(page=9), size=10).number == 3
    assert page.empty_text == "No Jupyter containers match."


def test_filter_query_round_trip() -> None:
    filters = views.Filters.from_query({"view": "shared", "status": "Bogus", "page": "x"})
    assert filters.view is View.SHARED and filters.status == "" and filters.page == 1
    assert filters.query(page=2) == "view=shared&page=2"
    assert views.Filters().query(view="mine", page=1) == "view=mine"


def test_details() -> None:
    d = views.details(jc("nb", phase="Failed", message="OOMKilled", tags={"b": "2", "a": "1"}), NOW)
    assert d.volume == "No volume"
    assert d.created_by == "alice" and d.created_ago == "5 minutes ago"
    assert d.tags == [("a", "1"), ("b", "2")] and d.message == "OOMKilled"
    assert views.details(jc("nb"), NOW).tags == []


def test_events_badge_counts_warnings_of_total() -> None:
    events = [
        {
            "type": "Warning",
            "reason": "BackOff",
            "message": "<b>x</b>",
            "lastTimestamp": "2026-01-01T11:59:00Z",
            "involvedObject": {"kind": "Pod", "name": "p"},
        },
        {"type": "Normal", "reason": "Pulled", "lastTimestamp": "2026-01-01T11:58:00Z", "count": 3},
        {"reason": "Scheduled", "lastTimestamp": "2026-01-01T11:57:00Z"},
    ]
    view = views.events_view(events, NOW)
    assert view.badge == "1/3"
    assert [r.reason for r in view.rows] == ["BackOff", "Pulled", "Scheduled"]
    assert view.rows[0].message == "<b>x</b>"  # text; the template escapes it
    assert view.rows[1].count == 3 and view.rows[2].type == "Normal"


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (rules.MSG_DUPLICATE_NAME, ["name"]),
        (f"metadata.name: {rules.MSG_DUPLICATE_NAME}", ["name"]),
        (rules.MSG_NAME_LENGTH, ["name"]),
        (rules.MSG_INVALID_VOLUME_TYPE, ["volume"]),
        (
            "Quota exceeded in namespace 'x': requested.cpu 4 > 1. To fix it, a or b.",
            ["instanceType", "volume"],
        ),
        ("spec.bundle: alice may not create containers in ResourceBundle 'x'", ["bundle"]),
        ("spec.namespace: 'x' is not open to domain 'y'", ["namespace"]),
        ("spec.env: 'RESTARTABLE' is set by the platform", ["env"]),
        ("spec.args: '--port=1' sets --port", ["args"]),
        ("spec.tags: key 'x'", ["tags"]),
        ("InstanceType 'nope' does not exist", ["instanceType"]),
        (rules.MSG_STOP_BEFORE_CONFIGURING, ["form"]),
        ("something else", ["form"]),
    ],
)
def test_field_of(message: str, fields: list[str]) -> None:
    assert views.field_of(message) == fields


def test_tabs_with_errors() -> None:
    errors = views.field_errors([rules.MSG_DUPLICATE_NAME, "spec.tags: bad", "spec.tags: bad"])
    assert errors == {"name": [rules.MSG_DUPLICATE_NAME], "tags": ["spec.tags: bad"]}
    assert views.tabs_with_errors(errors) == ["General", "Tags"]


def test_the_webhooks_duplicate_name_refusal_shows_the_manuals_words_on_the_name_field() -> None:
    errors = views.field_errors([f"metadata.name: {rules.MSG_DUPLICATE_NAME}"])
    assert errors == {"name": [rules.MSG_DUPLICATE_NAME]}


def test_form_to_spec() -> None:
    form = views.Form.from_json(
        {
            "name": " nb ",
            "bundle": "team",
            "namespace": "d1",
            "instanceType": "small",
            "volume": "",
            "env": [
                {"name": "A", "kind": "plain", "value": "<script>"},
                {"name": "B", "kind": "secret", "secret": "s", "key": "k"},
                {"name": "", "value": ""},
            ],
            "args": "--a=1\n\n --b \n",
            "tags": [{"key": "team", "value": "x"}, {"key": "", "value": ""}],
        }
    )
    assert form.name == "nb"
    assert form.spec() == {
        "bundle": "team",
        "namespace": "d1",
        "instanceType": "small",
        "env": [
            {"name": "A", "value": "<script>"},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        "args": ["--a=1", "--b"],
        "tags": {"team": "x"},
    }


def test_form_errors_name_their_field() -> None:
    form = views.Form.from_json(
        {
            "env": [{"value": "v"}, {"name": "S", "kind": "secret", "secret": "s"}],
            "tags": [{"value": "v"}],
        }
    )
    with pytest.raises(views.FormError) as err:
        form.spec()
    assert set(err.value.errors) == {"env", "tags"}
    assert len(err.value.errors["env"]) == 2


def test_form_of_round_trips_through_spec() -> None:
    obj = jc(
        "nb",
        namespace="d1",
        instanceType="small",
        volume="home",
        env=[
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        args=["--x"],
        tags={"t": "v"},
    )
    values = views.form_of(obj)
    assert values["env"][1] == {"name": "B", "kind": "secret", "secret": "s", "key": "k"}
    spec = views.Form.from_json(values).spec()
    assert spec == {k: v for k, v in obj["spec"].items()}


def test_form_ignores_wrong_types() -> None:
    form = views.Form.from_json(
        {"name": 3, "env": "x", "tags": [1, {"key": "k", "value": "v"}], "args": []}
    )
    assert form.name == "" and form.env == [] and form.args == ""
    assert form.tags == [{"key": "k", "value": "v"}]


# ---------------------------------------------------------------- identity


def settings(**values: Any) -> ConsoleSettings:
    return ConsoleSettings(**values)


def test_proxy_headers_only_from_trusted_peers() -> None:
    cfg = settings(
        trusted_proxies="10.0.0.0/24", proxy_user_header="X-User", proxy_groups_header="X-Groups"
    )
    headers = {"X-User": "dana", "X-Groups": "a, b"}
    trusted = identity.resolve(
        headers=headers, peer="10.0.0.7", cookie=None, settings=cfg, secret=b"s"
    )
    assert trusted == identity.Principal("dana", ("a", "b"), source="proxy")
    assert (
        identity.resolve(headers=headers, peer="10.0.1.7", cookie=None, settings=cfg, secret=b"s")
        is None
    )
    assert (
        identity.resolve(headers=headers, peer=None, cookie=None, settings=cfg, secret=b"s") is None
    )
    nobody = settings()
    assert (
        identity.resolve(
            headers=headers, peer="127.0.0.1", cookie=None, settings=nobody, secret=b"s"
        )
        is None
    )


def test_bearer_token_only_when_accepted() -> None:
    headers = {"Authorization": "Bearer abc"}
    assert (
        identity.resolve(headers=headers, peer=None, cookie=None, settings=settings(), secret=b"s")
        is None
    )
    found = identity.resolve(
        headers=headers,
        peer=None,
        cookie=None,
        settings=settings(accept_bearer_tokens=True),
        secret=b"s",
    )
    assert (
        found is not None
        and found.token == "abc"
        and "abc" not in found.key
        and "abc" not in repr(found)
    )


def test_dev_sign_in_needs_the_setting_and_a_signed_cookie() -> None:
    on = settings(dev_login=True, dev_users="alice,carol:team|x")
    carol = identity.dev_users(on)[1]
    assert carol == identity.Principal("carol", ("team", "x"))
    cookie = identity.sign(identity.session_value(carol), b"secret")
    assert (
        identity.resolve(headers={}, peer=None, cookie=cookie, settings=on, secret=b"secret")
        == carol
    )
    assert (
        identity.resolve(headers={}, peer=None, cookie=cookie, settings=on, secret=b"other") is None
    )
    off = settings(dev_login=False, dev_users="alice,carol:team|x")
    assert (
        identity.resolve(headers={}, peer=None, cookie=cookie, settings=off, secret=b"secret")
        is None
    )
    forged = identity.sign('{"u": "mallory"}', b"secret")
    assert (
        identity.resolve(headers={}, peer=None, cookie=forged, settings=on, secret=b"secret")
        is None
    )
    assert (
        identity.resolve(headers={}, peer=None, cookie="garbage", settings=on, secret=b"secret")
        is None
    )


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="JC_CONSOLE_TRUSTED_PROXIES"):
        settings(trusted_proxies="proxy.example")


# ---------------------------------------------------------------- proxy upstream


def test_upstream_from_endpoint_slices() -> None:
    slices = [
        {
            "ports": [{"port": 8888}],
            "endpoints": [
                {"addresses": ["10.1.0.4"], "conditions": {"ready": False}},
                {"addresses": ["10.1.0.5"], "conditions": {"ready": True}},
            ],
        }
    ]
    args = ("jc-nb", "d1", 8888)
    assert (
        upstream_url(Upstream.ENDPOINTS, *args, slices, "cluster.local") == "http://10.1.0.5:8888"
    )
    assert upstream_url(Upstream.ENDPOINTS, *args, [], "cluster.local") is None
    v6 = [{"ports": [], "endpoints": [{"addresses": ["fd00::5"]}]}]
    assert upstream_url(Upstream.ENDPOINTS, *args, v6, "c") == "http://[fd00::5]:8888"
    assert upstream_url(Upstream.SERVICE, *args, [], "cluster.local") == (
        "http://jc-nb.d1.svc.cluster.local:8888"
    )


# ---------------------------------------------------------------- the watch's fan-out


async def test_hub_fans_out_per_domain_and_snapshots_what_a_page_shows() -> None:
    from jupyter_containers.console.hub import Hub

    hub = Hub(config=None, domain_filter=lambda d: True)  # type: ignore[arg-type]
    hub.latest[("d1", "a")] = views.row(jc("a")).as_json()
    hub.latest[("d2", "b")] = views.row(jc("b", domain="d2")).as_json()
    async with hub.subscribe(frozenset({"d1"})) as mine, hub.subscribe(frozenset({"d2"})) as other:
        hub._publish({"type": "MODIFIED", "container": {"name": "a"}}, "d1")
        hub._set_up(False)
        assert mine.queue.get_nowait()["container"] == {"name": "a"}
        assert mine.queue.get_nowait() == {"type": "api", "up": False}
        assert other.queue.get_nowait() == {"type": "api", "up": False}
        assert other.queue.empty()
        shown = [("d1", "a"), ("d2", "b"), ("d1", "gone")]
        assert [m["container"]["name"] for m in hub.snapshot(shown, frozenset({"d1"}))] == ["a"]
    assert not hub.subscribers


async def test_a_subscriber_whose_queue_overflows_has_its_stream_ended() -> None:
    """Lost messages would leave a page showing an old state with nothing to correct it; an
    ended stream makes the browser reconnect, which sends the current state again."""
    from jupyter_containers.console.hub import Hub
    from jupyter_containers.console.server import _relay

    hub = Hub(config=None, domain_filter=lambda d: True)  # type: ignore[arg-type]
    written: list[bytes] = []

    class Response:
        async def write(self, data: bytes) -> None:
            written.append(data)

    async with hub.subscribe(frozenset({"d1"})) as sub:
        for n in range(sub.queue.maxsize):
            hub._publish({"type": "MODIFIED", "container": {"name": f"c{n}", "domain": "d1"}})
        assert not sub.lagged
        hub._publish({"type": "MODIFIED", "container": {"name": "last", "domain": "d1"}})
        assert sub.lagged
        relay = _relay(Response(), hub, sub, frozenset({"d1"}), [])  # type: ignore[arg-type]
        await asyncio.wait_for(relay, timeout=5)
    assert written == []


@pytest.mark.parametrize(
    ("rows", "env", "errors"),
    [
        ([], [], []),
        ([{"name": "", "value": ""}], [], []),  # an empty row is skipped
        ([{"name": " A ", "value": "1"}], [{"name": "A", "value": "1"}], []),
        (
            [{"name": "K", "kind": "secret", "secret": " s ", "key": " k "}],
            [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            [],
        ),
        ([{"name": "", "value": "x"}], [], ["spec.env: variable 1 needs a name."]),
        (
            [{"name": "A", "value": "1"}, {"name": "K", "kind": "secret", "secret": "s"}],
            [{"name": "A", "value": "1"}],
            ["spec.env: 'K' is secret-backed: give the Secret's name and key."],
        ),
    ],
)
def test_env_spec(rows: list[dict[str, str]], env: list[dict[str, Any]], errors: list[str]) -> None:
    assert views.env_spec(rows) == (env, errors)


@pytest.mark.parametrize(
    ("rows", "tags", "errors"),
    [
        ([], {}, []),
        ([{"key": "", "value": ""}], {}, []),
        ([{"key": " a ", "value": "<b>"}], {"a": "<b>"}, []),
        ([{"key": "", "value": "x"}], {}, ["spec.tags: every tag needs a key."]),
    ],
)
def test_tags_spec(rows: list[dict[str, str]], tags: dict[str, str], errors: list[str]) -> None:
    assert views.tags_spec(rows) == (tags, errors)


def test_live_fields_carry_what_the_details_show() -> None:
    obj = jc("nb", phase="Failed", message="OOMKilled", volume="home", tags={"b": "2", "a": "1"})
    live = views.live_fields(obj)
    details = views.details(obj, NOW)
    assert live["error"] == details.message == "OOMKilled"
    assert (live["bundle"], live["volume"], live["namespace"], live["instance"]) == (
        details.bundle,
        details.volume,
        details.row.namespace,
        details.row.instance,
    )
    assert live["tags"] == [["a", "1"], ["b", "2"]] == [list(t) for t in details.tags]
    assert views.live_fields(jc("nb"))["tags"] == []


def test_configured_keeps_bundle_and_running_and_takes_the_forms_image() -> None:
    current = jc("nb", phase="Stopped", running=False, image="lab", volume="home")
    form = views.Form.from_json(
        {"name": "nb", "bundle": "other", "namespace": "d2", "instanceType": "big", "volume": ""}
    )
    obj = views.configured(current, form)
    assert obj["metadata"] == current["metadata"]
    assert obj["spec"] == {
        "bundle": "team",
        "running": False,
        "namespace": "d2",
        "instanceType": "big",
    }
    picked = views.configured(current, views.Form.from_json({"name": "nb", "image": "scipy"}))
    assert picked["spec"]["image"] == "scipy"
    assert current["spec"]["volume"] == "home"  # the object read is left as it was


@pytest.mark.parametrize(
    ("seen", "generation", "conflict"), [(None, 3, False), (3, 3, False), (2, 3, True)]
)
def test_changed_meanwhile(seen: int | None, generation: int, conflict: bool) -> None:
    current = {"metadata": {"name": "nb", "generation": generation}}
    message = views.changed_meanwhile("nb", seen, current)
    assert (message is not None) == conflict
    if conflict:
        assert message == (
            "Jupyter container 'nb' was changed by someone else meanwhile. "
            "Reload the page to see the new configuration."
        )


def test_log_query() -> None:
    params, until = views.log_query({"since": "5m", "follow": "1"}, NOW)
    assert params["follow"] == "true" and params["sinceSeconds"] == 300 and until is None
    params, until = views.log_query(
        {"follow": "1", "download": "1", "until": "2026-01-01T11:00:00Z"}, NOW
    )
    assert "follow" not in params  # a download ends
    assert until == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    with pytest.raises(UsageError, match="until"):
        views.log_query({"until": "soon"}, NOW)


@pytest.mark.parametrize(
    ("named", "pods", "chosen"),
    [
        ("p2", ["p1", "p2"], "p2"),
        ("gone", ["p1", "p2"], "p1"),
        (None, ["p1"], "p1"),
        ("p", [], None),
    ],
)
def test_log_pod(named: str | None, pods: list[str], chosen: str | None) -> None:
    obj = {"status": {"podName": named}} if named else {}
    assert views.log_pod(obj, pods) == chosen


def test_upstream_headers_carry_the_token_and_none_of_the_users_credentials() -> None:
    from jupyter_containers.console.proxy import upstream_headers

    incoming = {
        "Accept": "text/html",
        "cookie": "jc_console_dev_user=x",
        "Authorization": "Bearer user-token",
        "Connection": "keep-alive",
        "Host": "console",
        "X-XSRFToken": "abc",
    }
    assert upstream_headers(incoming, "t0k") == {
        "Accept": "text/html",
        "X-XSRFToken": "abc",
        "Authorization": "token t0k",
    }
