"""The tool that shows what an isolated run changed: its branch's patch, or one task's."""

# No `from __future__ import annotations`: the SDK reads these signatures at registration time,
# and the Annotated Field descriptions must be real objects, not strings, when it does.

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from parallelai.errors import InputError
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.changes import no_change, not_isolated, run_changes, task_stat_line
from parallelai.server.mcp._errors import caller_mistakes
from parallelai.server.mcp.schemas import Patch
from parallelai.server.mcp.tools._common import READ_ONLY, RunId, tool
from parallelai.workspaces.handover import integration_diff

DEFAULT_DIFF_CHARS = 20_000  # as a run's results: a fair patch, little of a context window


def register_change_tools(server: MCPServer, service: OrchestrationService) -> None:
    @tool(server, READ_ONLY)
    async def get_diff(
        run_id: RunId,
        task_id: Annotated[
            str | None,
            Field(description="One task's change, as captured (merged or not). Default: the whole run's."),
        ] = None,
        max_chars: Annotated[
            int,
            Field(
                ge=1000,
                le=1_000_000,
                description=f"Cut the patch after this many characters (default {DEFAULT_DIFF_CHARS}), "
                "at a line end.",
            ),
        ] = DEFAULT_DIFF_CHARS,
    ) -> Patch:
        """The patch of a run with isolation: every merged change (its branch `parallelai/<run>`
        against the commit its tasks started from), or the change one task made.

        Use it to review what the sub-agents changed before the user takes it: the changes are not
        in the user's checkout until they run `parallelai apply RUN`. The results of start_run,
        run_status and get_results give each task's diffstat (`change`), to pick a task by.
        """
        async with caller_mistakes(service):
            changes = await run_changes(service, run_id)
            if changes is None:
                raise InputError(not_isolated(run_id))
            if task_id is None:
                text = (await integration_diff(changes.repo, run_id, changes.base)).decode("utf-8", "replace")
                summary, outcome = changes.total(), None
            else:
                await service.task(run_id, task_id)  # TaskNotFoundError for a task the run does not have
                stored = changes.by_task.get(task_id)
                if stored is None:
                    raise InputError(no_change(run_id, task_id))
                text, summary, outcome = stored.change.text, task_stat_line(stored), stored.outcome
        shown = _cut(text, max_chars)
        note = None
        if len(shown) < len(text):
            whole = f"parallelai diff {run_id}" + (f" {task_id}" if task_id else "")
            note = (
                f"cut at {len(shown)} of {len(text)} characters (max_chars); a larger max_chars, "
                + ("a single task's patch (task_id), " if task_id is None else "")
                + f"or `{whole}` shows more"
            )
        return Patch(
            run_id=run_id,
            task_id=task_id,
            branch=changes.branch,
            base=changes.base,
            outcome=outcome,
            summary=summary,
            patch=shown,
            chars=len(text),
            truncated=note is not None,
            note=note,
        )


def _cut(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at the end of a line when there is one."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = cut.rfind("\n")
    return cut[: end + 1] if end > 0 else cut
