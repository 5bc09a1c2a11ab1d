"""`kubectl jupyter`: the command tree, the root options, and errors -> messages and exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import httpx2
import typer
from lightkube import ApiError

from jupyter_containers import __version__
from jupyter_containers.cli import (
    choices,
    connect,
    editing,
    listing,
    logs,
    render,
    start_stop,
    watching,
)
from jupyter_containers.cli.errors import CliError, ExitCode, api_messages
from jupyter_containers.cli.options import (
    AsGroupOpt,
    AsUserOpt,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    set_cluster_options,
    state_of,
)

COMPLETE_VAR = "_KUBECTL_JUPYTER_COMPLETE"

ROOT_EPILOG = """Exit codes: 0 ok, 1 API or validation error, 2 usage error, 3 not found,
4 confirmation declined.

Examples:
  kubectl jupyter list
  kubectl jupyter create nb1 --bundle team --volume home
  kubectl jupyter logs nb1 --since 10m
  kubectl jupyter -n team-b --as bob list --shared
"""

app = typer.Typer(
    help="Self-service JupyterLab environments (Jupyter Containers) from kubectl.",
    epilog=ROOT_EPILOG,
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Print a CliError (or an unexpected API/connection error) and exit with its code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CliError as exc:
            render.error(exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None
        except ApiError as exc:
            # An error no command anticipated: the API server's own words.
            code = ExitCode.NOT_FOUND if exc.status.code == 404 else ExitCode.ERROR
            render.error("\n".join(api_messages(exc)))
            raise typer.Exit(int(code)) from None
        except httpx2.TransportError as exc:
            render.error(
                f"Cannot reach the Kubernetes API server: {exc}",
                "Check the cluster, --context and --kubeconfig.",
            )
            raise typer.Exit(int(ExitCode.ERROR)) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kubectl-jupyter {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    as_user: AsUserOpt = None,
    as_groups: AsGroupOpt = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Self-service JupyterLab environments (Jupyter Containers) from kubectl."""
    set_cluster_options(
        ctx,
        namespace=namespace,
        context=context,
        kubeconfig=kubeconfig,
        as_user=as_user,
        as_groups=as_groups,
    )
    ctx.call_on_close(state_of(ctx).close)


def _register(name: str, fn: Callable[..., Any], epilog: str, panel: str) -> None:
    app.command(name, epilog=epilog, rich_help_panel=panel)(handle_errors(fn))


_register("list", listing.list_containers, listing.LIST_EPILOG, "View")
_register("describe", listing.describe, listing.DESCRIBE_EPILOG, "View")
_register("logs", logs.logs, logs.LOGS_EPILOG, "View")
_register("events", logs.events, logs.EVENTS_EPILOG, "View")
_register("watch", watching.watch, watching.EPILOG, "View")
_register("open", connect.open_lab, connect.OPEN_EPILOG, "View")
_register("catalog", choices.list_catalog, choices.CATALOG_EPILOG, "View")
_register("create", editing.create, editing.CREATE_EPILOG, "Manage")
_register("configure", editing.configure, editing.CONFIGURE_EPILOG, "Manage")
_register("start", start_stop.start, start_stop.START_EPILOG, "Lifecycle")
_register("terminate", start_stop.terminate, start_stop.TERMINATE_EPILOG, "Lifecycle")
_register("restart", start_stop.restart, start_stop.RESTART_EPILOG, "Lifecycle")
_register("delete", start_stop.delete, start_stop.DELETE_EPILOG, "Lifecycle")


def main() -> int:
    """Console script `kubectl-jupyter`; kubectl runs it for `kubectl jupyter ...`."""
    completing = COMPLETE_VAR in os.environ or any(
        arg in ("--install-completion", "--show-completion") for arg in sys.argv[1:]
    )
    # Help reads as the user typed it; shell completion needs the executable's real name.
    prog = "kubectl-jupyter" if completing else "kubectl jupyter"
    try:
        app(prog_name=prog, complete_var=COMPLETE_VAR)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
