"""The generated CRDs on a real API server: every static rule refuses with its message,
defaults are filled in, `kubectl explain` and the printer columns work, and the
stop-before-configuring transition rule follows the stored status.

An operator (and its admission webhook) may run in the same cluster: the objects here
are valid for the webhook (a bundle exists, no catalog references), and since the
operator may rewrite their status at any time, status-dependent steps go through the
API directly, back to back, with resourceVersion preconditions, retrying on conflict.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from lightkube import ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import PatchType

from jupyter_containers.api import rules
from jupyter_containers.api.models import GROUP, VERSION

pytestmark = pytest.mark.cluster

JupyterContainer = create_namespaced_resource(
    GROUP, VERSION, "JupyterContainer", "jupytercontainers"
)

API = "jupytercontainers.io/v1alpha1"
ACTIVE_STATUS = {
    "phase": "Active",
    "reason": "Ready",
    "message": "JupyterLab is ready.",
    "createdBy": "alice",
    "instance": {"display": "small (1 CPU, 2Gi)"},
    "deploymentNamespace": "elsewhere",
    "volume": "home",
}


def jc(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "JupyterContainer",
        "metadata": {"name": name},
        "spec": {"bundle": "team", **spec},
    }


def catalog(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def team(cluster: Any, crds: Any, namespace: str) -> str:
    """The ResourceBundle every container here belongs to (the webhook wants it to exist)."""
    bundle = {
        "apiVersion": API,
        "kind": "ResourceBundle",
        "metadata": {"name": "team"},
        "spec": {"owner": "alice"},
    }
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(bundle))
    return "team"


def kubectl_json(cluster: Any, *args: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def refused(cluster: Any, namespace: str, obj: dict[str, Any]) -> str:
    """Submit `obj` with a server-side dry run and for real; both must fail the same way.
    Returns the error text."""
    ns = ["-n", namespace] if obj["kind"] in ("JupyterContainer", "ResourceBundle") else []
    body = yaml.safe_dump(obj)
    dry = cluster.kubectl("apply", *ns, "--dry-run=server", "-f", "-", input=body, check=False)
    real = cluster.kubectl("create", *ns, "-f", "-", input=body, check=False)
    assert dry.returncode != 0, f"dry run accepted:\n{body}"
    assert real.returncode != 0, f"create accepted:\n{body}"
    assert "is invalid" in dry.stderr, dry.stderr
    return " ".join(real.stderr.split())


def flat(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- refusals


CPU_MESSAGE = rules.msg_quantity("spec.cpu", "'1' or '500m'")
MEMORY_MESSAGE = rules.msg_quantity("spec.memory", "'2Gi'")
SIZE_MESSAGE = rules.msg_quantity("spec.maxSize", "'10Gi'")

REFUSALS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "name-pattern",
        jc("my.notebook"),
        [f'metadata.name: Invalid value: "object": {rules.MSG_NAME_PATTERN}'],
    ),
    (
        "name-length",
        jc("n" * 54),
        [f'metadata.name: Invalid value: "object": {rules.MSG_NAME_LENGTH}'],
    ),
    (
        "reserved-env",
        jc("nb", env=[{"name": "JUPYTER_TOKEN", "value": "x"}]),
        [f"spec.env[0].name: Forbidden: {rules.msg_reserved_env('JUPYTER_TOKEN')}"],
    ),
    (
        "env-no-source",
        jc("nb", env=[{"name": "A", "value": "1"}, {"name": "B"}]),
        [f'spec.env[1]: Invalid value: "object": {rules.msg_env_value_xor("B")}'],
    ),
    (
        "env-two-sources",
        jc(
            "nb",
            env=[
                {
                    "name": "C",
                    "value": "1",
                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                }
            ],
        ),
        [f'spec.env[0]: Invalid value: "object": {rules.msg_env_value_xor("C")}'],
    ),
    (
        "env-duplicate",
        jc("nb", env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
        ['spec.env[1]: Duplicate value: {"name":"A"}'],
    ),
    (
        "platform-args",
        jc("nb", args=["--debug", "--port=9999", "--NotebookApp.token=abc"]),
        [
            f"spec.args[1]: Forbidden: {rules.msg_platform_arg('--port=9999', '--port')}",
            "spec.args[2]: Forbidden: "
            + rules.msg_platform_arg("--NotebookApp.token=abc", "--IdentityProvider.token"),
        ],
    ),
    (
        "tag-key-invalid",
        jc("nb", tags={"team": "a", "not valid!": "b"}),
        [f'spec.tags: Invalid value: "object": {rules.msg_tag_key_invalid("not valid!")}'],
    ),
    (
        "tag-key-platform",
        jc("nb", tags={"app.kubernetes.io/name": "x"}),
        [f"spec.tags: Forbidden: {rules.msg_tag_key_platform('app.kubernetes.io/name')}"],
    ),
    (
        "volume-nfs-required",
        catalog("Volume", "jc-test-nfs-missing", type="NFS"),
        [f"spec.nfs: Required value: {rules.MSG_VOLUME_NFS_REQUIRED}"],
    ),
    (
        "volume-max-size-required",
        catalog("Volume", "jc-test-pvc-unsized", type="OnDemandPVC"),
        [f"spec.maxSize: Required value: {rules.MSG_VOLUME_MAX_SIZE_REQUIRED}"],
    ),
    (
        "volume-max-size-quantity",
        catalog("Volume", "jc-test-pvc-bad-size", type="OnDemandPVC", maxSize="10GB"),
        [f'spec.maxSize: Invalid value: "string": {SIZE_MESSAGE}'],
    ),
    (
        "instance-quantities",
        catalog("InstanceType", "jc-test-bad-it", cpu="one", memory="0"),
        [
            f'spec.cpu: Invalid value: "string": {CPU_MESSAGE}',
            f'spec.memory: Invalid value: "string": {MEMORY_MESSAGE}',
        ],
    ),
]


@pytest.mark.parametrize(
    ("obj", "expected"), [(o, e) for _, o, e in REFUSALS], ids=[i for i, _, _ in REFUSALS]
)
def test_rule_refuses_with_its_message(
    cluster: Any, namespace: str, team: str, obj: dict[str, Any], expected: list[str]
) -> None:
    error = refused(cluster, namespace, obj)
    for message in expected:
        assert flat(message) in error


def test_valid_objects_are_accepted_with_defaults(cluster: Any, namespace: str, team: str) -> None:
    body = jc(
        "nb-valid",
        env=[
            {"name": "PLAIN", "value": "1"},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "t"}}},
        ],
        args=["--debug", "--ServerApp.terminals_enabled=False"],
        tags={"team": "data", "sim.jupytercontainers.io/scenario": "ready"},
    )
    out = cluster.kubectl(
        "create", "-n", namespace, "--dry-run=server", "-o", "json", "-f", "-",
        input=yaml.safe_dump(body),
    )  # fmt: skip
    spec = json.loads(out.stdout)["spec"]
    assert spec["running"] is True
    assert spec["args"] == body["spec"]["args"] and spec["tags"] == body["spec"]["tags"]
    assert "namespace" not in spec and "env" in spec

    name = f"jc-test-home-{namespace}"[:63]
    volume = catalog("Volume", name, type="OnDemandPVC", maxSize="1Gi")
    try:
        cluster.kubectl("create", "-f", "-", input=yaml.safe_dump(volume))
        stored = kubectl_json(cluster, "get", "volumes.jupytercontainers.io", name)
        assert stored["spec"]["accessModes"] == ["ReadWriteOnce"]
    finally:
        cluster.kubectl("delete", "volumes.jupytercontainers.io", name, "--ignore-not-found")


def test_unknown_status_fields_are_pruned(cluster: Any, namespace: str, team: str) -> None:
    create(cluster, namespace, jc("nb-prune", running=False))
    result = cluster.kubectl(
        "patch", "jc", "nb-prune", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"volume": "home", "madeUp": 1}}),
    )  # fmt: skip
    assert 'unknown field "status.madeUp"' in result.stderr
    status = kubectl_json(cluster, "get", "jc", "nb-prune", "-n", namespace).get("status", {})
    assert "madeUp" not in status


# ---------------------------------------------------------------- transitions


def create(cluster: Any, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))


def update_in_phase(
    client: Client,
    namespace: str,
    name: str,
    phase: str,
    change: Callable[[dict[str, Any]], None],
) -> str | None:
    """Set status.phase through the status subresource, then at once replace the object as
    changed by `change`, with the resourceVersion the status write returned: the rule is
    judged against exactly that stored phase. None if accepted, else the refusal."""
    for _ in range(30):
        written = client.patch(
            JupyterContainer.Status,
            name,
            {"status": {**ACTIVE_STATUS, "phase": phase}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
        body = written.to_dict()
        change(body)
        try:
            client.replace(JupyterContainer.from_dict(body), namespace=namespace)
        except ApiError as error:
            if error.status.code == 409:
                continue  # someone (the operator) wrote in between: try again
            return str(error.status.message)
        return None
    pytest.fail(f"could not hold {name} in phase {phase} long enough to update it")


def set_spec(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["spec"].update(fields)

    return change


@pytest.mark.parametrize("phase", ["Starting", "Active"])
def test_configuring_a_running_container_is_refused(
    cluster: Any, lightkube_client: Client, namespace: str, team: str, phase: str
) -> None:
    create(cluster, namespace, jc("nb-lock", running=False, image="base-1"))
    for change in (
        set_spec(volume="other"),
        set_spec(env=[{"name": "A", "value": "1"}]),
        set_spec(args=["--debug"]),
        set_spec(tags={"team": "x"}),
        set_spec(namespace="elsewhere"),
        set_spec(image="base-2"),
        set_spec(instanceType="large"),
    ):
        refusal = update_in_phase(lightkube_client, namespace, "nb-lock", phase, change)
        assert refusal is not None, f"{phase}: change accepted"
        assert f"spec: Forbidden: {rules.MSG_STOP_BEFORE_CONFIGURING}" in refusal
    spec = kubectl_json(cluster, "get", "jc", "nb-lock", "-n", namespace)["spec"]
    assert spec == {"bundle": "team", "running": False, "image": "base-1"}


def test_start_terminate_and_metadata_are_allowed_in_every_phase(
    cluster: Any, lightkube_client: Client, namespace: str, team: str
) -> None:
    create(cluster, namespace, jc("nb-run", running=False))

    def relabel(obj: dict[str, Any]) -> None:
        obj["metadata"].setdefault("labels", {})["owner"] = "alice"
        obj["metadata"].setdefault("annotations", {})["note"] = "hello"

    for phase in ("Starting", "Active", "Stopped", "Failed"):
        for change in (set_spec(running=True), set_spec(running=False), relabel):
            refusal = update_in_phase(lightkube_client, namespace, "nb-run", phase, change)
            assert refusal is None, f"{phase}: {refusal}"
    # An absent list or map and an empty one are the same configuration.
    refusal = update_in_phase(
        lightkube_client, namespace, "nb-run", "Active", set_spec(env=[], args=[], tags={})
    )
    assert refusal is None, refusal


@pytest.mark.parametrize("phase", ["Stopped", "Failed"])
def test_configuring_a_stopped_or_failed_container_is_allowed(
    cluster: Any, lightkube_client: Client, namespace: str, team: str, phase: str
) -> None:
    create(cluster, namespace, jc("nb-edit", running=False))
    change = set_spec(env=[{"name": "A", "value": "1"}], tags={"team": "x"}, args=["--debug"])
    refusal = update_in_phase(lightkube_client, namespace, "nb-edit", phase, change)
    assert refusal is None, refusal
    spec = kubectl_json(cluster, "get", "jc", "nb-edit", "-n", namespace)["spec"]
    assert spec["tags"] == {"team": "x"} and spec["env"] == [{"name": "A", "value": "1"}]


def test_bundle_is_immutable(
    cluster: Any, lightkube_client: Client, namespace: str, team: str
) -> None:
    create(cluster, namespace, jc("nb-bundle", running=False))
    refusal = update_in_phase(
        lightkube_client, namespace, "nb-bundle", "Stopped", set_spec(bundle="other")
    )
    assert refusal is not None
    assert f'spec.bundle: Invalid value: "string": {rules.MSG_BUNDLE_IMMUTABLE}' in refusal


# ---------------------------------------------------------------- discovery and display


def test_kubectl_explain_shows_the_model_descriptions(cluster: Any, crds: Any) -> None:
    # The API server publishes a new CRD's OpenAPI a moment after it is Established.
    deadline = time.monotonic() + 30
    while True:
        result = cluster.kubectl("explain", "jupytercontainers.spec.volume", check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert result.returncode == 0, result.stderr
    assert "Volume mounted at /home/jovyan. Only OnDemandPVC and NFS volumes are allowed." in flat(
        result.stdout
    )
    running = flat(cluster.kubectl("explain", "jc.spec.running").stdout)
    assert "Desired run state: true starts the container" in running


def table(text: str) -> list[list[str]]:
    """kubectl's table, cut at the header's column starts (empty cells stay empty)."""
    header, *rows = text.rstrip("\n").splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [[line[a:b].strip() for a, b in bounds] for line in (header, *rows)]


def test_printer_columns_show_in_get_and_wide(cluster: Any, namespace: str, team: str) -> None:
    create(cluster, namespace, jc("nb-cols", running=False))
    cluster.kubectl(
        "patch", "jc", "nb-cols", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": ACTIVE_STATUS}),
    )  # fmt: skip
    for _ in range(20):
        before = kubectl_json(cluster, "get", "jc", "nb-cols", "-n", namespace)
        plain = table(cluster.kubectl("get", "jc", "nb-cols", "-n", namespace).stdout)
        wide = table(cluster.kubectl("get", "jc", "nb-cols", "-n", namespace, "-o", "wide").stdout)
        after = kubectl_json(cluster, "get", "jc", "nb-cols", "-n", namespace)
        if before["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]:
            break  # both tables show this very version
    else:
        pytest.fail("nb-cols kept changing")
    header = ["NAME", "STATUS", "INSTANCE", "NAMESPACE", "VOLUME", "BUNDLE", "AGE"]
    assert plain[0] == header
    assert wide[0] == [*header, "MESSAGE", "CREATED-BY", "REASON"]
    status = after.get("status", {})

    def shown(value: Any) -> str:
        return "" if value is None else str(value)

    expected = [
        "nb-cols",
        shown(status.get("phase")),
        shown(status.get("instance", {}).get("display")),
        shown(status.get("deploymentNamespace")),
        shown(status.get("volume")),
        "team",
    ]
    assert plain[1][:6] == expected
    assert wide[1][:6] == expected
    assert wide[1][7:] == [
        shown(status.get("message")),
        shown(status.get("createdBy")),
        shown(status.get("reason")),
    ]
    if status.get("phase") == "Active" and status.get("createdBy") == "alice":
        # Nobody overwrote the status: the values are exactly the ones written above.
        assert plain[1][:6] == [
            "nb-cols",
            "Active",
            "small (1 CPU, 2Gi)",
            "elsewhere",
            "home",
            "team",
        ]


def test_catalog_columns_and_short_names(cluster: Any, crds: Any) -> None:
    suffix = str(int(time.time() * 1000))[-8:]
    it, vol = f"jc-test-it-{suffix}", f"jc-test-vol-{suffix}"
    docs = [
        catalog("InstanceType", it, cpu="500m", memory="2Gi", order=5),
        catalog("Volume", vol, type="OnDemandPVC", maxSize="5Gi", storageClassName="fast"),
    ]
    try:
        cluster.kubectl("create", "-f", "-", input=yaml.safe_dump_all(docs))
        rows = table(cluster.kubectl("get", "itype", it).stdout)
        assert rows == [["NAME", "CPU", "MEMORY", "ORDER", "AVAILABLE", "AGE"], rows[1]]
        assert rows[1][:5] == [it, "500m", "2Gi", "5", "true"]
        rows = table(cluster.kubectl("get", "jvol", vol).stdout)
        assert rows[0] == ["NAME", "TYPE", "SIZE", "STORAGECLASS", "AGE"]
        assert rows[1][:4] == [vol, "OnDemandPVC", "5Gi", "fast"]
    finally:
        cluster.kubectl("delete", "itype", it, "--ignore-not-found")
        cluster.kubectl("delete", "jvol", vol, "--ignore-not-found")


def test_bundle_status_and_category(cluster: Any, crds: Any, namespace: str) -> None:
    bundle = {
        "apiVersion": API,
        "kind": "ResourceBundle",
        "metadata": {"name": "team-cat"},
        "spec": {"owner": "alice", "grants": [{"users": ["bob"], "permissions": ["view"]}]},
    }
    create(cluster, namespace, bundle)
    # The patch's response is the stored object; read it there, since a running operator
    # rewrites the list right after (it owns it).
    written = cluster.kubectl(
        "patch", "bundle", "team-cat", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"containers": ["nb1", "nb2"]}}), "-o", "json",
    )  # fmt: skip
    assert json.loads(written.stdout)["status"]["containers"] == ["nb1", "nb2"]
    rows = table(cluster.kubectl("get", "bundle", "-n", namespace).stdout)
    assert rows[0] == ["NAME", "OWNER", "AGE"]
    listed = cluster.kubectl("get", "jupyter", "-n", namespace, "-o", "name").stdout.split()
    assert "resourcebundle.jupytercontainers.io/team-cat" in listed
