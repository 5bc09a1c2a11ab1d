"""Random user operations on a few containers, each as kubectl would do it (through admission).

An operation the webhook or the CRD refuses is an outcome, not an error (e.g. a namespace change
while running); one refused because the webhook is unreachable (the operator was just killed)
is retried until the operator is back.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.conftest import Cluster

VOLUMES = (None, "test-home", "test-home-large")
INSTANCE_TYPES = ("test-small", "test-large")
KINDS = ("create", "configure", "terminate", "start", "delete", "namespace", "volume")
#: Webhook unreachable (operator down): retried.
UNREACHABLE = ("failed calling webhook", "connection refused", "context deadline exceeded")


@dataclass
class Driver:
    cluster: Cluster
    domain: str
    namespaces: tuple[str, ...]  # where containers may deploy (domain first)
    rng: random.Random
    names: tuple[str, ...] = ("a", "b", "c", "d", "e", "f")
    done: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    retries: int = 0

    def _kubectl(self, *args: str, input: str | None = None) -> tuple[bool, str]:
        deadline = time.monotonic() + 90
        while True:
            result = self.cluster.kubectl(*args, input=input, check=False)
            if result.returncode == 0:
                return True, result.stdout
            text = result.stderr + result.stdout
            if "NotFound" in text or "not found" in text:
                return False, text
            if not any(u in text for u in UNREACHABLE) or time.monotonic() > deadline:
                return False, text
            self.retries += 1
            time.sleep(0.5)

    def exists(self, name: str) -> dict[str, Any] | None:
        got = self.cluster.kubectl(
            "get", "jc", name, "-n", self.domain, "-o", "json", "--ignore-not-found", check=False
        )
        if got.returncode != 0 or not got.stdout.strip():
            return None
        obj: dict[str, Any] = json.loads(got.stdout)
        return None if obj["metadata"].get("deletionTimestamp") else obj

    def _patch(self, name: str, **spec: Any) -> tuple[bool, str]:
        body = json.dumps({"spec": spec})
        return self._kubectl("patch", "jc", name, "-n", self.domain, "--type=merge", "-p", body)

    def step(self) -> str:
        """One random operation; returns what it did ("kind name: ok|refused")."""
        name = self.rng.choice(self.names)
        current = self.exists(name)
        kind = "create" if current is None else self.rng.choice(KINDS[1:])
        if kind == "create":
            spec: dict[str, Any] = {
                "bundle": "team",
                "instanceType": self.rng.choice(INSTANCE_TYPES),
                "running": self.rng.random() < 0.7,
                "namespace": self.rng.choice(self.namespaces),
            }
            volume = self.rng.choice(VOLUMES)
            if volume:
                spec["volume"] = volume
            manifest = {
                "apiVersion": "jupytercontainers.io/v1alpha1",
                "kind": "JupyterContainer",
                "metadata": {"name": name},
                "spec": spec,
            }
            ok, out = self._kubectl(
                "create", "-n", self.domain, "-f", "-", input=yaml.safe_dump(manifest)
            )
        elif kind == "configure":
            ok, out = self._patch(name, instanceType=self.rng.choice(INSTANCE_TYPES))
        elif kind == "terminate":
            ok, out = self._patch(name, running=False)
        elif kind == "start":
            ok, out = self._patch(name, running=True)
        elif kind == "delete":
            ok, out = self._kubectl("delete", "jc", name, "-n", self.domain, "--wait=false")
        elif kind == "namespace":
            ok, out = self._patch(name, namespace=self.rng.choice(self.namespaces))
        else:
            volume = self.rng.choice(VOLUMES)
            ok, out = self._patch(name, volume=volume)
        (self.done if ok else self.refused)[kind] += 1
        return f"{kind} {name}: {'ok' if ok else 'refused: ' + out.strip()[-160:]}"
