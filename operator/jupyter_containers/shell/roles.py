"""What one operator process does, and so which handlers it registers with kopf.

- `reconciler`: the watches, the reconciler, the bundle writer, the culler and the
  pre-puller (`shell.startup`), with leader election when configured.
- `admission`: the admission webhooks only (`shell.admission_startup`).
- `all`: both in one process, on one event loop.

The chart runs `reconciler` and `admission` as two containers of each operator pod: an
admission review then never waits on the loop that handles a burst's reconciles and watch
events, nor they on it (docs/architecture.md). kopf's decorators register at import into
its default registry, so a role is chosen before anything imports a handler module.
"""

from __future__ import annotations

import importlib

ROLES: dict[str, tuple[str, ...]] = {
    "all": ("jupyter_containers.shell.startup", "jupyter_containers.shell.admission"),
    "reconciler": ("jupyter_containers.shell.startup",),
    "admission": ("jupyter_containers.shell.admission_startup",),
}


def register(role: str) -> None:
    """Import the handler modules of `role` (kopf registers them as they are imported)."""
    for module in ROLES[role]:
        importlib.import_module(module)
