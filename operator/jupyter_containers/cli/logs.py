"""`logs` (the Logs tab: time range, follow, previous, download) and `events` (Events tab)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.text import Text

from jupyter_containers.cli import render, selection, timefmt
from jupyter_containers.cli.cluster import api_errors
from jupyter_containers.cli.containers import Containers
from jupyter_containers.cli.errors import CliError, UsageError
from jupyter_containers.cli.options import NameArg, ObjectOutputOpt, cluster_options, state_of

Obj = dict[str, Any]


def split_timestamp(line: str) -> tuple[datetime | None, str]:
    """'2024-05-01T12:00:00.123456789Z text' -> (time, 'text') (timestamps=true lines)."""
    stamp, _, text = line.partition(" ")
    moment = timefmt.parse_rfc3339(stamp)
    if moment is None:
        return None, line
    return moment, text


def until_filter(
    lines: Iterable[str], until: datetime | None, keep_timestamps: bool
) -> Iterator[str]:
    """Lines up to `until` (the API has sinceTime but no end); stops at the first later line."""
    for line in lines:
        moment, text = split_timestamp(line)
        if until is not None and moment is not None and moment > until:
            return
        yield line if keep_timestamps or moment is None else text


def log_params(
    *,
    container: str | None,
    since: str | None,
    since_time: str | None,
    follow: bool,
    previous: bool,
    tail: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The pod log query; every line carries its timestamp so --until can filter."""
    if since and since_time:
        raise UsageError("--since and --since-time contradict each other; give one.")
    params: dict[str, Any] = {"timestamps": "true"}
    if container:
        params["container"] = container
    if since:
        seconds = int(timefmt.parse_duration(since, "--since").total_seconds())
        params["sinceSeconds"] = max(1, seconds)
    if since_time:
        params["sinceTime"] = timefmt.rfc3339(timefmt.parse_time(since_time, "--since-time", now))
    if follow:
        params["follow"] = "true"
    if previous:
        params["previous"] = "true"
    if tail is not None:
        params["tailLines"] = tail
    return params


LOGS_EPILOG = """Examples:
  kubectl jupyter logs nb1
  kubectl jupyter logs nb1 --since 10m
  kubectl jupyter logs nb1 --since-time 2024-05-01T12:00:00Z --until 2024-05-01T12:30:00Z
  kubectl jupyter logs nb1 --follow
  kubectl jupyter logs nb1 --previous            # the container before its last restart
  kubectl jupyter logs nb1 --download nb1.log
"""


@cluster_options
def logs(
    ctx: typer.Context,
    name: NameArg,
    since: Annotated[
        str | None,
        typer.Option(help="Only lines newer than this duration, e.g. 10m, 1h.", show_default=False),
    ] = None,
    since_time: Annotated[
        str | None,
        typer.Option(
            help="Only lines at or after this RFC 3339 time (or duration ago).", show_default=False
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Only lines up to this RFC 3339 time (or duration ago).", show_default=False
        ),
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new lines.")] = False,
    previous: Annotated[
        bool,
        typer.Option("--previous", "-p", help="Logs of the previous container (before a restart)."),
    ] = False,
    tail: Annotated[
        int | None, typer.Option(help="Only the last N lines.", min=0, show_default=False)
    ] = None,
    timestamps: Annotated[
        bool, typer.Option("--timestamps", help="Show each line's time.")
    ] = False,
    download: Annotated[
        Path | None,
        typer.Option(
            help="Write the logs to this file instead of the terminal.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Logs of the container's JupyterLab (also for Failed containers)."""
    kube = state_of(ctx).kube()
    jc = Containers(kube).get(name)
    status = jc.get("status") or {}
    pod = status.get("podName")
    namespace = selection.deployment_namespace(jc)
    if not pod:
        raise CliError(
            f"'{name}' has no pod ({status.get('phase') or 'no status yet'}): logs exist while it "
            "runs, and after it failed.",
            hint=f"Start it with: kubectl jupyter start {name}",
        )
    now = timefmt.now_utc()
    params = log_params(
        container=None,
        since=since,
        since_time=since_time,
        follow=follow,
        previous=previous,
        tail=tail,
        now=now,
    )
    end = timefmt.parse_time(until, "--until", now) if until else None
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
    sink: IO[str] = download.open("w", encoding="utf-8") if download else sys.stdout
    count = 0
    try:
        with api_errors(f"logs of pod '{pod}'", namespace), kube.stream(path, params) as response:
            for line in until_filter(response.iter_lines(), end, keep_timestamps=timestamps):
                sink.write(line + "\n")
                count += 1
                if follow:
                    sink.flush()
    except KeyboardInterrupt:
        pass
    finally:
        if download:
            sink.close()
    if download:
        render.console(stderr=True).print(f"Saved {count} line(s) of '{name}' to {download}.")


def related(event: Obj, jc: Obj, objects: dict[str, set[str]]) -> bool:
    """Whether an event is about the container or one of its objects (current or past pods)."""
    involved = event.get("involvedObject") or {}
    kind, name, uid = involved.get("kind"), involved.get("name", ""), involved.get("uid")
    meta = jc["metadata"]
    if kind == "JupyterContainer":
        return bool(
            name == meta["name"]
            and involved.get("namespace", meta["namespace"]) == meta["namespace"]
        )
    if uid and uid in objects.get("uids", set()):
        return True
    base = (jc.get("status") or {}).get("serviceName")
    if base and kind in ("Pod", "ReplicaSet", "Deployment", "Service"):
        # Pods of earlier attempts are gone, their events are not: names are BASE-<hash>[-<id>].
        return bool(name == base or name.startswith(base + "-"))
    return name in objects.get(kind or "", set())


def event_objects(repo: Containers, jc: Obj, namespace: str) -> dict[str, set[str]]:
    status = jc.get("status") or {}
    objects: dict[str, set[str]] = {"uids": set()}
    for pod in repo.pods(jc, namespace):
        objects["uids"].add(pod["metadata"]["uid"])
        objects.setdefault("Pod", set()).add(pod["metadata"]["name"])
    if status.get("pvcName"):
        objects.setdefault("PersistentVolumeClaim", set()).add(status["pvcName"])
    if status.get("podName"):
        objects.setdefault("Pod", set()).add(status["podName"])
    return objects


def newest_first(events: Iterable[Obj]) -> list[Obj]:
    return sorted(
        events,
        key=lambda e: render.event_time(e) or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )


EVENTS_EPILOG = """Examples:
  kubectl jupyter events nb1
  kubectl jupyter events nb1 --type Warning
  kubectl jupyter events nb1 -o json
"""


@cluster_options
def events(
    ctx: typer.Context,
    name: NameArg,
    type_: Annotated[
        str | None,
        typer.Option("--type", help="Only Normal or only Warning events.", show_default=False),
    ] = None,
    output: ObjectOutputOpt = None,
) -> None:
    """Kubernetes events (Normal and Warning) of the container and its pods, newest first."""
    if type_ is not None and type_.capitalize() not in ("Normal", "Warning"):
        raise UsageError(f"--type {type_!r}: use Normal or Warning.")
    kube = state_of(ctx).kube()
    repo = Containers(kube)
    jc = repo.get(name)
    namespace = selection.deployment_namespace(jc)
    objects = event_objects(repo, jc, namespace)
    found = [e for e in repo.events(namespace) if related(e, jc, objects)]
    if namespace != kube.domain:
        found += [e for e in repo.events(kube.domain) if related(e, jc, {"uids": set()})]
    found = newest_first(found)
    warnings = sum(1 for e in found if e.get("type") == "Warning")
    total = len(found)
    if type_:
        found = [e for e in found if (e.get("type") or "Normal") == type_.capitalize()]
    if output is not None:
        render.dump(render.as_list(found, warnings=warnings, total=total), str(output))
        return
    out = render.console()
    header = Text("Kubernetes events ", style="bold")
    header.append(f"{warnings}/{total}", style="bold yellow" if warnings else "bold")
    header.append("  (warnings/total)", style="dim")
    out.print(header)
    if not found:
        out.print("No events." if not type_ else f"No {type_.capitalize()} events.")
        return
    render.show(render.events_table(found, timefmt.now_utc()), out)
