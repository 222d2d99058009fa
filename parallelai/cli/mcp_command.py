"""`parallelai mcp`: serve the MCP tools over stdio, for Claude Code, Cursor and other clients.

Two modes. By default this process only relays stdio to the daemon's `/mcp` endpoint, starting
the daemon if none runs, so runs outlive the assistant's session and every other surface (CLI,
dashboard, editors) sees them. With `--embedded` it opens the store and runs the orchestration
itself, so its runs stop with it (`parallelai resume` continues them). Stdout belongs to the
protocol; nothing else may print there.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from parallelai.templates.run import open_service


def add_mcp_command(commands: Any) -> None:
    """Register `mcp` on the `parallelai` sub-command parser (`argparse._SubParsersAction`)."""
    mcp = commands.add_parser(
        "mcp",
        help="serve the MCP tools over stdio (for Claude Code, Cursor, …)",
        description="Serve parallelai's MCP tools over stdio. Configure your MCP client to run "
        "`parallelai mcp`; see docs/mcp.md.",
    )
    mcp.add_argument(
        "--embedded",
        action="store_true",
        help="run the orchestration in this process instead of relaying to the daemon (runs stop "
        "with it; `parallelai resume` continues them)",
    )
    mcp.set_defaults(command=serve_stdio)


async def serve_stdio(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the MCP SDK would add most of a second to every other command.
    store = getattr(args, "store", None)
    store_path = Path(store) if store else None
    if not getattr(args, "embedded", False):
        from parallelai.server.launcher import DEFAULT_HOST, start_detached
        from parallelai.server.mcp.bridge import bridge_stdio_to_daemon

        await bridge_stdio_to_daemon(await start_detached(DEFAULT_HOST, 0, store_path))
        return 0
    from parallelai.server.mcp import build_mcp_server

    # The template library's service: answers to tasks with an output schema are validated.
    async with open_service(store_path) as service:
        await build_mcp_server(service).run_stdio_async()
    return 0
