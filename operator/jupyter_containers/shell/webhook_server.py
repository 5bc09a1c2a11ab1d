"""The admission webhook server: its certificates, kopf's server and who the operator is.

No handlers here (those are `shell.admission`'s): the process that serves admission starts
the server from its start-up (`shell.startup` in one process, `shell.admission_startup` in an
admission process of its own), and only that process imports the handlers.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
from aiohttp import web
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.authentication_v1 import SelfSubjectReview

from jupyter_containers.api.models import GROUP
from jupyter_containers.core.settings import Settings
from jupyter_containers.core.validation import Identity
from jupyter_containers.shell.context import AdmissionContext
from jupyter_containers.shell.webhook_certs import ensure as ensure_certificates

logger = logging.getLogger(__name__)

#: Name of the managed Validating/MutatingWebhookConfigurations.
WEBHOOK_CONFIGURATION = GROUP


@dataclass(frozen=True)
class AdmissionIdentity:
    """Who the operator is (so its own writes are never refused) and where its webhook
    certificates are; made once at start-up (`start_webhooks`)."""

    operator_user: str | None
    cert_dir: Path
    temporary_cert_dir: bool

    def is_operator(self, identity: Identity) -> bool:
        return self.operator_user is not None and identity.username == self.operator_user


# ---------------------------------------------------------------- start-up


async def _whoami(client: AsyncClient) -> str | None:
    """The operator's own user name (SelfSubjectReview), so its writes are never refused."""
    try:
        review = await client.create(SelfSubjectReview())
    except ApiError as err:
        logger.warning("SelfSubjectReview failed (%s); the operator is not exempt", err)
        return None
    user = review.status.userInfo if review.status else None
    return user.username if user else None


#: The largest AdmissionReview read. An UPDATE's carries the object twice, and an object may
#: be as large as etcd stores (1.5 MiB by default); aiohttp's default of 1 MiB made the
#: server answer 413, which the API server reports as "Internal error" instead of a verdict.
MAX_REVIEW_BYTES = 8 * 1024 * 1024


class AdmissionServer(kopf.WebhookServer):
    """kopf's webhook server, reading AdmissionReviews as large as the API server sends."""

    @staticmethod
    async def _serve(fn: Any, request: web.Request) -> web.Response:
        # kopf (1.45.x) calls `self._serve` per request; the clone only lifts the body limit.
        larger = request.clone(client_max_size=MAX_REVIEW_BYTES)
        return await kopf.WebhookServer._serve(fn, larger)


def _webhook_server(cfg: Settings, cert_dir: Path) -> kopf.WebhookServer:
    host = cfg.webhook_host or cfg.webhook_listen_address
    names = [host]
    if cfg.webhook_listen_address not in ("0.0.0.0", "::", host):
        names.append(cfg.webhook_listen_address)
    certs = ensure_certificates(cert_dir, names)
    client_ca = cfg.webhook_client_ca_file
    if client_ca and not Path(client_ca).is_file():
        raise FileNotFoundError(
            f"JC_WEBHOOK_CLIENT_CA_FILE {client_ca!r} does not exist; mount the CA of the API "
            "server's admission client certificate there (chart value webhook.clientCA), or "
            "unset it"
        )
    return AdmissionServer(
        addr=cfg.webhook_listen_address,
        port=cfg.webhook_port,
        host=host,
        certfile=certs.cert_file,
        pkeyfile=certs.key_file,
        cafile=certs.ca_file if certs.ca_file.exists() else None,
        # Only the API server (its admission client certificate) may talk to the webhooks.
        verify_mode=ssl.CERT_REQUIRED if client_ca else None,
        verify_cafile=client_ca or None,
    )


async def start_webhooks(
    settings: kopf.OperatorSettings, cfg: Settings, client: AsyncClient
) -> AdmissionContext:
    """Configure kopf's webhook server; the webhooks' context, for the memo's `ADMISSION_KEY`
    (called once, by the start-up of the process that serves them)."""
    temporary = not cfg.webhook_cert_dir
    cert_dir = (
        Path(tempfile.mkdtemp(prefix="jupyter-containers-webhook-"))
        if temporary
        else Path(str(cfg.webhook_cert_dir))
    )
    identity = AdmissionIdentity(await _whoami(client), cert_dir, temporary)
    settings.admission.server = _webhook_server(cfg, cert_dir)
    if cfg.webhook_managed:
        settings.admission.managed = WEBHOOK_CONFIGURATION
    logger.info(
        "admission webhooks on %s:%s (managed: %s); operator identity %s",
        cfg.webhook_listen_address,
        cfg.webhook_port,
        cfg.webhook_managed,
        identity.operator_user,
    )
    return AdmissionContext(cfg, client, identity)


def stop_webhooks(ctx: AdmissionContext | None) -> None:
    """Remove a temporary certificate directory (the client is the start-up's to close)."""
    if ctx is not None and ctx.identity.temporary_cert_dir:
        shutil.rmtree(ctx.identity.cert_dir, ignore_errors=True)
