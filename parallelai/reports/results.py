"""What a template run produced, per task and aggregated: outputs, findings, generated files, patches.

Partial results say so: `complete` is false when any task did not succeed, `failed` lists those
tasks with why, and everything aggregated (findings, files, patches) comes from succeeded tasks
only. Files the agents name are checked on disk (`written_files`, `missing_files`). An isolated
run's changes (`changes`) are what git captured in each task's worktree, not claims.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from parallelai.errors import ParallelAIError
from parallelai.models import GateResult, RunSummary, TaskRecord, TaskState
from parallelai.orchestration.output_schemas import parse_json_answer
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.changes import RunChanges, run_changes
from parallelai.reports.findings import (
    Finding,
    aggregate,
    counts_by_category,
    counts_by_file,
    counts_by_severity,
    findings_from_answer,
)
from parallelai.reports.simulated import engine_of, simulated_task_ids
from parallelai.reports.written import (
    MissingFile,
    WrittenFile,
    check_claims,
    check_claims_in_changes,
    claimed_paths,
)
from parallelai.templates.plan import PlannedTask, TemplatePlan


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    task_id: str
    group: str
    label: str
    state: TaskState
    answer: Any  # the structured answer, else the text
    error: str | None


@dataclass(frozen=True)
class TemplateResults:
    plan: TemplatePlan
    run: RunSummary
    records: list[TaskRecord]
    changes: RunChanges | None = None  # an isolated run's captured changes; None without isolation

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def ok(self) -> bool:
        """`complete`, and no gate failed."""
        return self.complete and not self.run.failed_gates

    @property
    def gates(self) -> list[GateResult]:
        """The commands parallelai ran itself once the tasks were done, and what each said."""
        return self.run.gates

    @property
    def complete(self) -> bool:
        """Every task succeeded: nothing in these results is partial."""
        return all(record.state is TaskState.SUCCEEDED for record in self.records)

    @cached_property
    def failed(self) -> list[TaskOutcome]:
        """Every task that did not succeed (failed, skipped after a failure, cancelled, ...), with why."""
        return [outcome for outcome in self.outcomes if outcome.state is not TaskState.SUCCEEDED]

    @cached_property
    def succeeded(self) -> list[TaskOutcome]:
        return [outcome for outcome in self.outcomes if outcome.state is TaskState.SUCCEEDED]

    @cached_property
    def engines(self) -> list[str]:
        """The engines the run's tasks ran on, by name."""
        default = self.plan.spec.default_engine
        return sorted({engine_of(record, default) for record in self.records})

    @cached_property
    def simulated_tasks(self) -> list[str]:
        """Tasks whose answers the echo engine made up: nothing an assistant found."""
        return simulated_task_ids(self.records, self.plan.spec.default_engine)

    @property
    def simulated(self) -> bool:
        return bool(self.simulated_tasks)

    @cached_property
    def outcomes(self) -> list[TaskOutcome]:
        outcomes = []
        for record in self.records:
            planned = self.plan.tasks.get(record.task.id) or PlannedTask(record.task.id, "?", record.task.id)
            result = record.result
            error = result.error.message if result and result.error else None
            if error is None and record.state is not TaskState.SUCCEEDED:
                error = record.reason
            outcomes.append(
                TaskOutcome(
                    record.task.id, planned.group, planned.label, record.state, _answer(record), error
                )
            )
        return outcomes

    @cached_property
    def findings(self) -> list[Finding]:
        return findings_in(self.records)

    @property
    def issues_count(self) -> int:
        """Findings of the tasks that succeeded. 0 means clean only when `complete` is true too:
        a failed task's file was not reviewed (see `failed`, `files_reviewed`)."""
        return len(self.findings)

    @cached_property
    def files_to_review(self) -> list[str]:
        """The input files of the tasks asked for findings (a review's or an audit's)."""
        return _files_of(record for record in self.records if reports_findings([record]))

    @cached_property
    def files_reviewed(self) -> list[str]:
        """Of `files_to_review`, those whose task succeeded."""
        return _files_of(
            record
            for record in self.records
            if record.state is TaskState.SUCCEEDED and reports_findings([record])
        )

    @property
    def by_file(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.file, []).append(finding)
        return grouped

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "severity": counts_by_severity(self.findings),
            "file": counts_by_file(self.findings),
            "category": counts_by_category(self.findings),
        }

    @cached_property
    def claimed_files(self) -> list[str]:
        """Files the succeeded agents say they wrote or changed (the built-in schemas' fields),
        whether or not they exist: `generated_files` has those that do."""
        claims = (path for outcome in self.succeeded for path in claimed_paths(outcome.answer))
        return list(dict.fromkeys(claims))

    @cached_property
    def _file_claims(self) -> tuple[list[WrittenFile], list[MissingFile]]:
        claims = [
            (path, outcome.task_id) for outcome in self.succeeded for path in claimed_paths(outcome.answer)
        ]
        inputs = {name for record in self.records for name in record.task.files}
        workdir = Path(self.plan.spec.workdir or ".")
        if self.changes is None:
            checked = check_claims(claims, workdir, inputs, self.patches)
        else:  # the agents wrote in their worktrees: what holds is what was merged
            checked = check_claims_in_changes(claims, self.changes.merged_files(workdir), inputs)
        return checked.written, checked.missing

    @property
    def written_files(self) -> list[WrittenFile]:
        """Claimed files that exist in the workspace after the run, with their size."""
        return self._file_claims[0]

    @property
    def missing_files(self) -> list[MissingFile]:
        """Claimed files the workspace does not have (or that lie outside it), and why."""
        return self._file_claims[1]

    @property
    def generated_files(self) -> list[str]:
        """Files the agents wrote or changed that exist after the run, relative to the workspace."""
        return [written.path for written in self.written_files]

    @cached_property
    def patches(self) -> dict[str, str]:
        """Unified diffs the agents reported, by file."""
        return patches_in(self.records)


def _files_of(records: Iterable[TaskRecord]) -> list[str]:
    return list(dict.fromkeys(name for record in records for name in record.task.files))


def findings_in(records: Iterable[TaskRecord]) -> list[Finding]:
    """The findings of a run's succeeded tasks, aggregated; a finding naming no file is about the
    task's one input file (a template task over a file glob has exactly one)."""
    raw: list[Finding] = []
    for record in records:
        if record.state is TaskState.SUCCEEDED:
            files = record.task.files
            default_file = files[0] if len(files) == 1 else None
            raw.extend(findings_from_answer(_answer(record), record.task.id, default_file))
    return aggregate(raw)


def reports_findings(records: Iterable[TaskRecord]) -> bool:
    """Whether any task was asked for findings (its output schema has them): a review or an audit."""
    for record in records:
        schema = record.task.options.output_schema
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        if isinstance(properties, Mapping) and "findings" in properties:
            return True
    return False


def patches_in(records: Iterable[TaskRecord]) -> dict[str, str]:
    """Unified diffs the agents reported (`{"patch": ...}` answers), by the file they change."""
    found: dict[str, str] = {}
    for record in records:
        answer = _answer(record)
        if isinstance(answer, Mapping) and answer.get("patch"):
            files = record.task.files
            target = answer.get("file") or (files[0] if len(files) == 1 else record.task.id)
            found[str(target)] = str(answer["patch"])
    return found


def structured_answer(record: TaskRecord) -> Any:
    """A task's structured output: the engine's own, else (a task with an output schema) its answer
    text read as JSON; None when it has none."""
    result = record.result
    if result is None:
        return None
    if result.structured is not None:
        return result.structured
    if record.task.options.output_schema is not None:
        try:
            return parse_json_answer(result.text)
        except ValueError:
            return None
    return None


def _answer(record: TaskRecord) -> Any:
    """The structured answer, else the text."""
    structured = structured_answer(record)
    if structured is not None:
        return structured
    return record.result.text if record.result else None


async def collect(service: OrchestrationService, plan: TemplatePlan, run_id: str) -> TemplateResults:
    """The results of a planned template's run, once it has finished."""
    summary = await service.wait(run_id)
    records = await service.tasks(run_id)
    changes = await run_changes(service, run_id, [record.task.id for record in records])
    return TemplateResults(plan, summary, records, changes)


async def run_plan(service: OrchestrationService, plan: TemplatePlan) -> TemplateResults:
    """Run a planned template to its end on `service`."""
    return await collect(service, plan, await service.submit(plan.spec))


class RunFailedError(ParallelAIError):
    """A run in which no task succeeded: there is no result to hand back, only why.

    The facade raises it rather than return results that would read as "0 issues". The results
    are still here (`error.results`: every task's state and error, the run's id for `retry`).
    """

    def __init__(self, results: TemplateResults, message: str) -> None:
        self.results = results
        super().__init__(message)
