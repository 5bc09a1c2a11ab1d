"""The web console in headless Chromium, as alice (owner), bob (no grant) and carol (grantee).

Against the session's cluster and the real operator: the pages of the manual with its words,
each refusal's message on the field it names, live status without a reload, logs and their
download, the events badge, escaping of user-controlled text, and an API-server outage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect

from jupyter_containers.api import rules
from tests.cluster.conftest import REPO, scenario
from tests.console.conftest import ConsoleServer, SignIn, shot

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

XSS = '<img src=x onerror="window.__pwned=1">'
LOG = (REPO / "tools" / "kwok" / "logs" / "jupyterlab.log").read_text().splitlines()


@pytest.fixture
def make(cluster: Any, domain: str, webhooks: None, catalog: None) -> Callable[..., None]:
    """A container created by `creator` (kubectl as that user), in bundle team by default."""

    def create(name: str, creator: str = "alice", **spec: Any) -> None:
        manifest = {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterContainer",
            "metadata": {"name": name},
            "spec": {"bundle": "team", "instanceType": "test-small", **spec},
        }
        cluster.kubectl(
            "apply", "-n", domain, "-f", "-", input=yaml.safe_dump(manifest), as_user=creator
        )

    return create


def wait_phase(cluster: Any, domain: str, name: str, phase: str, timeout: int = 60) -> None:
    result = cluster.kubectl(
        "wait",
        f"jupytercontainer/{name}",
        "-n",
        domain,
        f"--for=jsonpath={{.status.phase}}={phase}",
        f"--timeout={timeout}s",
        timeout=timeout + 10,
        check=False,
    )
    if result.returncode != 0:
        obj = cluster.kubectl("get", "jc", name, "-n", domain, "-o", "yaml", check=False)
        raise AssertionError(f"{name} did not become {phase} in {timeout}s:\n{obj.stdout}")


def no_reload_marker(page: Any) -> None:
    page.evaluate("window.__sameDocument = 'yes'")


def assert_same_document(page: Any) -> None:
    assert page.evaluate("window.__sameDocument") == "yes", "the page was reloaded"


def open_list(page: Any, console: ConsoleServer, query: str = "") -> None:
    page.goto(f"{console.url}/containers{query}")
    expect(page.get_by_role("heading", name="Jupyter Containers")).to_be_visible()


def row(page: Any, domain: str, name: str) -> Any:
    return page.locator(f"tr[data-container='{domain}/{name}']")


# ---------------------------------------------------------------- the list


def test_list_views_filters_and_escaping(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    make("list-a", tags={"note": XSS})
    make("list-b", running=False)
    make("carol-own", creator="carol", bundle="carols", running=False)
    wait_phase(cluster, domain, "list-a", "Active")
    wait_phase(cluster, domain, "list-b", "Stopped")

    alice = sign_in("alice")
    open_list(alice, console)
    expect(alice.get_by_role("link", name="My Jupyter Containers")).to_have_attribute(
        "aria-current", "page"
    )
    a = row(alice, domain, "list-a")
    expect(a.locator(".badge")).to_have_text("Active")
    expect(a).to_contain_text("Small (1 CPU, 2Gi)")  # Instance: CPU and memory
    expect(a).to_contain_text(domain)  # Namespace column: the deployment namespace
    uid = json.loads(cluster.kubectl("get", "jc", "list-a", "-n", domain, "-o", "json").stdout)[
        "metadata"
    ]["uid"]
    link = a.get_by_role("link", name="list-a")
    expect(link).to_have_attribute("title", f"ID: {uid}")
    link.hover()
    expect(a.locator(".hover-id .uid")).to_have_text(uid)
    expect(a.get_by_role("button", name="Copy ID of list-a")).to_be_visible()
    expect(row(alice, domain, "list-b").locator(".badge")).to_have_text("Stopped")
    expect(row(alice, domain, "carol-own")).to_have_count(0)  # carol's, not mine
    shot(alice, "list")

    # Filters: status, then name search, then namespace.
    alice.get_by_label("Status").select_option("Stopped")
    alice.get_by_role("button", name="Apply").click()
    expect(row(alice, domain, "list-b")).to_be_visible()
    expect(row(alice, domain, "list-a")).to_have_count(0)
    open_list(alice, console, "?search=LIST-A")
    expect(row(alice, domain, "list-a")).to_be_visible()
    expect(row(alice, domain, "list-b")).to_have_count(0)
    open_list(alice, console, "?namespace=nowhere")
    expect(alice.get_by_text("No Jupyter containers match.")).to_be_visible()

    # Shared with me: nothing of carol's is in a bundle granting alice anything.
    open_list(alice, console, "?view=shared")
    expect(row(alice, domain, "carol-own")).to_have_count(0)
    expect(row(alice, domain, "list-a")).to_have_count(0)

    carol = sign_in("carol")
    open_list(carol, console)
    expect(row(carol, domain, "carol-own")).to_be_visible()
    expect(row(carol, domain, "list-a")).to_have_count(0)
    carol.get_by_role("link", name="Shared with me").click()
    expect(row(carol, domain, "list-a")).to_be_visible()
    expect(row(carol, domain, "carol-own")).to_have_count(0)
    shot(carol, "list-shared-with-me")

    bob = sign_in("bob")
    open_list(bob, console, "?view=shared")
    expect(row(bob, domain, "list-a")).to_have_count(0)
    expect(bob.get_by_text("No Jupyter containers.")).to_be_visible()

    # The tag's markup is text on the detail page, never an element.
    alice.goto(f"{console.url}/domains/{domain}/containers/list-a")
    expect(alice.locator("[data-field='tags']")).to_have_text(f"note={XSS}")
    assert alice.locator("[data-field='tags'] img").count() == 0
    assert alice.evaluate("window.__pwned") is None


def test_pagination(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    for i in range(21):
        make(f"page-{i:02d}", running=False)
    alice = sign_in("alice")
    open_list(alice, console, "?search=page-")
    expect(alice.get_by_text("Page 1 of 2 (1-20 of 21)")).to_be_visible()
    alice.get_by_role("link", name="Next").click()
    expect(alice.get_by_text("Page 2 of 2 (21-21 of 21)")).to_be_visible()
    expect(row(alice, domain, "page-20")).to_be_visible()
    cluster.kubectl("delete", "jc", "-n", domain, *[f"page-{i:02d}" for i in range(21)])


# ---------------------------------------------------------------- create


def fill_general(page: Any, name: str, bundle: str = "team") -> None:
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_label("Resource bundle").select_option(bundle)


def tab(page: Any, name: str) -> Any:
    return page.get_by_role("tab", name=re.compile(f"^{re.escape(name)}"))


def error_of(page: Any, field: str) -> Any:
    return page.locator(f"[data-error-for='{field}']")


def test_create_form_validation_errors_and_create(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    make("taken", running=False)
    alice = sign_in("alice")
    alice.get_by_role("link", name="New Jupyter Container").click()
    expect(alice.get_by_role("heading", name="New Jupyter Container")).to_be_visible()
    for name in ("General", "Configurations", "Tags", "Review & Create"):
        expect(tab(alice, name)).to_be_visible()
    # The first available instance type is the default; only On Demand PVC and NFS volumes.
    expect(alice.get_by_label("Instance type")).to_have_value("test-small")
    volumes = alice.get_by_label("Volume").locator("option").all_inner_texts()
    assert any(v.startswith("test-home ") for v in volumes) and any("NFS" in v for v in volumes)
    assert not any("hostpath" in v.lower() for v in volumes)
    expect(alice.get_by_text("Data loss without a volume")).to_be_visible()
    options = alice.get_by_label("Resource bundle").locator("option").all_inner_texts()
    assert "+ Create Resource Bundle" in options  # alice may create bundles
    shot(alice, "create-general")

    # Next validates: an empty name, then a duplicate name.
    alice.get_by_role("button", name="Next").click()
    expect(tab(alice, "General").locator(".tab-error")).to_be_visible()
    expect(error_of(alice, "name")).to_contain_text("Name is required.")
    fill_general(alice, "taken")
    alice.get_by_role("button", name="Next").click()
    expect(error_of(alice, "name")).to_have_text(rules.MSG_DUPLICATE_NAME)
    expect(alice.get_by_role("textbox", name="Name", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    shot(alice, "create-duplicate-name")

    # Quota exceeded: on the Instance type and the Volume fields.
    fill_general(alice, "fresh")
    alice.get_by_label("Instance type").select_option("test-large")
    alice.get_by_label("Volume").select_option("test-home-large")
    alice.get_by_role("button", name="Next").click()
    expect(error_of(alice, "instanceType")).to_contain_text("Quota exceeded")
    expect(error_of(alice, "volume")).to_contain_text("Quota exceeded")
    shot(alice, "create-quota-exceeded")

    # Invalid volume type: the form offers none, so a tampered request gets the server's words.
    alice.evaluate(
        "() => { const s = document.getElementById('f-volume');"
        " s.add(new Option('test-hostpath', 'test-hostpath')); s.value = 'test-hostpath'; }"
    )
    alice.get_by_label("Instance type").select_option("test-small")
    alice.get_by_role("button", name="Next").click()
    expect(error_of(alice, "volume")).to_have_text(rules.MSG_INVALID_VOLUME_TYPE)
    alice.get_by_label("Volume").select_option("")
    alice.get_by_role("button", name="Next").click()
    expect(tab(alice, "Configurations")).to_have_attribute("aria-selected", "true")
    expect(tab(alice, "General").locator(".tab-error")).to_be_hidden()

    # Configurations: platform variables and arguments are named; overriding one is refused.
    expect(alice.get_by_text("JUPYTER_ENABLE_LAB=true")).to_be_visible()
    for arg in rules.PLATFORM_ARGS:
        expect(alice.locator("#f-args-help code", has_text=arg).first).to_be_visible()
    alice.get_by_role("button", name="Add variable").click()
    alice.get_by_label("Variable 1 name").fill("RESTARTABLE")
    alice.get_by_label("Variable 1 value").fill("no")
    alice.get_by_label("Arguments (one per line)").fill("--port=1")
    alice.get_by_role("button", name="Next").click()
    expect(tab(alice, "Configurations").locator(".tab-error")).to_be_visible()
    expect(error_of(alice, "env")).to_contain_text("RESTARTABLE")
    expect(error_of(alice, "args")).to_contain_text("--port")
    shot(alice, "create-configurations-errors")
    alice.get_by_label("Variable 1 name").fill("GREETING")
    alice.get_by_label("Variable 1 value").fill(XSS)
    alice.get_by_role("button", name="Add variable").click()
    alice.get_by_label("Variable 2 name").fill("API_KEY")
    alice.get_by_label("Variable 2 source").select_option("secret")
    alice.get_by_label("Variable 2 Secret name").fill("api")
    alice.get_by_label("Variable 2 Secret key").fill("key")
    alice.get_by_label("Arguments (one per line)").fill("--ServerApp.terminals_enabled=False")
    alice.get_by_role("button", name="Next").click()

    # Tags, then the review with the resource summary against the quota.
    expect(tab(alice, "Tags")).to_have_attribute("aria-selected", "true")
    alice.get_by_role("button", name="Add tag").click()
    alice.get_by_label("Tag 1 key").fill("project")
    alice.get_by_label("Tag 1 value").fill(XSS)
    alice.get_by_role("button", name="Next").click()
    review = alice.locator("#review")
    expect(review.get_by_role("heading", name="Resource Summary")).to_be_visible()
    expect(review.get_by_role("table", name="Resource Summary")).to_contain_text("limits.memory")
    expect(review).to_contain_text(f"GREETING={XSS}")
    expect(review).to_contain_text("API_KEY = secret api:key")
    expect(review).to_contain_text(f"project={XSS}")
    # The secret does not exist yet: the webhook warns (an admission warning), the page shows it.
    expect(review.locator(".admission-warning").first).to_contain_text("api")
    assert alice.locator("#review img").count() == 0
    shot(alice, "create-review")
    # alice may not read Secrets, so the container would not start with it: drop the variable.
    tab(alice, "Configurations").click()
    alice.get_by_role("button", name="Remove variable 2").click()
    tab(alice, "Review & Create").click()
    expect(review.get_by_role("heading", name="Resource Summary")).to_be_visible()
    expect(review).not_to_contain_text("API_KEY")
    no_reload_marker(alice)
    alice.get_by_role("button", name="Create").click()

    # The detail page: Starting, then Active without a reload (server-sent events).
    alice.wait_for_url(re.compile(f"/domains/{domain}/containers/fresh$"))
    no_reload_marker(alice)
    wait_phase(cluster, domain, "fresh", "Active")
    expect(alice.locator("[data-field='status-detail'] .badge")).to_have_text(
        re.compile("Starting|Active")
    )
    expect(alice.locator("[data-field='status-detail'] .badge")).to_have_text(
        "Active", timeout=60_000
    )
    assert_same_document(alice)
    assert alice.evaluate("window.__pwned") is None
    spec = json.loads(cluster.kubectl("get", "jc", "fresh", "-n", domain, "-o", "json").stdout)[
        "spec"
    ]
    assert spec["env"][0] == {"name": "GREETING", "value": XSS}
    assert spec["args"] == ["--ServerApp.terminals_enabled=False"]


def test_bundle_choice_depends_on_the_right_to_create_bundles(
    sign_in: SignIn, console: ConsoleServer, domain: str, webhooks: None
) -> None:
    carol = sign_in("carol")
    carol.goto(f"{console.url}/containers/new")
    options = carol.get_by_label("Resource bundle").locator("option").all_inner_texts()
    assert "team" in options and "+ Create Resource Bundle" not in options

    alice = sign_in("alice")
    alice.goto(f"{console.url}/containers/new")
    alice.get_by_label("Resource bundle").select_option("__create__")
    alice.wait_for_url(re.compile("/bundles/new$"))
    alice.get_by_role("textbox", name="Name", exact=True).fill("alices")
    alice.get_by_role("button", name="Create").click()
    alice.wait_for_url(re.compile("/containers/new"))
    expect(alice.get_by_label("Resource bundle")).to_have_value("alices")


# ---------------------------------------------------------------- lifecycle, configure


def test_lifecycle_configure_and_delete(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    make("life", volume="test-home")
    wait_phase(cluster, domain, "life", "Active")
    alice = sign_in("alice")
    alice.goto(f"{console.url}/domains/{domain}/containers/life")
    no_reload_marker(alice)
    header = alice.locator("#detail")
    configure = header.get_by_role("link", name="Configure")
    expect(configure).to_have_attribute("aria-disabled", "true")
    configure.hover()
    expect(
        alice.get_by_role("tooltip").filter(has_text=rules.MSG_STOP_BEFORE_CONFIGURING)
    ).to_be_visible()
    expect(header.get_by_role("button", name="Start")).to_be_disabled()
    shot(alice, "detail-active")

    # Terminate (red) with the manual's confirmation; the status arrives without a reload.
    header.get_by_role("button", name="Terminate").click()
    expect(alice.locator("#confirm")).to_contain_text("all unsaved work")
    shot(alice, "terminate-confirm")
    alice.get_by_role("button", name="Yes, terminate it").click()
    expect(header.locator(".badge")).to_have_text("Stopped", timeout=30_000)
    expect(configure).not_to_have_attribute("aria-disabled", "true")
    assert_same_document(alice)

    # Configure: name and bundle read-only, Delete instead of Cancel, the data-loss warning.
    configure.click()
    alice.wait_for_url(re.compile("/configure$"))
    expect(alice.get_by_role("textbox", name="Name", exact=True)).to_have_attribute("readonly", "")
    expect(alice.get_by_label("Resource bundle")).to_be_disabled()
    expect(alice.get_by_role("button", name="Delete")).to_be_visible()
    expect(alice.get_by_role("link", name="Cancel")).to_have_count(0)
    alice.get_by_label("Volume").select_option("")
    expect(alice.locator("#volume-warning")).to_be_visible()
    alice.get_by_label("Instance type").select_option("test-gpu-only")
    tab(alice, "Review & Save").click()
    warning = alice.locator("#review .admission-warning").first
    expect(warning).to_contain_text("Data loss: changing spec.volume")
    shot(alice, "configure-review-data-loss")
    alice.get_by_role("button", name="Save").click()
    try:  # a dry run and the update, each through the webhook: slow on a loaded machine
        alice.wait_for_url(re.compile("/containers/life$"), timeout=60_000)
    except Exception as exc:
        errors = alice.locator("[data-error-for]").all_inner_texts()
        raise AssertionError(f"Save did not finish; the form shows: {errors}") from exc
    # The Details show the status, which the operator writes just after the update: the
    # page's live stream brings it (no reload).
    no_reload_marker(alice)
    expect(alice.locator("[data-field='instance']")).to_contain_text(
        "test-gpu-only", timeout=30_000
    )
    expect(alice.locator("[data-field='volume']")).to_have_text("No volume", timeout=30_000)
    assert_same_document(alice)

    # carol (view and start-stop) gets Cancel, not Delete, and may start it; bob may not.
    carol = sign_in("carol")
    carol.goto(f"{console.url}/domains/{domain}/containers/life/configure")
    expect(carol.get_by_role("link", name="Cancel")).to_be_visible()
    expect(carol.get_by_role("button", name="Delete")).to_have_count(0)
    bob = sign_in("bob")
    bob.goto(f"{console.url}/domains/{domain}/containers/life")
    bob.locator("#detail").get_by_role("button", name="Start").click()
    expect(bob.locator("#toast")).to_contain_text("bob may not start or stop")
    carol.goto(f"{console.url}/domains/{domain}/containers/life")
    no_reload_marker(carol)
    carol.locator("#detail").get_by_role("button", name="Start").click()
    expect(carol.locator("#detail .badge")).to_have_text(re.compile("Starting|Failed"))
    assert_same_document(carol)

    # Delete in any state, from the list's context menu ("Yes, delete it").
    open_list(alice, console)
    no_reload_marker(alice)
    menu = row(alice, domain, "life").get_by_text("Actions")
    menu.click()
    row(alice, domain, "life").get_by_role("menuitem", name="Delete").click()
    alice.get_by_role("button", name="Yes, delete it").click()
    expect(row(alice, domain, "life")).to_have_count(0, timeout=30_000)
    assert_same_document(alice)


def test_failed_status_shows_the_error(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    alice = sign_in("alice")
    open_list(alice, console)
    no_reload_marker(alice)
    make("crashy", tags=scenario("crashloop"))
    # A new container appears with its status as the watch reports it; no reload.
    badge = row(alice, domain, "crashy").locator(".badge")
    expect(badge).to_have_text("Failed", timeout=60_000)
    message = json.loads(cluster.kubectl("get", "jc", "crashy", "-n", domain, "-o", "json").stdout)[
        "status"
    ]["message"]
    expect(badge).to_have_attribute("title", message)
    badge.hover()
    expect(row(alice, domain, "crashy").locator(".badge-error")).to_have_text(message)
    assert_same_document(alice)
    shot(alice, "list-failed-hover")
    alice.goto(f"{console.url}/domains/{domain}/containers/crashy")
    expect(alice.locator("[data-field='error']")).to_have_text(message)


# ---------------------------------------------------------------- logs and events


def test_logs_download_and_events_badge(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    make("logged")
    wait_phase(cluster, domain, "logged", "Active")
    jc = json.loads(cluster.kubectl("get", "jc", "logged", "-n", domain, "-o", "json").stdout)
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "logged.console-test"},
        "involvedObject": {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterContainer",
            "name": "logged",
            "namespace": domain,
            "uid": jc["metadata"]["uid"],
        },
        "type": "Warning",
        "reason": "ConsoleTest",
        "message": f"markup {XSS}",
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
        "source": {"component": "test"},
    }
    cluster.kubectl("apply", "-n", domain, "-f", "-", input=yaml.safe_dump(event))

    alice = sign_in("alice")
    alice.goto(f"{console.url}/domains/{domain}/containers/logged?tab=logs")
    texts = [line.split(" ", 3)[3] for line in LOG]
    expect(alice.locator("#logs")).to_contain_text(texts[-1], timeout=30_000)
    shot(alice, "detail-logs")
    with alice.expect_download() as info:
        alice.get_by_role("link", name="Download").click()
    download = info.value
    assert download.suggested_filename == "logged.log"
    lines = Path(download.path()).read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == texts
    # A time range: only lines from 00:00:04 to 00:00:20.
    alice.get_by_label("From").fill("2026-01-01T00:00:04Z")
    alice.get_by_label("To").fill("2026-01-01T00:00:20Z")
    alice.get_by_label("Stream").uncheck()
    alice.get_by_role("button", name="Show").click()
    expect(alice.locator("#logs[data-done='true']")).to_have_count(1)
    shown = alice.locator("#logs").inner_text().splitlines()
    expected = [
        t
        for s, t in ((line.split(" ", 1)[0], line.split(" ", 3)[3]) for line in LOG)
        if "2026-01-01T00:00:04" <= s < "2026-01-01T00:00:20.000000001"
    ]
    assert [line.split(" ", 1)[1] for line in shown] == expected

    alice.goto(f"{console.url}/domains/{domain}/containers/logged?tab=events")
    rows = alice.locator("#panel-events tbody tr")
    total = rows.count()
    warnings = alice.locator("#panel-events tbody tr.warning").count()
    assert total >= 2 and warnings >= 1
    expect(alice.get_by_test_id("events-badge")).to_have_text(f"{warnings}/{total}")
    expect(alice.locator("#panel-events")).to_contain_text(f"markup {XSS}")
    assert alice.locator("#panel-events img").count() == 0
    assert alice.evaluate("window.__pwned") is None
    shot(alice, "detail-events")


# ---------------------------------------------------------------- faults


def test_api_server_down_banner_and_recovery(
    browser: Any, cluster: Any, domain: str, tmp_path: Any, webhooks: None
) -> None:
    """A console whose only way to the API server is a relay the test cuts and restores."""
    from tests.console.relay import Relay

    kubeconfig = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(
        c
        for c in kubeconfig["contexts"]
        if c["name"] == (cluster.context or kubeconfig["current-context"])
    )
    cl = next(c for c in kubeconfig["clusters"] if c["name"] == context["context"]["cluster"])
    server = cl["cluster"]["server"]
    host, port = re.match(r"https://([^:/]+):(\d+)", server).groups()  # type: ignore[union-attr]
    relay = Relay(host, int(port))
    relay.start()
    cl["cluster"]["server"] = f"https://127.0.0.1:{relay.port}"
    if host != "127.0.0.1":
        cl["cluster"]["tls-server-name"] = host
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    other = ConsoleServer(cluster, tmp_path)
    other.env["KUBECONFIG"] = str(path)
    other.start()
    try:
        context_ = browser.new_context()
        page = context_.new_page()
        page.goto(f"{other.url}/login")
        page.get_by_role("button", name="alice", exact=True).click()
        page.wait_for_url(f"{other.url}/containers")
        expect(page.locator("#banner")).to_be_hidden()
        relay.cut()
        expect(page.locator("#banner")).to_be_visible(timeout=30_000)
        expect(page.locator("#banner")).to_have_text(
            "The Kubernetes API server is unreachable. The console recovers when it is back."
        )
        shot(page, "api-down-banner")
        relay.restore()
        expect(page.locator("#banner")).to_be_hidden(timeout=30_000)
        expect(page.get_by_role("heading", name="Jupyter Containers")).to_be_visible()
        context_.close()
    finally:
        other.stop()
        relay.stop()
