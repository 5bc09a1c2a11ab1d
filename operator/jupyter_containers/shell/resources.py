"""Kubernetes resource classes for lightkube (the project's kinds and the built-ins it manages),
and the operator's API client."""

from __future__ import annotations

import httpx2
from lightkube import AsyncClient
from lightkube.config.client_adapter import verify_cluster
from lightkube.config.kubeconfig import KubeConfig
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
from lightkube.resources.networking_v1 import NetworkPolicy
from lightkube.resources.storage_v1 import StorageClass

from jupyter_containers.api.models import GROUP, VERSION

JupyterContainer = create_namespaced_resource(
    GROUP, VERSION, "JupyterContainer", "jupytercontainers"
)
ResourceBundle = create_namespaced_resource(GROUP, VERSION, "ResourceBundle", "resourcebundles")
InstanceType = create_global_resource(GROUP, VERSION, "InstanceType", "instancetypes")
Volume = create_global_resource(GROUP, VERSION, "Volume", "volumes")
JupyterImage = create_global_resource(GROUP, VERSION, "JupyterImage", "jupyterimages")

#: Kinds the operator creates in a deployment namespace, by the `kind` of a built dict.
MANAGED_KINDS = {
    "Deployment": Deployment,
    "Service": Service,
    "Secret": Secret,
    "PersistentVolumeClaim": PersistentVolumeClaim,
    "PersistentVolume": PersistentVolume,
    "NetworkPolicy": NetworkPolicy,
}

#: Connections to the API server, all kept open. httpx's default keeps 20 of 100, so a burst
#: closed and re-opened connections (a TLS handshake each, on both sides); but httpcore probes
#: every idle connection's socket whenever a request starts or ends, so more connections cost
#: CPU on every request (128: 15% of the operator's CPU in the benchmark). Requests beyond
#: these wait in the pool's queue.
CONNECTIONS = 32
#: Connecting: 10 s (lightkube's default). An answer: up to the API server's own limit
#: (kube-apiserver --request-timeout, 60 s), after which it answers with an error itself; a
#: shorter wait gave up on writes the server still made (on a loaded server, a Service's apply
#: took over 10 s, and the retry found it made). Waiting for one of the pool's connections:
#: no limit. With hundreds of reconciles in flight (a stop of 1000 containers is 3000 deletes
#: at once), a request queues here longer than the API server takes to answer it, and that
#: wait is ours, not a failure of the API server; with httpx's pool timeout (lightkube: 10 s)
#: each such wait failed its reconcile (`PoolTimeout`, "no answer from the API server").
REQUEST_TIMEOUT = httpx2.Timeout(60.0, connect=10.0, pool=None)


def operator_client(field_manager: str) -> AsyncClient:
    """The operator's lightkube client (one connection pool, one TLS context); the process
    makes one at start-up (`shell.startup`) and closes it at cleanup."""
    config = KubeConfig.from_env().get()
    transport = httpx2.AsyncHTTPTransport(
        verify=verify_cluster(config.cluster, config.user, config.abs_file),
        limits=httpx2.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
    )
    return AsyncClient(
        config, field_manager=field_manager, transport=transport, timeout=REQUEST_TIMEOUT
    )


__all__ = [
    "MANAGED_KINDS",
    "Deployment",
    "Event",
    "InstanceType",
    "JupyterContainer",
    "JupyterImage",
    "Namespace",
    "NetworkPolicy",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "ResourceBundle",
    "ResourceQuota",
    "Secret",
    "Service",
    "StorageClass",
    "Volume",
]
