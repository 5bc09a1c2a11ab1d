"""Admission webhooks as production has them: configurations installed once, not by the operator.

The Helm chart installs the Validating/MutatingWebhookConfigurations and runs the operator with
JC_WEBHOOK_MANAGED=false. The benchmark does the same without the chart: an operator in managed
mode (local development) writes the configurations once, they are copied under another name,
and the measured operator then runs unmanaged with the same certificate directory and port.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from jcbench.cluster import BenchCluster
from jcbench.operator_proc import OperatorProcess
from jupyter_containers.api.models import GROUP

#: The name the operator gives the configurations it manages (admission.WEBHOOK_CONFIGURATION;
#: not imported: that module registers kopf handlers on import).
WEBHOOK_CONFIGURATION = GROUP

INSTALLED = "jc-bench-installed"
KINDS = ("validatingwebhookconfiguration", "mutatingwebhookconfiguration")


def install(cluster: BenchCluster, out: Path, cert_dir: Path, port: int) -> None:
    """Install configurations pointing at an operator on `port` serving `cert_dir`'s cert."""
    installer = OperatorProcess(
        cluster.env, out, webhook_managed=True, cert_dir=cert_dir, webhook_port=port
    )
    installer.log_name = "webhook-installer"
    installer.start()
    try:
        copies = [_copy(_wait_for_webhooks(cluster, kind)) for kind in KINDS]
    finally:
        installer.stop()
    cluster.kubectl(
        "apply", "-f", "-", input=json.dumps({"kind": "List", "apiVersion": "v1", "items": copies})
    )


def uninstall(cluster: BenchCluster) -> None:
    for kind in KINDS:
        cluster.kubectl("delete", kind, INSTALLED, "--ignore-not-found")


def _wait_for_webhooks(cluster: BenchCluster, kind: str, limit: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        found = cluster.kubectl("get", kind, "-o", "json", "--ignore-not-found")
        for item in json.loads(found or '{"items": []}')["items"]:
            if item["metadata"]["name"] == WEBHOOK_CONFIGURATION and item.get("webhooks"):
                return item
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator did not write its {kind} within {limit:.0f}s")
        time.sleep(0.5)


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": INSTALLED},
        "webhooks": obj["webhooks"],
    }
