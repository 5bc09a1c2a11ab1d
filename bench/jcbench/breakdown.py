"""Where the pod-Ready-to-Active time goes, per container, from two independent clocks' records.

The watcher stamps the pod's first `Ready=True` event and the container's first `Active` event
on receipt; the API server's audit log stamps the operator's status patch that wrote `Active`
(`requestReceivedTimestamp`, and `stageTimestamp` of its ResponseComplete stage). Both run on
this machine's clock. Split:

- ready -> request: the pod's watch event reaching the operator, its work queue, the reconcile;
- request -> response: the API server (admission, etcd) answering the status patch;
- response -> seen: the API server's watch delivering the new status to the watcher.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from jcbench.stats import summarize
from jcbench.timeline import pod_ready


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def active_patches(
    audit_lines: Iterable[bytes], since: float = 0.0
) -> dict[str, tuple[float, float]]:
    """Per "namespace/name": (received, answered) of the first status patch that wrote Active.

    Only patches received at or after `since`: the log also holds earlier runs' containers,
    which had the same names.
    """
    out: dict[str, tuple[float, float]] = {}
    for line in audit_lines:
        if b'"subresource":"status"' not in line or b'"Active"' not in line:
            continue
        entry = json.loads(line)
        ref = entry.get("objectRef") or {}
        if (
            entry.get("stage") != "ResponseComplete"
            or entry.get("verb") != "patch"
            or ref.get("resource") != "jupytercontainers"
            or int((entry.get("responseStatus") or {}).get("code") or 0) >= 400
        ):
            continue
        status = (entry.get("requestObject") or {}).get("status") or {}
        key = f"{ref.get('namespace')}/{ref.get('name')}"
        received = _stamp(entry["requestReceivedTimestamp"])
        if status.get("phase") == "Active" and key not in out and received >= since:
            out[key] = (received, _stamp(entry["stageTimestamp"]))
    return out


def first_times(records: Iterable[Mapping[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Per container key: the first Ready pod record, the first Active container record."""
    ready: dict[str, float] = {}
    active: dict[str, float] = {}
    for r in records:
        if r["kind"] == "pod" and pod_ready(r):
            ready.setdefault(r["key"], r["t"])
        elif r["kind"] == "jc" and r.get("phase") == "Active":
            active.setdefault(r["key"], r["t"])
    return ready, active


def breakdown(
    records: Iterable[Mapping[str, Any]], patches: Mapping[str, tuple[float, float]]
) -> dict[str, Any]:
    ready, active = first_times(records)
    parts: dict[str, list[float]] = {
        "ready_to_request": [],
        "request_to_response": [],
        "response_to_seen": [],
        "ready_to_seen": [],
    }
    for key, t_ready in ready.items():
        if key not in active or key not in patches:
            continue
        received, answered = patches[key]
        parts["ready_to_request"].append(received - t_ready)
        parts["request_to_response"].append(answered - received)
        parts["response_to_seen"].append(active[key] - answered)
        parts["ready_to_seen"].append(active[key] - t_ready)
    return {name: summarize(values) for name, values in parts.items()}


def phase_window(
    results: Mapping[str, Any], phase: str, first_record: float
) -> tuple[float, float]:
    """When `phase` ran, on the watch log's clock: from its start to the next phase's."""
    phases = results.get("operator", {})
    if phase == "create" and "started_at" not in phases.get(phase, {}):
        # Results from before the phases were stamped: create came first.
        return first_record, float("inf")
    if "started_at" not in phases.get(phase, {}):
        raise ValueError(f"results.json has no start time of the {phase} phase")
    begin = float(phases[phase]["started_at"])
    later = [
        float(p["started_at"])
        for p in phases.values()
        if isinstance(p, Mapping) and float(p.get("started_at") or 0) > begin
    ]
    return begin, min(later, default=float("inf"))


def run(results_dir: Path, audit_log: Path, phase: str = "create") -> dict[str, Any]:
    records = [json.loads(line) for line in (results_dir / "operator-watch.jsonl").open()]
    results = json.loads((results_dir / "results.json").read_text())
    begin, end = phase_window(results, phase, min((r["t"] for r in records), default=0.0))
    records = [r for r in records if begin <= r["t"] < end]
    with audit_log.open("rb") as f:
        patches = active_patches(f, begin)
    return breakdown(records, patches)


def render(result: Mapping[str, Any]) -> str:
    lines = ["| part | count | p50 ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    for name, s in result.items():
        if not s.get("count"):
            lines.append(f"| {name} | 0 | - | - | - | - |")
            continue
        ms = [round(s[p] * 1000) for p in ("p50", "p90", "p99", "max")]
        lines.append(f"| {name} | {s['count']} | " + " | ".join(str(v) for v in ms) + " |")
    return "\n".join(lines)
