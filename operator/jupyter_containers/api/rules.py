"""Rules and messages shared by the CRD (CEL), the admission webhook and the CLI.

The manual's wording is a requirement: keep these strings exactly as they are.
"""

from __future__ import annotations

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


def platform_arg_of(arg: str) -> str | None:
    """The platform-owned argument that `arg` would set, or None if it sets none."""
    key = arg.split("=", 1)[0]
    # JupyterLab (traitlets) also accepts the legacy NotebookApp/ServerApp spellings
    # of the same options; refuse those too, or a user could override the token.
    aliases = {
        "--NotebookApp.base_url": "--ServerApp.base_url",
        "--NotebookApp.allow_origin": "--ServerApp.allow_origin",
        "--NotebookApp.token": "--IdentityProvider.token",
        "--ServerApp.token": "--IdentityProvider.token",
        "--ServerApp.ip": "--ip",
        "--ServerApp.port": "--port",
        "--NotebookApp.ip": "--ip",
        "--NotebookApp.port": "--port",
    }
    if key in PLATFORM_ARGS:
        return key
    return aliases.get(key)


def msg_platform_arg(arg: str, owned: str) -> str:
    return (
        f"spec.args: {arg!r} sets {owned}, which the platform owns "
        f"(platform-owned arguments: {', '.join(PLATFORM_ARGS)}); remove it."
    )


def msg_reserved_env(name: str) -> str:
    return (
        f"spec.env: {name!r} is set by the platform and cannot be overridden "
        f"(reserved: {', '.join(sorted(RESERVED_ENV_NAMES))}); use another name."
    )
