"""The culler: one scheduler that probes each Active container's JupyterLab for activity and
stops those idle past their timeout or running past their maximum lifetime.

One task for all containers, not one per container, and no walk of all of them: the watch
handlers tell it which container changed (`notice`), it looks at that one again, and keeps the
next probe of each culled container in a heap by due time; it sleeps until the earliest is due
or a change arrives. (It walked the index every second before: a fifth of the operator's CPU
at N=5000, BENCHMARKS.md.) All containers are looked at once, when the indexes are first filled
and when this replica becomes the leader. Each container is probed once per interval (jittered
by 10 %; the first probe lands anywhere in the first interval, so a restart over many
containers is no thundering herd), never twice at once, and at most `cull_probe_concurrency`
probes run together (a semaphore). A probe is three GETs to the pod's IP (`api/kernels`,
`api/terminals`, `api/status`) with the container's token from its Secret (read once, the
operator made it); aiohttp, never a blocking call on the loop. The judgement is
`core.culling.judge`; the stop is the user's terminate (`spec.running: false`) with an
annotation naming the reason, so the reconciler's status, Event and phase metrics follow as
for any stop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import ipaddress
import itertools
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from lightkube import ApiError, AsyncClient
from lightkube.types import PatchType

from jupyter_containers.api import rules
from jupyter_containers.api.models import Phase
from jupyter_containers.core import culling, naming
from jupyter_containers.core.culling import Activity, Cull, CullFacts, CullPolicy, Keep
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.status import parse_iso
from jupyter_containers.shell import metrics
from jupyter_containers.shell.resources import JupyterContainer, Secret
from jupyter_containers.shell.world import Indexes, Key

log = logging.getLogger("jupyter_containers.culling")

#: How often a replica that does not schedule (a standby, or before the indexes are filled)
#: asks whether it now should: one check, no walk.
IDLE_CHECK_SECONDS = 1.0
#: The longest a scheduling replica sleeps with nothing due, to notice a lost leadership.
LONGEST_SLEEP_SECONDS = 30.0


@dataclass
class _Tracked:
    """What the culler remembers of one container's current attempt."""

    ident: str  # uid:attempt: a new attempt starts afresh
    due: float  # loop time of the next probe
    last_activity: datetime | None = None
    written: Mapping[str, Any] | None = None  # our last status.culling write
    queued: bool = False  # its next probe is in the heap


class Culler:
    def __init__(
        self,
        client: AsyncClient,
        settings: Settings,
        indexes: Indexes,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self.client = client
        #: Whether this replica leads (shell.leader): a standby neither probes nor stops.
        self.leading = leading
        self.settings = settings
        self.indexes = indexes
        self.rng = rng or random.Random()
        #: Monotonic seconds (the loop's clock; a test's own).
        self.clock = clock or (lambda: asyncio.get_running_loop().time())
        self.interval = settings.cull_probe_interval_seconds
        self.limit = asyncio.Semaphore(settings.cull_probe_concurrency)
        self._tracked: dict[Key, _Tracked] = {}
        self._probing: dict[Key, asyncio.Task[None]] = {}
        #: The token of each container (read once: the operator never rotates it), with the
        #: uid and Secret it was read for.
        self._tokens: dict[Key, tuple[str, str, str, str]] = {}
        self._cleared: dict[Key, str] = {}  # status.culling removed, by resourceVersion
        self._session: aiohttp.ClientSession | None = None
        #: Containers to look at again (`notice`), and the next probes: (due, tie, key, of).
        self._dirty: set[Key] = set()
        self._due: list[tuple[float, int, Key, _Tracked]] = []
        self._ties = itertools.count()
        self._scheduling = False  # leading, with filled indexes, since the last full look
        self._wake = asyncio.Event()
        self.networks = [
            ipaddress.ip_network(c, strict=False) for c in settings.cull_probe_networks
        ]
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="culler")

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._probing.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()

    def notice(self, key: Key) -> None:
        """A watch event about this container (or its instance type): look at it again."""
        if self._scheduling:
            self._dirty.add(key)
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                self.tick(self.clock())
            except Exception:  # one bad object must not stop culling for all
                log.exception("culler: scheduling failed")
            await self._sleep()

    async def _sleep(self) -> None:
        """Until the next probe is due or a container changed (a standby: a second)."""
        timeout = IDLE_CHECK_SECONDS
        if self._scheduling:
            timeout = LONGEST_SLEEP_SECONDS
            if self._due:
                timeout = min(timeout, max(self._due[0][0] - self.clock(), 0.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    # ------------------------------------------------------------ scheduling

    def tick(self, now: float) -> None:
        """Look again at the containers noticed, then start the probes that are due."""
        if not self.indexes.ready or not self.leading():
            self._scheduling = False
            return
        if not self._scheduling:  # the indexes just filled, or this replica just took the lead
            self._scheduling = True
            self._dirty.update(self.indexes["containers"].keys())
            self._due.clear()
            for tracked in self._tracked.values():
                tracked.queued = False
        while self._dirty:
            self._review(self._dirty.pop(), now)
        while self._due and self._due[0][0] <= now:
            _, _, key, tracked = heapq.heappop(self._due)
            if self._tracked.get(key) is not tracked:
                continue  # a new attempt, or no longer culled, since it was queued
            tracked.queued = False
            if key in self._probing:
                continue  # queued again when that one ends
            self._start(key, self._probe_and_judge(key, tracked))

    def _review(self, key: Key, now: float) -> None:
        """One container again: tracked and queued if culled and Active, else forgotten."""
        jc = self.indexes.container(key)
        if jc is None:
            self._forget(key)
            self._cleared.pop(key, None)
            return
        policy = self._policy(jc) if _active(jc) else CullPolicy()
        if not policy.enabled:
            self._forget(key)
            self._clear_status(key, jc)
            return
        tracked = self._track(key, jc, now)
        if not tracked.queued and key not in self._probing:
            tracked.queued = True
            heapq.heappush(self._due, (tracked.due, next(self._ties), key, tracked))

    def _forget(self, key: Key) -> None:
        self._tracked.pop(key, None)
        self._tokens.pop(key, None)

    def _start(self, key: Key, work: Any) -> None:
        """Run a probe or a status write of `key`; when it ends, look at `key` again."""
        task = asyncio.create_task(work)
        self._probing[key] = task

        def done(_: asyncio.Task[None]) -> None:
            self._probing.pop(key, None)
            self.notice(key)

        task.add_done_callback(done)

    def _track(self, key: Key, jc: Mapping[str, Any], now: float) -> _Tracked:
        """What is remembered of this attempt; new for a new attempt (or process)."""
        ident = _ident(jc)
        tracked = self._tracked.get(key)
        if tracked is None or tracked.ident != ident:
            # Spread first probes over one interval: no herd after a restart. The latest
            # activity a previous process saw (status.culling) is kept: a kernel shut down
            # since took its own with it. (An older attempt's is before readyAt: harmless.)
            before = ((jc.get("status") or {}).get("culling") or {}).get("lastActivity")
            due = now + self.rng.uniform(0, self.interval)
            tracked = _Tracked(ident, due, parse_iso(before))
            self._tracked[key] = tracked
        return tracked

    def _policy(self, jc: Mapping[str, Any]) -> CullPolicy:
        name = ((jc.get("status") or {}).get("instance") or {}).get("name")
        found = self.indexes["instance_types"].get(name) if name else None
        spec = next(iter(found), None) if found else None
        return culling.policy_for(
            spec, self.settings.cull_idle_timeout, self.settings.cull_max_lifetime
        )

    # ------------------------------------------------------------ one container

    async def _probe_and_judge(self, key: Key, tracked: _Tracked) -> None:
        try:
            jc = self.indexes.container(key)
            if jc is None or not _active(jc) or _ident(jc) != tracked.ident:
                return  # its change is noticed: reviewed when this ends
            policy = self._policy(jc)
            if not policy.enabled:
                return
            async with self.limit:
                activity = await self._probe(key, jc)
            now = datetime.now(UTC)
            if activity is not None:
                tracked.last_activity = culling.latest_activity(tracked.last_activity, activity)
            started = parse_iso((jc.get("status") or {}).get("readyAt")) or now
            verdict = culling.judge(
                CullFacts(policy, started, tracked.last_activity, activity is not None, now)
            )
            if isinstance(verdict, Cull):
                # A conflict (our own status write not yet in the index): again in a second.
                retry = 1.0 if await self._stop(key, verdict) is False else self.interval
                tracked.due = self.clock() + retry
                return
            await self._write_status(key, jc, policy, verdict, activity is not None, tracked)
            tracked.due = self._next_due(verdict, now)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("culler: %s/%s: probe or stop failed", *key)
            tracked.due = self.clock() + self.interval

    def _next_due(self, keep: Keep, now: datetime) -> float:
        delay = self.interval * self.rng.uniform(0.9, 1.1)
        if keep.cull_at is not None:
            # Probe again right after the deadline, so a cull happens about on time.
            delay = min(delay, max((keep.cull_at - now).total_seconds(), 0.0) + 0.5)
        return self.clock() + delay

    async def _probe(self, key: Key, jc: Mapping[str, Any]) -> Activity | None:
        """JupyterLab's answer, or None when it does not give one (never a reason to cull)."""
        base = self._lab_url(key, jc)
        token = await self._token(key, jc) if base else None
        if base is None or token is None:
            metrics.activity_probes.labels(result="no_token" if base else "unreachable").inc()
            return None
        try:
            activity = await probe_lab(self._client_session(), base, token)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("culler: %s/%s: JupyterLab did not answer the probe: %s", *key, exc)
            metrics.activity_probes.labels(result="unreachable").inc()
            return None
        metrics.activity_probes.labels(result="ok").inc()
        return activity

    def _lab_url(self, key: Key, jc: Mapping[str, Any]) -> str | None:
        status = jc.get("status") or {}
        pod_name = status.get("podName")
        for pod in self.indexes["pods"].get(key, []):
            ip = (pod.get("status") or {}).get("podIP")
            if pod["metadata"]["name"] == pod_name and ip and self._may_probe(ip):
                host = f"[{ip}]" if ":" in ip else ip
                path = self.settings.base_url(
                    key[0], key[1], status.get("deploymentNamespace") or key[0]
                )
                return f"http://{host}:{rules.JUPYTER_PORT}{path}"
        return None

    def _may_probe(self, ip: str) -> bool:
        """Only pod IPs of the configured pod networks (the token goes with the request)."""
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def _token(self, key: Key, jc: Mapping[str, Any]) -> str | None:
        """The container's token, from its Secret (read once: the operator never rotates it)."""
        status, uid = jc.get("status") or {}, str(jc["metadata"].get("uid"))
        ns, name = status.get("deploymentNamespace"), status.get("tokenSecret")
        if not ns or not name:
            return None
        cached = self._tokens.get(key)
        if cached is not None and cached[:3] == (uid, ns, name):
            return cached[3]
        try:
            secret = await self.client.get(Secret, name, namespace=ns)
        except ApiError as exc:
            log.info("culler: token Secret %s/%s: %s", ns, name, exc.status.message)
            return None
        labels = (secret.metadata.labels if secret.metadata else None) or {}
        raw = (secret.data or {}).get("token")
        if labels.get(naming.UID_LABEL) != uid or not raw:
            return None  # not this container's: never send someone else's token
        token = base64.b64decode(raw).decode()
        self._tokens[key] = (uid, ns, name, token)
        return token

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.cull_probe_timeout_seconds),
                connector=aiohttp.TCPConnector(limit=self.settings.cull_probe_concurrency * 3),
            )
        return self._session

    # ------------------------------------------------------------ writes

    async def _stop(self, key: Key, cull: Cull) -> bool | None:
        """The user's terminate, with the reason: only if the container is still what we
        judged (resourceVersion: a start or a change meanwhile makes the patch fail).
        True: stopped; False: changed meanwhile (judge again); None: nothing to stop."""
        jc = self.indexes.container(key)
        if jc is None or not _active(jc):
            return None
        meta = jc["metadata"]
        attempt = int((jc.get("status") or {}).get("attempt") or 0)
        patch = {
            "metadata": {
                "resourceVersion": meta.get("resourceVersion"),
                "annotations": {
                    culling.STOPPED_BY_ANNOTATION: culling.stop_annotation(cull, attempt)
                },
            },
            "spec": {"running": False},
        }
        try:
            await self.client.patch(
                JupyterContainer, key[1], patch, namespace=key[0], patch_type=PatchType.MERGE
            )
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            if exc.status.code == 409:
                return False  # changed since: judged again at the next probe
            raise
        metrics.culled.labels(reason=str(cull.reason)).inc()
        log.info("culler: %s/%s stopped: %s", *key, cull.message)
        return True

    async def _write_status(
        self,
        key: Key,
        jc: Mapping[str, Any],
        policy: CullPolicy,
        keep: Keep,
        reachable: bool,
        tracked: _Tracked,
    ) -> None:
        block = culling.culling_status(policy, keep, reachable)
        stored = tracked.written or (jc.get("status") or {}).get("culling")
        if not culling.status_needs_write(stored, block, culling.write_granularity(policy)):
            return
        await self._patch_status(key, block)
        tracked.written = block

    def _clear_status(self, key: Key, jc: Mapping[str, Any]) -> None:
        """Remove status.culling once a container is no longer Active (or no longer culled)."""
        if not (jc.get("status") or {}).get("culling") or key in self._probing:
            return
        version = str(jc["metadata"].get("resourceVersion"))
        if self._cleared.get(key) == version:
            return
        self._cleared[key] = version
        self._start(key, self._patch_status(key, None))

    async def _patch_status(self, key: Key, block: Mapping[str, Any] | None) -> None:
        try:
            await self.client.patch(
                JupyterContainer.Status,
                key[1],
                {"status": {"culling": block}},
                namespace=key[0],
                patch_type=PatchType.MERGE,
            )
        except ApiError as exc:
            if exc.status.code != 404:
                log.warning("culler: %s/%s: status.culling: %s", *key, exc.status.message)


# ---------------------------------------------------------------- helpers


async def probe_lab(session: aiohttp.ClientSession, base: str, token: str) -> Activity:
    """One probe: `GET api/kernels`, `api/terminals` and `api/status` of the JupyterLab at
    `base` (its base URL, ending in '/'), at once. Raises when it does not answer them."""
    headers = {"Authorization": f"token {token}"}
    # no_track_activity: jupyter_server then does not count the probe as an API request, so
    # it keeps no JupyterLab alive by itself (ServerApp.shutdown_no_activity_timeout).
    query = "?no_track_activity=1"
    kernels, terminals, server = await asyncio.gather(
        _get_json(session, f"{base}api/kernels{query}", headers),
        _get_json(session, f"{base}api/terminals{query}", headers, missing_ok=True),
        _get_json(session, f"{base}api/status{query}", headers),
    )
    return culling.activity_from_api(
        _list(kernels),
        _list(terminals),
        server if isinstance(server, dict) else {},
        datetime.now(UTC),
    )


def _active(jc: Mapping[str, Any]) -> bool:
    status, spec = jc.get("status") or {}, jc.get("spec") or {}
    return (
        status.get("phase") == Phase.ACTIVE
        and spec.get("running", True) is not False
        and not jc["metadata"].get("deletionTimestamp")
    )


def _ident(jc: Mapping[str, Any]) -> str:
    return f"{jc['metadata'].get('uid')}:{(jc.get('status') or {}).get('attempt')}"


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


async def _get_json(
    session: aiohttp.ClientSession,
    url: str,
    headers: Mapping[str, str],
    *,
    missing_ok: bool = False,
) -> Any:
    """One GET's JSON; [] for a 404 when `missing_ok` (terminals switched off)."""
    async with session.get(url, headers=headers, allow_redirects=False) as response:
        if missing_ok and response.status == 404:
            return []
        if response.status != 200:
            raise aiohttp.ClientResponseError(
                response.request_info, (), status=response.status, message=url
            )
        return await response.json(content_type=None)
