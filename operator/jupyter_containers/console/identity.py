"""Who is signed in: pure decisions from the request's facts (headers, peer, session cookie).

The console never judges what a user may do; it only names the user to the API server
(impersonation) or passes the user's own token through. The API server's RBAC, the CRD
rules and the webhooks decide the rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from jupyter_containers.console.config import ConsoleSettings

SESSION_COOKIE = "jc_console_dev_user"


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the console tells the API server."""

    username: str
    groups: tuple[str, ...] = ()
    #: A bearer token passed through: the API server authenticates it (no impersonation).
    token: str | None = field(default=None, repr=False)
    #: How the user was identified: "proxy", "token" or "dev".
    source: str = "dev"

    @property
    def key(self) -> str:
        """A cache key that never contains the token itself."""
        digest = hashlib.sha256((self.token or "").encode()).hexdigest()[:16]
        return f"{self.source}:{self.username}:{','.join(self.groups)}:{digest}"


def dev_users(settings: ConsoleSettings) -> list[Principal]:
    """The development sign-in's users: 'alice' or 'alice:group1|group2'."""
    users = []
    for part in settings.dev_users.split(","):
        name, _, groups = part.strip().partition(":")
        if name:
            users.append(Principal(name, tuple(g for g in groups.split("|") if g), source="dev"))
    return users


def trusted_peer(peer: str | None, settings: ConsoleSettings) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in settings.proxy_networks)


def sign(value: str, secret: bytes) -> str:
    mac = hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
    payload = base64.urlsafe_b64encode(value.encode()).decode()
    return f"{payload}.{mac}"


def unsign(cookie: str, secret: bytes) -> str | None:
    payload, _, mac = cookie.rpartition(".")
    try:
        value = base64.urlsafe_b64decode(payload.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    expected = hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
    return value if hmac.compare_digest(expected, mac) else None


def session_value(principal: Principal) -> str:
    return json.dumps({"u": principal.username, "g": list(principal.groups)})


def resolve(
    *,
    headers: Mapping[str, str],
    peer: str | None,
    cookie: str | None,
    settings: ConsoleSettings,
    secret: bytes,
) -> Principal | None:
    """The signed-in user, or None (then the page asks to sign in).

    Order: the trusted proxy's headers (only from a trusted peer), a bearer token (when
    accepted), the development sign-in's cookie (only when dev_login is on).
    """
    if trusted_peer(peer, settings):
        user = (headers.get(settings.proxy_user_header) or "").strip()
        if user:
            raw = headers.get(settings.proxy_groups_header) or ""
            groups = tuple(g.strip() for g in raw.split(",") if g.strip())
            return Principal(user, groups, source="proxy")
    auth = headers.get("Authorization") or ""
    if settings.accept_bearer_tokens and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
        if token:
            # The API server says who this is (SelfSubjectReview); the name here is a label.
            return Principal("(token)", (), token=token, source="token")
    if settings.dev_login and cookie:
        value = unsign(cookie, secret)
        if value is None:
            return None
        try:
            data = json.loads(value)
        except ValueError:
            return None
        known = {p.username: p for p in dev_users(settings)}
        user = known.get(str(data.get("u")))
        if user is not None:
            return user
    return None
