"""core.faults: a failed request of a reconcile -> status, Event, log line, retry (a table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from jupyter_containers.api.models import JupyterContainerStatus, Phase, Reason
from jupyter_containers.core import faults
from jupyter_containers.core.faults import FailureKind, RequestFailure, judge_failure

NOW = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
STARTING = {
    "phase": "Starting",
    "reason": "Deploying",
    "message": "Creating the Deployment and its pod.",
    "attempt": 1,
    "observedGeneration": 1,
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Deploying",
            "message": "m",
            "observedGeneration": 1,
            "lastTransitionTime": "2026-01-01T09:59:00Z",
        },
        {
            "type": "Reconciling",
            "status": "True",
            "reason": "Deploying",
            "message": "m",
            "observedGeneration": 1,
            "lastTransitionTime": "2026-01-01T09:59:00Z",
        },
    ],
}
ACTIVE = {
    **STARTING,
    "phase": "Active",
    "reason": "Ready",
    "message": "JupyterLab is running.",
    "conditions": [{**STARTING["conditions"][0], "status": "True", "reason": "Ready"}],
}

QUOTA = (
    'pods "jc-lab-x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: '
    "pods=1"
)
WEBHOOK = 'admission webhook "deny.example.com" denied the request: no Deployments today'
INVALID = 'Deployment.apps "jc-lab" is invalid: spec.template.spec.tolerations[0].effect: ...'
TERMINATING = (
    'services "jc-lab" is forbidden: unable to create new content in namespace team-a because '
    "it is being terminated"
)


def failure(action: str, code: int | None, reason: str = "", message: str = "") -> RequestFailure:
    return RequestFailure(action, "Deployment", "jc-lab", code, reason, message)


@dataclass(frozen=True)
class Row:
    failure: RequestFailure
    kind: FailureKind
    phase: str | None  # of the status written; None: none written
    reason: str | None = None
    event: bool = True
    status: dict[str, Any] | None = None
    failures: int = 1
    delay: float | None = 1.0


ROWS = {
    "a 422 on apply fails the start at once, not retried": Row(
        failure(faults.APPLY, 422, "Invalid", INVALID),
        FailureKind.INVALID,
        "Failed",
        "Rejected",
        delay=None,
    ),
    "a 400 BadRequest on apply is the object's fault too": Row(
        failure(faults.APPLY, 400, "BadRequest", "bad body"),
        FailureKind.INVALID,
        "Failed",
        "Rejected",
        delay=None,
    ),
    "a quota refusal is retried, Starting shows Retrying": Row(
        failure(faults.APPLY, 403, "Forbidden", QUOTA), FailureKind.REFUSED, "Starting", "Retrying"
    ),
    "another webhook's denial (400, not BadRequest) is retried": Row(
        failure(faults.APPLY, 400, "", WEBHOOK), FailureKind.REFUSED, "Starting", "Retrying"
    ),
    "a create in a namespace being deleted is no error: nothing written, not retried": Row(
        RequestFailure(
            faults.APPLY,
            "Service",
            "jc-lab",
            403,
            "Forbidden",
            TERMINATING,
            (faults.NAMESPACE_TERMINATING_CAUSE,),
        ),
        FailureKind.NAMESPACE_TERMINATING,
        None,
        event=False,
        delay=None,
    ),
    "the same 403 without the cause is a refusal like another": Row(
        RequestFailure(faults.APPLY, "Service", "jc-lab", 403, "Forbidden", TERMINATING),
        FailureKind.REFUSED,
        "Starting",
        "Retrying",
    ),
    "a conflict is retried": Row(
        failure(faults.APPLY, 409, "Conflict", "Apply failed with 1 conflict"),
        FailureKind.CONFLICT,
        "Starting",
        "Retrying",
    ),
    "a webhook that is down (500) is retried": Row(
        failure(faults.APPLY, 500, "InternalError", 'failed calling webhook "x"'),
        FailureKind.SERVER_ERROR,
        "Starting",
        "Retrying",
    ),
    "429 is a server error": Row(
        failure(faults.DELETE, 429, "TooManyRequests", "slow down"),
        FailureKind.SERVER_ERROR,
        "Starting",
        "Retrying",
    ),
    "a 422 on delete is not the object's fault: retried": Row(
        failure(faults.DELETE, 422, "Invalid", "precondition"),
        FailureKind.REFUSED,
        "Starting",
        "Retrying",
    ),
    "no answer (the API server is down): nothing written, no Event": Row(
        failure(faults.APPLY, None, "ConnectError", "connection refused"),
        FailureKind.UNREACHABLE,
        None,
        event=False,
    ),
    "a failed status write is not written again as status, nor as an Event": Row(
        failure(faults.STATUS, 500, "InternalError", "etcd timeout"),
        FailureKind.SERVER_ERROR,
        None,
        event=False,
    ),
    "an Active container keeps its phase and reason, the message says it": Row(
        failure(faults.APPLY, 403, "Forbidden", QUOTA),
        FailureKind.REFUSED,
        "Active",
        "Ready",
        status=ACTIVE,
    ),
    "a container being deleted gets no status, an Event all the same": Row(
        failure(faults.DELETE, 403, "Forbidden", "no"),
        FailureKind.REFUSED,
        None,
        status={},
    ),
    "the fifth failure in a row waits 16 s": Row(
        failure(faults.APPLY, 403, "Forbidden", QUOTA),
        FailureKind.REFUSED,
        "Starting",
        "Retrying",
        failures=5,
        delay=16.0,
    ),
    "the backoff stops growing at MAX_RETRY_SECONDS": Row(
        failure(faults.APPLY, None, "ReadTimeout", ""),
        FailureKind.UNREACHABLE,
        None,
        event=False,
        failures=30,
        delay=faults.MAX_RETRY_SECONDS,
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=list(ROWS))
def test_judge_failure(row: Row) -> None:
    base = None if row.status == {} else (row.status or STARTING)
    d = judge_failure(
        row.failure, failures=row.failures, previous_kind=None, status=base, generation=1, now=NOW
    )
    assert d.kind == row.kind
    assert d.error == (row.kind != FailureKind.NAMESPACE_TERMINATING)
    assert d.permanent == (row.kind == FailureKind.INVALID)
    assert d.retry_after == row.delay
    assert (d.event is not None) == row.event
    if d.event is not None:
        assert d.event[0] == "Warning" and row.failure.message.split()[0] in d.event[2]
    if row.phase is None:
        assert d.status is None
        return
    assert d.status is not None
    JupyterContainerStatus.model_validate(d.status)  # what the CRD accepts
    assert (d.status["phase"], d.status["reason"]) == (row.phase, row.reason)
    assert row.failure.message in d.status["message"]
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == ("True" if row.phase == "Active" else "False")
    if row.phase == "Failed":
        assert d.status["retryAt"] is None
        assert {c["type"] for c in d.status["conditions"]} == {"Ready", "Stalled"}
    else:
        assert d.status["retryAt"] == f"2026-01-01T10:00:{int(row.delay or 0):02d}Z"
        assert d.status["retryAt"] in d.status["message"]


def test_the_backoff_doubles_and_never_resets_by_itself() -> None:
    delays = [faults.retry_delay(n) for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]


def test_one_log_line_per_failure_a_warning_only_when_the_kind_changes() -> None:
    quota = failure(faults.APPLY, 403, "Forbidden", QUOTA + "\nsecond line")
    first = judge_failure(
        quota, failures=1, previous_kind=None, status=STARTING, generation=1, now=NOW
    )
    again = judge_failure(
        quota,
        failures=2,
        previous_kind=FailureKind.REFUSED,
        status=STARTING,
        generation=1,
        now=NOW,
    )
    other = judge_failure(
        failure(faults.APPLY, None, "ConnectError", "refused"),
        failures=3,
        previous_kind=FailureKind.REFUSED,
        status=STARTING,
        generation=1,
        now=NOW,
    )
    assert (first.log_level, again.log_level, other.log_level) == ("warning", "info", "warning")
    for d in (first, again, other):
        assert "\n" not in d.log
    assert first.log.endswith("retry 1 in 1s") and again.log.endswith("retry 2 in 2s")
    assert "no answer from the API server (ConnectError)" in other.log


def test_a_huge_message_is_cut_to_what_the_crd_accepts() -> None:
    d = judge_failure(
        failure(faults.APPLY, 403, "Forbidden", "x" * 100_000),
        failures=1,
        previous_kind=None,
        status=STARTING,
        generation=1,
        now=NOW,
    )
    assert d.status is not None and len(d.status["message"]) <= 4096
    assert d.event is not None and len(d.event[2]) <= 2048


def test_kept_rejection_only_for_a_failed_rejected_status() -> None:
    assert faults.kept_rejection({"phase": Phase.FAILED, "reason": Reason.REJECTED, "message": "m"})
    assert faults.kept_rejection({"phase": Phase.FAILED, "reason": Reason.CRASH_LOOP}) is None
    assert faults.kept_rejection({"phase": Phase.STARTING, "reason": Reason.RETRYING}) is None


def test_a_failed_token_secret_creation_is_not_recorded_as_made() -> None:
    planned = {**STARTING, "tokenSecret": "jc-lab-token"}
    token = RequestFailure(faults.CREATE, "Secret", "jc-lab-token", 403, "Forbidden", QUOTA)
    assert faults.failure_base(planned, {}, token)["tokenSecret"] is None
    kept = {"tokenSecret": "jc-lab-token"}
    assert faults.failure_base(planned, kept, token)["tokenSecret"] == "jc-lab-token"
    apply = failure(faults.APPLY, 403, "Forbidden", QUOTA)
    assert faults.failure_base(planned, {}, apply) == planned  # the Secret was made before
    assert faults.failure_base(None, kept, apply) == kept
