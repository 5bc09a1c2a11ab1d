"""Admission asked all the time: a thread of server-side dry-run creates, each judged or refused."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource

from tests.cluster.conftest import container_manifest
from tests.conftest import Cluster

JupyterContainer = create_namespaced_resource(
    "jupytercontainers.io", "v1alpha1", "JupyterContainer", "jupytercontainers"
)


class AdmissionProbe:
    """A thread asking for server-side dry-run creates until stopped.

    Valid ones must be allowed, invalid ones (an unknown instance type) refused by the
    webhook's own judgement; anything else (the webhook unreachable, a timeout) is a refusal
    the test counts, with the monotonic times the request was sent and answered.
    """

    def __init__(self, cluster: Cluster, namespace: str, bundle: str) -> None:
        # Its own client: the test's thread uses the session's meanwhile.
        config = KubeConfig.from_file(cluster.kubeconfig.split(os.pathsep)[0])
        self.client = Client(config=config.get(context_name=cluster.context))
        self.namespace, self.bundle = namespace, bundle
        self.allowed = 0
        self.judged = 0
        self.refusals: list[tuple[float, float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AdmissionProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            invalid = n % 3 == 0
            spec = {"instanceType": "no-such-type" if invalid else "test-small"}
            body = container_manifest(f"probe-{n}", self.bundle, **spec)
            sent = time.monotonic()
            try:
                self.client.create(
                    JupyterContainer.from_dict(body), namespace=self.namespace, dry_run=True
                )
            except ApiError as err:
                message = str(err.status.message)
                if invalid and "no-such-type" in message and "calling webhook" not in message:
                    self.judged += 1
                else:
                    self.refusals.append((sent, time.monotonic(), message))
            except Exception as exc:  # the API server itself unreachable: count it too
                self.refusals.append((sent, time.monotonic(), repr(exc)))
            else:
                if invalid:
                    self.refusals.append((sent, time.monotonic(), "invalid request allowed"))
                else:
                    self.allowed += 1
            time.sleep(0.05)


def wait_for(what: str, condition: Any, timeout: float, interval: float = 0.2) -> float:
    """Seconds until `condition()` holds; fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout}s"
        time.sleep(interval)
    return time.monotonic() - start
