"""Memory under hostile input: many stopped containers with the largest specs the CRD allows.

Each container has as many env entries, args and tags as the CRD's maxItems/maxProperties
allow (read from crds/), with long values, the object kept under etcd's request limit
(1.5 MiB). They are created stopped, so all the operator holds is their bodies, indexes and
statuses. Its resident memory must stay within the chart's memory limit (values.yaml), with
the headroom the chart's request gives the rest of its work. JC_CHAOS_MEMORY_CONTAINERS of them
(make chaos: more).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import yaml

from tests.chaos.conftest import rss_bytes, size
from tests.cluster.conftest import OperatorProcess
from tests.conftest import CRD_DIR, REPO, Cluster

ETCD_LIMIT = 1_500_000
#: The memory test's specs stay at half of 1 MiB each (an UPDATE's AdmissionReview carries the
#: object twice): many containers of that size, not a few of the largest (the last test).
WEBHOOK_BODY_LIMIT = 1024**2
UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def memory_limit() -> int:
    values = yaml.safe_load((REPO / "charts/jupyter-containers/values.yaml").read_text())
    text = str(values["resources"]["limits"]["memory"])
    for unit, factor in UNITS.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def largest_spec(limit: int = ETCD_LIMIT) -> dict[str, Any]:
    crd = yaml.safe_load((CRD_DIR / "jupytercontainers.io_jupytercontainers.yaml").read_text())
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]
    envs, tags = props["env"]["maxItems"], props["tags"]["maxProperties"]
    # As long as the CRD allows, or as fits in one etcd object across every env value.
    room = (limit - 50_000) // envs - 50
    value = "v" * min(props["env"]["items"]["properties"]["value"]["maxLength"], room)
    spec: dict[str, Any] = {
        "bundle": "team",
        "instanceType": "test-small",
        "running": False,
        "env": [{"name": f"FUZZ_{i}", "value": value} for i in range(envs)],
        "tags": {f"k{i}": "t" * 60 for i in range(tags)},
    }
    return spec


def test_many_stopped_containers_with_the_largest_specs_stay_within_the_memory_limit(
    cluster: Cluster, chaos_operator: OperatorProcess, domain: str
) -> None:
    count = size("MEMORY_CONTAINERS", 12)
    limit = memory_limit()
    assert chaos_operator.proc is not None
    pid = chaos_operator.proc.pid
    before = rss_bytes(pid)
    spec = largest_spec(WEBHOOK_BODY_LIMIT // 2)
    for i in range(count):
        manifest = {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterContainer",
            "metadata": {"name": f"big-{i}"},
            "spec": spec,
        }
        cluster.kubectl("create", "-n", domain, "-f", "-", input=json.dumps(manifest))
    peak = before
    deadline = time.monotonic() + 60 + count * 2
    while True:
        peak = max(peak, rss_bytes(pid))
        out = cluster.kubectl("get", "jc", "-n", domain, "-o", "jsonpath={.items[*].status.phase}")
        phases = out.stdout.split()
        if len(phases) == count and set(phases) == {"Stopped"}:
            break
        assert time.monotonic() < deadline, f"not all Stopped: {phases}"
        time.sleep(1)
    after = rss_bytes(pid)
    mib = 1024**2
    sys.stderr.write(
        f"\nchaos memory: {count} stopped containers of {len(json.dumps(spec)) // 1024} KiB: "
        f"RSS {before / mib:.0f} -> peak {peak / mib:.0f} -> {after / mib:.0f} MiB "
        f"(chart limit {limit / mib:.0f} MiB)\n"
    )
    assert chaos_operator.proc.poll() is None, chaos_operator.log_tail()
    assert peak < limit, f"RSS peaked at {peak / mib:.0f} MiB, limit {limit / mib:.0f} MiB"
    cluster.kubectl("delete", "jc", "--all", "-n", domain, "--timeout=180s", timeout=190)


def test_the_largest_spec_the_crd_allows_is_judged_by_the_webhook(
    cluster: Cluster, chaos_operator: OperatorProcess, domain: str
) -> None:
    manifest = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "JupyterContainer",
        "metadata": {"name": "largest"},
        "spec": largest_spec(),
    }
    cluster.kubectl("create", "-n", domain, "-f", "-", input=json.dumps(manifest))
