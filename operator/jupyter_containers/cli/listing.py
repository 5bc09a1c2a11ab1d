"""`list` (My Jupyter Containers / Shared with me) and `describe` (the Details tab)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from jupyter_containers.api.models import Phase
from jupyter_containers.cli import render, selection, timefmt
from jupyter_containers.cli.containers import Containers
from jupyter_containers.cli.errors import UsageError
from jupyter_containers.cli.options import (
    ListOutputOpt,
    NameArg,
    ObjectOutputOpt,
    cluster_options,
    state_of,
)
from jupyter_containers.cli.render import ListFormat

DEFAULT_PAGE_SIZE = 20

LIST_EPILOG = """Examples:
  kubectl jupyter list                              # My Jupyter Containers
  kubectl jupyter list --shared                     # Shared with me
  kubectl jupyter list --status Failed -o wide      # with the error and the ID
  kubectl jupyter list --search nb --deploy-namespace team-gpu --page 2
  kubectl jupyter list -A -o json                   # every domain, for scripts
"""


@cluster_options
def list_containers(
    ctx: typer.Context,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared",
            help="Shared with me: containers others created in bundles that grant you access.",
        ),
    ] = False,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Every domain you can read.")
    ] = False,
    deploy_namespace: Annotated[
        str | None,
        typer.Option(help="Only containers deployed in this namespace.", show_default=False),
    ] = None,
    status: Annotated[
        Phase | None,
        typer.Option(help="Only containers in this status.", case_sensitive=False),
    ] = None,
    search: Annotated[
        str | None, typer.Option(help="Only names containing this text.", show_default=False)
    ] = None,
    page: Annotated[int, typer.Option(help="Page number, from 1.", min=1)] = 1,
    page_size: Annotated[
        int | None,
        typer.Option(
            help=f"Rows per page; 0 shows all (default {DEFAULT_PAGE_SIZE} for tables, "
            "all for json/yaml/name).",
            min=0,
            show_default=False,
        ),
    ] = None,
    output: ListOutputOpt = None,
) -> None:
    """List Jupyter containers: yours (default) or those shared with you."""
    kube = state_of(ctx).kube()
    repo = Containers(kube)
    who = kube.identity
    items = repo.containers(all_namespaces)
    view = selection.View.SHARED if shared else selection.View.MINE
    bundles = repo.bundles({jc["metadata"]["namespace"] for jc in items}) if shared else {}
    chosen = selection.select(
        items,
        view=view,
        who=who,
        bundles=bundles,
        deploy_namespace=deploy_namespace,
        status=status,
        search=search,
    )
    machine = output in (ListFormat.JSON, ListFormat.YAML, ListFormat.NAME)
    size = page_size if page_size is not None else (0 if machine else DEFAULT_PAGE_SIZE)
    result = selection.paginate(chosen, page, size)
    if result.total and page > result.pages:
        raise UsageError(f"--page {page}: there are only {result.pages} page(s) of {result.total}.")
    if output is ListFormat.NAME:
        for jc in result.items:
            typer.echo(f"jupytercontainer.jupytercontainers.io/{jc['metadata']['name']}")
        return
    if machine:
        render.dump(
            render.as_list(
                result.items,
                view=str(view),
                user=who.username,
                page=result.number,
                pages=result.pages,
                total=result.total,
            ),
            str(output),
        )
        return
    out = render.console()
    where = "all namespaces" if all_namespaces else f"namespace {kube.domain}"
    out.print(
        Text(f"{view}", style="bold") + Text(f"  ({where}, user {who.username})", style="dim")
    )
    if not result.items:
        out.print(
            "No Jupyter containers match."
            if (status or search or deploy_namespace)
            else "No Jupyter containers."
        )
        return
    render.show(
        render.container_table(
            result.items,
            wide=output is ListFormat.WIDE,
            show_domain=all_namespaces,
            now=timefmt.now_utc(),
        ),
        out,
    )
    last = result.first_index + len(result.items) - 1
    footer = (
        f"Page {result.number} of {result.pages}  ({result.first_index}-{last} of {result.total})"
    )
    if result.number < result.pages:
        footer += f"  next: --page {result.number + 1}"
    out.print(Text(footer, style="dim"))


DESCRIBE_EPILOG = """Examples:
  kubectl jupyter describe nb1
  kubectl jupyter describe nb1 -o yaml
"""


@cluster_options
def describe(ctx: typer.Context, name: NameArg, output: ObjectOutputOpt = None) -> None:
    """Details of a container: ID, status (with the error), bundle, instance, volume, creator."""
    kube = state_of(ctx).kube()
    jc = Containers(kube).get(name)
    if output is not None:
        render.dump(jc, str(output))
        return
    render.show(render.details(jc, timefmt.now_utc()))
