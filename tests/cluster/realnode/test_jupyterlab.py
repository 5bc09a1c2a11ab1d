"""A real JupyterLab on the real node, used as a person would: opened with `kubectl jupyter
open`, a kernel running code, a notebook kept on the On Demand PVC across terminate and start
and gone after delete, the platform's variables and arguments in effect inside the server."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.realnode.conftest import VOLUME_DIR, Lab
from tests.cluster.realnode.jupyter import notebook, run_code

Make = Callable[..., dict[str, Any]]
Wait = Callable[..., dict[str, Any]]
Open = Callable[[str], Lab]

ACTIVE_TIMEOUT = 300  # a cold image pull on a busy 2-core machine


def plugin(cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["kubectl-jupyter", *args], capture_output=True, text=True, env=cluster.env, timeout=120
    )
    assert result.returncode == 0, f"kubectl jupyter {' '.join(args)}:\n{result.stderr}"
    return result


def start_kernel(lab: Lab) -> str:
    status, body = lab.request("POST", "api/kernels", {"name": "python3"})
    assert status == 201, body
    return str(body["id"])


def pvc_of(kubectl: Any, namespace: str) -> dict[str, Any]:
    out = kubectl("get", "pvc", "-n", namespace, "-l", "jupytercontainers.io/name", "-o", "json")
    (pvc,) = json.loads(out.stdout)["items"]
    return dict(pvc)


def test_open_answers_with_the_token_and_refuses_without_it(
    real_container: Make, wait_phase: Wait, open_lab: Open
) -> None:
    real_container("lab")
    wait_phase("lab", "Active", timeout=ACTIVE_TIMEOUT)
    lab = open_lab("lab")

    status, body = lab.request("GET", "api/status")
    assert status == 200, body
    assert {"started", "kernels", "connections"} <= set(body)
    status, _ = lab.request("GET", "api/status", token=False)
    assert status == 403
    status, _ = lab.request("GET", "api/contents", token=False)
    assert status == 403
    # A wrong token is no token.
    status, _ = lab.request("GET", "api/status", token=False, headers={"Authorization": "token x"})
    assert status == 403
    # The URL the plugin prints opens JupyterLab itself (the page a browser gets).
    status, page = lab.request("GET", "lab?token=" + lab.token, token=False)
    assert status == 200 and "JupyterLab" in page


def test_kernel_runs_code_with_the_platform_settings_in_effect(
    real_container: Make, wait_phase: Wait, open_lab: Open, namespace: str
) -> None:
    real_container(
        "kern",
        env=[{"name": "TEAM_SETTING", "value": "from-the-spec"}],
        args=["--ServerApp.iopub_data_rate_limit=12345678"],
    )
    wait_phase("kern", "Active", timeout=ACTIVE_TIMEOUT)
    lab = open_lab("kern")
    kernel = start_kernel(lab)
    assert run_code(lab.base, lab.token, kernel, "print(6 * 7)").strip() == "42"

    # What the server process itself was started with: its environment and its argv, read
    # from /proc by the kernel (the server is the kernel's parent, the same user).
    probe = """
import json, os
ppid = os.getppid()
argv = open(f"/proc/{ppid}/cmdline").read().split("\\0")
raw = open(f"/proc/{ppid}/environ").read().split("\\0")
env = dict(line.split("=", 1) for line in raw if "=" in line)
print(json.dumps({"argv": argv, "env": env, "uid": os.getuid(), "gid": os.getgid(),
                  "home": os.path.expanduser("~"), "cwd": os.getcwd()}))
"""
    facts = json.loads(run_code(lab.base, lab.token, kernel, probe))
    argv, env = facts["argv"], facts["env"]
    assert env["JUPYTER_ENABLE_LAB"] == "true"
    assert env["RESTARTABLE"] == "yes"
    assert env["TEAM_SETTING"] == "from-the-spec"
    assert f"--ServerApp.base_url=/jupyter/{namespace}/kern/" in argv
    assert "--port=8888" in argv and "--ip=0.0.0.0" in argv
    # The token reached the server from its Secret (Kubernetes expanded $(VAR) in the args)...
    assert f"--IdentityProvider.token={lab.token}" in argv
    assert not any("$(" in arg for arg in argv), argv
    # ... and the user's argument comes after the platform's.
    assert argv.index("--ServerApp.iopub_data_rate_limit=12345678") > argv.index(
        f"--IdentityProvider.token={lab.token}"
    )
    assert (facts["uid"], facts["gid"]) == (1000, 100)
    assert facts["home"] == "/home/jovyan"


@pytest.mark.timeout(900)
def test_notebook_on_the_pvc_survives_terminate_and_start_and_goes_with_delete(
    real_container: Make,
    wait_phase: Wait,
    open_lab: Open,
    cluster: Any,
    namespace: str,
    kubectl: Any,
) -> None:
    real_container("keep", volume="real-home")
    wait_phase("keep", "Active", timeout=ACTIVE_TIMEOUT)
    pvc = pvc_of(kubectl, namespace)
    lab = open_lab("keep")
    status, body = lab.request("PUT", "api/contents/analysis.ipynb", notebook("print('kept')"))
    assert status == 201, body
    # Written by jovyan (1000:100) onto the provisioner's directory on the node.
    kernel = start_kernel(lab)
    listing = run_code(
        lab.base,
        lab.token,
        kernel,
        "import os; s = os.stat('/home/jovyan/analysis.ipynb'); print(s.st_uid, s.st_gid)",
    )
    assert listing.split() == ["1000", "100"]
    pv_dir = VOLUME_DIR / pvc["spec"]["volumeName"]
    assert (pv_dir / "analysis.ipynb").is_file()
    lab.process.terminate()

    plugin(cluster, "terminate", "keep", "-n", namespace, "--yes")
    wait_phase("keep", "Stopped", timeout=120)
    assert (pv_dir / "analysis.ipynb").is_file()
    plugin(cluster, "start", "keep", "-n", namespace)
    wait_phase("keep", "Active", timeout=ACTIVE_TIMEOUT)
    assert pvc_of(kubectl, namespace)["metadata"]["uid"] == pvc["metadata"]["uid"]
    lab = open_lab("keep")
    status, body = lab.request("GET", "api/contents/analysis.ipynb")
    assert status == 200, body
    assert body["content"]["cells"][0]["source"] == "print('kept')"
    lab.process.terminate()

    plugin(cluster, "delete", "keep", "-n", namespace, "--yes")
    kubectl("wait", "--for=delete", "jc/keep", "-n", namespace, "--timeout=120s", timeout=130)
    kubectl(
        "wait", "--for=delete", f"pv/{pvc['spec']['volumeName']}", "--timeout=120s", timeout=130
    )
    deadline = time.monotonic() + 30
    while Path(pv_dir).exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not pv_dir.exists(), f"{pv_dir} still exists after the PV was deleted"
