"""Images on the real node: the restricted Pod Security Standard, a fresh pull on every start."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.cluster.conftest import jupyterlab_image
from tests.conftest import BIN, SESSION_ID

Make = Callable[..., dict[str, Any]]
Wait = Callable[..., dict[str, Any]]

ACTIVE_TIMEOUT = 300


def crane(*args: str) -> str:
    result = subprocess.run(
        [str(BIN / "crane"), "--insecure", *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"crane {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def running_digest(kubectl: Any, namespace: str, uid: str) -> str:
    out = kubectl(
        "get", "pods", "-n", namespace, "-l", f"jupytercontainers.io/uid={uid}", "-o", "json"
    )
    # The pod of the current start (the previous one may still be terminating).
    (pod,) = [
        p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")
    ]
    (status,) = pod["status"]["containerStatuses"]
    return str(status["imageID"]).rsplit("@", 1)[-1]


def test_the_pod_runs_in_a_namespace_that_enforces_restricted(
    real_container: Make, wait_phase: Wait, kubectl: Any, namespace: str
) -> None:
    kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    real_container("strict")
    jc = wait_phase("strict", "Active", timeout=ACTIVE_TIMEOUT)
    out = kubectl(
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        f"jupytercontainers.io/uid={jc['metadata']['uid']}",
        "-o",
        "json",
    )
    (pod,) = json.loads(out.stdout)["items"]
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.fixture
def test_image() -> Iterator[str]:
    """A tag of our own for this test, copied from the JupyterLab image; deleted afterwards."""
    source = jupyterlab_image()
    tag = source.rsplit(":", 1)[0] + f":test-{SESSION_ID}"
    crane("copy", source, tag)
    yield tag
    digest = crane("digest", tag)
    crane("delete", tag.rsplit(":", 1)[0] + "@" + digest)


def test_start_pulls_the_newest_image_of_the_tag(
    real_container: Make, wait_phase: Wait, kubectl: Any, namespace: str, test_image: str
) -> None:
    real_container("fresh", image=test_image)
    jc = wait_phase("fresh", "Active", timeout=ACTIVE_TIMEOUT)
    uid = jc["metadata"]["uid"]
    first = running_digest(kubectl, namespace, uid)
    assert first == crane("digest", test_image)

    # Publish a new version under the same tag (a new config: a new digest).
    crane("mutate", test_image, "-t", test_image, "--label", f"jupytercontainers.io/test={uid}")
    second = crane("digest", test_image)
    assert second != first

    kubectl(
        "patch",
        "jc",
        "fresh",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"running": False}}),
    )
    wait_phase("fresh", "Stopped", timeout=120)
    kubectl(
        "patch",
        "jc",
        "fresh",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"running": True}}),
    )
    wait_phase("fresh", "Active", timeout=ACTIVE_TIMEOUT)
    assert running_digest(kubectl, namespace, uid) == second
