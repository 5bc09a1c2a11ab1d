"""Admission in a process of its own (`--role admission`), beside a `--role reconciler` one.

The chart's default pod runs these two processes. What this proves on the real API server:
the admission process alone judges and mutates (the reconciler opens no webhook port), the
reconciler alone reconciles, and killing the reconciler leaves admission answering: every
request sent while it is dead is judged, and what was admitted meanwhile is reconciled once
it is back.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.core.exceptions import ApiError

from jupyter_containers.core import naming
from tests.cluster.admission_probe import AdmissionProbe, JupyterContainer
from tests.cluster.conftest import OperatorProcess, container_manifest, get_jc
from tests.conftest import Cluster

pytestmark = pytest.mark.cluster


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def split(
    operator: OperatorProcess, tmp_path: Path
) -> Iterator[tuple[OperatorProcess, OperatorProcess]]:
    """The session's operator as two processes: the same identity, settings and Lease."""
    operator.stop()
    env = {k: v for k, v in operator.env.items() if not k.endswith("_PORT")}
    (tmp_path / "admission").mkdir()
    (tmp_path / "reconciler").mkdir()
    admission = OperatorProcess(env, tmp_path / "admission", role="admission")
    reconciler = OperatorProcess(env, tmp_path / "reconciler", role="reconciler")
    try:
        admission.start()  # points the managed webhook configurations at itself
        reconciler.start()
        yield admission, reconciler
    finally:
        # The reconciler finishes what the test leaves (the namespace's finalizers) before the
        # session's operator, which serves admission again, comes back.
        for proc in (reconciler, admission):
            proc.stop()
        operator.start()


@pytest.mark.timeout(240)
def test_admission_answers_while_the_reconciler_is_dead(
    cluster: Cluster,
    lightkube_client: Client,
    namespace: str,
    bundle: str,
    split: tuple[OperatorProcess, OperatorProcess],
    wait_phase: Any,
) -> None:
    admission, reconciler = split
    assert _listening(admission.webhook_port)
    assert not _listening(reconciler.webhook_port), "the reconciler serves webhooks"
    assert "admission webhooks on" in admission.log_path.read_text()
    assert "admission webhooks on" not in reconciler.log_path.read_text()

    def apply(name: str, running: bool = True, **spec: Any) -> None:
        body = container_manifest(name, bundle, running=running, **spec)
        lightkube_client.apply(JupyterContainer.from_dict(body), namespace=namespace, force=True)

    # Both at work: admission mutates (the creator recorded) and judges, the reconciler runs.
    apply("before", instanceType="test-small")
    wait_phase("before", "Active")
    annotations = get_jc(cluster, namespace, "before")["metadata"]["annotations"]
    assert annotations[naming.CREATED_BY_ANNOTATION]
    with pytest.raises(ApiError) as refused:
        apply("unknown-type", instanceType="no-such-type")
    assert "no-such-type" in str(refused.value.status.message)
    assert "calling webhook" not in str(refused.value.status.message)

    with AdmissionProbe(cluster, namespace, bundle) as probe:
        time.sleep(1)
        reconciler.kill()
        judged_before = probe.judged
        # Admitted with no reconciler: a new container, and a stop.
        apply("while-dead", instanceType="test-small")
        apply("before", running=False, instanceType="test-small")
        time.sleep(3)
        assert get_jc(cluster, namespace, "while-dead").get("status", {}).get("phase") in (
            None,
            "",
        ), "reconciled while the reconciler was dead"
        judged_while_dead = probe.judged - judged_before
        reconciler.start()
        wait_phase("while-dead", "Active")
        wait_phase("before", "Stopped")
    summary = (
        f"admission: {probe.allowed} allowed, {probe.judged} refused by the judge "
        f"({judged_while_dead} while the reconciler was dead), refusals: {probe.refusals}"
    )
    assert probe.refusals == [], summary
    assert judged_while_dead > 3 and probe.allowed > 10, summary
    for name in ("before", "while-dead"):
        cluster.kubectl("delete", "jc", name, "-n", namespace, "--wait=false")
