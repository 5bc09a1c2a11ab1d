"""Prometheus metrics of the operator."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from jupyter_containers.api.models import Phase

registry = CollectorRegistry(auto_describe=True)

containers_by_phase = Gauge(
    "jupyter_containers_by_phase",
    "JupyterContainers by status phase.",
    ["phase"],
    registry=registry,
)
time_to_active = Histogram(
    "jupyter_containers_time_to_active_seconds",
    "Seconds from a start attempt to status Active.",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
    registry=registry,
)
failures = Counter(
    "jupyter_containers_failures_total",
    "Transitions to Failed, by reason.",
    ["reason"],
    registry=registry,
)
reconcile_errors = Counter(
    "jupyter_containers_reconcile_errors_total",
    "Reconciles that raised and were retried.",
    registry=registry,
)
leader = Gauge(
    "jupyter_containers_leader",
    "1 while this replica holds the leader Lease and reconciles (or runs without election).",
    registry=registry,
)
transitions = Counter(
    "jupyter_containers_transitions_total",
    "Phase transitions.",
    ["phase"],
    registry=registry,
)

culled = Counter(
    "jupyter_containers_culled_total",
    "Containers the operator stopped: idle (Culled) or past their maximum lifetime "
    "(LifetimeExceeded).",
    ["reason"],
    registry=registry,
)
activity_probes = Counter(
    "jupyter_containers_activity_probes_total",
    "Activity probes of a container's JupyterLab, by result (ok, unreachable, no_token).",
    ["result"],
    registry=registry,
)
watch_events_unchanged = Counter(
    "jupyter_containers_watch_events_unchanged_total",
    "Watch events dropped before kopf because they change nothing the operator reads, by resource.",
    ["resource"],
    registry=registry,
)


class PhaseTracker:
    """Keeps the by-phase gauge equal to the phases the operator last saw."""

    def __init__(self) -> None:
        self._phases: dict[object, str] = {}
        for phase in Phase:
            containers_by_phase.labels(phase=phase.value).set(0)

    def set(self, key: object, phase: str | None) -> None:
        old = self._phases.get(key)
        if old == phase:
            return
        if old is not None:
            containers_by_phase.labels(phase=old).dec()
        if phase is None:
            self._phases.pop(key, None)
        else:
            self._phases[key] = phase
            containers_by_phase.labels(phase=phase).inc()
