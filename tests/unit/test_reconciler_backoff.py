"""The reconciler's retry backoff grows while the API server does not answer (issue 12).

The outage report: a status write that failed was retried every ~2 s for the whole outage,
because the 1 s detail hold-back returned "success" between failures and reset the backoff.
Here the reconciler (the shell itself, with lightkube) talks to a TCP listener that accepts
and closes every connection, as an API server that is down behind its load balancer: no
Kubernetes is simulated, only the absence of an answer. The one write it has to make is a
detail-only status change (held back 1 s), the case that used to reset the backoff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from typing import Any

from lightkube import AsyncClient, KubeConfig

from jupyter_containers.api.models import Phase, Reason
from jupyter_containers.core.plan import plan
from jupyter_containers.shell.namespace_policies import NamespacePolicies
from jupyter_containers.shell.reconciler import Reconciler
from jupyter_containers.shell.world import Indexes
from tests.unit.test_plan import NEW, SETTINGS, T0, container, made, snapshot, stored


def _detail_only_world() -> tuple[dict[str, Any], Any]:
    """A Starting container whose objects are all applied; only its status message is stale."""
    world = snapshot(made(NEW))
    first = plan(container(status=stored(Phase.STARTING, Reason.DEPLOYING)), world, SETTINGS, T0)
    assert first.status is not None
    jc = container(status={**first.status, "message": "an older message"})
    again = plan(jc, world, SETTINGS, T0)
    assert not [d for d in again.apply if not d.up_to_date] and again.token is None
    assert again.status is not None and again.status["message"] != "an older message"
    return jc, dataclasses.replace(world, container=jc)


async def _attempts_during_outage(seconds: float) -> list[float]:
    attempts: list[float] = []

    async def no_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        attempts.append(time.monotonic())
        writer.close()

    server = await asyncio.start_server(no_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = KubeConfig.from_dict(
        {
            "clusters": [{"name": "down", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "op", "user": {"token": "unused"}}],
            "contexts": [{"name": "down", "context": {"cluster": "down", "user": "op"}}],
            "current-context": "down",
        }
    )
    client = AsyncClient(config)
    jc, world = _detail_only_world()
    # No NetworkPolicy: the one write to make is the status (the namespace's policy would be
    # a request of its own, before it).
    settings = SETTINGS.model_copy(update={"network_policy": False})
    policies = NamespacePolicies(client, settings, Indexes())
    reconciler = Reconciler(
        client, settings, lambda key: world, policies=policies, clock=lambda: T0
    )
    started = time.monotonic()
    try:
        reconciler.trigger((jc["metadata"]["namespace"], jc["metadata"]["name"]))
        await asyncio.sleep(seconds)
    finally:
        reconciler.queue.close()
        await client.close()
        server.close()
    return [round(t - started, 1) for t in attempts]


def test_a_failing_held_back_status_write_backs_off_instead_of_every_two_seconds() -> None:
    attempts = asyncio.run(_attempts_during_outage(7.6))
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(attempts)]
    # Held back 1 s, then retried after 1, 2 (and 4) s: at ~1, ~2, ~4 s; the next at ~8 s.
    assert len(attempts) == 3, attempts
    assert gaps == sorted(gaps) and gaps[-1] >= 1.8, (attempts, gaps)
