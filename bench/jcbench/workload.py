"""What the benchmark asks of the cluster: namespaces, bundles, containers, and the floor.

All requests go through one lightkube client whose User-Agent is `jc-bench`, so the audit
log tells them apart from the operator's.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from lightkube import AsyncClient, KubeConfig, codecs
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from jcbench.cluster import INSTANCE_TYPE, INSTANCE_TYPE_SPEC, VOLUME, VOLUME_SPEC
from jupyter_containers.api.models import InstanceTypeSpec, JupyterContainerSpec, VolumeSpec
from jupyter_containers.core.builders import (
    BuildInputs,
    build_deployment,
    build_pvc,
    build_service,
    build_token_secret,
)
from jupyter_containers.core.settings import Settings
from jupyter_containers.shell.resources import JupyterContainer, ResourceBundle

Key = tuple[str, str]  # (namespace, container name)
BUNDLE = "bench"
BENCH_LABEL = "jupytercontainers.io/bench"


def bench_client(kubeconfig: Path) -> AsyncClient:
    """A client of the private cluster only: never the inherited KUBECONFIG or ~/.kube/config."""
    client = AsyncClient(KubeConfig.from_file(kubeconfig), field_manager="jc-bench", timeout=60)
    client._client._client.headers["User-Agent"] = "jc-bench"
    return client


def keys(prefix: str, n: int, namespaces: int) -> list[Key]:
    """n containers spread round-robin over `namespaces` namespaces PREFIX-0..."""
    return [(f"{prefix}-{i % namespaces}", f"c{i:05d}") for i in range(n)]


async def bounded(
    items: Iterable[Key], work: Callable[[Key], Awaitable[None]], concurrency: int
) -> dict[Key, float]:
    """Run `work` for each key, at most `concurrency` at a time; when each one returned."""
    return (await bounded_spans(items, work, concurrency))[1]


async def bounded_spans(
    items: Iterable[Key], work: Callable[[Key], Awaitable[None]], concurrency: int
) -> tuple[dict[Key, float], dict[Key, float]]:
    """As `bounded`, with when each one started too."""
    limit = asyncio.Semaphore(concurrency)
    started: dict[Key, float] = {}
    done: dict[Key, float] = {}

    async def one(key: Key) -> None:
        async with limit:
            started[key] = time.time()
            await work(key)
            done[key] = time.time()

    await asyncio.gather(*(one(k) for k in items))
    return started, done


async def create_namespaces(client: AsyncClient, names: Iterable[str]) -> None:
    for name in names:
        await client.create(Namespace(metadata=ObjectMeta(name=name, labels={BENCH_LABEL: "true"})))


async def create_bundles(client: AsyncClient, namespaces: Iterable[str]) -> None:
    for ns in namespaces:
        await client.create(
            ResourceBundle(
                metadata=ObjectMeta(name=BUNDLE, namespace=ns),
                spec={"owner": "kwok-admin", "description": "benchmark"},
            )
        )


def container_spec(volume: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"bundle": BUNDLE, "instanceType": INSTANCE_TYPE, "running": True}
    if volume:
        spec["volume"] = VOLUME
    return spec


async def create_containers(
    client: AsyncClient, items: list[Key], *, volume: bool, concurrency: int
) -> dict[Key, float]:
    async def create(key: Key) -> None:
        ns, name = key
        await client.create(
            JupyterContainer(
                metadata=ObjectMeta(name=name, namespace=ns), spec=container_spec(volume)
            )
        )

    return await bounded(items, create, concurrency)


async def set_running(
    client: AsyncClient, items: list[Key], running: bool, *, concurrency: int
) -> dict[Key, float]:
    async def patch(key: Key) -> None:
        ns, name = key
        await client.patch(
            JupyterContainer,
            name,
            {"spec": {"running": running}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )

    return await bounded(items, patch, concurrency)


async def delete_containers(
    client: AsyncClient, items: list[Key], *, concurrency: int
) -> dict[Key, float]:
    async def delete(key: Key) -> None:
        ns, name = key
        await client.delete(JupyterContainer, name, namespace=ns)

    return await bounded(items, delete, concurrency)


def floor_objects(key: Key, *, volume: bool) -> list[dict[str, Any]]:
    """The very objects the operator would make for this container, by its own builders."""
    ns, name = key
    spec = JupyterContainerSpec.model_validate(container_spec(volume))
    target = BuildInputs(
        name=name,
        domain=ns,
        uid=str(uuid.uuid4()),
        spec=spec,
        instance_type_name=INSTANCE_TYPE,
        instance_type=InstanceTypeSpec.model_validate(INSTANCE_TYPE_SPEC),
        volume_name=VOLUME if volume else None,
        volume=VolumeSpec.model_validate(VOLUME_SPEC) if volume else None,
        settings=Settings(),
        attempt=1,
    )
    pvc = build_pvc(target)
    objects = [build_token_secret(target, secrets.token_urlsafe(32))]
    objects += [pvc] if pvc is not None else []
    # The operator's order: token Secret, PVC, Deployment, Service.
    return [*objects, build_deployment(target), build_service(target)]


async def create_floor(
    client: AsyncClient,
    items: list[Key],
    *,
    volume: bool,
    concurrency: int,
) -> dict[Key, float]:
    """When each container's first object was sent (its "creation")."""

    async def create(key: Key) -> None:
        for obj in floor_objects(key, volume=volume):
            await client.create(codecs.from_dict(obj))

    return (await bounded_spans(items, create, concurrency))[0]


async def delete_namespaces(client: AsyncClient, names: Iterable[str]) -> None:
    for name in names:
        try:
            await client.delete(Namespace, name)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
