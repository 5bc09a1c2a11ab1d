"""Names and labels follow docs/architecture.md exactly."""

from __future__ import annotations

import hashlib
import re

import pytest

from jupyter_containers.api.models import JupyterContainerSpec
from jupyter_containers.core import naming

SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # DNS-1035 label


def test_constants() -> None:
    assert naming.DOMAIN_LABEL == "jupytercontainers.io/domain"
    assert naming.NAME_LABEL == "jupytercontainers.io/name"
    assert naming.UID_LABEL == "jupytercontainers.io/uid"
    assert naming.MANAGED_BY_LABEL == "app.kubernetes.io/managed-by"
    assert naming.MANAGED_BY_VALUE == "jupyter-containers-operator"
    assert naming.SPEC_HASH_ANNOTATION == "jupytercontainers.io/spec-hash"
    assert naming.ATTEMPT_ANNOTATION == "jupytercontainers.io/attempt"
    assert naming.CREATED_BY_ANNOTATION == "jupytercontainers.io/created-by"
    assert naming.START_REQUESTED_ANNOTATION == "jupytercontainers.io/start-requested"
    assert naming.FINALIZER == "jupytercontainers.io/cleanup"


def test_deployment_namespace_defaults_to_domain() -> None:
    assert naming.deployment_namespace("team-a", JupyterContainerSpec(bundle="b")) == "team-a"
    spec = JupyterContainerSpec(bundle="b", namespace="shared")
    assert naming.deployment_namespace("team-a", spec) == "shared"


def test_base_name_same_namespace() -> None:
    assert naming.base_name("demo", "team-a", "team-a") == "jc-demo"


def test_base_name_cross_namespace_hashes_the_domain() -> None:
    digest = hashlib.sha256(b"team-a").hexdigest()[:6]
    assert naming.base_name("demo", "team-a", "shared") == f"jx-demo-{digest}"
    # Two domains deploying "demo" into one namespace do not collide.
    assert naming.base_name("demo", "team-a", "shared") != naming.base_name(
        "demo", "team-b", "shared"
    )
    # The name before `jx-`, which PVCs keep and the operator cleans up after.
    assert naming.legacy_base_name("demo", "team-a", "shared") == f"jc-demo-{digest}"
    assert naming.legacy_base_name("demo", "team-a", "team-a") == "jc-demo"


def test_names_outside_the_domain_never_equal_a_name_inside_another() -> None:
    """Issue 12: `jc-NAME-HASH6` of domain X in namespace Y was `jc-NAME` of container
    `NAME-HASH6` of domain Y. Now every (domain, name) pair has its own base name."""
    digest = naming.domain_hash("team-x")
    outside = naming.base_name("a", "team-x", "team-y")
    inside = naming.base_name(f"a-{digest}", "team-y", "team-y")
    assert outside != inside
    names = ["a", f"a-{digest}", "a-b", f"a-{digest}-x", "x-a"]
    domains = ["team-x", "team-y", "team-z"]
    bases = {(d, n): naming.base_name(n, d, "team-y") for d in domains for n in names}
    assert len(set(bases.values())) == len(bases)


@pytest.mark.parametrize("deploy_ns", ["team-a", "shared"], ids=["same", "cross"])
def test_longest_name_fits_a_service_name(deploy_ns: str) -> None:
    name = "9" + "a" * 51 + "9"  # 53 characters, starting with a digit
    base = naming.base_name(name, "team-a", deploy_ns)
    assert len(base) <= 63
    assert SERVICE_NAME.match(base)


def test_derived_names() -> None:
    assert naming.token_secret_name("jc-demo") == "jc-demo-token"
    pvc = naming.pvc_name("jc-demo", "uid-1", "home")
    assert pvc.startswith("jc-demo-home-") and len(pvc) == len("jc-demo-home-") + 6
    # Another volume or another container of the same name: another claim.
    assert naming.pvc_name("jc-demo", "uid-1", "big") != pvc
    assert naming.pvc_name("jc-demo", "uid-2", "home") != pvc


def test_common_labels() -> None:
    assert naming.common_labels("demo", "team-a", "u-1") == {
        "app.kubernetes.io/name": "jupyterlab",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/component": "notebook",
        "app.kubernetes.io/part-of": "jupyter-containers",
        "app.kubernetes.io/managed-by": "jupyter-containers-operator",
        "jupytercontainers.io/domain": "team-a",
        "jupytercontainers.io/name": "demo",
        "jupytercontainers.io/uid": "u-1",
    }


def test_selector_labels_are_stable_and_select_the_pods() -> None:
    selector = naming.selector_labels("demo", "team-a")
    assert naming.UID_LABEL not in selector  # a Deployment selector is immutable
    labels = naming.common_labels("demo", "team-a", "u-1")
    assert selector.items() <= labels.items()
    assert selector != naming.selector_labels("demo", "team-b")


@pytest.mark.parametrize(
    ("key", "platform"),
    [
        ("jupytercontainers.io/attempt", True),
        ("app.kubernetes.io/name", True),
        ("kubernetes.io/anything", True),
        ("node.k8s.io/x", True),
        ("kopf.zalando.org/last-handled-configuration", True),
        ("team", False),
        ("example.com/cost-center", False),
        ("sim.jupytercontainers.io/scenario", False),
        ("notkubernetes.io/x", False),
    ],
)
def test_is_platform_key(key: str, platform: bool) -> None:
    assert naming.is_platform_key(key) is platform
