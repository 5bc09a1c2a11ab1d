"""The API of Jupyter Containers: pydantic models, the one source of truth for the CRDs."""

from jupyter_containers.api.models import (
    API_VERSION,
    GROUP,
    VERSION,
    ConditionModel,
    EnvVar,
    InstanceTypeSpec,
    JupyterContainerSpec,
    JupyterContainerStatus,
    Phase,
    Reason,
    ResourceBundleSpec,
    VolumeSpec,
    VolumeType,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "ConditionModel",
    "EnvVar",
    "InstanceTypeSpec",
    "JupyterContainerSpec",
    "JupyterContainerStatus",
    "Phase",
    "Reason",
    "ResourceBundleSpec",
    "VolumeSpec",
    "VolumeType",
]
