"""Command-line values -> a validated JupyterContainer spec, with errors naming the flag.

Validation is the API's own: the pydantic models of api/models.py (the CRD's CEL rules
and the webhook say the same words), so a bad flag fails before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from jupyter_containers.api import rules
from jupyter_containers.api.models import API_VERSION, JupyterContainerSpec
from jupyter_containers.cli.errors import CliError, UsageError

#: spec field -> the flag that sets it (create and configure use the same flags).
FLAG_OF: dict[str, str] = {
    "bundle": "--bundle",
    "namespace": "--deploy-namespace",
    "instanceType": "--instance-type",
    "volume": "--volume",
    "volumeSize": "--volume-size",
    "image": "--image",
    "env": "--env",
    "args": "--arg",
    "tags": "--tag",
    "running": "--start/--no-start",
}


def split_pair(text: str, option: str, example: str) -> tuple[str, str]:
    """'KEY=VALUE' -> (KEY, VALUE); the value may contain '='."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{option} {text!r}: expected {example}.")
    return key.strip(), value


def secret_ref(text: str, option: str) -> dict[str, str]:
    """'SECRET:KEY' -> a secretKeyRef."""
    secret, sep, key = text.partition(":")
    if not sep or not secret or not key:
        raise UsageError(
            f"{option} {text!r}: expected SECRET:KEY, the Secret's name and the key inside it."
        )
    return {"name": secret, "key": key}


def plain_env(values: Iterable[str]) -> list[dict[str, Any]]:
    result = []
    for text in values:
        name, value = split_pair(text, "--env", "NAME=VALUE")
        result.append({"name": name, "value": value})
    return result


def secret_env(values: Iterable[str]) -> list[dict[str, Any]]:
    result = []
    for text in values:
        name, ref = split_pair(text, "--env-from-secret", "NAME=SECRET:KEY")
        result.append(
            {"name": name, "valueFrom": {"secretKeyRef": secret_ref(ref, "--env-from-secret")}}
        )
    return result


def tags_from(values: Iterable[str]) -> dict[str, str]:
    return dict(split_pair(text, "--tag", "KEY=VALUE") for text in values)


def check_name(name: str) -> None:
    errors = rules.name_errors(name)
    if errors:
        raise CliError(" ".join(errors), hint=f"Choose another name than {name!r}.")


def _describe(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    flag = FLAG_OF.get(loc[0], "spec." + loc[0]) if loc else "spec"
    if error.get("type") == "jupyter_containers":
        # Our own messages say what to do; those that do not name the field get its path.
        message = str(error["msg"])
        if message.startswith("spec.") or not loc:
            return message
        path = "spec" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc)
        return f"{path}: {message}"
    if error.get("type") == "extra_forbidden":
        return f"spec.{'.'.join(loc)} is not a field of JupyterContainer; remove it."
    where = f"{flag} ({'.'.join(loc)})" if len(loc) > 1 else flag
    given = error.get("input")
    shown = f" {given!r}" if isinstance(given, str | int | float) else ""
    return f"{where}{shown}: {error['msg']}."


def validation_messages(exc: ValidationError) -> list[str]:
    return [_describe(error) for error in exc.errors()]


def validate(spec: Mapping[str, Any]) -> JupyterContainerSpec:
    """The spec as the API would accept it; a CliError listing every problem otherwise."""
    try:
        return JupyterContainerSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise CliError("\n".join(validation_messages(exc))) from None


def to_dict(spec: JupyterContainerSpec) -> dict[str, Any]:
    """The spec as stored: unset fields and empty collections left out, like a hand-written YAML."""
    data = spec.model_dump(mode="json", exclude_none=True)
    return {k: v for k, v in data.items() if v not in ([], {})}


def manifest(name: str, domain: str, spec: JupyterContainerSpec) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "JupyterContainer",
        "metadata": {"name": name, "namespace": domain},
        "spec": to_dict(spec),
    }


@dataclass
class Changes:
    """What `configure` was asked to change; unset means keep."""

    deploy_namespace: str | None = None
    instance_type: str | None = None
    volume: str | None = None
    no_volume: bool = False
    image: str | None = None
    default_image: bool = False
    env: list[dict[str, Any]] = field(default_factory=list)
    remove_env: Sequence[str] = ()
    args: Sequence[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    remove_tags: Sequence[str] = ()
    volume_size: str | None = None  # volume growth

    def any(self) -> bool:
        return any(
            (
                self.deploy_namespace,
                self.instance_type,
                self.volume,
                self.no_volume,
                self.image,
                self.default_image,
                self.env,
                self.remove_env,
                self.args is not None,
                self.tags,
                self.remove_tags,
                self.volume_size,
            )
        )


def apply_changes(current: Mapping[str, Any], changes: Changes) -> dict[str, Any]:
    """A new spec dict: `current` with `changes` applied (env and tags merged by name/key)."""
    if changes.volume and changes.no_volume:
        raise UsageError("--volume and --no-volume contradict each other; give one.")
    if changes.image and changes.default_image:
        raise UsageError("--image and --default-image contradict each other; give one.")
    spec = dict(current)
    if changes.deploy_namespace:
        spec["namespace"] = changes.deploy_namespace
    if changes.instance_type:
        spec["instanceType"] = changes.instance_type
    if changes.volume:
        spec["volume"] = changes.volume
    if changes.no_volume:
        spec.pop("volume", None)
    if changes.volume_size:
        spec["volumeSize"] = changes.volume_size
    if changes.image:
        spec["image"] = changes.image
    if changes.default_image:
        spec.pop("image", None)
    env = [dict(var) for var in spec.get("env") or []]
    for name in changes.remove_env:
        if not any(var["name"] == name for var in env):
            raise UsageError(f"--remove-env {name!r}: the container has no such variable.")
        env = [var for var in env if var["name"] != name]
    for new in changes.env:
        env = [var for var in env if var["name"] != new["name"]] + [new]
    spec["env"] = env
    if changes.args is not None:
        spec["args"] = list(changes.args)
    tags = dict(spec.get("tags") or {})
    for key in changes.remove_tags:
        if key not in tags:
            raise UsageError(f"--remove-tag {key!r}: the container has no such tag.")
        tags.pop(key)
    tags.update(changes.tags)
    spec["tags"] = tags
    return spec
