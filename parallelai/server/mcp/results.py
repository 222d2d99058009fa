"""What a run produced, as the MCP tools give it back: whole pages (get_results), or everything in one
result cut to a budget of characters fit for an assistant's context (start_run, run_status, retry_run).

The budget rule, in the order space is handed out:

1. Failed tasks, each error cut to `FAILURE_ERROR_CHARS`, up to half the budget: what failed and why
   must never be crowded out by answers.
2. Findings of a review or audit run (aggregated by `reports.results.findings_in`), most severe first,
   up to half of what is left.
3. Answers, in task order: each task listed costs `TASK_ENTRY_CHARS` plus its answer (error, structured
   output as JSON, text). Tasks are taken while each could still get `MIN_ANSWER_CHARS`; then every
   listed answer is cut at one common length, the longest that fits (short answers stay whole, long
   ones share what is left equally). The first task not taken is `next_offset`, for get_results.
   In an isolated run a task's `change` (its diffstat, at most `FILES_LISTED` files) is part of
   its entry's cost: it is never cut, only left out with the task.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from parallelai.models import RunState, RunSummary, TaskRecord, TaskState
from parallelai.orchestration.output_schemas import parse_json_answer
from parallelai.orchestration.store import StoredChange
from parallelai.reports.changes import RunChanges, task_stat_line
from parallelai.reports.findings import Finding, counts_by_severity
from parallelai.reports.results import findings_in, reports_findings, structured_answer
from parallelai.server.mcp.schemas import (
    ChangeStat,
    RunChangesTotal,
    RunResults,
    RunStatus,
    TaskAnswer,
    TaskFailure,
    TaskOutcome,
)

DEFAULT_RESULT_CHARS = 20_000  # about 5,000 tokens: room for many answers, little of a context window
TASK_ENTRY_CHARS = 100  # a listed task's id, state and field names, as the JSON carries them
MIN_ANSWER_CHARS = 400  # fewer tasks, each readable, rather than many cut to nothing
FAILURE_ERROR_CHARS = 300
FILES_LISTED = 20  # per task's change; the rest are counted (`files_left_out`), get_diff has them all
CUT_MARK = "…"


@dataclass(frozen=True, slots=True)
class _Answer:
    """A task's answer in the parts the budget weighs."""

    task_id: str
    state: TaskState
    text: str  # left empty when it only repeats the structured output
    structured: Any
    encoded: str  # the structured output as compact JSON, what it costs
    error: str | None
    change: ChangeStat | None = None

    @property
    def size(self) -> int:
        return len(self.error or "") + len(self.encoded) + len(self.text)

    @property
    def entry(self) -> int:
        """What listing the task costs besides its answer: its id and state, and its change."""
        return TASK_ENTRY_CHARS + (len(self.change.model_dump_json()) if self.change else 0)

    def within(self, room: int | None) -> TaskAnswer:
        """The answer cut to `room` characters (None: whole): the error first, then the structured
        output (whole, or given as cut JSON text), then the text."""
        if room is None or self.size <= room:
            return TaskAnswer(
                task_id=self.task_id,
                state=self.state,
                text=self.text,
                truncated=False,
                structured=self.structured,
                error=self.error,
                change=self.change,
            )
        error = self.error[:room] if self.error is not None else None
        room -= len(error or "")
        structured, text = self.structured, self.text
        if self.encoded and len(self.encoded) > room:
            structured, text = None, "\n".join(part for part in (self.encoded, self.text) if part)
        elif self.encoded:
            room -= len(self.encoded)
        return TaskAnswer(
            task_id=self.task_id,
            state=self.state,
            text=text[:room],
            truncated=True,
            structured=structured,
            error=error,
            change=self.change,
        )


def change_stat(stored: StoredChange) -> ChangeStat:
    """A task's change as the results show it: its diffstat, the first `FILES_LISTED` files listed."""
    change = stored.change
    return ChangeStat(
        outcome=stored.outcome,
        summary=task_stat_line(stored),
        insertions=change.insertions,
        deletions=change.deletions,
        files=list(change.files[:FILES_LISTED]),
        files_left_out=max(0, len(change.files) - FILES_LISTED),
    )


def changes_total(changes: RunChanges) -> RunChangesTotal:
    run_id = changes.run_id
    return RunChangesTotal(
        branch=changes.branch,
        base=changes.base,
        summary=changes.total(),
        tasks_merged=len(changes.merged),
        files_changed=len(changes.paths),
        insertions=changes.insertions,
        deletions=changes.deletions,
        not_merged=[stored.task_id for stored in changes.tasks if stored.outcome != "merged"],
        next_step=f"get_diff(run_id={run_id!r}) shows the branch's patch, get_diff(run_id={run_id!r}, "
        f"task_id=...) one task's; the changes are not in the user's checkout until they run "
        f"`{changes.apply_hint}`",
    )


def task_outcome(record: TaskRecord, max_chars: int, change: StoredChange | None = None) -> TaskOutcome:
    """One task as get_results shows it, its text cut to `max_chars`, with its change if it made one."""
    answer = _answer_of(record, change)
    result = record.result
    return TaskOutcome(
        task_id=answer.task_id,
        state=answer.state,
        prompt=record.task.prompt,
        text=answer.text[:max_chars],
        truncated=len(answer.text) > max_chars,
        structured=answer.structured,
        error=answer.error,
        attempts=len(record.attempts),
        cost_usd=result.usage.cost_usd if result else 0.0,
        tokens=result.usage.total_tokens if result else 0,
        change=answer.change,
    )


def run_results(
    summary: RunSummary, records: Sequence[TaskRecord], budget: int, changes: RunChanges | None = None
) -> RunResults:
    """The run's status, failures, findings and answers of its finished tasks, within `budget` characters;
    with the tasks' `changes` when the run is isolated."""
    status = RunStatus.of(summary)
    by_task = changes.by_task if changes else {}
    left = budget
    failed, failed_left_out, used = _failures(records, left // 2)
    left -= used
    all_findings: list[Finding] | None = None
    findings: list[Finding] | None = None
    if reports_findings(records):
        all_findings = findings_in(records)
        findings, used = _fitting_findings(all_findings, left // 2)
        left -= used
    tasks, next_offset = _answers(records, left, by_task)
    cut = [task.task_id for task in tasks if task.truncated]
    findings_left_out = len(all_findings or []) - len(findings or [])
    note = _results_note(
        summary.id, budget, len(cut), findings_left_out, failed_left_out, next_offset, len(records)
    )
    status_fields = dict(status) | {"next_step": _next_step(status, next_offset, cut)}
    return RunResults(
        **status_fields,
        failed=failed,
        findings=findings,
        findings_by_severity=counts_by_severity(all_findings) if all_findings is not None else None,
        tasks=tasks,
        next_offset=next_offset,
        truncated=note is not None,
        results_note=note,
        changes=changes_total(changes) if changes else None,
    )


def _answer_of(record: TaskRecord, change: StoredChange | None = None) -> _Answer:
    result = record.result
    structured = structured_answer(record)
    text = result.text if result else ""
    if structured is not None and _repeats(text, structured):
        text = ""
    error = (result.error.message if result and result.error else None) or (
        record.reason if record.state in {TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED} else None
    )
    encoded = "" if structured is None else json.dumps(structured, ensure_ascii=False, separators=(",", ":"))
    stat = change_stat(change) if change else None
    return _Answer(record.task.id, record.state, text, structured, encoded, error, stat)


def _repeats(text: str, structured: Any) -> bool:
    """Whether the text is only the structured output as JSON (as most engines give it)."""
    try:
        return bool(parse_json_answer(text) == structured)
    except ValueError:
        return False


def _failures(records: Sequence[TaskRecord], room: int) -> tuple[list[TaskFailure], int, int]:
    """The failed tasks that fit in `room`, how many did not, and the characters used."""
    listed: list[TaskFailure] = []
    left_out = used = 0
    for record in records:
        if record.state is not TaskState.FAILED:
            continue
        error = _answer_of(record).error or "failed"
        if len(error) > FAILURE_ERROR_CHARS:
            error = error[: FAILURE_ERROR_CHARS - len(CUT_MARK)] + CUT_MARK
        cost = TASK_ENTRY_CHARS + len(error)
        if left_out or used + cost > room:
            left_out += 1
            continue
        listed.append(TaskFailure(task_id=record.task.id, error=error))
        used += cost
    return listed, left_out, used


def _fitting_findings(findings: list[Finding], room: int) -> tuple[list[Finding], int]:
    """The most severe findings that fit in `room` (they come sorted), and the characters used."""
    used = 0
    for count, finding in enumerate(findings):
        cost = len(finding.model_dump_json())
        if used + cost > room:
            return findings[:count], used
        used += cost
    return findings, used


def _answers(
    records: Sequence[TaskRecord], room: int, changes: Mapping[str, StoredChange]
) -> tuple[list[TaskAnswer], int | None]:
    """The finished tasks' answers that fit in `room`, and the first task left out (None if none)."""
    taken: list[_Answer] = []
    floor_cost = 0
    next_offset: int | None = None
    for index, record in enumerate(records):
        if not record.state.is_final:
            continue  # nothing to show yet; counts says how many are still going
        answer = _answer_of(record, changes.get(record.task.id))
        cost = answer.entry + min(answer.size, MIN_ANSWER_CHARS)
        if taken and floor_cost + cost > room:
            next_offset = index
            break
        taken.append(answer)
        floor_cost += cost
    level = _common_cut([answer.size for answer in taken], room - sum(answer.entry for answer in taken))
    if level is not None:
        level = max(level, MIN_ANSWER_CHARS)  # only a lone first task, squeezed by failures, goes over
    return [answer.within(level) for answer in taken], next_offset


def _common_cut(sizes: list[int], room: int) -> int | None:
    """The longest length every answer can be cut to so that together they fit in `room`;
    None when they fit whole."""
    if sum(sizes) <= room:
        return None
    spent = 0
    ordered = sorted(sizes)
    for position, size in enumerate(ordered):
        remaining = len(ordered) - position
        if spent + size * remaining > room:
            return max(0, (room - spent) // remaining)
        spent += size
    return None  # unreachable: the sum did not fit


def _results_note(
    run_id: str,
    budget: int,
    answers_cut: int,
    findings_left_out: int,
    failed_left_out: int,
    next_offset: int | None,
    total: int,
) -> str | None:
    parts: list[str] = []
    if answers_cut:
        parts.append(
            f"{answers_cut} answer{'s' if answers_cut > 1 else ''} cut (truncated: true); "
            "get_results with a larger max_chars reads them whole"
        )
    if failed_left_out:
        parts.append(
            f"{failed_left_out} more failed task{'s' if failed_left_out > 1 else ''} not listed in `failed`; "
            f"get_results(run_id={run_id!r}, state='failed') lists them"
        )
    if findings_left_out:
        parts.append(
            f"{findings_left_out} finding{'s' if findings_left_out > 1 else ''} not listed, the least "
            "severe (get_results shows each task's own in its `structured` output)"
        )
    if next_offset is not None:
        parts.append(
            f"the {total - next_offset} tasks from offset {next_offset} on are not shown: call "
            f"get_results(run_id={run_id!r}, offset={next_offset}) for the rest"
        )
    if not parts:
        return None
    return f"Cut to fit {budget} characters (max_result_chars): " + "; ".join(parts) + "."


def _next_step(status: RunStatus, next_offset: int | None, cut: list[str]) -> str:
    """What to do now that the answers are here: RunStatus's advice while the run goes on."""
    if not status.state.is_final:
        return status.next_step
    run_id = status.run_id
    if next_offset is not None:
        step = f"read the tasks not shown with get_results(run_id={run_id!r}, offset={next_offset})"
    elif cut:
        step = "every task's answer is in `tasks`, some cut (see results_note)"
    else:
        step = "every answer is in `tasks`; there is nothing more to read"
    if status.state is not RunState.SUCCEEDED:
        step += f"; retry_run(run_id={run_id!r}) runs the tasks that did not succeed again"
    return step
