"""Open JupyterLab through the console's proxy, end to end on the real node (a real JupyterLab).

Marked `realnode`: deselected where the session's cluster has no real node (tests/conftest.py).
The container runs there through the real-node catalog's instance type.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tests.cluster.realnode.conftest import REAL_CATALOG, real_node
from tests.console.conftest import ConsoleServer, SignIn, shot
from tests.console.test_console import make, wait_phase

__all__ = ["make", "real_node"]

pytestmark = [pytest.mark.cluster, pytest.mark.browser, pytest.mark.realnode]


@pytest.fixture
def real_spec(cluster: Any, real_node: str) -> dict[str, Any]:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=REAL_CATALOG)
    return {"instanceType": "real-tiny"}


async def _kernel_round_trip(base: str, cookie: dict[str, str]) -> tuple[int, str]:
    # The console's session cookie as a header: aiohttp's cookie jar drops cookies for IP hosts.
    header = {"Cookie": "; ".join(f"{name}={value}" for name, value in cookie.items())}
    async with aiohttp.ClientSession(headers=header) as session:
        async with session.get(f"{base}api/status") as resp:
            status = resp.status
        async with session.post(f"{base}api/kernels", json={"name": "python3"}) as resp:
            assert resp.status == 201, await resp.text()
            kernel = await resp.json()
        url = f"{base}api/kernels/{kernel['id']}/channels".replace("http", "ws", 1)
        msg_id = uuid.uuid4().hex
        request = {
            "header": {
                "msg_id": msg_id,
                "username": "test",
                "session": uuid.uuid4().hex,
                "msg_type": "execute_request",
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": {"code": "print(6 * 7)", "silent": False},
            "channel": "shell",
        }
        output = ""
        async with session.ws_connect(url) as ws:
            await ws.send_str(json.dumps(request))
            async for message in ws:
                data = json.loads(message.data)
                if data.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if data["msg_type"] == "stream":
                    output += data["content"]["text"]
                if data["msg_type"] == "status" and data["content"]["execution_state"] == "idle":
                    break
        await session.delete(f"{base}api/kernels/{kernel['id']}")
        return status, output


def test_open_jupyterlab_through_the_proxy(
    sign_in: SignIn,
    console: ConsoleServer,
    make: Callable[..., None],
    cluster: Any,
    domain: str,
    real_spec: dict[str, Any],
) -> None:
    make("lab-real", **real_spec)
    wait_phase(cluster, domain, "lab-real", "Active", timeout=300)
    alice = sign_in("alice")
    alice.goto(f"{console.url}/domains/{domain}/containers/lab-real")
    with alice.context.expect_page() as opened:
        alice.get_by_role("link", name="Open JupyterLab").click()
    lab = opened.value
    lab.wait_for_load_state()
    assert "token=" not in lab.url  # the token stays on the server
    lab.wait_for_selector("#jp-main-dock-panel, .jp-LabShell", timeout=60_000)
    # Loaded, not just begun: the launcher is drawn once the extensions and the API answered.
    lab.wait_for_selector(".jp-Launcher", timeout=120_000)
    shot(lab, "jupyterlab-through-the-console")

    cookie = {c["name"]: c["value"] for c in alice.context.cookies()}
    base = f"{console.url}/jupyter/{domain}/lab-real/"
    # In a thread of its own: playwright's sync API runs an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        status, output = pool.submit(asyncio.run, _kernel_round_trip(base, cookie)).result()
    assert status == 200 and output.strip() == "42"

    bob = sign_in("bob")
    refused = bob.request.get(f"{base}api/status")
    assert refused.status == 403
    assert "bob may not update" in refused.text()
