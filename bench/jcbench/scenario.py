"""One benchmark run at one N: the floor, then the operator through every lifecycle phase.

Each phase records wall time, per-container latencies (from the watcher's receipt times) and
the operator's requests as counted by the API server's audit log.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightkube import AsyncClient

from jcbench import PHASES, audit, webhooks, workload
from jcbench.audit import OPERATOR_AGENTS, AuditLog
from jcbench.cluster import BenchCluster
from jcbench.operator_proc import OperatorProcess, free_port
from jcbench.profiler import Profiler
from jcbench.stats import summarize
from jcbench.timeline import Timeline, deltas, pod_ready


@dataclass
class Options:
    n: int
    namespaces: int = 10
    volume: bool = False
    webhooks: str = "installed"  # one of WEBHOOK_MODES
    admission: str = "own"  # own: a process of its own (the chart's default); same: one process
    concurrency: int = 32
    idle_seconds: float = 300
    floor: bool = True
    phases: tuple[str, ...] = PHASES
    profile: tuple[str, ...] = ()
    out: Path = field(default_factory=lambda: Path.cwd())

    @property
    def timeout(self) -> float:
        return 120 + self.n * 1.0


def machine_state() -> dict[str, Any]:
    """What else was running: load and the busiest processes (the machine is shared)."""
    ps = subprocess.run(
        ["ps", "-eo", "pcpu,rss,args", "--sort=-pcpu"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[1:9]
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "top": [line[:160] for line in ps],
    }


def _keystr(keys: list[workload.Key]) -> list[str]:
    return [f"{ns}/{name}" for ns, name in keys]


def _by_key(times: dict[workload.Key, float]) -> dict[str, float]:
    return {f"{ns}/{name}": t for (ns, name), t in times.items()}


async def settle(log: AuditLog, quiet: float = 3.0, limit: float = 120.0) -> float:
    """Wait until the operator made no request for `quiet` seconds; returns how long it took."""
    start = time.monotonic()
    offset = log.mark()
    last = time.monotonic()
    while time.monotonic() - start < limit:
        await asyncio.sleep(0.5)
        end = log.mark()
        if log.entries(offset, end, agents=OPERATOR_AGENTS):
            last = time.monotonic()
        offset = end
        if time.monotonic() - last >= quiet:
            break
    return round(time.monotonic() - start, 1)


class Run:
    def __init__(self, cluster: BenchCluster, opts: Options) -> None:
        self.cluster = cluster
        self.opts = opts
        self.log = AuditLog(cluster.audit_log)
        self.results: dict[str, Any] = {"options": _options_dict(opts)}
        #: The admission process, when it runs apart from the reconciler (Options.admission).
        self.admission: OperatorProcess | None = None

    def wait_gone(self, namespaces: list[str]) -> None:
        self.cluster.kubectl(
            "wait",
            "--for=delete",
            *[f"namespace/{n}" for n in namespaces],
            f"--timeout={self.opts.timeout:.0f}s",
            timeout=self.opts.timeout + 30,
        )

    def save(self) -> None:
        path = self.opts.out / "results.json"
        path.write_text(json.dumps(self.results, indent=2, sort_keys=False) + "\n")

    # ---------------------------------------------------------------- floor

    async def floor(self) -> None:
        opts = self.opts
        client = workload.bench_client(self.cluster.kubeconfig)
        names = [f"bench-floor-{i}" for i in range(opts.namespaces)]
        items = workload.keys("bench-floor", opts.n, opts.namespaces)
        await workload.create_namespaces(client, names)
        tl = Timeline(opts.out / "floor-watch.jsonl", self.cluster.env)
        try:
            tl.start()
            self.results["floor"] = await self._floor(client, tl, items)
            self.save()
        finally:
            tl.stop()
            await workload.delete_namespaces(client, names)
            await client.close()
            self.wait_gone(names)

    async def _floor(
        self, client: AsyncClient, tl: Timeline, items: list[workload.Key]
    ) -> dict[str, Any]:
        opts = self.opts
        want = set(_keystr(items))
        before = machine_state()
        mark = self.log.mark()
        t0 = time.time()
        created = await workload.create_floor(
            client, items, volume=opts.volume, concurrency=opts.concurrency
        )
        created_at = time.time()
        await tl.wait(
            lambda t: sum(1 for k in want if t.pods_ready.get(k)) == len(want),
            opts.timeout,
            "the floor's pods to be Ready",
        )
        ready = tl.first("pod", t0, pod_ready)
        deployed = tl.first("deploy", t0)
        await asyncio.sleep(3)
        everyone = self.log.entries(mark, self.log.mark())
        created_k = _by_key(created)
        return {
            "machine": before,
            "wall_seconds": round(max(ready[k] for k in want) - t0, 2),
            "create_calls_seconds": round(created_at - t0, 2),
            "deployment_to_pod_ready": summarize(deltas(deployed, ready)[0]),
            "creation_to_pod_ready": summarize(deltas(created_k, ready)[0]),
            "requests_by_agent": audit.by_agent(everyone),
            "bench_requests": audit.tally(e for e in everyone if e.get("userAgent") == "jc-bench"),
        }

    # ---------------------------------------------------------------- operator

    async def operator(self) -> None:
        opts = self.opts
        client = workload.bench_client(self.cluster.kubeconfig)
        names = [f"bench-op-{i}" for i in range(opts.namespaces)]
        items = workload.keys("bench-op", opts.n, opts.namespaces)
        keys = _keystr(items)
        await workload.create_namespaces(client, names)
        await workload.create_bundles(client, names)
        cert_dir, port = opts.out / "webhook-tls", free_port()
        if opts.webhooks == "installed":
            webhooks.install(self.cluster, opts.out, cert_dir, port)
        own = opts.admission == "own" and opts.webhooks != "off"
        # As the chart's pod: the reconciler, and admission in a process of its own.
        adm = (
            OperatorProcess(
                self.cluster.env,
                opts.out,
                webhook_managed=opts.webhooks == "managed",
                cert_dir=cert_dir,
                webhook_port=port,
                role="admission",
                extra_env={"JC_METRICS_PORT": "0"},
            )
            if own
            else None
        )
        op = OperatorProcess(
            self.cluster.env,
            opts.out,
            webhook_managed=opts.webhooks == "managed" and not own,
            cert_dir=cert_dir,
            webhook_port=port,
            role="reconciler" if own or opts.webhooks == "off" else None,
        )
        results: dict[str, Any] = {"admission_process": own}
        self.results["operator"] = results
        self.admission = adm
        tl = Timeline(opts.out / "operator-watch.jsonl", self.cluster.env)
        try:
            if adm is not None:
                adm.log_name = "admission"
                results["admission_start_seconds"] = round(adm.start(), 2)
                results["admission_rss_idle_kib"] = adm.memory()["VmRSS"]
            results["start_seconds"] = round(op.start(), 2)
            results["rss_idle_kib"] = op.memory()["VmRSS"]
            tl.start()
            for phase in opts.phases:
                results[phase] = await self._phase(phase, client, op, tl, items, keys)
                self.save()
        finally:
            tl.stop()
            # Containers left over (a failed phase) need the running operator for their
            # finalizers, so the namespaces go before it stops.
            await workload.delete_namespaces(client, names)
            await client.close()
            try:
                self.wait_gone(names)
            finally:
                op.stop()
                if adm is not None:
                    adm.stop()
                    results["admission_peak_rss_kib"] = adm.peak_kib[-1] if adm.peak_kib else None
                webhooks.uninstall(self.cluster)
                results["peak_rss_kib_per_process"] = op.peak_kib
                # Every process's count when it stopped (the first one's too: it runs create).
                results["reconcile_errors_per_process"] = op.errors
                results["reconcile_errors"] = sum(e or 0 for e in op.errors)
                self.save()

    async def _phase(
        self,
        phase: str,
        client: AsyncClient,
        op: OperatorProcess,
        tl: Timeline,
        items: list[workload.Key],
        keys: list[str],
    ) -> dict[str, Any]:
        # The restart phase profiles the new process itself, once it runs.
        profiler = (
            Profiler(op.pid, self.opts.out / f"profile-{phase}.json")
            if phase in self.opts.profile and phase != "restart"
            else None
        )
        before = machine_state()
        # The restart phase starts a new process: its CPU is counted from zero. (It restarts
        # the reconciler only, as the kubelet restarts one container of the pod.)
        cpu_before = op.cpu_seconds() if phase != "restart" else 0.0
        adm = self.admission
        adm_cpu_before = adm.cpu_seconds() if adm is not None else 0.0
        t0, started_at = time.monotonic(), time.time()
        try:
            out: dict[str, Any] = await getattr(self, f"_{phase}")(client, op, tl, items, keys)
        finally:
            if profiler is not None:
                profiler.stop()
        out["machine"] = before
        out["started_at"] = started_at  # the watch log's clock: `jcbench breakdown --phase`
        if op.proc is not None:
            # Busy near 1.0: the event loop had no spare time (one thread does the work).
            cpu = op.cpu_seconds() - cpu_before
            out["operator_cpu_seconds"] = round(cpu, 2)
            out["operator_cpu_busy"] = round(cpu / max(time.monotonic() - t0, 1e-9), 3)
            out["rss_kib"] = op.memory()
            out["reconcile_errors_so_far"] = op.reconcile_errors()  # this process's
        if adm is not None and adm.proc is not None:
            cpu = adm.cpu_seconds() - adm_cpu_before
            out["admission_cpu_seconds"] = round(cpu, 2)
            out["admission_cpu_busy"] = round(cpu / max(time.monotonic() - t0, 1e-9), 3)
            out["admission_rss_kib"] = adm.memory()
        return out

    def _economy(self, mark: int, end: int) -> dict[str, Any]:
        return audit.economy(self.log.entries(mark, end, agents=OPERATOR_AGENTS), self.opts.n)

    async def _create(self, client, op, tl, items, keys) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        opts = self.opts
        mark = self.log.mark()
        t0 = time.time()
        created = _by_key(
            await workload.create_containers(
                client, items, volume=opts.volume, concurrency=opts.concurrency
            )
        )
        created_at = time.time()
        await tl.wait(
            lambda t: t.count_phase(keys, "Active") == len(keys), opts.timeout, "all Active"
        )
        active = tl.first("jc", t0, lambda r: r.get("phase") == "Active")
        deployed = tl.first("deploy", t0)
        ready = tl.first("pod", t0, pod_ready)
        quiet = await settle(self.log)
        end = self.log.mark()
        everyone = self.log.entries(mark, end)
        ready_to_active, missing = deltas(ready, active)
        return {
            "wall_seconds": round(max(active[k] for k in keys) - t0, 2),
            "create_calls_seconds": round(created_at - t0, 2),
            "creation_to_deployment": summarize(deltas(created, deployed)[0]),
            "pod_ready_to_active": summarize(ready_to_active),
            "creation_to_active": summarize(deltas(created, active)[0]),
            "missing_pod_ready": len(missing),
            "settle_seconds": quiet,
            "requests_by_agent": audit.by_agent(everyone),
            "api": audit.economy(
                [e for e in everyone if audit.agent_class(e.get("userAgent", "")) == "operator"],
                opts.n,
            ),
        }

    async def _idle(self, client, op, tl, items, keys) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        mark = self.log.mark()
        await asyncio.sleep(self.opts.idle_seconds)
        end = self.log.mark()
        return {"seconds": self.opts.idle_seconds, "api": self._economy(mark, end)}

    async def _restart(self, client, op, tl, items, keys) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        opts = self.opts
        op.stop()
        mark = self.log.mark()
        healthy = op.start()
        profiler = (
            Profiler(op.pid, opts.out / "profile-restart.json")
            if "restart" in opts.profile
            else None
        )
        # Ready: every container reconciled again (the phase gauge counts what it decided).
        deadline = time.monotonic() + opts.timeout
        try:
            while op.phase_count("Active") < opts.n:
                if time.monotonic() > deadline:
                    raise TimeoutError("the restarted operator did not see every container Active")
                await asyncio.sleep(0.1)
        finally:
            if profiler is not None:
                profiler.stop()
        reconciled = time.time() - op.started_at
        quiet = await settle(self.log, quiet=5.0)
        end = self.log.mark()
        return {
            "healthz_seconds": round(healthy, 2),
            "all_reconciled_seconds": round(reconciled, 2),
            "settle_seconds": quiet,
            "api": self._economy(mark, end),
        }

    async def _transition(
        self, tl: Timeline, keys: list[str], t0: float, sent: dict[str, float], phase: str
    ) -> dict[str, Any]:
        await tl.wait(
            lambda t: t.count_phase(keys, phase) == len(keys), self.opts.timeout, f"all {phase}"
        )
        reached = tl.first("jc", t0, lambda r: r.get("phase") == phase)
        return {
            "wall_seconds": round(max(reached[k] for k in keys) - t0, 2),
            f"request_to_{phase.lower()}": summarize(deltas(sent, reached)[0]),
        }

    async def _terminate(self, client, op, tl, items, keys) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        mark = self.log.mark()
        t0 = time.time()
        sent = _by_key(
            await workload.set_running(client, items, False, concurrency=self.opts.concurrency)
        )
        out = await self._transition(tl, keys, t0, sent, "Stopped")
        out["settle_seconds"] = await settle(self.log)
        out["api"] = self._economy(mark, self.log.mark())
        return out

    async def _start(self, client, op, tl, items, keys) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        mark = self.log.mark()
        t0 = time.time()
        sent = _by_key(
            await workload.set_running(client, items, True, concurrency=self.opts.concurrency)
        )
        out = await self._transition(tl, keys, t0, sent, "Active")
        ready = tl.first("pod", t0, pod_ready)
        active = tl.first("jc", t0, lambda r: r.get("phase") == "Active")
        out["pod_ready_to_active"] = summarize(deltas(ready, active)[0])
        out["settle_seconds"] = await settle(self.log)
        out["api"] = self._economy(mark, self.log.mark())
        return out

    async def _delete(self, client, op, tl, items, keys) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        mark = self.log.mark()
        t0 = time.time()
        sent = _by_key(
            await workload.delete_containers(client, items, concurrency=self.opts.concurrency)
        )
        await tl.wait(
            lambda t: not any(k in t.phase for k in keys), self.opts.timeout, "all deleted"
        )
        gone = tl.first("jc", t0, lambda r: r["type"] == "DELETED")
        out = {
            "wall_seconds": round(max(gone[k] for k in keys) - t0, 2),
            "request_to_gone": summarize(deltas(sent, gone)[0]),
            "settle_seconds": await settle(self.log),
        }
        out["api"] = self._economy(mark, self.log.mark())
        return out


def _options_dict(opts: Options) -> dict[str, Any]:
    return {
        "n": opts.n,
        "namespaces": opts.namespaces,
        "volume": opts.volume,
        "webhooks": opts.webhooks,
        "concurrency": opts.concurrency,
        "idle_seconds": opts.idle_seconds,
        "phases": list(opts.phases),
        "nproc": os.cpu_count(),
    }
