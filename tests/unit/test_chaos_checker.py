"""The chaos checker's judgement (tests/chaos/checker.py) on hand-made containers and children."""

from __future__ import annotations

from typing import Any

from tests.chaos.checker import Child, judge


def jc(name: str, uid: str, running: bool = True, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "dom", "uid": uid},
        "spec": {"bundle": "team", "running": running, "volume": "home"},
        "status": {"phase": "Active" if running else "Stopped", **status},
    }


def child(kind: str, uid: str, namespace: str = "dom", name: str = "x") -> Child:
    return Child(kind, namespace, name, "dom", "a", uid)


def test_a_clean_world_has_no_problem() -> None:
    report = judge(
        [jc("a", "u1", deploymentNamespace="dom", pvcName="p")],
        [
            child("deployments", "u1"),
            child("services", "u1"),
            child("persistentvolumeclaims", "u1", name="p"),
        ],
        ["home"],
    )
    assert report.problems() == {}
    assert (report.containers, report.children) == (1, 3)


def test_orphans_duplicates_misplaced_lost_and_wrong_phases() -> None:
    containers = [
        jc("a", "u1", deploymentNamespace="dom"),
        jc("b", "u2", running=False, pvcName="gone"),
        {**jc("c", "u3"), "status": {"phase": "Starting", "reason": "PodPending"}},
    ]
    found = [
        child("secrets", "u-deleted", namespace="old"),
        child("deployments", "u1"),
        child("deployments", "u1", name="y"),
        child("services", "u1", namespace="elsewhere"),
    ]
    report = judge(containers, found, ["home"])
    assert len(report.orphans) == 1 and "old/x" in report.orphans[0]
    assert report.duplicates == ["2 deployments of dom/a"]
    assert len(report.misplaced) == 1 and "elsewhere" in report.misplaced[0]
    assert report.lost_pvcs == ["dom/b: no PVC gone"]
    assert len(report.wrong_phases) == 1 and report.wrong_phases[0].startswith("dom/c: Starting")
