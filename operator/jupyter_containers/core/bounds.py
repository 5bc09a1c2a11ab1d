"""Bounded status strings and the annotations the operator reads.

Pure. A status the API server refuses (a string longer than the CRD's maxLength) would
make every later status write fail, and the container could no longer be stopped; so
every string the operator builds is cut to its field's bound, from the same pydantic
model the CRD is generated from, with a marker saying so. The annotations the operator
reads are judged at admission, with messages naming them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from jupyter_containers.api.models import JupyterContainerStatus
from jupyter_containers.core import naming

TRUNCATION_MARKER = "… [truncated]"

#: RFC 3339 date-time, as the CLI writes it (`2026-01-01T10:00:00Z`, fractions and offsets
#: allowed).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
#: The bound of status.startRequest, where the reconciler copies the annotation.
START_REQUEST_MAX_LENGTH = 64


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with the marker when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(TRUNCATION_MARKER):
        return text[:limit]
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def _max_length(info: FieldInfo) -> int | None:
    for annotation in (info.annotation, *get_args(info.annotation)):
        for meta in getattr(annotation, "__metadata__", ()):
            limit = getattr(meta, "max_length", None)
            if limit is not None:
                return int(limit)
    for meta in info.metadata:
        limit = getattr(meta, "max_length", None)
        if limit is not None:
            return int(limit)
    return None


def _nested_model(info: FieldInfo) -> type[BaseModel] | None:
    """The model of a field that is a model, an optional model or a list of models."""
    candidates = [info.annotation, *get_args(info.annotation)]
    for candidate in list(candidates):
        if get_origin(candidate) is list:
            candidates += list(get_args(candidate))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


@cache
def _limits(model: type[BaseModel]) -> dict[str, tuple[int | None, type[BaseModel] | None]]:
    return {
        info.alias or name: (_max_length(info), _nested_model(info))
        for name, info in model.model_fields.items()
    }


def bound(value: Any, model: type[BaseModel]) -> Any:
    """A status-shaped dict with every string cut to its field's maxLength (lists and
    nested objects too); everything else unchanged."""
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        limit, nested = _limits(model).get(key, (None, None))
        if isinstance(item, str) and limit is not None:
            out[key] = truncate(item, limit)
        elif nested is not None and isinstance(item, list):
            out[key] = [bound(entry, nested) for entry in item]
        elif nested is not None:
            out[key] = bound(item, nested)
        else:
            out[key] = item
    return out


def bound_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """A JupyterContainer status the CRD accepts, whatever went into its strings."""
    return dict(bound(status, JupyterContainerStatus))


# ---------------------------------------------------------------- annotations


def is_rfc3339(value: str) -> bool:
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    except ValueError:
        return False
    return True


def msg_start_request(value: str) -> str:
    shown = truncate(value, 80)
    return (
        f"metadata.annotations['{naming.START_REQUESTED_ANNOTATION}']: {shown!r} is not an RFC "
        f"3339 time of at most {START_REQUEST_MAX_LENGTH} characters, e.g. "
        "'2026-01-01T10:00:00Z'; set the current time (kubectl jupyter start does)."
    )


def start_request_problem(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) <= START_REQUEST_MAX_LENGTH and is_rfc3339(value):
        return None
    return msg_start_request(value)


def valid_start_request(value: str | None) -> str | None:
    """The annotation when valid, else None: a value admission would refuse (the webhook was
    bypassed) is ignored rather than copied, cut, into status, where the cut copy would
    never equal the annotation and start the container again on every reconcile."""
    return value if start_request_problem(value) is None else None


def annotation_problems(
    new_meta: Mapping[str, Any], old_meta: Mapping[str, Any] | None
) -> list[str]:
    """Problems of the annotations the operator reads (start-requested), when set or
    changed by the request (one stored before the rule is not judged again)."""
    key = naming.START_REQUESTED_ANNOTATION
    value = (new_meta.get("annotations") or {}).get(key)
    old = ((old_meta or {}).get("annotations") or {}).get(key)
    if value is None or value == old:
        return []
    if not isinstance(value, str):
        return [msg_start_request(str(value))]
    problem = start_request_problem(value)
    return [problem] if problem else []
