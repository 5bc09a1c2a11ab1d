"""Exit codes and the errors the commands raise; `app.main` turns them into a message and a code."""

from __future__ import annotations

import re
from enum import IntEnum

from lightkube import ApiError

from jupyter_containers.api import rules


class ExitCode(IntEnum):
    """The plugin's exit codes (documented in docs/cli.md; scripts rely on them)."""

    OK = 0
    ERROR = 1  # the API refused, validation failed, the cluster is unreachable
    USAGE = 2  # bad flags or arguments (also click's own usage errors)
    NOT_FOUND = 3  # the container (or another named object) does not exist
    DECLINED = 4  # the user answered no to a confirmation


class CliError(Exception):
    """An error for the user: a message, an optional hint, an exit code."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(CliError):
    exit_code = ExitCode.USAGE


class NotFoundError(CliError):
    exit_code = ExitCode.NOT_FOUND


class DeclinedError(CliError):
    exit_code = ExitCode.DECLINED


# "admission webhook "x" denied the request: MESSAGE" -> MESSAGE
_WEBHOOK_PREFIX = re.compile(r'^admission webhook "[^"]*" denied the request:\s*')
# A cause of a 422 from CEL or the OpenAPI schema: 'Invalid value: "object": MESSAGE',
# 'Forbidden: MESSAGE', 'Required value: MESSAGE', 'Invalid value: "x": MESSAGE'.
_CAUSE_PREFIX = re.compile(
    r"^(?:Invalid value|Forbidden|Required value|Unsupported value|Too long|Too many|"
    r"Duplicate value|Not found|Internal error)"
    r'(?::\s*(?:"(?:[^"\\]|\\.)*"|[^\s:]+))?:\s*'
)


def api_messages(err: ApiError) -> list[str]:
    """The user-facing messages of an API error, without the API server's wrapping.

    The manual's messages (from CEL rules and the webhook) then read exactly as the
    console shows them, prefixed by the field when the server names one.
    """
    status = err.status
    details = getattr(status, "details", None)
    causes = getattr(details, "causes", None) or []
    messages: list[str] = []
    for cause in causes:
        text = _CAUSE_PREFIX.sub("", cause.message or "").strip()
        text = _WEBHOOK_PREFIX.sub("", text)
        field = cause.field or ""
        if field and field not in ("<nil>", "metadata", "spec") and not text.startswith(field):
            # CEL rules on the whole object report field "<nil>"; their message stands alone.
            text = f"{field}: {text}"
        if text and text not in messages:
            messages.append(text)
    if messages:
        return messages
    return [_WEBHOOK_PREFIX.sub("", status.message or str(err)).strip()]


def from_api_error(err: ApiError, *, what: str, domain: str | None = None) -> CliError:
    """A CliError for an ApiError about `what` (e.g. "jupyter container 'nb1'")."""
    code = err.status.code or 0
    reason = err.status.reason or ""
    where = f" in namespace '{domain}'" if domain else ""
    if code == 404 and reason == "NotFound":
        return NotFoundError(f"{what} not found{where}.")
    if code == 409 and reason == "AlreadyExists":
        return CliError(rules.MSG_DUPLICATE_NAME)
    if code == 409 and reason == "Conflict":
        return CliError(
            f"{what} was changed by someone else meanwhile.", hint="Run the command again."
        )
    messages = api_messages(err)
    if code == 403 and "denied the request" not in (err.status.message or ""):
        return CliError(
            f"Forbidden: {'; '.join(messages)}",
            hint="Ask the bundle owner or a cluster admin for access.",
        )
    return CliError("\n".join(messages))
