"""Desired Kubernetes objects of one JupyterContainer: spec + catalog + settings in, dicts out.

Pure: every function returns plain dicts ready for server-side apply and reads
nothing but its arguments. Each object carries `SPEC_HASH_ANNOTATION`, the hash of
the rest of it, so the shell can skip an apply when nothing changed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_containers.api import jupyterlab_policy, rules
from jupyter_containers.api.models import (
    InstanceTypeSpec,
    JupyterContainerSpec,
    VolumeSpec,
    VolumeType,
)
from jupyter_containers.core import naming
from jupyter_containers.core.catalog import CatalogError, resources
from jupyter_containers.core.settings import JupyterLabSettings
from jupyter_containers.core.volume_size import requested_size

logger = logging.getLogger(__name__)

CONTAINER_NAME = naming.CONTAINER_NAME
PORT_NAME = "http"
HOME_VOLUME = "home"
PLATFORM_CONFIG_VOLUME_NAME = "jupyter-config"
#: JUPYTER_CONFIG_DIR (jupyterlab_policy.PINNED_ENV) exists in every image, read-only: a
#: downward-API volume holding jupyter_core's `migrated` marker. Without it the server dies at
#: start once ~/.ipython exists on the home volume (jupyter_core then migrates and creates the
#: config directory, which the non-root user cannot); read-only, it skips the migration.
PLATFORM_CONFIG_VOLUME: dict[str, Any] = {
    "name": PLATFORM_CONFIG_VOLUME_NAME,
    "downwardAPI": {
        "defaultMode": 0o444,
        "items": [{"path": "migrated", "fieldRef": {"fieldPath": "metadata.uid"}}],
    },
}
PLATFORM_CONFIG_MOUNT: dict[str, Any] = {
    "name": PLATFORM_CONFIG_VOLUME_NAME,
    "mountPath": jupyterlab_policy.PLATFORM_CONFIG_DIR,
    "readOnly": True,
}
#: Docker Stacks entry point: it runs `jupyter lab` with the arguments and honours
#: the JUPYTER_ENABLE_LAB/RESTARTABLE variables the platform injects.
START_COMMAND = ["start-notebook.py"]
#: jovyan's uid and the users group of the Docker Stacks images.
RUN_AS_USER = 1000
RUN_AS_GROUP = 100
REVISION_HISTORY_LIMIT = 2


@dataclass(frozen=True)
class BuildInputs:
    """Everything needed to build the objects of one container."""

    name: str
    domain: str
    uid: str
    spec: JupyterContainerSpec
    instance_type_name: str
    instance_type: InstanceTypeSpec
    volume_name: str | None
    volume: VolumeSpec | None
    settings: JupyterLabSettings
    #: Start attempt; on the pod template, so a new attempt rolls out a fresh pod.
    attempt: int
    #: What the pod runs: the JupyterImage's reference (pinned: ref@digest); None: the
    #: operator's configured image (core.catalog.resolve_image).
    image_reference: str | None = None

    @property
    def deploy_namespace(self) -> str:
        return naming.deployment_namespace(self.domain, self.spec)

    @property
    def base_name(self) -> str:
        return naming.base_name(self.name, self.domain, self.deploy_namespace)

    @property
    def pvc_name(self) -> str:
        legacy = naming.legacy_base_name(self.name, self.domain, self.deploy_namespace)
        return naming.pvc_name(legacy, self.uid, self.volume_name or "")

    @property
    def labels(self) -> dict[str, str]:
        return naming.common_labels(self.name, self.domain, self.uid)

    @property
    def base_url(self) -> str:
        return self.settings.base_url(self.domain, self.name, self.deploy_namespace)

    @property
    def image(self) -> str:
        return self.image_reference or self.settings.jupyter_image


# ---------------------------------------------------------------- hashing


def spec_hash(obj: Mapping[str, Any]) -> str:
    """Stable hash of a desired object, ignoring its own spec-hash annotation."""
    # Shallow copies down to the annotations: json.dumps only reads the rest (a deep copy of
    # every desired object was a measurable share of the operator's CPU in the benchmark).
    body = dict(obj)
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("annotations"), Mapping):
        annotations = {
            k: v for k, v in metadata["annotations"].items() if k != naming.SPEC_HASH_ANNOTATION
        }
        body["metadata"] = {**metadata, "annotations": annotations}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _with_hash(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].setdefault("annotations", {})[naming.SPEC_HASH_ANNOTATION] = spec_hash(obj)
    return obj


def _metadata(
    t: BuildInputs, name: str, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": t.deploy_namespace,
        "labels": t.labels,
        "annotations": dict(annotations or {}),
    }


# ---------------------------------------------------------------- pod parts


def tag_annotations(tags: Mapping[str, str]) -> dict[str, str]:
    """spec.tags as annotations, without platform/Kubernetes keys (those never steer objects)."""
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not rules.is_qualified_name(key):
            raise CatalogError(rules.msg_tag_key_invalid(key))
        if not naming.is_platform_key(key):
            out[key] = value
    return out


def container_args(t: BuildInputs) -> list[str]:
    """Platform arguments first, then the user's; a user argument never sets a platform one."""
    platform = [
        "--ip=0.0.0.0",
        f"--port={rules.JUPYTER_PORT}",
        f"--ServerApp.base_url={t.base_url}",
        f"--ServerApp.allow_origin={t.settings.allow_origin}",
        # Kubernetes expands $(VAR) from the container's env: the token stays in the Secret.
        f"--IdentityProvider.token=$({rules.TOKEN_ENV})",
        *jupyterlab_policy.pinned_args(f"$({rules.TOKEN_ENV})", rules.HOME_MOUNT_PATH),
    ]
    for i, arg in enumerate(t.spec.args):
        owned = rules.platform_arg_of(arg)
        if owned is not None:
            raise CatalogError(f"spec.args[{i}]: {rules.msg_platform_arg(arg, owned)}")
        # Hook (jupyterlab_policy): a spec stored before the allowlist existed.
        problem = jupyterlab_policy.arg_problem(arg)
        if problem is not None:
            raise CatalogError(f"spec.args[{i}]: {problem}")
    return [*platform, *t.spec.args]


def container_env(t: BuildInputs) -> list[dict[str, Any]]:
    """Token from its Secret, the platform variables, then the user's variables."""
    env: list[dict[str, Any]] = [
        {
            "name": rules.TOKEN_ENV,
            "valueFrom": {
                "secretKeyRef": {"name": naming.token_secret_name(t.base_name), "key": "token"}
            },
        },
        *({"name": k, "value": v} for k, v in rules.PLATFORM_ENV.items()),
        # Hook (jupyterlab_policy): where configuration and code are read from.
        *({"name": k, "value": v} for k, v in jupyterlab_policy.PINNED_ENV.items()),
    ]
    seen: set[str] = set()
    for i, var in enumerate(t.spec.env):
        if var.name in rules.RESERVED_ENV_NAMES:
            raise CatalogError(f"spec.env[{i}].name: {rules.msg_reserved_env(var.name)}")
        owned = jupyterlab_policy.env_problem(var.name)
        if owned is not None:
            raise CatalogError(f"spec.env[{i}].name: {owned}")
        if var.name in seen:
            # Server-side apply treats env as a map keyed by name: duplicates are an error.
            raise CatalogError(rules.msg_env_duplicate(var.name))
        seen.add(var.name)
        if (var.value is None) == (var.valueFrom is None):
            raise CatalogError(rules.msg_env_value_xor(var.name))
        if var.valueFrom is not None:
            ref = var.valueFrom.secretKeyRef.model_dump(exclude_none=True)
            env.append({"name": var.name, "valueFrom": {"secretKeyRef": ref}})
        else:
            env.append({"name": var.name, "value": var.value})
    return env


def _volume_source(t: BuildInputs) -> dict[str, Any] | None:
    v = t.volume
    if v is None:
        return None
    if v.type == VolumeType.ON_DEMAND_PVC:
        return {"persistentVolumeClaim": {"claimName": t.pvc_name}}
    if v.type == VolumeType.NFS and v.nfs is not None:
        # Through a PV/PVC pair, not an inline `nfs` volume: the `restricted` Pod
        # Security Standard allows persistentVolumeClaim volumes but not nfs ones.
        claim: dict[str, Any] = {"claimName": t.pvc_name}
        if v.nfs.readOnly:
            claim["readOnly"] = True
        return {"persistentVolumeClaim": claim}
    raise CatalogError(rules.MSG_INVALID_VOLUME_TYPE)


def pod_spec(t: BuildInputs) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": t.image,
        # Every start pulls the newest image of the tag, as the manual promises.
        "imagePullPolicy": "Always",
        "command": list(START_COMMAND),
        "args": container_args(t),
        "env": container_env(t),
        "ports": [{"name": PORT_NAME, "containerPort": rules.JUPYTER_PORT, "protocol": "TCP"}],
        "resources": resources(t.instance_type_name, t.instance_type),
        # GET <base_url>api answers without a token once the server is up.
        "readinessProbe": {
            "httpGet": {"path": f"{t.base_url}api", "port": rules.JUPYTER_PORT},
            "periodSeconds": 3,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
        },
    }
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_GROUP,
            "fsGroup": RUN_AS_GROUP,
            # Skip the recursive chown of a large home volume when it is already right.
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
    }
    container["volumeMounts"] = [dict(PLATFORM_CONFIG_MOUNT)]
    spec["volumes"] = [dict(PLATFORM_CONFIG_VOLUME)]
    source = _volume_source(t)
    if source is not None:
        container["volumeMounts"].append({"name": HOME_VOLUME, "mountPath": rules.HOME_MOUNT_PATH})
        spec["volumes"].append({"name": HOME_VOLUME, **source})
    if t.instance_type.nodeSelector:
        spec["nodeSelector"] = dict(t.instance_type.nodeSelector)
    if t.instance_type.tolerations:
        spec["tolerations"] = [
            tol.model_dump(exclude_none=True) for tol in t.instance_type.tolerations
        ]
    return spec


# ---------------------------------------------------------------- objects


def build_deployment(t: BuildInputs) -> dict[str, Any]:
    tags = tag_annotations(t.spec.tags)
    # Hook (rules.pod_tags): tags stay on the Deployment; the pod gets only the simulation key.
    pod_annotations = {**rules.pod_tags(tags), naming.ATTEMPT_ANNOTATION: str(t.attempt)}
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(t, t.base_name, tags),
        "spec": {
            "replicas": 1,
            # Never two JupyterLab servers on one home volume.
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
            "selector": {"matchLabels": naming.selector_labels(t.name, t.domain)},
            "template": {
                "metadata": {"labels": t.labels, "annotations": pod_annotations},
                "spec": pod_spec(t),
            },
        },
    }
    return _with_hash(obj)


def build_service(t: BuildInputs) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(t, t.base_name),
        "spec": {
            "type": "ClusterIP",
            # Headless: the name resolves to the pod, and the console's proxy and port-forward
            # reach the pod anyway. A virtual IP is a cluster-wide resource the API server
            # allocates one at a time (about 50 per second on the benchmark's machine, while a
            # headless Service is made 10 times faster), and every kube-proxy would program it
            # on every node: at N=5000 the Service apply took 2.2 s p50, 13 s p99 in a start
            # burst and held the reconcile slots the next starts waited for (BENCHMARKS.md).
            "clusterIP": "None",
            "selector": naming.selector_labels(t.name, t.domain),
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": rules.JUPYTER_PORT,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }
    return _with_hash(obj)


#: The label every namespace has (Kubernetes sets it), to select one by name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def build_network_policy(namespace: str, s: JupyterLabSettings) -> dict[str, Any] | None:
    """The one NetworkPolicy of a deployment namespace: who may reach JupyterLab and what it
    may reach; None when the setting is off.

    One per namespace, not per container: its rules name no container (they are the
    operator's settings), and it selects every JupyterLab pod of the operator there
    (`naming.jupyterlab_pod_labels`), so a burst of starts in one namespace costs one apply,
    not one per container (`shell.namespace_policies` keeps it).

    Ingress: JupyterLab's port, only from the configured pods (the console's proxy); nothing
    else (the kubelet's probes and port-forward do not pass through pod networking rules on
    the usual CNIs). Egress: everywhere (pods, DNS, the internet for packages) except the
    denied CIDRs (the cloud metadata service hands out the node's credentials). Enforced only
    where the cluster's network plugin implements NetworkPolicy.
    """
    if not s.network_policy:
        return None
    peer: dict[str, Any] = {}
    if s.network_policy_ingress_namespace:
        peer["namespaceSelector"] = {
            "matchLabels": {NAMESPACE_NAME_LABEL: s.network_policy_ingress_namespace}
        }
    if s.network_policy_ingress_pod_labels:
        # Without a namespace: pods of the deployment namespace (a bare podSelector).
        peer["podSelector"] = {"matchLabels": dict(s.network_policy_ingress_pod_labels)}
    port = {"port": rules.JUPYTER_PORT, "protocol": "TCP"}
    peers = [p for p in (peer, _operator_peer(s)) if p]
    ingress = [{"from": peers, "ports": [port]}] if peers else []
    denied = [ipaddress.ip_network(c, strict=False) for c in s.network_policy_denied_egress]
    blocks = []
    for everything in ("0.0.0.0/0", "::/0"):
        family = ipaddress.ip_network(everything).version
        block: dict[str, Any] = {"cidr": everything}
        excepted = sorted(str(n) for n in denied if n.version == family)
        if excepted:
            block["except"] = excepted
        blocks.append({"ipBlock": block})
    obj: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": naming.NETWORK_POLICY_NAME,
            "namespace": namespace,
            "labels": naming.network_policy_labels(),
            "annotations": {},
        },
        "spec": {
            "podSelector": {"matchLabels": naming.jupyterlab_pod_labels()},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            # Pods anywhere (whether a plugin's ipBlock covers pod IPs varies), then addresses.
            "egress": [{"to": [{"namespaceSelector": {}}]}, {"to": blocks}],
        },
    }
    return _with_hash(obj)


def _operator_peer(s: JupyterLabSettings) -> dict[str, Any]:
    """The operator's pods (its culling probe, shell/culler.py), when configured."""
    if not s.network_policy_operator_namespace:
        return {}
    peer: dict[str, Any] = {
        "namespaceSelector": {
            "matchLabels": {NAMESPACE_NAME_LABEL: s.network_policy_operator_namespace}
        }
    }
    if s.network_policy_operator_pod_labels:
        peer["podSelector"] = {"matchLabels": dict(s.network_policy_operator_pod_labels)}
    return peer


#: Nominal size of an NFS PV/PVC pair: the share's real size is the server's business.
NFS_NOMINAL_SIZE = "1Gi"


def build_nfs_pv(t: BuildInputs) -> dict[str, Any] | None:
    """The PersistentVolume for an NFS Volume, pre-bound to the container's PVC.

    Reclaim policy Retain: deleting the PV and PVC objects never touches the share.
    """
    v = t.volume
    if v is None or v.type != VolumeType.NFS or v.nfs is None or t.volume_name is None:
        return None
    size = v.maxSize or NFS_NOMINAL_SIZE
    metadata = _metadata(
        t, naming.nfs_pv_name(t.uid, t.volume_name), {naming.VOLUME_ANNOTATION: t.volume_name}
    )
    del metadata["namespace"]  # cluster-scoped
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": metadata,
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadOnlyMany"] if v.nfs.readOnly else ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "nfs": {"server": v.nfs.server, "path": v.nfs.path, "readOnly": v.nfs.readOnly},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": t.deploy_namespace,
                "name": t.pvc_name,
            },
        },
    }
    return _with_hash(obj)


def build_pvc(t: BuildInputs) -> dict[str, Any] | None:
    """The container's PVC: On Demand (provisioned), or bound to its NFS PV; None without."""
    v = t.volume
    if v is None or t.volume_name is None:
        return None
    if v.type == VolumeType.NFS and v.nfs is not None:
        size = v.maxSize or NFS_NOMINAL_SIZE
        nfs_spec: dict[str, Any] = {
            "accessModes": ["ReadOnlyMany"] if v.nfs.readOnly else ["ReadWriteMany"],
            "resources": {"requests": {"storage": size}},
            "storageClassName": "",
            "volumeName": naming.nfs_pv_name(t.uid, t.volume_name),
        }
        return _with_hash(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": _metadata(t, t.pvc_name, {naming.VOLUME_ANNOTATION: t.volume_name}),
                "spec": nfs_spec,
            }
        )
    if v.type != VolumeType.ON_DEMAND_PVC:
        return None
    if not v.maxSize:
        raise CatalogError(f"Volume {t.volume_name!r}: {rules.MSG_VOLUME_MAX_SIZE_REQUIRED}")
    spec: dict[str, Any] = {
        "accessModes": list(v.accessModes),
        # spec.volumeSize (at most maxSize), else maxSize: core.volume_size.
        "resources": {"requests": {"storage": requested_size(t.spec, v) or v.maxSize}},
    }
    storage_class = v.storageClassName or t.settings.default_storage_class
    if storage_class:
        spec["storageClassName"] = storage_class
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _metadata(t, t.pvc_name, {naming.VOLUME_ANNOTATION: t.volume_name}),
        "spec": spec,
    }
    return _with_hash(obj)


def build_token_secret(t: BuildInputs, token: str) -> dict[str, Any]:
    if not token:
        # An empty token would open JupyterLab to anyone who reaches the Service.
        raise ValueError("the JupyterLab token must not be empty")
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(t, naming.token_secret_name(t.base_name)),
        "type": "Opaque",
        "stringData": {"token": token},
    }
    return _with_hash(obj)
