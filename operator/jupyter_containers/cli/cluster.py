"""The plugin's API client: kubeconfig, context, namespace and impersonation as in kubectl.

`--as`/`--as-group` become the `Impersonate-User`/`Impersonate-Group` headers, and the
API server's `Warning` headers (admission warnings, e.g. the data-loss warning of a
namespace or volume change) are printed the way kubectl prints them.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import httpx2
from lightkube import ApiError, Client, ConfigError, KubeConfig
from lightkube.config.kubeconfig import SingleConfig
from lightkube.resources.authentication_v1 import SelfSubjectReview
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview

from jupyter_containers.cli import render
from jupyter_containers.cli.errors import CliError, from_api_error
from jupyter_containers.core.validation import Identity

FIELD_MANAGER = "kubectl-jupyter"
# RFC 7234 warn-code, agent, quoted text: the API server sends `299 - "text"`.
_WARNING = re.compile(r'^\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class ClusterOptions:
    """kubectl's connection flags."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    as_user: str | None = None
    as_groups: tuple[str, ...] = ()
    request_timeout: float = 30.0

    def kubectl_args(self) -> list[str]:
        """The same settings as kubectl flags, for the subprocesses the plugin runs."""
        args = []
        if self.kubeconfig:
            args += ["--kubeconfig", self.kubeconfig]
        if self.context:
            args += ["--context", self.context]
        if self.as_user:
            args += ["--as", self.as_user]
        for group in self.as_groups:
            args += ["--as-group", group]
        return args


def load_config(opts: ClusterOptions) -> SingleConfig:
    """The selected context of the kubeconfig kubectl would use."""
    try:
        if opts.kubeconfig:
            config = KubeConfig.from_file(opts.kubeconfig)
        elif os.environ.get("KUBECONFIG"):
            # kubectl merges a list of files; the first existing one is the usual case.
            paths = [p for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
            existing = [p for p in paths if Path(p).expanduser().is_file()]
            if not existing:
                raise CliError(f"KUBECONFIG names no existing file: {os.environ['KUBECONFIG']}")
            config = KubeConfig.from_file(existing[0])
        else:
            config = KubeConfig.from_env()
        single = config.get(context_name=opts.context)
    except ConfigError as exc:
        raise CliError(
            f"kubeconfig: {exc}", hint="Check --kubeconfig, KUBECONFIG and --context."
        ) from None
    if single is None:  # pragma: no cover - get() raises instead
        raise CliError("kubeconfig: no context selected; pass --context.")
    return single


class Kube:
    """One lightkube Client for the command, with the domain (namespace) it works in."""

    def __init__(self, opts: ClusterOptions) -> None:
        self.opts = opts
        self.config = load_config(opts)
        self.domain: str = opts.namespace or self.config.namespace
        self.client = Client(
            self.config,
            namespace=self.domain,
            field_manager=FIELD_MANAGER,
            timeout=httpx2.Timeout(opts.request_timeout),
        )
        self._warned: set[str] = set()
        http = self.http
        headers = list(http.headers.multi_items())
        if opts.as_user:
            headers.append(("Impersonate-User", opts.as_user))
        headers += [("Impersonate-Group", group) for group in opts.as_groups]
        http.headers = httpx2.Headers(headers)
        http.event_hooks = {"request": [], "response": [self._print_warnings]}

    @property
    def http(self) -> httpx2.Client:
        """The HTTP client under lightkube's Client.

        lightkube has no per-client headers (impersonation), no response hooks (warnings)
        and no sinceTime/previous for logs, so those go through its httpx client, which
        already carries the kubeconfig's TLS and credentials.
        """
        http: httpx2.Client = self.client._client._client
        return http

    def already_shown(self, warnings: list[str]) -> None:
        """Warnings the user has read (e.g. in a confirmation): not printed again."""
        self._warned.update(warnings)

    def _print_warnings(self, response: httpx2.Response) -> None:
        for value in response.headers.get_list("warning"):
            match = _WARNING.match(value)
            text = match.group(1).replace('\\"', '"') if match else value
            if text not in self._warned:
                self._warned.add(text)
                render.warning(text)

    @cached_property
    def identity(self) -> Identity:
        """Who the API server says we are (after impersonation)."""
        with api_errors("your user (SelfSubjectReview)"):
            review = self.client.create(SelfSubjectReview())
        info = review.status.userInfo if review.status else None
        if info is None or not info.username:
            raise CliError("The API server did not say who you are (SelfSubjectReview was empty).")
        return Identity(username=info.username, groups=frozenset(info.groups or ()))

    def can(self, verb: str, resource: str, namespace: str, group: str = "") -> bool:
        """SelfSubjectAccessReview: may the current user do `verb` on `resource` in `namespace`?"""
        review = SelfSubjectAccessReview.from_dict(  # typed as its DictMixin base
            {
                "spec": {
                    "resourceAttributes": {
                        "verb": verb,
                        "resource": resource,
                        "group": group,
                        "namespace": namespace,
                    }
                }
            }
        )
        with api_errors("an access review"):
            result = self.client.create(cast(SelfSubjectAccessReview, review))
        return bool(result.status and result.status.allowed)

    @contextlib.contextmanager
    def stream(self, path: str, params: dict[str, Any]) -> Iterator[httpx2.Response]:
        """A streaming GET (no read timeout: log follow and watches wait for data)."""
        timeout = httpx2.Timeout(self.opts.request_timeout, read=None)
        with self.http.stream("GET", path, params=params, timeout=timeout) as response:
            if response.is_error:
                response.read()
                raise_api_error(response)
            yield response

    def close(self) -> None:
        self.client.close()


def raise_api_error(response: httpx2.Response) -> None:
    try:
        response.json()
    except ValueError:
        raise CliError(
            f"API server answered {response.status_code}: {response.text.strip()}"
        ) from None
    raise ApiError(request=response.request, response=response)


@contextlib.contextmanager
def api_errors(what: str, domain: str | None = None) -> Iterator[None]:
    """Turn API errors about `what` into messages for the user."""
    try:
        yield
    except ApiError as err:
        raise from_api_error(err, what=what, domain=domain) from None


@dataclass
class State:
    """Per-invocation state kept in the click context: the options and a lazily made client."""

    opts: ClusterOptions = field(default_factory=ClusterOptions)
    _kube: Kube | None = None

    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube(self.opts)
        return self._kube

    def close(self) -> None:
        if self._kube is not None:
            self._kube.close()
