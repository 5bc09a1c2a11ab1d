"""Names, labels and annotation keys of everything the operator creates.

See docs/architecture.md, "Names and labels". These strings are a contract with
the CLI, the Helm chart, the kwok stages and every object already in a cluster:
changing one orphans existing objects.
"""

from __future__ import annotations

import hashlib

from jupyter_containers.api.models import GROUP, JupyterContainerSpec

# ---------------------------------------------------------------- labels

APP_NAME_LABEL = "app.kubernetes.io/name"
APP_NAME_VALUE = "jupyterlab"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
COMPONENT_VALUE = "notebook"
PART_OF_LABEL = "app.kubernetes.io/part-of"
PART_OF_VALUE = "jupyter-containers"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "jupyter-containers-operator"
DOMAIN_LABEL = f"{GROUP}/domain"
NAME_LABEL = f"{GROUP}/name"
UID_LABEL = f"{GROUP}/uid"
#: app.kubernetes.io/component of the one NetworkPolicy of a deployment namespace.
NETWORK_POLICY_COMPONENT = "network-policy"

# ---------------------------------------------------------------- annotations

#: Hash of a desired object: the operator skips the write when the observed one matches.
SPEC_HASH_ANNOTATION = f"{GROUP}/spec-hash"
#: Start attempt, on the pod template: a new attempt is a new value, hence a fresh pod.
ATTEMPT_ANNOTATION = f"{GROUP}/attempt"
#: On the JupyterContainer: the user who created it (set by the mutating webhook).
CREATED_BY_ANNOTATION = f"{GROUP}/created-by"
#: On the JupyterContainer: the creator's groups at creation (a JSON list, set by the
#: mutating webhook), for the SubjectAccessReviews the operator asks on the creator's behalf.
CREATED_BY_GROUPS_ANNOTATION = f"{GROUP}/created-by-groups"
#: On the JupyterContainer: an RFC 3339 time; a new value starts a Stopped/Failed container.
START_REQUESTED_ANNOTATION = f"{GROUP}/start-requested"
#: Why the operator stopped a container (its culler: idle or lifetime), for that attempt.
STOPPED_BY_ANNOTATION = f"{GROUP}/stopped-by-operator"
#: On an On Demand PVC: the catalog Volume it was created for.
VOLUME_ANNOTATION = f"{GROUP}/volume"

FINALIZER = f"{GROUP}/cleanup"

#: Key prefixes that belong to the platform or to Kubernetes. Tags are copied as
#: annotations onto the Deployment and pod; a tag under one of these prefixes could
#: pose as the operator's own bookkeeping, so it is not copied.
PLATFORM_PREFIXES: tuple[str, ...] = (
    f"{GROUP}/",
    "kubernetes.io/",
    "k8s.io/",
    "kopf.zalando.org/",
)
#: Kubernetes reserves these domains and all their subdomains (app.kubernetes.io, ...).
_KUBERNETES_DOMAINS: tuple[str, ...] = ("kubernetes.io", "k8s.io")

#: The JupyterLab container of the pod.
CONTAINER_NAME = "jupyterlab"
#: Objects of a container deployed in its domain: `jc-NAME`.
NAME_PREFIX = "jc-"
#: Objects of a container deployed outside its domain: `jx-NAME-HASH6`. Another prefix, so
#: no such name can equal `jc-NAME` of a container whose name ends in `-HASH6`.
FOREIGN_PREFIX = "jx-"
TOKEN_SUFFIX = "-token"
PVC_SUFFIX = "-home"
#: Hex characters of sha256(domain) appended when deploying outside the domain.
DOMAIN_HASH_LENGTH = 6
#: The one NetworkPolicy of each deployment namespace (core.builders.build_network_policy).
#: With a dot: every object of a container is named `jc-...` or `jx-...` without one (a
#: container's name is a DNS label), so no container's object can ever take this name.
NETWORK_POLICY_NAME = f"jupyterlab.{GROUP}"


def is_platform_key(key: str) -> bool:
    """Whether an annotation key belongs to the platform or Kubernetes (never copied from tags).

    Subdomains of jupytercontainers.io stay usable: the local cluster's kwok stages
    read `sim.jupytercontainers.io/scenario` from a tag.
    """
    if key.startswith(PLATFORM_PREFIXES):
        return True
    prefix, slash, _ = key.partition("/")
    return bool(slash) and any(prefix.endswith("." + d) for d in _KUBERNETES_DOMAINS)


def deployment_namespace(domain: str, spec: JupyterContainerSpec) -> str:
    """Where the container's objects live: spec.namespace, else its own namespace."""
    return spec.namespace or domain


def base_name(name: str, domain: str, deploy_namespace: str) -> str:
    """Name of the Deployment, Service and token Secret (`BASE-token`).

    `jc-NAME` in the domain itself; elsewhere `jx-NAME-HASH6`, HASH6 from the domain,
    so two domains can deploy same-named containers into one namespace. The prefixes
    differ and HASH6 has a fixed length without hyphens, so two names are equal only
    for the same (domain, name), or for two domains with the same HASH6 (the uid label
    check then reports a NameCollision). At most 3 + 53 + 1 + 6 = 63 characters and
    starting with a letter, as Service names must.
    """
    if deploy_namespace == domain:
        return f"{NAME_PREFIX}{name}"
    return f"{FOREIGN_PREFIX}{name}-{domain_hash(domain)}"


def legacy_base_name(name: str, domain: str, deploy_namespace: str) -> str:
    """The base name before `jx-`: `jc-NAME-HASH6` outside the domain, which could equal
    the `jc-NAME` of another domain's container. PVCs keep it (a claim's name is its data;
    the uid hash in it keeps it apart), and the operator deletes the Deployment, Service and
    token Secret that still carry it, after checking their uid label."""
    if deploy_namespace == domain:
        return f"{NAME_PREFIX}{name}"
    return f"{NAME_PREFIX}{name}-{domain_hash(domain)}"


def domain_hash(domain: str) -> str:
    return hashlib.sha256(domain.encode()).hexdigest()[:DOMAIN_HASH_LENGTH]


def token_secret_name(base: str) -> str:
    return f"{base}{TOKEN_SUFFIX}"


def pvc_name(base: str, uid: str, volume_name: str) -> str:
    """`BASE-home-HASH6` (BASE: `legacy_base_name`): one name per container (uid) and volume.

    A volume change or a container re-created under the same name gets a new PVC
    name, so the new claim never races the deletion of the old one.
    """
    digest = hashlib.sha256(f"{uid}/{volume_name}".encode()).hexdigest()[:DOMAIN_HASH_LENGTH]
    return f"{base}{PVC_SUFFIX}-{digest}"


def nfs_pv_name(uid: str, volume_name: str) -> str:
    """The PersistentVolume through which one container mounts an NFS Volume.

    Cluster-wide, so named by the container's uid; the volume's hash makes a volume
    change a new name, as for PVCs.
    """
    digest = hashlib.sha256(volume_name.encode()).hexdigest()[:DOMAIN_HASH_LENGTH]
    return f"{NAME_PREFIX}{uid}-{digest}"


def selector_labels(name: str, domain: str) -> dict[str, str]:
    """Labels that select a container's pods. Stable: a Deployment's selector is immutable."""
    return {
        APP_NAME_LABEL: APP_NAME_VALUE,
        DOMAIN_LABEL: domain,
        NAME_LABEL: name,
    }


def jupyterlab_pod_labels() -> dict[str, str]:
    """Labels every JupyterLab pod of this operator has, whatever its container: what the
    namespace's NetworkPolicy selects (`core.builders.build_network_policy`).

    From the pod template the operator builds (`common_labels`); users never write pod labels
    through the API (spec.tags become annotations), and the pre-pull DaemonSet's pods have
    another app name and no managed-by label. A pod someone else labels so is only restricted
    by the policy: a NetworkPolicy limits the pods it selects, it lets no pod in anywhere.
    """
    return {APP_NAME_LABEL: APP_NAME_VALUE, MANAGED_BY_LABEL: MANAGED_BY_VALUE}


def network_policy_labels() -> dict[str, str]:
    """The namespace's NetworkPolicy: the operator's (managed-by: the only label that makes it
    ours, `core.namespace_policy`) and shared by every container there (no container's
    domain, name or uid labels, so no container's plan counts it among its own objects)."""
    return {
        PART_OF_LABEL: PART_OF_VALUE,
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        COMPONENT_LABEL: NETWORK_POLICY_COMPONENT,
    }


def common_labels(name: str, domain: str, uid: str) -> dict[str, str]:
    """Labels on every object of one container, so all of it can be found and cleaned up."""
    return {
        APP_NAME_LABEL: APP_NAME_VALUE,
        INSTANCE_LABEL: name,
        COMPONENT_LABEL: COMPONENT_VALUE,
        PART_OF_LABEL: PART_OF_VALUE,
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        DOMAIN_LABEL: domain,
        NAME_LABEL: name,
        UID_LABEL: uid,
    }
