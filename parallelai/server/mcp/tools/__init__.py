"""The MCP tools: start, watch, read, cancel and retry runs, show their patches, find engines and templates.

Each tool's docstring is the prompt the model reads to decide when and how to call it. The tools
are registered by group, in the order `tools/list` shows them (the manifest records that order).
"""

from mcp.server.mcpserver import MCPServer

from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.tools.catalog import register_catalog_tools
from parallelai.server.mcp.tools.changes import register_change_tools
from parallelai.server.mcp.tools.runs import register_run_tools
from parallelai.server.mcp.tools.start import register_start_tool
from parallelai.templates.catalog import TemplateCatalog


def register_tools(server: MCPServer, service: OrchestrationService, catalog: TemplateCatalog) -> None:
    register_start_tool(server, service, catalog)
    register_run_tools(server, service)
    register_change_tools(server, service)
    register_catalog_tools(server, service, catalog)
