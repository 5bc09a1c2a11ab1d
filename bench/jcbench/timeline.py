"""The watcher's records, read back as they are written; first times per container (pure-ish)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

Record = dict[str, Any]


def pod_ready(r: Record) -> bool:
    """A pod record that shows the pod Ready and staying. The previous attempt's pod, deleted
    with its Deployment, keeps its Ready condition to the end: the garbage collector removed it
    up to 170 s into the next start at N=1000 (its DELETED event then looked like the new pod's
    readiness, and start's Ready -> Active p99 read 27 s instead of 1.1 s)."""
    return bool(r.get("ready")) and r["type"] != "DELETED" and not r.get("terminating")


class Timeline:
    """Tails the watcher's JSON lines; the watcher runs as its own process."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = dict(env)
        self.records: list[Record] = []
        self._offset = 0
        self._proc: subprocess.Popen[str] | None = None
        # Current state, folded from the records.
        self.phase: dict[str, str | None] = {}  # jc key -> phase (absent once deleted)
        self.pods_ready: dict[str, set[str]] = {}  # owner key -> uids of ready pods

    def start(self, timeout: float = 60) -> None:
        self.path.write_text("")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "jcbench.watcher", str(self.path)],
            env=self.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # blocks until "ready" (or exit)
        if line.strip() != "ready":
            raise RuntimeError(f"watcher did not start (exit code {self._proc.poll()})")
        self.refresh()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=30)
            self._proc = None
        self.refresh()

    def refresh(self) -> None:
        with self.path.open("rb") as f:
            f.seek(self._offset)
            for line in f:
                if not line.endswith(b"\n"):
                    break
                self._offset += len(line)
                self._fold(json.loads(line))

    def _fold(self, r: Record) -> None:
        self.records.append(r)
        if r["kind"] == "jc":
            if r["type"] == "DELETED":
                self.phase.pop(r["key"], None)
            else:
                self.phase[r["key"]] = r.get("phase")
        elif r["kind"] == "pod":
            ready = self.pods_ready.setdefault(r["key"], set())
            if pod_ready(r):
                ready.add(r["uid"])
            else:
                ready.discard(r["uid"])

    async def wait(self, done: Callable[[Timeline], bool], limit: float, what: str) -> float:
        """Wait until `done(self)`, at most `limit` seconds; the time of the last record read."""
        deadline = time.monotonic() + limit
        while True:
            self.refresh()
            if done(self):
                return self.records[-1]["t"] if self.records else time.time()
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError("the watcher exited")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {limit:.0f}s waiting for {what}")
            await asyncio.sleep(0.2)

    def count_phase(self, keys: Iterable[str], phase: str) -> int:
        return sum(1 for k in keys if self.phase.get(k) == phase)

    def first(
        self, kind: str, since: float, match: Callable[[Record], bool] = lambda r: True
    ) -> dict[str, float]:
        """Per key, the receipt time of the first record of `kind` at or after `since`."""
        out: dict[str, float] = {}
        for r in self.records:
            if r["kind"] == kind and r["t"] >= since and r["key"] not in out and match(r):
                out[r["key"]] = r["t"]
        return out


def deltas(start: Mapping[str, float], end: Mapping[str, float]) -> tuple[list[float], list[str]]:
    """end - start for every key of `start`; and the keys that have no end."""
    values = [end[k] - t for k, t in start.items() if k in end]
    missing = [k for k in start if k not in end]
    return values, missing
