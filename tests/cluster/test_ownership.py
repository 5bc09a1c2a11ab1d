"""Issue 12, items 3, 4 and 6 on a real API server: every child name belongs to one
container, stop and delete always work, and the reconciler keeps the namespace rule when
the webhook did not run.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from jupyter_containers.core import naming
from tests.cluster.conftest import OperatorProcess, container_manifest, get_jc
from tests.conftest import Cluster, create_test_namespace

pytestmark = pytest.mark.cluster

Make = Callable[..., dict[str, Any]]
Wait = Callable[..., dict[str, Any]]
DELETED_KINDS = ("deployments", "services", "secrets", "pvc")


def by_uid(kubectl: Any, kind: str, uid: str, namespace: str | None = None) -> list[str]:
    """Names of the objects of one kind labelled with a container's uid (not being deleted)."""
    where = ["-n", namespace] if namespace else ["-A"]
    out = kubectl("get", kind, *where, "-l", f"{naming.UID_LABEL}={uid}", "-o", "json")
    return sorted(
        o["metadata"]["name"]
        for o in json.loads(out.stdout)["items"]
        if not o["metadata"].get("deletionTimestamp")
    )


def apply(kubectl: Any, namespace: str, manifest: dict[str, Any]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))


def bundle_in(kubectl: Any, namespace: str) -> None:
    apply(
        kubectl,
        namespace,
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "ResourceBundle",
            "metadata": {"name": "team"},
            "spec": {"owner": "alice"},
        },
    )


@pytest.fixture
def open_namespaces(
    cluster: Cluster, namespace: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """More namespaces, each open to the test namespace's domain and with a bundle `team`."""
    made: list[str] = []

    def make() -> str:
        name = create_test_namespace(
            cluster, request.node.name, labels={"jupytercontainers.io/deployable": namespace}
        )
        made.append(name)
        bundle_in(cluster.kubectl, name)
        return name

    yield make
    for name in made:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def patch_spec(kubectl: Any, domain: str, name: str, **spec: Any) -> None:
    kubectl("patch", "jc", name, "-n", domain, "--type", "merge", "-p", json.dumps({"spec": spec}))


# ---------------------------------------------------------------- 3. ownership


def test_same_names_across_domains_do_not_collide(
    kubectl: Any,
    namespace: str,
    open_namespaces: Callable[[], str],
    make_container: Make,
    wait_phase: Wait,
) -> None:
    """Container `a` of domain X deployed into Y had the names of container `a-HASH6(X)` of
    domain Y: the second never got a status and the operator fought over the objects."""
    other = open_namespaces()
    make_container("a", namespace=other)
    wait_phase("a", "Active", timeout=120)
    twin = f"a-{hashlib.sha256(namespace.encode()).hexdigest()[:6]}"
    apply(kubectl, other, container_manifest(twin))
    status = get_status_eventually(kubectl, other, twin)
    assert status, f"{twin} never got a status"
    wait_in(kubectl, other, twin, "Active")
    first, second = get_jc_in(kubectl, namespace, "a"), get_jc_in(kubectl, other, twin)
    assert first["status"]["serviceName"] != second["status"]["serviceName"]
    for jc in (first, second):
        uid = jc["metadata"]["uid"]
        assert by_uid(kubectl, "services", uid, other) == [jc["status"]["serviceName"]]
        assert by_uid(kubectl, "deployments", uid, other) == [jc["status"]["serviceName"]]
        assert by_uid(kubectl, "secrets", uid, other) == [jc["status"]["tokenSecret"]]


def test_a_name_held_by_an_object_of_nobody_is_a_name_collision(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    """An unlabelled Service at a container's name: never force-applied over."""
    kubectl("create", "service", "clusterip", "jc-held", "--tcp=80:80", "-n", namespace)
    make_container("held")
    jc = wait_phase("held", "Failed", reason="NameCollision")
    assert "Service 'jc-held'" in jc["status"]["message"], jc["status"]["message"]
    service = json.loads(kubectl("get", "svc", "jc-held", "-n", namespace, "-o", "json").stdout)
    assert naming.UID_LABEL not in (service["metadata"].get("labels") or {})
    assert service["spec"]["ports"][0]["port"] == 80
    assert by_uid(kubectl, "deployments", jc["metadata"]["uid"], namespace) == []


def test_a_name_held_by_another_containers_object_is_a_name_collision(
    kubectl: Any, namespace: str, make_container: Make, wait_phase: Wait
) -> None:
    """A managed object with another uid (two domains' HASH6 equal, or forged labels)."""
    labels = naming.common_labels("someone", "elsewhere", "other-uid")
    apply(
        kubectl,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "jc-taken", "labels": labels},
            "spec": {"ports": [{"port": 81}]},
        },
    )
    make_container("taken")
    jc = wait_phase("taken", "Failed", reason="NameCollision")
    assert "belongs to another container" in jc["status"]["message"]
    service = json.loads(kubectl("get", "svc", "jc-taken", "-n", namespace, "-o", "json").stdout)
    assert service["metadata"]["labels"][naming.UID_LABEL] == "other-uid"
    assert service["spec"]["ports"][0]["port"] == 81


# ---------------------------------------------------------------- 4. stop and delete


@pytest.fixture
def own_instance_type(kubectl: Any) -> Iterator[str]:
    name = f"test-retired-{uuid.uuid4().hex[:6]}"
    kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "jupytercontainers.io/v1alpha1",
                "kind": "InstanceType",
                "metadata": {"name": name},
                "spec": {"cpu": "1", "memory": "1Gi"},
            }
        ),
    )
    yield name
    kubectl("delete", "instancetype", name, "--ignore-not-found")


def test_a_service_with_a_virtual_ip_is_made_again_headless(
    kubectl: Any,
    namespace: str,
    operator: OperatorProcess,
    make_container: Make,
    wait_phase: Wait,
) -> None:
    """Services are headless (no virtual IP to allocate). One an earlier version made, with a
    virtual IP, cannot be changed by an apply (spec.clusterIP is immutable): after the
    upgrade the operator replaces it, and the container stays Active."""
    make_container("oldsvc")
    uid = wait_phase("oldsvc", "Active")["metadata"]["uid"]
    name = naming.base_name("oldsvc", namespace, namespace)

    def service() -> dict[str, Any]:
        out = kubectl("get", "svc", name, "-n", namespace, "-o", "json")
        return dict(json.loads(out.stdout))

    made = service()
    assert made["spec"]["clusterIP"] == "None", made["spec"]
    operator.stop()  # the earlier version's Service, made while no operator runs
    try:
        kubectl("delete", "svc", name, "-n", namespace)
        old_style = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "labels": made["metadata"]["labels"],
                "annotations": {naming.SPEC_HASH_ANNOTATION: "an-earlier-version"},
            },
            "spec": {"selector": made["spec"]["selector"], "ports": made["spec"]["ports"]},
        }
        apply(kubectl, namespace, old_style)
        old = service()
        assert old["spec"]["clusterIP"] not in ("", "None"), old["spec"]
    finally:
        operator.start()
    deadline = time.monotonic() + 60
    while (now := service())["metadata"]["uid"] == old["metadata"]["uid"]:
        assert time.monotonic() < deadline, "the Service with a virtual IP was not replaced"
        time.sleep(0.5)
    assert now["spec"]["clusterIP"] == "None", now["spec"]
    assert now["metadata"]["labels"][naming.UID_LABEL] == uid
    assert wait_phase("oldsvc", "Active")["status"]["serviceName"] == name


def test_terminate_works_with_a_deleted_instance_type(
    kubectl: Any, namespace: str, own_instance_type: str, make_container: Make, wait_phase: Wait
) -> None:
    make_container("retired", instanceType=own_instance_type)
    jc = wait_phase("retired", "Active")
    kubectl("delete", "instancetype", own_instance_type)
    patch_spec(kubectl, namespace, "retired", running=False)
    stopped = wait_phase("retired", "Stopped")
    assert f"'{own_instance_type}'" in stopped["status"]["message"]
    uid = jc["metadata"]["uid"]
    assert by_uid(kubectl, "deployments", uid, namespace) == []
    assert by_uid(kubectl, "services", uid, namespace) == []


def test_delete_after_a_namespace_change_leaves_nothing_in_the_old_namespace(
    kubectl: Any,
    namespace: str,
    open_namespaces: Callable[[], str],
    make_container: Make,
    wait_phase: Wait,
) -> None:
    """The report's orphans: a stopped container without a volume moved to another
    namespace kept its token Secret in the old one, for good after delete."""
    first, second = open_namespaces(), open_namespaces()
    make_container("nomad", namespace=first)
    jc = wait_phase("nomad", "Active")
    uid = jc["metadata"]["uid"]
    assert by_uid(kubectl, "secrets", uid, first) == [jc["status"]["tokenSecret"]]
    patch_spec(kubectl, namespace, "nomad", running=False)
    wait_phase("nomad", "Stopped")
    patch_spec(kubectl, namespace, "nomad", namespace=second)
    wait_until(lambda: by_uid(kubectl, "secrets", uid, first) == [], "old token Secret deleted")
    kubectl("delete", "jc", "nomad", "-n", namespace, "--timeout=60s")
    for ns in (namespace, first, second):
        for kind in DELETED_KINDS:
            assert by_uid(kubectl, kind, uid, ns) == [], (ns, kind)


def test_delete_removes_children_the_index_never_saw(
    cluster: Cluster,
    kubectl: Any,
    namespace: str,
    make_container: Make,
    wait_phase: Wait,
    request: pytest.FixtureRequest,
) -> None:
    """The operator's index covers only the namespaces it watches (JC_WATCH_NAMESPACES):
    objects labelled with the container's uid elsewhere were left by a finalizer that
    trusted the index. A LIST by uid label finds them."""
    make_container("seen")
    jc = wait_phase("seen", "Active")
    uid = jc["metadata"]["uid"]
    unwatched = f"own-unwatched-{uuid.uuid4().hex[:6]}"  # not the session's prefix
    kubectl("create", "namespace", unwatched)
    request.addfinalizer(
        lambda: kubectl("delete", "namespace", unwatched, "--wait=false", check=False)
    )
    labels = naming.common_labels("seen", namespace, uid)
    for manifest in (
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "jc-seen-stray", "labels": labels},
            "spec": {"ports": [{"port": 8888}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "jc-seen-stray", "labels": labels},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"stray": "yes"}},
                "template": {
                    "metadata": {"labels": {"stray": "yes"}},
                    "spec": {"containers": [{"name": "x", "image": "example.invalid/x:1"}]},
                },
            },
        },
    ):
        apply(kubectl, unwatched, manifest)
    kubectl("delete", "jc", "seen", "-n", namespace, "--timeout=60s")
    for kind in ("deployments", "services"):
        assert by_uid(kubectl, kind, uid, unwatched) == [], kind
        assert by_uid(kubectl, kind, uid, namespace) == [], kind
    assert by_uid(kubectl, "secrets", uid, namespace) == []


# ---------------------------------------------------------------- 6. webhook absent


@pytest.fixture
def no_webhooks(cluster: Cluster, operator: OperatorProcess, operator_log: None) -> Iterator[None]:
    """The operator's webhook configurations deleted (as with failurePolicy Ignore and the
    webhook down, or webhooks disabled); a restart makes them again."""
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        cluster.kubectl("delete", kind, "jupytercontainers.io", "--ignore-not-found")
    yield
    operator.restart()
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        cluster.kubectl(
            "wait", "--for=create", f"{kind}/jupytercontainers.io", "--timeout=60s", timeout=70
        )


def test_without_the_webhook_the_reconciler_keeps_the_namespace_rule(
    cluster: Cluster,
    kubectl: Any,
    namespace: str,
    bundle: str,
    request: pytest.FixtureRequest,
    open_namespaces: Callable[[], str],
    no_webhooks: None,
    wait_phase: Wait,
) -> None:
    closed = create_test_namespace(cluster, request.node.name)
    request.addfinalizer(
        lambda: kubectl("delete", "namespace", closed, "--wait=false", check=False)
    )
    opened = open_namespaces()
    # Not open to the domain: refused, whoever claims to have created it.
    apply(
        kubectl,
        namespace,
        {
            **container_manifest("closed", namespace=closed),
            "metadata": {
                "name": "closed",
                "annotations": {naming.CREATED_BY_ANNOTATION: "system:admin"},
            },
        },
    )
    jc = wait_phase("closed", "Failed", reason="NamespaceNotAllowed")
    assert (
        f"namespace '{closed}' is not open to containers of '{namespace}'"
        in (jc["status"]["message"])
    )
    # Open, but nobody recorded as creator (the mutating webhook sets it): refused outside
    # the domain, deployed in it.
    apply(kubectl, namespace, container_manifest("anonymous", namespace=opened))
    jc = wait_phase("anonymous", "Failed", reason="NamespaceNotAllowed")
    assert "nobody is recorded as the creator" in jc["status"]["message"]
    apply(kubectl, namespace, container_manifest("at-home"))
    wait_phase("at-home", "Active")
    for name in ("closed", "anonymous"):
        uid = get_jc(cluster, namespace, name)["metadata"]["uid"]
        for ns in (closed, opened):
            assert by_uid(kubectl, "deployments", uid, ns) == []
            assert by_uid(kubectl, "secrets", uid, ns) == []


# ---------------------------------------------------------------- helpers


def get_jc_in(kubectl: Any, namespace: str, name: str) -> dict[str, Any]:
    out = kubectl("get", "jupytercontainer", name, "-n", namespace, "-o", "json")
    return dict(json.loads(out.stdout))


def get_status_eventually(
    kubectl: Any, namespace: str, name: str, timeout: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = get_jc_in(kubectl, namespace, name).get("status") or {}
        if status.get("phase"):
            return dict(status)
        time.sleep(0.5)
    return {}


def wait_in(kubectl: Any, namespace: str, name: str, phase: str, timeout: int = 120) -> None:
    kubectl(
        "wait",
        f"jupytercontainer/{name}",
        "-n",
        namespace,
        f"--for=jsonpath={{.status.phase}}={phase}",
        f"--timeout={timeout}s",
        timeout=timeout + 10,
    )


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout}s: {what}")
