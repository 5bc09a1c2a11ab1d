"""Rules and messages shared by the CRD (CEL), the admission webhook and the CLI.

The manual's wording is a requirement: keep these strings exactly as they are.
"""

from __future__ import annotations

import re

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NAME_MAX_LENGTH = 53

MSG_NAME_PATTERN = (
    "Name must use lowercase letters, numbers and hyphens, and start and end with a letter "
    "or number (pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$)."
)
MSG_NAME_LENGTH = "Name must be at most 53 characters."
MSG_DUPLICATE_NAME = "The name already exists. Please enter a different name."
MSG_INVALID_VOLUME_TYPE = "Only On Demand PVC and NFS volumes are allowed in Jupyter Containers."
MSG_STOP_BEFORE_CONFIGURING = "Stop the container before configuring."
MSG_BUNDLE_IMMUTABLE = (
    "spec.bundle cannot be changed after creation; delete the container and create a new one."
)

#: Mount path of every volume: the JupyterLab working directory.
HOME_MOUNT_PATH = "/home/jovyan"
JUPYTER_PORT = 8888

#: Variables the platform injects; users cannot set or override them.
PLATFORM_ENV: dict[str, str] = {"JUPYTER_ENABLE_LAB": "true", "RESTARTABLE": "yes"}
#: Set from the token Secret; also reserved.
TOKEN_ENV = "JUPYTER_TOKEN"
RESERVED_ENV_NAMES: frozenset[str] = frozenset({*PLATFORM_ENV, TOKEN_ENV})

#: JupyterLab arguments owned by the platform. A user argument equal to one of
#: these, or starting with it followed by "=", is refused.
PLATFORM_ARGS: tuple[str, ...] = (
    "--ip",
    "--port",
    "--ServerApp.base_url",
    "--ServerApp.allow_origin",
    "--IdentityProvider.token",
)


#: Other spellings of the platform-owned arguments. JupyterLab (traitlets) also accepts the
#: legacy NotebookApp/ServerApp names of the same options; refuse those too, or a user could
#: override the token.
PLATFORM_ARG_ALIASES: dict[str, str] = {
    "--NotebookApp.base_url": "--ServerApp.base_url",
    "--NotebookApp.allow_origin": "--ServerApp.allow_origin",
    "--NotebookApp.token": "--IdentityProvider.token",
    "--ServerApp.token": "--IdentityProvider.token",
    "--ServerApp.ip": "--ip",
    "--ServerApp.port": "--port",
    "--NotebookApp.ip": "--ip",
    "--NotebookApp.port": "--port",
}
#: Every spelling the platform owns, mapped to the canonical argument.
OWNED_ARGS: dict[str, str] = {**{arg: arg for arg in PLATFORM_ARGS}, **PLATFORM_ARG_ALIASES}


def platform_arg_of(arg: str) -> str | None:
    """The platform-owned argument that `arg` would set, or None if it sets none."""
    return OWNED_ARGS.get(arg.split("=", 1)[0])


# The field path (`spec.args[i]`, `spec.env[i].name`) is put before these messages by whoever
# knows the index: the API server for the CEL rules, pydantic's location in the webhook and
# the CLI, the builder in the operator.
def msg_platform_arg(arg: str, owned: str) -> str:
    return (
        f"{arg!r} sets {owned}, which the platform owns "
        f"(platform-owned arguments: {', '.join(PLATFORM_ARGS)}); remove it."
    )


def msg_reserved_env(name: str) -> str:
    return (
        f"{name!r} is set by the platform and cannot be overridden "
        f"(reserved: {', '.join(sorted(RESERVED_ENV_NAMES))}); use another name."
    )


def msg_env_value_xor(name: str) -> str:
    return (
        f"spec.env: {name!r} needs exactly one of value or valueFrom.secretKeyRef; "
        "set one and remove the other."
    )


def msg_env_duplicate(name: str) -> str:
    return f"spec.env: {name!r} is set more than once; keep one entry per name."


#: Tag keys under these prefixes belong to the platform or to Kubernetes: tags are copied
#: as annotations onto the Deployment and pod, where such a key could steer them.
PLATFORM_TAG_PREFIXES: tuple[str, ...] = (
    "jupytercontainers.io/",
    "app.kubernetes.io/",
    "kubernetes.io/",
    "k8s.io/",
)

#: Tags go onto the Deployment only: on the pod, annotations steer the admission controllers
#: and agents that act on pods (service-mesh sidecar injection, Vault secret injection,
#: cloud IAM roles, extra CNI networks, ...), so a tag could pull them in. The exception is
#: the local cluster's simulation key, which kwok's stages read from the pod to choose its
#: outcome (tools/kwok/stages); nothing reads it on a real cluster.
POD_TAG_KEYS: frozenset[str] = frozenset({"sim.jupytercontainers.io/scenario"})


def pod_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags (already annotation-shaped) that also go onto the pod template."""
    return {k: v for k, v in tags.items() if k in POD_TAG_KEYS}


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def is_qualified_name(key: str) -> bool:
    """Kubernetes' IsQualifiedName: an annotation or label key, `[prefix/]name`."""
    prefix, slash, name = key.rpartition("/")
    if slash and not (0 < len(prefix) <= 253 and _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QUALIFIED_NAME_PART.match(name))


def msg_tag_key_invalid(key: str) -> str:
    return (
        f"spec.tags: {key!r} is not a valid key; use an annotation key such as 'team' or "
        "'example.com/team' (an optional DNS prefix and '/', then at most 63 letters, digits, "
        "'-', '_' or '.', starting and ending with a letter or digit)."
    )


def msg_tag_key_platform(key: str) -> str:
    return (
        f"spec.tags: {key!r} uses a prefix the platform owns "
        f"({', '.join(PLATFORM_TAG_PREFIXES)}); choose another key."
    )


def name_errors(name: str) -> list[str]:
    """The manual's messages for a JupyterContainer name that breaks its rules (empty if none)."""
    errors = []
    if not re.match(NAME_PATTERN, name):
        errors.append(MSG_NAME_PATTERN)
    if len(name) > NAME_MAX_LENGTH:
        errors.append(MSG_NAME_LENGTH)
    return errors


#: An image reference as the container runtime parses it (the distribution/reference
#: grammar): [registry[:port]/]path[:tag][@digest], path components lowercase. The API server
#: stores any string as a container image; the kubelet then refuses it (InvalidImageName) and
#: the start would wait for its deadline. The CRD (CEL, RE2) and the models (Python re) use
#: this one pattern, which means the same in both dialects.
_DOMAIN_PART = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = (
    rf"^(?:(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?/)?"
    rf"{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
MSG_IMAGE_INVALID = (
    "spec.image: not a valid image reference; use [registry[:port]/]repository[:tag][@digest] "
    "with a lowercase repository and no spaces or control characters, e.g. "
    "'quay.io/jupyter/scipy-notebook:2025-01-06'."
)


def is_image_reference(value: str) -> bool:
    return re.fullmatch(IMAGE_PATTERN, value) is not None


# ---------------------------------------------------------------- image catalog (issue 15)

#: A JupyterImage's metadata.name (a DNS subdomain, as every cluster-scoped name).
CATALOG_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
MSG_IMAGE_NOT_A_NAME = (
    "spec.image: names a JupyterImage of the catalog (its metadata.name, e.g. 'scipy'), not an "
    "image reference; `kubectl jupyter catalog` lists the images you may pick, or remove "
    "spec.image for the default."
)
DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"
MSG_DIGEST_INVALID = (
    "spec.digest: not an image digest; use 'sha256:' and 64 lowercase hex digits "
    "(`crane digest IMAGE` prints it), or remove spec.digest to pull the tag."
)
MSG_IMAGE_REFERENCE_HAS_DIGEST = (
    "spec.image: give the reference without '@digest' and pin it with spec.digest instead."
)
#: An entitlement's bundle: 'namespace/name', or 'namespace/*' for every bundle there.
BUNDLE_REF_PATTERN = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/"
    r"(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$"
)
MSG_BUNDLE_REF_INVALID = (
    "spec.allowedBundles: each entry is 'namespace/bundle' (a ResourceBundle of that "
    "namespace) or 'namespace/*' (every bundle there), e.g. 'team-a/gpu'."
)


def is_catalog_name(value: str) -> bool:
    return len(value) <= 253 and re.fullmatch(CATALOG_NAME_PATTERN, value) is not None


MSG_VOLUME_NFS_REQUIRED = (
    "spec.nfs is required when spec.type is NFS; set spec.nfs.server and spec.nfs.path."
)
MSG_VOLUME_MAX_SIZE_REQUIRED = (
    "spec.maxSize is required when spec.type is OnDemandPVC; set the PVC size, e.g. maxSize: 10Gi."
)


#: The quantities the catalog accepts, in the CRD (CEL, with isQuantity) and in the operator
#: (with lightkube's parser) alike: a decimal number (at most 18 digits before the point, 9
#: after) with an optional SI suffix, below 1Ei. Kubernetes also takes exponents (1e3,
#: 1E3), n and u, exa (E, Ei) and any size, which lightkube's parser refuses or cannot
#: represent (1e400): those are refused in both places rather than accepted by one and
#: dropped by the other.
QUANTITY_PATTERN = r"^([0-9]{1,18}(\.[0-9]{1,9})?|\.[0-9]{1,9})(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$"
QUANTITY_LIMIT = "1Ei"
QUANTITY_LIMIT_VALUE = 2**60


def is_catalog_quantity(value: str) -> bool:
    """QUANTITY_PATTERN as RE2 reads it (Python's `$` would also match before a newline)."""
    return re.fullmatch(QUANTITY_PATTERN.removeprefix("^").removesuffix("$"), value) is not None


def msg_quantity(field: str, example: str) -> str:
    return (
        f"{field} must be a positive Kubernetes quantity below {QUANTITY_LIMIT}, e.g. {example} "
        "(a number, at most 18 digits before the point and 9 after, and an optional suffix m, "
        "k, M, G, T, P, Ki, Mi, Gi, Ti or Pi)."
    )


# ---------------------------------------------------------------- volume growth


def msg_volume_shrink(size: str, previous: str) -> str:
    return (
        f"spec.volumeSize: {size} is smaller than {previous}; a volume never shrinks. Keep "
        f"spec.volumeSize at {previous} or more."
    )
