"""The examples in docs/templates.md work as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from parallelai.models import RunState
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.results import run_plan
from parallelai.run_request import RunSettings
from parallelai.templates import parse_template, plan_template

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, re.DOTALL)


@pytest.mark.anyio
async def test_the_guides_example_template_validates_and_runs(repo: Path, store_path: Path) -> None:
    (source,) = [block for block in blocks("yaml") if block.startswith("name: todo_audit")]
    path = repo / "todo_audit.yaml"
    path.write_text(source)
    plan = plan_template(parse_template(path), {"path": "app"}, RunSettings(engine="echo", workdir=str(repo)))
    assert [task.id for task in plan.spec.tasks] == ["audit-0001", "audit-0002", "audit-0003", "summary"]

    async with OrchestrationService.open(store_path) as service:
        results = await run_plan(service, plan)

    assert results.run.state is RunState.SUCCEEDED
    assert results.issues_count == 3


def test_the_guides_python_example_runs(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (source,) = blocks("python")
    monkeypatch.chdir(repo)
    exec(compile(source, "docs/templates.md", "exec"), {})
    assert capsys.readouterr().out.startswith("4 ['app/__init__.py'")
    assert json.loads((repo / "review.sarif").read_text())["version"] == "2.1.0"
