"""The `start_run` tool: fan work out over many sub-agents, and, when asked, wait for every answer."""

# No `from __future__ import annotations`: the SDK reads these signatures at registration time,
# and the Annotated Field descriptions must be real objects, not strings, when it does.

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from parallelai import planning
from parallelai.orchestration.service import OrchestrationService
from parallelai.run_request import TaskInput, build_request
from parallelai.server.mcp._errors import caller_mistakes
from parallelai.server.mcp.progress import run_cancelled_if_abandoned, wait_with_progress
from parallelai.server.mcp.results import DEFAULT_RESULT_CHARS
from parallelai.server.mcp.schemas import RunResults
from parallelai.server.mcp.tools._common import MaxResultChars, MaxWait, results_of, tool
from parallelai.server.workdir_roots import WorkdirRoots
from parallelai.templates.catalog import TemplateCatalog


def register_start_tool(server: MCPServer, service: OrchestrationService, catalog: TemplateCatalog) -> None:
    # An assistant is the caller most easily talked into a workdir elsewhere: the same roots as HTTP.
    allowed = WorkdirRoots.from_env()

    @tool(server, ToolAnnotations(destructive_hint=False, open_world_hint=True))
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
                "'openai:gpt-4.1' (see list_engines). Default: the server's configured engine, else the first "
                "real assistant installed and signed in where the server runs. 'echo' is a dry run that "
                "only echoes prompts: it runs only when named."
            ),
        ] = None,
        fallbacks: Annotated[
            list[str] | None,
            Field(
                description="Engines a task moves to, in order, when `engine` refuses it for good "
                "(overloaded, rate-limited beyond what it will wait, an outage), e.g. ['codex']."
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
            Literal["parallel", "dag", "adaptive"] | None,
            Field(
                description="'parallel' for independent tasks, 'dag' to honour depends_on, 'adaptive' to "
                "honour depends_on and find how many run at once from the provider's refusals and the "
                "machine, up to `parallel`. Default: 'dag' if any task has depends_on, else 'parallel'."
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
        gates: Annotated[
            list[str] | None,
            Field(
                description="Commands parallelai itself runs in `workdir` once every task succeeded, e.g. "
                "['pytest -q']. One that exits non-zero fails the run; its exit code and output are in "
                "the results. Use them to check the sub-agents' work instead of asking an agent to."
            ),
        ] = None,
        isolation: Annotated[
            bool | None,
            Field(
                description="Run each task in its own git worktree instead of `workdir` itself (which must "
                "be in a git repository): a task that changes files outside its `files` fails, and the "
                "changes are merged onto the branch parallelai/<run_id> for the user to review "
                "(`parallelai diff`) and take (`parallelai apply`). Default off."
            ),
        ] = None,
        name: Annotated[
            str | None, Field(description="A short name for the run, shown in list_runs.")
        ] = None,
        workdir: Annotated[
            str | None,
            Field(
                description="Directory the sub-agents work in; task `files` are relative to it. Default: the server's."
            ),
        ] = None,
        deadline_s: Annotated[
            float | None,
            Field(
                gt=0,
                description="Stop the run after this many seconds, waits included: unfinished tasks "
                "are cancelled and the run fails with the deadline as its reason.",
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
                fallbacks=fallbacks,
                deadline_s=deadline_s,
                engine_options=engine_options,
                parallel=parallel,
                timeout=timeout,
                timeout_s=timeout_s,
                max_cost_usd=max_cost_usd,
                fail_fast=True if fail_fast else None,
                workdir=workdir,
                gates=gates,
                isolation=isolation,
            )
            allowed.check_request(request)  # before planning reads config files and tasks files there
            spec = planning.plan_request(request, catalog)
            allowed.check_spec(spec, request)
            after = service.bus.last_seq
            run_id = await service.submit(spec)
            if not wait:
                return await results_of(service, run_id, None, max_result_chars)
            async with run_cancelled_if_abandoned(service, run_id):
                summary = await wait_with_progress(service, run_id, ctx.report_progress, after, max_wait_s)
                return await results_of(service, run_id, summary, max_result_chars)
