"""Writing a template run's report as Markdown (for people), JSON (for scripts) or SARIF 2.1.0 (for code scanning)."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from parallelai.models import TaskState
from parallelai.reports.findings import Finding
from parallelai.reports.results import TemplateResults

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


def format_for(path: Path, explicit: str | None = None) -> ReportFormat:
    """The format asked for, else the one the file name says (`.sarif`, `.json`), else Markdown."""
    if explicit:
        return explicit  # type: ignore[return-value]  # argparse limits it to REPORT_FORMATS
    name = path.name.lower()
    if name.endswith((".sarif", ".sarif.json")):
        return "sarif"
    return "json" if name.endswith(".json") else "md"


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
        "parameters": results.plan.params,
        "run": results.run.model_dump(mode="json"),
        "issues_count": results.issues_count,
        "counts": results.counts,
        "findings": [finding.model_dump(mode="json", exclude_none=True) for finding in results.findings],
        "generated_files": results.generated_files,
        "patches": results.patches,
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
        template.description,
        "",
        f"Run `{run.id}` · {run.state} · {done}/{run.total} tasks succeeded · "
        f"{run.usage.total_tokens} tokens · ${run.usage.cost_usd:.4f}",
        "",
    ]
    if template.report == "findings" or results.findings:
        lines += _markdown_findings(results)
    failed = [outcome for outcome in results.outcomes if outcome.state is not TaskState.SUCCEEDED]
    if results.generated_files:
        lines += ["## Generated files", "", *[f"- `{path}`" for path in results.generated_files], ""]
    if results.patches:
        lines += ["## Patches", ""]
        for file, patch in results.patches.items():
            lines += [f"### `{file}`", "", "```diff", patch.rstrip(), "```", ""]
    if template.report == "outputs":
        lines += ["## Results", "", "| task | item | state |", "|---|---|---|"]
        lines += [f"| {o.task_id} | {_cell(o.label)} | {o.state} |" for o in results.outcomes]
        lines.append("")
    if failed:
        lines += ["## Failed tasks", ""]
        lines += [f"- `{o.task_id}` ({_cell(o.label)}): {o.state} — {o.error or 'no detail'}" for o in failed]
        lines.append("")
    if results.plan.skipped:
        lines += ["## Skipped files", ""]
        lines += [f"- `{path}`: {why}" for path, why in results.plan.skipped.items()]
        lines.append("")
    return "\n".join(lines)


def _markdown_findings(results: TemplateResults) -> list[str]:
    counts = results.counts
    lines = [f"## Findings: {results.issues_count}", ""]
    if not results.findings:
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
                "message": {"text": _sarif_message(finding)},
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
                "results": sarif_results,
            }
        ],
    }


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


def _sarif_message(finding: Finding) -> str:
    text = f"{finding.title}: {finding.message}" if finding.message else finding.title
    return f"{text}\nSuggestion: {finding.suggestion}" if finding.suggestion else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
