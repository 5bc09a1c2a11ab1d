"""Everything the plugin prints: coloured status badges, tables, details, JSON and YAML.

Colour only on a terminal and never with NO_COLOR (rich honours both); output for
pipes is plain text with no wrapping of long messages.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from jupyter_containers.cli import selection, timefmt
from jupyter_containers.cli.cost import CostLine

Obj = Mapping[str, Any]

PHASE_STYLES: dict[str, str] = {
    "Active": "green",
    "Starting": "yellow",
    "Stopped": "grey50",
    "Failed": "red",
}


class ObjectFormat(StrEnum):
    JSON = "json"
    YAML = "yaml"


class ListFormat(StrEnum):
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"
    NAME = "name"


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    # Off a terminal rich would wrap at 80 columns; a pipe (grep, awk) wants whole lines, as
    # kubectl prints them. Tables are only as wide as their content; `show` strips padding.
    width = None if tty or os.environ.get("COLUMNS") else 4096
    return Console(file=stream, highlight=False, width=width, soft_wrap=not tty)


def show(renderable: Any, out: Console | None = None) -> None:
    """Print a table or grid; off a terminal without the padding rich adds to each line."""
    out = out or console()
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    out.file.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")
    out.file.flush()


def badge(phase: str | None) -> Text:
    if not phase:
        return Text("Unknown", style="dim")
    return Text(phase, style=f"bold {PHASE_STYLES.get(phase, '')}".strip())


def status_cell(jc: Obj) -> Text:
    """The badge; for Failed also the error (the console shows it on hover)."""
    status = jc.get("status") or {}
    text = badge(status.get("phase"))
    if status.get("phase") == "Failed" and status.get("message"):
        text.append(f": {status['message']}", style="red")
    elif status.get("phase") == "Stopped" and status.get("reason") in CULL_REASONS:
        text.append(f" ({status['reason']})", style="dim")
    elif status.get("phase") == "Active":
        left = culling_left(jc, timefmt.now_utc())
        if left:
            text.append(f" ({left})", style="dim")
    return text


#: Stops the operator made by itself (idle timeout, maximum lifetime): shown in the list.
CULL_REASONS = ("Culled", "LifetimeExceeded")


def culling_left(jc: Obj, now: datetime) -> str | None:
    """'culled in 12m if idle' / 'stops in 3h (lifetime)' for an Active container under a
    culling policy; None without one."""
    culling = (jc.get("status") or {}).get("culling") or {}
    cull_at = timefmt.parse_rfc3339(culling.get("cullAt") or "")
    if cull_at is None:
        return None
    left = timefmt.age(now, cull_at) if cull_at > now else "0s"
    if culling.get("cullReason") == "Culled":
        return f"culled in {left} if idle"
    return f"stops in {left}: maximum lifetime"


def culling_text(jc: Obj, now: datetime) -> str | None:
    """The Details row: the limits in force, the time left and the latest activity."""
    culling = (jc.get("status") or {}).get("culling") or {}
    if not culling:
        return None
    limits = [
        f"{label} {culling[key]}"
        for label, key in (("idle timeout", "idleTimeout"), ("maximum lifetime", "maxLifetime"))
        if culling.get(key)
    ]
    parts = [", ".join(limits)]
    left = culling_left(jc, now)
    if left:
        parts.append(left)
    last = timefmt.parse_rfc3339(culling.get("lastActivity") or "")
    if last is not None:
        parts.append(f"last activity {timefmt.relative(last, now)}")
    if culling.get("activityUnknown"):
        parts.append("JupyterLab does not answer the activity probe: not culled as idle")
    return "; ".join(p for p in parts if p)


def _clean(obj: Obj) -> dict[str, Any]:
    """The object as kubectl shows it: without managedFields."""
    data = copy.deepcopy(dict(obj))
    meta = data.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return data


def dump(data: Any, output: ObjectFormat | ListFormat | str) -> None:
    """JSON or YAML to stdout, untouched by rich (no markup, no wrapping)."""
    if isinstance(data, Mapping):
        data = _clean(data)
        if data.get("kind") == "List":
            data["items"] = [_clean(item) for item in data.get("items", [])]
    if str(output) == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    sys.stdout.flush()


def as_list(items: Iterable[Obj], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": metadata, "items": list(items)}


def _table(*columns: str) -> Table:
    table = Table(
        box=None, show_header=True, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0)
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def container_table(items: Sequence[Obj], *, wide: bool, show_domain: bool, now: datetime) -> Table:
    columns = ["NAME", "STATUS", "INSTANCE", "NAMESPACE"]
    if show_domain:
        columns.insert(0, "DOMAIN")
    if wide:
        columns += ["VOLUME", "CREATED BY", "AGE", "ID"]
    table = _table(*columns)
    for jc in items:
        meta = jc["metadata"]
        row: list[str | Text] = [
            meta["name"],
            status_cell(jc),
            selection.instance_text(jc),
            selection.deployment_namespace(jc),
        ]
        if show_domain:
            row.insert(0, meta.get("namespace", ""))
        if wide:
            created = timefmt.parse_rfc3339(meta.get("creationTimestamp", "") or "")
            row += [
                selection.volume_text(jc),
                selection.created_by(jc) or "-",
                timefmt.age(created, now),
                meta.get("uid", ""),
            ]
        table.add_row(*row)
    return table


def details(jc: Obj, now: datetime) -> Table:
    """The console's Details tab."""
    meta = jc["metadata"]
    spec = jc.get("spec") or {}
    status = jc.get("status") or {}
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    state = badge(status.get("phase"))
    if status.get("reason"):
        state.append(f" ({status['reason']})", style="dim")
    if status.get("message"):
        style = "red" if status.get("phase") == "Failed" else "dim"
        state.append(f"\n{status['message']}", style=style)
    created = timefmt.parse_rfc3339(meta.get("creationTimestamp", "") or "")
    creator = selection.created_by(jc) or "unknown user"
    rows: list[tuple[str, str | Text]] = [
        ("ID", meta.get("uid", "")),
        ("Name", meta["name"]),
        ("Status", state),
        ("Bundle", spec.get("bundle", "")),
        ("Instance", selection.instance_text(jc)),
        ("Volume", selection.volume_text(jc)),
        ("Namespace", selection.deployment_namespace(jc)),
        ("Created by", f"{creator}, {timefmt.relative(created, now)}"),
    ]
    storage = status.get("storage") or {}
    if storage:  # volume growth
        rows.insert(5, ("Volume size", storage_text(storage)))
    if spec.get("image") or status.get("image"):
        # The JupyterImage named (or the default) and what the current attempt runs.
        image = spec.get("image") or "default"
        rows.insert(6, ("Image", f"{image} ({status['image']})" if status.get("image") else image))
    culling = culling_text(jc, now)
    if culling:
        rows.append(("Culling", culling))
    tags = spec.get("tags") or {}
    if tags:
        rows.append(("Tags", "\n".join(f"{k}={v}" for k, v in sorted(tags.items()))))
    for label, value in rows:
        grid.add_row(f"{label}:", value)
    return grid


def storage_text(storage: Obj) -> str:
    """status.storage for people: '20Gi (has 10Gi; InProgress: ...)'."""
    text = str(storage.get("requested") or "")
    capacity = storage.get("capacity")
    if capacity and capacity != storage.get("requested"):
        text += f" (has {capacity})"
    if storage.get("resize"):
        text += f"\n{storage['resize']}: {storage.get('message') or ''}".rstrip(": ")
    return text


def event_time(event: Obj) -> datetime | None:
    """When an event last happened (the fields differ between the old and new event APIs)."""
    series = event.get("series") or {}
    for value in (
        series.get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        if value:
            moment = timefmt.parse_rfc3339(str(value))
            if moment is not None:
                return moment
    return None


def events_table(events: Sequence[Obj], now: datetime) -> Table:
    table = _table("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
    for event in events:
        involved = event.get("involvedObject") or {}
        kind = event.get("type") or "Normal"
        count = event.get("count") or (event.get("series") or {}).get("count")
        seen = timefmt.age(event_time(event), now)
        if count and int(count) > 1:
            seen += f" (x{count})"
        table.add_row(
            seen,
            Text(kind, style="yellow" if kind == "Warning" else ""),
            event.get("reason") or "",
            f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            (event.get("message") or "").strip(),
        )
    return table


def quota_table(lines: Sequence[CostLine]) -> Table:
    table = _table("QUOTA", "RESOURCE", "REQUESTED", "USED", "HARD", "AVAILABLE", "")
    for line in lines:
        ok = Text("ok", style="green") if line.fits else Text("exceeds quota", style="bold red")
        table.add_row(
            line.quota,
            line.resource,
            line.shown(line.requested),
            line.shown(line.used),
            line.shown(line.hard),
            line.shown(line.available),
            ok,
        )
    return table


def error(message: str, hint: str | None = None) -> None:
    err = console(stderr=True)
    err.print(Text("error: ", style="bold red") + Text(message))
    if hint:
        err.print(Text(hint, style="dim"))


def warning(message: str) -> None:
    console(stderr=True).print(Text("Warning: ", style="bold yellow") + Text(message))
