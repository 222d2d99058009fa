"""The dashboard's way in: a one-time login link (or the token, pasted once into the sign-in page)
that turns into an HttpOnly, SameSite=Strict cookie.

`parallelai dashboard` asks for a link with the token; the browser opens it once, gets the cookie,
and from then on its same-origin requests and EventSource streams carry it. The cookie holds a
session credential derived from the token (`auth.dashboard_session`), never the token itself. The code in the link
is single-use and short-lived, so a link left in a shell history or a browser's history is inert.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from parallelai.server.auth import COOKIE_NAME, dashboard_session, token_matches
from parallelai.server.http.endpoint import Endpoint, json_response, read_body
from parallelai.server.http.errors import ApiError
from parallelai.wire import DashboardLink

LINK_TTL_S = 120.0


class LoginCodes:
    """Single-use codes, each valid for `ttl_s` seconds."""

    def __init__(self, ttl_s: float = LINK_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._expiry: dict[str, float] = {}

    def issue(self) -> str:
        now = time.monotonic()
        self._expiry = {code: at for code, at in self._expiry.items() if at > now}
        code = secrets.token_urlsafe(32)
        self._expiry[code] = now + self._ttl_s
        return code

    def redeem(self, code: str) -> bool:
        expiry = self._expiry.pop(code, None)
        return expiry is not None and expiry > time.monotonic()


def dashboard_endpoints(codes: LoginCodes) -> list[Endpoint]:
    async def dashboard_link(request: Request) -> Response:
        url = f"{str(request.base_url).rstrip('/')}/login?code={codes.issue()}"
        return json_response(DashboardLink(url=url, expires_in_s=LINK_TTL_S), 201)

    return [
        Endpoint(
            "POST",
            "/v1/dashboard/link",
            dashboard_link,
            "A one-time link that logs a browser into the dashboard",
            response=DashboardLink,
            status=201,
        )
    ]


def dashboard_routes(codes: LoginCodes, token: str) -> list[Route]:
    session = dashboard_session(token)

    def signed_in(response: Response) -> Response:
        response.set_cookie(COOKIE_NAME, session, httponly=True, samesite="strict", path="/")
        return response

    async def login(request: Request) -> Response:
        if not codes.redeem(request.query_params.get("code", "")):
            # To the sign-in page, which says so and offers the other way in.
            return RedirectResponse("/?expired", status_code=303)
        return signed_in(RedirectResponse("/", status_code=303))

    async def login_with_token(request: Request) -> Response:
        """The sign-in page's form: the token pasted once, answered with the session cookie."""
        pasted = (await read_body(request, TokenLogin)).token
        if not token_matches(token, pasted):
            raise ApiError(401, "unauthorized", "that is not this daemon's token; run `parallelai dashboard`")
        return signed_in(Response(status_code=204))

    html = files("parallelai.server.http").joinpath("static/dashboard.html").read_text("utf-8")
    headers = page_headers(html)

    async def page(request: Request) -> Response:
        return HTMLResponse(html, headers=headers)

    return [
        Route("/login", login, methods=["GET"]),
        Route("/login", login_with_token, methods=["POST"]),
        Route("/", page, methods=["GET"]),
    ]


class TokenLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=1024)


def page_headers(html: str) -> dict[str, str]:
    """A strict CSP: only the page's own inline script (by hash) runs, it talks only to this origin,
    and no other site may frame it (the cancel button must not be clickjacked)."""
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in scripts
    )
    policy = (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
