"""Writing a template run's report as Markdown (for people), JSON (for scripts) or SARIF 2.1.0 (for code scanning)."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from parallelai.models import TaskState
from parallelai.reports.answers import answers_markdown
from parallelai.reports.changes import changes_json, changes_markdown
from parallelai.reports.findings import Finding
from parallelai.reports.headline import (
    markdown_preamble,
    not_succeeded,
    outcome_line,
    simulated_banner,
)
from parallelai.reports.results import TemplateResults
from parallelai.reports.simulated import SIMULATED_NOTICE
from parallelai.reports.written import files_markdown

ReportFormat = Literal["md", "json", "sarif"]
REPORT_FORMATS: tuple[ReportFormat, ...] = ("md", "json", "sarif")
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning ranks security alerts by this CVSS-like score on the rule.
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


def _tool_version() -> str:
    try:
        return version("parallelai")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0"


def format_for(path: Path, explicit: str | None = None, otherwise: ReportFormat = "md") -> ReportFormat:
    """The format asked for, else the one the file name says (`.sarif`, `.json`), else `otherwise`
    (the config's `[report] format`, Markdown by default)."""
    if explicit:
        return explicit  # type: ignore[return-value]  # argparse limits it to REPORT_FORMATS
    name = path.name.lower()
    if name.endswith((".sarif", ".sarif.json")):
        return "sarif"
    if name.endswith(".json"):
        return "json"
    return "md" if name.endswith(".md") else otherwise


def render_report(results: TemplateResults, fmt: ReportFormat) -> str:
    if fmt == "json":
        return json.dumps(to_json(results), indent=2, ensure_ascii=False) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif(results), indent=2, ensure_ascii=False) + "\n"
    return to_markdown(results)


def write_report(results: TemplateResults, path: Path, fmt: ReportFormat | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(results, fmt or format_for(path)), encoding="utf-8")
    return path


def to_json(results: TemplateResults) -> dict[str, Any]:
    return {
        "template": results.plan.loaded.template.name,
        # First what a reader must know before trusting anything below: made up? partial? why?
        "simulated": results.simulated,
        "engines": results.engines,
        "summary": outcome_line(results),
        "complete": results.complete,
        "failed_count": len(results.failed),
        "failures": [
            {"id": o.task_id, "item": o.label, "state": o.state.value, "error": o.error}
            for o in results.failed
        ],
        "parameters": results.plan.params,
        "run": results.run.model_dump(mode="json"),
        "issues_count": results.issues_count,
        "files_reviewed": results.files_reviewed,
        "counts": results.counts,
        "findings": [finding.model_dump(mode="json", exclude_none=True) for finding in results.findings],
        "generated_files": results.generated_files,
        "written_files": [
            {
                "path": f.path,
                "size": f.size,
                "task": f.task_id,
                "edited": f.edited,
                "added": f.added,
                "removed": f.removed,
            }
            for f in results.written_files
        ],
        "missing_files": [{"path": f.path, "task": f.task_id, "why": f.why} for f in results.missing_files],
        "patches": results.patches,
        "gates": [gate.model_dump(mode="json") for gate in results.gates],
        **({"changes": changes_json(results.changes)} if results.changes is not None else {}),
        "skipped_files": results.plan.skipped,
        "tasks": [
            {
                "id": outcome.task_id,
                "group": outcome.group,
                "item": outcome.label,
                "state": outcome.state.value,
                "answer": outcome.answer,
                "error": outcome.error,
            }
            for outcome in results.outcomes
        ],
    }


def to_markdown(results: TemplateResults) -> str:
    template = results.plan.loaded.template
    run = results.run
    done = run.counts.get(TaskState.SUCCEEDED, 0)
    lines = [
        f"# {template.name} report",
        "",
        *simulated_banner(results),
        template.description,
        "",
        f"Run `{run.id}` · {run.state} · {done}/{run.total} tasks succeeded · "
        f"{run.usage.total_tokens} tokens · ${run.usage.cost_usd:.4f}",
        "",
        *markdown_preamble(results),
    ]
    lines += _markdown_gates(results)
    if template.report == "findings" or results.findings:
        lines += _markdown_findings(results)
    if results.changes is not None:
        lines += changes_markdown(results.changes)
    lines += files_markdown(
        results.written_files,
        results.missing_files,
        branch=results.changes.branch if results.changes else None,
    )
    if results.patches:
        lines += ["## Patches", ""]
        for file, patch in results.patches.items():
            lines += [f"### `{file}`", "", "```diff", patch.rstrip(), "```", ""]
    if template.report == "outputs":
        lines += ["## Results", "", "| task | item | state |", "|---|---|---|"]
        lines += [f"| {o.task_id} | {_cell(o.label)} | {o.state} |" for o in results.outcomes]
        lines.append("")
    lines += answers_markdown(results)
    if results.plan.skipped:
        lines += ["## Skipped files", ""]
        lines += [f"- `{path}`: {why}" for path, why in results.plan.skipped.items()]
        lines.append("")
    return "\n".join(lines)


def _markdown_gates(results: TemplateResults) -> list[str]:
    """Each gate's command, how it ended and the end of its output: the run's verdict, so first."""
    if not results.gates:
        return []
    lines = ["## Gates", ""]
    for gate in results.gates:
        how = gate.state if gate.exit_code is None else f"{gate.state} (exit code {gate.exit_code})"
        detail = f" — {gate.reason}" if gate.reason and gate.exit_code is None else ""
        lines += [f"### `{gate.command}`: {how}{detail}", ""]
        if gate.output:
            # A fence longer than any run of backticks in the output, so the output cannot close it.
            fence = "`" * max(3, _longest_backtick_run(gate.output) + 1)
            lines += [f"{fence}text", gate.output.rstrip(), fence, ""]
    return lines


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def _markdown_findings(results: TemplateResults) -> list[str]:
    counts = results.counts
    lines = [f"## Findings: {results.issues_count}", ""]
    if not results.findings:
        if results.failed:
            # No findings from a partial run is not a clean bill of health.
            return [
                *lines,
                f"No findings in the files reviewed, but {not_succeeded(results)}: not a clean result.",
                "",
            ]
        return [*lines, "No findings.", ""]
    severity = " · ".join(f"{name}: {count}" for name, count in counts["severity"].items() if count)
    lines += [severity, "", "| file | findings |", "|---|---|"]
    lines += [f"| `{file}` | {count} |" for file, count in counts["file"].items()]
    lines += ["", "| category | findings |", "|---|---|"]
    lines += [f"| {category} | {count} |" for category, count in counts["category"].items()]
    lines.append("")
    for finding in results.findings:
        tags = ", ".join(tag for tag in (finding.category, finding.owasp, finding.cwe) if tag)
        lines += [
            f"### [{finding.severity}] {_cell(finding.title)}",
            "",
            f"`{finding.file}:{finding.line}` · {tags}",
            "",
            finding.message,
        ]
        if finding.suggestion:
            lines += ["", f"**Suggestion:** {finding.suggestion}"]
        lines.append("")
    return lines


def to_sarif(results: TemplateResults) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    sarif_results = []
    for finding in results.findings:
        rule_id = _rule_id(finding)
        if rule_id not in rules:
            rules[rule_id] = _rule(rule_id, finding)
        sarif_results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": list(rules).index(rule_id),
                "level": _SARIF_LEVEL[finding.severity],
                "message": {"text": _sarif_message(finding, results.simulated)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": finding.file, "uriBaseId": "%SRCROOT%"},
                            "region": {
                                "startLine": finding.line,
                                "endLine": finding.end_line or finding.line,
                            },
                        }
                    }
                ],
                "partialFingerprints": {"parallelai/v1": "|".join(map(str, finding.key))},
                "properties": {"severity": finding.severity, "category": finding.category},
            }
        )
    workdir = Path(results.plan.spec.workdir or ".").resolve()
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "parallelai",
                        "version": _tool_version(),
                        "informationUri": "https://github.com/parallelai/parallelai",
                        "rules": list(rules.values()),
                    }
                },
                "automationDetails": {
                    "id": f"parallelai/{results.plan.loaded.template.name}/{results.run_id}"
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": workdir.as_uri() + "/"}},
                "invocations": [_sarif_invocation(results)],
                "results": sarif_results,
                "properties": {
                    "simulated": results.simulated,
                    "engines": results.engines,
                    "summary": outcome_line(results),
                    "complete": results.complete,
                    "failedTasks": len(results.failed),
                },
            }
        ],
    }


def _sarif_invocation(results: TemplateResults) -> dict[str, Any]:
    """Whether the run did all it was asked, with a notification per failed task (and for a simulation),
    so code scanning shows that the results are partial or made up."""
    notifications: list[dict[str, Any]] = []
    if results.simulated:
        notifications.append({"level": "warning", "message": {"text": SIMULATED_NOTICE}})
    notifications += [
        {
            "level": "error",
            "message": {"text": f"task {o.task_id} ({o.label}) {o.state}: {o.error or 'no detail'}"},
        }
        for o in results.failed
    ]
    return {"executionSuccessful": results.complete, "toolExecutionNotifications": notifications}


def _rule_id(finding: Finding) -> str:
    return f"{finding.category}/{finding.cwe}" if finding.cwe else finding.category


def _rule(rule_id: str, finding: Finding) -> dict[str, Any]:
    tags = [tag for tag in (finding.category, finding.owasp, finding.cwe) if tag]
    properties: dict[str, Any] = {"tags": tags}
    if finding.category == "security":
        properties["security-severity"] = _SECURITY_SEVERITY[finding.severity]
    return {
        "id": rule_id,
        "name": rule_id.replace("/", "-"),
        "shortDescription": {"text": finding.cwe or finding.category},
        "defaultConfiguration": {"level": _SARIF_LEVEL[finding.severity]},
        "properties": properties,
    }


def _sarif_message(finding: Finding, simulated: bool = False) -> str:
    text = f"{finding.title}: {finding.message}" if finding.message else finding.title
    if simulated:  # code scanning shows each result alone: each must say it was made up
        text = f"[simulated by the echo engine] {text}"
    return f"{text}\nSuggestion: {finding.suggestion}" if finding.suggestion else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
