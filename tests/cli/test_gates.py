"""`--gate CMD` and a tasks file's `gates:`: parallelai runs the command, and its exit code is the run's."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from parallelai.cli.main import EXIT_FAILED, EXIT_OK, main

FAILING = f"{shlex.quote(sys.executable)} -c \"import sys; print('2 failed'); sys.exit(1)\""


def test_a_failing_gate_fails_the_run_with_exit_1_and_is_said_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "first", "second", "-e", "echo", "--gate", FAILING])

    assert code == EXIT_FAILED
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"gate failed: {FAILING} (exit code 1): 2 failed"
    assert " failed: 2/2 succeeded" in lines[1]


def test_a_passing_gate_leaves_the_run_succeeded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "first", "-e", "echo", "--gate", "true", "--gate", "echo checked"]) == EXIT_OK
    assert "gate failed" not in capsys.readouterr().out


def test_the_json_summary_carries_each_gate_s_exit_code_and_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "first", "-e", "echo", "--gate", FAILING, "--json"]) == EXIT_FAILED

    body = json.loads(capsys.readouterr().out)
    assert body["state"] == "failed"
    [gate] = body["gates"]
    assert (gate["command"], gate["state"], gate["exit_code"], gate["output"]) == (
        FAILING,
        "failed",
        1,
        "2 failed",
    )


def test_a_tasks_file_s_gates_run_in_its_folder_and_decide_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(
        "engine: echo\n"
        f"gates:\n  - touch gate-ran\n  - {{command: {json.dumps(FAILING)}, name: unit tests}}\n"
        "tasks:\n  - one\n  - two\n"
    )

    code = main(["run", "--tasks-file", str(tasks), "--json"])

    assert code == EXIT_FAILED
    body = json.loads(capsys.readouterr().out)
    assert [(gate["name"], gate["state"]) for gate in body["gates"]] == [
        ("touch gate-ran", "passed"),
        ("unit tests", "failed"),
    ]
    assert (tmp_path / "gate-ran").exists()


def test_a_tasks_file_gate_without_a_command_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text("engine: echo\ntasks:\n  - one\ngates:\n  - {name: tests}\n")

    assert main(["run", "--tasks-file", str(tasks)]) == 2
    err = capsys.readouterr().err
    assert "tasks.yaml:5" in err
    assert "gates.0.command" in err
