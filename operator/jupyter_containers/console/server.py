"""The console server (aiohttp): thin handlers; the rules are the API server's.

Every request about containers is sent as the signed-in user (console/userkube.py), so RBAC,
the CRD rules and the admission webhooks decide; the console adds no rule of its own.
Its own identity is used only to watch containers (fanned out per user, hub.py), to list
namespaces (which ones a user may use is then asked of the API server as the user), and
to read a container's JupyterLab token for the proxy (proxy.py), after the API server has
judged, as the user, that the user may open it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx2
import jinja2
from aiohttp import web
from lightkube import ApiError

from jupyter_containers.api.models import API_VERSION
from jupyter_containers.cli import logs as cli_logs
from jupyter_containers.cli import selection, timefmt
from jupyter_containers.cli.checks import Checker
from jupyter_containers.cli.containers import Containers
from jupyter_containers.cli.errors import CliError, UsageError, api_messages
from jupyter_containers.console import identity, views
from jupyter_containers.console.config import ConsoleSettings
from jupyter_containers.console.expiring import Expiring
from jupyter_containers.console.hub import Hub, Subscriber
from jupyter_containers.console.identity import Principal
from jupyter_containers.console.userkube import UserKube, load_config, own_client
from jupyter_containers.core import catalog
from jupyter_containers.core.entitlements import bundle_ref, for_bundles
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.validation import Identity
from jupyter_containers.shell.resources import JupyterContainer, Namespace, ResourceBundle

log = logging.getLogger("jupyter_containers.console")
HERE = Path(__file__).parent
T = TypeVar("T")

PRINCIPAL = web.AppKey("principal", Principal)
API_DOWN = "The Kubernetes API server is unreachable. The console recovers when it is back."


class ApiDown(Exception):
    pass


class Console:
    """The server's state: settings, the console's credentials, the watch, small caches."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.config = load_config(settings.kube_context)
        key = settings.session_secret
        self.secret = key.get_secret_value().encode() if key else secrets.token_bytes(32)
        self.operator_settings = Settings.model_construct()
        self.hub = Hub(self.config, self.domain_allowed)
        self._cache = Expiring(settings.cache_seconds, time.monotonic)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    # ------------------------------------------------------------ helpers

    def domain_allowed(self, namespace: str) -> bool:
        return any(fnmatch.fnmatchcase(namespace, p) for p in self.settings.domain_patterns)

    def kube(self, principal: Principal, domain: str) -> UserKube:
        return UserKube(self.config, principal, domain, self.settings.request_timeout)

    async def as_user(
        self, principal: Principal, domain: str, work: Callable[[UserKube, Containers], T]
    ) -> T:
        """Run blocking API work as the user, in a thread (never on the event loop)."""

        def run() -> T:
            kube = self.kube(principal, domain)
            try:
                return work(kube, Containers(kube))
            finally:
                kube.close()

        try:
            return await asyncio.to_thread(run)
        except httpx2.TransportError as exc:
            raise ApiDown(str(exc)) from None

    async def cached(self, key: str, make: Callable[[], Any]) -> Any:
        fresh, value = self._cache.get(key)
        if fresh:
            return value
        began = self._cache.clock()
        value = await make()
        self._cache.put(key, value, began)
        return value

    async def namespaces(self) -> list[tuple[str, dict[str, str]]]:
        """Every namespace with its labels (the console's own identity)."""

        def run() -> list[tuple[str, dict[str, str]]]:
            client = own_client(self.config, self.settings.request_timeout)
            try:
                return [
                    (ns.metadata.name, dict(ns.metadata.labels or {}))
                    for ns in client.list(Namespace)
                    if ns.metadata and ns.metadata.name
                ]
            finally:
                client.close()

        async def make() -> Any:
            try:
                return await asyncio.to_thread(run)
            except httpx2.TransportError as exc:
                raise ApiDown(str(exc)) from None

        return cast(list[tuple[str, dict[str, str]]], await self.cached("namespaces", make))

    async def domains(self, principal: Principal) -> list[str]:
        """The domains (namespaces) where the API server lets the user list containers."""
        names = [n for n, _ in await self.namespaces() if self.domain_allowed(n)]

        async def make() -> Any:
            def work(kube: UserKube, _: Containers) -> list[str]:
                return [n for n in names if kube.can("list", "jupytercontainers", n, API_GROUP)]

            return await self.as_user(principal, "default", work)

        return cast(list[str], await self.cached(f"domains:{principal.key}:{len(names)}", make))

    async def who(self, principal: Principal) -> Identity:
        async def make() -> Any:
            return await self.as_user(principal, "default", lambda kube, _: kube.identity)

        return cast(Identity, await self.cached(f"who:{principal.key}", make))

    def render(self, request: web.Request, template: str, **data: Any) -> web.Response:
        principal = request.get("principal")
        page = self.templates.get_template(template).render(
            user=principal.username if principal else None,
            dev_login=self.settings.dev_login,
            banner=data.pop("banner", None),
            **data,
        )
        return web.Response(text=page, content_type="text/html", status=data.get("status", 200))


API_GROUP = API_VERSION.split("/")[0]


def _can(kube: UserKube, verb: str, resource: str, namespace: str) -> bool:
    return kube.can(verb, resource, namespace, API_GROUP)


def _error_json(messages: list[str], status: int = 422) -> web.Response:
    errors = views.field_errors(messages)
    return web.json_response(
        {"errors": errors, "tabs": views.tabs_with_errors(errors)}, status=status
    )


def _messages(exc: Exception) -> list[str]:
    if isinstance(exc, ApiError):
        if exc.status.code == 409 and exc.status.reason == "AlreadyExists":
            from jupyter_containers.api import rules

            return [rules.MSG_DUPLICATE_NAME]
        return api_messages(exc)
    if isinstance(exc, CliError):
        return exc.message.splitlines()
    return [str(exc)]


# ---------------------------------------------------------------- middleware

OPEN_PATHS = ("/login", "/static/", "/healthz")


@web.middleware
async def auth_middleware(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    console: Console = request.app[CONSOLE]
    principal = identity.resolve(
        headers=request.headers,
        peer=request.remote,
        cookie=request.cookies.get(identity.SESSION_COOKIE),
        settings=console.settings,
        secret=console.secret,
    )
    request["principal"] = principal
    if principal is None and not request.path.startswith(OPEN_PATHS):
        if request.path.startswith("/api/") or request.path.startswith("/jupyter/"):
            return web.json_response({"error": "Sign in first."}, status=401)
        if console.settings.dev_login:
            raise web.HTTPFound("/login")
        return console.render(
            request,
            "signin.html",
            users=[],
            status=401,
        )
    try:
        return cast(web.StreamResponse, await handler(request))
    except ApiDown:
        if request.path.startswith("/api/"):
            return web.json_response({"errors": {"form": [API_DOWN]}, "apiDown": True}, status=503)
        response = console.render(request, "down.html", banner=API_DOWN)
        response.set_status(503)
        return response


CONSOLE = web.AppKey("console", Console)


def _principal(request: web.Request) -> Principal:
    return cast(Principal, request["principal"])


# ---------------------------------------------------------------- sign-in (development only)


async def login_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if not console.settings.dev_login:
        raise web.HTTPNotFound()
    return console.render(request, "signin.html", users=identity.dev_users(console.settings))


async def login(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if not console.settings.dev_login:
        raise web.HTTPNotFound()
    form = await request.post()
    known = {p.username: p for p in identity.dev_users(console.settings)}
    chosen = known.get(str(form.get("user", "")))
    if chosen is None:
        raise web.HTTPBadRequest(text="Unknown development user.")
    response = web.HTTPFound("/containers")
    response.set_cookie(
        identity.SESSION_COOKIE,
        identity.sign(identity.session_value(chosen), console.secret),
        httponly=True,
        samesite="Strict",
    )
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPFound("/login")
    response.del_cookie(identity.SESSION_COOKIE)
    raise response


# ---------------------------------------------------------------- list


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/containers")


async def list_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    principal = _principal(request)
    filters = views.Filters.from_query(request.query)
    domains = await console.domains(principal)
    who = await console.who(principal)

    def work(kube: UserKube, repo: Containers) -> tuple[list[Any], dict[Any, Any], bool]:
        items: list[Any] = []
        for domain in domains:
            kube.domain = repo.domain = domain
            items += repo.containers()
        bundles = repo.bundles(domains) if filters.view is selection.View.SHARED else {}
        return (
            items,
            bundles,
            bool(domains) and _can(kube, "create", "jupytercontainers", domains[0]),
        )

    items, bundles, can_create = await console.as_user(principal, "default", work)
    page = views.list_page(items, bundles, who, filters, console.settings.page_size)
    return console.render(
        request,
        "list.html",
        page=page,
        phases=views.PHASES,
        can_create=can_create,
        domains=domains,
        stream_domains=domains,
    )


# ---------------------------------------------------------------- detail


def _domain_name(request: web.Request) -> tuple[str, str]:
    return request.match_info["domain"], request.match_info["name"]


async def detail_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    principal = _principal(request)
    domain, name = _domain_name(request)
    tab = request.query.get("tab", "details")

    def work(kube: UserKube, repo: Containers) -> tuple[Any, list[Any], bool]:
        try:
            jc = repo.get(name)
        except CliError:
            return None, [], False
        namespace = selection.deployment_namespace(jc)
        events: list[Any] = []
        with contextlib.suppress(CliError, ApiError):
            objects = cli_logs.event_objects(repo, jc, namespace)
            events = [e for e in repo.events(namespace) if cli_logs.related(e, jc, objects)]
            if namespace != domain:
                events += [
                    e for e in repo.events(domain) if cli_logs.related(e, jc, {"uids": set()})
                ]
        return jc, events, _may_delete(repo, name)

    jc, events, may_delete = await console.as_user(principal, domain, work)
    if jc is None:
        return console.render(
            request, "notfound.html", what=f"Jupyter container '{name}' in '{domain}'", status=404
        )
    now = timefmt.now_utc()
    return console.render(
        request,
        "detail.html",
        d=views.details(jc, now),
        events=views.events_view(events, now),
        tab=tab if tab in ("details", "logs", "events") else "details",
        may_delete=may_delete,
        stream_domains=[domain],
        lab_url=f"/jupyter/{domain}/{name}/lab",
    )


def _may_delete(repo: Containers, name: str) -> bool:
    """The webhook's answer to a dry-run delete as the user (the DELETE permission)."""
    try:
        repo.client.delete(JupyterContainer, name, namespace=repo.domain, dry_run=True)
    except ApiError:
        return False
    return True


# ---------------------------------------------------------------- create and configure


def _catalog_facts(
    checker: Checker,
    kube: UserKube,
    console_namespaces: list[tuple[str, dict[str, str]]],
    settings: Settings,
) -> dict[str, Any]:
    domain = kube.domain
    open_to = [
        n
        for n, labels in console_namespaces
        if n != domain and settings.namespace_open_to(n, labels, domain)
    ]
    namespaces = [domain] + [n for n in open_to if kube.can("create", "pods", n)]
    return {
        "bundles": checker.bundle_names,
        "canCreateBundle": _can(kube, "create", "resourcebundles", domain),
        "namespaces": namespaces,
        **_offers(checker, domain),
        "platformArgs": list(_platform_args()),
        "platformEnv": _platform_env(),
    }


def _offers(checker: Checker, domain: str) -> dict[str, Any]:
    """The catalog entries the user may pick (core.entitlements). `bundles`: the bundles of
    the domain the entry is offered with (the form hides it for others); absent: any."""
    types, volumes, images = checker.catalog
    chooser = checker.chooser()
    refs = {bundle_ref(domain, b): b for b in checker.bundle_names}

    def offered(entries: Mapping[str, Any], names: list[str], text: Any) -> list[dict[str, Any]]:
        out = []
        for n in names:
            allowed = for_bundles(entries[n], refs, chooser)
            if allowed == []:
                continue
            item: dict[str, Any] = {"name": n, "text": text(n, entries[n])}
            if allowed is not None:
                item["bundles"] = [refs[r] for r in allowed]
            out.append(item)
        return out

    return {
        "instanceTypes": offered(
            types,
            catalog.offered_instance_types(types),
            lambda n, t: f"{n} ({t.displayName or n}: {t.cpu} CPU, {t.memory})",
        ),
        "volumes": offered(
            volumes,
            catalog.offered_volumes(volumes),
            lambda n, v: (
                f"{n} ({'On Demand PVC' if v.type == 'OnDemandPVC' else v.type}"
                + (f", {v.maxSize}" if v.maxSize else "")
                + ")"
            ),
        ),
        "images": offered(
            images,
            catalog.offered_images(images),
            lambda n, i: f"{i.displayName or n} ({i.pull_reference})",
        ),
        "defaultImage": checker.default_image() or "",
    }


def _platform_args() -> tuple[str, ...]:
    from jupyter_containers.api import rules

    return rules.PLATFORM_ARGS


def _platform_env() -> dict[str, str]:
    from jupyter_containers.api import rules

    return dict(rules.PLATFORM_ENV)


async def form_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    principal = _principal(request)
    domains = await console.domains(principal)
    edit_name = request.match_info.get("name")
    domain = (
        request.match_info.get("domain")
        or request.query.get("domain")
        or (domains[0] if domains else "")
    )
    if not domain:
        return console.render(request, "notfound.html", what="a domain you may use", status=404)
    namespaces = await console.namespaces()

    def work(kube: UserKube, repo: Containers) -> dict[str, Any]:
        checker = Checker(repo)
        facts = _catalog_facts(checker, kube, namespaces, console.operator_settings)
        facts["domain"] = domain
        facts["domains"] = domains
        if edit_name:
            jc = repo.get(edit_name)
            facts["mode"] = "configure"
            facts["values"] = views.form_of(jc)
            facts["generation"] = jc["metadata"].get("generation")
            facts["phase"] = views.row(jc).phase
            facts["mayDelete"] = _may_delete(repo, edit_name)
            facts["hasVolume"] = bool((jc.get("spec") or {}).get("volume"))
        else:
            facts["mode"] = "create"
            facts["values"] = {
                "name": "",
                "bundle": request.query.get("bundle", ""),
                "namespace": domain,
                "instanceType": checker.default_instance_type() or "",
                "volume": "",
                "volumeSize": "",
                "image": "",
                "env": [],
                "args": "",
                "tags": [],
            }
        return facts

    try:
        facts = await console.as_user(principal, domain, work)
    except CliError as exc:
        return console.render(request, "notfound.html", what=exc.message, status=404)
    return console.render(request, "form.html", facts=facts, tabs=views.TABS, mode=facts["mode"])


def _manifest(domain: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "JupyterContainer",
        "metadata": {"name": name, "namespace": domain},
        "spec": spec,
    }


TAB_FIELDS = {
    "General": ("name", "bundle", "namespace", "instanceType", "volume", "volumeSize", "image"),
    "Configurations": ("env", "args"),
    "Tags": ("tags",),
}


async def check_tab(request: web.Request) -> web.StreamResponse:
    """Next's validation of one tab (the webhook's rules from the same pure functions)."""
    console = request.app[CONSOLE]
    principal = _principal(request)
    domain = request.match_info["domain"]
    body = await request.json()
    tab = str(body.get("tab", "General"))
    mode = str(body.get("mode", "create"))
    form = views.Form.from_json(body.get("form") or {})
    try:
        spec_dict = form.spec()
    except views.FormError as exc:
        errs = {k: v for k, v in exc.errors.items() if k in TAB_FIELDS.get(tab, ())}
        if errs:
            return web.json_response(
                {"errors": errs, "tabs": views.tabs_with_errors(errs)}, status=422
            )
        spec_dict = {}

    def work(kube: UserKube, repo: Containers) -> dict[str, list[str]]:
        from jupyter_containers.core import validation

        checker = Checker(repo)
        checker.picked_bundle = form.bundle or None
        errors: dict[str, list[str]] = {}
        if tab == "General":
            if mode == "create":
                errors["name"] = checker.name(form.name)
                errors["bundle"] = checker.bundle(form.bundle)
            errors["namespace"] = checker.namespace(form.namespace or domain)
            errors["instanceType"] = checker.instance_type(form.instanceType or None)
            errors["volume"] = checker.volume(form.volume or None)
            errors["volumeSize"] = views.volume_size_errors(
                form.volumeSize, form.volume, checker.volume_spec(form.volume or None)
            )
            errors["image"] = checker.image(form.image or None)
            if not any(errors.values()) and form.instanceType:
                report = checker.quota(
                    form.instanceType,
                    form.volume or None,
                    form.namespace or domain,
                    existing_pvc=mode == "configure",
                    volume_size=form.volumeSize or None,
                )
                if report.message:
                    errors["instanceType"] = errors["volume"] = [report.message]
        else:
            _, problems = validation.spec_problems({**spec_dict, "bundle": form.bundle or "x"})
            grouped = views.field_errors(p.message for p in problems)
            errors = {k: v for k, v in grouped.items() if k in TAB_FIELDS.get(tab, ())}
        return {k: v for k, v in errors.items() if v}

    errors = await console.as_user(principal, domain, work)
    status = 422 if errors else 200
    return web.json_response(
        {"errors": errors, "tabs": views.tabs_with_errors(errors)}, status=status
    )


async def review(request: web.Request) -> web.StreamResponse:
    """Review & Create / Review & Save: a server-side dry run, the warnings and the cost."""
    return await _submit(request, dry_run=True)


async def submit(request: web.Request) -> web.StreamResponse:
    return await _submit(request, dry_run=False)


async def _submit(request: web.Request, *, dry_run: bool) -> web.StreamResponse:
    console = request.app[CONSOLE]
    principal = _principal(request)
    domain = request.match_info["domain"]
    body = await request.json()
    mode = str(body.get("mode", "create"))
    form = views.Form.from_json(body.get("form") or {})

    def work(kube: UserKube, repo: Containers) -> web.Response:
        try:
            if mode == "configure":
                result = _configure(repo, form, body.get("generation"), dry_run=dry_run)
            else:
                result = _create(repo, domain, form, dry_run=dry_run)
        except views.FormError as exc:
            return _error_json_grouped(exc.errors)
        except (CliError, ApiError) as exc:
            return _error_json(_messages(exc))
        if isinstance(result, web.Response):
            return result
        spec = result.get("spec") or {}
        cost, readable = _cost(Checker(repo), spec, domain, mode) if dry_run else ([], True)
        return web.json_response(
            {
                "ok": True,
                "warnings": kube.warnings,
                "cost": cost,
                "quotaReadable": readable,
                "spec": spec,
                "url": views.detail_url(domain, result["metadata"]["name"]),
            }
        )

    return await console.as_user(principal, domain, work)


def _error_json_grouped(errors: dict[str, list[str]]) -> web.Response:
    return web.json_response({"errors": errors, "tabs": views.tabs_with_errors(errors)}, status=422)


def _configure(
    repo: Containers, form: views.Form, seen: Any, *, dry_run: bool
) -> dict[str, Any] | web.Response:
    """Review & Save: a dry-run replace, then (Save) the replace, as the user."""
    current = repo.get(form.name)
    conflict = views.changed_meanwhile(form.name, seen, current)
    if conflict is not None:
        return _error_json([conflict], status=409)
    obj = views.configured(current, form)
    result = repo.replace(obj, dry_run=True)
    return result if dry_run else repo.replace(obj)


def _create(
    repo: Containers, domain: str, form: views.Form, *, dry_run: bool
) -> dict[str, Any] | web.Response:
    """Review & Create: a dry-run create, then (Create) the create, as the user."""
    spec_dict = form.spec()
    if not form.name:
        return _error_json(["Name is required."])
    manifest = _manifest(domain, form.name, spec_dict)
    result = repo.create(manifest, dry_run=True)
    return result if dry_run else repo.create(manifest)


def _cost(
    checker: Checker, spec: dict[str, Any], domain: str, mode: str
) -> tuple[list[dict[str, Any]], bool]:
    """The Resource Summary: the container's cost against the quotas it would use."""
    report = checker.quota(
        spec.get("instanceType") or checker.default_instance_type() or "",
        spec.get("volume"),
        spec.get("namespace") or domain,
        existing_pvc=mode == "configure",
        volume_size=spec.get("volumeSize"),
    )
    return views.cost_rows(report.lines), report.readable


# ---------------------------------------------------------------- actions


async def action(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    principal = _principal(request)
    domain, name = _domain_name(request)
    verb = request.match_info["action"]

    def work(kube: UserKube, repo: Containers) -> web.Response:
        try:
            if verb == "start":
                repo.set_running(name, True, start_request=timefmt.rfc3339(timefmt.now_utc()))
            elif verb == "terminate":
                repo.set_running(name, False)
            elif verb == "delete":
                repo.delete(name)
            else:
                raise web.HTTPNotFound()
        except CliError as exc:
            return web.json_response({"error": exc.message}, status=422)
        return web.json_response({"ok": True, "warnings": kube.warnings})

    return await console.as_user(principal, domain, work)


async def bundle_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    return console.render(request, "bundle.html", domain=request.match_info["domain"])


async def create_bundle(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    principal = _principal(request)
    domain = request.match_info["domain"]
    body = await request.json()
    name = str(body.get("name", "")).strip()
    description = str(body.get("description", "")).strip()

    def work(kube: UserKube, repo: Containers) -> web.Response:
        who = kube.identity
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "ResourceBundle",
            "metadata": {"name": name, "namespace": domain},
            "spec": {
                "owner": who.username,
                **({"description": description} if description else {}),
            },
        }
        try:
            repo.client.create(ResourceBundle(manifest), namespace=domain)  # type: ignore[call-overload]
        except ApiError as exc:
            return web.json_response({"errors": {"name": _messages(exc)}}, status=422)
        return web.json_response(
            {"ok": True, "url": f"/containers/new?domain={domain}&bundle={name}"}
        )

    return await console.as_user(principal, domain, work)


# ---------------------------------------------------------------- logs


async def logs(request: web.Request) -> web.StreamResponse:
    """The pod's log as the user: a time range, streaming (follow), or a file download."""
    console = request.app[CONSOLE]
    principal = _principal(request)
    domain, name = _domain_name(request)
    download = request.query.get("download") == "1"
    try:
        params, until_time = views.log_query(request.query, timefmt.now_utc())
    except UsageError as exc:
        return web.json_response({"error": exc.message}, status=400)
    found = await console.as_user(principal, domain, lambda _, repo: _locate_pod(repo, name))
    if isinstance(found, str):
        return web.json_response({"error": found}, status=404)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/plain; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.log"'
    await response.prepare(request)
    path = f"/api/v1/namespaces/{found[0]}/pods/{found[1]}/log"
    await _relay_log(console, principal, domain, response, path, params, until_time)
    await response.write_eof()
    return response


def _locate_pod(repo: Containers, name: str) -> tuple[str, str] | str:
    """(namespace, pod) of the container's log, or why there is none."""
    try:
        jc = repo.get(name)
        namespace = selection.deployment_namespace(jc)
        pods = repo.pods(jc, namespace)
    except CliError as exc:
        return exc.message
    pod = views.log_pod(jc, [p["metadata"]["name"] for p in pods])
    if pod is None:
        return f"'{name}' has no pod (it is not running), so there are no logs to show."
    return namespace, pod


async def _relay_log(
    console: Console,
    principal: Principal,
    domain: str,
    response: web.StreamResponse,
    path: str,
    params: dict[str, Any],
    until_time: Any,
) -> None:
    """Read the log in a thread (as the user) and write each line as it comes."""
    queue: asyncio.Queue[str | None] = asyncio.Queue(1000)
    loop = asyncio.get_running_loop()
    stop = False

    def put(line: str | None) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(line), loop).result()

    def pump(kube: UserKube, _: Containers) -> None:
        try:
            with kube.stream(path, params) as resp:
                lines = cli_logs.until_filter(resp.iter_lines(), until_time, keep_timestamps=True)
                for line in lines:
                    if stop:
                        return
                    put(line)
        except (CliError, ApiError) as exc:
            message = exc.message if isinstance(exc, CliError) else "; ".join(api_messages(exc))
            put(f"[console] {message}")
        finally:
            put(None)

    task = asyncio.ensure_future(console.as_user(principal, domain, pump))
    try:
        while (line := await queue.get()) is not None:
            await response.write((line + "\n").encode())
    except (ConnectionResetError, asyncio.CancelledError):
        stop = True
        raise
    finally:
        stop = True
        if not task.done():
            task.cancel()


# ---------------------------------------------------------------- live status


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the one watch's changes for the domains this user may list."""
    console = request.app[CONSOLE]
    principal = _principal(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    # Subscribed before the user's domains are known (access reviews: slow with many
    # namespaces), so a change meanwhile (a delete just clicked) is kept, not lost.
    async with console.hub.subscribe(None) as sub:
        try:
            domains: frozenset[str] | None = frozenset(await console.domains(principal))
        except ApiDown:
            domains = None
        shown = [
            (part.partition("/")[0], part.partition("/")[2])
            for part in request.query.get("shown", "").split(",")[:500]
            if "/" in part
        ]
        with contextlib.suppress(ConnectionResetError):  # the browser went away
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            up = console.hub.api_up and domains is not None
            await response.write(f"event: api\ndata: {json.dumps({'up': up})}\n\n".encode())
            # Without domains (API down) the browser reconnects after `retry` and asks again.
            if domains is not None:
                await _relay(response, console.hub, sub, domains, shown)
    return response


async def _relay(
    response: web.StreamResponse,
    hub: Hub,
    sub: Subscriber,
    domains: frozenset[str],
    shown: list[tuple[str, str]],
) -> None:
    for message in hub.snapshot(shown, domains):
        await response.write(f"event: container\ndata: {json.dumps(message)}\n\n".encode())
    while not sub.lagged:  # lagged: the browser reconnects and gets a snapshot
        try:
            message = await asyncio.wait_for(sub.queue.get(), timeout=15)
        except TimeoutError:
            await response.write(b": keep-alive\n\n")
            continue
        if message["type"] == "api":
            await response.write(f"event: api\ndata: {json.dumps(message)}\n\n".encode())
        elif message["container"]["domain"] in domains:
            await response.write(f"event: container\ndata: {json.dumps(message)}\n\n".encode())


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


# ---------------------------------------------------------------- the application


def make_app(settings: ConsoleSettings) -> web.Application:
    from jupyter_containers.console import proxy

    console = Console(settings)
    app = web.Application(middlewares=[auth_middleware], client_max_size=1024**2)
    app[CONSOLE] = console
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_get("/logout", logout)
    app.router.add_get("/containers", list_page)
    app.router.add_get("/containers/new", form_page)
    app.router.add_get("/domains/{domain}/bundles/new", bundle_page)
    app.router.add_get("/domains/{domain}/containers/{name}", detail_page)
    app.router.add_get("/domains/{domain}/containers/{name}/configure", form_page)
    app.router.add_post("/api/domains/{domain}/bundles", create_bundle)
    app.router.add_post("/api/domains/{domain}/check", check_tab)
    app.router.add_post("/api/domains/{domain}/review", review)
    app.router.add_post("/api/domains/{domain}/submit", submit)
    app.router.add_post("/api/domains/{domain}/containers/{name}/{action}", action)
    app.router.add_get("/api/domains/{domain}/containers/{name}/logs", logs)
    app.router.add_get("/api/stream", stream)
    app.router.add_static("/static/", HERE / "static")
    proxy.add_routes(app, console)

    async def on_startup(_: web.Application) -> None:
        console.hub.start()

    async def on_cleanup(_: web.Application) -> None:
        await console.hub.stop()
        await proxy.close(app)

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    settings = ConsoleSettings()
    if settings.dev_login:
        log.warning(
            "DEVELOPMENT SIGN-IN IS ON (JC_CONSOLE_DEV_LOGIN): anyone who reaches %s:%s can "
            "act as %s. Never use this outside a local test cluster.",
            settings.host,
            settings.port,
            settings.dev_users,
        )
    app = make_app(settings)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.info("Jupyter Containers console on http://%s:%s/", shown, settings.port)
    web.run_app(app, host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    main()
