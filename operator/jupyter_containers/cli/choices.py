"""`catalog`: the instance types, volumes and images the current user may pick.

Only what the user is entitled to (core.entitlements: the user's groups, as the API server
reports them, and the bundle given with --bundle), as the webhook judges it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from jupyter_containers.cli import render
from jupyter_containers.cli.checks import Checker
from jupyter_containers.cli.containers import Containers
from jupyter_containers.cli.options import cluster_options, state_of
from jupyter_containers.core.catalog import volume_display

CATALOG_EPILOG = """Examples:
  kubectl jupyter catalog                      # what you may pick (by your groups)
  kubectl jupyter catalog --bundle gpu-team    # also what that bundle may use
  kubectl jupyter catalog -o json
"""


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=None, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def offer(checker: Checker) -> dict[str, list[dict[str, Any]]]:
    """The user's choices, as data (for -o json/yaml and the tables)."""
    default_type, default_image = checker.default_instance_type(), checker.default_image()
    return {
        "instanceTypes": [
            {
                "name": n,
                "displayName": t.displayName or n,
                "cpu": t.cpu,
                "memory": t.memory,
                "default": n == default_type,
            }
            for n, t in checker.instance_types
        ],
        "volumes": [
            {"name": n, "type": v.type, "display": volume_display(n, v)}
            for n, v in checker.allowed_volumes()
        ],
        "images": [
            {
                "name": n,
                "displayName": i.displayName or n,
                "image": i.pull_reference,
                "default": n == default_image,
                "prePull": i.prePull,
            }
            for n, i in checker.images
        ],
    }


@cluster_options
def list_catalog(
    ctx: typer.Context,
    bundle: Annotated[
        str | None,
        typer.Option(
            help="A ResourceBundle of the namespace: also list what its containers may use.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="json or yaml.", show_default=False),
    ] = None,
) -> None:
    """List the instance types, volumes and images you may pick for a container."""
    checker = Checker(Containers(state_of(ctx).kube()))
    checker.picked_bundle = bundle
    data = offer(checker)
    if output in ("json", "yaml"):
        render.dump(data, output)
        return
    mark = {True: "yes", False: ""}
    types = _table("Instance types", "NAME", "DISPLAY", "CPU", "MEMORY", "DEFAULT")
    for t in data["instanceTypes"]:
        types.add_row(t["name"], t["displayName"], t["cpu"], t["memory"], mark[t["default"]])
    volumes = _table("Volumes", "NAME", "TYPE", "DISPLAY")
    for v in data["volumes"]:
        volumes.add_row(v["name"], str(v["type"]), v["display"])
    images = _table("Images (spec.image)", "NAME", "DISPLAY", "IMAGE", "DEFAULT", "PRE-PULLED")
    for i in data["images"]:
        row = (i["name"], i["displayName"], i["image"], mark[i["default"]], mark[i["prePull"]])
        images.add_row(*row)
    for table in (types, volumes, images):
        render.show(table)
    if not any(i["default"] for i in data["images"]):
        render.show("Without spec.image a container runs the operator's configured image.")
