"""The catalog's quantities: what the model (webhook, operator) accepts is what the CRD does.

The same table goes through the real API server in tests/cluster/test_hardening.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from jupyter_containers.api import rules
from jupyter_containers.api.models import InstanceTypeSpec, VolumeSpec
from jupyter_containers.core.catalog import parse_catalog, resources

#: (quantity, accepted)
QUANTITIES: list[tuple[str, bool]] = [
    ("1", True),
    ("500m", True),
    ("1.5", True),
    ("2Gi", True),
    ("1000000001", True),
    ("0.000000001m", True),
    ("999999999999999999", True),
    ("1023Pi", True),
    ("1k", True),
    (".5", True),
    ("0", False),
    ("0m", False),
    ("1E3", False),
    ("1e3", False),
    ("1n", False),
    ("1u", False),
    ("1e400", False),
    ("1E", False),
    ("1Ei", False),
    ("1024Pi", False),
    ("999999999999999999Pi", False),
    ("1K", False),
    ("+1", False),
    ("-1", False),
    ("1.", False),
    ("1\n", False),
    ("1 Gi", False),
    ("0.0000000001", False),
    ("1Gi ", False),
]


@pytest.mark.parametrize(("quantity", "accepted"), QUANTITIES)
def test_instance_type_quantities(quantity: str, accepted: bool) -> None:
    if accepted:
        it = InstanceTypeSpec(cpu=quantity, memory=quantity)
        # ... and the operator can build a pod from it (never dropped or failed later).
        assert parse_catalog({"x": [it.model_dump()]}, InstanceTypeSpec) == {"x": it}
        assert resources("x", it)["limits"]["cpu"]
        return
    with pytest.raises(ValidationError) as exc:
        InstanceTypeSpec(cpu=quantity, memory="1Gi")
    assert [e["msg"] for e in exc.value.errors()] == [
        rules.msg_quantity("spec.cpu", "'1' or '500m'")
    ]


@pytest.mark.parametrize(("quantity", "accepted"), QUANTITIES)
def test_volume_sizes(quantity: str, accepted: bool) -> None:
    body = {"type": "OnDemandPVC", "maxSize": quantity}
    if accepted:
        assert VolumeSpec.model_validate(body).maxSize == quantity
    else:
        with pytest.raises(ValidationError):
            VolumeSpec.model_validate(body)
