"""results.json -> Markdown tables for BENCHMARKS.md (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _ms(summary: Mapping[str, Any] | None, key: str) -> str:
    if not summary or key not in summary:
        return "-"
    return f"{summary[key] * 1000:.0f}"


def _mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f}"


def _label(r: Mapping[str, Any]) -> str:
    o = r["options"]
    flags = [f"N={o['n']}"]
    flags.append(f"webhooks {o.get('webhooks')}")
    if o.get("volume"):
        flags.append("PVC")
    if r.get("operator", {}).get("admission_process"):
        flags.append("admission apart")
    return ", ".join(flags) + f" ({o.get('operator', '?')})"


def latency_table(results: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        "| run | floor wall s | operator wall s | ratio | create→Deployment p50/p99 ms "
        "| pod Ready→Active p50/p99 ms | create→Active p50/p99 ms | peak RSS MiB (per process) "
        "| admission peak RSS MiB | reconcile errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        op = r.get("operator", {})
        create = op.get("create", {})
        floor = r.get("floor", {}).get("wall_seconds")
        wall = create.get("wall_seconds")
        ratio = f"{wall / floor:.2f}" if floor and wall else "-"
        peaks = list(op.get("peak_rss_kib_per_process") or [])
        rows.append(
            f"| {_label(r)} | {floor or '-'} | {wall or '-'} | {ratio} "
            f"| {_ms(create.get('creation_to_deployment'), 'p50')}/"
            f"{_ms(create.get('creation_to_deployment'), 'p99')} "
            f"| {_ms(create.get('pod_ready_to_active'), 'p50')}/"
            f"{_ms(create.get('pod_ready_to_active'), 'p99')} "
            f"| {_ms(create.get('creation_to_active'), 'p50')}/"
            f"{_ms(create.get('creation_to_active'), 'p99')} "
            f"| {_mib(max(peaks) if peaks else None)} ({' / '.join(_mib(p) for p in peaks)}) "
            f"| {_mib(op.get('admission_peak_rss_kib'))} "
            f"| {op.get('reconcile_errors', '-')} |"
        )
    return "\n".join(rows)


def economy_table(results: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        "| run | phase | wall s | requests/container | writes/container "
        "| operator CPU s (busy) | admission CPU s (busy) "
        "| writes by verb and resource (total) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        op = r.get("operator", {})
        for phase in ("create", "terminate", "start", "delete", "idle", "restart"):
            p = op.get(phase)
            if not p:
                continue
            api = p.get("api", {})
            wall = p.get("wall_seconds") or p.get("all_reconciled_seconds") or p.get("seconds")
            writes = api.get("writes_by_verb_resource", {})
            detail = ", ".join(f"{k}: {v}" for k, v in writes.items())
            cpu = p.get("operator_cpu_seconds")
            cpu_cell = "-" if cpu is None else f"{cpu} ({p.get('operator_cpu_busy')})"
            adm = p.get("admission_cpu_seconds")
            adm_cell = "-" if adm is None else f"{adm} ({p.get('admission_cpu_busy')})"
            rows.append(
                f"| {_label(r)} | {phase} | {wall} | {api.get('requests_per_container')} "
                f"| {api.get('writes_per_container')} | {cpu_cell} | {adm_cell} "
                f"| {detail or 'none'} |"
            )
    return "\n".join(rows)


def restart_table(results: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        "| run | healthz s | all containers reconciled s | writes | requests |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        p = r.get("operator", {}).get("restart")
        if not p:
            continue
        rows.append(
            f"| {_label(r)} | {p['healthz_seconds']} | {p['all_reconciled_seconds']} "
            f"| {p['api']['writes']} | {p['api']['requests']} |"
        )
    return "\n".join(rows)


def render(results: Sequence[Mapping[str, Any]]) -> str:
    return "\n\n".join(
        [
            "### Latency, wall time, memory",
            latency_table(results),
            "### API requests of the operator (audit log)",
            economy_table(results),
            "### Operator restart over N existing containers",
            restart_table(results),
        ]
    )
