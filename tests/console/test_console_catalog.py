"""The console offers only the catalog entries the user may pick (issue 15's entitlements):
an image restricted to a group the user is not in is never offered; entries restricted to a
bundle are offered with that bundle only; the chosen image reaches spec.image."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect

from tests.console.conftest import ConsoleServer, SignIn, shot
from tests.console.test_console import fill_general, tab

pytestmark = [pytest.mark.cluster, pytest.mark.browser]


@pytest.fixture
def restricted_catalog(cluster: Any, domain: str, catalog: None, webhooks: None) -> Iterator[None]:
    docs = [
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterImage",
            "metadata": {"name": "con-group-only"},
            "spec": {"image": "registry.example/gpu:1", "allowedGroups": ["not-alices-group"]},
        },
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "JupyterImage",
            "metadata": {"name": "con-team-only"},
            "spec": {
                "image": "registry.example/team:1",
                "displayName": "Team image",
                "allowedBundles": [f"{domain}/team"],
            },
        },
        {
            "apiVersion": "jupytercontainers.io/v1alpha1",
            "kind": "InstanceType",
            "metadata": {"name": "con-team-type"},
            "spec": {
                "cpu": "1",
                "memory": "1Gi",
                "order": 1000,
                "allowedBundles": [f"{domain}/team"],
            },
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    yield
    cluster.kubectl("delete", "jc", "entitled", "-n", domain, "--wait=false", check=False)
    cluster.kubectl(
        "delete", "jupyterimage/con-group-only", "jupyterimage/con-team-only",
        "instancetype/con-team-type", "--wait=false", check=False,
    )  # fmt: skip


def _offered(page: Any, label: str) -> list[str]:
    """The values of the enabled options of a select."""
    return page.get_by_label(label).evaluate(
        "s => Array.from(s.options).filter(o => !o.disabled && !o.hidden).map(o => o.value)"
    )


def test_only_entitled_choices_are_offered_and_the_image_is_saved(
    sign_in: SignIn, console: ConsoleServer, cluster: Any, domain: str, restricted_catalog: None
) -> None:
    alice = sign_in("alice")
    alice.goto(f"{console.url}/containers/new?domain={domain}")
    fill_general(alice, "entitled", bundle="team")
    images = _offered(alice, "Image")
    assert "con-team-only" in images and "scipy" in images and images[0] == ""
    assert "con-group-only" not in images
    assert "con-group-only" not in alice.get_by_label("Image").inner_html()
    assert "con-team-type" in _offered(alice, "Instance type")
    # Another bundle: the team's entries are not offered.
    alice.get_by_label("Resource bundle").select_option("carols")
    assert "con-team-only" not in _offered(alice, "Image")
    assert "con-team-type" not in _offered(alice, "Instance type")
    shot(alice, "create-image-other-bundle")
    # Back to the team: pick its image and create.
    alice.get_by_label("Resource bundle").select_option("team")
    alice.get_by_label("Image").select_option("con-team-only")
    for _ in range(3):
        alice.get_by_role("button", name="Next").click()
    expect(tab(alice, "Review & Create")).to_have_attribute("aria-selected", "true")
    expect(alice.locator("#review")).to_contain_text("Team image (registry.example/team:1)")
    alice.get_by_role("button", name="Create").click()
    # The console's part ends with the stored spec (the start is tests/cluster/
    # test_entitlements.py's): the detail page of the created container.
    alice.wait_for_url(f"**/domains/{domain}/containers/entitled")
    jc = json.loads(cluster.kubectl("get", "jc", "entitled", "-n", domain, "-o", "json").stdout)
    assert jc["spec"]["image"] == "con-team-only"
