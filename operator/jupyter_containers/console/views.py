"""Page data from Kubernetes objects: pure functions, unit-tested without a cluster.

The rules come from the plugin's pure helpers (`cli.selection`, `cli.logs`, `cli.start_stop`,
`cli.timefmt`); this module only shapes them for the templates. Every value here is plain
text: the templates escape it (jinja2 autoescape), so markup in a name, tag, env value or
event message is shown, never rendered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jupyter_containers.api import rules
from jupyter_containers.api.models import JupyterContainerSpec, Phase, VolumeSpec
from jupyter_containers.cli import render, selection, start_stop, timefmt
from jupyter_containers.cli.cost import CostLine
from jupyter_containers.core import culling, validation, volume_size
from jupyter_containers.core.validation import Identity

Obj = Mapping[str, Any]

PHASES = [p.value for p in (Phase.STARTING, Phase.ACTIVE, Phase.STOPPED, Phase.FAILED)]
CONFIGURABLE = (Phase.STOPPED, Phase.FAILED)

#: The form's fields and the tab each one is on (the manual's four tabs).
TABS = ("General", "Configurations", "Tags", "Review & Create")
FIELD_TAB = {
    "name": "General",
    "bundle": "General",
    "namespace": "General",
    "instanceType": "General",
    "volume": "General",
    "volumeSize": "General",
    "env": "Configurations",
    "args": "Configurations",
    "image": "General",
    "tags": "Tags",
    "form": "Review & Create",
}


def detail_url(domain: str, name: str) -> str:
    return f"/domains/{domain}/containers/{name}"


# ---------------------------------------------------------------- the list


@dataclass(frozen=True)
class Row:
    domain: str
    name: str
    uid: str
    phase: str
    error: str | None
    instance: str
    namespace: str
    url: str
    can_start: bool
    can_terminate: bool
    can_configure: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "name": self.name,
            "uid": self.uid,
            "phase": self.phase,
            "error": self.error,
            "instance": self.instance,
            "namespace": self.namespace,
            "url": self.url,
            "canStart": self.can_start,
            "canTerminate": self.can_terminate,
            "canConfigure": self.can_configure,
        }


def row(jc: Obj) -> Row:
    meta = jc.get("metadata") or {}
    phase = str(start_stop.effective_phase(dict(jc)) or "")
    message = (jc.get("status") or {}).get("message")
    return Row(
        domain=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        phase=phase,
        error=message if phase == Phase.FAILED and message else None,
        instance=selection.instance_text(jc),
        namespace=selection.deployment_namespace(jc),
        url=detail_url(str(meta.get("namespace", "")), str(meta.get("name", ""))),
        can_start=phase in start_stop.STARTABLE,
        can_terminate=phase in start_stop.TERMINABLE,
        can_configure=phase in CONFIGURABLE,
    )


@dataclass(frozen=True)
class Filters:
    view: selection.View = selection.View.MINE
    namespace: str = ""
    status: str = ""
    search: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        view = selection.View.SHARED if query.get("view") == "shared" else selection.View.MINE
        status = query.get("status", "")
        try:
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            view=view,
            namespace=query.get("namespace", "").strip(),
            status=status if status in PHASES else "",
            search=query.get("search", "").strip(),
            page=page,
        )

    def query(self, **changes: Any) -> str:
        """The list URL's query with some values changed (for the toggle and the pager)."""
        values = {
            "view": "shared" if self.view is selection.View.SHARED else "mine",
            "namespace": self.namespace,
            "status": self.status,
            "search": self.search,
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == "1")})


@dataclass(frozen=True)
class ListPage:
    filters: Filters
    rows: list[Row]
    number: int
    pages: int
    total: int
    first: int
    last: int
    namespaces: list[str]
    empty_text: str


def list_page(
    containers: Sequence[Obj],
    bundles: Mapping[tuple[str, str], Obj],
    who: Identity,
    filters: Filters,
    size: int,
) -> ListPage:
    """The list page: the view, the filters, one page of rows."""
    in_view = [jc for jc in containers if selection.in_view(jc, filters.view, who, bundles)]
    chosen = selection.select(
        in_view,
        view=filters.view,
        who=who,
        bundles=bundles,
        deploy_namespace=filters.namespace or None,
        status=filters.status or None,
        search=filters.search or None,
    )
    number = filters.page
    result = selection.paginate(chosen, number, size)
    if number > result.pages:
        result = selection.paginate(chosen, result.pages, size)
    namespaces = sorted({selection.deployment_namespace(jc) for jc in in_view})
    filtered = bool(filters.namespace or filters.status or filters.search)
    return ListPage(
        filters=filters,
        rows=[row(jc) for jc in result.items],
        number=result.number,
        pages=result.pages,
        total=result.total,
        first=result.first_index,
        last=result.first_index + len(result.items) - 1 if result.items else 0,
        namespaces=namespaces,
        empty_text="No Jupyter containers match." if filtered else "No Jupyter containers.",
    )


# ---------------------------------------------------------------- details and events


@dataclass(frozen=True)
class Details:
    row: Row
    reason: str | None
    message: str | None
    bundle: str
    volume: str
    created_by: str
    created_ago: str
    created_at: str
    tags: list[tuple[str, str]]
    volume_size: str = ""  # volume growth: status.storage ("" without an On Demand PVC)
    culling: str | None = None
    """Idle timeout / lifetime: when it stops, or why it was stopped (core.culling.summary)."""


def volume_size_text(jc: Obj) -> str:
    storage = (jc.get("status") or {}).get("storage") or {}
    return render.storage_text(storage) if storage else ""


def details(jc: Obj, now: datetime) -> Details:
    meta = jc.get("metadata") or {}
    spec = jc.get("spec") or {}
    status = jc.get("status") or {}
    created_at = str(meta.get("creationTimestamp") or "")
    created = timefmt.parse_rfc3339(created_at) if created_at else None
    return Details(
        row=row(jc),
        reason=status.get("reason"),
        message=status.get("message"),
        bundle=str(spec.get("bundle", "")),
        volume=selection.volume_text(jc),
        created_by=selection.created_by(jc) or "unknown user",
        created_ago=timefmt.relative(created, now),
        created_at=created_at,
        tags=tag_pairs(jc),
        volume_size=volume_size_text(jc),
        culling=culling.summary(status),
    )


def tag_pairs(jc: Obj) -> list[tuple[str, str]]:
    """The tags as (key, value), sorted by key (Details shows them only when there are some)."""
    tags = (jc.get("spec") or {}).get("tags") or {}
    return sorted((str(k), str(v)) for k, v in tags.items())


def live_fields(jc: Obj) -> dict[str, Any]:
    """What the event stream sends of a container: its row and the Details that can change.

    The same text the pages render from `row` and `details`, so a page that applies a
    message shows what a reload would (the ID, name and creator never change).
    """
    spec = jc.get("spec") or {}
    return {
        **row(jc).as_json(),
        "bundle": str(spec.get("bundle", "")),
        "volume": selection.volume_text(jc),
        "volumeSize": volume_size_text(jc),
        "tags": [list(pair) for pair in tag_pairs(jc)],
        "culling": culling.summary(jc.get("status") or {}) or "",
    }


@dataclass(frozen=True)
class EventRow:
    type: str
    reason: str
    object: str
    message: str
    last_seen: str
    count: int


@dataclass(frozen=True)
class EventsView:
    rows: list[EventRow]
    warnings: int
    total: int

    @property
    def badge(self) -> str:
        return f"{self.warnings}/{self.total}"


def events_view(events: Iterable[Obj], now: datetime) -> EventsView:
    """Newest first, with the tab's badge: warnings/total."""
    from jupyter_containers.cli.logs import newest_first

    ordered = newest_first(dict(e) for e in events)
    rows = []
    for event in ordered:
        involved = event.get("involvedObject") or {}
        count = event.get("count") or (event.get("series") or {}).get("count") or 1
        rows.append(
            EventRow(
                type=str(event.get("type") or "Normal"),
                reason=str(event.get("reason") or ""),
                object=f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
                message=str(event.get("message") or "").strip(),
                last_seen=timefmt.age(render.event_time(event), now),
                count=int(count),
            )
        )
    warnings = sum(1 for r in rows if r.type == "Warning")
    return EventsView(rows=rows, warnings=warnings, total=len(rows))


# ---------------------------------------------------------------- logs


def log_query(query: Mapping[str, str], now: datetime) -> tuple[dict[str, Any], datetime | None]:
    """The Logs tab's query as the pod log's parameters and the end of the range.

    A download is never followed (it ends); bad times raise UsageError naming the field.
    """
    from jupyter_containers.cli import logs

    download = query.get("download") == "1"
    params = logs.log_params(
        container=None,
        since=query.get("since") or None,
        since_time=query.get("sinceTime") or None,
        follow=query.get("follow") == "1" and not download,
        previous=query.get("previous") == "1",
        tail=None,
        now=now,
    )
    until = query.get("until")
    return params, timefmt.parse_time(until, "until", now) if until else None


def log_pod(jc: Obj, pods: Sequence[str]) -> str | None:
    """Whose log to show: the pod the status names when it still exists, else the first."""
    named = (jc.get("status") or {}).get("podName")
    if named in pods:
        return str(named)
    return pods[0] if pods else None


# ---------------------------------------------------------------- the form


def field_of(message: str) -> list[str]:
    """Which form fields a refusal names (the API server's and webhook's words)."""
    text = message.strip()
    if text == rules.MSG_DUPLICATE_NAME or text.startswith(("Name ", "metadata.name")):
        return ["name"]
    if text.startswith("Quota exceeded") or "exceeded quota" in text:
        return ["instanceType", "volume"]
    if text.startswith("spec.volumeSize"):
        return ["volumeSize"]
    if rules.MSG_INVALID_VOLUME_TYPE in text or text.startswith(("Volume ", "spec.volume")):
        return ["volume"]
    if text == rules.MSG_STOP_BEFORE_CONFIGURING:
        return ["form"]
    for prefix, name in (
        ("spec.bundle", "bundle"),
        ("spec.namespace", "namespace"),
        ("spec.instanceType", "instanceType"),
        ("InstanceType ", "instanceType"),
        ("Instance type ", "instanceType"),
        ("spec.env", "env"),
        ("spec.args", "args"),
        ("spec.image", "image"),
        ("spec.tags", "tags"),
    ):
        if text.startswith(prefix):
            return [name]
    return ["form"]


#: The webhook's duplicate-name refusal names its field; on the Name field the manual's
#: words stand alone.
DUPLICATE_NAME_REFUSAL = f"metadata.name: {rules.MSG_DUPLICATE_NAME}"


def field_errors(messages: Iterable[str]) -> dict[str, list[str]]:
    """Messages grouped by the field they name; the rest under 'form'."""
    grouped: dict[str, list[str]] = {}
    for raw in messages:
        message = rules.MSG_DUPLICATE_NAME if raw.strip() == DUPLICATE_NAME_REFUSAL else raw
        for name in field_of(message):
            bucket = grouped.setdefault(name, [])
            if message not in bucket:
                bucket.append(message)
    return grouped


def tabs_with_errors(errors: Mapping[str, Sequence[str]]) -> list[str]:
    """The tabs that get the red exclamation mark."""
    return [tab for tab in TABS if any(FIELD_TAB.get(f) == tab for f, m in errors.items() if m)]


class FormError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(m for ms in errors.values() for m in ms))
        self.errors = errors


@dataclass
class Form:
    """What the browser sends: the form's values as JSON."""

    name: str = ""
    bundle: str = ""
    namespace: str = ""
    instanceType: str = ""
    volume: str = ""
    volumeSize: str = ""  # volume growth
    image: str = ""
    env: list[dict[str, str]] = field(default_factory=list)
    args: str = ""
    tags: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Form:
        def text(key: str) -> str:
            value = data.get(key)
            return value.strip() if isinstance(value, str) else ""

        def rows(key: str) -> list[dict[str, str]]:
            value = data.get(key)
            if not isinstance(value, list):
                return []
            return [
                {str(k): str(v) for k, v in item.items()}
                for item in value
                if isinstance(item, dict)
            ]

        raw_args = data.get("args")
        return cls(
            name=text("name"),
            bundle=text("bundle"),
            namespace=text("namespace"),
            instanceType=text("instanceType"),
            volume=text("volume"),
            volumeSize=text("volumeSize"),
            image=text("image"),
            env=rows("env"),
            args=raw_args if isinstance(raw_args, str) else "",
            tags=rows("tags"),
        )

    def spec(self, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The spec this form asks for (on top of `base`, an existing spec, for configure).

        Problems only the form can have (an env row without a name) raise FormError naming
        the field; everything else is the API's to judge.
        """
        spec: dict[str, Any] = {k: v for k, v in (base or {}).items()}
        if self.bundle:
            spec["bundle"] = self.bundle
        for key in ("namespace", "instanceType", "volume", "volumeSize", "image"):
            value = getattr(self, key)
            if value:
                spec[key] = value
            else:
                spec.pop(key, None)
        env, env_errors = env_spec(self.env)
        tags, tag_errors = tags_spec(self.tags)
        args = [line.strip() for line in self.args.splitlines() if line.strip()]
        for key, value in (("env", env), ("args", args), ("tags", tags)):
            if value:
                spec[key] = value
            else:
                spec.pop(key, None)
        errors = {k: v for k, v in (("env", env_errors), ("tags", tag_errors)) if v}
        if errors:
            raise FormError(errors)
        return spec


def env_spec(rows: Sequence[Mapping[str, str]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The form's variable rows as spec.env (plain or secret-backed), and what is missing.

    A row left empty is skipped; one with a value but no name, or a secret-backed one without
    the Secret's name and key, is an error naming the row.
    """
    env: list[dict[str, Any]] = []
    errors: list[str] = []
    for number, item in enumerate(rows, start=1):
        name = item.get("name", "").strip()
        if not name and not any(item.get(k) for k in ("value", "secret", "key")):
            continue
        if not name:
            errors.append(f"spec.env: variable {number} needs a name.")
        elif item.get("kind", "plain") != "secret":
            env.append({"name": name, "value": item.get("value", "")})
        elif not (item.get("secret", "").strip() and item.get("key", "").strip()):
            errors.append(f"spec.env: {name!r} is secret-backed: give the Secret's name and key.")
        else:
            ref = {"name": item["secret"].strip(), "key": item["key"].strip()}
            env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
    return env, errors


def tags_spec(rows: Sequence[Mapping[str, str]]) -> tuple[dict[str, str], list[str]]:
    """The form's tag rows as spec.tags; a row with a value but no key is an error."""
    tags: dict[str, str] = {}
    errors: list[str] = []
    for item in rows:
        key = item.get("key", "").strip()
        if not key and not item.get("value"):
            continue
        if not key:
            errors.append("spec.tags: every tag needs a key.")
            continue
        tags[key] = item.get("value", "")
    return tags, errors


def configured(current: Obj, form: Form) -> dict[str, Any]:
    """The object Save sends: the container with the form's spec (Configure never changes the
    bundle, and keeps running as it is)."""
    base = dict(current.get("spec") or {})
    spec = form.spec(base={k: v for k, v in base.items() if k in ("bundle", "running")})
    spec["bundle"] = base.get("bundle", "")
    return {**current, "spec": spec}


def changed_meanwhile(name: str, seen: Any, current: Obj) -> str | None:
    """The form was read at generation `seen`: a spec change since then is a conflict.

    Status writes bump resourceVersion, not generation: those are no conflict.
    """
    generation = (current.get("metadata") or {}).get("generation")
    if seen is None or generation == seen:
        return None
    return (
        f"Jupyter container '{name}' was changed by someone else meanwhile. "
        "Reload the page to see the new configuration."
    )


def form_of(jc: Obj) -> dict[str, Any]:
    """An existing container as the form's values (configure)."""
    spec = jc.get("spec") or {}
    env = []
    for var in spec.get("env") or []:
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            env.append(
                {
                    "name": var["name"],
                    "kind": "secret",
                    "secret": ref.get("name", ""),
                    "key": ref.get("key", ""),
                }
            )
        else:
            env.append({"name": var["name"], "kind": "plain", "value": str(var.get("value", ""))})
    return {
        "name": (jc.get("metadata") or {}).get("name", ""),
        "bundle": spec.get("bundle", ""),
        "namespace": spec.get("namespace") or (jc.get("metadata") or {}).get("namespace", ""),
        "instanceType": spec.get("instanceType", ""),
        "volume": spec.get("volume", ""),
        "volumeSize": spec.get("volumeSize", ""),
        "image": spec.get("image", ""),
        "env": env,
        "args": "\n".join(spec.get("args") or []),
        "tags": [{"key": k, "value": v} for k, v in sorted((spec.get("tags") or {}).items())],
    }


@dataclass(frozen=True)
class CostRow:
    quota: str
    resource: str
    requested: str
    used: str
    hard: str
    available: str
    fits: bool


def cost_rows(lines: Sequence[CostLine]) -> list[dict[str, Any]]:
    """The Resource Summary: the container's cost against each quota."""
    return [
        {
            "quota": line.quota,
            "resource": line.resource,
            "requested": line.shown(line.requested),
            "used": line.shown(line.used),
            "hard": line.shown(line.hard),
            "available": line.shown(line.available),
            "fits": line.fits,
        }
        for line in lines
    ]


def volume_size_errors(size: str, volume_name: str, volume: VolumeSpec | None) -> list[str]:
    """The General tab's check of the volume size (the webhook's words; the PVC's own rules,
    never shrinking and the StorageClass, are the server's dry run at review)."""
    if not size:
        return []
    _, problems = validation.spec_problems({"bundle": "x", "volumeSize": size})
    if problems:
        return [p.message for p in problems]
    spec = JupyterContainerSpec(bundle="x", volume=volume_name or None, volumeSize=size)
    if volume_name and volume is None:
        return []  # the volume's own error says so
    problem = volume_size.no_volume_problem(spec, volume) or volume_size.above_maximum_problem(
        size, volume_name, volume
    )
    return [problem] if problem else []


def visible_to(jc: Obj, domains: Iterable[str]) -> bool:
    """Whether a watched container is in a domain the user may list (the fan-out's filter)."""
    return str((jc.get("metadata") or {}).get("namespace", "")) in set(domains)
