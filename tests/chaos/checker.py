"""After the chaos: orphans, duplicates, lost PVCs and wrong phases, from the API server.

Every child the operator makes carries the labels `jupytercontainers.io/domain`, `/name` and
`/uid` (core.naming). The checker lists them in every namespace and cluster-wide (PVs) and
compares them with the containers that exist now:
- orphan: a child whose container (by uid) no longer exists;
- misplaced: a Deployment or Service outside the container's deployment namespace;
- duplicate: two live children of one kind for one container;
- lost PVC: a container with an On Demand volume that has run (status.pvcName) without it;
- wrong phase: spec.running true but not Active, false but not Stopped.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import Cluster

DOMAIN_LABEL = "jupytercontainers.io/domain"
NAME_LABEL = "jupytercontainers.io/name"
UID_LABEL = "jupytercontainers.io/uid"
NAMESPACED_KINDS = ("deployments", "services", "secrets", "persistentvolumeclaims")
#: Children a stopped container keeps: its home and its token.
KEPT_WHEN_STOPPED = ("secrets", "persistentvolumeclaims")


@dataclass(frozen=True)
class Child:
    kind: str
    namespace: str | None
    name: str
    domain: str
    owner: str
    uid: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name} (of {self.domain}/{self.owner}, uid {self.uid})"


@dataclass
class Report:
    containers: int = 0
    children: int = 0
    orphans: list[str] = field(default_factory=list)
    misplaced: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    lost_pvcs: list[str] = field(default_factory=list)
    wrong_phases: list[str] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        found = {
            "orphans": self.orphans,
            "misplaced": self.misplaced,
            "duplicates": self.duplicates,
            "lost PVCs": self.lost_pvcs,
            "wrong phases": self.wrong_phases,
        }
        return {k: v for k, v in found.items() if v}

    def __str__(self) -> str:
        lines = [f"{self.containers} containers, {self.children} children"]
        for what, items in self.problems().items():
            lines += [f"{what} ({len(items)}):", *(f"  {i}" for i in items)]
        return "\n".join(lines)


def _items(cluster: Cluster, *args: str) -> list[dict[str, Any]]:
    return list(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)["items"])


def children(cluster: Cluster, domains: Iterable[str]) -> list[Child]:
    """Every live (not being deleted) child of the domains' containers, anywhere."""
    selector = f"{DOMAIN_LABEL} in ({','.join(sorted(domains))}),{UID_LABEL}"
    found = []
    for kind in (*NAMESPACED_KINDS, "persistentvolumes"):
        scope = [] if kind == "persistentvolumes" else ["-A"]
        for obj in _items(cluster, kind, *scope, "-l", selector):
            meta = obj["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            labels = meta["labels"]
            found.append(
                Child(
                    kind,
                    meta.get("namespace"),
                    meta["name"],
                    labels[DOMAIN_LABEL],
                    labels.get(NAME_LABEL, ""),
                    labels[UID_LABEL],
                )
            )
    return found


def judge(
    containers: Iterable[Mapping[str, Any]], found: Iterable[Child], with_pvc: Iterable[str] = ()
) -> Report:
    """The report for `containers` (JupyterContainer objects) and their children `found`.

    `with_pvc`: names of the Volumes that are On Demand PVCs (a container of one must keep it).
    """
    by_uid = {c["metadata"]["uid"]: c for c in containers}
    found = list(found)
    report = Report(containers=len(by_uid), children=len(found))
    counts: Counter[tuple[str, str]] = Counter()
    on_demand = set(with_pvc)
    for child in found:
        owner = by_uid.get(child.uid)
        if owner is None:
            report.orphans.append(str(child))
            continue
        if child.kind != "persistentvolumes":
            counts[(child.uid, child.kind)] += 1
        deployed = (owner.get("status") or {}).get("deploymentNamespace")
        if child.kind in ("deployments", "services") and deployed and child.namespace != deployed:
            report.misplaced.append(f"{child} (deployed in {deployed})")
    for (uid, kind), n in counts.items():
        if n > 1:
            meta = by_uid[uid]["metadata"]
            report.duplicates.append(f"{n} {kind} of {meta['namespace']}/{meta['name']}")
    for uid, jc in by_uid.items():
        meta, spec, status = jc["metadata"], jc["spec"], jc.get("status") or {}
        ref = f"{meta['namespace']}/{meta['name']}"
        want = "Active" if spec.get("running", True) else "Stopped"
        if status.get("phase") != want:
            report.wrong_phases.append(
                f"{ref}: {status.get('phase')} ({status.get('reason')}: "
                f"{str(status.get('message'))[:200]}), spec.running {spec.get('running', True)}"
            )
        pvc = status.get("pvcName")
        if pvc and spec.get("volume") in on_demand and status.get("phase") in ("Active", "Stopped"):
            have = [
                c
                for c in found
                if c.uid == uid and c.kind == "persistentvolumeclaims" and c.name == pvc
            ]
            if not have:
                report.lost_pvcs.append(f"{ref}: no PVC {pvc}")
    return report


def inspect(cluster: Cluster, domains: Iterable[str], with_pvc: Iterable[str] = ()) -> Report:
    domains = sorted(domains)
    containers = [
        jc
        for domain in domains
        for jc in _items(cluster, "jupytercontainers", "-n", domain)
        if not jc["metadata"].get("deletionTimestamp")
    ]
    return judge(containers, children(cluster, domains), with_pvc)
