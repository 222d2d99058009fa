"""The Python facade: ParallelAI(...).review / security_scan / refactor / document / test_gen / execute."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from parallelai.errors import InputError
from parallelai.facade import ParallelAI
from parallelai.models import RunState, TaskState
from parallelai.reports.render import render_report
from parallelai.reports.results import RunFailedError

# A reviewer that crashes on the first file and finds nothing in the others.
FLAKY_REVIEWER = """case "$PARALLELAI_TASK_ID" in
  review-0001) echo 'reviewer crashed: model overloaded' >&2; exit 3 ;;
  *) printf '{"summary": "fine", "findings": []}' ;;
esac"""


@pytest.fixture
def ai(repo: Path, store_path: Path) -> ParallelAI:
    return ParallelAI(engine="echo", parallel=10, workdir=repo, store_path=store_path)


def test_review_aggregates_findings_by_file(ai: ParallelAI) -> None:
    results = ai.review(files=["*.py", "*.js"], checklist=["security", "performance"], parallel=50)
    assert results.ok
    assert results.issues_count == 5
    assert sorted(results.by_file)[0] == "app/__init__.py"
    assert results.findings[0].category == "security"


def test_refactor_with_test_after_true_runs_the_project_s_pytest_as_a_gate(
    ai: ParallelAI, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sample repo configures pytest (pyproject.toml); the gate runs it as the user's shell would.
    (repo / "tests").mkdir()
    (repo / "tests" / "test_shop.py").write_text("def test_shop() -> None:\n    assert True\n")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    results = ai.refactor(pattern="callbacks", to="async/await", files=["*.js"], test_after=True)

    assert [outcome.task_id for outcome in results.outcomes] == ["refactor-0001"]
    [gate] = results.gates
    assert (gate.command, gate.state, gate.exit_code) == ("pytest -q", "passed", 0)
    assert "1 passed" in gate.output
    assert results.ok


def test_refactor_whose_test_command_fails_is_not_ok_and_says_why(ai: ParallelAI) -> None:
    failing = f"{shlex.quote(sys.executable)} -c \"import sys; print('2 failed'); sys.exit(1)\""

    results = ai.refactor(pattern="callbacks", to="async/await", files=["*.js"], test_after=failing)

    assert results.run.state is RunState.FAILED
    assert not results.ok
    assert [(gate.exit_code, gate.output) for gate in results.gates] == [(1, "2 failed")]


def test_refactor_with_test_after_true_refuses_a_project_whose_tests_it_cannot_find(
    tmp_path: Path, store_path: Path
) -> None:
    (tmp_path / "main.js").write_text("callback()\n")
    ai = ParallelAI(engine="echo", workdir=tmp_path, store_path=store_path)

    with pytest.raises(InputError, match=r"cannot tell how .* runs its tests"):
        ai.refactor(pattern="callbacks", to="async/await", files=["*.js"], test_after=True)


def test_document_test_gen_and_security_scan(ai: ParallelAI, tmp_path: Path) -> None:
    docs = ai.document(style="markdown", output="api-docs", files=["app/*.py"], include_examples=False)
    assert "api-docs/app_views.py.md" in docs.claimed_files
    tests = ai.test_gen(coverage=90, files=["app/views.py"])
    assert tests.claimed_files == ["tests/test_views.py"]
    assert tests.generated_files == []  # the echo engine names the file; it writes nothing
    scan = ai.security_scan(files=["app/views.py"])
    assert scan.findings[0].cwe == "CWE-89"
    assert ai.write_report(scan, tmp_path / "scan.sarif").read_text().startswith("{")


def test_execute_takes_any_template_and_refuses_unknown_parameters(ai: ParallelAI) -> None:
    assert ai.execute("migration").run.total == 6
    with pytest.raises(InputError, match="no parameter 'colour'"):
        ai.execute("code_review", colour="red")


def test_a_review_whose_every_task_fails_raises_instead_of_finding_0_issues(
    repo: Path, store_path: Path
) -> None:
    ai = ParallelAI(
        engine="echo",
        workdir=repo,
        store_path=store_path,
        engines={"echo": {"fail_attempts": 99, "failure_kind": "auth"}},
    )

    with pytest.raises(RunFailedError) as raised:
        ai.review(files=["app/*.py"])

    message = str(raised.value)
    assert "code_review: no task succeeded (3 tasks failed)" in message
    assert "review-0001 (app/__init__.py) and 2 more: simulated auth failure" in message
    failed = raised.value.results.failed
    assert [(o.state, o.error) for o in failed] == [(TaskState.FAILED, "simulated auth failure")] * 3


def test_a_review_where_some_tasks_fail_returns_results_that_say_they_are_partial(
    repo: Path, store_path: Path
) -> None:
    ai = ParallelAI(
        engine="command", workdir=repo, store_path=store_path, engines={"command": {"shell": FLAKY_REVIEWER}}
    )

    results = ai.review(files=["app/*.py"])

    assert not results.complete
    assert [(o.task_id, o.error) for o in results.failed] == [
        ("review-0001", "exit code 3: reviewer crashed: model overloaded")
    ]
    assert results.issues_count == 0
    assert results.files_reviewed == ["app/models.py", "app/views.py"]
    markdown = render_report(results, "md")
    assert "**0 findings in 2 of 3 files reviewed; 1 task failed.**" in markdown
    assert markdown.index("## Failed tasks: 1 of 3") < markdown.index("## Findings: 0")
    assert "No findings." not in markdown


def test_document_with_an_output_dir_writes_pages_there_and_leaves_the_sources_alone(ai: ParallelAI) -> None:
    in_place = ai.plan("documentation", style="google", files=["app/views.py"])
    pages = ai.plan("documentation", style="google", output_dir="api/", files=["app/views.py"])

    assert "Add or correct the docstrings" in in_place.spec.tasks[0].prompt
    assert [task.id for task in in_place.spec.tasks] == ["document-0001"]
    prompt = pages.spec.tasks[0].prompt
    assert "Write one Markdown page, `api/app_views.py.md`" in prompt
    assert "stay exactly as they are" in prompt
    assert "Add or correct the docstrings" not in prompt
    assert "Args:, Returns:, Raises:" in prompt  # the style still shapes the page
    assert [task.id for task in pages.spec.tasks] == ["document-0001", "index"]
    assert "api/README.md" in pages.spec.tasks[1].prompt
    documented = ai.document(style="google", output="api/", files=["app/views.py"])
    assert documented.claimed_files == ["api/app_views.py.md", "api/README.md"]


def test_every_argument_of_the_verbs_reaches_the_prompts_or_is_refused(ai: ParallelAI) -> None:
    def prompts(template: str, **params: Any) -> str:
        return "\n".join(
            task.prompt for task in ai.plan(template, files=["app/views.py"], **params).spec.tasks
        )

    assert "Use jest." in prompts("test_generation", framework="jest", coverage=95)
    assert "at least 95% line coverage" in prompts("test_generation", framework="jest", coverage=95)
    style_only = prompts("code_review", checklist=["style"])
    assert "- style:" in style_only
    assert "- security:" not in style_only
    assert "Examples section" in prompts("documentation", include_examples=True)
    assert "Examples section" not in prompts("documentation", include_examples=False)
    assert "`pages/app_views.py.md`" in prompts("documentation", output_dir="pages")
    with pytest.raises(InputError, match="owasp"):
        ai.plan("security_audit", owasp="asvs")
