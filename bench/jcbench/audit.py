"""Requests counted by the API server: its audit log (bench/audit-policy.yaml logs every verb).

Every cluster component authenticates as the same kwok admin, so requests are told apart by
their User-Agent: the operator's kopf client sends `kopf/<version>`, its lightkube client
`python-httpx2/<version>`, the benchmark's own client `jc-bench`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
#: "create" on these stores nothing: the API server answers a question (who am I, may I).
REVIEWS = frozenset(
    {
        "selfsubjectreviews",
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "subjectaccessreviews",
        "localsubjectaccessreviews",
        "tokenreviews",
    }
)
OPERATOR_AGENTS = (b"kopf/", b"python-httpx")
BENCH_AGENT = "jc-bench"


def agent_class(user_agent: str) -> str:
    """operator / bench / the control-plane component's name."""
    if user_agent.startswith(("kopf/", "python-httpx")):
        return "operator"
    if user_agent.startswith(BENCH_AGENT):
        return "bench"
    return user_agent.split("/", 1)[0] or "unknown"


def resource_of(entry: Mapping[str, Any]) -> str:
    ref = entry.get("objectRef") or {}
    resource = str(ref.get("resource") or entry.get("requestURI", "?").split("?")[0])
    sub = ref.get("subresource")
    return f"{resource}/{sub}" if sub else resource


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """The current end of the log: entries written from now on come after this offset."""
        return self.path.stat().st_size if self.path.exists() else 0

    def entries(
        self, start: int, end: int | None = None, *, agents: tuple[bytes, ...] | None = None
    ) -> list[dict[str, Any]]:
        """Requests logged between two offsets, one per request (watches log two stages)."""
        seen: dict[str, dict[str, Any]] = {}
        for entry in self._read(start, end, agents):
            seen[entry["auditID"]] = entry
        return list(seen.values())

    def _read(
        self, start: int, end: int | None, agents: tuple[bytes, ...] | None
    ) -> Iterator[dict[str, Any]]:
        # The log rotates at 1 GiB (kwokctl.yaml); a benchmark window never spans that.
        with self.path.open("rb") as f:
            f.seek(start)
            pos = start
            for line in f:
                if end is not None and pos >= end:
                    break
                pos += len(line)
                if not line.endswith(b"\n"):
                    break  # the API server is still writing it
                if agents is not None and not _has_agent(line, agents):
                    continue
                yield json.loads(line)


def _has_agent(line: bytes, agents: tuple[bytes, ...]) -> bool:
    return any(b'"userAgent":"' + a in line for a in agents)


def tally(entries: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Request counts keyed "verb resource[/subresource]", most frequent first."""
    counts = Counter(f"{e.get('verb')} {resource_of(e)}" for e in entries)
    return dict(counts.most_common())


def is_write(entry: Mapping[str, Any]) -> bool:
    """A request that asks to change stored state (whether or not it succeeded)."""
    resource = (entry.get("objectRef") or {}).get("resource")
    return entry.get("verb") in WRITE_VERBS and resource not in REVIEWS


def failed(entry: Mapping[str, Any]) -> bool:
    return int((entry.get("responseStatus") or {}).get("code") or 0) >= 400


def writes(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Write requests that succeeded: what changed stored state."""
    return [e for e in entries if is_write(e) and not failed(e)]


def by_agent(entries: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = Counter(agent_class(str(e.get("userAgent", ""))) for e in entries)
    return dict(counts.most_common())


def economy(entries: list[Mapping[str, Any]], per: int) -> dict[str, Any]:
    """Totals and per-container averages of the operator's requests in one phase."""
    write_list = writes(entries)
    refused = [e for e in entries if is_write(e) and failed(e)]
    return {
        "requests": len(entries),
        "writes": len(write_list),
        "requests_per_container": round(len(entries) / per, 2) if per else None,
        "writes_per_container": round(len(write_list) / per, 2) if per else None,
        "by_verb_resource": tally(entries),
        "writes_by_verb_resource": tally(write_list),
        "failed_writes_by_verb_resource": tally(
            {**e, "verb": f"{e.get('verb')}[{e['responseStatus']['code']}]"} for e in refused
        ),
    }
