"""The middleware in front of every request: Host (421), Origin (403), body size (413), token (401).

It runs before routing, so nothing — not even a 404 — tells a stranger what the daemon serves.
Cross-origin requests are refused unless their origin was allowed explicitly (`serve
--allow-origin`, e.g. for the VS Code web extension); those get CORS headers, must still send the
token as a header (never the dashboard cookie), and only their preflights pass without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parallelai.server.auth import (
    COOKIE_NAME,
    bearer_token,
    dashboard_session,
    is_loopback_host,
    is_same_origin,
    split_host_header,
    token_matches,
)
from parallelai.server.http.endpoint import MAX_BODY_BYTES
from parallelai.server.http.errors import error_response
from parallelai.wire import TASKS_CURSOR_HEADER

# The ways in without the token: signing in (a one-time link, or the token pasted into the sign-in
# page), and the page itself, which holds no data (everything it shows it fetches with a session).
PUBLIC_PATHS = frozenset({"/login", "/"})
_HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}  # what browsers put in Origin
CORS_HEADERS = {
    "access-control-allow-methods": "GET, POST",
    "access-control-allow-headers": "Authorization, Content-Type, Last-Event-ID",
    # A page may read only the headers named here: the task list's change counter, for `changed_after`.
    "access-control-expose-headers": TASKS_CURSOR_HEADER,
    "access-control-max-age": "600",
    "vary": "Origin",
}


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        token: str,
        *,
        loopback_only: bool = True,
        max_body: int = MAX_BODY_BYTES,
        allowed_origins: Iterable[str] = (),
        path_tokens: Mapping[str, str] | None = None,
    ) -> None:
        self._app = app
        self._token = token
        # A token that opens one path only, besides the API token (the `/metrics` scrape token).
        self._path_tokens = dict(path_tokens or {})
        self._session = dashboard_session(token)
        self._loopback_only = loopback_only
        self._max_body = max_body
        self._allowed_origins = frozenset(normal_origin(origin) for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)  # lifespan
            return
        headers = Headers(scope=scope)
        cross_origin = self._allowed_cross_origin(headers)
        if cross_origin is not None and scope["type"] == "http":
            send = _with_cors_headers(send, cross_origin)
        preflight = cross_origin is not None and _is_preflight(scope, headers)
        refusal = self._refusal(scope, headers, cross_origin is not None, preflight)
        if refusal is None:
            if preflight:  # the browser asks before it sends the token; it learns only the CORS rules
                await Response(status_code=204)(scope, receive, send)
                return
            await self._app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # policy violation; the server answers 403
            return
        status, code, message = refusal
        await error_response(status, code, message)(scope, receive, send)

    def _allowed_cross_origin(self, headers: Headers) -> str | None:
        """The request's Origin when it is another origin that was allowed explicitly."""
        origin = headers.get("origin")
        if origin is None or normal_origin(origin) not in self._allowed_origins:
            return None
        return origin

    def _refusal(
        self, scope: Scope, headers: Headers, allowed_cross_origin: bool, preflight: bool
    ) -> tuple[int, str, str] | None:
        host = headers.get("host", "")
        if self._loopback_only and not is_loopback_host(split_host_header(host)[0]):
            # A DNS-rebinding page reaches us under its own name: refuse before anything else.
            return 421, "misdirected_request", "this daemon only answers to a loopback host name"
        origin = headers.get("origin")
        scheme = _HTTP_SCHEME.get(scope.get("scheme", "http"), "http")
        if origin is not None and not allowed_cross_origin and not is_same_origin(origin, host, scheme):
            return 403, "cross_origin", f"requests from {origin} are not allowed"
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self._max_body):
            return 413, "body_too_large", f"the body is larger than {self._max_body} bytes"
        if preflight or scope["path"] in PUBLIC_PATHS:
            return None
        offered = bearer_token(headers.get("authorization"))
        if offered is not None:
            path_token = self._path_tokens.get(scope["path"])
            authorized = token_matches(self._token, offered) or (
                path_token is not None and token_matches(path_token, offered)
            )
        elif not allowed_cross_origin:  # the cookie is for the dashboard's own page
            cookie = cookie_parser(headers.get("cookie", "")).get(COOKIE_NAME)
            authorized = token_matches(self._session, cookie)
        else:
            authorized = False
        if not authorized:
            return (
                401,
                "unauthorized",
                "missing or wrong token: send `Authorization: Bearer TOKEN` (the token is in the daemon's "
                "discovery file; `parallelai status` shows where)",
            )
        return None


def normal_origin(origin: str) -> str:
    """`scheme://host[:port]`, lower-cased and without a trailing slash, for comparison."""
    return origin.strip().rstrip("/").lower()


def _is_preflight(scope: Scope, headers: Headers) -> bool:
    return scope["method"] == "OPTIONS" and "access-control-request-method" in headers


def _with_cors_headers(send: Send, origin: str) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers["access-control-allow-origin"] = origin
            for name, value in CORS_HEADERS.items():
                headers[name] = value
        await send(message)

    return send_with_headers
