"""User input can never weaken JupyterLab's authentication, proven on the real JupyterLab: the
arguments and variables users may set leave the token and the origin check on, and what a user
can leave on the home volume (a config file, a .pth file in the user site) does not reach the
server at the next start."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.cluster.realnode.conftest import Lab
from tests.cluster.realnode.jupyter import run_code

Make = Callable[..., dict[str, Any]]
Wait = Callable[..., dict[str, Any]]
ACTIVE_TIMEOUT = 300

#: Arguments the policy admits, of every kind it admits (a table of classes and traits).
ADMITTED_ARGS = [
    "--ServerApp.iopub_data_rate_limit=12345678",
    "--ServerApp.shutdown_no_activity_timeout=0",
    "--MappingKernelManager.cull_idle_timeout=3600",
    "--ContentsManager.allow_hidden=True",
    '--ServerApp.terminado_settings={"shell_command":["/bin/bash"]}',
    "--no-browser",
]

HOSTILE_CONFIG = """
c.IdentityProvider.token = ""
c.PasswordIdentityProvider.token = ""
c.ServerApp.token = ""
c.ServerApp.disable_check_xsrf = True
c.ServerApp.allow_origin = "*"
open("/home/jovyan/config-ran", "w").write("the server ran the user's config file")
"""
HOSTILE_PTH = 'import os; open("/home/jovyan/pth-ran", "w").write("user site ran")\n'


def put_file(lab: Lab, path: str, text: str) -> None:
    for i in range(1, path.count("/") + 1):
        folder = "/".join(path.split("/")[:i])
        lab.request("PUT", f"api/contents/{folder}", {"type": "directory"})
    status, body = lab.request(
        "PUT",
        f"api/contents/{path}",
        {
            "type": "file",
            "format": "text",
            "content": text,
        },
    )
    assert status in (200, 201), body


@pytest.mark.timeout(900)
def test_admitted_arguments_and_a_hostile_home_leave_the_token_required(
    real_container: Make,
    wait_phase: Wait,
    open_lab: Callable[[str], Lab],
    kubectl: Any,
    namespace: str,
) -> None:
    real_container("guarded", volume="real-home", args=ADMITTED_ARGS)
    wait_phase("guarded", "Active", timeout=ACTIVE_TIMEOUT)
    lab = open_lab("guarded")
    # What a user (or code they ran) can leave on their own volume for the next start.
    put_file(lab, ".jupyter/jupyter_server_config.py", HOSTILE_CONFIG)
    put_file(lab, ".local/etc/jupyter/jupyter_server_config.py", HOSTILE_CONFIG)
    put_file(lab, ".local/lib/python3.11/site-packages/hostile.pth", HOSTILE_PTH)
    lab.process.terminate()

    for running in (False, True):
        kubectl(
            "patch",
            "jc",
            "guarded",
            "-n",
            namespace,
            "--type",
            "merge",
            "-p",
            json.dumps({"spec": {"running": running}}),
        )
        wait_phase("guarded", "Active" if running else "Stopped", timeout=ACTIVE_TIMEOUT)
    lab = open_lab("guarded")

    assert lab.request("GET", "api/status", token=False)[0] == 403
    assert lab.request("GET", "api/contents", token=False)[0] == 403
    assert lab.request("GET", "api/status")[0] == 200
    # A browser page of another origin cannot use the server (no CORS grant for it).
    status, _ = lab.request(
        "GET", "api/status", token=False, headers={"Origin": "https://evil.example"}
    )
    assert status == 403
    # Neither the config files nor the .pth file ran in the server.
    for leftover in ("config-ran", "pth-ran"):
        status, _ = lab.request("GET", f"api/contents/{leftover}")
        assert status == 404, f"{leftover} exists: the server ran a file from the home volume"
    # Kernels are the user's own code: they may use the user site (pip install --user).
    kernel_status, kernel = lab.request("POST", "api/kernels", {"name": "python3"})
    assert kernel_status == 201, kernel
    site = run_code(lab.base, lab.token, kernel["id"], "import site; print(site.ENABLE_USER_SITE)")
    assert site.strip() == "True"


def test_arguments_and_variables_that_would_weaken_it_are_refused(
    apply_yaml: Any, namespace: str, bundle: str, real_catalog: None, operator: Any
) -> None:
    hostile = [
        {"args": ["--PasswordIdentityProvider.token="]},
        {"args": ["--ServerApp.disable_check_xsrf=True"]},
        {"args": ["--ServerApp.allow_origin_pat=.*"]},
        {"args": ["--ServerApp.config_file=/home/jovyan/x.py"]},
        {"args": ["--config=/home/jovyan/x.py"]},
        {"env": [{"name": "JUPYTER_CONFIG_DIR", "value": "/home/jovyan"}]},
        {"env": [{"name": "PYTHONPATH", "value": "/home/jovyan"}]},
        {"env": [{"name": "HOME", "value": "/tmp"}]},
    ]
    for i, spec in enumerate(hostile):
        manifest = {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterContainer",
            "metadata": {"name": f"hostile-{i}"},
            "spec": {"bundle": bundle, "instanceType": "real-tiny", **spec},
        }
        result = apply_yaml(manifest, namespace=namespace, check=False, dry_run_server=True)
        field = "spec.args[0]" if "args" in spec else "spec.env[0]"
        assert result.returncode != 0, f"admitted: {spec}"
        assert field in result.stderr, f"{spec}: {result.stderr}"
