"""The MCP server: parallelai's tools, resources and prompts for Claude Code, Cursor and any MCP client."""

from parallelai.server.mcp.server import build_mcp_server
from parallelai.templates.catalog import EmptyCatalog, LibraryCatalog, TemplateCatalog, UnknownTemplateError

__all__ = ["EmptyCatalog", "LibraryCatalog", "TemplateCatalog", "UnknownTemplateError", "build_mcp_server"]
