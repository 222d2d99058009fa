"""The middleware in front of every request: Host (421), Origin (403), body size (413), token (401).

It runs before routing, so nothing — not even a 404 — tells a stranger what the daemon serves.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from parallelai.server.auth import (
    COOKIE_NAME,
    bearer_token,
    is_loopback_host,
    is_same_origin,
    split_host_header,
    token_matches,
)
from parallelai.server.http.endpoint import MAX_BODY_BYTES
from parallelai.server.http.errors import error_response

# The dashboard's one-time login link is the only way in without the token.
PUBLIC_PATHS = frozenset({"/login"})
_HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}  # what browsers put in Origin


class Guard:
    def __init__(
        self, app: ASGIApp, token: str, *, loopback_only: bool = True, max_body: int = MAX_BODY_BYTES
    ) -> None:
        self._app = app
        self._token = token
        self._loopback_only = loopback_only
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)  # lifespan
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self._app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # policy violation; the server answers 403
            return
        status, code, message = refusal
        await error_response(status, code, message)(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self._loopback_only and not is_loopback_host(split_host_header(host)[0]):
            # A DNS-rebinding page reaches us under its own name: refuse before anything else.
            return 421, "misdirected_request", "this daemon only answers to a loopback host name"
        origin = headers.get("origin")
        scheme = _HTTP_SCHEME.get(scope.get("scheme", "http"), "http")
        if origin is not None and not is_same_origin(origin, host, scheme):
            return 403, "cross_origin", f"requests from {origin} are not allowed"
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self._max_body):
            return 413, "body_too_large", f"the body is larger than {self._max_body} bytes"
        if scope["path"] in PUBLIC_PATHS:
            return None
        offered = bearer_token(headers.get("authorization"))
        if offered is None:
            offered = cookie_parser(headers.get("cookie", "")).get(COOKIE_NAME)
        if not token_matches(self._token, offered):
            return (
                401,
                "unauthorized",
                "missing or wrong token: send `Authorization: Bearer TOKEN` (the token is in the daemon's "
                "discovery file; `parallelai status` shows where)",
            )
        return None
