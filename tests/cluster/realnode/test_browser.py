"""JupyterLab in a real browser: headless Chromium (Debian's, never a downloaded build) opens the
URL `kubectl jupyter open` prints, JupyterLab's UI loads, a cell runs and shows its output."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.realnode.conftest import Lab
from tests.cluster.realnode.jupyter import notebook
from tests.conftest import REPO

SCREENSHOTS = REPO / "build" / "realnode-screenshots"
ACTIVE_TIMEOUT = 300


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium not found: run `make browser` (Debian's chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=found, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def test_jupyterlab_opens_in_a_browser_and_runs_a_cell(
    real_container: Callable[..., dict[str, Any]],
    wait_phase: Callable[..., dict[str, Any]],
    open_lab: Callable[[str], Lab],
    chromium: Any,
) -> None:
    real_container("browse")
    wait_phase("browse", "Active", timeout=ACTIVE_TIMEOUT)
    lab = open_lab("browse")
    nb = notebook("print(6 * 7)")
    nb["content"]["metadata"]["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    status, body = lab.request("PUT", "api/contents/hello.ipynb", nb)
    assert status == 201, body

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    try:
        # The URL as printed: the token in the query string signs the browser in (a cookie).
        page.goto(lab.url, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        page.wait_for_selector(".jp-Launcher", timeout=120_000)
        page.screenshot(path=str(SCREENSHOTS / "jupyterlab-launcher.png"))

        page.goto(lab.base + "lab/tree/hello.ipynb", wait_until="domcontentloaded")
        cell = page.locator(".jp-Notebook .jp-CodeCell").first
        cell.wait_for(timeout=120_000)
        # A person waits for the kernel: the status bar says "... | Idle" once it is connected
        # (a cell run before that is not sent). Then: click into the cell, Shift+Enter.
        page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=120_000)
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        output = page.locator(".jp-OutputArea-output").first
        output.wait_for(timeout=60_000)
        assert output.inner_text().strip() == "42"
        page.screenshot(path=str(SCREENSHOTS / "jupyterlab-cell-output.png"))
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "jupyterlab-failure.png"))
        raise
    finally:
        page.close()
    assert Path(SCREENSHOTS / "jupyterlab-cell-output.png").stat().st_size > 0
