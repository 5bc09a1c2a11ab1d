"""Real kubelet failures map to the right status: reason and a message a user can act on."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from tests.cluster.conftest import jupyterlab_image
from tests.cluster.realnode.conftest import Lab

Make = Callable[..., dict[str, Any]]
Wait = Callable[..., dict[str, Any]]

ACTIVE_TIMEOUT = 300


def test_missing_secret_fails_with_create_container_config_error_naming_it(
    real_container: Make, wait_phase: Wait
) -> None:
    real_container(
        "nosecret",
        env=[{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
    )
    jc = wait_phase("nosecret", "Failed", reason="CreateContainerConfigError", timeout=180)
    assert 'secret "db" not found' in jc["status"]["message"]


def test_missing_key_of_an_existing_secret_names_the_key(
    real_container: Make, wait_phase: Wait, kubectl: Any, namespace: str
) -> None:
    kubectl("create", "secret", "generic", "db", "-n", namespace, "--from-literal=user=me")
    real_container(
        "nokey",
        env=[{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
    )
    jc = wait_phase("nokey", "Failed", reason="CreateContainerConfigError", timeout=180)
    message = jc["status"]["message"]
    assert "pw" in message and "db" in message, message


def test_image_that_does_not_exist_fails_with_image_pull_failed(
    real_container: Make, wait_phase: Wait
) -> None:
    missing = jupyterlab_image().rsplit(":", 1)[0] + ":no-such-tag"
    real_container("noimage", image=missing)
    jc = wait_phase("noimage", "Failed", reason="ImagePullFailed", timeout=180)
    assert "no-such-tag" in jc["status"]["message"]


def test_bad_argument_crash_loops_and_start_after_failed_gives_a_fresh_pod(
    real_container: Make,
    wait_phase: Wait,
    kubectl: Any,
    namespace: str,
    pod_of: Callable[[str, str], dict[str, Any]],
) -> None:
    # A value JupyterLab cannot parse: the server exits with an error at start, every time.
    real_container("crashy", args=["--ServerApp.max_body_size=not-a-number"])
    jc = wait_phase("crashy", "Failed", timeout=240)
    # The kubelet reports the first exit (state.terminated) before it backs off
    # (waiting: CrashLoopBackOff); the operator fails the start at whichever it sees first.
    assert jc["status"]["reason"] in {"ContainerExitedWithError", "CrashLoopBackOff"}, jc["status"]
    assert "exit code 1" in jc["status"]["message"], jc["status"]["message"]
    uid = jc["metadata"]["uid"]
    first = pod_of(namespace, uid)
    (state,) = first["status"]["containerStatuses"]
    # Just exited (state) or already restarted once or more (lastState).
    ended = state["state"].get("terminated") or state["lastState"]["terminated"]
    assert ended["exitCode"] == 1, state
    # The Failed container keeps its pod: its logs say what went wrong.
    previous = ["--previous"] if state["restartCount"] > 0 else []
    logs = kubectl("logs", "-n", namespace, first["metadata"]["name"], *previous).stdout
    assert "max_body_size" in logs, logs[-2000:]

    # Fix the argument and start again: a new attempt, a new pod that becomes Active.
    kubectl(
        "patch",
        "jc",
        "crashy",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"args": ["--ServerApp.max_body_size=536870912"]}}),
    )
    jc = wait_phase("crashy", "Active", timeout=ACTIVE_TIMEOUT)
    second = pod_of(namespace, uid)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]


def test_server_out_of_memory_at_runtime_turns_active_into_failed_oomkilled(
    real_container: Make, wait_phase: Wait, open_lab: Callable[[str], Lab]
) -> None:
    real_container("oom", instanceType="real-oom")
    wait_phase("oom", "Active", timeout=ACTIVE_TIMEOUT)
    lab = open_lab("oom")
    # A 300 MB upload makes the server itself hold more than its 256Mi limit: the kernel's OOM
    # killer ends the server, the container's main process (a notebook's own kernel dying of
    # memory would only restart that kernel).
    payload = {"type": "file", "format": "text", "content": "x" * 300_000_000}
    with contextlib.suppress(OSError):  # the connection dies with the server
        lab.request("PUT", "api/contents/big.txt", payload, timeout=120)
    jc = wait_phase("oom", "Failed", reason="OOMKilled", timeout=180)
    assert "memory" in jc["status"]["message"].lower()
