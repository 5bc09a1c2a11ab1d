"""start, terminate, restart, delete and watch, with the console's confirmations.

Confirmations are answered on stdin as a user would type them: declined (exit code 4,
nothing changed) and accepted; `--yes` skips them.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.cluster.cli_fixtures import (  # fixtures are used by name
    Plugin,
    jup,
    scratch_namespace,
    user_roles,
    users,
    webhooks_ready,
)
from tests.cluster.conftest import events_about, get_jc

pytestmark = pytest.mark.cluster
__all__ = ["jup", "scratch_namespace", "user_roles", "users", "webhooks_ready"]

Wait = Callable[..., dict[str, Any]]


def test_terminate_declined_then_accepted_then_start(
    jup: Plugin, bundle: str, wait_phase: Wait, cluster: Any, namespace: str
) -> None:
    jup("create", "lab", "--bundle", "team")
    wait_phase("lab", "Active")

    declined = jup("terminate", "lab", input="n\n", expect=4)
    assert "Yes, terminate it? [y/N]" in declined.stderr
    assert "No persistent volume is attached: all unsaved work inside the container is lost." in (
        declined.stderr
    )
    assert "Not confirmed; nothing was changed." in declined.stderr
    assert get_jc(cluster, namespace, "lab")["spec"]["running"] is True
    # No answer at all (stdin closed) is no as well.
    jup("terminate", "lab", input="", expect=4)

    accepted = jup("terminate", "lab", input="y\n")
    assert "Terminating 'lab'." in accepted.stdout
    assert get_jc(cluster, namespace, "lab")["spec"]["running"] is False
    wait_phase("lab", "Stopped")

    again = jup("terminate", "lab", "--yes", expect=1)
    assert "'lab' is Stopped: only Active or Starting containers can be terminated." in again.stderr

    started = jup("start", "lab", "--wait", "--timeout", "60")
    assert started.stdout.strip() == "'lab' is Active."
    assert "Starting" in started.stderr and "Active" in started.stderr  # progress from the watch
    jc = get_jc(cluster, namespace, "lab")
    assert jc["status"]["phase"] == "Active"
    assert jc["metadata"]["annotations"]["jupytercontainers.io/start-requested"]

    busy = jup("start", "lab", expect=1)
    assert "'lab' is Active: only Stopped or Failed containers can be started." in busy.stderr


def test_start_again_a_failed_container_makes_a_new_attempt(
    jup: Plugin, bundle: str, wait_phase: Wait, cluster: Any, namespace: str
) -> None:
    tag = "sim.jupytercontainers.io/scenario=crashloop"
    jup("create", "crashy", "--bundle", "team", "--tag", tag)
    failed = wait_phase("crashy", "Failed")
    attempt = failed["status"]["attempt"]
    out = jup("start", "crashy", "--wait", "--timeout", "90", expect=1)
    # The new attempt fails the same way; the message is the new attempt's.
    assert "'crashy' failed to start:" in out.stderr
    jc = get_jc(cluster, namespace, "crashy")
    assert jc["status"]["attempt"] == attempt + 1
    assert jc["status"]["phase"] == "Failed"


def test_restart_goes_through_stopped(
    jup: Plugin, bundle: str, wait_phase: Wait, cluster: Any, namespace: str
) -> None:
    jup("create", "lab", "--bundle", "team")
    first = wait_phase("lab", "Active")
    declined = jup("restart", "lab", input="n\n", expect=4)
    assert "Yes, terminate it?" in declined.stderr
    out = jup("restart", "lab", "--yes", "--wait", "--timeout", "90")
    assert out.stdout.splitlines() == [
        "Terminating 'lab'...",
        "'lab' is Stopped; starting it.",
        "'lab' is Active.",
    ]
    jc = get_jc(cluster, namespace, "lab")
    assert jc["status"]["attempt"] > first["status"]["attempt"]
    assert jc["status"]["podName"] != first["status"]["podName"]
    events = events_about(cluster.kubectl, namespace, "JupyterContainer", "lab")
    moves = [e["message"].split(":", 1)[0] for e in events]
    assert moves.count("Starting -> Active") == 2 and "Active -> Stopped" in moves


def test_delete_declined_accepted_and_the_name_is_free(
    jup: Plugin, bundle: str, wait_phase: Wait, cluster: Any, namespace: str
) -> None:
    jup("create", "gone", "--bundle", "team", "--volume", "test-home")
    wait_phase("gone", "Active")
    declined = jup("delete", "gone", input="no\n", expect=4)
    assert "Yes, delete it? [y/N]" in declined.stderr
    assert "all data stored in it is destroyed. This action cannot be undone." in declined.stderr
    assert get_jc(cluster, namespace, "gone")["metadata"].get("deletionTimestamp") is None

    out = jup("delete", "gone", "--wait", "--timeout", "60", input="yes\n")
    assert out.stdout.strip() == "'gone' deleted; the name is free to reuse."
    missing = cluster.kubectl("get", "jc", "gone", "-n", namespace, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    pvcs = cluster.kubectl("get", "pvc", "-n", namespace, "-o", "name").stdout
    assert "jc-gone-home" not in pvcs
    assert jup("delete", "gone", "--yes", expect=3).stderr.count("not found") == 1
    jup("create", "gone", "--bundle", "team", "--no-start")  # the name is free again


def test_watch_streams_status_changes_until_a_phase(
    jup: Plugin, bundle: str, wait_phase: Wait, cluster: Any, namespace: str
) -> None:
    jup("create", "w1", "--bundle", "team", "--no-start")
    wait_phase("w1", "Stopped")
    watcher = subprocess.Popen(
        jup.command("watch", "w1", "--until", "Active", "--timeout", "90"),
        env=jup.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # the watch's first event (the current state) is out by now
        jup("start", "w1")
        out, err = watcher.communicate(timeout=100)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    lines = out.splitlines()
    phases = [line.split()[2] for line in lines]
    assert phases[0] == "Stopped"
    assert phases[-1] == "Active"
    assert "Starting" in phases
    assert all(line.split()[1] == "w1" for line in lines)

    # A container that fails while watched for Active: exit code 1 and its error.
    jup(
        "create",
        "w2",
        "--bundle",
        "team",
        "--tag",
        "sim.jupytercontainers.io/scenario=errimagepull",
    )
    failed = jup("watch", "w2", "--until", "Active", "--timeout", "90", expect=1)
    assert "Failed" in failed.stdout
    message = wait_phase("w2", "Failed")["status"]["message"]
    assert f"'w2' failed: {message}" in failed.stderr

    # JSON lines for scripts; --timeout ends a watch that sees no change (exit code 1).
    quiet = jup("watch", "-o", "json", "--timeout", "3", expect=1)
    records = [json.loads(line) for line in quiet.stdout.splitlines()]
    assert {(r["name"], r["phase"]) for r in records} >= {("w1", "Active"), ("w2", "Failed")}
    assert "Timed out after 3s." in quiet.stderr


def test_a_replace_survives_status_writes_but_not_a_spec_change(
    cluster: Any, namespace: str, bundle: str, make_container: Callable[..., Any], wait_phase: Wait
) -> None:
    """The console's Save and the plugin's configure PUT what they read: the operator's status
    writes in between move the resourceVersion and are no conflict; another spec change is."""
    from jupyter_containers.cli.cluster import ClusterOptions, Kube
    from jupyter_containers.cli.containers import Containers
    from jupyter_containers.cli.errors import CliError

    make_container("edit", running=False)
    wait_phase("edit", "Stopped")
    opts = ClusterOptions(cluster.kubeconfig, cluster.context, namespace)
    repo = Containers(Kube(opts))
    read = repo.get("edit")
    # A status write after the read (as the operator's), then the PUT of what was read.
    status = json.dumps({"status": {"message": "a status write meanwhile"}})
    cluster.kubectl(
        "patch", "jc", "edit", "-n", namespace, "--subresource=status", "--type=merge", "-p", status
    )
    changed = {**read, "spec": {**read["spec"], "args": ["--ServerApp.iopub_data_rate_limit=1"]}}
    saved = repo.replace(changed)
    assert saved["spec"]["args"] == ["--ServerApp.iopub_data_rate_limit=1"]
    # A spec change by someone else after the read: refused, nothing of it lost.
    stale = repo.get("edit")
    other = json.dumps({"spec": {"args": []}})
    cluster.kubectl("patch", "jc", "edit", "-n", namespace, "--type=merge", "-p", other)
    with pytest.raises(CliError, match="changed by someone else meanwhile"):
        args = ["--ServerApp.iopub_data_rate_limit=2"]
        repo.replace({**stale, "spec": {**stale["spec"], "args": args}})
    assert get_jc(cluster, namespace, "edit")["spec"].get("args") in (None, [])
