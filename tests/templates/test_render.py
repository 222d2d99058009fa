"""Prompts: Jinja at plan time, dependency outputs at run time, file text never expanded twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.errors import TemplateError
from parallelai.models import RunState
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.results import run_plan
from parallelai.run_request import RunSettings
from parallelai.templates import parse_template, plan_template

pytestmark = pytest.mark.anyio


def template(repo: Path, text: str) -> Path:
    path = repo / "t.yaml"
    path.write_text(text)
    return path


async def test_text_that_looks_like_a_placeholder_reaches_the_agent_verbatim(
    repo: Path, store_path: Path
) -> None:
    path = template(
        repo, "name: t\ngroups:\n  show:\n    files: [app/views.py]\n    prompt: 'Code: {{ content }}'\n"
    )
    plan = plan_template(parse_template(path), {}, RunSettings(engine="echo", workdir=str(repo)))
    assert "{{ literal.0 }}" in plan.spec.tasks[0].prompt

    async with OrchestrationService.open(store_path) as service:
        results = await run_plan(service, plan)

    assert results.run.state is RunState.SUCCEEDED
    assert 'return "Hello {{ customer.name }}!"' in str(results.outcomes[0].answer)


async def test_a_group_sees_the_outputs_of_the_group_it_waits_for(repo: Path, store_path: Path) -> None:
    path = template(
        repo,
        "name: t\ngroups:\n"
        "  facts:\n    files: ['app/*.py']\n    prompt: 'fact about {{ file }}'\n"
        "  summary:\n    depends_on: [facts]\n    prompt: 'Summarise:\n\n{{ outputs.facts }}'\n",
    )
    plan = plan_template(parse_template(path), {}, RunSettings(engine="echo", workdir=str(repo)))
    summary = plan.spec.tasks[-1]
    assert summary.depends_on == ["facts-0001", "facts-0002", "facts-0003"]
    assert "### app/models.py\n{{ outputs.facts-0002 }}" in summary.prompt

    async with OrchestrationService.open(store_path) as service:
        results = await run_plan(service, plan)

    answer = str(results.outcomes[-1].answer)
    assert "### app/views.py\necho: fact about app/views.py" in answer


def test_a_dependency_output_cannot_be_filtered_at_plan_time(repo: Path) -> None:
    path = template(
        repo,
        "name: t\ngroups:\n  a:\n    prompt: x\n  b:\n    depends_on: [a]\n    prompt: '{{ outputs.a | upper }}'\n",
    )
    with pytest.raises(TemplateError, match="inserted as they are"):
        plan_template(parse_template(path), {}, RunSettings(engine="echo", workdir=str(repo)))


def test_outputs_of_a_group_not_depended_on_are_refused(repo: Path) -> None:
    path = template(
        repo,
        "name: t\ngroups:\n  a:\n    prompt: x\n  c:\n    prompt: y\n"
        "  b:\n    depends_on: [a]\n    prompt: '{{ outputs.c }}'\n",
    )
    with pytest.raises(TemplateError, match=r"\{\{ outputs.c \}\} is not a group this one depends on"):
        parse_template(path)


def test_the_sandbox_refuses_reaching_into_python_internals(repo: Path) -> None:
    path = template(repo, "name: t\ngroups:\n  a:\n    prompt: '{{ params.__class__.__mro__ }}'\n")
    with pytest.raises(TemplateError, match=r"undefined value|not allowed"):
        plan_template(parse_template(path), {}, RunSettings(engine="echo", workdir=str(repo)))


def test_a_row_without_the_column_a_prompt_uses_is_a_located_error(repo: Path) -> None:
    (repo / "rows.json").write_text('[{"name": "a"}]')
    path = template(repo, "name: t\ngroups:\n  a:\n    input: rows.json\n    prompt: '{{ row.size }}'\n")
    with pytest.raises(TemplateError, match=r"t.yaml:5: groups.a.prompt: undefined value: .*'size'"):
        plan_template(parse_template(path), {}, RunSettings(engine="echo", workdir=str(repo)))


def test_groups_may_be_written_before_the_groups_they_wait_for(repo: Path) -> None:
    path = template(
        repo,
        "name: t\ngroups:\n"
        "  summary:\n    depends_on: [facts]\n    prompt: '{{ output }}'\n"
        "  facts:\n    files: ['app/*.py']\n    prompt: 'fact about {{ file }}'\n",
    )
    plan = plan_template(parse_template(path), {}, RunSettings(engine="echo", workdir=str(repo)))
    assert [task.id for task in plan.spec.tasks][-1] == "summary"
