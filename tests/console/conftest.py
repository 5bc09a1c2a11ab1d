"""Fixtures of the console's browser tests: one console server and one Chromium for the package.

The console runs as its own process (as in production) with the development sign-in, against
the session's cluster and the real operator (tests/cluster/conftest.py). Chromium is Debian's
(tools/install-browser.sh, `make browser`), driven by playwright with `executable_path`: no
browser is ever downloaded. Screenshots of every page are kept in build/console-screenshots.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.cli_fixtures import USERS, user_roles
from tests.conftest import NAMESPACE_PREFIX, create_test_namespace

__all__ = ["user_roles"]

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "build" / "console-screenshots"
VENV_BIN = Path(sys.executable).parent

#: The domain's quota: test-large (16Gi) and test-home-large (5Gi) exceed it, test-small fits.
QUOTA = {"limits.memory": "15Gi", "requests.storage": "3Gi"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "chromium not found: run `make browser` (tools/install-browser.sh installs Debian's "
            "chromium package)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def domain(cluster: Any, user_roles: None, operator: Any) -> Iterator[str]:
    """The console tests' domain: alice, bob and carol are users; alice may create bundles.

    Bundle `team` (owner alice) grants carol view and start-stop; bob gets nothing; carol owns
    bundle `carols`.
    """
    name = create_test_namespace(cluster, "console", test_id="tests/console")
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"jc-user-{user}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "jupyter-containers-user",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
        for user in USERS
    ]
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "jc-bundles-alice"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "jupyter-containers-bundle-creator",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}
            ],
        }
    )
    # alice may read the Secret `api` her create test refers to (admission asks, as her).
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "read-api-secret"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": ["api"],
                    "verbs": ["get"],
                }
            ],
        }
    )
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "read-api-secret-alice"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "read-api-secret",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}
            ],
        }
    )
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "team-quota"},
            "spec": {"hard": QUOTA},
        }
    )
    docs.append(
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "ResourceBundle",
            "metadata": {"name": "team"},
            "spec": {
                "owner": "alice",
                "grants": [{"users": ["carol"], "permissions": ["view", "start-stop"]}],
            },
        }
    )
    docs.append(
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "ResourceBundle",
            "metadata": {"name": "carols"},
            "spec": {"owner": "carol"},
        }
    )
    cluster.kubectl("apply", "-n", name, "-f", "-", input=yaml.safe_dump_all(docs))
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


class ConsoleServer:
    def __init__(self, cluster: Any, log_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / "console.log"
        self.env = {
            **cluster.env,
            "JC_CONSOLE_HOST": "127.0.0.1",
            "JC_CONSOLE_PORT": str(self.port),
            "JC_CONSOLE_DEV_LOGIN": "true",
            "JC_CONSOLE_DEV_USERS": ",".join(USERS),
            "JC_CONSOLE_DOMAINS": f"{NAMESPACE_PREFIX}*",
            "JC_CONSOLE_CACHE_SECONDS": "0",
            "JC_CONSOLE_UPSTREAM": "endpoints",
            "PYTHONUNBUFFERED": "1",
        }
        if cluster.context:
            self.env["JC_CONSOLE_KUBE_CONTEXT"] = cluster.context
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "jupyter-containers-console")],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"console exited:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"console not up after 30s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="package")
def console(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    server = ConsoleServer(cluster, tmp_path_factory.mktemp("console"))
    server.start()
    yield server
    server.stop()


# Package scope: playwright's sync API keeps an event loop running in this thread while it is
# open, which the asyncio unit tests collected after this package must not find.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


SignIn = Callable[[str], Any]


@pytest.fixture
def sign_in(
    browser: Any, console: ConsoleServer, request: pytest.FixtureRequest
) -> Iterator[SignIn]:
    """A new browser context signed in as a test user (development sign-in); returns its page."""
    contexts: list[Any] = []

    def open_as(user: str) -> Any:
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{console.url}/login")
        page.get_by_role("button", name=user, exact=True).click()
        page.wait_for_url(f"{console.url}/containers")
        return page

    yield open_as
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        sys.stderr.write(f"\n--- console log ---\n{console.log_tail()}\n")
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> Path:
    """Keep a screenshot of the page (a test artefact; a few are copied to docs/)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture(scope="session")
def webhooks(cluster: Any, operator: Any) -> None:
    """Until this session's operator has registered its webhooks (as cli_fixtures does)."""
    url = f"https://127.0.0.1:{operator.webhook_port}/mutate-jupytercontainer"
    cluster.kubectl(
        "wait",
        "mutatingwebhookconfiguration/jupytercontainers.io",
        f"--for=jsonpath={{.webhooks[0].clientConfig.url}}={url}",
        "--timeout=60s",
        timeout=70,
    )
