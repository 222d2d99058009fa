"""An isolated run's changes as its surfaces show them: each task's diffstat, the run's total, the branch.

A run with isolation never writes into the user's checkout: each task's change is captured, stored
with it and merged onto the branch `parallelai/<run>` (docs/isolation.md). `run_changes` reads them
back in task order, for the HTTP API, the MCP tools and the written report alike; the run's total
counts the merged changes only, since those are what the branch holds and `parallelai apply` brings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parallelai.orchestration.store import StoredChange
from parallelai.wording import plural
from parallelai.workspaces.changes import FileStat
from parallelai.workspaces.handover import integration_branch

if TYPE_CHECKING:
    from parallelai.orchestration.service import OrchestrationService


@dataclass(frozen=True, slots=True)
class RunChanges:
    """The captured changes of an isolated run, in task order (a task without one is not listed)."""

    run_id: str
    repo: Path
    base: str
    tasks: tuple[StoredChange, ...]

    @property
    def branch(self) -> str:
        return integration_branch(self.run_id)

    @property
    def apply_hint(self) -> str:
        return f"parallelai apply {self.run_id}"

    @property
    def by_task(self) -> dict[str, StoredChange]:
        return {stored.task_id: stored for stored in self.tasks}

    @property
    def merged(self) -> list[StoredChange]:
        return [stored for stored in self.tasks if stored.outcome == "merged"]

    @property
    def insertions(self) -> int:
        return sum(stored.change.insertions for stored in self.merged)

    @property
    def deletions(self) -> int:
        return sum(stored.change.deletions for stored in self.merged)

    @property
    def paths(self) -> list[str]:
        """The files the merged changes touch, each once, in the order first touched."""
        return list(dict.fromkeys(path for stored in self.merged for path in stored.change.paths))

    def merged_files(self, workdir: Path) -> dict[str, FileStat]:
        """Each file the merged changes touch, by its path relative to `workdir` (the run's, inside
        the repository), its counts added up over the tasks that touched it."""
        try:
            prefix = workdir.resolve().relative_to(self.repo.resolve()).as_posix()
        except ValueError:
            prefix = "."
        files: dict[str, FileStat] = {}
        for stored in self.merged:
            for stat in stored.change.files:
                path = stat.path if prefix == "." else stat.path.removeprefix(prefix + "/")
                seen = files.get(path)
                files[path] = (
                    stat.model_copy(update={"path": path})
                    if seen is None
                    else seen.model_copy(
                        update={
                            "insertions": seen.insertions + stat.insertions,
                            "deletions": seen.deletions + stat.deletions,
                        }
                    )
                )
        return files

    def total(self) -> str:
        """`2 tasks merged: changed 3 files, +10 -2` (the merged tasks' own counts, added up)."""
        merged = len(self.merged)
        return f"{plural(merged, 'task')} merged: " + stat_line(
            len(self.paths), self.insertions, self.deletions
        )


async def run_changes(
    service: OrchestrationService, run_id: str, order: Sequence[str] | None = None
) -> RunChanges | None:
    """The run's changes, in the order of `order` (default: the run's tasks); None for a run without
    isolation. Without `order`, RunNotFoundError for a run the store does not hold (a caller giving
    the run's task ids knows it is there)."""
    await service.store.flush()  # a change is recorded through the write queue
    if order is None:
        # The stored spec does not hold the tasks; their rows do. RunNotFoundError for an unknown run.
        order = [record.task.id for record in await service.tasks(run_id)]
    isolated = await service.store.isolated_run(run_id)
    if isolated is None:
        return None
    position = {task_id: index for index, task_id in enumerate(order)}
    stored = await service.store.task_changes(run_id)
    ordered = sorted(stored, key=lambda change: position.get(change.task_id, len(position)))
    return RunChanges(run_id, isolated.repo, isolated.base, tuple(ordered))


def not_isolated(run_id: str) -> str:
    """Why a run without isolation has no changes to show."""
    return (
        f"run {run_id!r} did not run with isolation: its tasks changed the workdir directly, so there "
        "is no captured change or branch to show (turn isolation on for a run: `isolation: true`, --isolate)"
    )


def no_change(run_id: str, task_id: str) -> str:
    return (
        f"task {task_id!r} of run {run_id!r} has no captured change: it has not succeeded yet "
        "(a task's change is captured once its agent succeeds)"
    )


def stat_line(files: int, insertions: int, deletions: int) -> str:
    """`changed 3 files, +10 -2`; `changed nothing` for no file."""
    if not files:
        return "changed nothing"
    return f"changed {plural(files, 'file')}, +{insertions} -{deletions}"


def task_stat_line(stored: StoredChange) -> str:
    change = stored.change
    return stat_line(len(change.files), change.insertions, change.deletions)


def file_stat(stat: FileStat) -> str:
    """`+3 -1`, or `binary`."""
    return "binary" if stat.binary else f"+{stat.insertions} -{stat.deletions}"


def task_json(stored: StoredChange) -> dict[str, Any]:
    """One task's change as the API and the JSON report give it."""
    change = stored.change
    return {
        "task_id": stored.task_id,
        "outcome": stored.outcome,
        "commit": stored.merged_as,
        "insertions": change.insertions,
        "deletions": change.deletions,
        "files": [stat.model_dump(mode="json") for stat in change.files],
    }


def changes_json(changes: RunChanges) -> dict[str, Any]:
    """The JSON report's `changes`: the branch, the merged total, and each task's change."""
    return {
        "branch": changes.branch,
        "base": changes.base,
        "apply": changes.apply_hint,
        "files_changed": len(changes.paths),
        "insertions": changes.insertions,
        "deletions": changes.deletions,
        "tasks": [task_json(stored) for stored in changes.tasks],
    }


_OUTCOME_WORDS = {
    "merged": "merged",
    "conflict": "not merged: it conflicts with changes merged before it",
    "outside_scope": "not merged: it changed files outside its scope",
}


def changes_markdown(changes: RunChanges) -> list[str]:
    """The report's section on an isolated run's changes: the total, then each task's files."""
    lines = [
        "## Changes",
        "",
        f"Each task ran in a worktree of its own; the merged changes are on the branch `{changes.branch}` "
        f"(from `{changes.base[:12]}`), not in your checkout. `parallelai diff {changes.run_id}` shows them, "
        f"`{changes.apply_hint}` merges them into your current branch.",
        "",
        f"Total: {changes.total()}.",
        "",
    ]
    if not changes.tasks:
        return [*lines, "No task's change has been captured.", ""]
    for stored in changes.tasks:
        outcome = _OUTCOME_WORDS[stored.outcome]
        if stored.merged_as:
            outcome += f" as `{stored.merged_as[:12]}`"
        lines += [f"### `{stored.task_id}`: {task_stat_line(stored)} · {outcome}", ""]
        lines += [f"- `{stat.path}` {file_stat(stat)}" for stat in stored.change.files]
        if stored.change.files:
            lines.append("")
    return lines
