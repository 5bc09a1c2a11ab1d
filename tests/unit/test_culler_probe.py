"""The culler's probe (shell/culler.probe_lab) against a real jupyter-lab server (no cluster):
what jupyter_server reports is what the judgement needs, and probing is no activity.

The server runs with the builder's own arguments (tests/unit/test_jupyterlab_real.running_server).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import aiohttp

from jupyter_containers.core.culling import Activity
from jupyter_containers.shell.culler import probe_lab
from tests.cluster.realnode.jupyter import run_code, start_code
from tests.unit.test_jupyterlab_real import TOKEN, Server, running_server


def probe(server: Server) -> Activity:
    async def once() -> Activity:
        async with aiohttp.ClientSession() as session:
            return await probe_lab(session, server.base, TOKEN)

    return asyncio.run(once())


def api(server: Server, method: str, path: str) -> dict:
    req = urllib.request.Request(
        server.base + path, data=b"{}" if method == "POST" else None, method=method
    )
    req.add_header("Authorization", f"token {TOKEN}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read().decode())


def test_probe_sees_kernels_and_busy_ones_and_is_no_activity_itself(tmp_path: Path) -> None:
    with running_server([], tmp_path) as server:
        fresh = probe(server)
        assert (fresh.kernels, fresh.busy_kernels, fresh.last_activity) == (0, 0, None)
        assert fresh.server_started is not None

        kernel = api(server, "POST", "api/kernels")["id"]
        assert run_code(server.base, TOKEN, kernel, "print(6 * 7)").strip() == "42"
        ran = probe(server)
        assert (ran.kernels, ran.busy_kernels) == (1, 0)
        assert ran.last_activity is not None

        # Requests (a browser tab's polling, the probe) are no activity: the kernel's time stays,
        # while /api/status's own last_activity moves with every tracked API request (a
        # browser's), but not with the probe's (no_track_activity; /api/status itself is not
        # tracked).
        time.sleep(1.2)
        status_before = api(server, "GET", "api/status")["last_activity"]
        time.sleep(1.2)
        again = probe(server)
        assert again.last_activity == ran.last_activity
        assert api(server, "GET", "api/status")["last_activity"] == status_before
        api(server, "GET", "api/kernels")  # as a browser tab polls
        assert api(server, "GET", "api/status")["last_activity"] > status_before
        assert probe(server).last_activity == ran.last_activity

        # A long cell with nobody connected: busy, activity now.
        start_code(server.base, TOKEN, kernel, "import time; time.sleep(30)")
        busy = probe(server)
        assert busy.busy_kernels == 1, busy
