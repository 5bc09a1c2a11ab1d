"""The console's settings (environment variables JC_CONSOLE_*, like the operator's JC_*)."""

from __future__ import annotations

import ipaddress
from enum import StrEnum

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Upstream(StrEnum):
    """How the JupyterLab proxy finds a container's server."""

    ENDPOINTS = "endpoints"  # the Service's EndpointSlices: pod IP and port (no kube-proxy needed)
    SERVICE = "service"  # the Service's cluster DNS name (in a cluster)


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JC_CONSOLE_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port to listen on (0: any).")
    kube_context: str | None = Field(
        default=None, description="kubeconfig context (default: current, or in-cluster)."
    )
    domains: str = Field(
        default="*",
        description="Comma-separated namespace patterns (fnmatch) the console shows as domains.",
    )
    # Identity ---------------------------------------------------------------------------
    dev_login: bool = Field(
        default=False,
        description="DEVELOPMENT ONLY: a sign-in page that lets anyone pick a user from "
        "dev_users. Never switch this on where others can reach the console.",
    )
    dev_users: str = Field(
        default="alice,bob,carol",
        description="Users offered by the development sign-in (user or user:group1|group2).",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs the development sign-in's session cookie. Unset: a random "
        "key per process, so a restart signs everyone out (the event streams then stop).",
    )
    proxy_user_header: str = Field(
        default="X-Forwarded-User", description="Header naming the user, set by the proxy."
    )
    proxy_groups_header: str = Field(
        default="X-Forwarded-Groups", description="Header with the user's groups (comma list)."
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses/CIDRs of the authenticating proxy; the proxy "
        "headers are ignored from anywhere else. Empty: no proxy is trusted.",
    )
    accept_bearer_tokens: bool = Field(
        default=False,
        description="Pass an Authorization: Bearer token through to the API server as the user.",
    )
    # JupyterLab proxy -------------------------------------------------------------------
    upstream: Upstream = Field(default=Upstream.ENDPOINTS)
    cluster_domain: str = Field(default="cluster.local")
    request_timeout: float = Field(default=30.0, gt=0)
    page_size: int = Field(default=20, ge=1, le=500)
    cache_seconds: float = Field(
        default=20.0,
        ge=0,
        description="How long the namespaces and a user's domains (access reviews) are reused.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in _split(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(
                    f"JC_CONSOLE_TRUSTED_PROXIES: {part!r} is not an address or CIDR "
                    "(e.g. 10.0.0.5 or 10.0.0.0/24)."
                ) from None
        return value

    @property
    def domain_patterns(self) -> list[str]:
        return _split(self.domains) or ["*"]

    @property
    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(p, strict=False) for p in _split(self.trusted_proxies)]


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]
