"""`make run`'s example on the real node: examples/ with tools/realnode/local-catalog.sh, as
tools/run.sh applies them, bring `analysis` to Active as a real JupyterLab.

The examples' catalog names images of a public registry; this machine reaches none, so the
script points them at the local registry. A fresh clone's `make run` once waited in vain here
(the example's image could not be pulled): this is its test.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import REPO, example_docs, jupyterlab_image
from tests.cluster.realnode.conftest import NODE_NAME

pytestmark = pytest.mark.realnode

CATALOG = REPO / "examples" / "10-catalog.yaml"
LOCAL_CATALOG = REPO / "tools" / "realnode" / "local-catalog.sh"


@pytest.fixture
def local_catalog(cluster: Any, crds: Any, real_node: str) -> Iterator[None]:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CATALOG))
    made = subprocess.run(
        [str(LOCAL_CATALOG)], capture_output=True, text=True, env=cluster.env, timeout=120
    )
    assert made.returncode == 0, made.stderr
    yield
    # The examples' own catalog again, for the kwok tests of examples/ (test_examples.py).
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CATALOG))


def test_the_example_runs_a_real_jupyterlab_from_the_local_registry(
    kubectl: Any,
    namespace: str,
    operator: Any,
    local_catalog: None,
    wait_phase: Callable[..., dict[str, Any]],
) -> None:
    # The catalog is the fixture's (with the local images).
    docs = example_docs(namespace, without=(CATALOG,))
    kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))
    jc = wait_phase("analysis", "Active", timeout=300)
    assert jc["spec"]["image"] == "scipy"
    local = jupyterlab_image()
    assert jc["status"]["image"].startswith(local), jc["status"]
    selector = f"jupytercontainers.io/uid={jc['metadata']['uid']}"
    listed = kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
    pods = json.loads(listed)["items"]
    (pod,) = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert pod["spec"]["nodeName"] == NODE_NAME
    (status,) = pod["status"]["containerStatuses"]
    assert status["ready"] and status["image"].startswith(local), status
    claim = json.loads(
        kubectl("get", "pvc", jc["status"]["pvcName"], "-n", namespace, "-o", "json").stdout
    )
    assert claim["status"]["phase"] == "Bound"
