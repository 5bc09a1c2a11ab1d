"""The console's forms and dialogs: the webhook's duplicate-name refusal on the Name field,
configure's data-loss warnings in the manual's words, keyboard-only use with a label on every
input, and markup in user-controlled text shown as text."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from jupyter_containers.api import rules
from tests.console.conftest import ConsoleServer, SignIn, shot
from tests.console.test_console import (
    XSS,
    error_of,
    fill_general,
    make,
    open_list,
    row,
    tab,
    wait_phase,
)

__all__ = ["make"]

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

#: The manual, "Changing the Namespace" and "Changing the Volume" (configure's warnings).
NAMESPACE_WARNING = (
    "If you attached an On Demand PVC volume, the old PVC is deleted and a new one is created "
    "in the new namespace. Notebooks saved to Git or external file systems are unaffected, but "
    "any unsaved data in the container is lost permanently."
)
VOLUME_WARNING = (
    "For On Demand PVC volumes, the old PVC is deleted and a new one is created. Back up any "
    "important data before making this change."
)


@pytest.fixture
def away(cluster: Any, domain: str) -> Iterator[str]:
    """A second namespace open to the domain, where alice may create pods."""
    name = f"{domain}-ns-{uuid.uuid4().hex[:4]}"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, f"jupytercontainers.io/deployable={domain}")
    cluster.kubectl("create", "role", "pods", "-n", name, "--verb=create", "--resource=pods")
    cluster.kubectl(
        "create", "rolebinding", "pods-alice", "-n", name, "--role=pods", "--user=alice"
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


# ---------------------------------------------------------------- the webhook's words


def test_create_refused_by_the_webhook_for_a_taken_name_shows_it_on_the_name_field(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    """Next found the name free; someone takes it before Create: the webhook's refusal (not
    the console's own check) is shown on the Name field, in the manual's words."""
    alice = sign_in("alice")
    alice.goto(f"{console.url}/containers/new")
    fill_general(alice, "race")
    for _ in range(3):
        alice.get_by_role("button", name="Next").click()
    alice.get_by_role("button", name="Previous").click()
    expect(tab(alice, "Tags")).to_have_attribute("aria-selected", "true")
    alice.get_by_role("button", name="Next").click()
    expect(alice.locator("#review").get_by_role("heading", name="Resource Summary")).to_be_visible()
    make("race", running=False)
    alice.get_by_role("button", name="Create").click()
    # The form goes to the first tab with an error, its field focused, the message on it.
    expect(tab(alice, "General")).to_have_attribute("aria-selected", "true")
    expect(error_of(alice, "name")).to_have_text(rules.MSG_DUPLICATE_NAME)
    expect(error_of(alice, "name")).to_be_visible()
    expect(tab(alice, "General").locator(".tab-error")).to_be_visible()
    name = alice.get_by_role("textbox", name="Name", exact=True)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_be_focused()
    shot(alice, "create-duplicate-name-webhook")
    cluster.kubectl("delete", "jc", "race", "-n", domain, "--wait=false")


# ---------------------------------------------------------------- configure's warnings


def test_configure_warns_of_data_loss_on_a_namespace_or_volume_change(
    sign_in: SignIn,
    console: ConsoleServer,
    make: Callable[..., None],
    cluster: Any,
    domain: str,
    away: str,
) -> None:
    make("moving", running=False, volume="test-home")
    wait_phase(cluster, domain, "moving", "Stopped")
    alice = sign_in("alice")
    alice.goto(f"{console.url}/domains/{domain}/containers/moving/configure")
    namespace_warning, volume_warning = (
        alice.locator("#namespace-warning"),
        alice.locator("#volume-warning"),
    )
    expect(namespace_warning).to_be_hidden()
    expect(volume_warning).to_be_hidden()

    # Only namespaces available to alice: the domain and the one open to it where she may
    # create pods (not, e.g., kube-system).
    offered = alice.get_by_label("Namespace").locator("option").all_inner_texts()
    assert domain in offered and away in offered and "kube-system" not in offered
    alice.get_by_label("Namespace").select_option(away)
    expect(namespace_warning).to_be_visible()
    expect(namespace_warning).to_have_attribute("role", "alert")
    expect(namespace_warning).to_contain_text(NAMESPACE_WARNING)
    shot(alice, "configure-namespace-warning")
    alice.get_by_label("Namespace").select_option(domain)
    expect(namespace_warning).to_be_hidden()

    alice.get_by_label("Volume").select_option("")
    expect(volume_warning).to_be_visible()
    expect(volume_warning).to_contain_text(VOLUME_WARNING)
    alice.get_by_label("Volume").select_option("test-home")
    expect(volume_warning).to_be_hidden()
    alice.get_by_label("Volume").select_option("test-nfs")
    expect(volume_warning).to_be_visible()
    shot(alice, "configure-volume-warning")

    # Both changed: both warnings, and the webhook's own data-loss warning at Review & Save.
    alice.get_by_label("Namespace").select_option(away)
    expect(namespace_warning).to_be_visible()
    tab(alice, "Review & Save").click()
    expect(alice.locator("#review .admission-warning").first).to_contain_text("Data loss")
    cluster.kubectl("delete", "jc", "moving", "-n", domain, "--wait=false")


# ---------------------------------------------------------------- keyboard and labels


def focused(page: Any) -> str:
    """The focused element, described: tag, id, role, accessible text."""
    return str(
        page.evaluate(
            "() => { const e = document.activeElement; return [e.tagName, e.id,"
            " e.getAttribute('role') || '', (e.getAttribute('aria-label') || e.textContent"
            " || '').trim().slice(0, 60)].join('|'); }"
        )
    )


def tab_to(page: Any, pattern: str, *, limit: int = 80, back: bool = False) -> None:
    """Press Tab (Shift+Tab) until the focused element matches `pattern` (see `focused`)."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        now = focused(page)
        if re.search(pattern, now):
            return
        seen.append(now)
    raise AssertionError(f"{pattern!r} not reached with the keyboard; focus went: {seen}")


UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter((e) => e.type !== 'hidden')
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                 && !e.getAttribute('aria-labelledby'))
  .map((e) => e.outerHTML.slice(0, 120))"""


def assert_every_input_labelled(page: Any) -> None:
    assert page.evaluate(UNLABELLED) == []


def test_a_confirmation_answers_only_for_its_own_opening(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    """A dialog's close event is queued: a close left over from the previous opening must not
    answer the next question (a CI run's Terminate was never sent); and Escape after an "ok"
    answers no."""
    make("asked")
    wait_phase(cluster, domain, "asked", "Active")
    alice = sign_in("alice")
    open_list(alice, console)
    asked = row(alice, domain, "asked")
    expect(asked.locator(".badge")).to_have_text("Active")
    # Closed, then asked again in the same task: the first close event arrives while the
    # Terminate question is open, and is not its answer.
    alice.evaluate(
        """(key) => {
            const dialog = document.getElementById("confirm");
            dialog.showModal();
            dialog.close();
            document.querySelector(`tr[data-container="${key}"] [data-action=terminate]`).click();
        }""",
        f"{domain}/asked",
    )
    expect(alice.locator("#confirm")).to_be_visible()
    alice.get_by_role("button", name="Yes, terminate it").click()
    expect(asked.locator(".badge")).to_have_text("Stopped", timeout=30_000)
    # The last answer was "ok"; Escape on Delete's question must not be taken for it.
    asked.get_by_text("Actions").click()
    asked.get_by_role("menuitem", name="Delete").click()
    expect(alice.get_by_role("button", name="Yes, delete it")).to_be_focused()
    alice.keyboard.press("Escape")
    expect(alice.locator("#confirm")).to_be_hidden()
    # A later action: a Delete the Escape had confirmed would have been sent before it.
    if asked.locator("details.menu").get_attribute("open") is None:
        asked.get_by_text("Actions").click()
    asked.get_by_role("menuitem", name="Start").click()
    expect(alice.locator("#toast")).to_contain_text("Starting 'asked'")
    found = cluster.kubectl("get", "jc", "asked", "-n", domain, "-o", "json")
    assert "deletionTimestamp" not in json.loads(found.stdout)["metadata"]
    expect(asked).to_have_count(1)


def test_keyboard_only_create_tabs_actions_and_confirmations(
    sign_in: SignIn, console: ConsoleServer, cluster: Any, domain: str, webhooks: None
) -> None:
    alice = sign_in("alice")
    open_list(alice, console)
    nav = alice.get_by_role("navigation", name="Engine")
    expect(nav.get_by_role("link", name="Jupyter Containers")).to_be_visible()
    assert_every_input_labelled(alice)

    # The create form: reached, filled and submitted with the keyboard only.
    tab_to(alice, r"^A\|\|\|New Jupyter Container")
    alice.keyboard.press("Enter")
    expect(alice.get_by_role("heading", name="New Jupyter Container")).to_be_visible()
    tab_to(alice, r"\|f-name\|")
    alice.keyboard.type("keys")
    tab_to(alice, r"\|f-bundle\|")
    alice.keyboard.type("team")
    expect(alice.get_by_label("Resource bundle")).to_have_value("team")
    assert_every_input_labelled(alice)
    tab_to(alice, r"\|next\|")
    alice.keyboard.press("Enter")
    expect(tab(alice, "Configurations")).to_have_attribute("aria-selected", "true")
    # Rows added with the keyboard get labels too.
    tab_to(alice, r"\|add-env\|")
    alice.keyboard.press("Enter")
    expect(alice.get_by_label("Variable 1 name")).to_be_focused()
    alice.keyboard.type("GREETING")
    assert_every_input_labelled(alice)
    # The tabs: the selected one is in the Tab order, the arrow keys move between them.
    tab_to(alice, r"\|tab-2\|tab\|", back=True)
    alice.keyboard.press("ArrowRight")
    expect(tab(alice, "Tags")).to_have_attribute("aria-selected", "true")
    expect(tab(alice, "Tags")).to_be_focused()
    tab_to(alice, r"\|add-tag\|")
    alice.keyboard.press("Enter")
    alice.keyboard.type("project")
    assert_every_input_labelled(alice)
    tab_to(alice, r"\|tab-3\|tab\|", back=True)
    alice.keyboard.press("ArrowRight")
    expect(tab(alice, "Review & Create")).to_be_focused()
    review = alice.locator("#review")
    expect(review.get_by_role("heading", name="Resource Summary")).to_be_visible()
    expect(review).to_contain_text("GREETING=")
    expect(review).to_contain_text("project=")
    tab_to(alice, r"\|submit\|")
    alice.keyboard.press("Enter")
    alice.wait_for_url(re.compile(f"/domains/{domain}/containers/keys$"))
    expect(alice.locator("#detail .badge")).to_have_text("Active", timeout=60_000)
    shot(alice, "keyboard-detail")

    # The detail page's tabs are links: Enter opens each; the Logs tab's inputs are labelled.
    tab_to(alice, r"\|tab-logs\|tab\|")
    alice.keyboard.press("Enter")
    alice.wait_for_url(re.compile(r"\?tab=logs$"))
    assert_every_input_labelled(alice)
    tab_to(alice, r"\|tab-details\|tab\|", back=True)
    alice.keyboard.press("Enter")
    alice.wait_for_url(re.compile(r"\?tab=details$"))

    # Terminate's confirmation: focus on "Yes, terminate it"; Escape cancels, Enter confirms.
    tab_to(alice, r"^BUTTON\|\|\|Terminate")
    alice.keyboard.press("Enter")
    dialog = alice.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(alice.get_by_role("button", name="Yes, terminate it")).to_be_focused()
    alice.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(alice.locator("#detail .badge")).to_have_text("Active")
    alice.keyboard.press("Enter")  # focus is back on Terminate
    expect(alice.get_by_role("button", name="Yes, terminate it")).to_be_focused()
    alice.keyboard.press("Enter")
    expect(alice.locator("#detail .badge")).to_have_text("Stopped", timeout=30_000)

    # The list's actions menu: opened, walked and used with the keyboard; Delete's dialog
    # cancelled with Shift+Tab to Cancel, then confirmed.
    open_list(alice, console)
    tab_to(alice, r"^SUMMARY\|\|\|Actions for keys$")
    alice.keyboard.press("Enter")
    menu = row(alice, domain, "keys").locator("details.menu")
    expect(menu).to_have_attribute("open", "")
    tab_to(alice, r"menuitem\|Delete$")
    alice.keyboard.press("Enter")
    expect(alice.get_by_role("button", name="Yes, delete it")).to_be_focused()
    alice.keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    alice.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(row(alice, domain, "keys")).to_be_visible()
    # Focus is back on Delete (the dialog returns it where it was).
    expect(menu.get_by_role("menuitem", name="Delete")).to_be_focused()
    alice.keyboard.press("Enter")
    expect(alice.get_by_role("button", name="Yes, delete it")).to_be_focused()
    alice.keyboard.press("Enter")
    expect(row(alice, domain, "keys")).to_have_count(0, timeout=30_000)


# ---------------------------------------------------------------- markup stays text


def test_markup_in_names_search_and_env_values_is_text(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    """Tags, event messages and the review's env values: test_console.py. Here: a name typed
    into the form, the list's search, an env value inside the configure page's data."""
    breakout = "</script>" + XSS
    make("marked", running=False, env=[{"name": "GREETING", "value": breakout}])
    wait_phase(cluster, domain, "marked", "Stopped")
    alice = sign_in("alice")

    alice.goto(f"{console.url}/domains/{domain}/containers/marked/configure")
    tab(alice, "Configurations").click()
    expect(alice.get_by_label("Variable 1 value")).to_have_value(breakout)
    assert alice.locator("img").count() == 0

    open_list(alice, console, "?search=" + XSS.replace(" ", "+").replace('"', "%22"))
    expect(alice.get_by_label("Search")).to_have_value(XSS)
    expect(alice.get_by_text("No Jupyter containers match.")).to_be_visible()
    assert alice.locator("img").count() == 0

    alice.goto(f"{console.url}/containers/new")
    alice.get_by_role("textbox", name="Name", exact=True).fill(XSS)
    alice.get_by_role("button", name="Next").click()
    expect(error_of(alice, "name")).to_contain_text("Name must")
    assert alice.locator("img").count() == 0
    assert alice.evaluate("window.__pwned") is None

    # Delete from the detail page's More actions ("Yes, delete it"), then back to the list.
    alice.goto(f"{console.url}/domains/{domain}/containers/marked")
    alice.get_by_text("More actions").click()
    alice.locator("#detail").get_by_role("menuitem", name="Delete").click()
    expect(alice.locator("#confirm")).to_contain_text("This action cannot be undone.")
    alice.get_by_role("button", name="Yes, delete it").click()
    alice.wait_for_url(f"{console.url}/containers")
    cluster.kubectl("wait", "--for=delete", "jc/marked", "-n", domain, "--timeout=30s", check=False)
    assert cluster.kubectl("get", "jc", "marked", "-n", domain, check=False).returncode != 0
