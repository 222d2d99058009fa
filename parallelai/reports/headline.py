"""The first words about a finished template run — what it did, what failed, whether it was simulated —
the same in the reports, the command line's summary and the facade's exception.

A count never hides a failure: "0 findings in 0 of 8 files reviewed; 8 tasks failed" rather than
"0 findings", because a task that failed reviewed nothing.
"""

from __future__ import annotations

from collections import Counter

from parallelai.models import TaskState
from parallelai.reports.results import TaskOutcome, TemplateResults
from parallelai.reports.simulated import SIMULATED_MARK, SIMULATED_NOTICE
from parallelai.wording import plural

# Distinct errors named in one line; the rest are counted.
_ERRORS_NAMED = 3
_ERROR_CHARS = 300
# Failed tasks a Markdown report lists one by one; the JSON report has them all.
_FAILURES_LISTED = 100


def outcome_line(results: TemplateResults) -> str:
    """What the run did, in one line: its findings over what was reviewed, or its tasks, then failures."""
    if results.plan.loaded.template.report == "findings" or results.findings:
        line = findings_scope(results)
    else:
        line = f"{len(results.succeeded)} of {plural(len(results.outcomes), 'task')} succeeded"
    not_done = not_succeeded(results)
    return f"{line}; {not_done}" if not_done else line


def findings_scope(results: TemplateResults) -> str:
    """`3 findings in 7 of 8 files reviewed` — or, when the reviewers had no files (rows), of tasks."""
    found = plural(results.issues_count, "finding")
    if results.files_to_review:
        to_review, reviewed = len(results.files_to_review), len(results.files_reviewed)
        return f"{found} in {reviewed} of {plural(to_review, 'file')} reviewed"
    return f"{found} from {len(results.succeeded)} of {plural(len(results.outcomes), 'task')}"


def not_succeeded(results: TemplateResults) -> str:
    """`8 tasks failed, 2 tasks skipped` — or "" when every task succeeded."""
    counts = Counter(outcome.state for outcome in results.failed)
    return ", ".join(
        f"{plural(count, 'task')} {state}" for state in TaskState if (count := counts.get(state, 0))
    )


def failure_summary(failed: list[TaskOutcome]) -> str:
    """The errors of the tasks that did not succeed, the same error named once with how many had it."""
    by_error: dict[str, list[TaskOutcome]] = {}
    for outcome in failed:
        by_error.setdefault(one_line(outcome.error or f"{outcome.state}, no detail"), []).append(outcome)
    parts = []
    for error, outcomes in list(by_error.items())[:_ERRORS_NAMED]:
        first = outcomes[0]
        who = f"{first.task_id} ({first.label})" + (
            f" and {len(outcomes) - 1} more" if len(outcomes) > 1 else ""
        )
        parts.append(f"{who}: {error}")
    rest = len(by_error) - _ERRORS_NAMED
    return "; ".join(parts) + (f"; and {plural(rest, 'other error')}" if rest > 0 else "")


def nothing_succeeded_message(results: TemplateResults) -> str:
    """Why a run has no result at all, and what to do: the message of `RunFailedError`."""
    name = results.plan.loaded.template.name
    return (
        f"{name}: no task succeeded ({not_succeeded(results)}) — {failure_summary(results.failed)}. "
        f"Fix the cause, then `parallelai retry {results.run_id}` runs the tasks again; "
        "every task's error is in this exception's `results.failed`."
    )


def one_line(text: str, limit: int = _ERROR_CHARS) -> str:
    """An error message on one line, cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def simulated_banner(results: TemplateResults) -> list[str]:
    """The first lines of a Markdown report of a simulated run, right under its title."""
    if not results.simulated:
        return []
    simulated, total = len(results.simulated_tasks), len(results.outcomes)
    share = "" if simulated == total else f" ({simulated} of {plural(total, 'task')})"
    return [f"> **{SIMULATED_NOTICE}**{share}", ""]


def markdown_preamble(results: TemplateResults) -> list[str]:
    """What a Markdown report says before its findings and files: what the run did, what failed."""
    return [f"**{outcome_line(results)}.**", "", *_markdown_failures(results)]


def _markdown_failures(results: TemplateResults) -> list[str]:
    failed = results.failed
    if not failed:
        return []
    lines = [f"## Failed tasks: {len(failed)} of {len(results.outcomes)}", ""]
    if results.plan.loaded.template.report == "findings":
        lines += ["Their files were not reviewed: the findings below are not the whole story.", ""]
    lines += [
        f"- `{o.task_id}` ({_cell(o.label)}): {o.state} — {one_line(o.error or 'no detail')}"
        for o in failed[:_FAILURES_LISTED]
    ]
    if len(failed) > _FAILURES_LISTED:
        lines.append(f"- …and {len(failed) - _FAILURES_LISTED} more (every one is in the JSON report)")
    return [*lines, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_lines(results: TemplateResults) -> list[str]:
    """The command line's summary of a finished run: one line of counts — marked `[SIMULATED]` at its
    start when the echo engine answered, followed by the notice saying what that means — and, for an
    isolated run, where its changes are and how to take them."""
    run = results.run
    counts = Counter(outcome.state for outcome in results.failed)
    states = "".join(f", {count} {state}" for state in TaskState if (count := counts.get(state, 0)))
    line = f"run {run.id} {run.state}: {len(results.succeeded)}/{len(results.outcomes)} succeeded{states}"
    if results.plan.loaded.template.report == "findings" or results.findings:
        line += f" · {findings_scope(results)}"
    line += f" · {run.usage.total_tokens} tokens · ${run.usage.cost_usd:.4f}"
    lines = [f"{SIMULATED_MARK}{line}", SIMULATED_NOTICE] if results.simulated else [line]
    if results.changes is not None:
        changes = results.changes
        line = f"changes on {changes.branch}: {changes.total()}"
        if changes.paths:  # nothing merged: nothing to show or take, so no command to do it
            line += f"; `parallelai diff {run.id}` shows them, `{changes.apply_hint}` merges them into your branch"
        lines.append(line)
    return lines
