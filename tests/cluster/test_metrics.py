"""Prometheus metrics, scraped from the operator after real transitions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cluster.conftest import scenario

pytestmark = pytest.mark.cluster


def samples(operator: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(operator.metrics()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scrape: dict[Any, float], name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_follow_real_transitions(
    operator: Any,
    namespace: str,
    make_container: Callable[..., Any],
    wait_phase: Callable[..., Any],
    kubectl: Any,
) -> None:
    before = samples(operator)
    make_container("ok")
    make_container("crashing", tags=scenario("crashloop"))
    wait_phase("ok", "Active")
    wait_phase("crashing", "Failed", reason="CrashLoopBackOff")
    after = samples(operator)

    assert value(after, "jupyter_containers_time_to_active_seconds_count") >= (
        value(before, "jupyter_containers_time_to_active_seconds_count") + 1
    )
    assert (
        value(after, "jupyter_containers_failures_total", reason="CrashLoopBackOff")
        >= value(before, "jupyter_containers_failures_total", reason="CrashLoopBackOff") + 1
    )
    assert value(after, "jupyter_containers_transitions_total", phase="Active") >= 1
    assert value(after, "jupyter_containers_by_phase", phase="Active") >= 1
    assert value(after, "jupyter_containers_by_phase", phase="Failed") >= 1
    # A Deployment's replica counts change as its pod comes and becomes Ready; the operator
    # reads none of them, so those events stopped before kopf (shell/kopf_fixes.py).
    assert value(
        after, "jupyter_containers_watch_events_unchanged_total", resource="deployments"
    ) > value(before, "jupyter_containers_watch_events_unchanged_total", resource="deployments")

    # Terminate: a transition to Stopped, and the gauge has a Stopped container. (Exact gauge
    # values are not asserted: earlier tests' namespaces may still be deleting containers.)
    stopped_before = value(after, "jupyter_containers_transitions_total", phase="Stopped")
    kubectl(
        "patch", "jc", "ok", "-n", namespace, "--type", "merge", "-p", '{"spec":{"running":false}}'
    )
    wait_phase("ok", "Stopped")
    final = samples(operator)
    assert value(final, "jupyter_containers_transitions_total", phase="Stopped") >= (
        stopped_before + 1
    )
    assert value(final, "jupyter_containers_by_phase", phase="Stopped") >= 1
