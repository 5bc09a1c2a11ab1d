"""API clients: one per request acting as the signed-in user, and the console's own.

`UserKube` is the plugin's `Kube` (so the plugin's `Containers` and `Checker` work on it
unchanged), built from the console's credentials plus Impersonate-User/Impersonate-Group,
or with the user's own bearer token instead. The API server's Warning headers (admission
warnings such as the data-loss warning) are collected for the page instead of printed.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx2
from lightkube import Client, KubeConfig
from lightkube.config.kubeconfig import SingleConfig

from jupyter_containers.cli.cluster import _WARNING, ClusterOptions, Kube
from jupyter_containers.console.identity import Principal

FIELD_MANAGER = "jupyter-containers-console"


def load_config(context: str | None) -> SingleConfig:
    """The console's own credentials: KUBECONFIG's context, else the in-cluster ServiceAccount."""
    if os.environ.get("KUBECONFIG"):
        path = next(p for p in os.environ["KUBECONFIG"].split(os.pathsep) if Path(p).is_file())
        return KubeConfig.from_file(path).get(context_name=context)
    return KubeConfig.from_env().get(context_name=context)


class UserKube(Kube):
    """The plugin's Kube for one request of one user in one domain."""

    def __init__(
        self, config: SingleConfig, principal: Principal, domain: str, timeout: float
    ) -> None:
        self.opts = ClusterOptions(
            namespace=domain,
            as_user=None if principal.token else principal.username,
            as_groups=() if principal.token else principal.groups,
            request_timeout=timeout,
        )
        self.config = config
        self.domain = domain
        self.client = Client(
            config,
            namespace=domain,
            field_manager=FIELD_MANAGER,
            timeout=httpx2.Timeout(timeout),
        )
        self._warned: set[str] = set()
        self.warnings: list[str] = []
        http = self.http
        headers = [(k, v) for k, v in http.headers.multi_items() if k.lower() != "authorization"]
        if principal.token:
            headers.append(("Authorization", f"Bearer {principal.token}"))
        else:
            headers += [
                (k, v) for k, v in http.headers.multi_items() if k.lower() == "authorization"
            ]
            headers.append(("Impersonate-User", principal.username))
            headers += [("Impersonate-Group", group) for group in principal.groups]
        http.headers = httpx2.Headers(headers)
        http.event_hooks = {"request": [], "response": [self._collect_warnings]}

    def _collect_warnings(self, response: httpx2.Response) -> None:
        for value in response.headers.get_list("warning"):
            match = _WARNING.match(value)
            text = match.group(1).replace('\\"', '"') if match else value
            if text not in self.warnings:
                self.warnings.append(text)


def own_client(config: SingleConfig, timeout: float) -> Client:
    """The console's own identity: the watch, namespaces, and JupyterLab tokens."""
    return Client(config, field_manager=FIELD_MANAGER, timeout=httpx2.Timeout(timeout))
