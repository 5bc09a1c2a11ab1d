"""The catalog's watch: kopf indexes of InstanceTypes, Volumes and JupyterImages by name.

Both the reconciler (a container's instance type, volume and image) and admission (the
catalog rules, without a LIST per review) read these, so every process that serves either
registers them (`shell.roles`).
"""

from __future__ import annotations

import copy
from typing import Any

import kopf

from jupyter_containers.api.models import GROUP, VERSION

#: The index handlers below, by the name kopf passes each under to every handler.
CATALOG_INDEX_NAMES = ("instance_types", "volumes", "images")


# Async though they do no I/O: kopf runs plain functions in a thread pool (shell.world).


@kopf.index(GROUP, VERSION, "instancetypes")
async def instance_types(body: kopf.Body, name: str, **_: Any) -> dict[str, Any]:
    return {name: copy.deepcopy(dict(body.get("spec") or {}))}


@kopf.index(GROUP, VERSION, "volumes")
async def volumes(body: kopf.Body, name: str, **_: Any) -> dict[str, Any]:
    return {name: copy.deepcopy(dict(body.get("spec") or {}))}


@kopf.index(GROUP, VERSION, "jupyterimages")
async def images(body: kopf.Body, name: str, **_: Any) -> dict[str, Any]:
    return {name: copy.deepcopy(dict(body.get("spec") or {}))}
