"""What the MCP tool groups share: the parameter types they all use and the registering decorator."""

# No `from __future__ import annotations`: the SDK reads these signatures at registration time,
# and the Annotated Field descriptions must be real objects, not strings, when it does.

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from parallelai.models import RunSummary
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.changes import run_changes
from parallelai.server.mcp.replies import replying
from parallelai.server.mcp.results import DEFAULT_RESULT_CHARS, run_results
from parallelai.server.mcp.schemas import (
    RunResults,
)

RunId = Annotated[
    str, Field(description="A run id as returned by start_run or list_runs, e.g. r20261125-053412-7f3a.")
]
MaxWait = Annotated[
    float | None,
    Field(
        gt=0,
        description="With wait: give up waiting after this many seconds and return the status so far "
        "(the run keeps going). Default: wait until the run finishes.",
    ),
]
MaxResultChars = Annotated[
    int,
    Field(
        ge=1000,
        le=1_000_000,
        description="Budget, in characters, for the answers, failures and findings in the result "
        f"(default {DEFAULT_RESULT_CHARS}). What does not fit is cut (truncated: true) or left for "
        "get_results (next_offset).",
    ),
]

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
_P = ParamSpec("_P")
_M = TypeVar("_M", bound=BaseModel)


def tool(
    server: MCPServer, annotations: ToolAnnotations
) -> Callable[[Callable[_P, Awaitable[_M]]], Callable[_P, Awaitable[_M]]]:
    """`@server.tool()`, answering with structured content plus readable text (see replies.py),
    with the docstring dedented: the model should not read our indentation."""

    def register(fn: Callable[_P, Awaitable[_M]]) -> Callable[_P, Awaitable[_M]]:
        server.add_tool(replying(fn), description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations)
        return fn

    return register


async def results_of(
    service: OrchestrationService, run_id: str, summary: RunSummary | None, budget: int
) -> RunResults:
    """The run's results so far, within `budget` characters, with its changes if it is isolated;
    `summary` when the caller has a fresh one."""
    summary = summary or await service.summary(run_id)
    records = await service.tasks(run_id)
    changes = await run_changes(service, run_id, [record.task.id for record in records])
    return run_results(summary, records, budget, changes)
