"""The written report of an isolated template run lists each task's changed files with their diffstat,
the run's total, its branch and how to take it; a run without isolation reports as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parallelai.models import RunState
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.headline import summary_lines
from parallelai.reports.render import render_report
from parallelai.reports.results import TemplateResults, run_plan
from parallelai.run_request import RunSettings
from parallelai.templates import parse_template, plan_template
from tests.workspaces._repo import TWO_TEXT_FILES, committed_repo, git

pytestmark = pytest.mark.anyio

# The command engine runs the first line of each task's prompt as a shell command.
EVAL = 'eval "$(printf %s "$PROMPT" | head -n 1)"'
TEMPLATE = """\
name: edits
description: Edit each text file, and add a binary file.
groups:
  edit:
    files: ['*.txt']
    prompt: "sed -i 's/line 1/EDITED/' {{ file }}"
  add:
    prompt: "printf 'x\\\\000y' > logo.bin"
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = committed_repo(tmp_path / "repo", TWO_TEXT_FILES)
    (root / "edits.yaml").write_text(TEMPLATE)  # untracked: the run's base is HEAD
    return root


async def run_template(repo: Path, tmp_path: Path, *, isolation: bool) -> TemplateResults:
    settings = RunSettings(
        engine="command", engine_options={"shell": EVAL}, workdir=str(repo), isolation=isolation
    )
    plan = plan_template(parse_template(repo / "edits.yaml"), {}, settings)
    async with OrchestrationService.open(tmp_path / "store.sqlite") as service:
        results = await run_plan(service, plan)
    assert results.run.state is RunState.SUCCEEDED, [outcome.error for outcome in results.outcomes]
    return results


async def test_the_markdown_report_lists_each_task_s_files_the_total_the_branch_and_the_apply_hint(
    repo: Path, tmp_path: Path
) -> None:
    results = await run_template(repo, tmp_path, isolation=True)
    run_id = results.run_id

    report = render_report(results, "md")

    section = report[report.index("## Changes") :]
    assert f"on the branch `parallelai/{run_id}`" in section
    assert f"`parallelai apply {run_id}` merges them" in section
    assert "Total: 3 tasks merged: changed 3 files, +2 -2." in section
    assert "### `edit-0001`: changed 1 file, +1 -1 · merged as `" in section
    assert "- `a.txt` +1 -1" in section
    assert "- `b.txt` +1 -1" in section
    assert "- `logo.bin` binary" in section


async def test_the_json_report_holds_the_changes_per_task_with_the_total(repo: Path, tmp_path: Path) -> None:
    results = await run_template(repo, tmp_path, isolation=True)

    changes = json.loads(render_report(results, "json"))["changes"]

    assert changes["branch"] == f"parallelai/{results.run_id}"
    assert changes["base"] == git(repo, "rev-parse", "HEAD")
    assert changes["apply"] == f"parallelai apply {results.run_id}"
    assert (changes["files_changed"], changes["insertions"], changes["deletions"]) == (3, 2, 2)
    by_task = {task["task_id"]: task for task in changes["tasks"]}
    assert by_task["add"]["files"] == [{"path": "logo.bin", "insertions": 0, "deletions": 0, "binary": True}]
    assert by_task["edit-0001"]["outcome"] == "merged"
    assert by_task["edit-0001"]["commit"] in git(repo, "log", "--format=%H", f"parallelai/{results.run_id}")


async def test_the_summary_line_says_where_the_changes_are_and_how_to_take_them(
    repo: Path, tmp_path: Path
) -> None:
    results = await run_template(repo, tmp_path, isolation=True)

    assert summary_lines(results)[-1] == (
        f"changes on parallelai/{results.run_id}: 3 tasks merged: changed 3 files, +2 -2; "
        f"`parallelai diff {results.run_id}` shows them, `parallelai apply {results.run_id}` merges them "
        "into your branch"
    )


async def test_a_run_without_isolation_reports_no_changes_section(repo: Path, tmp_path: Path) -> None:
    results = await run_template(repo, tmp_path, isolation=False)

    assert results.changes is None
    assert "## Changes" not in render_report(results, "md")
    assert "changes" not in json.loads(render_report(results, "json"))
    assert len(summary_lines(results)) == 1
    assert (repo / "a.txt").read_text() == "a EDITED\na line 2\n"  # it edited the checkout itself


CLAIMING = """\
name: claims
description: Edit each text file and say so; claim a page never written.
groups:
  edit:
    files: ['*.txt']
    prompt: |
      sed -i 's/line 1/EDITED/' {{ file }} && printf '%s' '{"file": "{{ file }}", "changed": true, "doc_file": "ghost.md"}'
    output_schema: {type: object, required: [file, changed]}
    tools: {edit: true}
"""


async def test_files_the_agents_claim_are_checked_on_the_branch_not_in_the_untouched_checkout(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "claims.yaml").write_text(CLAIMING)
    settings = RunSettings(
        engine="command", engine_options={"shell": EVAL}, workdir=str(repo), isolation=True
    )
    plan = plan_template(parse_template(repo / "claims.yaml"), {}, settings)
    async with OrchestrationService.open(tmp_path / "store.sqlite") as service:
        results = await run_plan(service, plan)
    assert results.run.state is RunState.SUCCEEDED, [outcome.error for outcome in results.outcomes]

    report = render_report(results, "md")

    assert f"Each checked on the branch `parallelai/{results.run_id}`." in report
    assert "- `a.txt` — an input file, changed · +1 -1" in report
    assert "changed in place" not in report  # the checkout was not changed
    assert "- `ghost.md` (edit-0001): not in the run's merged changes" in report


async def test_the_summary_line_offers_no_diff_or_apply_when_nothing_was_merged(
    repo: Path, tmp_path: Path
) -> None:
    doing_nothing = TEMPLATE.replace("sed -i 's/line 1/EDITED/' {{ file }}", "true")
    (repo / "edits.yaml").write_text(doing_nothing.replace("printf 'x\\\\000y' > logo.bin", "true"))
    results = await run_template(repo, tmp_path, isolation=True)

    assert summary_lines(results)[-1] == (
        f"changes on parallelai/{results.run_id}: 3 tasks merged: changed nothing"
    )
