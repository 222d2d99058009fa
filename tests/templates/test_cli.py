"""The template verbs on the command line: review, security-scan, refactor, docs, test-gen, templates, init."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.templates.conftest import run_count

Cli = Callable[[Sequence[str]], int]


def test_review_writes_a_sarif_report_and_prints_the_findings_count(
    repo: Path, store_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    report = repo / "review.sarif"
    code = cli(
        [
            "review",
            "-C",
            str(repo),
            "--path",
            "app",
            "--checklist",
            "security,correctness",
            "--parallel",
            "50",
            "--report",
            str(report),
        ]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert "3/3 succeeded · 3 findings" in out
    sarif = json.loads(report.read_text())
    assert {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]
    } == {"app/__init__.py", "app/models.py", "app/views.py"}
    assert run_count(store_path) == 1


def test_security_scan_prints_json_with_format(
    repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli(["security-scan", "-C", str(repo), "--owasp", "top10", "--files", "**/*.py", "--format", "json"])
        == 0
    )
    body = json.loads(capsys.readouterr().out)
    assert body["issues_count"] == 4
    assert {f["owasp"] for f in body["findings"]} == {"A03"}


def test_refactor_with_test_after_plans_a_gate_parallelai_runs_not_an_agent_task(
    repo: Path, store_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "refactor",
        "-C",
        str(repo),
        "--pattern",
        "callbacks",
        "--to",
        "async/await",
        "--files",
        "**/*.js",
        "--test-after",
        "npm test",
        "--engine",
        "echo",
        "--dry-run",
        "--json",
    ]
    assert cli(argv) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(t["id"], t["depends_on"]) for t in plan["tasks"]] == [("refactor-0001", [])]
    assert plan["gates"] == [{"command": "npm test", "name": "tests", "timeout": None}]
    assert run_count(store_path) == 0


def test_docs_and_test_gen_run_with_their_options(repo: Path, cli: Cli, tmp_path: Path) -> None:
    assert (
        cli(
            [
                "docs",
                "-C",
                str(repo),
                "--style",
                "numpy",
                "--output",
                "docs/",
                "--report",
                str(tmp_path / "d.md"),
            ]
        )
        == 0
    )
    assert "app/views.py" in (tmp_path / "d.md").read_text()
    assert (
        cli(
            [
                "test-gen",
                "-C",
                str(repo),
                "--coverage",
                "80",
                "--parallel",
                "30",
                "--report",
                str(tmp_path / "t.json"),
            ]
        )
        == 0
    )
    missing = json.loads((tmp_path / "t.json").read_text())["missing_files"]
    assert "tests/test_views.py" in [file["path"] for file in missing]  # echo names it, writes nothing


def test_an_unknown_parameter_is_bad_input(repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["execute", "-t", "code_review", "-C", str(repo), "--param", "checklst=style"]) == 2
    assert "no parameter 'checklst' (did you mean 'checklist'?)" in capsys.readouterr().err


def test_templates_list_show_validate_and_schema(
    repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["templates", "list", "-C", str(repo)]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ("code_review", "security_audit", "migration", "configuration"))
    assert cli(["templates", "show", "migration"]) == 0
    assert "wait: item" in capsys.readouterr().out
    assert cli(["templates", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Template"


def test_templates_new_writes_a_project_template_that_validates_and_overrides_by_name(
    repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["templates", "new", "lint_check", "-C", str(repo)]) == 0
    path = repo / ".parallelai" / "templates" / "lint_check.yaml"
    assert cli(["templates", "validate", str(path)]) == 0
    assert "ok — template 'lint_check'" in capsys.readouterr().out
    assert cli(["templates", "list", "-C", str(repo)]) == 0
    assert "lint_check         project" in capsys.readouterr().out
    assert cli(["execute", "-t", "lint_check", "-C", str(repo)]) == 0


def test_init_writes_config_and_an_example_tasks_file_once(
    repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["init", "-C", str(repo)]) == 0
    assert (repo / ".parallelai" / "config.toml").is_file()
    assert cli(["run", "-f", str(repo / ".parallelai" / "tasks.yaml")]) == 0
    assert cli(["init", "-C", str(repo)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err


def test_a_review_on_the_echo_engine_says_it_is_simulated_and_counts_one_finding_in_the_singular(
    repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["review", "-C", str(repo), "--engine", "echo", "--files", "app/views.py"]) == 0

    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first.startswith("[SIMULATED] run ")
    assert "1/1 succeeded · 1 finding in 1 of 1 file reviewed ·" in first
    assert second.startswith("SIMULATED: the echo engine made these answers up")


def test_a_review_whose_tasks_failed_says_how_many_files_it_did_not_review(
    repo: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["review", "-C", str(repo), "--engine", "echo", "--files", "app/*.py", "--retries", "0"]
    assert cli([*argv, "-E", "fail_attempts=1", "-E", "failure_kind=auth"]) == 1

    captured = capsys.readouterr()
    assert "0/3 succeeded, 3 failed · 0 findings in 0 of 3 files reviewed ·" in captured.out
    assert "review-0001 (app/__init__.py): simulated auth failure" in captured.err
