"""`jupyter-containers-operator`: run the operator against the current kubeconfig or in-cluster."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import kopf
import uvloop
from prometheus_client import start_http_server

from jupyter_containers.core.settings import load_settings
from jupyter_containers.shell import (
    health,  # also registers the liveness probe
    kopf_fixes,
    metrics,
    roles,
)
from jupyter_containers.shell.context import BOOT_KEY, Boot


def _configure_logging(fmt: str, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    if fmt == "json":
        # kopf ships a JSON formatter with the object reference in each line.
        from kopf._core.engines.loggers import ObjectJsonFormatter

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(ObjectJsonFormatter())
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        logging.basicConfig(
            level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
        )
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("kopf.objects").setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="jupyter-containers-operator",
        description="Run the Jupyter Containers operator (settings: JC_* environment variables).",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=None,
        help="watch only these namespaces (repeatable); default: JC_WATCH_NAMESPACES or all",
    )
    parser.add_argument(
        "--role",
        choices=sorted(roles.ROLES),
        default="all",
        help="reconciler: the watches and the reconciler; admission: the admission webhooks "
        "only; all (default): both in this one process (the chart runs the two as containers "
        "of one pod)",
    )
    args = parser.parse_args(argv)
    roles.register(args.role)
    settings = load_settings()
    _configure_logging(settings.log_format, args.verbose)
    namespaces = args.namespace or list(settings.watch_namespaces)
    kopf_fixes.install()
    heartbeats = health.WatchHeartbeats()
    health.install(heartbeats)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, registry=metrics.registry)
    # uvloop, as kopf's own CLI does when it is installed: the operator is one event loop,
    # and at a burst of creations its per-callback cost is what pod readiness waits behind.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(
            kopf.operator(
                standalone=True,
                memo=kopf.Memo({BOOT_KEY: Boot(settings, heartbeats, args.role)}),
                clusterwide=not namespaces,
                namespaces=namespaces,
                liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz"
                if settings.health_port
                else None,
            )
        )


if __name__ == "__main__":
    main()
