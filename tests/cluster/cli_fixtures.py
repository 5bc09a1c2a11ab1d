"""Fixtures for the `kubectl jupyter` tests: the real plugin run through kubectl, and users.

The plugin is found by kubectl on PATH (the virtualenv's `kubectl-jupyter`), exactly as
a user runs it; impersonated users (`--as`) get the roles of examples/rbac/user-roles.yaml.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
USERS = ("alice", "bob", "carol")


def plugin_env(cluster: Any, **extra: str) -> dict[str, str]:
    """The cluster's environment with the plugin on PATH; no colour settings inherited."""
    env = {k: v for k, v in cluster.env.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    env.update(extra)
    return env


@dataclass
class Plugin:
    """`kubectl jupyter ...` in one domain (the test namespace)."""

    cluster: Any
    namespace: str

    @property
    def env(self) -> dict[str, str]:
        return plugin_env(self.cluster)

    def command(
        self, *args: str, as_user: str | None = None, as_groups: Sequence[str] = ()
    ) -> list[str]:
        cmd = ["kubectl", "jupyter", *args, "-n", self.namespace]
        if self.cluster.context:
            cmd += ["--context", self.cluster.context]
        if as_user:
            cmd += ["--as", as_user]
        for group in as_groups:
            cmd += ["--as-group", group]
        return cmd

    def __call__(
        self,
        *args: str,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
        input: str | None = None,
        timeout: float = 120,
        expect: int | None = 0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the plugin; `expect` is the exit code it must end with (None: any)."""
        result = subprocess.run(
            self.command(*args, as_user=as_user, as_groups=as_groups),
            env=self.env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if expect is not None:
            assert result.returncode == expect, (
                f"kubectl jupyter {' '.join(args)} exited {result.returncode}, expected {expect}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self(*args, "-o", "json", **kwargs).stdout)


@pytest.fixture
def webhooks_ready(cluster: Any, operator: Any) -> None:
    """Until this session's operator has registered its webhooks (a watch, via kubectl wait).

    The operator reports healthy a moment before kopf has patched the webhook
    configuration; a container created in between would get no created-by.
    """
    url = f"https://127.0.0.1:{operator.webhook_port}/mutate-jupytercontainer"
    cluster.kubectl(
        "wait",
        "mutatingwebhookconfiguration/jupytercontainers.io",
        f"--for=jsonpath={{.webhooks[0].clientConfig.url}}={url}",
        "--timeout=60s",
        timeout=70,
    )


@pytest.fixture
def jup(
    cluster: Any,
    namespace: str,
    operator: Any,
    operator_log: None,
    catalog: None,
    webhooks_ready: None,
) -> Plugin:
    return Plugin(cluster, namespace)


@pytest.fixture(scope="session")
def user_roles(cluster: Any) -> None:
    """The example user roles (the chart ships the same)."""
    cluster.kubectl("apply", "-f", str(REPO / "examples" / "rbac" / "user-roles.yaml"))


@pytest.fixture
def users(cluster: Any, namespace: str, user_roles: None) -> tuple[str, ...]:
    """alice, bob and carol may work with Jupyter containers in the test namespace."""
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"jc-user-{user}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "jupyter-containers-user",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
        for user in USERS
    ]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(bindings))
    return USERS


def bundle_manifest(name: str, owner: str, *grants: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "ResourceBundle",
            "metadata": {"name": name},
            "spec": {"owner": owner, "grants": list(grants)},
        }
    )


@pytest.fixture
def scratch_namespace(cluster: Any, namespace: str) -> Iterator[str]:
    """A second namespace, open to the test namespace's containers (a deployment target)."""
    name = f"{namespace}-deploy"[:63]
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {"jupytercontainers.io/deployable": namespace},
                },
            }
        ),
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
