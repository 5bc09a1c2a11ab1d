"""A failed API request of a reconcile: its facts in, what status, Event, log and retry say out.

Pure (no clock, no I/O). The shell (`shell.reconciler`) catches the error of a write, turns it
into `RequestFailure` facts and makes what `judge_failure` decides:

- An apply the API server refuses as invalid (422, or 400 BadRequest: the object itself is
  wrong) will be refused again on every retry: the start fails at once (Failed, Rejected, the
  server's message), and the refusal is kept until the next attempt (`core.plan`).
- Any other refusal or error with an answer (a quota, another validating webhook, RBAC, a
  conflict, a server error, a webhook that is down) is transient: status shows it (reason
  Retrying while Starting, the message and `retryAt`), an Event names it, and the reconcile
  is retried after a backoff that doubles per consecutive failure up to `MAX_RETRY_SECONDS`.
- No answer at all (connection refused, timeout: the API server is down) can be written
  nowhere: only the log line and the retry.
- A create refused because the namespace is being deleted (the cause NamespaceTerminating;
  its namespace controller deletes a container's Service before the container itself) is not
  an error: the container goes with the namespace. One info line; no status, no Event (none
  can be created there), no retry, not counted as a reconcile error.

One log line per failure (never a traceback): a warning for the first failure of its kind,
info while it repeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from jupyter_containers.api.models import JupyterContainerStatus, Phase, Reason
from jupyter_containers.core.bounds import bound_status
from jupyter_containers.core.lifecycle import MAX_MESSAGE, Verdict
from jupyter_containers.core.status import iso, ready_condition

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0

#: RequestFailure.action: what the reconcile was doing when the request failed.
APPLY = "apply"
CREATE = "create"
DELETE = "delete"
READ = "read"
STATUS = "status"
FINALIZER = "finalizer"
#: Actions that send an object the container is made of: a 422 there is the object's fault.
_OBJECT_WRITES = frozenset({APPLY, CREATE})
#: The cause the API server gives for a create in a namespace that is being deleted.
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


class FailureKind(StrEnum):
    INVALID = "Invalid"
    """The API server will never accept the object (422 Invalid, 400 BadRequest)."""
    REFUSED = "Refused"
    """Refused by admission or authorization: a quota, another webhook, RBAC (403, 400...)."""
    CONFLICT = "Conflict"
    """Someone else changed or holds the object (409)."""
    SERVER_ERROR = "ServerError"
    """The API server (or a webhook it calls) failed or is overloaded (5xx, 429)."""
    UNREACHABLE = "Unreachable"
    """No answer: connection refused or reset, timeout."""
    NAMESPACE_TERMINATING = "NamespaceTerminating"
    """The namespace is being deleted: nothing new is made in it (403 with that cause)."""


@dataclass(frozen=True)
class RequestFailure:
    """The facts of one failed request."""

    action: str
    kind: str
    """Kind of the object the request was about ("Deployment", "JupyterContainer", ...)."""
    name: str
    code: int | None
    """HTTP status of the answer; None when there was none."""
    reason: str = ""
    """Kubernetes Status.reason ("Invalid", "Forbidden", ...), or the exception's type."""
    message: str = ""
    causes: tuple[str, ...] = ()
    """The types of Status.details.causes ("NamespaceTerminating", "FieldValueInvalid", ...)."""


@dataclass(frozen=True)
class FailureDecision:
    kind: FailureKind
    permanent: bool
    retry_after: float | None
    """Seconds until the reconcile runs again; None: not before something changes."""
    status: dict[str, Any] | None
    """The whole status to write; None: nothing can or need be written."""
    event: tuple[str, str, str] | None
    """(type, reason, message) of the Event to post about the container; None: none."""
    log_level: str
    """"warning" or "info"."""
    log: str
    error: bool = True
    """Counted as a reconcile error (jupyter_containers_reconcile_errors_total)."""


def failure_kind(failure: RequestFailure) -> FailureKind:
    code = failure.code
    if code is None:
        return FailureKind.UNREACHABLE
    if code == 403 and NAMESPACE_TERMINATING_CAUSE in failure.causes:
        return FailureKind.NAMESPACE_TERMINATING
    if code == 409:
        return FailureKind.CONFLICT
    if code == 429 or code >= 500:
        return FailureKind.SERVER_ERROR
    if failure.action in _OBJECT_WRITES and (
        code == 422 or (code == 400 and failure.reason in ("BadRequest", "Invalid"))
    ):
        return FailureKind.INVALID
    return FailureKind.REFUSED


def retry_delay(failures: int) -> float:
    """Backoff after `failures` consecutive failures (1, 2, 4, ... up to MAX_RETRY_SECONDS)."""
    return min(FIRST_RETRY_SECONDS * 2.0 ** max(failures - 1, 0), MAX_RETRY_SECONDS)


def describe(failure: RequestFailure) -> str:
    """One line: what was refused, by whom, and why."""
    what = f"{failure.kind} {failure.name}".strip()
    verb = {
        APPLY: "applying",
        CREATE: "creating",
        DELETE: "deleting",
        READ: "reading",
        STATUS: "writing the status of",
        FINALIZER: "updating the finalizers of",
    }.get(failure.action, failure.action)
    if failure.code is None:
        answer = f"no answer from the API server ({failure.reason or 'connection failed'})"
    else:
        detail = " ".join(failure.message.split()) or failure.reason or "no message"
        answer = f"the API server answered {failure.code} {failure.reason}: {detail}".replace(
            f"{failure.code} : ", f"{failure.code}: "
        )
    return f"Error {verb} {what}: {answer}"


def judge_failure(
    failure: RequestFailure,
    *,
    failures: int,
    previous_kind: FailureKind | None,
    status: Mapping[str, Any] | None,
    generation: int,
    now: datetime,
) -> FailureDecision:
    """What to do about `failure`, the `failures`-th in a row of this container.

    `status`: the status the reconcile meant to write (or the stored one), the base of the
    status written now; None: write none (a container being deleted). `previous_kind`: the
    kind of the failure before this one in the same row, if any.
    """
    kind = failure_kind(failure)
    text = describe(failure)
    if kind == FailureKind.NAMESPACE_TERMINATING:
        log = f"{text}; the namespace is being deleted, and the container with it"
        return FailureDecision(kind, False, None, None, None, "info", log, error=False)
    permanent = kind == FailureKind.INVALID
    delay = None if permanent else retry_delay(failures)
    level = "warning" if previous_kind != kind else "info"
    if permanent:
        log = f"{text}; the start fails (not retried)"
    else:
        log = f"{text}; retry {failures} in {delay:.0f}s"
    answered = failure.code is not None
    new_status: dict[str, Any] | None = None
    if status is not None and answered and failure.action != STATUS:
        if permanent:
            new_status = _with_verdict(
                status, Verdict(Phase.FAILED, Reason.REJECTED, text), generation, now, None
            )
        else:
            message = f"{text}. Retrying at {iso(now + timedelta(seconds=delay or 0))}."
            new_status = _retrying(status, message, generation, now, delay or 0.0)
    event = None
    if answered and failure.action != STATUS:
        reason = Reason.REJECTED if permanent else Reason.RETRYING
        event = ("Warning", str(reason), text[:MAX_MESSAGE])
    return FailureDecision(kind, permanent, delay, new_status, event, level, log)


def _retrying(
    status: Mapping[str, Any], message: str, generation: int, now: datetime, delay: float
) -> dict[str, Any]:
    """`status` with the error shown: Starting becomes Starting/Retrying; another phase keeps
    its reason and conditions (an Active container still runs), only the message changes."""
    retry_at = iso(now + timedelta(seconds=delay))
    phase = status.get("phase") or Phase.STARTING
    if phase == Phase.STARTING:
        return _with_verdict(
            status, Verdict(Phase.STARTING, Reason.RETRYING, message), generation, now, retry_at
        )
    return _validated({**status, "message": message, "retryAt": retry_at})


def _with_verdict(
    status: Mapping[str, Any],
    verdict: Verdict,
    generation: int,
    now: datetime,
    retry_at: str | None,
) -> dict[str, Any]:
    conditions = ready_condition(verdict, generation, iso(now), status.get("conditions") or [])
    return _validated(
        {
            **status,
            "phase": str(verdict.phase),
            "reason": str(verdict.reason),
            "message": verdict.message[:MAX_MESSAGE],
            "conditions": conditions,
            "retryAt": retry_at,
        }
    )


def _validated(status: Mapping[str, Any]) -> dict[str, Any]:
    # As build_status: within the CRD's bounds, through the CRD's own model.
    return JupyterContainerStatus.model_validate(bound_status(dict(status))).model_dump(
        mode="json", exclude_unset=True
    )


def failure_base(
    planned: Mapping[str, Any] | None, stored: Mapping[str, Any], failure: RequestFailure
) -> Mapping[str, Any]:
    """The status a failure is shown on: the planned one, minus what did not happen.

    `tokenSecret` is how the next plan knows the token Secret was made (`core.plan._token`):
    when its creation failed, it keeps the stored value, so the retry creates it again.
    """
    if planned is None:
        return stored
    if failure.action == CREATE and failure.kind == "Secret":
        return {**planned, "tokenSecret": stored.get("tokenSecret")}
    return planned


def kept_rejection(stored: Mapping[str, Any]) -> str | None:
    """The API server's refusal of this attempt's objects, kept until the next attempt."""
    if stored.get("phase") == Phase.FAILED and stored.get("reason") == Reason.REJECTED:
        return str(stored.get("message") or "the API server refused the container's objects")
    return None
