"""The console's configure page grows a stopped container's home volume: the PVC size field,
its refusal at Next (above the Volume's maximum), and Save growing the same PVC, shown live on
the detail page (the local cluster's simulated resizer: tools/kwok/stages/volume.yaml)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.console.conftest import ConsoleServer, SignIn
from tests.console.test_console import error_of, make, tab, wait_phase

__all__ = ["make"]

pytestmark = [pytest.mark.cluster, pytest.mark.browser]


def pvc_uid(cluster: Any, domain: str, name: str) -> str:
    out = cluster.kubectl(
        "get", "pvc", "-n", domain, "-l", f"jupytercontainers.io/name={name}", "-o", "json"
    )
    (pvc,) = json.loads(out.stdout)["items"]
    return str(pvc["metadata"]["uid"])


def test_configure_grows_the_pvc_of_a_stopped_container(
    sign_in: SignIn, console: ConsoleServer, make: Callable[..., None], cluster: Any, domain: str
) -> None:
    make("grower", volume="test-home-large", volumeSize="1Gi")
    wait_phase(cluster, domain, "grower", "Active")
    before = pvc_uid(cluster, domain, "grower")
    cluster.kubectl(
        "patch", "jc", "grower", "-n", domain, "--type=merge", "-p", '{"spec":{"running":false}}'
    )
    wait_phase(cluster, domain, "grower", "Stopped")

    alice = sign_in("alice")
    alice.goto(f"{console.url}/domains/{domain}/containers/grower/configure")
    size = alice.get_by_label("PVC size")
    expect(size).to_have_value("1Gi")
    size.fill("9Gi")
    alice.get_by_role("button", name="Next").click()
    expect(error_of(alice, "volumeSize")).to_contain_text(
        "above the maximum size of Volume 'test-home-large' (its spec.maxSize, 5Gi)"
    )
    expect(size).to_have_attribute("aria-invalid", "true")

    size.fill("2Gi")
    tab(alice, "Review & Save").click()
    expect(alice.locator("#review")).to_contain_text("2Gi")
    alice.get_by_role("button", name="Save").click()
    alice.wait_for_url(re.compile("/containers/grower$"), timeout=60_000)
    # The operator grows the PVC and reports it; the page's live stream shows it.
    expect(alice.locator("[data-field='volume-size']")).to_contain_text("Done", timeout=30_000)
    expect(alice.locator("[data-field='volume-size']")).to_contain_text("grew to 2Gi")
    assert pvc_uid(cluster, domain, "grower") == before
    cluster.kubectl("delete", "jc", "grower", "-n", domain, "--wait=false")
