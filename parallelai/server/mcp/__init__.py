"""The MCP server: parallelai's tools, resources and prompts for Claude Code, Cursor and any MCP client.

`server.build_mcp_server(service)` builds it; `front.StdioFront` serves it over stdio. Nothing is
imported here: `parallelai mcp` must answer its client before the MCP SDK has even loaded.
"""
