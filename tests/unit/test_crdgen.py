"""The CRDs generated from the models: drift, structural form, names, columns, and the
pydantic mirrors of the CEL rules (same messages as the API server gives)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from jupyter_containers.api import crdgen, jupyterlab_policy, rules
from jupyter_containers.api.models import (
    CONFIGURATION_FIELDS,
    EnvVar,
    InstanceTypeSpec,
    JupyterContainerSpec,
    ResourceBundleStatus,
    VolumeSpec,
    cel_field,
    cel_message,
    configuration_changes,
)

ROOT = Path(__file__).resolve().parents[2]


def crds() -> dict[str, dict[str, Any]]:
    return {kind.kind: crdgen.crd(kind) for kind in crdgen.KINDS}


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node of an openAPIV3Schema, with its path."""
    if not isinstance(node, dict):
        return
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}.*")


def schema(kind: str) -> dict[str, Any]:
    return crds()[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def all_nodes() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for kind in crds():
        for path, node in walk(schema(kind)):
            yield kind, path, node


def error_messages(exc: ValidationError) -> list[str]:
    return [e["msg"] for e in exc.errors()]


# ---------------------------------------------------------------- drift and files


def test_committed_crds_match_the_models() -> None:
    diffs = crdgen.drift(ROOT)
    assert diffs == [], "run `make crds` and commit:\n" + "".join(diffs)


def test_check_mode_reports_a_drifted_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert crdgen.main(["--write", "--root", str(tmp_path)]) == 0
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 0
    chart_copy = tmp_path / "charts/jupyter-containers/crds/jupytercontainers.io_volumes.yaml"
    chart_copy.write_text(chart_copy.read_text().replace("jvol", "jv"))
    (tmp_path / "crds/jupytercontainers.io_gone.yaml").write_text("stale\n")
    capsys.readouterr()
    assert crdgen.main(["--check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "-    - jv\n" in out and "+    - jvol\n" in out
    assert "crds/jupytercontainers.io_gone.yaml: no model generates it" in out
    crdgen.main(["--write", "--root", str(tmp_path)])
    assert not (tmp_path / "crds/jupytercontainers.io_gone.yaml").exists()
    assert crdgen.drift(tmp_path) == []


def test_one_file_per_kind_in_both_directories() -> None:
    expected = {
        "jupytercontainers.io_jupytercontainers.yaml",
        "jupytercontainers.io_instancetypes.yaml",
        "jupytercontainers.io_volumes.yaml",
        "jupytercontainers.io_jupyterimages.yaml",
        "jupytercontainers.io_resourcebundles.yaml",
    }
    for directory in crdgen.CRD_DIRS:
        assert {p.name for p in (ROOT / directory).glob("*.yaml")} == expected
        for name in expected:
            doc = yaml.safe_load((ROOT / directory / name).read_text())
            assert doc["kind"] == "CustomResourceDefinition"


# ---------------------------------------------------------------- structural schema


def test_no_json_schema_only_keywords_anywhere() -> None:
    for kind, crd in crds().items():
        text = yaml.safe_dump(crd)
        for keyword in ("$ref", "$defs", "anyOf", "allOf", "oneOf", "const", "title"):
            assert keyword not in text, f"{kind}: {keyword}"
        for path, node in walk(schema(kind)):
            assert node.get("additionalProperties") is not False, f"{kind}{path}"
            assert node.get("default", "unset") is not None, f"{kind}{path}: default null"
            assert "x-kubernetes-preserve-unknown-fields" not in node, f"{kind}{path}"


def test_every_string_and_list_is_bounded_for_cel_cost() -> None:
    for kind, path, node in all_nodes():
        if node.get("type") == "string":
            assert "maxLength" in node, f"{kind}{path}"
        if node.get("type") == "array":
            assert "maxItems" in node, f"{kind}{path}"
        if node.get("type") == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, f"{kind}{path}"


def test_every_field_is_described_for_kubectl_explain() -> None:
    for kind, path, node in all_nodes():
        if path in ("", ".metadata", ".metadata.name", ".metadata.generateName"):
            continue
        if path.endswith(("[]", ".*")) and node.get("type") != "object":
            continue  # scalar items and map values: the list or map itself is described
        assert node.get("description"), f"{kind}{path} has no description"


def test_nullable_optionals_and_meaningful_defaults() -> None:
    spec = schema("JupyterContainer")["properties"]["spec"]
    assert spec["properties"]["volume"]["nullable"] is True
    assert spec["properties"]["volume"]["type"] == "string"
    assert spec["properties"]["running"] == {
        "description": spec["properties"]["running"]["description"],
        "type": "boolean",
        "default": True,
    }
    assert "default" not in spec["properties"]["env"]
    assert spec["required"] == ["bundle"]
    assert schema("JupyterContainer")["required"] == ["spec"]
    volume = schema("Volume")["properties"]["spec"]["properties"]
    assert volume["accessModes"]["default"] == ["ReadWriteOnce"]
    assert volume["type"]["enum"] == ["OnDemandPVC", "NFS", "HostPath", "TmpFS", "EmptyDir"]
    ratio = schema("InstanceType")["properties"]["spec"]["properties"]["requestRatio"]
    assert ratio["minimum"] == 0 and ratio["exclusiveMinimum"] is True and ratio["maximum"] == 1


def test_list_types_for_server_side_apply() -> None:
    spec = schema("JupyterContainer")["properties"]["spec"]["properties"]
    assert spec["env"]["x-kubernetes-list-type"] == "map"
    assert spec["env"]["x-kubernetes-list-map-keys"] == ["name"]
    for kind in ("JupyterContainer", "ResourceBundle"):
        conditions = schema(kind)["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        assert "type" in conditions["items"]["required"]


def test_union_other_than_optional_is_refused() -> None:
    with pytest.raises(crdgen.SchemaError, match=r"only `X \| None` unions"):
        crdgen.structural({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {}, "spec.x")


# ---------------------------------------------------------------- names and columns


def test_names_scope_and_subresources() -> None:
    got = {
        kind: (
            c["metadata"]["name"],
            c["spec"]["scope"],
            c["spec"]["names"]["plural"],
            c["spec"]["names"]["singular"],
            c["spec"]["names"].get("shortNames"),
            c["spec"]["names"]["categories"],
            "status" in c["spec"]["versions"][0].get("subresources", {}),
        )
        for kind, c in crds().items()
    }
    g = "jupytercontainers.io"
    assert got == {
        "JupyterContainer": (
            f"jupytercontainers.{g}",
            "Namespaced",
            "jupytercontainers",
            "jupytercontainer",
            ["jc"],
            ["jupyter"],
            True,
        ),
        "InstanceType": (
            f"instancetypes.{g}",
            "Cluster",
            "instancetypes",
            "instancetype",
            ["itype"],
            ["jupyter"],
            False,
        ),
        "Volume": (f"volumes.{g}", "Cluster", "volumes", "volume", ["jvol"], ["jupyter"], False),
        "JupyterImage": (
            f"jupyterimages.{g}",
            "Cluster",
            "jupyterimages",
            "jupyterimage",
            ["jimg"],
            ["jupyter"],
            True,  # status.prePull
        ),
        "ResourceBundle": (
            f"resourcebundles.{g}",
            "Namespaced",
            "resourcebundles",
            "resourcebundle",
            ["bundle"],
            ["jupyter"],
            True,
        ),
    }
    for c in crds().values():
        version = c["spec"]["versions"][0]
        assert (c["spec"]["group"], version["name"]) == (g, "v1alpha1")
        assert version["served"] and version["storage"]


def columns(kind: str) -> list[tuple[str, str, int]]:
    version = crds()[kind]["spec"]["versions"][0]
    return [
        (c["name"], c["jsonPath"], c.get("priority", 0))
        for c in version["additionalPrinterColumns"]
    ]


def test_printer_columns_mirror_the_console_list() -> None:
    assert columns("JupyterContainer") == [
        ("Status", ".status.phase", 0),
        ("Instance", ".status.instance.display", 0),
        ("Namespace", ".status.deploymentNamespace", 0),
        ("Volume", ".status.volume", 0),
        ("Bundle", ".spec.bundle", 0),
        ("Age", ".metadata.creationTimestamp", 0),
        ("Message", ".status.message", 1),
        ("Created-By", ".status.createdBy", 1),
        ("Reason", ".status.reason", 1),
    ]
    assert [c[0] for c in columns("InstanceType")] == ["CPU", "Memory", "Order", "Available", "Age"]
    assert [c[0] for c in columns("Volume")] == ["Type", "Size", "StorageClass", "Age"]
    assert [c[0] for c in columns("ResourceBundle")] == ["Owner", "Age"]


# ---------------------------------------------------------------- CEL rules present


def rule_messages(node: dict[str, Any]) -> list[str]:
    return [
        r.get("message", r.get("messageExpression", ""))
        for r in node.get("x-kubernetes-validations", [])
    ]


def test_root_rules_carry_the_manual_messages() -> None:
    root = schema("JupyterContainer")
    assert rule_messages(root) == [
        rules.MSG_NAME_PATTERN,
        rules.MSG_NAME_LENGTH,
        rules.MSG_STOP_BEFORE_CONFIGURING,
        # volume growth: never shrinks
        cel_message(rules.msg_volume_shrink, "self.spec.volumeSize", "oldSelf.spec.volumeSize"),
    ]
    stop = root["x-kubernetes-validations"][2]["rule"]
    for name in CONFIGURATION_FIELDS:
        assert f"has(self.spec.{cel_field(name)})" in stop
    assert "self.spec.__namespace__" in stop  # `namespace` is a CEL keyword
    assert "running" not in stop
    bundle = root["properties"]["spec"]["properties"]["bundle"]
    assert bundle["x-kubernetes-validations"] == [
        {
            "message": rules.MSG_BUNDLE_IMMUTABLE,
            "reason": "FieldValueInvalid",
            "rule": "self == oldSelf",
        }
    ]


def test_every_rule_has_a_message_naming_the_field() -> None:
    found = 0
    for kind, path, node in all_nodes():
        for rule in node.get("x-kubernetes-validations", []):
            found += 1
            text = rule.get("message") or rule.get("messageExpression")
            assert text, f"{kind}{path}: rule without a message"
            # Root rules speak of the name and the container as a whole; on a list item
            # (env[], args[]) the API server puts the item's path (`spec.args[2]: `) first.
            if path and not path.endswith("[]"):
                assert "spec." in text, f"{kind}{path}: {text}"
    assert found >= 12


# ---------------------------------------------------------------- pydantic mirrors


def test_cel_message_renders_like_the_python_template() -> None:
    from jupyter_containers.api.models import cel_message

    expr = cel_message(rules.msg_reserved_env, "self.name")
    assert expr.startswith('"\'" + self.name + "\' is set by the platform')
    assert expr.count("self.name") == 1


@pytest.mark.parametrize("name", sorted(rules.RESERVED_ENV_NAMES))
def test_reserved_env_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        EnvVar(name=name, value="x")
    assert error_messages(exc.value) == [rules.msg_reserved_env(name)]


def test_env_needs_exactly_one_source() -> None:
    assert EnvVar.model_validate({"name": "A", "value": ""}).value == ""
    secret = {"secretKeyRef": {"name": "creds", "key": "token"}}
    assert EnvVar.model_validate({"name": "A", "valueFrom": secret}).valueFrom is not None
    for body in ({"name": "A"}, {"name": "A", "value": "x", "valueFrom": secret}):
        with pytest.raises(ValidationError) as exc:
            EnvVar.model_validate(body)
        assert error_messages(exc.value) == [rules.msg_env_value_xor("A")]


def test_env_names_are_unique() -> None:
    with pytest.raises(ValidationError) as exc:
        JupyterContainerSpec.model_validate(
            {"bundle": "b", "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}
        )
    assert error_messages(exc.value) == [rules.msg_env_duplicate("A")]


@pytest.mark.parametrize(
    ("arg", "owned"),
    [
        ("--ip", "--ip"),
        ("--port=9999", "--port"),
        ("--ServerApp.base_url=/x", "--ServerApp.base_url"),
        ("--ServerApp.allow_origin=*", "--ServerApp.allow_origin"),
        ("--IdentityProvider.token=", "--IdentityProvider.token"),
        ("--ServerApp.token=abc", "--IdentityProvider.token"),
        ("--NotebookApp.token=abc", "--IdentityProvider.token"),
        ("--NotebookApp.port=1", "--port"),
    ],
)
def test_platform_args_are_refused(arg: str, owned: str) -> None:
    with pytest.raises(ValidationError) as exc:
        JupyterContainerSpec(bundle="b", args=["--debug", arg])
    assert error_messages(exc.value) == [rules.msg_platform_arg(arg, owned)]
    assert exc.value.errors()[0]["loc"] == ("args", 1)


def test_allowed_args_pass() -> None:
    args = ["--debug", "--ServerApp.terminals_enabled=False", "notebook.ipynb"]
    assert JupyterContainerSpec(bundle="b", args=args).args == args


@pytest.mark.parametrize("arg", ["--ipython", "--portal=1", "--ServerApp.disable_check_xsrf=1"])
def test_args_outside_the_allowlist_are_refused(arg: str) -> None:
    with pytest.raises(ValidationError) as exc:
        JupyterContainerSpec(bundle="b", args=["--debug", arg])
    assert error_messages(exc.value) == [jupyterlab_policy.msg_arg_not_allowed(arg)]
    assert exc.value.errors()[0]["loc"] == ("args", 1)


@pytest.mark.parametrize("name", ["PYTHONPATH", "LD_PRELOAD", "JUPYTER_CONFIG_DIR", "HOME"])
def test_platform_owned_env_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        EnvVar(name=name, value="x")
    assert error_messages(exc.value) == [jupyterlab_policy.msg_env_owned(name)]


@pytest.mark.parametrize(
    "key", ["team", "example.com/team", "a.b-c/Name_1.x", "sim.jupytercontainers.io/scenario"]
)
def test_valid_tag_keys(key: str) -> None:
    assert JupyterContainerSpec(bundle="b", tags={key: "v"}).tags == {key: "v"}


@pytest.mark.parametrize(
    "key", ["", "-team", "team-", "a b", "Example.com/team", "a/b/c", "/x", "x/", "a" * 64]
)
def test_invalid_tag_keys(key: str) -> None:
    with pytest.raises(ValidationError) as exc:
        JupyterContainerSpec(bundle="b", tags={key: "v"})
    assert error_messages(exc.value) == [rules.msg_tag_key_invalid(key)]


@pytest.mark.parametrize(
    "key", ["jupytercontainers.io/x", "app.kubernetes.io/name", "kubernetes.io/x", "k8s.io/x"]
)
def test_platform_tag_prefixes_are_refused(key: str) -> None:
    with pytest.raises(ValidationError) as exc:
        JupyterContainerSpec(bundle="b", tags={key: "v"})
    assert error_messages(exc.value) == [rules.msg_tag_key_platform(key)]


def test_spec_defaults() -> None:
    spec = JupyterContainerSpec(bundle="team")
    assert spec.running is True and spec.env == [] and spec.volume is None


def test_configuration_changes_ignore_running() -> None:
    old = JupyterContainerSpec(bundle="b", volume="home")
    assert configuration_changes(old, old.model_copy(update={"running": False})) == []
    new = old.model_copy(update={"volume": "nfs", "tags": {"a": "b"}})
    assert configuration_changes(old, new) == ["volume", "tags"]


def test_volume_type_fields() -> None:
    with pytest.raises(ValidationError) as exc:
        VolumeSpec.model_validate({"type": "NFS"})
    assert error_messages(exc.value) == [rules.MSG_VOLUME_NFS_REQUIRED]
    with pytest.raises(ValidationError) as exc:
        VolumeSpec.model_validate({"type": "OnDemandPVC"})
    assert error_messages(exc.value) == [rules.MSG_VOLUME_MAX_SIZE_REQUIRED]
    assert VolumeSpec.model_validate({"type": "OnDemandPVC", "maxSize": "10Gi"}).maxSize == "10Gi"
    nfs = {"type": "NFS", "nfs": {"server": "nfs.local", "path": "/export"}}
    assert VolumeSpec.model_validate(nfs).nfs is not None
    assert VolumeSpec.model_validate({"type": "EmptyDir"}).type == "EmptyDir"


@pytest.mark.parametrize("cpu", ["1", "500m", "0.5", "2"])
def test_valid_cpu(cpu: str) -> None:
    assert InstanceTypeSpec(cpu=cpu, memory="2Gi").cpu == cpu


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cpu", "one", rules.msg_quantity("spec.cpu", "'1' or '500m'")),
        ("cpu", "0", rules.msg_quantity("spec.cpu", "'1' or '500m'")),
        ("memory", "2GB", rules.msg_quantity("spec.memory", "'2Gi'")),
        ("memory", "-1Gi", rules.msg_quantity("spec.memory", "'2Gi'")),
    ],
)
def test_invalid_quantities(field: str, value: str, message: str) -> None:
    body = {"cpu": "1", "memory": "2Gi", field: value}
    with pytest.raises(ValidationError) as exc:
        InstanceTypeSpec.model_validate(body)
    assert error_messages(exc.value) == [message]


def test_name_rules() -> None:
    assert rules.name_errors("my-notebook-1") == []
    assert rules.name_errors("My_Notebook") == [rules.MSG_NAME_PATTERN]
    assert rules.name_errors("a" * 54) == [rules.MSG_NAME_LENGTH]
    assert rules.name_errors("a" * 53) == []


def test_bundle_status_lists_containers() -> None:
    status = ResourceBundleStatus.model_validate({"containers": ["nb1", "nb2"]})
    assert status.containers == ["nb1", "nb2"]
    containers = schema("ResourceBundle")["properties"]["status"]["properties"]["containers"]
    assert containers["x-kubernetes-list-type"] == "set"
