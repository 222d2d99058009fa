"""The daemon's security checks: the token, loopback Host names and same-origin Origins.

The daemon can start agents that run shell commands, so it is guarded like Jupyter: a random
token on every request, a Host header that must name the loopback interface (a DNS-rebinding
page reaches us under its own name, and gets 421), and no cross-site Origin (403).

The dashboard's browser never holds the token: its cookie carries a session credential derived
from the token with a key this process drew at start (`dashboard_session`). The cookie opens the
dashboard's own same-origin requests only; it is not a bearer token, and the token is not a cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

TOKEN_BYTES = 32  # 256 bits; the floor the security model asks for is 192
COOKIE_NAME = "parallelai_session"
# Drawn once per process: a daemon restart logs every browser out, and a session cookie says
# nothing about the token it was derived from.
_SESSION_KEY = secrets.token_bytes(TOKEN_BYTES)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_matches(expected: str, offered: str | None) -> bool:
    # Constant time, so the token cannot be guessed byte by byte from response times.
    return offered is not None and secrets.compare_digest(expected.encode(), offered.encode())


def dashboard_session(token: str) -> str:
    """The dashboard cookie's value for the daemon whose API token is `token`."""
    digest = hmac.new(_SESSION_KEY, b"dashboard-session\0" + token.encode(), hashlib.sha256).hexdigest()
    return f"s1.{digest}"


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def is_loopback_host(host: str) -> bool:
    """True for `localhost`, `127.0.0.0/8` and `::1` (a bare name or address, no port)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host_header(value: str) -> tuple[str, int | None]:
    """`127.0.0.1:8080` -> ("127.0.0.1", 8080); `[::1]:80` -> ("::1", 80); a bad port -> None."""
    parts = urlsplit(f"//{value}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname or "", port


def is_same_origin(origin: str, host_header: str, scheme: str) -> bool:
    """A browser's Origin is acceptable only when it is this very server (scheme, host and port)."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False  # includes the opaque `null` origin of sandboxed frames and file:// pages
    try:
        origin_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    host, port = split_host_header(host_header)
    port = port or (443 if scheme == "https" else 80)
    return parts.scheme == scheme and parts.hostname == host.lower() and origin_port == port
