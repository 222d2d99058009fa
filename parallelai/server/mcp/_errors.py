"""The one place where parallelai errors become MCP tool errors the model can read and correct.

The SDK shows the model only `Error executing tool X` for an ordinary exception (it treats it
as a crash), so caller mistakes are re-raised as `ToolError`, whose message does reach the model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver.exceptions import ToolError

from parallelai.errors import InputError, RunBusyError, RunNotFoundError, TaskNotFoundError
from parallelai.orchestration.service import OrchestrationService

RECENT_RUNS_LISTED = 5


@asynccontextmanager
async def caller_mistakes(service: OrchestrationService) -> AsyncIterator[None]:
    """Turn mistakes a caller can fix into tool errors that list the valid choices."""
    try:
        yield
    except RunNotFoundError as error:
        raise ToolError(await _unknown_run_message(service, error.run_id)) from None
    except (InputError, TaskNotFoundError, RunBusyError) as error:
        raise ToolError(str(error)) from None


async def _unknown_run_message(service: OrchestrationService, run_id: str) -> str:
    recent = [run.id for run in await service.list_runs(limit=RECENT_RUNS_LISTED)]
    if not recent:
        return f"unknown run {run_id!r}: there are no runs yet; start one with start_run"
    return (
        f"unknown run {run_id!r}; the most recent runs are: {', '.join(recent)} (call list_runs to see more)"
    )
