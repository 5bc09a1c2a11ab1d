"""core.watched: trimmed watch events keep every fact the indexes and handlers read."""

from __future__ import annotations

import copy
import json
from typing import Any

import kopf
import pytest

from jupyter_containers.core import naming, watched
from jupyter_containers.core.builders import build_network_policy
from jupyter_containers.core.settings import Settings
from jupyter_containers.shell import kopf_fixes, world
from tests.unit.test_builders import build_deployment, build_service, target

UID = "0b6f6a8e-2f1c-4c55-9d2c-3f1f2b9c1a11"
MANAGED_FIELDS = [{"manager": "jupyter-containers", "fieldsV1": {"f:spec": {"f:x": {}}}}]


def _server_side(obj: dict[str, Any], uid: str) -> dict[str, Any]:
    """A built object as the API server returns it (uid, resourceVersion, managedFields)."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    meta.update(uid=uid, resourceVersion="42", creationTimestamp="2026-01-01T00:00:00Z")
    meta["managedFields"] = copy.deepcopy(MANAGED_FIELDS)
    meta.setdefault("annotations", {})[watched.DROPPED_ANNOTATIONS[0]] = json.dumps(obj)
    return obj


def _deployment() -> dict[str, Any]:
    obj = _server_side(build_deployment(target()), "d-1")
    obj["status"] = {
        "observedGeneration": 1,
        "replicas": 1,
        "readyReplicas": 1,
        "conditions": [
            {"type": "Available", "status": "True", "lastUpdateTime": "2026-01-01T00:00:02Z"},
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": 'pods "jc-demo-1" is forbidden: exceeded quota',
                "lastUpdateTime": "2026-01-01T00:00:01Z",
            },
        ],
    }
    return obj


def _pod() -> dict[str, Any]:
    deployment = build_deployment(target())
    template = copy.deepcopy(deployment["spec"]["template"])
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **template["metadata"],
            "name": "jc-demo-abc",
            "namespace": deployment["metadata"]["namespace"],
            "ownerReferences": [{"kind": "ReplicaSet", "name": "jc-demo-1"}],
        },
        "spec": {**template["spec"], "nodeName": "node-1", "schedulerName": "default"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "jupyterlab", "ready": True, "restartCount": 0}],
            "startTime": "2026-01-01T00:00:01Z",
            "podIP": "10.0.0.7",
            "qosClass": "Guaranteed",
        },
    }
    return _server_side(pod, "p-1")


def _policy() -> dict[str, Any]:
    policy = build_network_policy("team-a", Settings())
    assert policy is not None
    return _server_side(policy, "n-1")


def _event() -> dict[str, Any]:
    return _server_side(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "jc-demo-abc.1", "namespace": "team-a"},
            "involvedObject": {
                "kind": "Pod",
                "name": "jc-demo-abc",
                "namespace": "team-a",
                "uid": "p-1",
                "apiVersion": "v1",
                "resourceVersion": "7",
                "fieldPath": "spec.containers{jupyterlab}",
            },
            "type": "Warning",
            "reason": "BackOff",
            "message": "Back-off pulling image",
            "count": 3,
            "lastTimestamp": "2026-01-01T00:00:05Z",
            "source": {"component": "kubelet", "host": "node-1"},
            "reportingComponent": "kubelet",
            "reportingInstance": "node-1",
        },
        "e-1",
    )


def _container() -> dict[str, Any]:
    return _server_side(
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterContainer",
            "metadata": {"name": "demo", "namespace": "team-a", "generation": 2},
            "spec": {"bundle": "team", "instanceType": "small"},
            "status": {"phase": "Active", "events": {"warnings": 0, "total": 3}},
        },
        UID,
    )


async def _index(fn: Any, body: dict[str, Any]) -> Any:
    meta = body["metadata"]
    return await fn(
        body=kopf.Body(body),
        labels=kopf.Body(body).metadata.labels,
        namespace=meta.get("namespace"),
        name=meta["name"],
        uid=meta.get("uid"),
    )


# Every index of shell.world over the kind it watches: the same result from the trimmed body.
INDEXES = [
    ("apps", "deployments", _deployment, world.deployments),
    ("apps", "deployments", _deployment, world.deployment_names),
    ("", "services", lambda: _server_side(build_service(target()), "s-1"), world.services),
    ("", "services", lambda: _server_side(build_service(target()), "s-1"), world.service_names),
    ("", "pods", _pod, world.pods),
    ("", "pods", _pod, world.pod_owners),
    ("", "pods", _pod, world.namespace_pods),
    ("apps", "deployments", _deployment, world.namespace_deployments),
    ("networking.k8s.io", "networkpolicies", _policy, world.namespace_policies),
    ("jupytercontainers.io", "jupytercontainers", _container, world.containers),
]


@pytest.mark.parametrize(("group", "plural", "make", "index"), INDEXES)
async def test_indexes_see_the_same_facts_in_a_trimmed_body(
    group: str, plural: str, make: Any, index: Any
) -> None:
    full = make()
    trimmed = watched.trim(group, plural, make())
    assert await _index(index, trimmed) == await _index(index, full)
    assert len(json.dumps(trimmed)) < len(json.dumps(full))


@pytest.mark.parametrize(
    ("group", "plural", "make", "gone"),
    [
        (
            "",
            "pods",
            _pod,
            [("spec", "volumes"), ("spec", "schedulerName"), ("status", "qosClass")],
        ),
        ("apps", "deployments", _deployment, [("spec", "template"), ("spec", "selector")]),
        (
            "",
            "events",
            _event,
            [("source",), ("reportingComponent",), ("involvedObject", "fieldPath")],
        ),
    ],
)
def test_what_nobody_reads_is_gone(
    group: str, plural: str, make: Any, gone: list[tuple[str, ...]]
) -> None:
    trimmed = watched.trim(group, plural, make())
    assert "managedFields" not in trimmed["metadata"]
    assert watched.DROPPED_ANNOTATIONS[0] not in (trimmed["metadata"].get("annotations") or {})
    for path in gone:
        node: Any = trimmed
        for part in path[:-1]:
            node = node[part]
        assert path[-1] not in node, path


def test_an_event_keeps_what_the_ledger_and_the_mirror_read() -> None:
    trimmed = watched.trim("", "events", _event())
    assert trimmed["metadata"] == {
        "name": "jc-demo-abc.1",
        "namespace": "team-a",
        "uid": "e-1",
        "resourceVersion": "42",
        "creationTimestamp": "2026-01-01T00:00:00Z",
    }
    assert trimmed["involvedObject"] == {
        "kind": "Pod",
        "name": "jc-demo-abc",
        "namespace": "team-a",
        "uid": "p-1",
    }
    assert (trimmed["type"], trimmed["reason"], trimmed["count"]) == ("Warning", "BackOff", 3)
    assert trimmed["lastTimestamp"] == "2026-01-01T00:00:05Z"


def test_a_pod_keeps_its_labels_ip_and_the_images_failure_messages_quote() -> None:
    trimmed = watched.trim("", "pods", _pod())
    assert trimmed["metadata"]["labels"][naming.UID_LABEL] == UID
    assert trimmed["status"]["podIP"] == "10.0.0.7"
    assert [c["image"] for c in trimmed["spec"]["containers"]] == [
        c["image"] for c in _pod()["spec"]["containers"]
    ]


def test_other_kinds_lose_only_managed_fields_and_last_applied() -> None:
    pvc = {
        "metadata": {"name": "v", "managedFields": [{}]},
        "spec": {"resources": {}},
        "status": {},
    }
    assert watched.trim("", "persistentvolumeclaims", pvc) == {
        "metadata": {"name": "v"},
        "spec": {"resources": {}},
        "status": {},
    }
    assert watched.trim("", "pods", "not an object") == "not an object"


async def test_the_wrapped_watch_stream_trims_by_the_resource_it_watches() -> None:
    resource = kopf.Resource("", "v1", "events")

    async def fake_watch(**_: object) -> Any:
        yield {"type": "ADDED", "object": _event()}
        yield "LISTED"

    wrapped = kopf_fixes.watch_without_managed_fields(fake_watch)
    seen = [e async for e in wrapped(resource=resource, namespace=None)]
    assert seen[0]["object"] == watched.trim("", "events", _event())
    assert seen[1] == "LISTED"


def test_a_deployment_keeps_of_its_status_what_the_lifecycle_reads() -> None:
    trimmed = watched.trim("apps", "deployments", _deployment())
    assert trimmed["status"] == {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": 'pods "jc-demo-1" is forbidden: exceeded quota',
            }
        ],
    }
    assert watched.deployment_status({"replicas": 1}) == {}
    assert watched.deployment_status(None) == {}


def test_the_fingerprint_ignores_the_resource_version_only() -> None:
    a = watched.trim("apps", "deployments", _deployment())
    b = copy.deepcopy(a)
    b["metadata"]["resourceVersion"] = "43"
    assert watched.fingerprint(a) == watched.fingerprint(b)
    b["status"]["observedGeneration"] = 2
    assert watched.fingerprint(a) != watched.fingerprint(b)
    assert a["metadata"]["resourceVersion"] == "42"  # the object itself is left as it was


def _modified(obj: dict[str, Any], version: str, kind: str = "MODIFIED") -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = version
    return {"type": kind, "object": obj}


async def test_events_that_change_nothing_read_never_reach_kopf() -> None:
    """A Deployment's replica counts change four times in a start: none is read, so those
    events are dropped; a change of what is read, a deletion and every other kind pass."""
    ready = _deployment()
    ready["status"]["readyReplicas"] = 0
    failed_again = _deployment()
    failed_again["status"]["observedGeneration"] = 2
    deployment_events = [
        _modified(_deployment(), "1", "ADDED"),
        _modified(ready, "2"),  # replica counts: dropped
        _modified(_deployment(), "3"),  # and back: dropped
        _modified(failed_again, "4"),  # observedGeneration: passes
        _modified(failed_again, "5", "DELETED"),  # always passes
        _modified(failed_again, "6", "ADDED"),  # recreated: seen afresh
    ]
    container = _container()
    container_events = [_modified(container, "1", "ADDED"), _modified(container, "2")]

    def stream(events: list[Any]) -> Any:
        async def fake_watch(**_: object) -> Any:
            for event in events:
                yield copy.deepcopy(event)
            yield "LISTED"

        return kopf_fixes.watch_without_managed_fields(fake_watch)

    deployments = kopf.Resource("apps", "v1", "deployments")
    seen = [e async for e in stream(deployment_events)(resource=deployments, namespace=None)]
    versions = [e["object"]["metadata"]["resourceVersion"] for e in seen if e != "LISTED"]
    assert versions == ["1", "4", "5", "6"]
    assert seen[-1] == "LISTED"
    # JupyterContainers: their resourceVersion is read (the culler's conditional stop).
    jcs = kopf.Resource("jupytercontainers.io", "v1alpha1", "jupytercontainers")
    seen = [e async for e in stream(container_events)(resource=jcs, namespace=None)]
    assert len(seen) == 3
