"""Pydantic models of the Jupyter Containers API.

These models are the single source of truth: `crdgen` turns them into the CRD
YAML (with the CEL rules declared here), the operator parses objects with them,
and the webhook and the CLI validate with them. Field descriptions become
`kubectl explain` text.

Every static rule exists twice, generated from one place: as a CEL rule in the
field's JSON schema (`x-kubernetes-validations`, enforced by the API server even
when the webhook is down) and as a pydantic validator raising the same message
(for the webhook, the CLI and dry runs without a cluster).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Self, get_origin

from lightkube.utils.quantity import parse_quantity
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from jupyter_containers.api import jupyterlab_policy as policy
from jupyter_containers.api import rules
from jupyter_containers.api.culling_policy import CullingPolicy, CullingStatus

GROUP = "jupytercontainers.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


# ---------------------------------------------------------------- CEL helpers

CelRule = dict[str, str]


def cel(
    rule: str,
    message: str | None = None,
    *,
    message_expression: str | None = None,
    reason: str | None = None,
    field_path: str | None = None,
) -> CelRule:
    """One `x-kubernetes-validations` entry."""
    entry: CelRule = {"rule": rule}
    if message is not None:
        entry["message"] = message
    if message_expression is not None:
        entry["messageExpression"] = message_expression
    if reason is not None:
        entry["reason"] = reason
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def cel_string(text: str) -> str:
    """`text` as a CEL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cel_list(items: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(cel_string(item) for item in items) + "]"


def cel_message(template: Callable[..., str], *exprs: str) -> str:
    """A CEL messageExpression rendering `template(*exprs)`.

    The template is the same Python function the pydantic validator calls, rendered with
    placeholders and split around them, so the CRD and the models say the same words.
    """
    marks = [f"@@{i}@@" for i in range(len(exprs))]
    parts = re.split(r"@@(\d+)@@", template(*marks))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(exprs[int(part)])
        elif part:
            out.append(cel_string(part))
    return " + ".join(out)


def x_rules(*entries: CelRule, **extensions: Any) -> dict[str, Any]:
    """JSON-schema extras: CEL rules plus other `x-kubernetes-*` keys (given with `_` for `-`)."""
    extra: dict[str, Any] = {k.replace("_", "-"): v for k, v in extensions.items()}
    if entries:
        extra["x-kubernetes-validations"] = list(entries)
    return extra


def refuse(message: str) -> PydanticCustomError:
    """A validation error whose text is exactly `message` (no "Value error, " prefix)."""
    return PydanticCustomError("jupyter_containers", "{message}", {"message": message})


def _positive_quantity(value: str, field: str, example: str) -> str:
    try:
        amount = parse_quantity(value) if rules.is_catalog_quantity(value) else None
    except ValueError:
        amount = None
    if amount is None or amount <= 0 or amount >= rules.QUANTITY_LIMIT_VALUE:
        raise refuse(rules.msg_quantity(field, example))
    return value


def _quantity_rule(field: str, example: str) -> dict[str, Any]:
    return x_rules(
        cel(
            f"self.matches({cel_string(rules.QUANTITY_PATTERN)}) && isQuantity(self) && "
            "quantity(self).isGreaterThan(quantity('0')) && "
            f"quantity(self).isLessThan(quantity({cel_string(rules.QUANTITY_LIMIT)}))",
            rules.msg_quantity(field, example),
            reason="FieldValueInvalid",
        )
    )


# ---------------------------------------------------------------- base and scalar types


class Model(BaseModel):
    """Base: camelCase names as in the YAML, unknown fields rejected like the CRD does."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=True)


KubeName = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]
NamespaceName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
EnvName = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
]
#: A Kubernetes quantity ('500m', '2Gi'). Checked per field (CEL `isQuantity` in the CRD,
#: lightkube's parser here) so the message can name the field.
Quantity = Annotated[str, StringConstraints(min_length=1, max_length=64)]


# ---------------------------------------------------------------- enums


class Phase(StrEnum):
    """Lifecycle phase of a JupyterContainer."""

    STARTING = "Starting"
    ACTIVE = "Active"
    STOPPED = "Stopped"
    FAILED = "Failed"


class Reason(StrEnum):
    """Why a container is in its phase: typed, so scripts and alerts can match on it."""

    # Starting
    CREATED = "Created"
    DEPLOYING = "Deploying"
    PULLING_IMAGE = "PullingImage"
    WAITING_FOR_VOLUME = "WaitingForVolume"
    SCHEDULING = "Scheduling"
    CONTAINER_STARTING = "ContainerStarting"
    #: A request of the start failed (a quota, another webhook, a conflict, a server error):
    #: retried after a growing backoff; message and retryAt say what and when.
    RETRYING = "Retrying"
    # Active
    READY = "Ready"
    # Stopped
    STOPPED = "Stopped"
    #: Stopped by the operator after its idle timeout (api/culling_policy.py).
    CULLED = "Culled"
    #: Stopped by the operator after its maximum lifetime (api/culling_policy.py).
    LIFETIME_EXCEEDED = "LifetimeExceeded"
    # Failed
    IMAGE_PULL_FAILED = "ImagePullFailed"
    INVALID_IMAGE = "InvalidImageName"
    CRASH_LOOP = "CrashLoopBackOff"
    CONFIG_ERROR = "CreateContainerConfigError"
    OOM_KILLED = "OOMKilled"
    CONTAINER_ERROR = "ContainerExitedWithError"
    POD_FAILED = "PodFailed"
    QUOTA_EXCEEDED = "QuotaExceeded"
    SECRET_NOT_ALLOWED = "SecretNotAllowed"
    NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
    NAME_COLLISION = "NameCollision"
    UNSCHEDULABLE = "Unschedulable"
    VOLUME_FAILED = "VolumeFailed"
    START_DEADLINE_EXCEEDED = "StartDeadlineExceeded"
    INVALID_CONFIGURATION = "InvalidConfiguration"
    #: The API server refused the container's objects as invalid (422): never retried.
    REJECTED = "Rejected"


class VolumeType(StrEnum):
    """Kind of storage a catalog Volume provides."""

    ON_DEMAND_PVC = "OnDemandPVC"
    NFS = "NFS"
    HOST_PATH = "HostPath"
    TMPFS = "TmpFS"
    EMPTY_DIR = "EmptyDir"


ALLOWED_VOLUME_TYPES: frozenset[VolumeType] = frozenset({VolumeType.ON_DEMAND_PVC, VolumeType.NFS})


class Permission(StrEnum):
    """What a bundle grant allows on the bundle's containers."""

    VIEW = "view"
    UPDATE = "update"
    START_STOP = "start-stop"
    DELETE = "delete"


# ---------------------------------------------------------------- JupyterContainer


class SecretKeySelector(Model):
    """A key of a Secret in the deployment namespace."""

    name: KubeName = Field(description="Name of a Secret in the deployment namespace.")
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        description="Key inside the Secret."
    )
    optional: bool | None = Field(
        default=None, description="Start even when the Secret or key does not exist."
    )


class EnvVarSource(Model):
    """Where a variable's value comes from."""

    secretKeyRef: SecretKeySelector = Field(description="A key of a Secret.")


_RESERVED_ENV_CEL = cel_list(sorted(rules.RESERVED_ENV_NAMES))
# jupyterlab_policy.env_owned in CEL.
_OWNED_ENV_CEL = (
    f"(self.name in {cel_list(policy.PLATFORM_ENV_NAMES)} || "
    f"{cel_list(policy.PLATFORM_ENV_PREFIXES)}.exists(p, self.name.startsWith(p)))"
)


class EnvVar(Model):
    """An environment variable: a plain `value`, or `valueFrom.secretKeyRef`."""

    model_config = ConfigDict(
        json_schema_extra=x_rules(
            cel(
                "has(self.value) != has(self.valueFrom)",
                message_expression=cel_message(rules.msg_env_value_xor, "self.name"),
                reason="FieldValueInvalid",
            ),
            cel(
                f"!(self.name in {_RESERVED_ENV_CEL})",
                message_expression=cel_message(rules.msg_reserved_env, "self.name"),
                reason="FieldValueForbidden",
                field_path=".name",
            ),
            cel(
                f"self.name in {_RESERVED_ENV_CEL} || !{_OWNED_ENV_CEL}",
                message_expression=cel_message(policy.msg_env_owned, "self.name"),
                reason="FieldValueForbidden",
                field_path=".name",
            ),
        )
    )

    name: EnvName = Field(
        description="Variable name. JUPYTER_ENABLE_LAB, RESTARTABLE and JUPYTER_TOKEN are reserved."
    )
    value: Annotated[str, StringConstraints(max_length=32768)] | None = Field(
        default=None, description="Plain-text value."
    )
    valueFrom: EnvVarSource | None = Field(
        default=None,
        description="Take the value from a Secret (keeps credentials out of the spec).",
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in rules.RESERVED_ENV_NAMES:
            raise refuse(rules.msg_reserved_env(name))
        owned = policy.env_problem(name)
        if owned is not None:
            raise refuse(owned)
        return name

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.value is None) == (self.valueFrom is None):
            raise refuse(rules.msg_env_value_xor(self.name))
        return self


_OWNED_ARGS_CEL = (
    "{" + ", ".join(f"{cel_string(k)}: {cel_string(v)}" for k, v in rules.OWNED_ARGS.items()) + "}"
)
# The option an argument sets: the text before the first "=" (as rules.platform_arg_of).
_ARG_KEY_CEL = "self.split('=', 2)[0]"

# jupyterlab_policy.arg_allowed in CEL (RE2 and Python `re` read these patterns alike).
_ARG_ALLOWED_CEL = (
    "!self.startsWith('-') || "
    f"(!self.matches({cel_string(policy.anchored(policy.CODE_TRAIT_PATTERN))}) && ("
    + " || ".join(
        f"self.matches({cel_string(policy.anchored(p))})" for p in policy.ALLOWED_ARG_PATTERNS
    )
    + "))"
)


def _user_arg(arg: str) -> str:
    owned = rules.platform_arg_of(arg)
    if owned is not None:
        raise refuse(rules.msg_platform_arg(arg, owned))
    problem = policy.arg_problem(arg)
    if problem is not None:
        raise refuse(problem)
    return arg


UserArg = Annotated[
    str,
    StringConstraints(max_length=1024),
    AfterValidator(_user_arg),
    Field(
        json_schema_extra=x_rules(
            cel(
                f"!({_ARG_KEY_CEL} in {_OWNED_ARGS_CEL})",
                message_expression=cel_message(
                    rules.msg_platform_arg, "self", f"{_OWNED_ARGS_CEL}[{_ARG_KEY_CEL}]"
                ),
                reason="FieldValueForbidden",
            ),
            cel(
                f"{_ARG_KEY_CEL} in {_OWNED_ARGS_CEL} || {_ARG_ALLOWED_CEL}",
                message_expression=cel_message(policy.msg_arg_not_allowed, "self"),
                reason="FieldValueForbidden",
            ),
        )
    ),
]

_TAG_INVALID_CEL = "format.qualifiedName().validate(k).hasValue()"
_TAG_PLATFORM_CEL = f"{cel_list(rules.PLATFORM_TAG_PREFIXES)}.exists(p, k.startsWith(p))"


class JupyterContainerSpec(Model):
    """Desired state of a JupyterLab environment."""

    bundle: KubeName = Field(
        description="ResourceBundle (same namespace) that controls who can access this container. "
        "Immutable after creation.",
        json_schema_extra=x_rules(
            cel("self == oldSelf", rules.MSG_BUNDLE_IMMUTABLE, reason="FieldValueInvalid")
        ),
    )
    namespace: NamespaceName | None = Field(
        default=None,
        description="Namespace to deploy into; defaults to the JupyterContainer's own namespace. "
        "May change only while Stopped or Failed (an On Demand PVC is then recreated there).",
    )
    instanceType: KubeName | None = Field(
        default=None,
        description="InstanceType (CPU and memory). Defaults to the first available one.",
    )
    volume: KubeName | None = Field(
        default=None,
        description="Volume mounted at /home/jovyan. Only OnDemandPVC and NFS volumes are allowed. "
        "Without a volume, files are lost when the container stops.",
    )
    # ---- volume growth (core.volume_size)
    volumeSize: Quantity | None = Field(
        default=None,
        description="Size of the On Demand PVC, e.g. '20Gi': at most the Volume's maxSize, "
        "which it defaults to. Raised while Stopped or Failed, it grows the existing PVC in "
        "place (same PVC, data kept) where its StorageClass allows volume expansion; it never "
        "shrinks. status.storage shows the resize.",
        json_schema_extra=_quantity_rule("spec.volumeSize", "'20Gi'"),
    )
    image: Annotated[str, StringConstraints(min_length=1, max_length=253)] | None = Field(
        default=None,
        description="JupyterImage of the catalog (its name) the container runs. Empty: the "
        "catalog's default image (available, marked default, you may use it; lowest order), "
        "else the operator's configured image. The image's tag is pulled on every start.",
        json_schema_extra=x_rules(
            cel(
                f"self.matches({cel_string(rules.CATALOG_NAME_PATTERN)})",
                rules.MSG_IMAGE_NOT_A_NAME,
                reason="FieldValueInvalid",
            )
        ),
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=100,
        description="Environment variables injected at runtime (plain or from a Secret). "
        "Names are unique; names that choose where Jupyter, Python, the loader or the shell "
        "read code or configuration (JUPYTER*, JPY_*, PYTHON*, LD_*, HOME, PATH, ...) are the "
        "platform's. A secretKeyRef may name only a Secret you may read, never a platform one.",
        json_schema_extra=x_rules(
            x_kubernetes_list_type="map", x_kubernetes_list_map_keys=["name"]
        ),
    )
    args: list[UserArg] = Field(
        default_factory=list,
        max_length=100,
        description="Extra JupyterLab arguments: --Class.trait=value for the kernel, kernel "
        "spec, session, contents and terminal managers, a few ServerApp and LabApp traits "
        "(limits, directories, timeouts), --no-browser, --debug, --log-level, --notebook-dir, "
        "--preferred-dir, and values. Authentication, origin checks, networking, configuration "
        "and extension loading are the platform's (docs/admission.md).",
    )
    tags: dict[str, Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=dict,
        max_length=50,
        description="Resource tags: free-form key/value metadata, copied as annotations onto the "
        "Deployment (not the pod, where annotations steer other controllers; only the local "
        "cluster's sim.jupytercontainers.io/scenario goes there too). Keys are annotation keys "
        "('team', 'example.com/team'), not under " + ", ".join(rules.PLATFORM_TAG_PREFIXES) + ".",
        json_schema_extra=x_rules(
            cel(
                f"self.all(k, !{_TAG_INVALID_CEL})",
                message_expression=cel_message(
                    rules.msg_tag_key_invalid, f"self.filter(k, {_TAG_INVALID_CEL})[0]"
                ),
                reason="FieldValueInvalid",
            ),
            cel(
                f"self.all(k, !{_TAG_PLATFORM_CEL})",
                message_expression=cel_message(
                    rules.msg_tag_key_platform, f"self.filter(k, {_TAG_PLATFORM_CEL})[0]"
                ),
                reason="FieldValueForbidden",
            ),
        ),
    )
    running: bool = Field(
        default=True,
        description="Desired run state: true starts the container, false terminates it "
        "(Deployment and Service deleted; configuration, volume and token kept).",
    )

    @field_validator("volumeSize")
    @classmethod
    def _volume_size(cls, size: str | None) -> str | None:
        return None if size is None else _positive_quantity(size, "spec.volumeSize", "'20Gi'")

    @field_validator("env")
    @classmethod
    def _unique_env(cls, env: list[EnvVar]) -> list[EnvVar]:
        seen: set[str] = set()
        for var in env:
            if var.name in seen:
                raise refuse(rules.msg_env_duplicate(var.name))
            seen.add(var.name)
        return env

    @field_validator("image")
    @classmethod
    def _image_name(cls, image: str | None) -> str | None:
        if image is not None and not rules.is_catalog_name(image):
            raise refuse(rules.MSG_IMAGE_NOT_A_NAME)
        return image

    @field_validator("tags")
    @classmethod
    def _tag_keys(cls, tags: dict[str, str]) -> dict[str, str]:
        for key in tags:
            if not rules.is_qualified_name(key):
                raise refuse(rules.msg_tag_key_invalid(key))
            if key.startswith(rules.PLATFORM_TAG_PREFIXES):
                raise refuse(rules.msg_tag_key_platform(key))
        return tags


#: Spec fields that only change while the container is Stopped or Failed ("Stop the
#: container before configuring."). `running` (start/terminate) changes in any phase;
#: `bundle` never changes (its own rule).
CONFIGURATION_FIELDS: tuple[str, ...] = tuple(
    name for name in JupyterContainerSpec.model_fields if name not in {"running", "bundle"}
)
#: Phases in which the configuration is locked.
LOCKED_PHASES: tuple[Phase, ...] = (Phase.STARTING, Phase.ACTIVE)


def configuration_changes(old: JupyterContainerSpec, new: JupyterContainerSpec) -> list[str]:
    """The configuration fields that differ between two specs (the webhook's mirror of the
    stop-before-configuring CEL rule)."""
    return [f for f in CONFIGURATION_FIELDS if getattr(old, f) != getattr(new, f)]


# CEL keywords that Kubernetes makes field names write as `__name__` (`spec.namespace`!).
_CEL_RESERVED = frozenset(
    [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ]
)


def cel_field(name: str) -> str:
    return f"__{name}__" if name in _CEL_RESERVED else name


def _unchanged_cel(field: str) -> str:
    # An absent field and its zero value mean the same (so `env: []` added by a client to an
    # Active container is no change). `has()` rather than the optional syntax `.?`: the API
    # server's cost estimator loses the size bounds through optionals and rejects the rule.
    origin = get_origin(JupyterContainerSpec.model_fields[field].annotation)
    zero = {list: "[]", dict: "{}"}.get(origin, "''")
    name = cel_field(field)
    new, old = f"self.spec.{name}", f"oldSelf.spec.{name}"
    return f"(has({new}) ? {new} : {zero}) == (has({old}) ? {old} : {zero})"


def _changed_cel(field: str) -> str:
    name = cel_field(field)
    new, old = f"self.spec.{name}", f"oldSelf.spec.{name}"
    return f"(has({new}) ? {new} : '') != (has({old}) ? {old} : '')"


#: CEL rules on the whole JupyterContainer: the name rules need `metadata`, and the
#: stop-before-configuring rule needs the stored status (on the main resource the
#: request's status is replaced by the stored one, so `oldSelf.status` is the truth).
JUPYTER_CONTAINER_RULES: tuple[CelRule, ...] = (
    cel(
        f"self.metadata.name.matches({cel_string(rules.NAME_PATTERN)})",
        rules.MSG_NAME_PATTERN,
        reason="FieldValueInvalid",
        field_path=".metadata.name",
    ),
    cel(
        f"size(self.metadata.name) <= {rules.NAME_MAX_LENGTH}",
        rules.MSG_NAME_LENGTH,
        reason="FieldValueInvalid",
        field_path=".metadata.name",
    ),
    cel(
        "!(has(oldSelf.status) && has(oldSelf.status.phase) && oldSelf.status.phase in "
        f"{cel_list([p.value for p in LOCKED_PHASES])})"
        " || (" + " && ".join(_unchanged_cel(f) for f in CONFIGURATION_FIELDS) + ")",
        rules.MSG_STOP_BEFORE_CONFIGURING,
        reason="FieldValueForbidden",
        field_path=".spec",
    ),
    # ---- volume growth: a volume never shrinks (another volume or namespace is a new PVC).
    cel(
        "!has(self.spec.volumeSize) || !has(oldSelf.spec.volumeSize) || "
        + _changed_cel("volume")
        + " || "
        + _changed_cel("namespace")
        + " || !quantity(self.spec.volumeSize).isLessThan(quantity(oldSelf.spec.volumeSize))",
        message_expression=cel_message(
            rules.msg_volume_shrink, "self.spec.volumeSize", "oldSelf.spec.volumeSize"
        ),
        reason="FieldValueForbidden",
        field_path=".spec.volumeSize",
    ),
)


class ConditionModel(Model):
    """A status condition (metav1.Condition shape, so kstatus, Flux and Argo CD read it)."""

    type: Annotated[str, StringConstraints(max_length=64)] = Field(
        description="Condition type, e.g. Ready."
    )
    status: Annotated[str, StringConstraints(max_length=16)] = Field(
        description="True, False or Unknown."
    )
    reason: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="One-word CamelCase reason for the last transition."
    )
    message: Annotated[str, StringConstraints(max_length=4096)] | None = Field(
        default=None, description="Human-readable details of the last transition."
    )
    lastTransitionTime: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="When the status last changed (RFC 3339)."
    )
    observedGeneration: int | None = Field(
        default=None, description="metadata.generation the condition was computed for."
    )


def _conditions_field() -> Any:
    return Field(
        default_factory=list,
        max_length=16,
        description="Conditions, keyed by type.",
        json_schema_extra=x_rules(
            x_kubernetes_list_type="map", x_kubernetes_list_map_keys=["type"]
        ),
    )


class ResolvedInstance(Model):
    """The InstanceType the container runs with, as resolved by the operator."""

    name: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="InstanceType name."
    )
    cpu: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="CPU limit."
    )
    memory: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="Memory limit."
    )
    display: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        default=None, description="For the list: e.g. 'small (1 CPU, 2Gi)'."
    )


class EventCounts(Model):
    """Kubernetes events about the container's objects."""

    warnings: int = Field(default=0, description="Warning events.")
    total: int = Field(default=0, description="All events.")


class ResizeState(StrEnum):
    """Where a growth of the On Demand PVC is (from the PVC's status.capacity and conditions)."""

    REQUESTED = "Requested"
    IN_PROGRESS = "InProgress"
    FILE_SYSTEM_RESIZE_PENDING = "FileSystemResizePending"
    DONE = "Done"
    REFUSED = "Refused"


class StorageStatus(Model):
    """The On Demand PVC's size: asked for (spec.volumeSize or the Volume's maxSize), had, and
    the growth between them."""

    requested: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="Size asked for: spec.volumeSize, else the Volume's maxSize."
    )
    capacity: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="Size the PVC has (its status.capacity.storage)."
    )
    resize: ResizeState | None = Field(
        default=None,
        description="Requested, InProgress, FileSystemResizePending (grows at the next start), "
        "Done or Refused; unset when the PVC was never grown.",
    )
    message: Annotated[str, StringConstraints(max_length=4096)] | None = Field(
        default=None, description="What the growth is doing, or why it was refused."
    )


class JupyterContainerStatus(Model):
    """Observed state, written only by the operator."""

    phase: Phase | None = Field(default=None, description="Starting, Active, Stopped or Failed.")
    reason: Reason | None = Field(default=None, description="Typed reason for the phase.")
    message: Annotated[str, StringConstraints(max_length=4096)] | None = Field(
        default=None, description="What happened and what to do (the error when Failed)."
    )
    conditions: list[ConditionModel] = _conditions_field()
    observedGeneration: int | None = Field(
        default=None, description="metadata.generation this status was computed for."
    )
    instance: ResolvedInstance | None = Field(
        default=None, description="Resolved instance type (CPU and memory)."
    )
    volume: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="Attached volume, or 'No volume'."
    )
    deploymentNamespace: Annotated[str, StringConstraints(max_length=63)] | None = Field(
        default=None, description="Namespace the container's objects are deployed in."
    )
    createdBy: Annotated[str, StringConstraints(max_length=512)] | None = Field(
        default=None, description="User who created the container."
    )
    events: EventCounts | None = Field(default=None, description="Event counts (warnings/total).")
    podName: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="Pod of the current start attempt."
    )
    pvcName: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="PersistentVolumeClaim of an On Demand PVC volume."
    )
    serviceName: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="Service exposing JupyterLab."
    )
    tokenSecret: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None,
        description="Name of the Secret holding the JupyterLab token (never the token).",
    )
    startedAt: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="When the current start attempt began (RFC 3339)."
    )
    readyAt: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="When the container became Active (RFC 3339)."
    )
    stoppedAt: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="When the container was terminated (RFC 3339)."
    )
    attempt: int | None = Field(
        default=None, description="Start attempts so far (a new one per start)."
    )
    startRequest: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="Last handled value of the start-request annotation."
    )
    retryAt: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="When a failed request of the reconcile is retried (RFC 3339); unset "
        "when none failed.",
    )
    storage: StorageStatus | None = Field(
        default=None, description="Size of the On Demand PVC and its growth (spec.volumeSize)."
    )
    # Image catalog (issue 15).
    image: Annotated[str, StringConstraints(max_length=600)] | None = Field(
        default=None,
        description="Image the current attempt runs (a pinned JupyterImage as image@digest); "
        "kept until the next start, so a catalog edit does not restart a running container.",
    )

    culling: CullingStatus | None = Field(
        default=None,
        description="While Active under an idle timeout or maximum lifetime: when it will be "
        "stopped if nothing happens.",
    )


# ---------------------------------------------------------------- catalog entitlements


def _bundle_ref(ref: str) -> str:
    if re.fullmatch(rules.BUNDLE_REF_PATTERN, ref) is None:
        raise refuse(rules.MSG_BUNDLE_REF_INVALID)
    return ref


BundleRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=317),
    AfterValidator(_bundle_ref),
    Field(
        json_schema_extra=x_rules(
            cel(
                f"self.matches({cel_string(rules.BUNDLE_REF_PATTERN)})",
                rules.MSG_BUNDLE_REF_INVALID,
                reason="FieldValueInvalid",
            )
        )
    ),
]


class Entitled(Model):
    """Who may pick a catalog entry (InstanceType, Volume, JupyterImage).

    Both lists empty: everyone. Else a container may use the entry when its bundle is listed
    or its user belongs to a listed group (admins always may). Judged by core.entitlements.
    """

    allowedBundles: list[BundleRef] = Field(
        default_factory=list,
        max_length=100,
        description="ResourceBundles whose containers may use this entry: 'namespace/bundle', "
        "or 'namespace/*' for every bundle of a namespace. Empty with allowedGroups empty: "
        "everyone may.",
        json_schema_extra=x_rules(x_kubernetes_list_type="set"),
    )
    allowedGroups: list[Annotated[str, StringConstraints(min_length=1, max_length=512)]] = Field(
        default_factory=list,
        max_length=100,
        description="Groups whose users may use this entry (the creator's groups, as the "
        "API server authenticated them).",
        json_schema_extra=x_rules(x_kubernetes_list_type="set"),
    )


# ---------------------------------------------------------------- catalog


class Toleration(Model):
    """A pod toleration (core/v1 Toleration) for the instance type's nodes."""

    key: Annotated[str, StringConstraints(max_length=316)] | None = Field(
        default=None, description="Taint key; empty with operator Exists matches all taints."
    )
    operator: Annotated[str, StringConstraints(max_length=16)] | None = Field(
        default=None, description="Exists or Equal (default Equal)."
    )
    value: Annotated[str, StringConstraints(max_length=63)] | None = Field(
        default=None, description="Taint value for operator Equal."
    )
    effect: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="NoSchedule, PreferNoSchedule or NoExecute; empty matches all."
    )
    tolerationSeconds: int | None = Field(
        default=None, description="How long a NoExecute taint is tolerated."
    )


class InstanceTypeSpec(Entitled):
    """A node type of the admin catalog: CPU and memory for a container."""

    cpu: Quantity = Field(
        description="CPU limit, e.g. '1' or '500m'.",
        json_schema_extra=_quantity_rule("spec.cpu", "'1' or '500m'"),
    )
    memory: Quantity = Field(
        description="Memory limit, e.g. '2Gi'.",
        json_schema_extra=_quantity_rule("spec.memory", "'2Gi'"),
    )
    requestRatio: Annotated[float, Field(gt=0, le=1)] = Field(
        default=1.0,
        description="Requests as a fraction of the limits (1 = Guaranteed QoS).",
    )
    displayName: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="Text shown in lists and forms."
    )
    order: int = Field(
        default=100, description="Sort key; the first available instance type is the default."
    )
    available: bool = Field(default=True, description="Offered to users.")
    nodeSelector: dict[str, Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=dict,
        max_length=20,
        description="Node labels the container's pod must match.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=20,
        description="Tolerations for tainted nodes of this type.",
    )
    culling: CullingPolicy | None = Field(
        default=None,
        description="Idle timeout and maximum lifetime of containers of this type (unset: the "
        "cluster defaults; off unless configured).",
    )

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, cpu: str) -> str:
        return _positive_quantity(cpu, "spec.cpu", "'1' or '500m'")

    @field_validator("memory")
    @classmethod
    def _memory(cls, memory: str) -> str:
        return _positive_quantity(memory, "spec.memory", "'2Gi'")


class NFSSource(Model):
    """An NFS export."""

    server: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        description="NFS server host name or IP address."
    )
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = Field(
        description="Exported path on the server."
    )
    readOnly: bool = Field(default=False, description="Mount read-only.")


class VolumeSpec(Entitled):
    """A volume of the admin catalog."""

    model_config = ConfigDict(
        json_schema_extra=x_rules(
            cel(
                "self.type != 'NFS' || has(self.nfs)",
                rules.MSG_VOLUME_NFS_REQUIRED,
                reason="FieldValueRequired",
                field_path=".nfs",
            ),
            cel(
                "self.type != 'OnDemandPVC' || has(self.maxSize)",
                rules.MSG_VOLUME_MAX_SIZE_REQUIRED,
                reason="FieldValueRequired",
                field_path=".maxSize",
            ),
        )
    )

    type: VolumeType = Field(
        description="OnDemandPVC, NFS, HostPath, TmpFS or EmptyDir. Jupyter containers accept "
        "only OnDemandPVC and NFS."
    )
    maxSize: Quantity | None = Field(
        default=None,
        description="Size of an On Demand PVC, e.g. '10Gi', and the most a container's "
        "spec.volumeSize may grow it to. Required for OnDemandPVC.",
        json_schema_extra=_quantity_rule("spec.maxSize", "'10Gi'"),
    )
    storageClassName: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="StorageClass of an On Demand PVC (cluster default if unset)."
    )
    accessModes: list[Annotated[str, StringConstraints(max_length=32)]] = Field(
        # A plain default (pydantic copies it per instance) so it reaches the CRD schema.
        default=["ReadWriteOnce"],
        max_length=4,
        description="Access modes of an On Demand PVC.",
    )
    nfs: NFSSource | None = Field(default=None, description="NFS export; required for NFS.")
    hostPath: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, description="Node path of a HostPath volume."
    )
    displayName: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="Text shown in lists and forms."
    )

    @field_validator("maxSize")
    @classmethod
    def _max_size(cls, size: str | None) -> str | None:
        return None if size is None else _positive_quantity(size, "spec.maxSize", "'10Gi'")

    @model_validator(mode="after")
    def _type_fields(self) -> Self:
        if self.type == VolumeType.NFS and self.nfs is None:
            raise refuse(rules.MSG_VOLUME_NFS_REQUIRED)
        if self.type == VolumeType.ON_DEMAND_PVC and self.maxSize is None:
            raise refuse(rules.MSG_VOLUME_MAX_SIZE_REQUIRED)
        return self


# ---------------------------------------------------------------- image catalog (issue 15)


def _digest(digest: str | None) -> str | None:
    if digest is not None and re.fullmatch(rules.DIGEST_PATTERN, digest) is None:
        raise refuse(rules.MSG_DIGEST_INVALID)
    return digest


class JupyterImageSpec(Entitled):
    """An admin-approved JupyterLab image: what `spec.image` of a JupyterContainer names."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="Image reference without a digest: [registry[:port]/]repository[:tag], "
        "e.g. 'quay.io/jupyter/scipy-notebook:2025-01-06' (a Jupyter Docker Stacks image: the "
        "pod runs its start-notebook.py). Without spec.digest its tag is pulled on every start.",
        json_schema_extra=x_rules(
            cel(
                f"self.matches({cel_string(rules.IMAGE_PATTERN)})",
                rules.MSG_IMAGE_INVALID,
                reason="FieldValueInvalid",
            ),
            cel(
                "!self.contains('@')",
                rules.MSG_IMAGE_REFERENCE_HAS_DIGEST,
                reason="FieldValueInvalid",
            ),
        ),
    )
    digest: Annotated[str, StringConstraints(max_length=71), AfterValidator(_digest)] | None = (
        Field(
            default=None,
            description="Pin: the pod runs image@digest (sha256:...), whatever the tag points "
            "to now.",
            json_schema_extra=x_rules(
                cel(
                    f"self.matches({cel_string(rules.DIGEST_PATTERN)})",
                    rules.MSG_DIGEST_INVALID,
                    reason="FieldValueInvalid",
                )
            ),
        )
    )
    displayName: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="Text shown in lists and forms."
    )
    description: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, description="What the image holds (shown in the catalog listing)."
    )
    order: int = Field(default=100, description="Sort key of lists and forms.")
    available: bool = Field(default=True, description="Offered to users.")
    default: bool = Field(
        default=False,
        description="The image of containers without spec.image: the available default "
        "image a container may use with the lowest (order, name); none: the operator's "
        "configured image (JC_JUPYTER_IMAGE).",
    )
    prePull: bool = Field(
        default=False,
        description="Keep the image pulled on the nodes where containers using it can run (those "
        "of the available InstanceTypes it may be used with), so a start's pull is only a "
        "manifest check: a DaemonSet in the operator's namespace, only while the image is "
        "available. status.prePull says on how many nodes it is pulled.",
    )

    @field_validator("image")
    @classmethod
    def _reference(cls, image: str) -> str:
        if "@" in image:
            raise refuse(rules.MSG_IMAGE_REFERENCE_HAS_DIGEST)
        if not rules.is_image_reference(image):
            raise refuse(rules.MSG_IMAGE_INVALID)
        return image

    @property
    def pull_reference(self) -> str:
        """What the pod runs: the reference, pinned to the digest when one is given."""
        return f"{self.image}@{self.digest}" if self.digest else self.image


class PrePullStatus(Model):
    """Where the image is kept pulled (from its pre-pull DaemonSet's status)."""

    daemonSet: Annotated[str, StringConstraints(max_length=317)] | None = Field(
        default=None, description="'namespace/name' of the pre-pull DaemonSet."
    )
    image: Annotated[str, StringConstraints(max_length=600)] | None = Field(
        default=None, description="The reference pre-pulled (image@digest when pinned)."
    )
    desiredNodes: int = Field(default=0, description="Nodes the image should be pulled on.")
    readyNodes: int = Field(
        default=0, description="Nodes where the current reference is pulled (pod ready)."
    )
    nodes: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="readyNodes/desiredNodes, for the printer column."
    )
    message: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, description="Why the image is not pre-pulled, when it is not."
    )


class JupyterImageStatus(Model):
    """Observed state of a catalog image, written only by the operator."""

    prePull: PrePullStatus | None = Field(
        default=None, description="Pre-pull (spec.prePull): absent when it is off."
    )


# ---------------------------------------------------------------- access


class Grant(Model):
    """Permissions given to users and groups on the bundle's containers."""

    users: list[Annotated[str, StringConstraints(max_length=512)]] = Field(
        default_factory=list, max_length=200, description="User names."
    )
    groups: list[Annotated[str, StringConstraints(max_length=512)]] = Field(
        default_factory=list, max_length=200, description="Group names."
    )
    permissions: list[Permission] = Field(
        min_length=1, max_length=4, description="view, update, start-stop and/or delete."
    )


class ResourceBundleSpec(Model):
    """Who can access the containers of this bundle."""

    owner: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="User who owns the bundle; has every permission."
    )
    description: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, description="What the bundle is for."
    )
    grants: list[Grant] = Field(
        default_factory=list, max_length=100, description="Access given to other users and groups."
    )


class ResourceBundleStatus(Model):
    """Observed state of a bundle, written only by the operator."""

    containers: list[Annotated[str, StringConstraints(max_length=253)]] = Field(
        default_factory=list,
        max_length=1000,
        description="JupyterContainers (same namespace) that belong to this bundle.",
        json_schema_extra=x_rules(x_kubernetes_list_type="set"),
    )
    conditions: list[ConditionModel] = _conditions_field()
    observedGeneration: int | None = Field(
        default=None, description="metadata.generation this status was computed for."
    )
