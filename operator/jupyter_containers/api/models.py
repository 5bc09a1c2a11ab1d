"""Pydantic models of the Jupyter Containers API.

These models are the single source of truth: `crdgen` turns them into the CRD
YAML (with the CEL rules declared here), the operator parses objects with them,
and the webhook and the CLI validate with them. Field descriptions become
`kubectl explain` text.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

GROUP = "jupytercontainers.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class Model(BaseModel):
    """Base: camelCase names as in the YAML, unknown fields rejected like the CRD does."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=True)


KubeName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ),
]
NamespaceName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
EnvName = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
]
Quantity = Annotated[
    str,
    StringConstraints(
        max_length=64,
        pattern=r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$",
    ),
]


# ---------------------------------------------------------------- enums


class Phase(StrEnum):
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
    # Active
    READY = "Ready"
    # Stopped
    STOPPED = "Stopped"
    # Failed
    IMAGE_PULL_FAILED = "ImagePullFailed"
    INVALID_IMAGE = "InvalidImageName"
    CRASH_LOOP = "CrashLoopBackOff"
    CONFIG_ERROR = "CreateContainerConfigError"
    OOM_KILLED = "OOMKilled"
    CONTAINER_ERROR = "ContainerExitedWithError"
    POD_FAILED = "PodFailed"
    QUOTA_EXCEEDED = "QuotaExceeded"
    UNSCHEDULABLE = "Unschedulable"
    VOLUME_FAILED = "VolumeFailed"
    START_DEADLINE_EXCEEDED = "StartDeadlineExceeded"
    INVALID_CONFIGURATION = "InvalidConfiguration"


class VolumeType(StrEnum):
    ON_DEMAND_PVC = "OnDemandPVC"
    NFS = "NFS"
    HOST_PATH = "HostPath"
    TMPFS = "TmpFS"
    EMPTY_DIR = "EmptyDir"


ALLOWED_VOLUME_TYPES: frozenset[VolumeType] = frozenset({VolumeType.ON_DEMAND_PVC, VolumeType.NFS})


class Permission(StrEnum):
    VIEW = "view"
    UPDATE = "update"
    START_STOP = "start-stop"
    DELETE = "delete"


# ---------------------------------------------------------------- JupyterContainer


class SecretKeySelector(Model):
    name: KubeName = Field(description="Name of a Secret in the deployment namespace.")
    key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        description="Key inside the Secret."
    )
    optional: bool | None = Field(
        default=None, description="Start even when the Secret or key does not exist."
    )


class EnvVarSource(Model):
    secretKeyRef: SecretKeySelector = Field(description="A key of a Secret.")


class EnvVar(Model):
    """An environment variable: a plain `value`, or `valueFrom.secretKeyRef`."""

    name: EnvName = Field(description="Variable name. JUPYTER_ENABLE_LAB, RESTARTABLE and JUPYTER_TOKEN are reserved.")
    value: Annotated[str, StringConstraints(max_length=32768)] | None = Field(
        default=None, description="Plain-text value."
    )
    valueFrom: EnvVarSource | None = Field(
        default=None, description="Take the value from a Secret (keeps credentials out of the spec)."
    )


class JupyterContainerSpec(Model):
    """Desired state of a JupyterLab environment."""

    bundle: KubeName = Field(
        description="ResourceBundle (same namespace) that controls who can access this container. "
        "Immutable after creation."
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
    image: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        default=None,
        description="JupyterLab image; defaults to the platform image. Pulled on every start.",
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=100,
        description="Environment variables injected at runtime (plain or from a Secret).",
    )
    args: list[Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=list,
        max_length=100,
        description="Extra JupyterLab arguments. The platform owns --ip, --port, "
        "--ServerApp.base_url, --ServerApp.allow_origin and --IdentityProvider.token.",
    )
    tags: dict[str, Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=dict,
        max_length=50,
        description="Resource tags: free-form key/value metadata.",
    )
    running: bool = Field(
        default=True,
        description="Desired run state: true starts the container, false terminates it "
        "(Deployment and Service deleted; configuration, volume and token kept).",
    )


class ConditionModel(Model):
    type: Annotated[str, StringConstraints(max_length=64)]
    status: Annotated[str, StringConstraints(max_length=16)] = Field(description="True, False or Unknown.")
    reason: Annotated[str, StringConstraints(max_length=128)] | None = None
    message: Annotated[str, StringConstraints(max_length=4096)] | None = None
    lastTransitionTime: Annotated[str, StringConstraints(max_length=64)] | None = None
    observedGeneration: int | None = None


class ResolvedInstance(Model):
    name: Annotated[str, StringConstraints(max_length=253)] | None = None
    cpu: Annotated[str, StringConstraints(max_length=64)] | None = None
    memory: Annotated[str, StringConstraints(max_length=64)] | None = None
    display: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        default=None, description="For the list: e.g. 'small (1 CPU, 2Gi)'."
    )


class EventCounts(Model):
    warnings: int = 0
    total: int = 0


class JupyterContainerStatus(Model):
    """Observed state, written only by the operator."""

    phase: Phase | None = Field(default=None, description="Starting, Active, Stopped or Failed.")
    reason: Reason | None = Field(default=None, description="Typed reason for the phase.")
    message: Annotated[str, StringConstraints(max_length=4096)] | None = Field(
        default=None, description="What happened and what to do (the error when Failed)."
    )
    conditions: list[ConditionModel] = Field(default_factory=list, max_length=16)
    observedGeneration: int | None = None
    instance: ResolvedInstance | None = None
    volume: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="Attached volume, or 'No volume'."
    )
    deploymentNamespace: Annotated[str, StringConstraints(max_length=63)] | None = None
    createdBy: Annotated[str, StringConstraints(max_length=512)] | None = None
    events: EventCounts | None = None
    podName: Annotated[str, StringConstraints(max_length=253)] | None = None
    pvcName: Annotated[str, StringConstraints(max_length=253)] | None = None
    serviceName: Annotated[str, StringConstraints(max_length=253)] | None = None
    tokenSecret: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="Name of the Secret holding the JupyterLab token (never the token)."
    )
    startedAt: Annotated[str, StringConstraints(max_length=64)] | None = None
    readyAt: Annotated[str, StringConstraints(max_length=64)] | None = None
    stoppedAt: Annotated[str, StringConstraints(max_length=64)] | None = None
    attempt: int | None = Field(default=None, description="Start attempts so far (a new one per start).")
    startRequest: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="Last handled value of the start-request annotation."
    )


# ---------------------------------------------------------------- catalog


class Toleration(Model):
    key: Annotated[str, StringConstraints(max_length=316)] | None = None
    operator: Annotated[str, StringConstraints(max_length=16)] | None = None
    value: Annotated[str, StringConstraints(max_length=63)] | None = None
    effect: Annotated[str, StringConstraints(max_length=32)] | None = None
    tolerationSeconds: int | None = None


class InstanceTypeSpec(Model):
    """A node type of the admin catalog: CPU and memory for a container."""

    cpu: Quantity = Field(description="CPU limit, e.g. '1' or '500m'.")
    memory: Quantity = Field(description="Memory limit, e.g. '2Gi'.")
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
        default_factory=dict, max_length=20
    )
    tolerations: list[Toleration] = Field(default_factory=list, max_length=20)


class NFSSource(Model):
    server: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    readOnly: bool = False


class VolumeSpec(Model):
    """A volume of the admin catalog."""

    type: VolumeType = Field(
        description="OnDemandPVC, NFS, HostPath, TmpFS or EmptyDir. Jupyter containers accept "
        "only OnDemandPVC and NFS."
    )
    maxSize: Quantity | None = Field(default=None, description="Size of an On Demand PVC, e.g. '10Gi'.")
    storageClassName: Annotated[str, StringConstraints(max_length=253)] | None = None
    accessModes: list[Annotated[str, StringConstraints(max_length=32)]] = Field(
        default_factory=lambda: ["ReadWriteOnce"], max_length=4
    )
    nfs: NFSSource | None = None
    hostPath: Annotated[str, StringConstraints(max_length=1024)] | None = None
    displayName: Annotated[str, StringConstraints(max_length=128)] | None = None


# ---------------------------------------------------------------- access


class Grant(Model):
    users: list[Annotated[str, StringConstraints(max_length=512)]] = Field(default_factory=list, max_length=200)
    groups: list[Annotated[str, StringConstraints(max_length=512)]] = Field(default_factory=list, max_length=200)
    permissions: list[Permission] = Field(min_length=1, max_length=4)


class ResourceBundleSpec(Model):
    """Who can access the containers of this bundle."""

    owner: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="User who owns the bundle; has every permission."
    )
    description: Annotated[str, StringConstraints(max_length=1024)] | None = None
    grants: list[Grant] = Field(default_factory=list, max_length=100)
