"""The culler's scheduling (shell/culler.Culler.tick): every container probed once per interval,
first probes spread over the first interval, never two probes of one container at once, at
most `cull_probe_concurrency` in flight. The probe and the status write are replaced by
recorders (no JupyterLab, no API server: what they do is tested in test_culler_probe.py and
the cluster tests)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any

from jupyter_containers.core.settings import Settings
from jupyter_containers.shell.culler import Culler

N = 40
INTERVAL = 10.0
CONCURRENCY = 3


class FakeIndexes:
    """The three views the culler reads, as kopf's indexes shape them (key -> store)."""

    ready = True

    def __init__(self, containers: Mapping[tuple[str, str], dict[str, Any]]) -> None:
        self.views: dict[str, dict[Any, list[Any]]] = {
            "containers": {k: [v] for k, v in containers.items()},
            "instance_types": {"culled": [{"culling": {"idleTimeout": "1h"}}], "plain": [{}]},
            "pods": {},
        }

    def __getitem__(self, name: str) -> dict[Any, list[Any]]:
        return self.views[name]

    def container(self, key: tuple[str, str]) -> dict[str, Any] | None:
        found = self.views["containers"].get(key)
        return found[0] if found else None


def jc(name: str, instance_type: str = "culled", phase: str = "Active") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "team", "uid": f"uid-{name}"},
        "spec": {"running": True},
        "status": {
            "phase": phase,
            "attempt": 1,
            "readyAt": "2026-01-01T00:00:00Z",
            "instance": {"name": instance_type},
        },
    }


def test_each_container_once_per_interval_spread_and_capped() -> None:
    containers = {("team", f"c{i}"): jc(f"c{i}") for i in range(N)}
    containers[("team", "plain")] = jc("plain", instance_type="plain")  # no policy: never
    containers[("team", "stopped")] = jc("stopped", phase="Stopped")
    probed: list[tuple[str, float]] = []
    in_flight = {"now": 0, "max": 0}

    clock = {"t": 0.0}

    async def scenario() -> None:
        culler = Culler(
            client=None,  # type: ignore[arg-type]
            settings=Settings(
                cull_probe_interval_seconds=INTERVAL, cull_probe_concurrency=CONCURRENCY
            ),
            indexes=FakeIndexes(containers),  # type: ignore[arg-type]
            rng=random.Random(7),
            clock=lambda: clock["t"],
        )

        async def fake_probe(key: tuple[str, str], _jc: Mapping[str, Any]) -> None:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
            probed.append((key[1], clock["t"]))
            await asyncio.sleep(0.01)  # a probe takes a while: others queue behind the cap
            in_flight["now"] -= 1
            return None  # unanswered: kept, never culled

        async def no_write(*_: Any) -> None:
            return None

        culler._probe = fake_probe  # type: ignore[method-assign]
        culler._patch_status = no_write  # type: ignore[method-assign]
        # Two intervals of ticks, twice a second; each tick repeated while probes still run.
        for step in range(int(2 * INTERVAL * 2)):
            clock["t"] = step / 2
            culler.tick(clock["t"])
            culler.tick(clock["t"])  # a second walk at once starts nothing twice
            await asyncio.sleep(0.05)
        await culler.close()

    asyncio.run(scenario())
    names = [n for n, _ in probed]
    assert "plain" not in names and "stopped" not in names
    first = {}
    for name, t in probed:
        first.setdefault(name, t)
    assert len(first) == N  # every culled container probed in its first interval
    assert max(first.values()) <= INTERVAL
    # Spread, not a herd: no half second holds more than a quarter of the first probes.
    per_slot: dict[float, int] = {}
    for t in first.values():
        per_slot[t] = per_slot.get(t, 0) + 1
    assert max(per_slot.values()) <= N // 4, per_slot
    # Once per interval (+10 % jitter) over two intervals: at most three probes each.
    assert max(names.count(n) for n in first) <= 3
    assert in_flight["max"] <= CONCURRENCY


def test_only_pod_ips_of_the_configured_networks_are_probed() -> None:
    """The token goes with the probe: never to an address outside the pod network."""
    settings = Settings(cull_probe_networks="10.88.0.0/24, fd00::/64")
    culler = Culler(None, settings, FakeIndexes({}))  # type: ignore[arg-type]
    assert culler._may_probe("10.88.0.37") and culler._may_probe("fd00::5")
    assert not culler._may_probe("10.244.0.1") and not culler._may_probe("not-an-ip")
    anywhere = Culler(None, Settings(), FakeIndexes({}))  # type: ignore[arg-type]
    assert anywhere._may_probe("10.244.0.1")


class CountingViews(dict[Any, list[Any]]):
    """kopf's containers index, counting the walks of it (keys() or items())."""

    walks = 0

    def keys(self) -> Any:
        CountingViews.walks += 1
        return super().keys()

    def items(self) -> Any:
        CountingViews.walks += 1
        return super().items()


def test_driven_by_notices_not_by_walks() -> None:
    """One look at every container when scheduling begins; after that only the containers
    noticed (a watch event) are looked at again: a new one is probed once noticed, a stopped
    one no more, and no tick walks the index."""
    containers = {("team", f"c{i}"): jc(f"c{i}") for i in range(5)}
    indexes = FakeIndexes(containers)
    indexes.views["containers"] = CountingViews(indexes.views["containers"])
    CountingViews.walks = 0
    leading = {"now": True}
    probed: list[tuple[str, float]] = []
    clock = {"t": 0.0}

    async def scenario() -> None:
        culler = Culler(
            client=None,  # type: ignore[arg-type]
            settings=Settings(cull_probe_interval_seconds=INTERVAL),
            indexes=indexes,  # type: ignore[arg-type]
            rng=random.Random(3),
            clock=lambda: clock["t"],
            leading=lambda: leading["now"],
        )

        async def fake_probe(key: tuple[str, str], _jc: Mapping[str, Any]) -> None:
            probed.append((key[1], clock["t"]))

        async def no_write(*_: Any) -> None:
            return None

        culler._probe = fake_probe  # type: ignore[method-assign]
        culler._patch_status = no_write  # type: ignore[method-assign]

        async def run_until(t: float) -> None:
            while clock["t"] < t:
                clock["t"] += 0.5
                culler.tick(clock["t"])
                await asyncio.sleep(0)  # probes run, their ends are noticed
                await asyncio.sleep(0)

        await run_until(INTERVAL)
        assert CountingViews.walks == 1, "scheduling began with one look at all"
        assert {n for n, _ in probed} == {f"c{i}" for i in range(5)}

        # A new container unnoticed is not seen (nothing walks); noticed, it is probed.
        containers_view = indexes.views["containers"]
        dict.__setitem__(containers_view, ("team", "new"), [jc("new")])
        await run_until(2 * INTERVAL)
        assert "new" not in {n for n, _ in probed}
        culler.notice(("team", "new"))
        await run_until(3.5 * INTERVAL)
        assert "new" in {n for n, _ in probed}

        # c0 stopped and noticed: never probed again; the others still are.
        dict.__setitem__(containers_view, ("team", "c0"), [jc("c0", phase="Stopped")])
        culler.notice(("team", "c0"))
        stopped_at = clock["t"]
        await run_until(6 * INTERVAL)
        after = [n for n, t in probed if t > stopped_at]
        assert "c0" not in after and {"c1", "c2", "c3", "c4", "new"} <= set(after)
        assert CountingViews.walks == 1, "a tick walked the index"

        # A standby probes nothing; taking the lead again is one more look at all.
        leading["now"] = False
        lost_at = clock["t"]
        await run_until(8 * INTERVAL)
        assert [n for n, t in probed if t > lost_at] == []
        leading["now"] = True
        regained_at = clock["t"]
        await run_until(10 * INTERVAL)
        assert CountingViews.walks == 2
        assert {"c1", "c2", "c3", "c4", "new"} <= {n for n, t in probed if t > regained_at}
        await culler.close()

    asyncio.run(scenario())
