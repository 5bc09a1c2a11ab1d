"""Kubernetes resource classes for lightkube: the project's kinds and the built-ins it manages."""

from __future__ import annotations

from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import (
    Event,
    Namespace,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    ResourceQuota,
    Secret,
    Service,
)

from jupyter_containers.api.models import GROUP, VERSION

JupyterContainer = create_namespaced_resource(
    GROUP, VERSION, "JupyterContainer", "jupytercontainers"
)
ResourceBundle = create_namespaced_resource(GROUP, VERSION, "ResourceBundle", "resourcebundles")
InstanceType = create_global_resource(GROUP, VERSION, "InstanceType", "instancetypes")
Volume = create_global_resource(GROUP, VERSION, "Volume", "volumes")

#: Kinds the operator creates in a deployment namespace, by the `kind` of a built dict.
MANAGED_KINDS = {
    "Deployment": Deployment,
    "Service": Service,
    "Secret": Secret,
    "PersistentVolumeClaim": PersistentVolumeClaim,
    "PersistentVolume": PersistentVolume,
}

__all__ = [
    "MANAGED_KINDS",
    "Deployment",
    "Event",
    "InstanceType",
    "JupyterContainer",
    "Namespace",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "ResourceBundle",
    "ResourceQuota",
    "Secret",
    "Service",
    "Volume",
]
