"""`build_mcp_server(service)`: the MCP surface over one orchestration service."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from parallelai import __version__
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.prompts import register_prompts
from parallelai.server.mcp.resources import register_resources
from parallelai.server.mcp.tools import register_tools
from parallelai.templates.catalog import LibraryCatalog, TemplateCatalog

SERVER_NAME = "parallelai"

INSTRUCTIONS = """\
parallelai fans work out over many AI sub-agents running in parallel, durably.
Use start_run when a job splits into many independent pieces (one task per file, module,
endpoint…); each task's prompt must be self-contained. With wait=true, start_run blocks with
progress and returns every task's answer, the failures and any findings in one result (what
does not fit is a get_results call away); without it, poll run_status. Runs outlive the call.
With isolation, tasks edit files in worktrees of their own: each task's result has its diffstat
(`change`), get_diff shows the patch, and the user takes it with `parallelai apply RUN`.
list_engines shows which assistants can run here; list_templates shows ready-made jobs.
"""


def build_mcp_server(service: OrchestrationService, templates: TemplateCatalog | None = None) -> MCPServer:
    """A new MCP server whose tools, resources and prompts all act on `service`.

    `templates` defaults to the template library (built-ins plus the project's own).
    """
    server: MCPServer = MCPServer(
        SERVER_NAME,
        title="parallelai",
        instructions=INSTRUCTIONS,
        version=__version__,
        # The SDK's INFO lines would interleave with the client's view of stderr on stdio.
        log_level="WARNING",
    )
    # Templates are looked up from the server's working directory: the user's project.
    catalog = templates or LibraryCatalog()
    register_tools(server, service, catalog)
    register_resources(server, service, catalog)
    register_prompts(server)
    return server
