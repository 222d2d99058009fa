"""Template runs through the HTTP API: planned from the library, their findings aggregated."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from parallelai.models import RunState
from parallelai.wire import ErrorBody, RunCreated, RunFindings, RunOut
from tests.server._support import DEADLINE_S, Harness, parse

pytestmark = pytest.mark.anyio
SAMPLE_REPO = Path(__file__).resolve().parents[1] / "templates" / "sample_repo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SAMPLE_REPO, root)
    return root.resolve()


async def test_a_review_template_run_reports_findings_on_the_files_it_reviewed(
    daemon: Harness, repo: Path
) -> None:
    body = {
        "template": "code_review",
        "params": {"path": "app", "files": ["*.py"], "checklist": ["security"]},
        "engine": "echo",
        "workdir": str(repo),
        "parallel": 4,
    }
    with anyio.fail_after(DEADLINE_S):
        created = await daemon.http.post("/v1/runs", json=body)
        assert created.status_code == 201, created.text
        run_id = parse(created, RunCreated).id
        await daemon.service.wait(run_id)
        run = parse(await daemon.http.get(f"/v1/runs/{run_id}"), RunOut)
        found = parse(await daemon.http.get(f"/v1/runs/{run_id}/findings"), RunFindings)

    assert run.state is RunState.SUCCEEDED
    assert run.total == 3  # app/__init__.py, models.py, views.py
    assert found.workdir == str(repo)
    assert found.reviewed
    assert found.findings, "the echo engine answers each review task with the template's example finding"
    assert {finding.file for finding in found.findings} <= {
        "app/__init__.py",
        "app/models.py",
        "app/views.py",
    }
    assert all(finding.tasks for finding in found.findings)
    assert sum(found.counts.values()) == len(found.findings)


async def test_a_run_of_plain_prompts_has_no_findings(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = parse(await daemon.http.post("/v1/runs", json={"prompts": ["a"]}), RunCreated).id
        await daemon.service.wait(run_id)
        found = parse(await daemon.http.get(f"/v1/runs/{run_id}/findings"), RunFindings)
    assert found.findings == []
    assert found.patches == {}
    assert not found.reviewed


async def test_an_unknown_template_is_a_422_that_lists_the_installed_ones(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post("/v1/runs", json={"template": "code_reveiw"})
    assert response.status_code == 422
    message = parse(response, ErrorBody).error.message
    assert "code_reveiw" in message
    assert "code_review" in message
    assert await daemon.service.list_runs() == []


async def test_params_without_a_template_are_a_422(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.post("/v1/runs", json={"prompts": ["a"], "params": {"x": 1}})
    assert response.status_code == 422
    assert "template" in parse(response, ErrorBody).error.message


async def test_findings_of_an_unknown_run_are_a_404(daemon: Harness) -> None:
    with anyio.fail_after(DEADLINE_S):
        response = await daemon.http.get("/v1/runs/r-nope/findings")
    assert response.status_code == 404
