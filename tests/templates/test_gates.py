"""A template verb's gate (`refactor --test-after`): run by parallelai, its failure fails the run and the report says why."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

Cli = Callable[[Sequence[str]], int]
FAILING = f"{shlex.quote(sys.executable)} -c \"import sys; print('2 failed'); sys.exit(1)\""


def test_refactor_whose_tests_fail_ends_failed_with_exit_1_and_the_output_in_the_report(
    repo: Path, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "refactor.md"
    argv = ["refactor", "-C", str(repo), "--pattern", "callbacks", "--to", "async/await", "--files", "**/*.js",
            "--engine", "echo", "--test-after", FAILING, "--report", str(report)]  # fmt: skip

    assert cli(argv) == 1

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"gate failed: {FAILING} (exit code 1): 2 failed"
    markdown = report.read_text()
    assert "· failed ·" in markdown
    assert f"## Gates\n\n### `{FAILING}`: failed (exit code 1)\n\n```text\n2 failed\n```" in markdown


def test_the_json_report_carries_the_gates(repo: Path, cli: Cli, tmp_path: Path) -> None:
    report = tmp_path / "refactor.json"
    argv = ["refactor", "-C", str(repo), "--pattern", "callbacks", "--to", "async/await", "--files", "**/*.js",
            "--engine", "echo", "--test-after", FAILING, "--gate", "echo lint ok", "--report", str(report)]  # fmt: skip

    assert cli(argv) == 1

    body = json.loads(report.read_text())
    assert body["run"]["state"] == "failed"
    assert [(g["name"], g["state"], g["exit_code"], g["output"]) for g in body["gates"]] == [
        ("tests", "failed", 1, "2 failed"),
        ("echo lint ok", "passed", 0, "lint ok"),
    ]
    assert body["run"]["gates"] == body["gates"]
