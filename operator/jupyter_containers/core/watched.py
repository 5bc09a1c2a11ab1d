"""What the operator keeps of each watched object: the facts its indexes and handlers read.

Pure. Applied to every watch event as it arrives (`shell.kopf_fixes`), before kopf queues it:
whatever kopf keeps of an event (its queues during a burst, a listing's bodies while they
are indexed at a restart; BENCHMARKS.md, "Memory") is then the few fields read here, not the
whole object (a pod's full spec and status are most of its size), as controller-runtime's
cache transforms do for Go operators.

A field that an index of `shell.world` (or a handler) reads must be kept here: the unit test
runs every index function on a full body and on its trimmed copy and compares the results.
Kinds not listed lose only `metadata.managedFields` (large on server-side-applied objects,
read by nobody here).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

#: Annotations nobody here reads, each a copy of an object (kubectl apply's, Helm's).
DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
#: What lifecycle judgements, failure messages and status read of a pod's status.
POD_STATUS = (
    "phase",
    "reason",
    "message",
    "conditions",
    "containerStatuses",
    "initContainerStatuses",
    "startTime",
    "podIP",
    "podIPs",
    "hostIP",
)
#: Of each pod container: what failure messages quote (image, limits) and where it listens.
POD_CONTAINER = ("name", "image", "resources", "ports")
#: What the event ledger, the warning mirror and its freshness check read of an Event.
EVENT_FIELDS = (
    "apiVersion",
    "kind",
    "metadata",
    "involvedObject",
    "type",
    "reason",
    "message",
    "count",
    "firstTimestamp",
    "lastTimestamp",
    "eventTime",
)
EVENT_METADATA = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
#: Of a Deployment's `ReplicaFailure` condition: what the failure message quotes.
CONDITION = ("type", "status", "reason", "message")
INVOLVED = ("kind", "name", "namespace", "uid")


def _meta(obj: dict[str, Any]) -> None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in DROPPED_ANNOTATIONS:
            annotations.pop(key, None)


def _pick(source: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: source[k] for k in keys if k in source} if isinstance(source, Mapping) else {}


def _pod(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if isinstance(spec, Mapping):
        brief: dict[str, Any] = {"nodeName": spec.get("nodeName")}
        for part in ("containers", "initContainers"):
            brief[part] = [_pick(c, POD_CONTAINER) for c in spec.get(part) or []]
        obj["spec"] = brief
    if "status" in obj:
        obj["status"] = _pick(obj["status"], POD_STATUS)


def deployment_status(status: Any) -> dict[str, Any]:
    """What the lifecycle reads of a Deployment's status: whether it reports on the current
    spec, and a refusal of its pods (`ReplicaFailure`). Not its replica counts, nor its other
    conditions' times: the pods themselves say whether JupyterLab runs, and each of those
    changes (four per start) was a watch event and a reconcile that decided nothing."""
    if not isinstance(status, Mapping):
        return {}
    out = _pick(status, ("observedGeneration",))
    failures = [
        _pick(c, CONDITION)
        for c in status.get("conditions") or []
        if isinstance(c, Mapping) and c.get("type") == "ReplicaFailure"
    ]
    if failures:
        out["conditions"] = failures
    return out


def _deployment(obj: dict[str, Any]) -> None:
    # The pod template is ours (its hash is an annotation).
    spec = obj.get("spec")
    obj["spec"] = _pick(spec, ("replicas",))
    if "status" in obj:
        obj["status"] = deployment_status(obj["status"])


def _service(obj: dict[str, Any]) -> None:
    obj["spec"] = _pick(obj.get("spec"), ("type", "clusterIP", "ports"))
    obj.pop("status", None)


def _event(obj: dict[str, Any]) -> None:
    for key in [k for k in obj if k not in EVENT_FIELDS]:
        del obj[key]
    obj["metadata"] = _pick(obj.get("metadata"), EVENT_METADATA)
    if "involvedObject" in obj:
        obj["involvedObject"] = _pick(obj["involvedObject"], INVOLVED)


#: By (API group, plural): "" is the core group.
_BY_KIND: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("", "pods"): _pod,
    ("apps", "deployments"): _deployment,
    ("", "services"): _service,
    ("", "events"): _event,
}


#: Kinds whose unchanged events (`fingerprint`) may be dropped: the operator's children, of
#: which nothing reads the resourceVersion. Not JupyterContainers (the culler's stop is
#: conditional on their resourceVersion) nor Events (each change is a count).
DEDUPLICATED: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "pods"),
        ("apps", "deployments"),
        ("", "services"),
        ("", "persistentvolumeclaims"),
        ("", "persistentvolumes"),
        ("networking.k8s.io", "networkpolicies"),
    }
)


def fingerprint(obj: Mapping[str, Any]) -> bytes:
    """A digest of a trimmed object without its resourceVersion: equal for two versions of
    an object that differ in nothing the operator reads."""
    meta = obj.get("metadata")
    if isinstance(meta, Mapping) and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def trim(group: str, plural: str, obj: Any) -> Any:
    """`obj` (a watched object of that kind) with only what the operator reads, in place."""
    if not isinstance(obj, dict):
        return obj
    _meta(obj)
    kind_trim = _BY_KIND.get((group, plural))
    if kind_trim is not None:
        kind_trim(obj)
    return obj
