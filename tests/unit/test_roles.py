"""Each role registers exactly its handlers with kopf (`shell.roles`).

kopf registers at import, into one registry per process, so each role is imported in a fresh
interpreter and its registry reported back.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jupyter_containers.shell import roles

_REPORT = """
import json, sys
import kopf
from jupyter_containers.shell import roles
roles.register(sys.argv[1])
r = kopf.get_default_registry()
print(json.dumps({
    "webhooks": sorted(h.id for h in r._webhooks.get_all_handlers()),
    "indexes": sorted(h.id for h in r._indexing.get_all_handlers()),
    "events": sorted(h.id for h in r._watching.get_all_handlers()),
    "activities": sorted(h.id for h in r._activities.get_all_handlers()),
    "modules": sorted(m for m in sys.modules if m.startswith("jupyter_containers.shell.")),
}))
"""

WEBHOOKS = [
    "mutate-jupytercontainer",
    "mutate-resourcebundle",
    "validate-jupytercontainer",
    "validate-resourcebundle",
]
CATALOG = {"instance_types", "volumes", "images"}


def registered(role: str) -> dict[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", _REPORT, role], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def by_role() -> dict[str, dict[str, list[str]]]:
    return {role: registered(role) for role in roles.ROLES}


@pytest.mark.parametrize(
    ("role", "webhooks", "reconciles"),
    [
        ("all", WEBHOOKS, True),
        ("reconciler", [], True),
        ("admission", WEBHOOKS, False),
    ],
)
def test_a_role_registers_its_handlers_only(
    by_role: dict[str, dict[str, list[str]]], role: str, webhooks: list[str], reconciles: bool
) -> None:
    got = by_role[role]
    assert got["webhooks"] == webhooks
    assert set(got["indexes"]) >= CATALOG  # admission and the reconciler both read the catalog
    assert ("container_changed" in got["events"]) is reconciles
    assert ("pods" in got["indexes"]) is reconciles
    assert {"start", "stop"} <= set(got["activities"])


def test_the_admission_process_watches_only_the_catalog_and_container_names(
    by_role: dict[str, dict[str, list[str]]],
) -> None:
    got = by_role["admission"]
    assert got["indexes"] == sorted(CATALOG | {"container_names"})
    assert got["events"] == []
    # Nothing of the reconciler is even imported (its modules register handlers at import).
    for module in ("startup", "world", "watch", "reconciler", "culler", "bundles", "prepuller"):
        assert f"jupyter_containers.shell.{module}" not in got["modules"]


def test_the_reconciler_process_serves_no_admission(
    by_role: dict[str, dict[str, list[str]]],
) -> None:
    assert "jupyter_containers.shell.admission" not in by_role["reconciler"]["modules"]
    assert "container_names" not in by_role["reconciler"]["indexes"]
