"""Live status from a watch stream (never polling): `watch`, and waiting for a phase."""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
import yaml
from rich.text import Text

from jupyter_containers.api.models import Phase
from jupyter_containers.cli import render, timefmt
from jupyter_containers.cli.cluster import Kube, api_errors
from jupyter_containers.cli.errors import CliError
from jupyter_containers.cli.options import ObjectOutputOpt, cluster_options, state_of
from jupyter_containers.shell.resources import JupyterContainer

Obj = dict[str, Any]
DELETED = "DELETED"


class TimedOut(CliError):
    pass


def _start_watch(
    kube: Kube, name: str | None, all_namespaces: bool, resource_version: str | None = None
) -> queue.Queue[tuple[str, Any]]:
    """A watch in a daemon thread feeding a queue, so the reader can stop at a deadline.

    Without a resourceVersion the API server first sends the current objects as ADDED.
    """
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def pump() -> None:
        try:
            for kind, obj in kube.client.watch(
                JupyterContainer,
                namespace="*" if all_namespaces else kube.domain,
                fields={"metadata.name": name} if name else None,
                resource_version=resource_version,
            ):
                events.put((kind, dict(obj)))
        except BaseException as exc:  # handed to the reader, which raises it
            events.put(("ERROR", exc))

    threading.Thread(target=pump, name="watch", daemon=True).start()
    return events


def follow(
    kube: Kube,
    *,
    name: str | None,
    all_namespaces: bool,
    timeout: float | None,
    resource_version: str | None = None,
) -> Iterator[tuple[str, Obj]]:
    """(type, object) from the watch until `timeout` seconds pass (TimedOut).

    From `resource_version` on if given; else the current objects come first (as ADDED).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    events = _start_watch(kube, name, all_namespaces, resource_version)
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            kind, obj = events.get(timeout=remaining)
        except queue.Empty:
            raise TimedOut(f"Timed out after {timeout:g}s.") from None
        if kind == "ERROR":
            with api_errors("Jupyter containers", None if all_namespaces else kube.domain):
                raise obj
        yield kind, obj


def wait_for(
    kube: Kube,
    name: str,
    done: Callable[[str, Obj], bool],
    *,
    timeout: float,
    describe: str,
    on_change: Callable[[Obj], None] | None = None,
    resource_version: str | None = None,
) -> Obj:
    """The container once `done(event_type, obj)` holds; TimedOut naming `describe` otherwise."""
    last: tuple[Any, ...] | None = None
    try:
        for kind, obj in follow(
            kube,
            name=name,
            all_namespaces=False,
            timeout=timeout,
            resource_version=resource_version,
        ):
            status = obj.get("status") or {}
            key = (kind, status.get("phase"), status.get("reason"))
            if on_change is not None and key != last:
                on_change(obj)
            last = key
            if done(kind, obj):
                return obj
    except TimedOut:
        raise TimedOut(
            f"'{name}' did not {describe} within {timeout:g}s.",
            hint=f"Follow it with: kubectl jupyter watch {name} -n {kube.domain}",
        ) from None
    raise CliError("The watch ended unexpectedly.")  # pragma: no cover - watches do not end


def phase_is(*phases: str) -> Callable[[str, Obj], bool]:
    def check(kind: str, obj: Obj) -> bool:
        return kind != DELETED and (obj.get("status") or {}).get("phase") in phases

    return check


def change_line(kind: str, obj: Obj, *, show_domain: bool) -> Text:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    line = Text(timefmt.now_utc().astimezone().strftime("%H:%M:%S") + "  ", style="dim")
    if show_domain:
        line.append(f"{meta.get('namespace', '')}/")
    line.append(str(meta.get("name", "")), style="bold")
    line.append("  ")
    if kind == DELETED:
        line.append("deleted", style="dim")
        return line
    line.append_text(render.badge(status.get("phase")))
    if status.get("reason"):
        line.append(f"  {status['reason']}", style="dim")
    if status.get("message"):
        style = "red" if status.get("phase") == "Failed" else ""
        line.append(f"  {status['message']}", style=style)
    return line


EPILOG = """Examples:
  kubectl jupyter watch                      # every container of the domain
  kubectl jupyter watch nb1 --until Active   # exit 0 once Active (1 if it fails)
  kubectl jupyter watch -A -o json           # JSON lines for scripts
"""


@cluster_options
def watch(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="Only this container (default: all).", show_default=False)
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Containers of every domain.")
    ] = False,
    until: Annotated[
        Phase | None,
        typer.Option(
            help="Stop with exit code 0 when NAME reaches this status (1 if it fails instead).",
            case_sensitive=False,
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (exit code 1).", min=0)
    ] = None,
    output: ObjectOutputOpt = None,
) -> None:
    """Live status of one or all containers, from a watch stream."""
    if until is not None and name is None:
        raise typer.BadParameter("--until needs a container NAME.", param_hint="--until")
    kube = state_of(ctx).kube()
    out = render.console()
    seen: dict[tuple[str, str], tuple[Any, ...]] = {}
    for kind, obj in follow(kube, name=name, all_namespaces=all_namespaces, timeout=timeout):
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        state = (kind == DELETED, status.get("phase"), status.get("reason"), status.get("message"))
        if seen.get(key) == state:
            continue  # an update that changed nothing the user sees (e.g. event counts)
        seen[key] = state
        if output is not None:
            record = {
                "type": kind,
                "namespace": key[0],
                "name": key[1],
                "phase": status.get("phase"),
                "reason": status.get("reason"),
                "message": status.get("message"),
                "time": timefmt.rfc3339(timefmt.now_utc()),
            }
            sys.stdout.write(json.dumps(record) + "\n" if output == "json" else render_yaml(record))
            sys.stdout.flush()
        else:
            out.print(change_line(kind, obj, show_domain=all_namespaces))
        if until is not None and kind != DELETED:
            if status.get("phase") == until:
                return
            if status.get("phase") == Phase.FAILED and until != Phase.FAILED:
                raise CliError(f"'{name}' failed: {status.get('message') or status.get('reason')}")
        if until is not None and kind == DELETED:
            raise CliError(f"'{name}' was deleted.")


def render_yaml(record: dict[str, Any]) -> str:
    return "---\n" + str(yaml.safe_dump(record, sort_keys=False))
