"""bounds: status strings within the CRD's maxLength; the start-requested annotation."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_containers.api.models import JupyterContainerStatus, Phase, Reason
from jupyter_containers.core import bounds, naming
from jupyter_containers.core.lifecycle import Verdict
from jupyter_containers.core.status import StatusInputs, build_status

MARK = bounds.TRUNCATION_MARKER


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("x" * 10, 10, "x" * 10),
        ("x" * 11, 10, "x" * 10),  # limit not above the marker: a plain cut
        ("y" * 100, 30, "y" * (30 - len(MARK)) + MARK),
        ("", 5, ""),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    out = bounds.truncate(text, limit)
    assert out == expected and len(out) <= limit


def inputs(**overrides: Any) -> StatusInputs:
    base: dict[str, Any] = {
        "verdict": Verdict(Phase.FAILED, Reason.INVALID_CONFIGURATION, "m" * 10_000),
        "generation": 1,
        "now_iso": "2026-01-01T00:00:00Z",
        "attempt": 1,
        "started_at": None,
        "start_request": "2" * 500,
        "deployment_namespace": "n" * 100,
        "instance": {"name": "i" * 300, "cpu": "1", "memory": "2Gi", "display": "d" * 999},
        "volume_display": "v" * 999,
        "created_by": "u" * 2000,
        "events": {},
        "pod_name": "p" * 300,
        "pvc_name": None,
        "service_name": None,
        "token_secret": None,
    }
    base.update(overrides)
    return StatusInputs(**base)


def test_every_built_status_string_fits_the_crd() -> None:
    status = build_status(inputs(), {})
    # The API model enforces the CRD's maxLength: the whole status must parse.
    JupyterContainerStatus.model_validate(status)
    assert len(status["message"]) == 4096 and status["message"].endswith(MARK)
    assert status["conditions"][0]["message"].endswith(MARK)
    assert len(status["conditions"][0]["message"]) == 4096
    assert len(status["createdBy"]) == 512 and status["createdBy"].endswith(MARK)
    assert len(status["deploymentNamespace"]) == 63
    assert len(status["instance"]["name"]) == 253 and len(status["instance"]["display"]) == 256
    assert len(status["startRequest"]) == 64
    assert status["instance"]["cpu"] == "1" and status["phase"] == "Failed"


def test_a_status_within_bounds_is_unchanged() -> None:
    short = inputs(
        verdict=Verdict(Phase.ACTIVE, Reason.READY, "ok"),
        start_request="2026-01-01T00:00:00Z",
        deployment_namespace="team-a",
        instance=None,
        volume_display="No volume",
        created_by="alice",
        pod_name="pod",
    )
    status = build_status(short, {})
    assert bounds.bound_status(status) == status
    assert MARK not in str(status)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-01-01T10:00:00Z", True),
        ("2026-01-01T10:00:00.123456Z", True),
        ("2026-01-01T10:00:00+02:00", True),
        ("2026-01-01t10:00:00z", True),
        ("2026-01-01 10:00:00Z", False),
        ("2026-13-01T10:00:00Z", False),
        ("2026-02-30T10:00:00Z", False),
        ("2026-01-01T10:00:00", False),
        ("yesterday", False),
        ("", False),
        ("2026-01-01T10:00:00Z" + "0" * 60, False),
        ("2026-01-01T10:00:00." + "1" * 50 + "Z", False),
    ],
)
def test_start_request(value: str, ok: bool) -> None:
    assert (bounds.start_request_problem(value) is None) is ok
    assert bounds.valid_start_request(value) == (value if ok else None)


def test_annotation_problems_name_the_annotation_and_ratchet() -> None:
    key = naming.START_REQUESTED_ANNOTATION
    bad = {"annotations": {key: "x" * 100}}
    [problem] = bounds.annotation_problems(bad, None)
    assert problem.startswith(f"metadata.annotations['{key}']: ")
    assert "RFC 3339" in problem
    assert bounds.annotation_problems(bad, bad) == []  # stored before the rule: unchanged
    assert bounds.annotation_problems({"annotations": {key: "2026-01-01T00:00:00Z"}}, bad) == []
    assert bounds.annotation_problems({}, None) == []
    assert bounds.valid_start_request(None) is None
