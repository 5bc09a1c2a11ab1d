"""The API of Jupyter Containers: pydantic models, the one source of truth for the CRDs."""

from jupyter_containers.api.models import (
    API_VERSION,
    CONFIGURATION_FIELDS,
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
    ResourceBundleStatus,
    VolumeSpec,
    VolumeType,
    configuration_changes,
)

__all__ = [
    "API_VERSION",
    "CONFIGURATION_FIELDS",
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
    "ResourceBundleStatus",
    "VolumeSpec",
    "VolumeType",
    "configuration_changes",
]
