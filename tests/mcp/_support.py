"""Helpers for the MCP tests: calling a tool and insisting on success or on a tool error."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from mcp import Client
from mcp_types import TextContent

from parallelai.events import TaskStateChanged
from parallelai.models import TaskState
from parallelai.orchestration.service import OrchestrationService

DEADLINE_S = 10.0
# An MCP client's first request, as raw JSON-RPC.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


async def call_ok(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """The structured result of a call that must succeed."""
    result = await client.call_tool(tool, arguments or {})
    assert not result.is_error, error_text(result.content)
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


async def call_error(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> str:
    """The message of a call that must come back as a tool error."""
    result = await client.call_tool(tool, arguments or {})
    assert result.is_error, f"{tool} succeeded: {result.structured_content}"
    return error_text(result.content)


def error_text(content: list[Any]) -> str:
    return " ".join(block.text for block in content if isinstance(block, TextContent))


async def first_success(service: OrchestrationService, run_id: str) -> None:
    """Return once a task of `run_id` has succeeded."""
    async with aclosing(service.events(0, run_id)) as events:
        async for event in events:
            if isinstance(event, TaskStateChanged) and event.state is TaskState.SUCCEEDED:
                return
