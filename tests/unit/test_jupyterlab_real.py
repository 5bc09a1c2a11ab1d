"""The argument and variable policy proven on a real JupyterLab server (no cluster).

jupyter-lab (the pinned dev dependency) runs as a subprocess with exactly the arguments
and variables the operator's builder gives the container, with substitutions a pod does
not need: `--ip` is 127.0.0.1 (test traffic stays on the machine), `--port` a free port,
and `--allow-root` when the tests run as root (the pod runs as uid 1000, runAsNonRoot;
jupyter_server refuses root without it). Kubernetes' `$(JUPYTER_TOKEN)` expansion and the
token Secret are done here the way the kubelet does them. HOME is a temporary directory
holding what a user (or anyone with their volume) could leave there to switch the token or
the origin check off: ~/.jupyter and ~/.local/etc/jupyter config files (Python, run at
start-up, here monkeypatching the origin and XSRF checks away) and a .pth file in the user
site-packages. Without the platform's JUPYTER_CONFIG_DIR the config runs and the
cross-origin assertion fails (checked when this test was written).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyter_containers.api import jupyterlab_policy as policy
from jupyter_containers.api.models import InstanceTypeSpec, JupyterContainerSpec
from jupyter_containers.core.builders import BuildInputs, build_deployment
from jupyter_containers.core.settings import Settings

TOKEN = "platform-token-0123456789abcdef"
FOREIGN_ORIGIN = "http://evil.example"

HOSTILE_CONFIG = """
import os, pathlib
pathlib.Path(os.environ["HOME"], "config-ran").write_text(__file__)
c.PasswordIdentityProvider.token = ""
c.IdentityProvider.token = ""
c.ServerApp.token = ""
c.ServerApp.allow_origin = "*"
c.ServerApp.allow_origin_pat = ".*"
c.ServerApp.disable_check_xsrf = True
c.ServerApp.allow_unauthenticated_access = True
c.ServerApp.tornado_settings = {"disable_check_xsrf": True}
# Python, so beyond what any command-line setting can pin: switch the checks off in the code.
from jupyter_server.base import handlers as _handlers
_handlers.JupyterHandler.check_origin = lambda self, origin_to_satisfy_tornado="": True
_handlers.JupyterHandler.check_xsrf_cookie = lambda self: None
"""
HOSTILE_JSON = {
    "PasswordIdentityProvider": {"token": ""},
    "IdentityProvider": {"token": ""},
    "ServerApp": {"allow_origin": "*", "disable_check_xsrf": True},
}
HOSTILE_PTH = (
    "import os, pathlib; "
    "pathlib.Path(os.environ.get('HOME', '/nonexistent'), 'pth-ran').write_text('pth')\n"
)

#: Arguments the policy admits, each started once: none may bring back an open server.
ADMITTED = [
    [],
    [
        "--ServerApp.iopub_data_rate_limit=1e10",
        "--ServerApp.max_body_size=1073741824",
        "--ServerApp.shutdown_no_activity_timeout=3600",
        "--ServerApp.terminals_enabled=False",
    ],
    [
        "--MappingKernelManager.cull_idle_timeout=3600",
        "--MappingKernelManager.cull_interval",
        "60",
        "--ContentsManager.allow_hidden=True",
        "--FileContentsManager.delete_to_trash=False",
    ],
    [
        "--TerminalManager.cull_inactive_timeout=600",
        "--KernelSpecManager.ensure_native_kernel=0",
        "--LabApp.expose_app_in_browser=True",
    ],
    ["--no-browser", "--debug", "--log-level=INFO", "--ServerApp.quit_button=False"],
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_root() -> list[str]:
    return ["--allow-root"] if os.geteuid() == 0 else []


def _hostile_home(home: Path) -> None:
    for config_dir in (home / ".jupyter", home / ".local" / "etc" / "jupyter"):
        config_dir.mkdir(parents=True)
        (config_dir / "jupyter_server_config.py").write_text(HOSTILE_CONFIG)
        (config_dir / "jupyter_config.py").write_text(HOSTILE_CONFIG)
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(HOSTILE_JSON))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = home / ".local" / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "hostile.pth").write_text(HOSTILE_PTH)


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of container args from the container's env."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), value)


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]
    home: Path
    log: Path

    def request(
        self,
        path: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        opener: urllib.request.OpenerDirector | None = None,
        method: str = "GET",
    ) -> tuple[int, Mapping[str, str]]:
        req = urllib.request.Request(
            self.base + path,
            headers=dict(headers or {}),
            method=method,
            data=b"{}" if method == "POST" else None,
        )
        if token is not None:
            req.add_header("Authorization", f"token {token}")
        try:
            with (opener or urllib.request.build_opener()).open(req, timeout=10) as resp:
                return resp.status, dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers)


def _container(args: list[str]) -> dict[str, Any]:
    spec = JupyterContainerSpec(bundle="team", args=args)
    target = BuildInputs(
        name="demo",
        domain="team-a",
        uid="0b6f6a8e-2f1c-4c55-9d2c-3f1f2b9c1a11",
        spec=spec,
        instance_type_name="small",
        instance_type=InstanceTypeSpec(cpu="1", memory="2Gi"),
        volume_name=None,
        volume=None,
        settings=Settings(),
        attempt=1,
    )
    container: dict[str, Any] = build_deployment(target)["spec"]["template"]["spec"]["containers"][
        0
    ]
    return container


@contextlib.contextmanager
def running_server(args: list[str], tmp_path: Path) -> Iterator[Server]:
    container = _container(args)
    env: dict[str, str] = {}
    for var in container["env"]:
        if "valueFrom" in var:  # only the platform's token Secret here
            assert var["valueFrom"]["secretKeyRef"]["key"] == "token"
            env[var["name"]] = TOKEN
        else:
            env[var["name"]] = var["value"]
    port = _free_port()
    argv = []
    for arg in container["args"]:
        arg = _expand(arg, env)
        if arg.startswith("--ip="):
            arg = "--ip=127.0.0.1"
        elif arg.startswith("--port="):
            arg = f"--port={port}"
        argv.append(arg)
    argv += _as_root()
    home = tmp_path / "home"
    _hostile_home(home)
    (home / "work").mkdir()
    # What the image gives every process (PATH, HOME), then the pod's variables.
    process_env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        **env,
    }
    log = tmp_path / "jupyter-lab.log"
    jupyter_lab = str(Path(sys.executable).parent / "jupyter-lab")
    base_url = next(a for a in argv if a.startswith("--ServerApp.base_url=")).split("=", 1)[1]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [jupyter_lab, *argv], env=process_env, cwd=home / "work", stdout=out, stderr=out
        )
    server = Server(f"http://127.0.0.1:{port}{base_url}", proc, home, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"jupyter-lab exited:\n{log.read_text()[-3000:]}"
            with contextlib.suppress(OSError):
                # The readiness probe's path: answers without a token once the server is up.
                if server.request("api")[0] == 200:
                    break
            assert time.monotonic() < deadline, f"not up:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _assert_token_and_origin_hold(server: Server) -> None:
    log = server.log.read_text(errors="replace")
    assert server.request("api/status")[0] == 403, log[-3000:]
    assert server.request("api/status", token="")[0] == 403
    assert server.request("api/status", token="wrong")[0] == 403
    assert server.request("api/status", token=TOKEN)[0] == 200

    # A browser session (the cookie of a token login) is refused from another origin, and
    # its writes need the XSRF token even from the same origin. (A request carrying the
    # token itself is allowed cross-origin by jupyter_server's design: the token is the
    # credential, which a foreign page does not have.)
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = server.request(f"lab?token={TOKEN}", opener=browser)[0]
    assert login == 200 and len(jar) > 0, "token login did not set a session cookie"
    scheme, _, authority = server.base.split("/", 3)[:3]
    same_origin = f"{scheme}//{authority}"
    assert server.request("api/status", opener=browser, headers={"Origin": same_origin})[0] == 200
    status, headers = server.request(
        "api/status", opener=browser, headers={"Origin": FOREIGN_ORIGIN}
    )
    assert status == 404, status  # jupyter_server's "Blocking Cross Origin API request"
    assert "Access-Control-Allow-Origin" not in headers
    assert server.request("api/contents", opener=browser, method="POST")[0] == 403  # no _xsrf

    # Nothing of the hostile home ran in the server.
    assert not (server.home / "config-ran").exists(), (server.home / "config-ran").read_text()
    assert not (server.home / "pth-ran").exists()


def test_builder_pins_where_config_and_code_are_read() -> None:
    env = {v["name"]: v.get("value") for v in _container([])["env"]}
    assert env["JUPYTER_CONFIG_DIR"] == policy.PLATFORM_CONFIG_DIR
    assert env["PYTHONNOUSERSITE"] == "1"


@pytest.mark.parametrize("args", ADMITTED, ids=[" ".join(a) or "no-args" for a in ADMITTED])
def test_no_admitted_argument_opens_the_server(args: list[str], tmp_path: Path) -> None:
    # The table is admitted by the same model the CRD and the webhook are generated from.
    assert JupyterContainerSpec(bundle="team", args=args).args == args
    with running_server(args, tmp_path) as server:
        _assert_token_and_origin_hold(server)


def test_the_hostile_home_would_open_a_server_without_the_pins(tmp_path: Path) -> None:
    """Control: the same home opens the server when the platform's variables are dropped,
    so the test above proves the pins, not a harmless fixture."""
    home = tmp_path / "home"
    _hostile_home(home)
    assert (home / ".jupyter" / "jupyter_server_config.py").read_text() == HOSTILE_CONFIG
    container = _container([])
    pinned = {v["name"] for v in container["env"]} & set(policy.PINNED_ENV)
    assert pinned == set(policy.PINNED_ENV)
    port = _free_port()
    argv = [
        f"--port={port}",
        "--ip=127.0.0.1",
        "--ServerApp.base_url=/jupyter/team-a/demo/",
        f"--IdentityProvider.token={TOKEN}",
        *_as_root(),
    ]
    log = tmp_path / "control.log"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyter-lab"), *argv],
            env=env,
            cwd=home,
            stdout=out,
            stderr=out,
        )
    server = Server(f"http://127.0.0.1:{port}/jupyter/team-a/demo/", proc, home, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(OSError):
                if server.request("api")[0] == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        assert (home / "config-ran").exists()
        assert server.request("api/status")[0] == 200  # open to anyone
    finally:
        proc.terminate()
        proc.wait(timeout=20)
