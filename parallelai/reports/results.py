"""What a template run produced, per task and aggregated: outputs, findings, generated files, patches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from parallelai.models import RunSummary, TaskRecord, TaskState
from parallelai.orchestration.output_schemas import parse_json_answer
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.findings import (
    Finding,
    aggregate,
    counts_by_category,
    counts_by_file,
    counts_by_severity,
    findings_from_answer,
)
from parallelai.templates.plan import PlannedTask, TemplatePlan

# Fields of the built-in output schemas that name a file the agent wrote.
_WRITTEN_FILE_FIELDS = ("test_file", "doc_file", "target_file")


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

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def ok(self) -> bool:
        return all(record.state is TaskState.SUCCEEDED for record in self.records)

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
        return len(self.findings)

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
    def generated_files(self) -> list[str]:
        """Files the agents say they wrote, from the built-in schemas' fields."""
        written: list[str] = []
        for outcome in self.outcomes:
            answer = outcome.answer
            if outcome.state is not TaskState.SUCCEEDED or not isinstance(answer, Mapping):
                continue
            written.extend(str(answer[key]) for key in _WRITTEN_FILE_FIELDS if answer.get(key))
            for entry in answer.get("files") or []:
                if isinstance(entry, Mapping) and entry.get("path"):
                    written.append(str(entry["path"]))
        return list(dict.fromkeys(written))

    @cached_property
    def patches(self) -> dict[str, str]:
        """Unified diffs the agents reported, by file."""
        return patches_in(self.records)


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
    return TemplateResults(plan, summary, await service.tasks(run_id))


async def run_plan(service: OrchestrationService, plan: TemplatePlan) -> TemplateResults:
    """Run a planned template to its end on `service`."""
    return await collect(service, plan, await service.submit(plan.spec))
