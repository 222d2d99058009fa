"""The MCP tools: start, watch, read, cancel and retry runs of sub-agents, and find engines and templates.

Each tool's docstring is the prompt the model reads to decide when and how to call it.
"""

# No `from __future__ import annotations`: the SDK reads these signatures at registration time,
# and the Annotated Field descriptions must be real objects, not strings, when it does.

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from parallelai import planning
from parallelai.models import RunState, RunSummary, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.run_request import TaskInput, build_request
from parallelai.server.mcp._errors import caller_mistakes
from parallelai.server.mcp.progress import run_cancelled_if_abandoned, wait_with_progress
from parallelai.server.mcp.replies import replying
from parallelai.server.mcp.results import DEFAULT_RESULT_CHARS, run_results, task_outcome
from parallelai.server.mcp.schemas import (
    EngineList,
    ResultsPage,
    RunList,
    RunResults,
    RunStatus,
    TemplateList,
)
from parallelai.templates.catalog import TemplateCatalog, TemplateDetail

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

_READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
_P = ParamSpec("_P")
_M = TypeVar("_M", bound=BaseModel)


def _tool(
    server: MCPServer, annotations: ToolAnnotations
) -> Callable[[Callable[_P, Awaitable[_M]]], Callable[_P, Awaitable[_M]]]:
    """`@server.tool()`, answering with structured content plus readable text (see replies.py),
    with the docstring dedented: the model should not read our indentation."""

    def register(fn: Callable[_P, Awaitable[_M]]) -> Callable[_P, Awaitable[_M]]:
        server.add_tool(replying(fn), description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations)
        return fn

    return register


def register_tools(server: MCPServer, service: OrchestrationService, catalog: TemplateCatalog) -> None:
    async def results(run_id: str, summary: RunSummary | None, budget: int) -> RunResults:
        """The run's results so far; `summary` when the caller has a fresh one."""
        summary = summary or await service.summary(run_id)
        return run_results(summary, await service.tasks(run_id), budget)

    @_tool(server, ToolAnnotations(destructive_hint=False, open_world_hint=True))
    async def start_run(
        ctx: Context,
        tasks: Annotated[
            list[str | TaskInput] | None,
            Field(
                description="The work, one entry per sub-agent: a prompt string, or an object with a "
                "prompt plus id, depends_on, engine, engine_options, files, inputs, timeout, output_schema. "
                "Give one of `tasks`, `template` or `tasks_file`."
            ),
        ] = None,
        template: Annotated[
            str | None,
            Field(description="Run a named template instead of `tasks` (see list_templates)."),
        ] = None,
        tasks_file: Annotated[
            str | None,
            Field(
                description="Run a tasks file (YAML or JSON, as `parallelai run --tasks-file` reads) instead "
                "of `tasks`; a relative path is relative to `workdir`, else to the server's directory."
            ),
        ] = None,
        params: Annotated[
            dict[str, Any] | None,
            Field(description="The template's parameters (see describe_template)."),
        ] = None,
        engine: Annotated[
            str | None,
            Field(
                description="Engine for every task, `name` or `name:model`, e.g. 'claude-code' or "
                "'openai:gpt-4.1' (see list_engines). Default 'echo': a dry run that only echoes prompts."
            ),
        ] = None,
        engine_options: Annotated[
            dict[str, Any] | None,
            Field(
                description='Settings of the run\'s engine, e.g. {"model": "..."} (see the engine\'s docs).'
            ),
        ] = None,
        parallel: Annotated[
            int | None, Field(gt=0, le=256, description="How many sub-agents run at once (default 8).")
        ] = None,
        strategy: Annotated[
            Literal["parallel", "dag"] | None,
            Field(
                description="'parallel' for independent tasks, 'dag' to honour depends_on. "
                "Default: 'dag' if any task has depends_on, else 'parallel'."
            ),
        ] = None,
        max_cost_usd: Annotated[
            float | None,
            Field(gt=0, description="Budget: stop starting tasks once the run has spent this much."),
        ] = None,
        timeout: Annotated[  # noqa: ASYNC109 - the tasks' timeout, not this call's
            float | None, Field(gt=0, description="Per-task timeout in seconds (default: none).")
        ] = None,
        timeout_s: Annotated[
            float | None,
            Field(gt=0, description="The old name of `timeout`, accepted until the next release."),
        ] = None,
        fail_fast: Annotated[
            bool, Field(description="Stop the whole run at the first task that fails.")
        ] = False,
        name: Annotated[
            str | None, Field(description="A short name for the run, shown in list_runs.")
        ] = None,
        workdir: Annotated[
            str | None,
            Field(
                description="Directory the sub-agents work in; task `files` are relative to it. Default: the server's."
            ),
        ] = None,
        wait: Annotated[
            bool,
            Field(
                description="Block until the run finishes, reporting progress (tasks done/total). "
                "If false, return at once with the run id; poll with run_status."
            ),
        ] = False,
        max_wait_s: MaxWait = None,
        max_result_chars: MaxResultChars = DEFAULT_RESULT_CHARS,
    ) -> RunResults:
        """Start a run: fan work out over many AI sub-agents working in parallel.

        Use this when a job splits into independent pieces — review each of 200 files, write tests
        for every module, audit each endpoint — instead of doing them one by one yourself. Give one
        task per piece, each prompt self-contained (the sub-agent sees only its prompt and `files`).
        For work with steps, give task objects with `id` and `depends_on`; a dependent task's prompt
        can use {{ output }} (all its dependencies' answers) or {{ outputs.ID }}.

        With wait=true (best for runs of a few minutes) one call is enough: the result holds the
        run's state and counts, every task's answer (`structured` output too, for templates with an
        output schema), the failed tasks with their errors, and a review's findings by severity,
        within `max_result_chars`. What does not fit is marked `truncated`, and `next_offset` with
        `results_note` say which get_results call reads the rest. Cancelling a waiting call cancels
        the run it started. Without wait, return at once with `run_id` (the run is durable and
        outlives this call) and check with run_status.
        """
        async with caller_mistakes(service):
            request = build_request(
                tasks=tasks,
                template=template,
                tasks_file=tasks_file,
                params=params,
                strategy=strategy,
                name=name,
                engine=engine,
                engine_options=engine_options,
                parallel=parallel,
                timeout=timeout,
                timeout_s=timeout_s,
                max_cost_usd=max_cost_usd,
                fail_fast=True if fail_fast else None,
                workdir=workdir,
            )
            after = service.bus.last_seq
            run_id = await planning.start_run(service, request, catalog)
            if not wait:
                return await results(run_id, None, max_result_chars)
            async with run_cancelled_if_abandoned(service, run_id):
                summary = await wait_with_progress(service, run_id, ctx.report_progress, after, max_wait_s)
                return await results(run_id, summary, max_result_chars)

    @_tool(server, _READ_ONLY)
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
                return await results(run_id, None, max_result_chars)
            summary = await wait_with_progress(service, run_id, ctx.report_progress, None, max_wait_s)
            return await results(run_id, summary, max_result_chars)

    @_tool(server, _READ_ONLY)
    async def list_runs(
        state: Annotated[RunState | None, Field(description="Only runs in this state.")] = None,
        limit: Annotated[int, Field(gt=0, le=500, description="At most this many, newest first.")] = 20,
    ) -> RunList:
        """List runs, newest first, with their state and progress. Use it to find a run id."""
        async with caller_mistakes(service):
            return RunList(runs=[RunStatus.of(run) for run in await service.list_runs(state, limit)])

    @_tool(server, _READ_ONLY)
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
            tasks=[task_outcome(record, max_chars) for record in page],
        )

    @_tool(server, ToolAnnotations(destructive_hint=True, idempotent_hint=True, open_world_hint=False))
    async def cancel_run(run_id: RunId) -> RunStatus:
        """Cancel a run: stop its running sub-agents and start no more tasks. Finished answers are kept.

        Only do this when the user asks, or the run is clearly doing the wrong work.
        """
        async with caller_mistakes(service):
            return RunStatus.of(await service.cancel(run_id))

    @_tool(server, ToolAnnotations(destructive_hint=False, open_world_hint=True))
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
                return await results(run_id, None, max_result_chars)
            summary = await wait_with_progress(service, run_id, ctx.report_progress, after, max_wait_s)
            return await results(run_id, summary, max_result_chars)

    @_tool(server, _READ_ONLY)
    async def list_templates() -> TemplateList:
        """List the ready-made run templates (e.g. code review, test generation), by name.

        Start one with start_run(template=NAME, params={...}); describe_template says which params.
        """
        return TemplateList(templates=catalog.templates())

    @_tool(server, _READ_ONLY)
    async def describe_template(
        name: Annotated[str, Field(description="A template name from list_templates.")],
    ) -> TemplateDetail:
        """Describe one template: what it does and the params start_run needs for it."""
        async with caller_mistakes(service):
            return catalog.describe(name)

    @_tool(server, _READ_ONLY)
    async def list_engines() -> EngineList:
        """List the engines (AI assistants and APIs) sub-agents can run on, and whether each works here.

        Pass an available one as start_run's `engine`; `detail` says how to fix one that is not.
        """
        return EngineList(engines=await service.engine_statuses())
