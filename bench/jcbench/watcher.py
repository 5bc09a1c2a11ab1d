"""Timestamps of what a user would see, taken from watches in a process of their own.

Run as `python -m jcbench.watcher OUT.jsonl` (KUBECONFIG set). It lists, then watches from
the list's resourceVersion (nothing is missed): JupyterContainers, and the Deployments, Pods
and PVCs labelled as the operator labels them (the floor's objects carry the same labels).
It appends one JSON line per change that matters, stamped with the wall clock on receipt:

  {"t": 1764250000.123, "kind": "jc", "type": "MODIFIED", "ns": ..., "name": ..., "key": "ns/name",
   "phase": "Active"}
  {"kind": "pod", ..., "key": "domain/name", "ready": true}
  {"kind": "deploy" | "pvc", ..., "key": "domain/name"}

and prints "ready" on stdout once every list is done. A separate process keeps the
benchmark's own create/patch work from delaying the receipt times.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from lightkube import AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource

from jupyter_containers.core import naming
from jupyter_containers.shell.resources import JupyterContainer

# Generic resources keep status as plain dicts: much cheaper to parse than the typed models.
RawPod = create_namespaced_resource("", "v1", "Pod", "pods")
RawDeployment = create_namespaced_resource("apps", "v1", "Deployment", "deployments")
RawPVC = create_namespaced_resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")

MANAGED = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE}


def _jc_state(obj: Any) -> dict[str, Any]:
    status = obj.status or {}
    return {"phase": status.get("phase")}


def _pod_state(obj: Any) -> dict[str, Any]:
    conditions = (obj.status or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    attempt = (obj.metadata.annotations or {}).get(naming.ATTEMPT_ANNOTATION)
    return {"ready": ready, "attempt": attempt, "terminating": bool(obj.metadata.deletionTimestamp)}


def _exists(_: Any) -> dict[str, Any]:
    return {}


def _pvc_state(obj: Any) -> dict[str, Any]:
    return {"bound": (obj.status or {}).get("phase") == "Bound"}


def _owner_key(obj: Any) -> str:
    labels = obj.metadata.labels or {}
    return f"{labels.get(naming.DOMAIN_LABEL)}/{labels.get(naming.NAME_LABEL)}"


def _jc_key(obj: Any) -> str:
    return f"{obj.metadata.namespace}/{obj.metadata.name}"


WATCHED: list[tuple[str, Any, Mapping[str, str] | None, Callable[[Any], dict[str, Any]], Any]] = [
    ("jc", JupyterContainer, None, _jc_state, _jc_key),
    ("deploy", RawDeployment, MANAGED, _exists, _owner_key),
    ("pod", RawPod, MANAGED, _pod_state, _owner_key),
    ("pvc", RawPVC, MANAGED, _pvc_state, _owner_key),
]


class Recorder:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.last: dict[tuple[str, str], dict[str, Any]] = {}

    def seen(self, kind: str, type_: str, obj: Any, state: dict[str, Any], key: str) -> None:
        ref = (kind, obj.metadata.uid)
        if type_ != "DELETED" and self.last.get(ref) == state:
            return
        if type_ == "DELETED":
            self.last.pop(ref, None)
        else:
            self.last[ref] = state
        record = {
            "t": time.time(),
            "kind": kind,
            "type": type_,
            "ns": obj.metadata.namespace,
            "name": obj.metadata.name,
            "uid": obj.metadata.uid,
            "key": key,
            **state,
        }
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()


async def _list_then_watch(
    client: AsyncClient,
    rec: Recorder,
    kind: str,
    res: Any,
    labels: Any,
    state: Any,
    key: Any,
    listed: asyncio.Event,
) -> None:
    items = client.list(res, namespace="*", labels=labels)
    async for obj in items:
        rec.seen(kind, "LISTED", obj, state(obj), key(obj))
    listed.set()
    async for type_, obj in client.watch(
        res, namespace="*", labels=labels, resource_version=items.resourceVersion
    ):
        rec.seen(kind, type_, obj, state(obj), key(obj))


async def main(out: IO[str]) -> None:
    # KUBECONFIG is the private cluster's (set by the parent): read it explicitly, never a
    # default that could be someone else's cluster.
    client = AsyncClient(KubeConfig.from_file(os.environ["KUBECONFIG"]), field_manager="jc-bench")
    client._client._client.headers["User-Agent"] = "jc-bench-watcher"
    rec = Recorder(out)
    events = [asyncio.Event() for _ in WATCHED]
    tasks = [
        asyncio.create_task(_list_then_watch(client, rec, *w, listed=e))
        for w, e in zip(WATCHED, events, strict=True)
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    listed = asyncio.create_task(asyncio.wait([asyncio.create_task(e.wait()) for e in events]))
    await asyncio.wait([listed, *tasks], return_when=asyncio.FIRST_COMPLETED)
    _raise_failed(tasks)
    print("ready", flush=True)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    _raise_failed(tasks)
    for t in tasks:
        t.cancel()
    await client.close()


def _raise_failed(tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            raise RuntimeError("a watch failed") from t.exception()


if __name__ == "__main__":
    with open(sys.argv[1], "a", encoding="utf-8") as f:
        asyncio.run(main(f))
