"""kopf's settings for the operator's watches, the same in every role (`shell.roles`)."""

from __future__ import annotations

import kopf

from jupyter_containers.core import naming
from jupyter_containers.shell import kopf_fixes

#: The label selector of the children the operator made (the same as `shell.world.MANAGED`).
MANAGED_SELECTOR = f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY_VALUE}"


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf's settings for the operator's watches (called once, by each role's start-up)."""
    # Our own prefix, should a kopf feature that stores state ever be used. Not our
    # finalizer name: kopf removes "its" finalizer from objects without delete handlers.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix="kopf.jupytercontainers.io"
    )
    # Without change-detecting handlers kopf's per-event essence (a deep copy) is unused.
    diffbase = (
        kopf.AnnotationsDiffBaseStorage
        if kopf_fixes.has_changing_handlers(kopf.get_default_registry())
        else kopf_fixes.EssenceFreeDiffBaseStorage
    )
    settings.persistence.diffbase_storage = diffbase(
        prefix="kopf.jupytercontainers.io", key="last-handled-configuration"
    )
    # Initial listings in pages, as the API server recommends for large lists: bounded
    # responses on both sides. (It did not lower the operator's own peak at a restart, which
    # is kopf holding every listed body until the indexes are filled: see kopf_fixes.)
    settings.watching.chunk_size = 200
    # An idle object's worker keeps its last event (the whole body) until it exits: kopf's 5 s
    # kept every object of a restart's listing alive at once (the listing takes seconds at
    # N=1000). Our handlers are quick and kopf starts a new worker for the next event anyway.
    settings.queueing.idle_timeout = 0.5
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.label_selectors["pods"] = MANAGED_SELECTOR
    settings.watching.label_selectors["deployments"] = MANAGED_SELECTOR
    settings.watching.label_selectors["services"] = MANAGED_SELECTOR
    settings.watching.label_selectors["persistentvolumeclaims"] = MANAGED_SELECTOR
    settings.watching.label_selectors["persistentvolumes"] = MANAGED_SELECTOR
    settings.watching.label_selectors["networkpolicies"] = MANAGED_SELECTOR
    settings.watching.field_selectors["events"] = "involvedObject.kind=Pod"
