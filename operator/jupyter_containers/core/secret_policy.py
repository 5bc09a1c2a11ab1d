"""Which Secrets a container's `env[].valueFrom.secretKeyRef` may name.

Pure: the references of a spec and facts about the Secrets (labels of the ones that
exist, whether the user may read them) come in; refusals naming
`spec.env[i].valueFrom.secretKeyRef` come out. The webhook (`admission`) and the
reconciler (at every start) gather the facts and apply the same judgement.

The rule: a pod reads every Secret its env names, so naming a Secret is reading it.
- The operator's own Secrets (the JupyterLab tokens of every container) are never
  referable, whoever asks: by name (`jc-...-token`, checked without a lookup, so a
  token Secret that does not exist yet cannot be pre-claimed either) and by label (an
  existing Secret with the operator's managed-by or uid label).
- Any other Secret only when the user may `get` it in the deployment namespace
  (a SubjectAccessReview), optional references included: an optional reference to
  an existing Secret is read all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jupyter_containers.api.models import JupyterContainerSpec
from jupyter_containers.core import naming


@dataclass(frozen=True)
class SecretRef:
    """One `spec.env[index].valueFrom.secretKeyRef`."""

    index: int
    variable: str
    secret: str
    key: str

    @property
    def field(self) -> str:
        return f"spec.env[{self.index}].valueFrom.secretKeyRef"


def secret_refs(spec: JupyterContainerSpec) -> list[SecretRef]:
    """Every secret reference of the spec, optional ones included."""
    out = []
    for i, var in enumerate(spec.env):
        ref = var.valueFrom.secretKeyRef if var.valueFrom is not None else None
        if ref is not None:
            out.append(SecretRef(i, var.name, ref.name, ref.key))
    return out


def is_token_secret_name(name: str) -> bool:
    """Whether `name` has the shape of an operator token Secret (`jc-BASE-token`, `jx-...`)."""
    return any(
        name.startswith(prefix)
        and name.endswith(naming.TOKEN_SUFFIX)
        and len(name) > len(prefix) + len(naming.TOKEN_SUFFIX)
        for prefix in (naming.NAME_PREFIX, naming.FOREIGN_PREFIX)
    )


def is_operator_labelled(labels: Mapping[str, str] | None) -> bool:
    """Whether an existing Secret carries the operator's managed-by or uid label."""
    labels = labels or {}
    return (
        labels.get(naming.MANAGED_BY_LABEL) == naming.MANAGED_BY_VALUE or naming.UID_LABEL in labels
    )


def msg_operator_secret(ref: SecretRef) -> str:
    return (
        f"{ref.field}: {ref.variable!r} refers to Secret '{ref.secret}', which belongs to the "
        "platform (JupyterLab tokens, names jc-...-token and jx-...-token, and Secrets labelled "
        f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY_VALUE} or {naming.UID_LABEL}); "
        "containers cannot read it. Refer to a Secret of your own."
    )


def msg_unreadable_secret(ref: SecretRef, user: str, namespace: str) -> str:
    return (
        f"{ref.field}: {ref.variable!r} refers to Secret '{ref.secret}' in namespace "
        f"'{namespace}', which {user} may not read (get secrets); a container can only use "
        "Secrets its creator may read. Refer to a Secret you may read, or ask an admin for "
        f"get on Secret '{ref.secret}'."
    )


def operator_secret_problems(
    refs: list[SecretRef], labels: Mapping[str, Mapping[str, str] | None]
) -> list[str]:
    """References to operator-owned Secrets. `labels`: labels of each referenced Secret that
    exists (absent or None: it does not exist, or could not be read)."""
    return [
        msg_operator_secret(ref)
        for ref in refs
        if is_token_secret_name(ref.secret) or is_operator_labelled(labels.get(ref.secret))
    ]


def unreadable_secret_problems(
    refs: list[SecretRef], readable: Mapping[str, bool], user: str, namespace: str
) -> list[str]:
    """References to Secrets `user` may not get (`readable`: the SubjectAccessReviews)."""
    return [
        msg_unreadable_secret(ref, user, namespace)
        for ref in refs
        if not readable.get(ref.secret, False)
    ]


def needs_access_review(refs: list[SecretRef]) -> set[str]:
    """The Secrets a SubjectAccessReview must be asked about (operator-owned ones are refused
    without asking)."""
    return {ref.secret for ref in refs if not is_token_secret_name(ref.secret)}
