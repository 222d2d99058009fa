"""Mass configuration: a matrix of 82 rows becomes 82 tasks, one per row."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from parallelai.facade import ParallelAI
from parallelai.reports.render import render_report
from parallelai.run_request import RunSettings
from parallelai.templates import load_template, plan_template
from tests.templates.conftest import run_count


def write_matrix(path: Path, rows: int) -> Path:
    lines = ["| service | region | replicas |", "|---|:---:|---:|"]
    lines += [f"| svc-{n:02d} | eu-{n % 3} | {n % 5 + 1} |" for n in range(1, rows + 1)]
    path.write_text("# Deployment matrix\n\n" + "\n".join(lines) + "\n\nNotes after the table are ignored.\n")
    return path


def test_an_82_row_markdown_matrix_plans_82_tasks_one_per_row(repo: Path) -> None:
    matrix = write_matrix(repo / "matrix.md", 82)
    plan = plan_template(
        load_template("configuration"), {"input": str(matrix)}, RunSettings(engine="echo", workdir=str(repo))
    )

    assert plan.count == 82
    assert plan.spec.tasks[0].inputs["row"] == {"service": "svc-01", "region": "eu-1", "replicas": "2"}
    assert "- service: svc-82" in plan.spec.tasks[-1].prompt


def test_execute_configuration_runs_one_task_per_row_in_parallel(
    repo: Path, store_path: Path, cli: Callable[[Sequence[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = write_matrix(repo / "matrix.md", 82)
    report = repo / "out" / "report.json"

    code = cli(
        [
            "execute",
            "--template",
            "configuration",
            "--input",
            str(matrix),
            "-C",
            str(repo),
            "--parallel",
            "82",
            "--report",
            str(report),
        ]
    )

    assert code == 0, capsys.readouterr().err
    body = json.loads(report.read_text())
    assert body["run"]["state"] == "succeeded"
    assert len(body["tasks"]) == 82
    assert body["generated_files"] == []  # the echo engine names files; it writes none
    assert body["missing_files"][0] == {
        "path": "config/row-1.yaml",
        "task": "configure-0001",
        "why": "not on disk after the run",
    }
    assert run_count(store_path) == 1


def test_dry_run_prints_the_count_and_starts_nothing(
    repo: Path, store_path: Path, cli: Callable[[Sequence[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = write_matrix(repo / "matrix.md", 82)

    assert cli(["execute", "-t", "configuration", "-i", str(matrix), "-C", str(repo), "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("configuration: 82 tasks planned (dry run: nothing started)")
    assert run_count(store_path) == 0


# Writes the first row's file (and a second file it does not mention); claims the second row's file,
# which it never writes, and a file outside the workspace.
HALF_HONEST_CONFIGURATOR = """case "$PARALLELAI_TASK_ID" in
  configure-0001)
    mkdir -p config && printf 'replicas: 3\\n' > config/api.yaml
    printf '{"name": "api", "files": [{"path": "config/api.yaml"}, {"path": "../outside.yaml"}]}' ;;
  *) printf '{"name": "worker", "files": [{"path": "config/worker.yaml"}]}' ;;
esac"""


def test_the_report_lists_as_generated_only_the_files_that_exist_with_their_size(
    repo: Path, store_path: Path
) -> None:
    (repo / "matrix.csv").write_text("service,replicas\napi,3\nworker,2\n")
    (repo.parent / "outside.yaml").write_text("not ours\n")
    ai = ParallelAI(
        engine="command",
        workdir=repo,
        store_path=store_path,
        engines={"command": {"shell": HALF_HONEST_CONFIGURATOR}},
    )

    results = ai.execute("configuration", input="matrix.csv")

    assert results.generated_files == ["config/api.yaml"]
    assert [(f.path, f.size) for f in results.written_files] == [("config/api.yaml", 12)]
    assert [(f.path, f.task_id, f.why) for f in results.missing_files] == [
        ("../outside.yaml", "configure-0001", "outside the workspace, not checked"),
        ("config/worker.yaml", "configure-0002", "not on disk after the run"),
    ]
    markdown = render_report(results, "md")
    assert "## Generated or changed files" in markdown
    assert "- `config/api.yaml` — 12 bytes" in markdown
    assert "- `config/worker.yaml` (configure-0002): not on disk after the run" in markdown
    assert "config/worker.yaml` —" not in markdown
    body = json.loads(render_report(results, "json"))
    assert body["written_files"][0]["size"] == 12
