"""`start`, `terminate`, `restart` and `delete`: the console's lifecycle actions.

Start and terminate set `spec.running` (what GitOps would set too); start also sets the
start-requested annotation, so a Failed container gets a new attempt with a fresh pod.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.text import Text

from jupyter_containers.api.models import Phase
from jupyter_containers.cli import render, selection, timefmt
from jupyter_containers.cli.cluster import Kube
from jupyter_containers.cli.confirm import confirm
from jupyter_containers.cli.containers import Containers
from jupyter_containers.cli.errors import CliError, NotFoundError
from jupyter_containers.cli.options import (
    NameArg,
    ObjectOutputOpt,
    YesOpt,
    cluster_options,
    state_of,
)
from jupyter_containers.cli.watching import DELETED, phase_is, wait_for

Obj = dict[str, Any]

WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Wait for the outcome (a watch, no polling).")
]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait with --wait.", min=1)]

#: The manual: Start for Stopped or Failed, Terminate for Active or Starting.
STARTABLE = (Phase.STOPPED, Phase.FAILED)
TERMINABLE = (Phase.ACTIVE, Phase.STARTING)


def effective_phase(jc: Obj) -> str | None:
    """The phase, or what it will be when the operator has not reported yet."""
    phase = selection.phase_of(jc)
    if phase is None:
        running = (jc.get("spec") or {}).get("running", True)
        return Phase.STARTING if running else Phase.STOPPED
    return phase


def _progress(out: Any) -> Any:
    def show(obj: Obj) -> None:
        status = obj.get("status") or {}
        line = Text("  ") + render.badge(status.get("phase"))
        if status.get("reason"):
            line.append(f"  {status['reason']}", style="dim")
        out.print(line)

    return show


def _start(repo: Containers, name: str) -> tuple[Obj, str]:
    """Set running and a new start request; returns the patched object and the request."""
    request = timefmt.rfc3339(timefmt.now_utc())
    return repo.set_running(name, True, start_request=request), request


def started(request: str | None) -> Callable[[str, Obj], bool]:
    """Done when Active, or Failed in the attempt this start made (not the previous one)."""
    seen_starting = False

    def check(kind: str, obj: Obj) -> bool:
        nonlocal seen_starting
        status = obj.get("status") or {}
        phase = status.get("phase")
        if kind == DELETED:
            raise CliError(f"'{obj['metadata']['name']}' was deleted.")
        if phase == Phase.STARTING:
            seen_starting = True
        if phase == Phase.ACTIVE:
            return True
        return phase == Phase.FAILED and (
            seen_starting or request is None or status.get("startRequest") == request
        )

    return check


def wait_started(
    kube: Kube, name: str, timeout: float, *, request: str | None, resource_version: str | None
) -> Obj:
    out = render.console(stderr=True)
    jc = wait_for(
        kube,
        name,
        started(request),
        timeout=timeout,
        describe="become Active",
        on_change=_progress(out),
        resource_version=resource_version,
    )
    status = jc.get("status") or {}
    if status.get("phase") == Phase.FAILED:
        raise CliError(f"'{name}' failed to start: {status.get('message') or status.get('reason')}")
    return jc


def _look_up(ctx: typer.Context, name: str) -> tuple[Kube, Containers, Obj, str | None]:
    """The cluster, the containers of the current namespace, the container and its phase."""
    kube = state_of(ctx).kube()
    repo = Containers(kube)
    jc = repo.get(name)
    return kube, repo, jc, effective_phase(jc)


def _start_and_report(
    kube: Kube, repo: Containers, name: str, *, wait: bool, timeout: float, output: Any, says: str
) -> None:
    """Start (a new attempt); with `wait`, until Active (or this attempt Failed)."""
    jc, request = _start(repo, name)
    if wait:
        rv = jc["metadata"]["resourceVersion"]
        jc = wait_started(kube, name, timeout, request=request, resource_version=rv)
        _finish(jc, f"'{name}' is Active.", output)
        return
    _finish(jc, f"{says} Follow it with: kubectl jupyter watch {name}", output)


def _terminate(repo: Containers, jc: Obj, *, yes: bool) -> Obj:
    """Confirm with the manual's words, then set running false."""
    confirm(_terminate_warning(jc), "Yes, terminate it", yes=yes)
    return repo.set_running(jc["metadata"]["name"], False)


def _finish(jc: Obj, message: str, output: Any) -> None:
    if output is not None:
        render.dump(jc, str(output))
    else:
        render.console().print(message)


START_EPILOG = """Examples:
  kubectl jupyter start nb1
  kubectl jupyter start nb1 --wait --timeout 600
"""


@cluster_options
def start(
    ctx: typer.Context,
    name: NameArg,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
    output: ObjectOutputOpt = None,
) -> None:
    """Start a Stopped or Failed container (a Failed one gets a fresh pod and image pull)."""
    kube, repo, _jc, phase = _look_up(ctx, name)
    if phase not in STARTABLE:
        raise CliError(
            f"'{name}' is {phase}: only Stopped or Failed containers can be started.",
            hint=f"To start it again, restart it: kubectl jupyter restart {name}",
        )
    says = f"Starting '{name}' (was {phase})."
    _start_and_report(kube, repo, name, wait=wait, timeout=timeout, output=output, says=says)


TERMINATE_EPILOG = """Examples:
  kubectl jupyter terminate nb1          # asks "Yes, terminate it?"
  kubectl jupyter terminate nb1 --yes --wait
"""


def _terminate_warning(jc: Obj) -> str:
    name = jc["metadata"]["name"]
    text = f"Terminate '{name}'? Its Deployment and Service are deleted; the configuration is kept."
    if not (jc.get("spec") or {}).get("volume"):
        text += " No persistent volume is attached: all unsaved work inside the container is lost."
    return text


@cluster_options
def terminate(
    ctx: typer.Context,
    name: NameArg,
    yes: YesOpt = False,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 300,
    output: ObjectOutputOpt = None,
) -> None:
    """Terminate an Active or Starting container (it becomes Stopped)."""
    kube, repo, jc, phase = _look_up(ctx, name)
    if phase not in TERMINABLE:
        raise CliError(
            f"'{name}' is {phase}: only Active or Starting containers can be terminated."
        )
    jc = _terminate(repo, jc, yes=yes)
    if wait:
        jc = wait_for(kube, name, phase_is(Phase.STOPPED), timeout=timeout, describe="stop")
        _finish(jc, f"'{name}' is Stopped.", output)
        return
    _finish(jc, f"Terminating '{name}'.", output)


RESTART_EPILOG = """Examples:
  kubectl jupyter restart nb1            # terminate (confirmed), wait for Stopped, start
  kubectl jupyter restart nb1 --yes --wait
"""


@cluster_options
def restart(
    ctx: typer.Context,
    name: NameArg,
    yes: YesOpt = False,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600,
    output: ObjectOutputOpt = None,
) -> None:
    """Terminate then start again (Stopped before Starting, as in the console)."""
    kube, repo, jc, phase = _look_up(ctx, name)
    out = render.console()
    if phase in TERMINABLE:
        _terminate(repo, jc, yes=yes)
        out.print(f"Terminating '{name}'...")
        wait_for(kube, name, phase_is(Phase.STOPPED), timeout=timeout, describe="stop")
        out.print(f"'{name}' is Stopped; starting it.")
    else:
        out.print(f"'{name}' is {phase}; starting it.")
    says = f"Starting '{name}'."
    _start_and_report(kube, repo, name, wait=wait, timeout=timeout, output=output, says=says)


DELETE_EPILOG = """Examples:
  kubectl jupyter delete nb1             # asks "Yes, delete it?"
  kubectl jupyter delete nb1 --yes --wait
"""


@cluster_options
def delete(
    ctx: typer.Context,
    name: NameArg,
    yes: YesOpt = False,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 300,
) -> None:
    """Delete a container in any state, with its Kubernetes objects and On Demand PVC."""
    kube = state_of(ctx).kube()
    repo = Containers(kube)
    repo.get(name)  # not found: exit code 3 before asking anything
    warning = (
        f"Delete '{name}' permanently? Its Kubernetes resources are removed, any On Demand PVC "
        "is deleted and all data stored in it is destroyed. This action cannot be undone."
    )
    confirm(warning, "Yes, delete it", yes=yes)
    repo.delete(name)
    out = render.console()
    if wait:
        _wait_gone(kube, repo, name, timeout)
        out.print(f"'{name}' deleted; the name is free to reuse.")
        return
    out.print(f"Deleting '{name}'; the operator removes its resources, then the name is free.")


def _wait_gone(kube: Kube, repo: Containers, name: str, timeout: float) -> None:
    """Until the operator's finalizer has cleaned up and the object is gone."""
    try:
        current = repo.get(name)
    except NotFoundError:
        return
    wait_for(
        kube,
        name,
        lambda kind, _obj: kind == DELETED,
        timeout=timeout,
        describe="go away",
        resource_version=current["metadata"]["resourceVersion"],
    )
