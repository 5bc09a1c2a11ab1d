"""How fast the API server makes Services, with and without a virtual IP (a bench-only probe).

    python bench/service_allocation.py --kubeconfig KUBECONFIG [-n 300] [--concurrency 24]

Makes `n` Services in a namespace of its own, `concurrency` requests in flight, four ways
(server-side apply or create, ClusterIP or headless), and prints each way's wall time and
request latency; then deletes the namespaces. Session 11 ran it on the benchmark's private
kwok cluster with 5000 Services present (BENCHMARKS.md): a ClusterIP Service's virtual IP is
allocated one at a time, whatever the concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Service
from lightkube.types import PatchType


def service(name: str, namespace: str, *, headless: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "ClusterIP",
        "selector": {"probe": name},
        "ports": [{"name": "http", "port": 8888, "targetPort": "http", "protocol": "TCP"}],
    }
    if headless:
        spec["clusterIP"] = "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


async def one_way(
    client: AsyncClient, *, apply: bool, headless: bool, n: int, concurrency: int
) -> str:
    namespace = f"svc-probe-{uuid.uuid4().hex[:8]}"
    await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    limit, latencies = asyncio.Semaphore(concurrency), []
    refused: list[str] = []  # e.g. "failed to allocate a serviceIP: range is full"

    async def make(i: int) -> None:
        body = service(f"s{i}", namespace, headless=headless)
        async with limit:
            began = time.monotonic()
            try:
                await _make(client, body, namespace, apply=apply)
            except ApiError as exc:
                refused.append(str(exc.status.message))
                return
            latencies.append(time.monotonic() - began)

    began = time.monotonic()
    try:
        await asyncio.gather(*(make(i) for i in range(n)))
    finally:
        wall = time.monotonic() - began
        await client.delete(Namespace, namespace)
        await _gone(client, namespace)  # its virtual IPs are free again for the next way
    latencies.sort()
    made = len(latencies)
    timing = (
        f"{wall:.1f} | {latencies[made // 2]:.3f} | {latencies[int(made * 0.99)]:.3f}"
        if made
        else "- | - | -"
    )
    note = f" | {len(refused)} refused: {refused[0]}" if refused else " |"
    return (
        f"| {'apply' if apply else 'create'} | {'headless' if headless else 'ClusterIP'} | {made} "
        f"| {concurrency} | {timing}{note}"
    )


async def _gone(client: AsyncClient, namespace: str) -> None:
    """Until the namespace is deleted, at most 2 minutes (a probe: polling is fine here)."""
    async with asyncio.timeout(120):
        while True:
            try:
                await client.get(Namespace, namespace)
            except ApiError as exc:
                if exc.status.code == 404:
                    return
                raise
            await asyncio.sleep(0.5)


async def _make(client: AsyncClient, body: dict[str, Any], namespace: str, *, apply: bool) -> None:
    name = body["metadata"]["name"]
    if apply:
        await client.patch(
            Service,
            name,
            body,
            namespace=namespace,
            patch_type=PatchType.APPLY,
            field_manager="svc-probe",
            force=True,
        )
    else:
        await client.create(Service.from_dict(body), namespace=namespace)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=24)
    args = parser.parse_args()
    client = AsyncClient(KubeConfig.from_file(args.kubeconfig))
    limit = args.concurrency
    print("| request | Service | made | in flight | wall s | p50 s | p99 s | refused |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for apply in (True, False):
            for headless in (False, True):
                way = one_way(client, apply=apply, headless=headless, n=args.n, concurrency=limit)
                print(await way)
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
