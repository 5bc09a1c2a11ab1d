"""`open`: port-forward to the container's Service and print the JupyterLab URL with its token.

The forward is `kubectl port-forward` in a subprocess, with the same kubeconfig,
context and impersonation as the plugin.
"""

from __future__ import annotations

import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import webbrowser
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.text import Text

from jupyter_containers.api import rules
from jupyter_containers.api.models import Phase
from jupyter_containers.cli import render, selection
from jupyter_containers.cli.containers import Containers
from jupyter_containers.cli.errors import CliError
from jupyter_containers.cli.options import NameArg, cluster_options, state_of
from jupyter_containers.core.settings import Settings

BASE_URL_ARG = "--ServerApp.base_url="
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


def base_url_of(deployment: Mapping[str, Any] | None, jc: Mapping[str, Any]) -> str:
    """The base URL JupyterLab runs with: the Deployment's argument, else the default template."""
    if deployment:
        pod_spec = deployment.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod_spec.get("containers") or []:
            for arg in [*(container.get("command") or []), *(container.get("args") or [])]:
                if arg.startswith(BASE_URL_ARG):
                    url = str(arg).removeprefix(BASE_URL_ARG)
                    return url if url.endswith("/") else url + "/"
    meta = jc["metadata"]
    template = str(Settings.model_fields["base_url_template"].default)
    return template.format(
        domain=meta["namespace"], name=meta["name"], namespace=selection.deployment_namespace(jc)
    )


def lab_url(port: int, base_url: str, token: str) -> str:
    return f"http://127.0.0.1:{port}{base_url}lab?token={quote(token, safe='')}"


def service_port(service: Mapping[str, Any] | None) -> int:
    ports = (service or {}).get("spec", {}).get("ports") or []
    return int(ports[0]["port"]) if ports else rules.JUPYTER_PORT


def port_forward_command(
    kubectl: str, kubectl_args: Sequence[str], namespace: str, service: str, local: int, remote: int
) -> list[str]:
    return [
        kubectl,
        *kubectl_args,
        "port-forward",
        "--namespace",
        namespace,
        "--address",
        "127.0.0.1",
        f"service/{service}",
        f"{local or ''}:{remote}",
    ]


def _read_lines(stream: Any, sink: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):
        sink.put(line)
    sink.put(None)


OPEN_EPILOG = """Examples:
  kubectl jupyter open nb1                 # prints http://127.0.0.1:PORT/.../lab?token=...
  kubectl jupyter open nb1 --port 8888 --browser
"""


@cluster_options
def open_lab(
    ctx: typer.Context,
    name: NameArg,
    port: Annotated[int, typer.Option(help="Local port (0: any free port).", min=0, max=65535)] = 0,
    browser: Annotated[
        bool, typer.Option("--browser", help="Also open the URL in a web browser.")
    ] = False,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for kubectl port-forward to listen.", min=1)
    ] = 30,
) -> None:
    """Port-forward to JupyterLab and print its URL with the token (Ctrl-C stops)."""
    state = state_of(ctx)
    kube = state.kube()
    repo = Containers(kube)
    jc = repo.get(name)
    status = jc.get("status") or {}
    phase = status.get("phase")
    if phase != Phase.ACTIVE:
        hint = (
            f"Start it with: kubectl jupyter start {name}"
            if phase in (Phase.STOPPED, Phase.FAILED)
            else f"Wait for it: kubectl jupyter watch {name} --until Active"
        )
        raise CliError(
            f"'{name}' is {phase or 'not started yet'}: JupyterLab opens when it is Active.",
            hint=hint,
        )
    namespace = selection.deployment_namespace(jc)
    service_name = status.get("serviceName")
    secret_name = status.get("tokenSecret")
    if not service_name or not secret_name:
        raise CliError(f"'{name}' reports no Service or token Secret yet; try again in a moment.")
    service = repo.service(service_name, namespace)
    token = repo.token(secret_name, namespace)
    base_url = base_url_of(repo.deployment(jc, namespace), jc)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise CliError("kubectl is not on PATH; `open` runs kubectl port-forward.")
    command = port_forward_command(
        kubectl,
        state.opts.kubectl_args(),
        namespace,
        service_name,
        port,
        service_port(service),
    )
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    out_lines: queue.Queue[str | None] = queue.Queue()
    err_lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, out_lines), daemon=True).start()
    threading.Thread(target=_read_lines, args=(process.stderr, err_lines), daemon=True).start()
    err = render.console(stderr=True)
    # `timeout`, systemd or a test stopping the command: end the forward like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        local = _wait_listening(process, out_lines, ready_timeout)
        if local is None:
            process.terminate()
            errors = _drain(err_lines)
            raise CliError(
                "kubectl port-forward did not start: "
                + (" ".join(errors) or f"exit code {process.poll()}")
            )
        url = lab_url(local, base_url, token)
        render.console().print(Text(url, style="bold"), soft_wrap=True)
        err.print(
            Text(
                f"Forwarding 127.0.0.1:{local} to service/{service_name} in {namespace}. "
                "Ctrl-C stops.",
                style="dim",
            )
        )
        if browser:
            webbrowser.open(url)
        while process.poll() is None:
            try:
                line = err_lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line:
                # kubectl reports broken connections here; the forward itself goes on.
                err.print(Text(line.rstrip(), style="dim"))
        if process.returncode not in (0, None):
            raise CliError(f"kubectl port-forward exited with code {process.returncode}.")
    except KeyboardInterrupt:
        pass
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _wait_listening(
    process: subprocess.Popen[str], lines: queue.Queue[str | None], timeout: float
) -> int | None:
    """The local port once kubectl prints 'Forwarding from 127.0.0.1:PORT', else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if process.poll() is not None:
                return None
            continue
        if line is None:
            return None
        match = _FORWARDING.search(line)
        if match:
            return int(match.group(1))
    return None


def _drain(lines: queue.Queue[str | None]) -> list[str]:
    found: list[str] = []
    while True:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            return found
        if line is None:
            return found
        found.append(line.strip())
