"""The Python facade: ParallelAI(...).review / security_scan / refactor / document / test_gen / execute."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.errors import InputError
from parallelai.facade import ParallelAI


@pytest.fixture
def ai(repo: Path, store_path: Path) -> ParallelAI:
    return ParallelAI(engine="echo", parallel=10, workdir=repo, store_path=store_path)


def test_review_aggregates_findings_by_file(ai: ParallelAI) -> None:
    results = ai.review(files=["*.py", "*.js"], checklist=["security", "performance"], parallel=50)
    assert results.ok
    assert results.issues_count == 5
    assert sorted(results.by_file)[0] == "app/__init__.py"
    assert results.findings[0].category == "security"


def test_refactor_with_test_after_adds_the_verify_step(ai: ParallelAI) -> None:
    results = ai.refactor(pattern="callbacks", to="async/await", files=["*.js"], test_after=True)
    assert [outcome.task_id for outcome in results.outcomes] == ["refactor-0001", "verify"]


def test_document_test_gen_and_security_scan(ai: ParallelAI, tmp_path: Path) -> None:
    docs = ai.document(style="markdown", output="api-docs", files=["app/*.py"], include_examples=False)
    assert "api-docs/app_views.py.md" in docs.generated_files
    assert ai.test_gen(coverage=90, files=["app/views.py"]).generated_files == ["tests/test_views.py"]
    scan = ai.security_scan(files=["app/views.py"])
    assert scan.findings[0].cwe == "CWE-89"
    assert ai.write_report(scan, tmp_path / "scan.sarif").read_text().startswith("{")


def test_execute_takes_any_template_and_refuses_unknown_parameters(ai: ParallelAI) -> None:
    assert ai.execute("migration").run.total == 6
    with pytest.raises(InputError, match="no parameter 'colour'"):
        ai.execute("code_review", colour="red")
