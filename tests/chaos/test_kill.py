"""kill -9 the operator at random points of random operations; afterwards nothing is out of place.

`make chaos` runs JC_CHAOS_OPERATIONS operations (make test: a reduced run); after each one
the operator is killed with probability JC_CHAOS_KILL_PERCENT, after a random delay within its
reconciliation of what came before, and started again. Then every container must settle in the
phase its spec implies, and tests/chaos/checker.py finds no orphan, duplicate, misplaced child
or lost PVC; finally everything is deleted and nothing may be left.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

import yaml

from tests.chaos import checker
from tests.chaos.conftest import size
from tests.chaos.ops import Driver
from tests.cluster.conftest import OperatorProcess
from tests.conftest import Cluster

ON_DEMAND = ("test-home", "test-home-large")


def settle(cluster: Cluster, driver: Driver, timeout: float = 180) -> None:
    """Until every container is in the phase its spec implies (or the timeout)."""
    deadline = time.monotonic() + timeout
    for name in driver.names:
        obj = driver.exists(name)
        if obj is None:
            continue
        want = "Active" if obj["spec"].get("running", True) else "Stopped"
        left = max(int(deadline - time.monotonic()), 5)
        cluster.kubectl(
            "wait",
            f"jc/{name}",
            "-n",
            driver.domain,
            f"--for=jsonpath={{.status.phase}}={want}",
            f"--timeout={left}s",
            check=False,
            timeout=left + 10,
        )


def wait_deleted(cluster: Cluster, domain: str) -> None:
    cluster.kubectl(
        "wait",
        "--for=delete",
        "jc",
        "--all",
        "-n",
        domain,
        "--timeout=120s",
        check=False,
        timeout=130,
    )


def test_kill_9_during_random_operations_leaves_nothing_out_of_place(
    cluster: Cluster, chaos_operator: OperatorProcess, domain: str, other: str
) -> None:
    operations = size("OPERATIONS", 16)
    kill_percent = size("KILL_PERCENT", 25)
    seed = int(os.environ.get("JC_CHAOS_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    driver = Driver(cluster, domain, (domain, other), rng)
    kills, log = 0, []
    for _ in range(operations):
        log.append(driver.step())
        if rng.random() * 100 < kill_percent:
            time.sleep(rng.uniform(0, 1.5))
            chaos_operator.kill()
            kills += 1
            chaos_operator.start()
    settle(cluster, driver)
    time.sleep(3)  # writes after the phase (bundle lists, Secrets in an old namespace)
    report = checker.inspect(cluster, [domain], ON_DEMAND)
    summary = (
        f"seed {seed}: {operations} operations ({dict(driver.done)} done, "
        f"{dict(driver.refused)} refused, {driver.retries} retries while the webhook was down), "
        f"{kills} kills; {report}"
    )
    sys.stderr.write(f"\nchaos kill: {summary}\n")
    assert chaos_operator.proc is not None and chaos_operator.proc.poll() is None
    problems = report.problems()
    assert not problems, summary + "\n" + "\n".join(log)

    cluster.kubectl("delete", "jc", "--all", "-n", domain, "--wait=false")
    wait_deleted(cluster, domain)
    time.sleep(3)
    after = checker.inspect(cluster, [domain], ON_DEMAND)
    sys.stderr.write(f"chaos kill after delete: {after}\n")
    assert not after.problems() and after.children == 0, str(after)


def _jc(name: str, **spec: Any) -> str:
    manifest = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "JupyterContainer",
        "metadata": {"name": name},
        "spec": {"bundle": "team", "instanceType": "test-small", **spec},
    }
    return yaml.safe_dump(manifest)


def _phase(cluster: Cluster, ns: str, name: str, phase: str) -> None:
    cluster.kubectl(
        "wait",
        f"jc/{name}",
        "-n",
        ns,
        f"--for=jsonpath={{.status.phase}}={phase}",
        "--timeout=60s",
        timeout=70,
    )


def test_stopped_container_moved_then_deleted_leaves_no_token_secret(
    cluster: Cluster, chaos_operator: OperatorProcess, domain: str, other: str
) -> None:
    cluster.kubectl("create", "-n", domain, "-f", "-", input=_jc("mover"))
    _phase(cluster, domain, "mover", "Active")
    patch = json.dumps({"spec": {"running": False}})
    cluster.kubectl("patch", "jc", "mover", "-n", domain, "--type=merge", "-p", patch)
    _phase(cluster, domain, "mover", "Stopped")
    patch = json.dumps({"spec": {"namespace": other}})
    cluster.kubectl("patch", "jc", "mover", "-n", domain, "--type=merge", "-p", patch)
    time.sleep(2)
    cluster.kubectl("delete", "jc", "mover", "-n", domain, "--timeout=60s", timeout=70)
    time.sleep(2)
    report = checker.inspect(cluster, [domain])
    assert report.children == 0 and not report.orphans, str(report)
