"""The tools that follow a run once started: its status, the runs there are, its answers, cancel and retry."""

# No `from __future__ import annotations`: the SDK reads these signatures at registration time,
# and the Annotated Field descriptions must be real objects, not strings, when it does.

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from parallelai.models import RunState, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.changes import run_changes
from parallelai.server.mcp._errors import caller_mistakes
from parallelai.server.mcp.progress import wait_with_progress
from parallelai.server.mcp.results import DEFAULT_RESULT_CHARS, changes_total, task_outcome
from parallelai.server.mcp.schemas import ResultsPage, RunList, RunResults, RunStatus
from parallelai.server.mcp.tools._common import READ_ONLY, MaxResultChars, MaxWait, RunId, results_of, tool


def register_run_tools(server: MCPServer, service: OrchestrationService) -> None:
    @tool(server, READ_ONLY)
    async def run_status(
        ctx: Context,
        run_id: RunId,
        wait: Annotated[
            bool, Field(description="Block until the run finishes, reporting progress (tasks done/total).")
        ] = False,
        max_wait_s: MaxWait = None,
        max_result_chars: MaxResultChars = DEFAULT_RESULT_CHARS,
    ) -> RunResults:
        """Where a run stands: its state, tasks done out of total, counts per state, cost and tokens,
        with the answers of the tasks finished so far (as start_run gives them, within `max_result_chars`).

        Use wait=true to block until it finishes instead of polling. Cancelling this call stops
        only the waiting, never the run.
        """
        async with caller_mistakes(service):
            if not wait:
                return await results_of(service, run_id, None, max_result_chars)
            summary = await wait_with_progress(service, run_id, ctx.report_progress, None, max_wait_s)
            return await results_of(service, run_id, summary, max_result_chars)

    @tool(server, READ_ONLY)
    async def list_runs(
        state: Annotated[RunState | None, Field(description="Only runs in this state.")] = None,
        limit: Annotated[int, Field(gt=0, le=500, description="At most this many, newest first.")] = 20,
    ) -> RunList:
        """List runs, newest first, with their state and progress. Use it to find a run id."""
        async with caller_mistakes(service):
            return RunList(runs=[RunStatus.of(run) for run in await service.list_runs(state, limit)])

    @tool(server, READ_ONLY)
    async def get_results(
        run_id: RunId,
        offset: Annotated[int, Field(ge=0, description="Index of the first task to return.")] = 0,
        limit: Annotated[int, Field(gt=0, le=200, description="Tasks per page.")] = 20,
        state: Annotated[
            TaskState | None,
            Field(description="Only tasks in this state, e.g. 'failed' to see what went wrong."),
        ] = None,
        max_chars: Annotated[
            int, Field(gt=0, le=200_000, description="Cut each answer to this many characters.")
        ] = 4000,
    ) -> ResultsPage:
        """Read what the sub-agents of a run produced: each task's answer, or its error, page by page.

        Works while the run is still going (finished tasks have answers). Follow `next_offset`
        until it is null to read everything; use `state` to focus, e.g. on failed tasks.
        """
        async with caller_mistakes(service):
            summary = await service.summary(run_id)
            records = await service.tasks(run_id)
        changes = await run_changes(service, run_id, [record.task.id for record in records])
        by_task = changes.by_task if changes else {}
        if state is not None:
            records = [record for record in records if record.state is state]
        page = records[offset : offset + limit]
        end = offset + len(page)
        return ResultsPage(
            run=RunStatus.of(summary),
            offset=offset,
            limit=limit,
            total=len(records),
            next_offset=end if end < len(records) else None,
            tasks=[task_outcome(record, max_chars, by_task.get(record.task.id)) for record in page],
            changes=changes_total(changes) if changes else None,
        )

    @tool(server, ToolAnnotations(destructive_hint=True, idempotent_hint=True, open_world_hint=False))
    async def cancel_run(run_id: RunId) -> RunStatus:
        """Cancel a run: stop its running sub-agents and start no more tasks. Finished answers are kept.

        Only do this when the user asks, or the run is clearly doing the wrong work.
        """
        async with caller_mistakes(service):
            return RunStatus.of(await service.cancel(run_id))

    @tool(server, ToolAnnotations(destructive_hint=False, open_world_hint=True))
    async def retry_run(
        ctx: Context,
        run_id: RunId,
        task_ids: Annotated[
            list[str],
            Field(description="Only these tasks (failed, cancelled or skipped ones). Default: all of them."),
        ] = [],  # noqa: B006 - the SDK reads the default from the signature; it is never mutated
        wait: Annotated[
            bool, Field(description="Block until the run finishes again, reporting progress.")
        ] = False,
        max_wait_s: MaxWait = None,
        max_result_chars: MaxResultChars = DEFAULT_RESULT_CHARS,
    ) -> RunResults:
        """Run a finished run's failed, cancelled and skipped tasks again, with the tasks that depend
        on them; tasks that succeeded keep their answers and are not run again.

        Use it after fixing what made tasks fail (a missing key, a rate limit that has passed).
        A run with nothing to retry is returned unchanged. With wait=true the result holds the
        answers, as start_run's does; cancelling the call stops only the waiting, never the run.
        """
        async with caller_mistakes(service):
            after = service.bus.last_seq
            retried = await service.retry(run_id, task_ids)
            if not wait or not retried:
                return await results_of(service, run_id, None, max_result_chars)
            summary = await wait_with_progress(service, run_id, ctx.report_progress, after, max_wait_s)
            return await results_of(service, run_id, summary, max_result_chars)
