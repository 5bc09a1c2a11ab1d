"""Options shared by commands: kubectl's connection flags, accepted before or after the command.

`kubectl jupyter -n team list` and `kubectl jupyter list -n team` both work, as with
kubectl: the flags are declared on the root callback and injected into every command's
signature by `cluster_options`; a value given after the command wins.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from jupyter_containers.cli.cluster import ClusterOptions, State
from jupyter_containers.cli.render import ListFormat, ObjectFormat

PANEL = "Cluster options (as in kubectl)"

NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Domain: the namespace the Jupyter containers live in (default: the context's).",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
ContextOpt = Annotated[
    str | None,
    typer.Option("--context", help="kubeconfig context to use.", rich_help_panel=PANEL),
]
KubeconfigOpt = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig",
        help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).",
        rich_help_panel=PANEL,
    ),
]
AsUserOpt = Annotated[
    str | None,
    typer.Option("--as", help="User to impersonate.", rich_help_panel=PANEL),
]
AsGroupOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--as-group",
        metavar="GROUP",
        help="Group to impersonate (repeatable).",
        rich_help_panel=PANEL,
    ),
]
ObjectOutputOpt = Annotated[
    ObjectFormat | None,
    typer.Option("--output", "-o", help="Print the object as json or yaml.", show_default=False),
]
ListOutputOpt = Annotated[
    ListFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="wide (adds the ID), json, yaml, or name.",
        show_default=False,
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Skip the confirmation (for scripts).")]

_GLOBAL: tuple[tuple[str, Any], ...] = (
    ("namespace", NamespaceOpt),
    ("context", ContextOpt),
    ("kubeconfig", KubeconfigOpt),
    ("as_user", AsUserOpt),
    ("as_groups", AsGroupOpt),
)
_GLOBAL_PARAMS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
    for name, annotation in _GLOBAL
]


def state_of(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def set_cluster_options(ctx: typer.Context, **values: Any) -> None:
    """Record the connection flags; later (command-level) values override earlier ones."""
    state = state_of(ctx)
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name == "as_groups":
            if value:
                changes[name] = tuple(value)
        elif value is not None:
            changes[name] = value
    state.opts = dataclasses.replace(state.opts, **changes)


F = TypeVar("F", bound=Callable[..., Any])


def cluster_options(fn: F) -> F:
    """Add the connection flags to a command's signature (typer reads the signature).

    The command must take `ctx: typer.Context` (typer passes it by keyword).
    """
    signature = inspect.signature(fn, eval_str=True)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {p.name: kwargs.pop(p.name, None) for p in _GLOBAL_PARAMS}
        set_cluster_options(kwargs["ctx"], **given)
        return fn(*args, **kwargs)

    params = [*signature.parameters.values(), *_GLOBAL_PARAMS]
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]


def complete_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of container names in the chosen domain (silent on any error)."""
    from jupyter_containers.cli.cluster import Kube
    from jupyter_containers.cli.containers import Containers

    values: dict[str, Any] = {}
    for context in (ctx.find_root(), ctx):
        for name, _ in _GLOBAL:
            if context.params.get(name):
                values[name] = context.params[name]
    try:
        opts = ClusterOptions(
            kubeconfig=values.get("kubeconfig"),
            context=values.get("context"),
            namespace=values.get("namespace"),
            as_user=values.get("as_user"),
            as_groups=tuple(values.get("as_groups") or ()),
            request_timeout=5,
        )
        names = [jc["metadata"]["name"] for jc in Containers(Kube(opts)).containers()]
    except Exception:  # completion must never print a traceback into the shell
        return []
    return sorted(n for n in names if n.startswith(incomplete))


NameArg = Annotated[
    str,
    typer.Argument(
        help="Name of the Jupyter container.", autocompletion=complete_names, show_default=False
    ),
]
