"""Image pre-pull (core.prepull): placement, the DaemonSet, and the decision, by tables."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_containers.api.models import InstanceTypeSpec, JupyterImageSpec
from jupyter_containers.core import naming, prepull
from jupyter_containers.core.settings import PrePullSettings

UID = "0b5e1c1e-0000-4000-8000-000000000001"
DIGEST = "sha256:" + "a" * 64
SETTINGS = PrePullSettings(prepull_namespace="jc-system", prepull_pause_image="reg/pause:3.10")


def it(**spec: Any) -> InstanceTypeSpec:
    return InstanceTypeSpec.model_validate({"cpu": "1", "memory": "1Gi", **spec})


def img(**spec: Any) -> JupyterImageSpec:
    return JupyterImageSpec.model_validate({"image": "quay.io/jupyter/base:1", **spec})


GPU = it(nodeSelector={"accelerator": "nvidia"}, tolerations=[{"key": "gpu", "operator": "Exists"}])
GPU2 = it(
    nodeSelector={"pool": "gpu", "accelerator": "nvidia"},
    tolerations=[{"key": "gpu", "operator": "Exists"}, {"key": "big", "effect": "NoSchedule"}],
)
PLAIN = it()


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("scipy", "jc-prepull-scipy"),
        ("a" * 52, "jc-prepull-" + "a" * 52),
    ],
)
def test_short_names_are_kept(image: str, expected: str) -> None:
    assert prepull.daemonset_name(image) == expected


def test_long_names_are_cut_with_a_hash_and_stay_distinct() -> None:
    a, b = prepull.daemonset_name("x" * 60 + "a"), prepull.daemonset_name("x" * 60 + "b")
    assert len(a) <= 63 and len(b) <= 63 and a != b
    assert prepull.daemonset_name("x" * 49 + ".y" * 10).count("..") == 0


# ---------------------------------------------------------------- which instance types


@pytest.mark.parametrize(
    ("image", "instance_type", "shared"),
    [
        ({}, {}, True),
        ({"allowedGroups": ["ml"]}, {}, True),
        ({}, {"allowedGroups": ["ml"]}, True),
        ({"allowedGroups": ["ml"]}, {"allowedGroups": ["ml", "x"]}, True),
        ({"allowedGroups": ["ml"]}, {"allowedGroups": ["web"]}, False),
        ({"allowedBundles": ["team/a"]}, {"allowedBundles": ["team/a"]}, True),
        ({"allowedBundles": ["team/a"]}, {"allowedBundles": ["team/*"]}, True),
        ({"allowedBundles": ["team/*"]}, {"allowedBundles": ["team/b"]}, True),
        ({"allowedBundles": ["team/a"]}, {"allowedBundles": ["team/b"]}, False),
        ({"allowedBundles": ["team/a"]}, {"allowedBundles": ["other/a"]}, False),
        ({"allowedBundles": ["team/a"]}, {"allowedGroups": ["ml"]}, False),
    ],
)
def test_may_share(image: dict[str, Any], instance_type: dict[str, Any], shared: bool) -> None:
    assert prepull.may_share(img(**image), it(**instance_type)) is shared


def test_usable_instance_types_are_available_and_shared() -> None:
    types = {
        "small": PLAIN,
        "gone": it(available=False),
        "web": it(allowedGroups=["web"]),
        "ml": it(allowedGroups=["ml"]),
    }
    assert prepull.usable_instance_types(img(allowedGroups=["ml"]), types) == ["ml", "small"]


# ---------------------------------------------------------------- placement


def _terms(where: prepull.Placement) -> Any:
    assert where.affinity is not None
    required = where.affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return required["nodeSelectorTerms"]


def test_no_instance_type_no_placement() -> None:
    assert prepull.placement([]) is None


def test_one_instance_type_without_a_selector_means_every_node() -> None:
    where = prepull.placement([GPU, PLAIN])
    assert where is not None and where.affinity is None
    assert where.tolerations == [{"key": "gpu", "operator": "Exists"}]


def test_selectors_become_ored_terms_and_tolerations_their_union() -> None:
    where = prepull.placement([GPU, GPU2, GPU])
    assert where is not None
    assert _terms(where) == [
        {"matchExpressions": [{"key": "accelerator", "operator": "In", "values": ["nvidia"]}]},
        {
            "matchExpressions": [
                {"key": "accelerator", "operator": "In", "values": ["nvidia"]},
                {"key": "pool", "operator": "In", "values": ["gpu"]},
            ]
        },
    ]
    assert where.tolerations == [
        {"key": "gpu", "operator": "Exists"},
        {"key": "big", "effect": "NoSchedule"},
    ]


# ---------------------------------------------------------------- the DaemonSet


def _ds(image: JupyterImageSpec, types: list[InstanceTypeSpec] | None = None) -> dict[str, Any]:
    where = prepull.placement(types or [PLAIN])
    assert where is not None
    return prepull.build_daemonset("scipy", UID, image, where, "jc-system", "reg/pause:3.10")


def test_daemonset_is_ours_owned_by_the_image_and_in_the_namespace() -> None:
    ds = _ds(img())
    meta = ds["metadata"]
    assert (meta["name"], meta["namespace"]) == ("jc-prepull-scipy", "jc-system")
    assert prepull.is_ours(meta["labels"])
    assert meta["labels"][prepull.IMAGE_UID_LABEL] == UID
    assert meta["annotations"][prepull.IMAGE_ANNOTATION] == "scipy"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterImage",
            "name": "scipy",
            "uid": UID,
        }
    ]
    selector = ds["spec"]["selector"]["matchLabels"]
    assert selector.items() <= ds["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("image", "reference", "policy"),
    [
        (img(), "quay.io/jupyter/base:1", "Always"),
        (img(digest=DIGEST), f"quay.io/jupyter/base:1@{DIGEST}", "IfNotPresent"),
    ],
)
def test_the_init_container_pulls_what_containers_run(
    image: JupyterImageSpec, reference: str, policy: str
) -> None:
    pod = _ds(image)["spec"]["template"]["spec"]
    (pull,) = pod["initContainers"]
    assert (pull["image"], pull["imagePullPolicy"]) == (reference, policy)
    assert pull["command"] == ["/bin/sh", "-c", "exit 0"]
    (pause,) = pod["containers"]
    assert (pause["image"], pause["imagePullPolicy"]) == ("reg/pause:3.10", "IfNotPresent")


def test_pods_pass_the_restricted_pod_security_standard_with_tiny_requests() -> None:
    pod = _ds(img())["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert "volumes" not in pod and "hostNetwork" not in pod
    for c in (*pod["initContainers"], *pod["containers"]):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["runAsNonRoot"] is True
        assert not c.get("ports")
        assert c["resources"]["requests"]["cpu"] == "1m"


def test_placement_reaches_the_pod() -> None:
    pod = _ds(img(), [GPU])["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert "nodeAffinity" in pod["affinity"]
    anywhere = _ds(img())["spec"]["template"]["spec"]
    assert "affinity" not in anywhere and "tolerations" not in anywhere


def test_a_changed_reference_changes_the_hash() -> None:
    def hash_of(ds: dict[str, Any]) -> str:
        return str(ds["metadata"]["annotations"][naming.SPEC_HASH_ANNOTATION])

    assert hash_of(_ds(img())) == hash_of(_ds(img()))
    assert hash_of(_ds(img())) != hash_of(_ds(img(digest=DIGEST)))
    assert hash_of(_ds(img())) != hash_of(_ds(img(image="quay.io/jupyter/base:2")))


# ---------------------------------------------------------------- the decision


def observed(body: dict[str, Any] | None = None, **status: int) -> prepull.Observed:
    body = dict(body or _ds(img(prePull=True)))
    body["metadata"] = {**body["metadata"], "generation": 2}
    body["status"] = {"observedGeneration": 2, **status}
    return prepull.Observed.of(body)


def foreign() -> prepull.Observed:
    return prepull.Observed.of({"metadata": {"name": "jc-prepull-scipy", "labels": {"a": "b"}}})


def other_uid() -> prepull.Observed:
    body = _ds(img(prePull=True))
    body["metadata"]["labels"] = {**body["metadata"]["labels"], prepull.IMAGE_UID_LABEL: "old"}
    return prepull.Observed.of(body)


TYPES = {"small": PLAIN}
ON = img(prePull=True)


@pytest.mark.parametrize(
    ("case", "image", "uid", "types", "seen", "settings", "action", "message"),
    [
        ("new", ON, UID, TYPES, None, SETTINGS, prepull.Action.APPLY, None),
        ("up to date", ON, UID, TYPES, observed(), SETTINGS, prepull.Action.NONE, None),
        (
            "rolled",
            img(prePull=True, digest=DIGEST),
            UID,
            TYPES,
            observed(),
            SETTINGS,
            prepull.Action.APPLY,
            None,
        ),
        ("off, none", img(), UID, TYPES, None, SETTINGS, prepull.Action.NONE, None),
        ("turned off", img(), UID, TYPES, observed(), SETTINGS, prepull.Action.DELETE, None),
        ("image deleted", None, None, TYPES, observed(), SETTINGS, prepull.Action.DELETE, None),
        (
            "unavailable",
            img(prePull=True, available=False),
            UID,
            TYPES,
            observed(),
            SETTINGS,
            prepull.Action.DELETE,
            "not available",
        ),
        (
            "no instance type",
            img(prePull=True, allowedGroups=["ml"]),
            UID,
            {"web": it(allowedGroups=["web"])},
            observed(),
            SETTINGS,
            prepull.Action.DELETE,
            "no available InstanceType",
        ),
        (
            "no namespace",
            ON,
            UID,
            TYPES,
            None,
            PrePullSettings(),
            prepull.Action.NONE,
            "JC_PREPULL_NAMESPACE",
        ),
        ("foreign", ON, UID, TYPES, foreign(), SETTINGS, prepull.Action.NONE, "not made by"),
        ("foreign, off", img(), UID, TYPES, foreign(), SETTINGS, prepull.Action.NONE, None),
        ("foreign, no image", None, None, TYPES, foreign(), SETTINGS, prepull.Action.NONE, None),
        ("former image", ON, UID, TYPES, other_uid(), SETTINGS, prepull.Action.DELETE, "former"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_decide(
    case: str,
    image: JupyterImageSpec | None,
    uid: str | None,
    types: dict[str, InstanceTypeSpec],
    seen: prepull.Observed | None,
    settings: PrePullSettings,
    action: prepull.Action,
    message: str | None,
) -> None:
    decision = prepull.decide("scipy", uid, image, types, seen, settings)
    assert decision.action is action
    assert (decision.body is not None) is (action is prepull.Action.APPLY)
    if image is None or not image.prePull:
        assert decision.status is None  # no status.prePull when it is off
    else:
        assert decision.status is not None
        assert (decision.status.message is not None) is (message is not None)
        if message is not None:
            assert message in (decision.status.message or "")


@pytest.mark.parametrize(
    ("status", "ready", "nodes"),
    [
        ({"desiredNumberScheduled": 3, "numberReady": 3, "updatedNumberScheduled": 3}, 3, "3/3"),
        # Rolling: the old pods are ready, only one new one is.
        ({"desiredNumberScheduled": 3, "numberReady": 3, "updatedNumberScheduled": 1}, 1, "1/3"),
        ({"desiredNumberScheduled": 2, "numberReady": 0, "updatedNumberScheduled": 2}, 0, "0/2"),
    ],
)
def test_status_counts_nodes_with_the_current_reference(
    status: dict[str, int], ready: int, nodes: str
) -> None:
    decision = prepull.decide("scipy", UID, ON, TYPES, observed(**status), SETTINGS)
    assert decision.status is not None
    assert decision.status.readyNodes == ready
    assert decision.status.desiredNodes == status["desiredNumberScheduled"]
    assert decision.status.nodes == nodes
    assert decision.status.daemonSet == "jc-system/jc-prepull-scipy"
    assert decision.status.image == "quay.io/jupyter/base:1"


def test_a_status_not_yet_observed_counts_no_node_ready() -> None:
    body = _ds(ON)
    body["metadata"] = {**body["metadata"], "generation": 3}
    body["status"] = {"observedGeneration": 2, "desiredNumberScheduled": 2, "numberReady": 2}
    decision = prepull.decide("scipy", UID, ON, TYPES, prepull.Observed.of(body), SETTINGS)
    assert decision.status is not None and decision.status.readyNodes == 0
