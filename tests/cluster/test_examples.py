"""The manifests in examples/ are valid and do what their comments say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import example_docs

pytestmark = pytest.mark.cluster

EXPECTED = {
    "analysis": "Active",
    "shared-notebooks": "Active",
    "scratch": "Stopped",
    "reporting": "Active",
}


def test_examples_apply_and_reach_their_phases(
    kubectl: Any, namespace: str, operator: Any, wait_phase: Callable[..., Any]
) -> None:
    docs = example_docs(namespace)
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))
    for name, phase in EXPECTED.items():
        jc = wait_phase(name, phase, timeout=90)
        assert jc["spec"]["bundle"] == "data-science"
    assert sorted(kubectl("get", "jc", "-n", namespace, "-o", "name").stdout.split()) == sorted(
        f"jupytercontainer.jupytercontainers.io/{n}" for n in EXPECTED
    )
    # The HostPath volume is in the catalog but refused for containers.
    refused = kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        check=False,
        input=yaml.safe_dump(
            {
                "apiVersion": "jupytercontainers.io/v1alpha1",
                "kind": "JupyterContainer",
                "metadata": {"name": "hostpath"},
                "spec": {"bundle": "data-science", "volume": "node-scratch"},
            }
        ),
    )
    assert refused.returncode != 0
    assert "Only On Demand PVC and NFS volumes are allowed in Jupyter Containers." in refused.stderr
