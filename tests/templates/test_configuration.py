"""Mass configuration: a matrix of 82 rows becomes 82 tasks, one per row."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

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
        load_template("configuration"), {"input": str(matrix)}, RunSettings(workdir=str(repo))
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
    assert body["generated_files"][0] == "config/row-1.yaml"
    assert run_count(store_path) == 1


def test_dry_run_prints_the_count_and_starts_nothing(
    repo: Path, store_path: Path, cli: Callable[[Sequence[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = write_matrix(repo / "matrix.md", 82)

    assert cli(["execute", "-t", "configuration", "-i", str(matrix), "-C", str(repo), "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("configuration: 82 tasks planned (dry run: nothing started)")
    assert run_count(store_path) == 0
