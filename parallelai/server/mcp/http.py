"""`mount_mcp(app, service)`: the MCP tools over streamable HTTP at `/mcp` on the daemon's app.

The route joins the daemon's own routes, so the daemon's guard (token, Host, Origin, body size)
stands in front of it exactly as it does for the HTTP API; the SDK's own DNS-rebinding check is
turned off because it would only repeat the guard and would refuse `serve --allow-remote`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.server import build_mcp_server
from parallelai.templates.catalog import TemplateCatalog

MCP_PATH = "/mcp"


def mount_mcp(
    app: Starlette, service: OrchestrationService, templates: TemplateCatalog | None = None
) -> AbstractAsyncContextManager[None]:
    """Add the `/mcp` endpoint to `app`; enter the returned context while the app serves.

    The context runs the MCP session manager (it owns each session's streams). The daemon
    serves with `lifespan="off"`, so it is entered explicitly around `server.serve(...)`.
    """
    server = build_mcp_server(service, templates)
    sdk_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    app.router.routes.extend(sdk_app.routes)
    return server.session_manager.run()
