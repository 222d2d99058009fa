"""The command line, driven in-process through `main(argv)` on the isolated state dir."""

from __future__ import annotations

import importlib.metadata
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import parallelai
from parallelai.cli.main import EXIT_FAILED, EXIT_INPUT, EXIT_OK, main
from parallelai.paths import default_store_path
from tests.cli._pipes import into_a_closed_pipe


def run_rows() -> int:
    path = default_store_path()
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_version_is_the_package_s_and_its_metadata_s(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"parallelai {parallelai.__version__}\n"
    assert importlib.metadata.version("parallelai") == parallelai.__version__


def test_run_prompts_succeeds_and_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "first", "second", "--parallel", "2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "succeeded: 2/2 succeeded" in out
    assert run_rows() == 1


def test_run_json_lists_every_task_with_its_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "alpha", "beta", "--json"]) == EXIT_OK
    body = json.loads(capsys.readouterr().out)
    assert body["state"] == "succeeded"
    assert [task["result"]["text"] for task in body["tasks"]] == ["echo: alpha", "echo: beta"]


def test_failed_tasks_give_exit_code_one(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "x", "-E", "fail_attempts=5", "-E", "failure_kind=auth"])
    assert code == EXIT_FAILED
    assert "1 failed" in capsys.readouterr().out


def test_a_second_identical_run_reports_reused_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "same", "prompts"])
    capsys.readouterr()
    assert main(["run", "same", "prompts"]) == EXIT_OK
    assert "2 reused from cache" in capsys.readouterr().out
    assert main(["run", "same", "prompts", "--no-cache"]) == EXIT_OK
    assert "reused" not in capsys.readouterr().out


def test_tasks_file_dag_runs_in_dependency_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = write(
        tmp_path / "tasks.yaml",
        "tasks:\n"
        "  - {id: a, prompt: first}\n"
        "  - {id: b, prompt: 'second after {{ output }}', depends_on: [a]}\n",
    )
    assert main(["run", "--tasks-file", str(tasks), "--json"]) == EXIT_OK
    body = json.loads(capsys.readouterr().out)
    assert body["strategy"] == "dag"
    assert body["tasks"][1]["result"]["text"] == "echo: second after echo: first"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("tasks: [a\n", "tasks.yaml:2:1: not valid YAML"),
        ("tasks:\n  - prompt: x\n    bogus: 1\n", "tasks.yaml:3: tasks.0.bogus: unknown field"),
        (
            "tasks:\n  - {id: a, prompt: x, depends_on: [b]}\n  - {id: b, prompt: y, depends_on: [a]}\n",
            "tasks.yaml:2: dependency cycle: a -> b -> a",
        ),
        ("tasks:\n  - {id: a, prompt: x, depends_on: [zz]}\n", "depends on 'zz'"),
        ("base: &b {prompt: x}\ntasks: [*b, *b]\n", "aliases are not allowed"),
        ("tasks: [x]\ntasks: [y]\n", "tasks.yaml:2: duplicate key 'tasks'"),
        ("tasks:\n  - {prompt: x, files: [missing.txt]}\n", "input file 'missing.txt' does not exist"),
        ("tasks:\n  - {prompt: x, files: [../outside.txt]}\n", "outside the workspace"),
        ("strategy: clever\ntasks: [x]\n", "unknown strategy 'clever'"),
        ("engine: claud\ntasks: [x]\n", "unknown engine 'claud' (did you mean 'claude-code'?)"),
    ],
)
def test_bad_tasks_files_exit_2_with_a_located_error_and_store_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    tasks = write(tmp_path / "tasks.yaml", content)
    assert main(["run", "--tasks-file", str(tasks)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert run_rows() == 0


def test_missing_tasks_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--tasks-file", str(tmp_path / "nope.yaml")]) == EXIT_INPUT
    assert "nope.yaml: file not found" in capsys.readouterr().err


def test_non_positive_parallel_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "x", "--parallel", "0"])
    assert exit_info.value.code == EXIT_INPUT
    assert "must be a positive number" in capsys.readouterr().err
    assert run_rows() == 0


def test_unknown_engine_on_the_command_line_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "x", "--engine", "ecko"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "unknown engine 'ecko' (did you mean 'echo'?)" in err
    assert "known engines:" in err


def test_show_runs_and_unknown_run(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "one", "--json"])
    run_id = json.loads(capsys.readouterr().out)["id"]
    assert main(["runs"]) == EXIT_OK
    assert run_id in capsys.readouterr().out
    assert main(["show", run_id]) == EXIT_OK
    assert "echo: one" in capsys.readouterr().out
    assert main(["show", "r-nope"]) == EXIT_INPUT
    assert "no run 'r-nope'" in capsys.readouterr().err


def test_cancel_then_resume_finishes_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A run that stops on its budget leaves tasks skipped; resuming it without the limit is not
    # possible, so use cancel on a stored run instead: cancel marks it, resume finishes it.
    main(["run", "a", "b", "--json"])
    run_id = json.loads(capsys.readouterr().out)["id"]
    assert main(["resume", run_id]) == EXIT_OK
    assert "already succeeded" in capsys.readouterr().err
    assert main(["cancel", run_id]) == EXIT_OK
    assert "succeeded" in capsys.readouterr().out  # a finished run stays as it was


def test_engines_lists_the_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engines", "--json"]) == EXIT_OK
    names = {engine["name"]: engine for engine in json.loads(capsys.readouterr().out)}
    assert names["echo"]["available"] is True
    assert "command" in names


def test_engines_lists_the_other_names_engines_go_by(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engines"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "chatgpt = openai, gemini = gemini-cli, github-copilot = copilot" in out
    assert "claude_code = claude-code" in out


def test_engines_check_runs_one_live_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engines", "check", "echo"]) == EXIT_OK
    assert "echo: ok" in capsys.readouterr().out


def test_engines_check_leaves_no_run_behind_whether_it_works_or_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["engines", "check", "echo"]) == EXIT_OK
    assert capsys.readouterr().out.startswith("echo: ok — answered 'echo: Reply with the single word: ok'")
    missing = ["engines", "check", "claude-code", "-E", "binary=/nowhere/claude"]
    assert main(missing) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("claude-code: failed — claude-code: '/nowhere/claude' was not found")
    assert run_rows() == 0
    assert main(["runs"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "check" not in out
    assert "no runs yet" in out


def test_cancel_from_another_process_stops_a_running_run(capsys: pytest.CaptureFixture[str]) -> None:

    import anyio

    child = subprocess.Popen(
        [sys.executable, "-m", "parallelai.cli.main", "run", "a", "b", "-E", "hang=true", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:

        async def running_run_id() -> str:
            with anyio.fail_after(30):
                while True:
                    path = default_store_path()
                    if path.exists():
                        with sqlite3.connect(path) as db:
                            try:
                                row = db.execute(
                                    "SELECT run_id FROM tasks WHERE state = 'running' LIMIT 1"
                                ).fetchone()
                            except sqlite3.OperationalError:  # the child has not created the schema yet
                                row = None
                        if row:
                            return str(row[0])
                    await anyio.sleep(0.05)

        run_id = anyio.run(running_run_id)
        assert main(["cancel", run_id]) == EXIT_OK
        out, _ = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == EXIT_FAILED
    body = json.loads(out)
    assert body["state"] == "cancelled"
    assert {task["state"] for task in body["tasks"]} == {"cancelled"}


def test_retry_reruns_what_failed_keeps_what_succeeded_and_resume_leaves_a_finished_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `flaky` fails its first attempt for good (no retries); its second attempt, on retry, succeeds.
    tasks = write(
        tmp_path / "tasks.yaml",
        "strategy: dag\ndefaults: {retries: 0}\ntasks:\n"
        "  - {id: ok, prompt: fine}\n"
        "  - {id: flaky, prompt: odd, options: {engine_options: {fail_attempts: 1, failure_kind: execution}}}\n"
        "  - {id: after, prompt: 'next: {{ output }}', depends_on: [flaky]}\n",
    )
    assert main(["run", "--tasks-file", str(tasks), "--json"]) == EXIT_FAILED
    run_id = json.loads(capsys.readouterr().out)["id"]

    assert main(["resume", run_id]) == EXIT_FAILED  # finished: nothing happens, the outcome stands
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["retry", run_id, "--task", "ok"]) == EXIT_INPUT  # it succeeded: not retried
    assert "only failed, cancelled or skipped tasks are retried" in capsys.readouterr().err
    assert main(["retry", run_id, "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    body = json.loads(captured.out)

    assert "retrying 2 tasks" in captured.err
    assert body["state"] == "succeeded"
    attempts = {task["id"]: task["attempts"] for task in body["tasks"]}
    assert attempts == {"ok": 1, "flaky": 2, "after": 1}
    assert main(["retry", run_id]) == EXIT_OK
    assert "nothing to retry" in capsys.readouterr().err


def test_output_into_a_closed_pipe_ends_quietly_with_the_sigpipe_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`parallelai runs | head -1`: the reader is gone before we write; no traceback, exit 141."""
    assert main(["run", "a", "b"]) == EXIT_OK
    done = into_a_closed_pipe("runs")
    assert done.returncode == 141, done.stderr.decode()
    assert b"Traceback" not in done.stderr


def test_a_run_on_the_echo_engine_says_it_is_simulated_before_its_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "Review a.py", "--engine", "echo"]) == EXIT_OK
    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first.startswith("[SIMULATED] run ")
    assert second.startswith("SIMULATED: the echo engine made these answers up")
    assert main(["run", "Review a.py", "--engine", "echo", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["simulated"] is True
    assert main(["run", "Review a.py", "--engine", "command", "-E", "shell=printf reviewed"]) == EXIT_OK
    assert "SIMULATED" not in capsys.readouterr().out


@pytest.mark.parametrize("name", ["adaptive", "intelligent"])
def test_prompts_run_with_the_adaptive_strategy_under_either_name(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["run", "first", "second", "--strategy", name, "--json"]) == EXIT_OK
    body = json.loads(capsys.readouterr().out)
    assert body["state"] == "succeeded"
    assert body["strategy"] == "adaptive"


def test_a_tasks_file_may_ask_for_the_intelligent_strategy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = write(tmp_path / "tasks.yaml", "strategy: intelligent\ntasks:\n  - {id: a, prompt: x}\n")
    assert main(["run", "--tasks-file", str(tasks), "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["strategy"] == "adaptive"
