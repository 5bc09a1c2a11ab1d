"""Image pre-pull on the API server: the DaemonSet is made, rolled and deleted with its image.

The session's operator keeps its pre-pull DaemonSets in the identity namespace (the chart's
release namespace: tests/operator_identity.py), which enforces the restricted Pod Security
Standard here, so the DaemonSet's pods being created and ready proves they pass it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_containers.core import prepull
from tests.cluster.conftest import eventually, jupyterlab_image
from tests.conftest import SESSION_ID, Cluster
from tests.operator_identity import IDENTITY_NAMESPACE

pytestmark = pytest.mark.cluster

NS = IDENTITY_NAMESPACE
DIGEST = "sha256:" + "b" * 64
#: The local registry's JupyterLab image: where the session's cluster has the real node, the
#: catalog's real-node InstanceTypes put a pre-puller there too, and it really pulls (an image
#: of a public registry cannot be pulled on this machine, and must not be tried).
IMAGE = jupyterlab_image()


def _image(name: str, **spec: Any) -> str:
    return json.dumps(
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterImage",
            "metadata": {"name": name},
            "spec": {"image": IMAGE, **spec},
        }
    )


def _get(cluster: Cluster, *what: str, namespace: str | None = None) -> dict[str, Any] | None:
    ns = ["-n", namespace] if namespace else []
    out = cluster.kubectl("get", *what, *ns, "-o", "json", "--ignore-not-found", check=False)
    return json.loads(out.stdout) if out.stdout.strip() else None


def _patch_image(cluster: Cluster, name: str, **spec: Any) -> None:
    body = json.dumps({"spec": spec})
    cluster.kubectl("patch", "jupyterimage", name, "--type=merge", "-p", body)


@pytest.fixture
def image_name(cluster: Cluster, operator: Any, namespace: str) -> Iterator[str]:
    # `namespace`: kopf starts no watch, not even of cluster-scoped kinds, while none of the
    # namespaces it watches (t-SESSION-*) exists.
    name = f"pp-{SESSION_ID}-{namespace[-6:]}"
    cluster.kubectl(
        "label",
        "namespace",
        NS,
        "--overwrite",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    yield name
    cluster.kubectl("delete", "jupyterimage", name, "--ignore-not-found", check=False)


def test_a_pre_pulled_image_gets_a_daemonset_that_rolls_and_goes_with_it(
    cluster: Cluster, image_name: str
) -> None:
    ds_name = prepull.daemonset_name(image_name)
    cluster.kubectl("apply", "-f", "-", input=_image(image_name, prePull=True))
    ds = eventually("DaemonSet made", lambda: _get(cluster, "daemonset", ds_name, namespace=NS))
    uid = _get(cluster, "jupyterimage", image_name)["metadata"]["uid"]  # type: ignore[index]
    assert prepull.is_ours(ds["metadata"]["labels"])
    assert ds["metadata"]["labels"][prepull.IMAGE_UID_LABEL] == uid
    assert ds["metadata"]["ownerReferences"][0]["uid"] == uid
    pod = ds["spec"]["template"]["spec"]
    (pull,) = pod["initContainers"]
    assert (pull["image"], pull["imagePullPolicy"]) == (IMAGE, "Always")
    # An InstanceType of the session's catalog has no nodeSelector: every node.
    assert "affinity" not in pod

    # Ready on every node (kwok runs the pods, the real node's kubelet its own; the namespace
    # enforces `restricted`).
    def pulled() -> Any:
        status = (_get(cluster, "jupyterimage", image_name) or {}).get("status") or {}
        pre = status.get("prePull") or {}
        ok = pre.get("desiredNodes", 0) > 0 and pre.get("readyNodes") == pre.get("desiredNodes")
        return pre if ok else None

    status = eventually("status.prePull ready", pulled, timeout=90)
    assert status["daemonSet"] == f"{NS}/{ds_name}"
    assert status["nodes"] == f"{status['readyNodes']}/{status['desiredNodes']}"

    # Deleted by someone else: made again.
    cluster.kubectl("delete", "daemonset", ds_name, "-n", NS)
    ds = eventually(
        "DaemonSet made again",
        lambda: (
            (d := _get(cluster, "daemonset", ds_name, namespace=NS))
            and d["metadata"]["uid"] != ds["metadata"]["uid"]
            and d
        ),
    )

    # A pinned digest rolls it: the pods pull image@digest, once.
    generation = ds["metadata"]["generation"]
    _patch_image(cluster, image_name, digest=DIGEST)

    def rolled() -> Any:
        found = _get(cluster, "daemonset", ds_name, namespace=NS) or {}
        (init,) = found["spec"]["template"]["spec"]["initContainers"]
        return found if init["image"].endswith(f"@{DIGEST}") else None

    ds = eventually("DaemonSet rolled to the digest", rolled)
    assert ds["metadata"]["generation"] > generation
    assert ds["spec"]["template"]["spec"]["initContainers"][0]["imagePullPolicy"] == "IfNotPresent"

    # Unavailable: no DaemonSet, and the status says why.
    _patch_image(cluster, image_name, available=False)
    eventually(
        "DaemonSet deleted", lambda: _get(cluster, "daemonset", ds_name, namespace=NS) is None
    )

    def says_unavailable() -> Any:
        pre = ((_get(cluster, "jupyterimage", image_name) or {}).get("status") or {}).get("prePull")
        return pre if pre and "not available" in (pre.get("message") or "") else None

    eventually("status says unavailable", says_unavailable)

    # Available again, then pre-pull off: made again, deleted again, status.prePull gone.
    _patch_image(cluster, image_name, available=True)
    eventually("DaemonSet made again", lambda: _get(cluster, "daemonset", ds_name, namespace=NS))
    _patch_image(cluster, image_name, prePull=False)
    eventually(
        "DaemonSet deleted", lambda: _get(cluster, "daemonset", ds_name, namespace=NS) is None
    )
    eventually(
        "status.prePull removed",
        lambda: (
            "prePull" not in ((_get(cluster, "jupyterimage", image_name) or {}).get("status") or {})
        ),
    )

    # On again, then the image deleted: its DaemonSet goes with it.
    _patch_image(cluster, image_name, prePull=True)
    eventually("DaemonSet made again", lambda: _get(cluster, "daemonset", ds_name, namespace=NS))
    cluster.kubectl("delete", "jupyterimage", image_name)
    eventually(
        "DaemonSet deleted", lambda: _get(cluster, "daemonset", ds_name, namespace=NS) is None
    )


def test_a_daemonset_the_operator_did_not_make_is_left_alone(
    cluster: Cluster, image_name: str
) -> None:
    name = f"{image_name}-taken"
    ds_name = prepull.daemonset_name(name)
    theirs = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": ds_name, "labels": {"app": "someone-elses"}},
        "spec": {
            "selector": {"matchLabels": {"app": "someone-elses"}},
            "template": {
                "metadata": {"labels": {"app": "someone-elses"}},
                # No node runs it: only its being left alone matters.
                "spec": {
                    "nodeSelector": {"no-such-node": "true"},
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "c",
                            "image": "registry.example/theirs:1",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }
    cluster.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(theirs))
    try:
        before = _get(cluster, "daemonset", ds_name, namespace=NS)
        assert before is not None
        cluster.kubectl("apply", "-f", "-", input=_image(name, prePull=True))

        def says_taken() -> Any:
            pre = ((_get(cluster, "jupyterimage", name) or {}).get("status") or {}).get("prePull")
            return pre if pre and "not made by the operator" in (pre.get("message") or "") else None

        eventually("status says the name is taken", says_taken)
        cluster.kubectl("delete", "jupyterimage", name)
        time.sleep(2)  # the operator's turn to (wrongly) delete it
        after = _get(cluster, "daemonset", ds_name, namespace=NS)
        assert after is not None, "the operator deleted a DaemonSet it did not make"
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["spec"]["template"] == before["spec"]["template"]
        assert after["metadata"]["labels"] == before["metadata"]["labels"]
    finally:
        cluster.kubectl("delete", "jupyterimage", name, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "daemonset", ds_name, "-n", NS, "--ignore-not-found", check=False)
