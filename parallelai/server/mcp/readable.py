"""The text block of a tool result: the structured content, read out in a few lines.

Clients that show text (Cursor, the MCP Inspector, Claude Desktop) get a run's state line, then each
task as `id [state]: answer` (with its diffstat, in an isolated run), failures with their errors,
findings by severity, an isolated run's changes in total; a patch as it is. Claude Code gives the
model the structured content itself, so nothing is said here that the structured content lacks.
"""

from __future__ import annotations

import json
from functools import singledispatch
from typing import Any

from pydantic import BaseModel

from parallelai.reports.changes import file_stat
from parallelai.reports.findings import Finding
from parallelai.server.mcp.schemas import (
    ChangeStat,
    EngineList,
    Patch,
    ResultsPage,
    RunChangesTotal,
    RunList,
    RunResults,
    RunStatus,
    TaskAnswer,
    TemplateList,
)

INDENT = "    "


@singledispatch
def readable(model: BaseModel) -> str:
    """A model with no reading of its own is shown as its JSON."""
    return model.model_dump_json(indent=2)


@readable.register
def _status_text(status: RunStatus) -> str:
    return "\n".join([*_status_lines(status), f"Next: {status.next_step}"])


@readable.register
def _results_text(results: RunResults) -> str:
    lines = _status_lines(results)
    if results.failed:
        lines.append(f"Failed ({len(results.failed)}):")
        lines += [f"- {failure.task_id}: {_indented(failure.error)}" for failure in results.failed]
    if results.findings is not None:
        lines += _findings_lines(results.findings, results.findings_by_severity or {})
    if results.tasks:
        lines.append(f"Answers ({len(results.tasks)} of {results.total} tasks):")
        lines += [_task_line(task) for task in results.tasks]
    if results.changes is not None:
        lines += _changes_lines(results.changes)
    if results.results_note:
        lines.append(results.results_note)
    lines.append(f"Next: {results.next_step}")
    return "\n".join(lines)


@readable.register
def _page_text(page: ResultsPage) -> str:
    lines = _status_lines(page.run)
    if page.tasks:
        last = page.offset + len(page.tasks)
        lines.append(f"Tasks {page.offset + 1}-{last} of {page.total}:")
        lines += [_task_line(task) for task in page.tasks]
    else:
        lines.append(f"No tasks from offset {page.offset} ({page.total} in all).")
    if page.changes is not None:
        lines += _changes_lines(page.changes)
    if page.next_offset is not None:
        lines.append(f"Next page: get_results(run_id={page.run.run_id!r}, offset={page.next_offset}).")
    return "\n".join(lines)


@readable.register
def _runs_text(runs: RunList) -> str:
    if not runs.runs:
        return "No runs."
    return "\n".join(f"- {_status_lines(run)[0]}" for run in runs.runs)


@readable.register
def _engines_text(engines: EngineList) -> str:
    lines = [
        f"- {engine.name}: {'available' if engine.available else 'not available'}"
        + (f" ({engine.version})" if engine.version else "")
        + (f", {engine.detail}" if engine.detail else "")
        for engine in engines.engines
    ]
    return "\n".join([*lines, engines.hint])


@readable.register
def _templates_text(templates: TemplateList) -> str:
    lines = [f"- {template.name}: {template.description}" for template in templates.templates]
    return "\n".join(
        [*lines, "Start one with start_run(template=NAME, params={...}); see describe_template."]
    )


@readable.register
def _patch_text(patch: Patch) -> str:
    whose = (
        f"Task {patch.task_id} of run {patch.run_id}"
        if patch.task_id
        else f"Run {patch.run_id} ({patch.branch})"
    )
    outcome = f", {patch.outcome}" if patch.outcome else ""
    lines = [f"{whose}{outcome}: {patch.summary}."]
    if patch.note:
        lines.append(f"Patch {patch.note}.")
    lines.append(patch.patch or "(empty patch)")
    return "\n".join(lines)


def _changes_lines(changes: RunChangesTotal) -> list[str]:
    lines = [f"Changes on {changes.branch}: {changes.summary}."]
    if changes.not_merged:
        lines.append(f"Not merged: {', '.join(changes.not_merged)}.")
    lines.append(f"Then: {changes.next_step}.")
    return lines


def _change_text(change: ChangeStat) -> str:
    """`changed 2 files, +3 -1 (merged): a.txt +1 -1, logo.bin binary`."""
    files = [f"{stat.path} {file_stat(stat)}" for stat in change.files]
    if change.files_left_out:
        files.append(f"{change.files_left_out} more")
    return f"{change.summary} ({change.outcome})" + (f": {', '.join(files)}" if files else "")


def _status_lines(status: RunStatus) -> list[str]:
    counts = ", ".join(f"{count} {state}" for state, count in status.counts.items())
    name = f" ({status.name})" if status.name else ""
    lines = [
        f"Run {status.run_id}{name}: {status.state}, {status.done}/{status.total} tasks done"
        + (f" ({counts})" if counts else "")
        + f", ${status.cost_usd:.4f}, {status.tokens} tokens."
    ]
    if status.note:
        lines.append(f"Stopped early: {status.note}")
    return lines


def _findings_lines(findings: list[Finding], by_severity: dict[str, int]) -> list[str]:
    total = sum(by_severity.values())
    if not total:
        return ["Findings: none."]
    counts = ", ".join(f"{count} {severity}" for severity, count in by_severity.items() if count)
    shown = f"{len(findings)} of {total}" if len(findings) < total else str(total)
    lines = [f"Findings ({shown}: {counts}):"]
    for finding in findings:
        message = f": {finding.message}" if finding.message else ""
        lines.append(
            f"- [{finding.severity}] {finding.file}:{finding.line} {finding.title}{_indented(message)}"
            f" ({', '.join(finding.tasks)})"
        )
    return lines


def _task_line(task: TaskAnswer) -> str:
    parts: list[str] = []
    if task.error:
        parts.append(f"error: {task.error}")
    if task.structured is not None:
        parts.append(_json(task.structured))
    if task.text:
        parts.append(task.text)
    answer = "\n".join(parts) or "(no answer)"
    if task.truncated:
        line = f"- {task.task_id} [{task.state}, cut]: {_indented(answer)} …"
    else:
        line = f"- {task.task_id} [{task.state}]: {_indented(answer)}"
    if task.change is not None:
        line += f"\n{INDENT}{_change_text(task.change)}"
    return line


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _indented(text: str) -> str:
    """Continuation lines indented under their entry, so an answer cannot pass for the next entry."""
    return text.replace("\n", "\n" + INDENT)
