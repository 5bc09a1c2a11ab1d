"""Desired objects: the fields that matter, not whole-object snapshots."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from jupyter_containers.api import jupyterlab_policy, rules
from jupyter_containers.api.models import (
    EnvVar,
    EnvVarSource,
    InstanceTypeSpec,
    JupyterContainerSpec,
    NFSSource,
    Reason,
    SecretKeySelector,
    Toleration,
    VolumeSpec,
    VolumeType,
)
from jupyter_containers.core import naming, prepull
from jupyter_containers.core.builders import (
    PLATFORM_CONFIG_MOUNT,
    PLATFORM_CONFIG_VOLUME,
    BuildInputs,
    build_deployment,
    build_network_policy,
    build_nfs_pv,
    build_pvc,
    build_service,
    build_token_secret,
    spec_hash,
)
from jupyter_containers.core.catalog import (
    CatalogError,
    format_bytes,
    format_cpu,
    instance_display,
    resolve_instance_type,
    resolve_volume,
    resources,
    volume_display,
)
from jupyter_containers.core.settings import Settings

SMALL = InstanceTypeSpec(cpu="1", memory="2Gi")
PVC_VOLUME = VolumeSpec(type=VolumeType.ON_DEMAND_PVC, maxSize="10Gi", storageClassName="standard")
NFS_VOLUME = VolumeSpec(
    type=VolumeType.NFS, nfs=NFSSource(server="nfs.example", path="/export/team")
)
PLATFORM_ARGS = [
    "--ip=0.0.0.0",
    "--port=8888",
    "--ServerApp.base_url=/jupyter/team-a/demo/",
    "--ServerApp.allow_origin=",
    "--IdentityProvider.token=$(JUPYTER_TOKEN)",
    *jupyterlab_policy.pinned_args("$(JUPYTER_TOKEN)", "/home/jovyan"),
]


def target(
    spec: JupyterContainerSpec | None = None,
    *,
    name: str = "demo",
    domain: str = "team-a",
    it: InstanceTypeSpec = SMALL,
    volume_name: str | None = None,
    volume: VolumeSpec | None = None,
    settings: Settings | None = None,
    attempt: int = 1,
    image_reference: str | None = None,
) -> BuildInputs:
    return BuildInputs(
        name=name,
        domain=domain,
        uid="0b6f6a8e-2f1c-4c55-9d2c-3f1f2b9c1a11",
        spec=spec or JupyterContainerSpec(bundle="team"),
        instance_type_name="small",
        instance_type=it,
        volume_name=volume_name,
        volume=volume,
        settings=settings or Settings(),
        attempt=attempt,
        image_reference=image_reference,
    )


def unchecked_spec(**fields: Any) -> JupyterContainerSpec:
    """A spec that skipped the model's own validation, as a stored object could."""
    return JupyterContainerSpec.model_construct(bundle="team", **fields)


def pod_spec(t: BuildInputs) -> dict[str, Any]:
    spec: dict[str, Any] = build_deployment(t)["spec"]["template"]["spec"]
    return spec


def container(t: BuildInputs) -> dict[str, Any]:
    first: dict[str, Any] = pod_spec(t)["containers"][0]
    return first


# ---------------------------------------------------------------- container


def test_container_basics() -> None:
    c = container(target())
    assert c["name"] == "jupyterlab"
    assert c["image"] == "quay.io/jupyter/base-notebook:latest"
    assert c["imagePullPolicy"] == "Always"
    assert c["command"] == ["start-notebook.py"]
    assert c["ports"] == [{"name": "http", "containerPort": 8888, "protocol": "TCP"}]


def test_the_catalog_image_overrides_the_platform_image() -> None:
    built = target(JupyterContainerSpec(bundle="team", image="lab"), image_reference="r/lab:4.1")
    assert container(built)["image"] == "r/lab:4.1"


def test_platform_args_first_then_user_args() -> None:
    spec = JupyterContainerSpec(bundle="team", args=["--ServerApp.terminals_enabled=False"])
    assert container(target(spec))["args"] == [
        *PLATFORM_ARGS,
        "--ServerApp.terminals_enabled=False",
    ]


def test_base_url_and_allow_origin_come_from_settings() -> None:
    s = Settings(base_url_template="/lab/{namespace}/{name}/", allow_origin="https://x.example")
    spec = JupyterContainerSpec(bundle="team", namespace="shared")
    c = container(target(spec, settings=s))
    assert "--ServerApp.base_url=/lab/shared/demo/" in c["args"]
    assert "--ServerApp.allow_origin=https://x.example" in c["args"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/lab/shared/demo/api", "port": 8888}


@pytest.mark.parametrize(
    ("arg", "owned"),
    [
        ("--port=9999", "--port"),
        ("--ip", "--ip"),
        ("--IdentityProvider.token=", "--IdentityProvider.token"),
        ("--ServerApp.token=abc", "--IdentityProvider.token"),
        ("--NotebookApp.base_url=/x/", "--ServerApp.base_url"),
    ],
)
def test_user_args_cannot_set_platform_args(arg: str, owned: str) -> None:
    with pytest.raises(CatalogError) as err:
        build_deployment(target(unchecked_spec(args=["--debug", arg])))
    assert err.value.message == f"spec.args[1]: {rules.msg_platform_arg(arg, owned)}"
    assert err.value.reason == Reason.INVALID_CONFIGURATION


def test_token_only_via_secret_key_ref() -> None:
    t = target()
    secret = build_token_secret(t, "s3cr3t-token-value")
    deployment = build_deployment(t)
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["JUPYTER_TOKEN"] == {
        "name": "JUPYTER_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": secret["metadata"]["name"], "key": "token"}},
    }
    assert "s3cr3t-token-value" not in json.dumps(deployment)
    assert "--IdentityProvider.token=$(JUPYTER_TOKEN)" in container(t)["args"]


def test_env_order_platform_then_user() -> None:
    spec = JupyterContainerSpec(
        bundle="team",
        env=[
            EnvVar(name="ZED", value="1"),
            EnvVar(
                name="DB_PASSWORD",
                valueFrom=EnvVarSource(
                    secretKeyRef=SecretKeySelector(name="db", key="password", optional=True)
                ),
            ),
            EnvVar(name="ALPHA", value="2"),
        ],
    )
    env = container(target(spec))["env"]
    assert [e["name"] for e in env] == [
        "JUPYTER_TOKEN",
        "JUPYTER_ENABLE_LAB",
        "RESTARTABLE",
        "JUPYTER_CONFIG_DIR",
        "PYTHONNOUSERSITE",
        "ZED",
        "DB_PASSWORD",
        "ALPHA",
    ]
    assert env[1:5] == [
        {"name": "JUPYTER_ENABLE_LAB", "value": "true"},
        {"name": "RESTARTABLE", "value": "yes"},
        {"name": "JUPYTER_CONFIG_DIR", "value": jupyterlab_policy.PLATFORM_CONFIG_DIR},
        {"name": "PYTHONNOUSERSITE", "value": "1"},
    ]
    assert env[6] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "password", "optional": True}},
    }
    assert env[5] == {"name": "ZED", "value": "1"}


@pytest.mark.parametrize("name", sorted(rules.RESERVED_ENV_NAMES))
def test_reserved_env_refused(name: str) -> None:
    spec = unchecked_spec(env=[EnvVar.model_construct(name=name, value="x", valueFrom=None)])
    with pytest.raises(CatalogError) as err:
        build_deployment(target(spec))
    assert err.value.message == f"spec.env[0].name: {rules.msg_reserved_env(name)}"


@pytest.mark.parametrize(
    ("arg", "env"), [("--ServerApp.disable_check_xsrf=True", None), (None, "PYTHONPATH")]
)
def test_a_stored_spec_outside_the_policy_is_refused(arg: str | None, env: str | None) -> None:
    spec = unchecked_spec(
        args=[arg] if arg else [],
        env=[EnvVar.model_construct(name=env, value="x", valueFrom=None)] if env else [],
    )
    with pytest.raises(CatalogError) as err:
        build_deployment(target(spec))
    if arg:
        assert err.value.message == f"spec.args[0]: {jupyterlab_policy.msg_arg_not_allowed(arg)}"
    else:
        assert err.value.message == f"spec.env[0].name: {jupyterlab_policy.msg_env_owned(env)}"


def test_duplicate_env_refused() -> None:
    a = EnvVar(name="A", value="1")
    with pytest.raises(CatalogError) as err:
        build_deployment(target(unchecked_spec(env=[a, a])))
    assert err.value.message == rules.msg_env_duplicate("A")


def test_env_needs_exactly_one_source() -> None:
    both = EnvVar.model_construct(
        name="A",
        value="1",
        valueFrom=EnvVarSource(secretKeyRef=SecretKeySelector(name="s", key="k")),
    )
    with pytest.raises(CatalogError) as err:
        build_deployment(target(unchecked_spec(env=[both])))
    assert err.value.message == rules.msg_env_value_xor("A")


# ---------------------------------------------------------------- resources


@pytest.mark.parametrize(
    ("cpu", "memory", "ratio", "limits", "requests"),
    [
        ("1", "2Gi", 1.0, ("1", "2Gi"), ("1", "2Gi")),
        ("1", "2Gi", 0.5, ("1", "2Gi"), ("500m", "1Gi")),
        ("2", "4Gi", 0.25, ("2", "4Gi"), ("500m", "1Gi")),
        ("500m", "1G", 0.3, ("500m", "1G"), ("150m", "287Mi")),  # 286.1Mi rounds up
        ("1.5", "1536Mi", 0.33, ("1500m", "1536Mi"), ("495m", "507Mi")),
        ("3", "3000M", 0.333, ("3", "3G"), ("999m", "953Mi")),
        ("1000m", "1000000001", 1.0, ("1", "1000000001"), ("1", "1000000001")),
        ("0.1", "64Mi", 0.01, ("100m", "64Mi"), ("1m", "1Mi")),
    ],
    ids=[
        "guaranteed",
        "half",
        "quarter",
        "mib-round-up",
        "fractional-cores",
        "decimal-suffix",
        "unaligned-bytes-clamped",
        "tiny",
    ],
)
def test_resources_arithmetic(
    cpu: str,
    memory: str,
    ratio: float,
    limits: tuple[str, str],
    requests: tuple[str, str],
) -> None:
    it = InstanceTypeSpec(cpu=cpu, memory=memory, requestRatio=ratio)
    assert resources("x", it) == {
        "limits": {"cpu": limits[0], "memory": limits[1]},
        "requests": {"cpu": requests[0], "memory": requests[1]},
    }
    assert container(target(it=it))["resources"] == resources("x", it)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (2 * 1024**3, "2Gi"),
        (1536 * 1024**2, "1536Mi"),
        (1024, "1Ki"),
        (10**9, "1G"),
        (1001, "1001"),
    ],
)
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text


def test_format_cpu_rounds_up_to_millicores() -> None:
    from decimal import Decimal

    assert format_cpu(Decimal("0.0001")) == "1m"
    assert format_cpu(Decimal("2")) == "2"
    assert format_cpu(Decimal("0.25")) == "250m"


def test_unparseable_quantity_names_the_field() -> None:
    it = InstanceTypeSpec.model_construct(cpu="lots", memory="2Gi", requestRatio=1.0)
    with pytest.raises(CatalogError, match=r"InstanceType 'x': spec.cpu 'lots' is not a positive"):
        resources("x", it)


# ---------------------------------------------------------------- pod security


def test_restricted_pod_security_fields() -> None:
    spec = pod_spec(target())
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 100,
        "fsGroup": 100,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    sc = spec["containers"][0]["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in sc and "hostNetwork" not in spec


def test_readiness_probe() -> None:
    probe = container(target())["readinessProbe"]
    assert probe["httpGet"] == {"path": "/jupyter/team-a/demo/api", "port": 8888}


# ---------------------------------------------------------------- volumes and placement


def test_on_demand_pvc_mount() -> None:
    t = target(volume_name="home", volume=PVC_VOLUME)
    spec = pod_spec(t)
    assert spec["volumes"] == [
        PLATFORM_CONFIG_VOLUME,
        {"name": "home", "persistentVolumeClaim": {"claimName": t.pvc_name}},
    ]
    assert spec["containers"][0]["volumeMounts"] == [
        PLATFORM_CONFIG_MOUNT,
        {"name": "home", "mountPath": "/home/jovyan"},
    ]


@pytest.mark.parametrize("read_only", [False, True])
def test_nfs_is_mounted_through_a_pre_bound_pv_and_pvc(read_only: bool) -> None:
    # An inline `nfs` volume would break the `restricted` Pod Security Standard.
    vol = VolumeSpec(
        type=VolumeType.NFS,
        nfs=NFSSource(server="nfs.example", path="/export/team", readOnly=read_only),
    )
    t = target(volume_name="shared", volume=vol)
    spec = pod_spec(t)
    claim = {"claimName": t.pvc_name, **({"readOnly": True} if read_only else {})}
    assert spec["volumes"] == [
        PLATFORM_CONFIG_VOLUME,
        {"name": "home", "persistentVolumeClaim": claim},
    ]
    assert "nfs" not in json.dumps(spec["volumes"])
    assert spec["containers"][0]["volumeMounts"][1]["mountPath"] == rules.HOME_MOUNT_PATH

    pv = build_nfs_pv(t)
    assert pv is not None
    assert "namespace" not in pv["metadata"]
    assert pv["metadata"]["name"].startswith("jc-0b6f6a8e-")
    assert pv["spec"]["nfs"] == {
        "server": "nfs.example",
        "path": "/export/team",
        "readOnly": read_only,
    }
    # Retain: deleting the PV object never deletes the share's data.
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["claimRef"]["namespace"] == "team-a"
    assert pv["spec"]["claimRef"]["name"] == t.pvc_name
    assert pv["spec"]["storageClassName"] == ""

    pvc = build_pvc(t)
    assert pvc is not None
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pvc["spec"]["storageClassName"] == ""
    assert pvc["spec"]["accessModes"] == pv["spec"]["accessModes"]
    assert pvc["metadata"]["annotations"][naming.VOLUME_ANNOTATION] == "shared"


def test_a_volume_change_gives_the_nfs_pv_a_new_name() -> None:
    a = build_nfs_pv(target(volume_name="share-a", volume=NFS_VOLUME))
    b = build_nfs_pv(target(volume_name="share-b", volume=NFS_VOLUME))
    assert a is not None and b is not None
    assert a["metadata"]["name"] != b["metadata"]["name"]


def test_no_volume_no_home_mount_only_the_read_only_platform_config() -> None:
    spec = pod_spec(target())
    assert spec["volumes"] == [PLATFORM_CONFIG_VOLUME]
    assert spec["containers"][0]["volumeMounts"] == [PLATFORM_CONFIG_MOUNT]
    assert PLATFORM_CONFIG_MOUNT["readOnly"] is True
    assert PLATFORM_CONFIG_MOUNT["mountPath"] == jupyterlab_policy.PINNED_ENV["JUPYTER_CONFIG_DIR"]


def test_node_selector_and_tolerations_from_the_instance_type() -> None:
    it = InstanceTypeSpec(
        cpu="4",
        memory="16Gi",
        nodeSelector={"node.example/pool": "gpu"},
        tolerations=[Toleration(key="gpu", operator="Exists", effect="NoSchedule")],
    )
    spec = pod_spec(target(it=it))
    assert spec["nodeSelector"] == {"node.example/pool": "gpu"}
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    plain = pod_spec(target())
    assert "nodeSelector" not in plain and "tolerations" not in plain


# ---------------------------------------------------------------- deployment metadata


def test_deployment_shape() -> None:
    t = target(attempt=3)
    d = build_deployment(t)
    assert (d["apiVersion"], d["kind"]) == ("apps/v1", "Deployment")
    assert d["spec"]["replicas"] == 1
    assert d["spec"]["strategy"] == {"type": "Recreate"}
    assert d["spec"]["revisionHistoryLimit"] <= 3
    assert d["spec"]["selector"] == {"matchLabels": naming.selector_labels("demo", "team-a")}
    assert d["spec"]["template"]["metadata"]["labels"] == t.labels
    annotations = d["spec"]["template"]["metadata"]["annotations"]
    assert annotations[naming.ATTEMPT_ANNOTATION] == "3"


def test_tags_become_annotations_without_platform_keys() -> None:
    tags = {
        "team": "data",
        "sim.jupytercontainers.io/scenario": "crashloop",
        "jupytercontainers.io/attempt": "999",
        "app.kubernetes.io/name": "evil",
        "example.com/cost-center": "42",
    }
    d = build_deployment(target(unchecked_spec(tags=tags), attempt=2))
    expected = {
        "team": "data",
        "sim.jupytercontainers.io/scenario": "crashloop",
        "example.com/cost-center": "42",
    }
    pod_annotations = d["spec"]["template"]["metadata"]["annotations"]
    # On the pod only the simulation key: pod annotations steer third-party controllers.
    assert pod_annotations == {
        "sim.jupytercontainers.io/scenario": "crashloop",
        naming.ATTEMPT_ANNOTATION: "2",
    }
    meta_annotations = dict(d["metadata"]["annotations"])
    assert meta_annotations.pop(naming.SPEC_HASH_ANNOTATION)
    assert meta_annotations == expected


@pytest.mark.parametrize(
    "key",
    [
        "sidecar.istio.io/inject",
        "vault.hashicorp.com/agent-inject",
        "iam.amazonaws.com/role",
        "k8s.v1.cni.cncf.io/networks",
        "linkerd.io/inject",
    ],
)
def test_tags_other_controllers_act_on_never_reach_the_pod(key: str) -> None:
    d = build_deployment(target(JupyterContainerSpec(bundle="team", tags={key: "true"})))
    assert key not in d["spec"]["template"]["metadata"]["annotations"]
    assert d["metadata"]["annotations"][key] == "true"


def test_invalid_tag_key_refused() -> None:
    with pytest.raises(CatalogError) as err:
        build_deployment(target(unchecked_spec(tags={"not a key": "x"})))
    assert err.value.message == rules.msg_tag_key_invalid("not a key")


HASH6 = naming.domain_hash("team-a")


@pytest.mark.parametrize(
    ("deploy_ns", "base", "pvc_base"),
    [(None, "jc-demo", "jc-demo"), ("shared", f"jx-demo-{HASH6}", f"jc-demo-{HASH6}")],
    ids=["same-namespace", "cross-namespace"],
)
def test_names_and_namespaces_of_every_object(
    deploy_ns: str | None, base: str, pvc_base: str
) -> None:
    # Outside the domain the PVC keeps the name it had before `jx-` names (its data).
    t = target(
        JupyterContainerSpec(bundle="team", namespace=deploy_ns),
        volume_name="home",
        volume=PVC_VOLUME,
    )
    ns = deploy_ns or "team-a"
    objects = {
        "Deployment": build_deployment(t),
        "Service": build_service(t),
        "Secret": build_token_secret(t, "tok"),
        "PersistentVolumeClaim": build_pvc(t),
    }
    names = {kind: obj["metadata"]["name"] for kind, obj in objects.items() if obj}
    assert names == {
        "Deployment": base,
        "Service": base,
        "Secret": f"{base}-token",
        "PersistentVolumeClaim": naming.pvc_name(pvc_base, t.uid, "home"),
    }
    assert names["PersistentVolumeClaim"].startswith(f"{pvc_base}-home-")
    for obj in objects.values():
        assert obj is not None
        assert obj["metadata"]["namespace"] == ns
        assert obj["metadata"]["labels"] == naming.common_labels("demo", "team-a", t.uid)
        assert obj["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION] == spec_hash(obj)
    assert pod_spec(t)["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"] == (
        f"{base}-token"
    )


def test_53_character_name_cross_namespace_fits() -> None:
    name = "a" * 53
    t = target(JupyterContainerSpec(bundle="team", namespace="shared"), name=name)
    assert len(build_deployment(t)["metadata"]["name"]) == 63
    assert len(build_service(t)["metadata"]["name"]) <= 63


# ---------------------------------------------------------------- service, pvc, secret


def test_service() -> None:
    s = build_service(target())
    assert (s["apiVersion"], s["kind"]) == ("v1", "Service")
    assert s["spec"]["type"] == "ClusterIP"
    assert s["spec"]["clusterIP"] == "None"  # headless: no virtual IP to allocate
    assert s["spec"]["selector"] == naming.selector_labels("demo", "team-a")
    assert s["spec"]["ports"] == [
        {"name": "http", "port": 8888, "targetPort": "http", "protocol": "TCP"}
    ]


CONSOLE_LABELS = {
    "app.kubernetes.io/name": "jupyter-containers",
    "app.kubernetes.io/component": "console",
}
EVERY_POD = {"to": [{"namespaceSelector": {}}]}


@pytest.mark.parametrize(
    ("namespace", "labels", "peer"),
    [
        (
            "jc-system",
            CONSOLE_LABELS,
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jc-system"}},
                "podSelector": {"matchLabels": CONSOLE_LABELS},
            },
        ),
        (
            "jc-system",
            {},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jc-system"}}},
        ),
        (None, CONSOLE_LABELS, {"podSelector": {"matchLabels": CONSOLE_LABELS}}),
        (None, {}, None),
    ],
)
def test_network_policy_lets_only_the_console_reach_jupyterlab(
    namespace: str | None, labels: dict[str, str], peer: dict[str, Any] | None
) -> None:
    settings = Settings(
        network_policy_ingress_namespace=namespace, network_policy_ingress_pod_labels=labels
    )
    t = target(settings=settings)
    policy = build_network_policy("team-a", settings)
    assert policy is not None
    assert (policy["apiVersion"], policy["kind"]) == ("networking.k8s.io/v1", "NetworkPolicy")
    meta = policy["metadata"]
    assert (meta["name"], meta["namespace"]) == ("jupyterlab.jupytercontainers.io", "team-a")
    # The operator's, shared: no container's owner, domain or uid labels.
    assert meta["labels"] == {
        naming.PART_OF_LABEL: naming.PART_OF_VALUE,
        naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE,
        naming.COMPONENT_LABEL: "network-policy",
    }
    assert meta["annotations"][naming.SPEC_HASH_ANNOTATION] == spec_hash(policy)
    spec = policy["spec"]
    # Every JupyterLab pod of the operator in the namespace: labels each pod template has.
    selector = spec["podSelector"]["matchLabels"]
    assert selector == {
        naming.APP_NAME_LABEL: "jupyterlab",
        naming.MANAGED_BY_LABEL: naming.MANAGED_BY_VALUE,
    }
    pod_labels = build_deployment(t)["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    if peer is None:
        assert spec["ingress"] == []  # nothing may connect (port-forward still works)
    else:
        assert spec["ingress"] == [{"from": [peer], "ports": [{"port": 8888, "protocol": "TCP"}]}]


def test_one_network_policy_per_namespace_whatever_the_container() -> None:
    """Its rules are the operator's settings only: every container of a namespace gets the
    same object, and the pods of two containers are both selected."""
    a, other = target(), target(name="other")
    selector = build_network_policy("team-a", Settings())["spec"]["podSelector"]["matchLabels"]  # type: ignore[index]
    for t in (a, other):
        labels = build_deployment(t)["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
    assert build_network_policy("team-a", Settings()) == build_network_policy("team-a", Settings())
    elsewhere = build_network_policy("team-b", Settings())
    assert elsewhere is not None and elsewhere["metadata"]["namespace"] == "team-b"


def test_the_network_policy_selects_no_pre_pull_pod() -> None:
    selector = build_network_policy("team-a", Settings())["spec"]["podSelector"]["matchLabels"]  # type: ignore[index]
    pull_pod = prepull.selector_labels("image-uid")
    assert not selector.items() <= pull_pod.items()


def test_no_container_object_can_take_the_network_policy_name() -> None:
    """Container objects are jc-/jx- names without dots; the policy's name has one."""
    name = naming.NETWORK_POLICY_NAME
    assert "." in name and not name.startswith((naming.NAME_PREFIX, naming.FOREIGN_PREFIX))
    assert "." not in naming.base_name("a-b", "team-a", "team-b")


def test_network_policy_denies_the_metadata_address_and_allows_other_egress() -> None:
    spec = build_network_policy("team-a", Settings())["spec"]  # type: ignore[index]
    assert spec["egress"] == [
        EVERY_POD,
        {
            "to": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
                {"ipBlock": {"cidr": "::/0"}},
            ]
        },
    ]
    v6 = Settings(network_policy_denied_egress="169.254.169.254/32, fd00:ec2::254/128")
    blocks = build_network_policy("team-a", v6)["spec"]["egress"][1]["to"]  # type: ignore[index]
    assert blocks[1] == {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}}


def test_network_policy_off_builds_none() -> None:
    assert build_network_policy("team-a", Settings(network_policy=False)) is None


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("JC_NETWORK_POLICY_INGRESS_POD_LABELS", "a=b, c = d", None),
        ("JC_NETWORK_POLICY_INGRESS_POD_LABELS", "console", "is not key=value"),
        ("JC_NETWORK_POLICY_DENIED_EGRESS", "169.254.169.254/32,10.0.0.0/8", None),
        ("JC_NETWORK_POLICY_DENIED_EGRESS", "metadata", "is not a CIDR"),
    ],
)
def test_network_policy_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str | None
) -> None:
    monkeypatch.setenv(env, value)
    if message is None:
        s = Settings()
        assert s.network_policy_ingress_pod_labels in ({}, {"a": "b", "c": "d"})
        assert s.network_policy_denied_egress in (
            ["169.254.169.254/32"],
            ["169.254.169.254/32", "10.0.0.0/8"],
        )
    else:
        with pytest.raises(ValueError, match=message):
            Settings()


def test_pvc() -> None:
    pvc = build_pvc(target(volume_name="home", volume=PVC_VOLUME))
    assert pvc is not None
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "10Gi"}},
        "storageClassName": "standard",
    }
    assert pvc["metadata"]["annotations"][naming.VOLUME_ANNOTATION] == "home"


def test_pvc_storage_class_falls_back_to_the_setting() -> None:
    vol = VolumeSpec(type=VolumeType.ON_DEMAND_PVC, maxSize="5Gi", accessModes=["ReadWriteMany"])
    with_default = build_pvc(
        target(volume_name="v", volume=vol, settings=Settings(default_storage_class="fast"))
    )
    assert with_default is not None
    assert with_default["spec"]["storageClassName"] == "fast"
    assert with_default["spec"]["accessModes"] == ["ReadWriteMany"]
    cluster_default = build_pvc(target(volume_name="v", volume=vol))
    assert cluster_default is not None
    assert "storageClassName" not in cluster_default["spec"]


def test_no_pvc_or_pv_without_a_volume_and_no_pv_for_on_demand() -> None:
    assert build_pvc(target()) is None
    assert build_nfs_pv(target()) is None
    assert build_nfs_pv(target(volume_name="home", volume=PVC_VOLUME)) is None


def test_token_secret() -> None:
    s = build_token_secret(target(), "abc")
    assert (s["kind"], s["type"], s["stringData"]) == ("Secret", "Opaque", {"token": "abc"})
    with pytest.raises(ValueError, match="must not be empty"):
        build_token_secret(target(), "")


# ---------------------------------------------------------------- spec hash


def test_spec_hash_stable() -> None:
    a, b = build_deployment(target()), build_deployment(target())
    assert a == b
    reordered = json.loads(json.dumps(a, sort_keys=True))
    reordered["spec"] = dict(reversed(list(reordered["spec"].items())))
    assert spec_hash(reordered) == spec_hash(a)


def test_spec_hash_ignores_its_own_annotation() -> None:
    d = build_deployment(target())
    other = copy.deepcopy(d)
    other["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION] = "stale"
    assert (
        spec_hash(other)
        == spec_hash(d)
        == d["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION]
    )


@pytest.mark.parametrize(
    "change",
    [
        {"attempt": 2},
        {"image_reference": "other:1"},
        {"spec": JupyterContainerSpec(bundle="team", tags={"team": "x"})},
        {"spec": JupyterContainerSpec(bundle="team", env=[EnvVar(name="A", value="1")])},
        {"it": InstanceTypeSpec(cpu="2", memory="2Gi")},
        {"volume_name": "home", "volume": PVC_VOLUME},
    ],
    ids=["attempt", "image", "tags", "env", "instance-type", "volume"],
)
def test_spec_hash_sensitive(change: dict[str, Any]) -> None:
    base = build_deployment(target())["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION]
    changed = build_deployment(target(**change))
    assert changed["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION] != base


# ---------------------------------------------------------------- catalog


CATALOG = {
    "xlarge": InstanceTypeSpec(cpu="8", memory="32Gi", order=0, available=False),
    "large": InstanceTypeSpec(cpu="4", memory="16Gi", order=10),
    "medium": InstanceTypeSpec(cpu="2", memory="8Gi", order=5),
    "small": InstanceTypeSpec(cpu="1", memory="2Gi", order=5),
}


def test_default_instance_type_is_first_available_by_order_then_name() -> None:
    assert resolve_instance_type(None, CATALOG) == ("medium", CATALOG["medium"])


def test_requested_instance_type() -> None:
    assert resolve_instance_type("large", CATALOG) == ("large", CATALOG["large"])


def test_unknown_instance_type() -> None:
    with pytest.raises(CatalogError) as err:
        resolve_instance_type("huge", CATALOG)
    assert err.value.message == (
        "spec.instanceType: InstanceType 'huge' does not exist; choose one of the available "
        "ones (medium, small, large)."
    )
    assert err.value.reason == Reason.INVALID_CONFIGURATION


def test_unavailable_instance_type() -> None:
    with pytest.raises(CatalogError) as err:
        resolve_instance_type("xlarge", CATALOG)
    assert err.value.message == (
        "spec.instanceType: InstanceType 'xlarge' is not available; choose one of the "
        "available ones (medium, small, large)."
    )


def test_no_instance_type_available() -> None:
    with pytest.raises(CatalogError) as err:
        resolve_instance_type(None, {"xlarge": CATALOG["xlarge"]})
    assert err.value.message == (
        "spec.instanceType: no InstanceType is available; ask an administrator to create one."
    )


VOLUMES = {
    "home": PVC_VOLUME,
    "shared": NFS_VOLUME,
    "scratch": VolumeSpec(type=VolumeType.EMPTY_DIR),
    "ram": VolumeSpec(type=VolumeType.TMPFS),
    "node": VolumeSpec(type=VolumeType.HOST_PATH, hostPath="/data"),
}


def test_resolve_volume_allowed_types() -> None:
    assert resolve_volume(None, VOLUMES) == (None, None)
    assert resolve_volume("home", VOLUMES) == ("home", PVC_VOLUME)
    assert resolve_volume("shared", VOLUMES) == ("shared", NFS_VOLUME)


@pytest.mark.parametrize("name", ["scratch", "ram", "node"])
def test_resolve_volume_refuses_other_types_with_the_manuals_message(name: str) -> None:
    with pytest.raises(CatalogError) as err:
        resolve_volume(name, VOLUMES)
    assert err.value.message == (
        "Only On Demand PVC and NFS volumes are allowed in Jupyter Containers."
    )


def test_resolve_volume_unknown() -> None:
    with pytest.raises(CatalogError) as err:
        resolve_volume("nope", VOLUMES)
    assert err.value.message == (
        "spec.volume: Volume 'nope' does not exist; choose one of the On Demand PVC or NFS "
        "volumes (home, shared) or remove spec.volume."
    )


# ---------------------------------------------------------------- display


@pytest.mark.parametrize(
    ("it", "text"),
    [
        (InstanceTypeSpec(cpu="1", memory="2Gi"), "small (1 CPU, 2Gi)"),
        (InstanceTypeSpec(cpu="500m", memory="512Mi"), "small (0.5 CPU, 512Mi)"),
        (InstanceTypeSpec(cpu="10", memory="64Gi"), "small (10 CPU, 64Gi)"),
        (InstanceTypeSpec(cpu="2", memory="4Gi", displayName="Small+"), "Small+ (2 CPU, 4Gi)"),
    ],
)
def test_instance_display(it: InstanceTypeSpec, text: str) -> None:
    assert instance_display("small", it) == text


def test_volume_display() -> None:
    assert volume_display(None, None) == "No volume"
    assert volume_display("home", PVC_VOLUME) == "home (On Demand PVC, 10Gi)"
    assert volume_display("shared", NFS_VOLUME) == "shared (NFS nfs.example:/export/team)"


def test_network_policy_also_lets_the_operators_probe_in() -> None:
    """Culling's activity probe (shell/culler.py) comes from the operator's pods."""
    operator_labels = {"app.kubernetes.io/component": "operator"}
    settings = Settings(
        network_policy_ingress_namespace="jc-system",
        network_policy_ingress_pod_labels=CONSOLE_LABELS,
        network_policy_operator_namespace="jc-system",
        network_policy_operator_pod_labels=operator_labels,
    )
    policy = build_network_policy("team-a", settings)
    assert policy is not None
    ns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jc-system"}}}
    assert policy["spec"]["ingress"] == [
        {
            "from": [
                {**ns, "podSelector": {"matchLabels": CONSOLE_LABELS}},
                {**ns, "podSelector": {"matchLabels": operator_labels}},
            ],
            "ports": [{"port": 8888, "protocol": "TCP"}],
        }
    ]
