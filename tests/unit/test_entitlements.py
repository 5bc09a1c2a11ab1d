"""Entitlements (core.entitlements) and the image catalog's resolution (core.catalog)."""

from __future__ import annotations

import pytest

from jupyter_containers.api.models import InstanceTypeSpec, JupyterImageSpec, VolumeSpec
from jupyter_containers.core import catalog
from jupyter_containers.core.entitlements import Chooser, entitled, for_bundles

OPEN = InstanceTypeSpec(cpu="1", memory="1Gi")
GPU = InstanceTypeSpec(cpu="1", memory="1Gi", allowedGroups=["gpu"])
TEAM_A = InstanceTypeSpec(cpu="1", memory="1Gi", allowedBundles=["team-a/ml"])
NAMESPACE_B = InstanceTypeSpec(cpu="1", memory="1Gi", allowedBundles=["team-b/*"])
EITHER = InstanceTypeSpec(
    cpu="1", memory="1Gi", allowedBundles=["team-a/ml"], allowedGroups=["gpu"]
)


def chooser(bundle: str | None = "team-a/ml", *groups: str, admin: bool = False) -> Chooser:
    return Chooser(bundle, frozenset(groups), admin)


@pytest.mark.parametrize(
    ("entry", "who", "expected"),
    [
        (OPEN, chooser(), True),
        (GPU, chooser(), False),
        (GPU, chooser("team-a/ml", "gpu"), True),
        (GPU, chooser(None, "gpu"), True),
        (TEAM_A, chooser(), True),
        (TEAM_A, chooser("team-a/other"), False),
        (TEAM_A, chooser("team-b/ml"), False),
        (TEAM_A, chooser(None), False),
        (NAMESPACE_B, chooser("team-b/anything"), True),
        (NAMESPACE_B, chooser("team-a/ml"), False),
        (EITHER, chooser("x/y", "gpu"), True),
        (EITHER, chooser("team-a/ml"), True),
        (EITHER, chooser("x/y", "cpu"), False),
        (GPU, chooser("x/y", admin=True), True),
    ],
)
def test_entitled(entry: InstanceTypeSpec, who: Chooser, expected: bool) -> None:
    assert entitled(entry, who) is expected


def test_admin_groups_make_an_admin() -> None:
    assert Chooser.of("a/b", ["platform-admins"], ["platform-admins"]).admin
    assert Chooser.of("a/b", ["system:masters"], []).admin
    assert not Chooser.of("a/b", ["dev"], ["platform-admins"]).admin


@pytest.mark.parametrize(
    ("entry", "expected"),
    [(OPEN, None), (GPU, []), (TEAM_A, ["team-a/ml"]), (NAMESPACE_B, [])],
)
def test_for_bundles_lists_the_bundles_a_form_may_pick_it_with(
    entry: InstanceTypeSpec, expected: list[str] | None
) -> None:
    assert for_bundles(entry, ["team-a/ml", "team-a/other"], chooser(None)) == expected


IMAGES = {
    "base": JupyterImageSpec(image="r/base:1", default=True, order=5),
    "scipy": JupyterImageSpec(image="r/scipy:1", order=1, digest="sha256:" + "0" * 64),
    "cuda": JupyterImageSpec(image="r/cuda:1", default=True, order=0, allowedGroups=["gpu"]),
    "old": JupyterImageSpec(image="r/old:1", available=False, default=True, order=0),
}


@pytest.mark.parametrize(
    ("requested", "who", "expected"),
    [
        (None, chooser(), ("base", "r/base:1")),
        (None, chooser("x/y", "gpu"), ("cuda", "r/cuda:1")),
        ("scipy", chooser(), ("scipy", "r/scipy:1@sha256:" + "0" * 64)),
        ("cuda", chooser("x/y", "gpu"), ("cuda", "r/cuda:1")),
    ],
)
def test_resolve_image(requested: str | None, who: Chooser, expected: tuple[str, str]) -> None:
    assert catalog.resolve_image(requested, IMAGES, "fallback:1", [who]) == expected


def test_no_default_image_in_the_catalog_is_the_operators_image() -> None:
    only = {"scipy": IMAGES["scipy"]}
    assert catalog.resolve_image(None, only, "fallback:1", [chooser()]) == (None, "fallback:1")


@pytest.mark.parametrize(
    ("requested", "says"),
    [
        (
            "nope",
            "spec.image: JupyterImage 'nope' does not exist; choose one of the images "
            "you may use (scipy, base) or remove spec.image for the default.",
        ),
        (
            "old",
            "spec.image: JupyterImage 'old' is not available; choose one of the images "
            "you may use (scipy, base)",
        ),
        (
            "cuda",
            "spec.image: JupyterImage 'cuda' is not offered to bundle 'team-a/ml' or your "
            "groups; choose one of the images you may use (scipy, base)",
        ),
    ],
)
def test_refused_images_name_the_field_and_the_offer(requested: str, says: str) -> None:
    with pytest.raises(catalog.CatalogError) as err:
        catalog.resolve_image(requested, IMAGES, "fallback:1", [chooser()])
    assert says in err.value.message


def test_not_enforced_keeps_a_withdrawn_entry_of_a_running_container() -> None:
    assert catalog.resolve_image("old", IMAGES, "f", [chooser()], enforce=False)[1] == "r/old:1"
    types = {"gpu": GPU}
    assert catalog.resolve_instance_type("gpu", types, [chooser()], enforce=False)[0] == "gpu"


def test_the_default_instance_type_is_the_first_one_may_use() -> None:
    types = {"gpu": GPU.model_copy(update={"order": 0}), "small": OPEN}
    assert catalog.resolve_instance_type(None, types, [chooser()])[0] == "small"
    assert catalog.resolve_instance_type(None, types, [chooser(None, "gpu")])[0] == "gpu"


def test_volume_offers_only_entitled_ones() -> None:
    volumes = {
        "home": VolumeSpec(type="OnDemandPVC", maxSize="1Gi"),
        "ml": VolumeSpec(type="OnDemandPVC", maxSize="1Gi", allowedBundles=["team-b/*"]),
    }
    assert catalog.offered_volumes(volumes, [chooser()]) == ["home"]
    with pytest.raises(catalog.CatalogError, match=r"choose one you may use \(home\)"):
        catalog.resolve_volume("ml", volumes, [chooser()])


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"image": "r/x:1@sha256:" + "0" * 64}, "without '@digest'"),
        ({"image": "r/x:1", "digest": "md5:00"}, "spec.digest: not an image digest"),
        ({"image": "R/X"}, "spec.image: not a valid image reference"),
    ],
)
def test_image_entry_rules(spec: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        JupyterImageSpec.model_validate(spec)


def test_bundle_refs_are_namespace_slash_name() -> None:
    with pytest.raises(ValueError, match="'namespace/bundle'"):
        VolumeSpec(type="OnDemandPVC", maxSize="1Gi", allowedBundles=["ml"])
