"""The command line's paper cuts: each input a user types as the docs write it is taken, and each
mistake is answered with what was wrong and what to do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from parallelai.cli.main import EXIT_INPUT, EXIT_OK, main
from parallelai.client.discovery import read_discovery
from tests.cli._pipes import into_a_closed_pipe

PARALLELAI = [sys.executable, "-m", "parallelai"]
DEADLINE_S = 90.0


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _plan(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main([*argv, "--engine", "echo", "--dry-run", "--json"]) == EXIT_OK
    plan: dict[str, object] = json.loads(capsys.readouterr().out)
    return plan


def test_coverage_is_taken_as_the_readme_writes_it_with_a_percent_sign(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan(capsys, "test-gen", "--coverage", "80%")
    assert plan["parameters"]["coverage"] == 80  # type: ignore[index]


def test_a_coverage_that_is_not_a_percentage_is_refused_with_the_form_it_takes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["test-gen", "--coverage", "lots", "--engine", "echo"])
    assert exit_info.value.code == EXIT_INPUT
    assert "not a percentage such as 80 or 80%" in capsys.readouterr().err


def test_an_absolute_path_outside_the_current_directory_is_reviewed_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "job.py").write_text("x = 1\n")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    plan = _plan(capsys, "review", "--path", str(elsewhere))
    assert [task["item"] for task in plan["tasks"]] == ["job.py"]  # type: ignore[attr-defined]


def test_an_absolute_path_inside_the_workspace_is_the_same_as_its_relative_form(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan(capsys, "review", "--path", str(project / "src"))
    assert [task["item"] for task in plan["tasks"]] == ["src/app.py"]  # type: ignore[attr-defined]


def test_a_path_that_does_not_exist_is_named_as_missing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "--path", "./nope", "--engine", "echo"]) == EXIT_INPUT
    assert f"--path ./nope: no such directory under {project}" in capsys.readouterr().err


def test_a_path_without_matching_files_says_which_globs_matched_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "empty").mkdir()
    assert main(["review", "--path", "empty", "--engine", "echo"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "template 'code_review' planned no tasks: no files matched" in err
    assert "empty/**/*.py" in err
    assert "a run needs at least one task" not in err


def test_a_misspelt_template_name_suggests_the_closest(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # (`configurations` is an alias of `configuration` now: the announcement typed it.)
    assert main(["execute", "--template", "configuratoin", "--engine", "echo"]) == EXIT_INPUT
    assert "(did you mean 'configuration'?)" in capsys.readouterr().err


def test_one_planned_task_is_one_task_not_one_tasks(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "--engine", "echo", "--dry-run"]) == EXIT_OK
    assert "code_review: 1 task planned" in capsys.readouterr().out


def test_an_empty_prompt_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "  ", "--engine", "echo"]) == EXIT_INPUT
    assert "the prompt is empty" in capsys.readouterr().err


def test_a_parallelism_no_machine_holds_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "x", "--parallel", "99999999999", "--engine", "echo"]) == EXIT_INPUT
    assert "parallel: Input should be less than or equal to 10000" in capsys.readouterr().err


def test_a_dry_run_into_a_closed_pipe_ends_quietly(project: Path) -> None:
    """`parallelai review --dry-run | head -1` on a tree larger than a pipe buffer."""
    for index in range(400):
        (project / "src" / f"module_{index:03}.py").write_text("x = 1\n")
    done = into_a_closed_pipe("review", "--engine", "echo", "--dry-run")
    assert done.returncode == 141, done.stderr.decode()
    assert b"Traceback" not in done.stderr


def test_a_resumed_run_counts_on_from_the_tasks_it_had_finished(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = project / "tasks.yaml"
    tasks.write_text(
        "tasks:\n"
        "  - {id: first, prompt: one}\n"
        "  - {id: second, prompt: two, options: {retries: 0, engine_options: {failure_rate: 1.0, failure_kind: execution}}}\n"
    )
    main(["run", "--tasks-file", str(tasks), "--engine", "echo", "--json"])
    run_id = json.loads(capsys.readouterr().out)["id"]
    assert main(["retry", run_id]) != EXIT_OK  # `second` fails again, but is counted on from `first`
    err = capsys.readouterr().err
    assert "[2/2] second failed" in err
    assert "[1/2] second" not in err


@pytest.mark.anyio
async def test_a_verb_with_monitor_web_runs_in_the_daemon_and_prints_the_dashboard_address(
    project: Path,
) -> None:
    with anyio.fail_after(DEADLINE_S):
        done = await anyio.run_process(
            [*PARALLELAI, "review", "--engine", "echo", "--monitor", "web", "--report", "review.md"],
            cwd=project,
            env={**os.environ, "BROWSER": "true"},  # a browser that opens nothing
            check=False,
        )
    err = done.stderr.decode()
    info = read_discovery()
    assert done.returncode == 0, err
    assert info is not None
    assert f"dashboard: {info.url}/login?code=" in err
    assert (project / "review.md").is_file()


def test_a_resumed_run_counts_on_from_where_it_was_interrupted(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = [f"prompt {index}" for index in range(6)]
    command = [*PARALLELAI, "run", *prompts, "--engine", "echo", "-E", "latency=0.3", "--parallel", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:  # plain lines when piped: "[1/6] t001 succeeded"
            if line.startswith("[2/6]"):
                break
        child.send_signal(signal.SIGINT)  # Ctrl-C: the run is left interrupted, for `resume`
        assert child.wait(timeout=60) == 130
    run_id = json.loads(
        subprocess.run([*PARALLELAI, "runs", "--json"], capture_output=True, check=True).stdout
    )[0]["id"]
    assert main(["resume", run_id]) == EXIT_OK
    counts = [
        line.split("]")[0] + "]" for line in capsys.readouterr().err.splitlines() if line.startswith("[")
    ]
    assert counts[0] in ("[3/6]", "[4/6]"), counts  # on from the tasks it kept, not from [1/6]
    assert counts[-1] == "[6/6]"


def test_refactor_needs_no_to_for_a_known_refactoring_and_names_them_otherwise(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "src" / "load.js").write_text("function load(cb) { cb(1) }\n")
    plan = _plan(capsys, "refactor", "--pattern", "callback-to-async")
    assert "async/await" in plan["parameters"]["to"]  # type: ignore[index]
    assert main(["refactor", "--pattern", "old_api", "--engine", "echo"]) == EXIT_INPUT
    assert "callback-to-async" in capsys.readouterr().err
