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

from lightkube import AsyncClient, KubeConfig
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

    async def make(i: int) -> None:
        body = service(f"s{i}", namespace, headless=headless)
        async with limit:
            began = time.monotonic()
            if apply:
                await client.patch(
                    Service,
                    f"s{i}",
                    body,
                    namespace=namespace,
                    patch_type=PatchType.APPLY,
                    field_manager="svc-probe",
                    force=True,
                )
            else:
                await client.create(Service.from_dict(body), namespace=namespace)
            latencies.append(time.monotonic() - began)

    began = time.monotonic()
    try:
        await asyncio.gather(*(make(i) for i in range(n)))
    finally:
        await client.delete(Namespace, namespace)
    wall = time.monotonic() - began
    latencies.sort()
    return (
        f"| {'apply' if apply else 'create'} | {'headless' if headless else 'ClusterIP'} | {n} "
        f"| {concurrency} | {wall:.1f} | {latencies[n // 2]:.3f} | {latencies[int(n * 0.99)]:.3f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=24)
    args = parser.parse_args()
    client = AsyncClient(KubeConfig.from_file(args.kubeconfig))
    limit = args.concurrency
    print("| request | Service | n | in flight | wall s | p50 s | p99 s |")
    print("|---|---|---|---|---|---|---|")
    try:
        for apply in (True, False):
            for headless in (False, True):
                way = one_way(client, apply=apply, headless=headless, n=args.n, concurrency=limit)
                print(await way)
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
