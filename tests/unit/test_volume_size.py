"""Volume growth (core.volume_size): the pure rules, the plan's growth and the webhook's verdict.

Tables: the status a PVC's size and conditions give; the plan's patch (or refusal, or the
StorageClass it needs) for each case; the webhook's refusal for each rule.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from jupyter_containers.api.models import JupyterContainerSpec, Phase, Reason, VolumeSpec
from jupyter_containers.cli import render
from jupyter_containers.cli import spec as cli_spec
from jupyter_containers.cli.guided import Draft
from jupyter_containers.console import views
from jupyter_containers.core import judge, naming, volume_size
from jupyter_containers.core.judge import ContainerRequest, Lookup, Need, Verdict
from jupyter_containers.core.plan import ContainerSnapshot, Plan, plan
from jupyter_containers.core.volume_size import (
    Claim,
    Growth,
    StorageClassFacts,
    StorageClassLookup,
    decide_growth,
    storage_status,
)
from tests.unit import test_judge as tj
from tests.unit import test_plan as tp

HOME = VolumeSpec(type="OnDemandPVC", maxSize="10Gi")


def claim(
    request: str = "5Gi",
    capacity: str | None = "5Gi",
    *,
    bound: bool = True,
    storage_class: str | None = "expandable",
    conditions: tuple[str, ...] = (),
) -> Claim:
    return Claim(
        "jc-demo-home",
        request,
        capacity,
        bound,
        storage_class,
        frozenset(conditions),
        "Bound" if bound else "Pending",
    )


# ---------------------------------------------------------------- the model


def test_volume_size_is_a_positive_quantity_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"spec\.volumeSize"):
        JupyterContainerSpec.model_validate({"bundle": "b", "volumeSize": "lots"})
    assert JupyterContainerSpec.model_validate({"bundle": "b", "volumeSize": "20Gi"}).volumeSize


def test_the_pvc_is_made_at_the_size_asked_for_else_the_maximum() -> None:
    spec = JupyterContainerSpec.model_validate({"bundle": "b", "volume": "home"})
    assert volume_size.requested_size(spec, HOME) == "10Gi"
    spec = spec.model_copy(update={"volumeSize": "4Gi"})
    assert volume_size.requested_size(spec, HOME) == "4Gi"
    assert volume_size.requested_size(spec, None) is None


# ---------------------------------------------------------------- decide_growth


@pytest.mark.parametrize(
    ("size", "pvc", "kept", "sc", "expected"),
    [
        ("5Gi", claim(), None, None, Growth()),  # the size it has
        ("4Gi", claim(), None, None, Growth()),  # smaller: never shrunk
        ("8Gi", None, None, None, Growth()),  # no PVC yet: made at this size
        ("8Gi", claim(bound=False), None, None, Growth()),  # waits until bound
        ("8Gi", claim(), None, None, StorageClassLookup("expandable")),
        ("8Gi", claim(), None, StorageClassFacts(True), Growth(size="8Gi")),
        ("8Gi", claim(), "kept", None, Growth(refusal="kept")),  # not looked up again
    ],
)
def test_decide_growth(
    size: str,
    pvc: Claim | None,
    kept: str | None,
    sc: StorageClassFacts | None,
    expected: Growth | StorageClassLookup,
) -> None:
    assert decide_growth(size, pvc, kept_refusal=kept, storage_class=sc) == expected


@pytest.mark.parametrize(
    ("pvc", "sc", "says"),
    [
        (claim(), StorageClassFacts(False), "does not allow volume expansion"),
        (
            claim(),
            StorageClassFacts(None),
            "StorageClass 'expandable' of PVC 'jc-demo-home' does not exist",
        ),
        (claim(storage_class=None), None, "has no StorageClass"),
    ],
)
def test_growth_refused_names_the_class_and_the_fix(
    pvc: Claim, sc: StorageClassFacts | None, says: str
) -> None:
    growth = decide_growth("8Gi", pvc, kept_refusal=None, storage_class=sc)
    assert isinstance(growth, Growth) and growth.size is None
    assert growth.refusal is not None and says in growth.refusal
    assert growth.refusal.startswith("spec.volumeSize: ")
    assert "Keep spec.volumeSize at 5Gi" in growth.refusal


# ---------------------------------------------------------------- status.storage


@pytest.mark.parametrize(
    ("pvc", "growth", "before", "state", "says"),
    [
        (claim(), Growth(), None, None, ""),  # never grown: no state
        (claim(), Growth(size="8Gi"), None, "Requested", "grows from 5Gi to 8Gi"),
        (claim(bound=False), Growth(), None, "Requested", "once it is bound"),
        (claim("8Gi", "5Gi"), Growth(), "Requested", "InProgress", "from 5Gi to 8Gi"),
        (
            claim("8Gi", "5Gi", conditions=("Resizing",)),
            Growth(),
            "InProgress",
            "InProgress",
            "being resized",
        ),
        (
            claim("8Gi", "5Gi", conditions=("FileSystemResizePending",)),
            Growth(),
            "InProgress",
            "FileSystemResizePending",
            "when the container next starts",
        ),
        (claim("8Gi", "8Gi"), Growth(), "InProgress", "Done", "grew to 8Gi"),
        (claim("8Gi", "8Gi"), Growth(), "Done", "Done", "grew to 8Gi"),
        (claim(), Growth(refusal="no."), None, "Refused", "no."),
    ],
)
def test_storage_status(
    pvc: Claim, growth: Growth, before: str | None, state: str | None, says: str
) -> None:
    size = "8Gi" if state not in (None,) else "5Gi"
    out = storage_status(size, pvc, growth, {"resize": before} if before else None)
    assert out is not None and out["requested"] == size
    assert out.get("capacity") == pvc.capacity
    assert out.get("resize") == state
    assert says in (out.get("message") or "")


def test_no_pvc_means_only_the_size_asked_for() -> None:
    assert storage_status("8Gi", None, Growth(), None) == {"requested": "8Gi"}
    assert storage_status(None, None, Growth(), None) is None


# ---------------------------------------------------------------- the plan

STOPPED = tp.stored(Phase.STOPPED, Reason.STOPPED, pvcName="jc-demo-home")
SC_ASKED = "expandable"


def _pvc(request: str, capacity: str, *, uid: str = tp.UID) -> dict[str, Any]:
    """The PVC the operator made for `jc`, bound, as the watch shows it."""
    first, _ = tp.run(tp.container(volume="home", volumeSize=request), tp.snapshot(), tp.T0)
    pvc = copy.deepcopy(
        next(dict(d.body) for d in first.apply if d.body["kind"] == "PersistentVolumeClaim")
    )
    pvc["spec"]["storageClassName"] = SC_ASKED
    pvc["metadata"]["labels"][naming.UID_LABEL] = uid
    pvc["status"] = {"phase": "Bound", "capacity": {"storage": capacity}}
    return pvc


def grow(
    jc: dict[str, Any], pvc: dict[str, Any], allows: bool | None = True
) -> tuple[Plan, list[Any]]:
    """Plan, answering the StorageClass lookup the way shell.reconciler does."""
    asked: list[Any] = []
    sc: StorageClassFacts | None = None
    world = ContainerSnapshot(
        container=None, objects=[pvc], pods=[], instance_types=tp.INSTANCE_TYPES, volumes=tp.VOLUMES
    )
    for _ in range(3):
        result = plan(jc, world, tp.SETTINGS, tp.T0, storage_class=sc)
        if result.needs is None:
            return result, asked
        assert isinstance(result.needs, StorageClassLookup)
        asked.append(result.needs.name)
        sc = StorageClassFacts(allows)
    raise AssertionError("the plan keeps asking")


def stopped(size: str | None, **status: Any) -> dict[str, Any]:
    spec = {"volume": "home", **({"volumeSize": size} if size else {})}
    return tp.container(running=False, status={**STOPPED, **status}, **spec)


@dataclass(frozen=True)
class PlanRow:
    jc: dict[str, Any]
    pvc: dict[str, Any]
    resize: str | None
    state: str | None
    asked: tuple[str, ...] = ()
    allows: bool | None = True
    phase: Phase = Phase.STOPPED


PLAN_ROWS: dict[str, PlanRow] = {
    "stopped, asks for more: the PVC is patched (the class allows it)": PlanRow(
        stopped("8Gi"), _pvc("5Gi", "5Gi"), "8Gi", "Requested", (SC_ASKED,)
    ),
    "stopped, the class does not allow expansion: refused in status, no patch": PlanRow(
        stopped("8Gi"), _pvc("5Gi", "5Gi"), None, "Refused", (SC_ASKED,), allows=False
    ),
    "a refusal of this size and generation is kept, not looked up again": PlanRow(
        stopped(
            "8Gi",
            storage={"requested": "8Gi", "resize": "Refused", "message": "spec.volumeSize: no"},
        ),
        _pvc("5Gi", "5Gi"),
        None,
        "Refused",
    ),
    "patched, the resizer is at work: InProgress, nothing to do": PlanRow(
        stopped("8Gi", storage={"requested": "8Gi", "resize": "Requested"}),
        _pvc("8Gi", "5Gi"),
        None,
        "InProgress",
    ),
    "capacity reached: Done": PlanRow(
        stopped("8Gi", storage={"requested": "8Gi", "resize": "InProgress"}),
        _pvc("8Gi", "8Gi"),
        None,
        "Done",
    ),
    "no volumeSize: the PVC keeps its size (maxSize), nothing asked": PlanRow(
        stopped(None), _pvc("10Gi", "10Gi"), None, None
    ),
    "no volumeSize, maxSize raised above the PVC: it keeps its size (growth is asked for)": (
        PlanRow(stopped(None), _pvc("5Gi", "5Gi"), None, None)
    ),
    "a smaller size never shrinks the PVC": PlanRow(stopped("4Gi"), _pvc("5Gi", "5Gi"), None, None),
    "another container's PVC of that name is never patched": PlanRow(
        stopped("8Gi"), _pvc("5Gi", "5Gi", uid="someone-else"), None, None
    ),
}


@pytest.mark.parametrize("row", PLAN_ROWS.values(), ids=PLAN_ROWS.keys())
def test_plan_growth(row: PlanRow) -> None:
    result, asked = grow(row.jc, row.pvc, row.allows)
    assert tuple(asked) == row.asked
    assert (result.resize.size if result.resize else None) == row.resize
    if result.resize is not None:
        assert result.resize.uid == tp.UID
        name = row.pvc["metadata"]["name"]
        assert result.resize.ref == ("PersistentVolumeClaim", tp.DOMAIN, name)
    assert result.status is not None and result.status["phase"] == row.phase
    assert (result.status.get("storage") or {}).get("resize") == row.state
    assert not result.apply  # stopped: nothing else is written


def test_a_size_above_the_maximum_is_an_invalid_configuration() -> None:
    result, _ = grow(stopped("20Gi"), _pvc("5Gi", "5Gi"))
    assert result.resize is None and result.status is not None
    # Stopped (terminate always works), and it says why it cannot start with this size.
    assert result.status["phase"] == Phase.STOPPED
    assert "It cannot start again" in result.status["message"]
    assert "above the maximum size of Volume 'home'" in result.status["message"]
    running = tp.container(status={**STOPPED}, volume="home", volumeSize="20Gi")
    result, _ = grow(running, _pvc("5Gi", "5Gi"))
    assert result.status is not None and result.status["reason"] == Reason.INVALID_CONFIGURATION
    assert not result.apply


def test_a_new_pvc_is_made_at_the_size_asked_for() -> None:
    first, _ = tp.run(tp.container(volume="home", volumeSize="3Gi"), tp.snapshot(), tp.T0)
    pvc = next(d.body for d in first.apply if d.body["kind"] == "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "3Gi"
    assert first.status is not None and first.status["volume"] == "home (On Demand PVC, 3Gi)"


# ---------------------------------------------------------------- the webhook

GROW_CATALOG = (tj.CATALOG[0], {**tj.CATALOG[1], "home": HOME}, *tj.CATALOG[2:])


@dataclass
class GrowthCluster(tj.Cluster):
    pvc: dict[str, Any] | None = None
    allows: bool | None = True

    def answer(self, lookup: Lookup) -> Any:
        if lookup.what == judge.CATALOG:
            return GROW_CATALOG
        if lookup.what == judge.PVC:
            return self.pvc
        if lookup.what == judge.STORAGE_CLASS:
            return self.allows
        return super().answer(lookup)


def _judge(request: ContainerRequest, cluster: tj.Cluster) -> tuple[Verdict, list[str]]:
    facts: dict[Lookup, Any] = {}
    asked: list[str] = []
    for _ in range(10):
        outcome = judge.judge_container(request, facts, tj.SETTINGS)
        if isinstance(outcome, Verdict):
            return outcome, asked
        assert isinstance(outcome, Need) and outcome.lookup not in facts
        asked.append(outcome.lookup.what)
        facts[outcome.lookup] = cluster.answer(outcome.lookup)
    raise AssertionError("the judge keeps asking")


def _owned_pvc(size: str, *, bound: bool = True, uid: str = "uid-1") -> dict[str, Any]:
    return {
        "metadata": {"name": "jc-demo-home", "labels": {naming.UID_LABEL: uid}},
        "spec": {"resources": {"requests": {"storage": size}}, "storageClassName": "fixed"},
        "status": {"phase": "Bound" if bound else "Pending", "capacity": {"storage": size}},
    }


def _update(old_size: str | None, new_size: str | None, **new: Any) -> ContainerRequest:
    old = tj.jc(volume="home", **({"volumeSize": old_size} if old_size else {}))
    old["metadata"]["uid"] = "uid-1"
    body = copy.deepcopy(old)
    body["spec"].pop("volumeSize", None)
    if new_size:
        body["spec"]["volumeSize"] = new_size
    body["spec"].update(new)
    return tj.update(old, body)


STORAGE_QUOTA = {
    "metadata": {"name": "storage", "namespace": "team-a"},
    "spec": {"hard": {"requests.storage": "7Gi"}},
    "status": {"hard": {"requests.storage": "7Gi"}, "used": {"requests.storage": "5Gi"}},
}


@dataclass(frozen=True)
class JudgeRow:
    request: ContainerRequest
    cluster: tj.Cluster
    says: str | None  # None: admitted


JUDGE_ROWS: dict[str, JudgeRow] = {
    "grow a bound PVC of an expandable class: admitted": JudgeRow(
        _update(None, "8Gi"), GrowthCluster(pvc=_owned_pvc("5Gi")), None
    ),
    "above the Volume's maximum: refused, naming maxSize": JudgeRow(
        _update(None, "20Gi"),
        GrowthCluster(pvc=_owned_pvc("5Gi")),
        "spec.volumeSize: 20Gi is above the maximum size of Volume 'home' (its spec.maxSize, "
        "10Gi). Choose at most 10Gi, or ask an admin to raise the maxSize of Volume 'home'.",
    ),
    "smaller than the PVC: refused, a volume never shrinks": JudgeRow(
        _update(None, "4Gi"), GrowthCluster(pvc=_owned_pvc("5Gi")), "a volume never shrinks"
    ),
    "the class does not allow expansion: refused, naming the class": JudgeRow(
        _update(None, "8Gi"),
        GrowthCluster(pvc=_owned_pvc("5Gi"), allows=False),
        "StorageClass 'fixed' of PVC 'jc-demo-home' does not allow volume expansion",
    ),
    "growth beyond the namespace's storage quota: refused with the numbers": JudgeRow(
        _update(None, "8Gi"),
        GrowthCluster(pvc=_owned_pvc("5Gi"), quotas={"team-a": [STORAGE_QUOTA]}),
        "spec.volumeSize: Quota exceeded in namespace 'team-a': growing PVC 'jc-demo-home' needs "
        "requests.storage 3Gi but only 2Gi is available (ResourceQuota 'storage': hard 7Gi, "
        "used 5Gi)",
    ),
    "growth within the quota: admitted": JudgeRow(
        _update(None, "7Gi"),
        GrowthCluster(pvc=_owned_pvc("5Gi"), quotas={"team-a": [STORAGE_QUOTA]}),
        None,
    ),
    "a PVC not bound yet cannot grow": JudgeRow(
        _update(None, "8Gi"), GrowthCluster(pvc=_owned_pvc("5Gi", bound=False)), "not bound"
    ),
    "another's PVC of that name is not judged as ours": JudgeRow(
        _update(None, "8Gi"), GrowthCluster(pvc=_owned_pvc("9Gi", uid="other")), None
    ),
    "no PVC yet: any size up to the maximum": JudgeRow(
        _update(None, "2Gi"), GrowthCluster(pvc=None), None
    ),
    "a size without a volume: refused": JudgeRow(
        tj.create(volumeSize="2Gi"), GrowthCluster(), "has no volume to size"
    ),
    "unchanged size: not judged again (no lookup)": JudgeRow(
        _update("8Gi", "8Gi", tags={"a": "b"}),
        GrowthCluster(pvc=_owned_pvc("5Gi"), allows=False),
        None,
    ),
}


@pytest.mark.parametrize("row", JUDGE_ROWS.values(), ids=JUDGE_ROWS.keys())
def test_judge_volume_size(row: JudgeRow) -> None:
    verdict, asked = _judge(row.request, row.cluster)
    if row.says is None:
        assert verdict.problem is None, verdict.problem
    else:
        assert verdict.problem is not None and row.says in verdict.problem.message
    old, new = row.request.old or {}, row.request.new or {}
    if old and old["spec"].get("volumeSize") == new["spec"].get("volumeSize"):
        assert judge.PVC not in asked and judge.STORAGE_CLASS not in asked


# ---------------------------------------------------------------- the plugin and the console


def test_configure_volume_size_sets_the_field() -> None:
    changes = cli_spec.Changes(volume_size="8Gi")
    assert changes.any()
    new = cli_spec.apply_changes({"bundle": "b", "volume": "home"}, changes)
    assert new["volumeSize"] == "8Gi"
    assert cli_spec.FLAG_OF["volumeSize"] == "--volume-size"


def test_the_guided_draft_keeps_volume_size() -> None:
    jc = {"metadata": {"name": "demo"}, "spec": {"bundle": "b", "volumeSize": "8Gi"}}
    assert Draft.from_object(jc).spec()["volumeSize"] == "8Gi"


@pytest.mark.parametrize(
    ("storage", "text"),
    [
        ({"requested": "8Gi", "capacity": "8Gi"}, "8Gi"),
        (
            {"requested": "8Gi", "capacity": "5Gi", "resize": "InProgress", "message": "m."},
            "8Gi (has 5Gi)\nInProgress: m.",
        ),
    ],
)
def test_describe_shows_the_volume_size(storage: dict[str, str], text: str) -> None:
    assert render.storage_text(storage) == text


def test_console_form_and_field_of_volume_size() -> None:
    form = views.Form.from_json({"bundle": "b", "volume": "home", "volumeSize": " 8Gi "})
    assert form.spec()["volumeSize"] == "8Gi"
    assert "volumeSize" not in views.Form.from_json({"bundle": "b"}).spec({"volumeSize": "1Gi"})
    assert views.field_of("spec.volumeSize: 20Gi is above the maximum") == ["volumeSize"]
    assert views.field_of("spec.volume: Volume 'x' does not exist") == ["volume"]
    assert views.form_of({"metadata": {}, "spec": {"volumeSize": "8Gi"}})["volumeSize"] == "8Gi"


@pytest.mark.parametrize(
    ("size", "volume_name", "volume", "says"),
    [
        ("", "home", HOME, None),
        ("8Gi", "home", HOME, None),
        ("lots", "home", HOME, "spec.volumeSize"),
        ("20Gi", "home", HOME, "above the maximum size of Volume 'home'"),
        ("8Gi", "", None, "has no volume to size"),
        ("8Gi", "gone", None, None),  # the volume field's own error says so
    ],
)
def test_console_volume_size_errors(
    size: str, volume_name: str, volume: VolumeSpec | None, says: str | None
) -> None:
    errors = views.volume_size_errors(size, volume_name, volume)
    assert (errors == []) if says is None else (len(errors) == 1 and says in errors[0])
