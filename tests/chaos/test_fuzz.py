"""Property-based fuzzing (hypothesis) of the four kinds' specs through the real API server.

Each generated spec mixes plausible values with hostile ones (wrong types, huge numbers,
control characters, unknown fields) for the fields the CRD declares (read from crds/, so new
fields are fuzzed too). Created as a user would (kubectl, through the CRD schema, CEL and the
webhooks), each must be either refused with a message that names a field of the spec, or
admitted and reconciled (a JupyterContainer gets a status phase); an API error 500 is a
failure. Throughout, the chaos operator must stay up, and afterwards it must go quiet (no
reconcile loop). JC_CHAOS_FUZZ_EXAMPLES examples per kind (make chaos: many more).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import time
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.chaos.conftest import CHAOS_PREFIX, size
from tests.cluster.conftest import OperatorProcess
from tests.conftest import CRD_DIR, Cluster

EXAMPLES = size("FUZZ_EXAMPLES", 8)
KINDS = {
    "JupyterContainer": "jupytercontainers",
    "InstanceType": "instancetypes",
    "Volume": "volumes",
    "ResourceBundle": "resourcebundles",
}
#: Values that pass the schema, so generated specs also get past it to the webhook and operator.
PLAUSIBLE: dict[str, list[Any]] = {
    "bundle": ["team"],
    "instanceType": ["test-small", "test-large", "test-gpu-only", "no-such-type"],
    "volume": ["test-home", "test-nfs", "test-hostpath", "test-unbound", "no-such-volume"],
    # spec.image names a JupyterImage (tests/cluster/conftest.py CATALOG); references are refused.
    "image": ["", "x", "no-such-image", "busybox:1", "bad\x01ref"],
    "running": [True, False],
    "cpu": ["1", "500m", "1E3", "1n", "1e400", "0", "-1"],
    "memory": ["1Gi", "512Mi", "1E3", "1n", "0"],
    "maxSize": ["1Gi", "1n", "1E3", "0"],
    "type": ["OnDemandPVC", "NFS", "HostPath", "TmpFS", "EmptyDir", "Other"],
    "owner": ["alice", "bob", "system:admin", ""],
    "order": [0, 1, -1, 2**31],
    "requestRatio": [0.5, 1, 0, 2],
    "available": [True, False],
    "displayName": ["Small", ""],
    "description": ["ours"],
    "namespace": ["default", "kube-system", "no-such-namespace"],
    "env": [[], [{"name": "A", "value": "b"}], [{"name": "B", "valueFrom": {}}]],
    "args": [[], ["--ServerApp.iopub_data_rate_limit=1e9"], ["--NotebookApp.token="]],
    "tags": [{}, {"team": "x"}, {"kubernetes.io/x": "y"}],
    "nodeSelector": [{}, {"disk": "ssd"}],
    "tolerations": [[], [{"key": "k", "operator": "Exists"}]],
    "storageClassName": ["kwok-volume", "no-such-class"],
    "accessModes": [["ReadWriteOnce"], ["ReadWriteMany"]],
    "nfs": [{"server": "nfs.example.internal", "path": "/x"}, {"server": ""}],
    "hostPath": ["/data", "relative"],
    "grants": [[], [{"users": ["bob"], "permissions": ["view"]}], [{"groups": ["g"]}]],
}
counted: dict[str, int] = {"tried": 0, "refused": 0, "admitted": 0, "reconciled": 0}
_serial = itertools.count()
refusals: list[str] = []


@cache
def declared_fields(plural: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every field, the required ones) of the kind's spec, from its CRD."""
    crd = yaml.safe_load((CRD_DIR / f"jupytercontainers.io_{plural}.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return tuple(spec["properties"]), tuple(spec.get("required") or ())


hostile = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
        st.sampled_from(["", " ", "\x00", "a" * 300, "1E3", "-", "${HOME}", "{}", "[]"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def field_value(name: str) -> st.SearchStrategy[Any]:
    plausible = PLAUSIBLE.get(name)
    if not plausible:
        return hostile
    # Mostly plausible, so that many specs get past the schema to the webhook and operator.
    return st.one_of(*[st.sampled_from(plausible)] * 3, hostile)


#: A spec of each kind that is admitted and reconciled; half the examples change one field of it.
VALID: dict[str, dict[str, Any]] = {
    "jupytercontainers": {"bundle": "team", "instanceType": "test-small", "running": False},
    "instancetypes": {"cpu": "1", "memory": "1Gi", "available": False, "order": 1000},
    "volumes": {"type": "OnDemandPVC", "maxSize": "1Gi"},
    "resourcebundles": {"owner": "alice"},
}


@st.composite
def specs(draw: st.DrawFn, plural: str) -> dict[str, Any]:
    names, required = declared_fields(plural)
    if draw(st.booleans()):
        name = draw(st.sampled_from(names))
        return {**VALID[plural], name: draw(field_value(name))}
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    if draw(st.integers(0, 9)) > 0:  # usually with the required fields
        chosen = [*dict.fromkeys([*required, *chosen])]
    spec = {name: draw(field_value(name)) for name in chosen}
    if draw(st.integers(0, 9)) == 0:
        spec[draw(st.text(min_size=1, max_size=10))] = draw(hostile)  # an unknown field
    return spec


def _names_a_field(message: str, spec: dict[str, Any]) -> bool:
    lowered = message.lower()
    return "spec" in lowered or any(str(k).lower() in lowered for k in spec)


def _try(
    cluster: Cluster, op: OperatorProcess, kind: str, domain: str, spec: dict[str, Any]
) -> None:
    plural = KINDS[kind]
    namespaced = kind in ("JupyterContainer", "ResourceBundle")
    name = f"{CHAOS_PREFIX}fz-{next(_serial)}" if not namespaced else f"fz-{next(_serial)}"
    manifest = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    where = ["-n", domain] if namespaced else []
    counted["tried"] += 1
    try:
        body = json.dumps(manifest)
    except ValueError:
        return  # not JSON at all: nothing to send
    result = cluster.kubectl("create", *where, "-f", "-", input=body, check=False)
    message = result.stderr + result.stdout
    assert op.proc is not None and op.proc.poll() is None, f"operator died on {body}"
    if result.returncode != 0:
        counted["refused"] += 1
        assert "InternalError" not in message and " 500" not in message, (body, message)
        assert _names_a_field(message, spec), (body, message)
        refusals.append(message.strip().splitlines()[-1][:160])
        return
    counted["admitted"] += 1
    if kind == "JupyterContainer":
        waited = cluster.kubectl(
            "wait",
            f"{plural}/{name}",
            *where,
            "--for=jsonpath={.status.phase}",
            "--timeout=30s",
            check=False,
            timeout=40,
        )
        assert waited.returncode == 0, f"never reconciled: {body}\n{op.log_tail(40)}"
        counted["reconciled"] += 1
    cluster.kubectl(
        "delete", plural, name, *where, "--timeout=60s", "--wait=true", check=False, timeout=70
    )


def _quiet_lines(log: Path, seconds: float) -> list[str]:
    """Operator log lines written in `seconds` of idleness, probes and access logs left out."""
    start = log.stat().st_size
    time.sleep(seconds)
    with log.open("rb") as f:
        f.seek(start)
        lines = f.read().decode(errors="replace").splitlines()
    return [line for line in lines if not re.search(r"aiohttp\.access|activities\.probe", line)]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("kind", list(KINDS))
def test_fuzzed_specs_are_refused_naming_a_field_or_reconciled(
    cluster: Cluster, chaos_operator: OperatorProcess, domain: str, kind: str
) -> None:
    plural = KINDS[kind]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(spec=specs(plural))
    def run(spec: dict[str, Any]) -> None:
        _try(cluster, chaos_operator, kind, domain, spec)

    before = dict(counted)
    refusals.clear()
    run()
    tried = {k: counted[k] - before[k] for k in counted}
    sys.stderr.write(f"\nchaos fuzz {kind}: {tried}\n")
    for reason, n in Counter(refusals).most_common(5):
        sys.stderr.write(f"  {n} x {reason}\n")
    assert tried["tried"] >= EXAMPLES
    # Never loops: once the fuzzed objects are gone the operator falls silent.
    time.sleep(3)
    noise = _quiet_lines(chaos_operator.log_path, 5)
    assert len(noise) < 20, "\n".join(noise[-40:])
