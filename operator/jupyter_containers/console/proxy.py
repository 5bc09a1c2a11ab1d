"""Open JupyterLab: `/jupyter/{domain}/{name}/...` (HTTP and websockets) to the container.

Who may open is the API server's decision, not the console's: opening runs code as the
container, which is what the bundle's `update` permission already allows (an updater can
change the image and arguments). So the console asks the admission webhook, as the user,
with a server-side dry-run patch of the container's metadata (an annotation change needs
`update`, see validation.required_permissions); nothing is stored. Only then does it read
the token Secret with its own identity and add the token to the upstream request, so the
user never sees it and needs no right on Secrets, Services or port-forward.

The upstream is the Service's EndpointSlice (pod IP and port: works without kube-proxy)
or the Service's cluster DNS name (JC_CONSOLE_UPSTREAM=service, inside a cluster).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from lightkube import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from jupyter_containers.api import rules
from jupyter_containers.cli import selection
from jupyter_containers.console.config import Upstream
from jupyter_containers.console.userkube import own_client
from jupyter_containers.core import naming
from jupyter_containers.shell.resources import JupyterContainer

if TYPE_CHECKING:
    from jupyter_containers.console.server import Console

OPEN_CHECK_ANNOTATION = "console.jupytercontainers.io/open-check"
EndpointSlice = create_namespaced_resource(
    "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"
)
SESSION = web.AppKey("proxy_session", aiohttp.ClientSession)
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "content-length",
}
ACCESS_SECONDS = 30.0


class Target:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token


def upstream_url(
    mode: Upstream,
    service: str,
    namespace: str,
    port: int,
    endpoints: list[dict[str, Any]],
    cluster_domain: str,
) -> str | None:
    """Where JupyterLab listens: a ready endpoint's IP, or the Service's DNS name."""
    if mode is Upstream.SERVICE:
        return f"http://{service}.{namespace}.svc.{cluster_domain}:{port}"
    for slice_ in endpoints:
        ports = slice_.get("ports") or []
        target_port = int(ports[0].get("port") or port) if ports else port
        for endpoint in slice_.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                host = f"[{address}]" if ":" in address else address
                return f"http://{host}:{target_port}"
    return None


def add_routes(app: web.Application, console: Console) -> None:
    proxy = LabProxy(app, console)

    async def on_startup(_: web.Application) -> None:
        app[SESSION] = aiohttp.ClientSession(auto_decompress=True)

    app.on_startup.append(on_startup)
    app.router.add_route("*", "/jupyter/{domain}/{name}/{tail:.*}", proxy.handle)


class LabProxy:
    """The route's handler: the user's right to open, the upstream and its token, the relay."""

    def __init__(self, app: web.Application, console: Console) -> None:
        self.app = app
        self.console = console
        #: When each (user, container) was last judged allowed to open: reused for a while, so
        #: a page's many requests cost one access check.
        self.access: dict[str, float] = {}

    async def may_open(self, request: web.Request, domain: str, name: str) -> str | None:
        """None when the API server lets the user update (so open) the container; else why not."""
        principal = request["principal"]
        key = f"{principal.key}:{domain}:{name}"
        if time.monotonic() - self.access.get(key, 0) < ACCESS_SECONDS:
            return None

        def work(kube: Any, repo: Any) -> str | None:
            patch = {"metadata": {"annotations": {OPEN_CHECK_ANNOTATION: str(time.time())}}}
            try:
                kube.client.patch(
                    JupyterContainer,
                    name,
                    patch,
                    namespace=domain,
                    patch_type=PatchType.MERGE,
                    dry_run=True,
                )
            except ApiError as exc:
                from jupyter_containers.cli.errors import api_messages

                return "; ".join(api_messages(exc))
            return None

        refused = await self.console.as_user(principal, domain, work)
        if refused is None:
            self.access[key] = time.monotonic()
        return refused

    async def target(self, domain: str, name: str) -> Target | str:
        """Where the container's JupyterLab answers, with its token (the console's identity)."""
        return await asyncio.to_thread(self._target, domain, name)

    def _target(self, domain: str, name: str) -> Target | str:
        settings = self.console.settings
        client = own_client(self.console.config, settings.request_timeout)
        try:
            jc = client.get(JupyterContainer, name, namespace=domain)
            data = jc if isinstance(jc, dict) else jc.to_dict()
            if (data.get("status") or {}).get("phase") != "Active":
                return f"Jupyter container '{name}' is not Active; start it first."
            namespace = selection.deployment_namespace(data)
            base = naming.base_name(name, domain, namespace)
            secret = client.get(Secret, naming.token_secret_name(base), namespace=namespace)
            token = base64.b64decode((secret.data or {}).get("token", "")).decode()
            slices = [
                s if isinstance(s, dict) else s.to_dict()
                for s in client.list(
                    EndpointSlice,
                    namespace=namespace,
                    labels={"kubernetes.io/service-name": base},
                )
            ]
        except ApiError as exc:
            return f"JupyterLab of '{name}' cannot be reached: {exc.status.message}"
        finally:
            client.close()
        url = upstream_url(
            settings.upstream, base, namespace, rules.JUPYTER_PORT, slices, settings.cluster_domain
        )
        if url is None:
            return f"JupyterLab of '{name}' has no ready endpoint yet."
        return Target(url, token)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        domain, name = request.match_info["domain"], request.match_info["name"]
        refused = await self.may_open(request, domain, name)
        if refused is not None:
            return web.Response(status=403, text=refused, content_type="text/plain")
        found = await self.target(domain, name)
        if isinstance(found, str):
            return web.Response(status=502, text=found, content_type="text/plain")
        upstream = found.url + request.rel_url.raw_path_qs
        headers = upstream_headers(request.headers, found.token)
        session = self.app[SESSION]
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await _websocket(request, session, upstream, headers)
        return await _http(request, session, upstream, headers)


def upstream_headers(incoming: Mapping[str, str], token: str) -> dict[str, str]:
    """The request's headers for JupyterLab: no hop-by-hop ones, none of the user's own
    credentials (cookie, authorization), and the container's token added here."""
    headers = {
        k: v for k, v in incoming.items() if k.lower() not in HOP_HEADERS and k.lower() != "cookie"
    }
    headers["Authorization"] = f"token {token}"
    return headers


async def _http(
    request: web.Request, session: aiohttp.ClientSession, upstream: str, headers: dict[str, str]
) -> web.StreamResponse:
    body = await request.read()
    async with session.request(
        request.method, upstream, headers=headers, data=body, allow_redirects=False
    ) as resp:
        out = web.StreamResponse(status=resp.status)
        for key, value in resp.headers.items():
            if key.lower() not in HOP_HEADERS and key.lower() != "content-encoding":
                out.headers.add(key, value)
        await out.prepare(request)
        async for chunk in resp.content.iter_any():
            await out.write(chunk)
        await out.write_eof()
        return out


async def _websocket(
    request: web.Request, session: aiohttp.ClientSession, upstream: str, headers: dict[str, str]
) -> web.StreamResponse:
    headers = {
        k: v
        for k, v in headers.items()
        if not k.lower().startswith("sec-websocket") and k.lower() != "origin"
    }
    protocols = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    ws_url = "ws" + upstream.removeprefix("http")
    async with session.ws_connect(ws_url, headers=headers, protocols=protocols) as remote:
        local = web.WebSocketResponse(protocols=protocols)
        await local.prepare(request)

        async def pipe(src: Any, dst: Any) -> None:
            async for msg in src:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await dst.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await dst.send_bytes(msg.data)
                else:
                    break

        tasks = [
            asyncio.ensure_future(pipe(local, remote)),
            asyncio.ensure_future(pipe(remote, local)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await remote.close()
        await local.close()
        return local


async def close(app: web.Application) -> None:
    if SESSION in app:
        await app[SESSION].close()
