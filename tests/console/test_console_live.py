"""The console's live page: the detail page's Details follow the event stream, and a lost
stream (the console restarted under the browser) reconnects without a reload."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.console.conftest import ConsoleServer, shot
from tests.console.test_console import (
    assert_same_document,
    make,
    no_reload_marker,
    open_list,
    row,
    wait_phase,
)

__all__ = ["make"]

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

SCENARIO = "sim.jupytercontainers.io/scenario"  # tests.cluster.conftest.scenario's tag


@pytest.fixture
def away(cluster: Any, domain: str) -> Iterator[str]:
    """A second namespace open to the domain, where alice may create pods."""
    name = f"{domain}-away-{uuid.uuid4().hex[:4]}"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, f"jupytercontainers.io/deployable={domain}")
    cluster.kubectl(
        "create", "role", "pods", "-n", name, "--verb=create,get,list", "--resource=pods"
    )
    cluster.kubectl(
        "create", "rolebinding", "pods-alice", "-n", name, "--role=pods", "--user=alice"
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def restartable(cluster: Any, tmp_path: Path) -> Iterator[ConsoleServer]:
    """A console of its own, with a fixed session key: a restart keeps the browser signed in."""
    server = ConsoleServer(cluster, tmp_path)
    server.env["JC_CONSOLE_SESSION_SECRET"] = uuid.uuid4().hex
    server.start()
    yield server
    server.stop()


def sign_in_at(browser: Any, server: ConsoleServer, user: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.get_by_role("button", name=user, exact=True).click()
    page.wait_for_url(f"{server.url}/containers")
    return page


def patch(cluster: Any, domain: str, name: str, body: dict[str, Any]) -> None:
    cluster.kubectl("patch", "jc", name, "-n", domain, "--type", "merge", "-p", json.dumps(body))


def test_details_follow_the_stream_and_a_lost_stream_reconnects(
    browser: Any,
    restartable: ConsoleServer,
    make: Callable[..., None],
    cluster: Any,
    domain: str,
    away: str,
) -> None:
    make("live", running=False, volume="test-home", tags={"team": "a"})
    make("live-list", running=False)
    wait_phase(cluster, domain, "live", "Stopped")
    wait_phase(cluster, domain, "live-list", "Stopped")
    page = sign_in_at(browser, restartable, "alice")
    page.goto(f"{restartable.url}/domains/{domain}/containers/live")
    expect(page.locator("body[data-stream='open']")).to_have_count(1)
    no_reload_marker(page)
    details = page.locator("dl.details")
    expect(details.locator("[data-field='volume']")).to_have_text(re.compile("^test-home"))
    expect(details.locator("[data-field='namespace']")).to_have_text(domain)
    expect(details.locator("[data-field='created-by']")).to_have_text(
        re.compile(r"^alice, (just now|\d+ (second|minute)s? ago)$")
    )

    # Configured with kubectl (as an admin may): every Details field follows, no reload.
    patch(
        cluster,
        domain,
        "live",
        {
            "spec": {
                "instanceType": "test-gpu-only",
                "volume": None,
                "namespace": away,
                "tags": {"team": None, "stage": "<b>two</b>"},
            }
        },
    )
    expect(details.locator("[data-field='instance']")).to_contain_text("test-gpu-only")
    expect(details.locator("[data-field='volume']")).to_have_text("No volume")
    expect(details.locator("[data-field='namespace']")).to_have_text(away)
    expect(details.locator("[data-field='tags']")).to_have_text("stage=<b>two</b>")
    assert details.locator("[data-field='tags'] b").count() == 0
    patch(cluster, domain, "live", {"spec": {"tags": None}})
    expect(details.locator("[data-field='tags']")).to_be_hidden()
    expect(details.locator("[data-field='tags-label']")).to_be_hidden()
    patch(cluster, domain, "live", {"spec": {"tags": {"stage": "three"}}})
    expect(details.locator("[data-field='tags']")).to_have_text("stage=three")
    expect(page.locator("dl.details dt", has_text="Tags")).to_be_visible()
    assert_same_document(page)
    shot(page, "detail-live-details")

    # A failure's message appears below the badge, and goes with the next start.
    patch(
        cluster,
        domain,
        "live",
        {"spec": {"tags": {SCENARIO: "crashloop"}}},
    )
    patch(cluster, domain, "live", {"spec": {"running": True}})
    expect(page.locator("#detail .badge")).to_have_text("Failed", timeout=60_000)
    message = json.loads(cluster.kubectl("get", "jc", "live", "-n", domain, "-o", "json").stdout)[
        "status"
    ]["message"]
    expect(page.locator("[data-field='status-detail'] [data-field='error']")).to_have_text(message)
    patch(cluster, domain, "live", {"spec": {"running": False}})
    expect(page.locator("#detail .badge")).to_have_text("Stopped", timeout=30_000)
    expect(page.locator("[data-field='status-detail'] [data-field='error']")).to_have_count(0)
    assert_same_document(page)

    # The console restarts under the open pages: their streams reconnect by themselves and
    # the next change arrives without a reload, on the detail page and on the list.
    listing = page.context.new_page()
    listing.goto(f"{restartable.url}/containers")
    expect(listing.locator("body[data-stream='open']")).to_have_count(1)
    no_reload_marker(listing)
    restartable.stop()
    expect(page.locator("body[data-stream='reconnecting']")).to_have_count(1)
    patch(cluster, domain, "live", {"spec": {"tags": {SCENARIO: None, "stage": "while-away"}}})
    restartable.start()
    expect(page.locator("body[data-stream='open']")).to_have_count(1, timeout=30_000)
    expect(listing.locator("body[data-stream='open']")).to_have_count(1, timeout=30_000)
    # What changed while the console was away is sent on reconnect.
    expect(details.locator("[data-field='tags']")).to_have_text("stage=while-away")
    patch(cluster, domain, "live", {"spec": {"tags": {"stage": "four"}, "running": True}})
    patch(cluster, domain, "live-list", {"spec": {"running": True}})
    expect(page.locator("#detail .badge")).to_have_text(re.compile("Starting|Active|Failed"))
    expect(row(listing, domain, "live-list").locator(".badge")).to_have_text(
        re.compile("Starting|Active"), timeout=30_000
    )
    expect(details.locator("[data-field='tags']")).to_have_text("stage=four")
    assert_same_document(page)
    assert_same_document(listing)
    cluster.kubectl("delete", "jc", "-n", domain, "live", "live-list", "--wait=false")


def test_restart_without_a_session_key_signs_out(
    browser: Any, cluster: Any, tmp_path: Path, domain: str
) -> None:
    """The default (a random key per process), which the session key above is there to avoid:
    after a restart the old cookie is refused, never accepted as someone."""
    server = ConsoleServer(cluster, tmp_path)
    server.start()
    try:
        page = sign_in_at(browser, server, "alice")
        server.stop()
        server.start()
        page.goto(f"{server.url}/containers")
        page.wait_for_url(f"{server.url}/login")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        server.stop()


def test_a_change_sent_while_the_list_is_re_read_survives_the_fresh_table(
    sign_in: Callable[[str], Any],
    console: ConsoleServer,
    make: Callable[..., None],
    cluster: Any,
    domain: str,
) -> None:
    """The list re-reads its table when a container it does not show appears. The table is
    read at one moment and swapped in later; a change the stream sent in between must be on
    the fresh table, not overwritten by the older read (nothing else would correct it)."""
    make("reread-old", running=False)
    wait_phase(cluster, domain, "reread-old", "Stopped")
    page = sign_in("alice")
    open_list(page, console)
    expect(page.locator("body[data-stream='open']")).to_have_count(1)
    no_reload_marker(page)
    held: list[tuple[Any, Any]] = []
    # Only the re-read is held (the page itself is loaded): it is read now, answered later.
    page.route(f"{console.url}/containers", lambda route: held.append((route, route.fetch())))
    make("reread-new", running=False)
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the list did not re-read its table for a container it does not show"
    patch(cluster, domain, "reread-old", {"spec": {"running": True}})
    wait_phase(cluster, domain, "reread-old", "Active")
    badge = row(page, domain, "reread-old").locator(".badge")
    expect(badge).to_have_text("Active")  # the stream, on the table shown now
    route, response = held[0]
    route.fulfill(response=response)  # the table read while reread-old was Stopped
    expect(row(page, domain, "reread-new")).to_be_visible()
    # The swap and the replay of what came meanwhile are one step: no wait needed, or allowed.
    assert badge.inner_text().strip() == "Active"
    assert_same_document(page)
