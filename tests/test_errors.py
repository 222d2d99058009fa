"""The error tree: every error a user sees says what is wrong, and bad input exits with 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.errors import (
    DependencyCycleError,
    InputError,
    ParallelAIError,
    RunNotFoundError,
    StoreError,
    TaskNotFoundError,
    TasksFileError,
    UnknownDependencyError,
    UnknownEngineError,
    UnknownStrategyError,
    WorkspaceError,
    sole_exception,
)


@pytest.mark.parametrize(
    "error",
    [
        TasksFileError("tasks.yaml", "bad", 3),
        DependencyCycleError(["a", "b"]),
        UnknownDependencyError("a", "b", ["a"]),
        UnknownEngineError("x", ["echo"]),
        UnknownStrategyError("x", ["parallel"]),
    ],
)
def test_every_input_error_exits_with_code_2(error: InputError) -> None:
    assert isinstance(error, InputError)
    assert isinstance(error, ParallelAIError)
    assert error.exit_code == 2


@pytest.mark.parametrize(
    "error",
    [RunNotFoundError("r1"), TaskNotFoundError("r1", "t1"), StoreError("broken"), WorkspaceError("no git")],
)
def test_errors_that_are_not_bad_input_are_not_input_errors(error: ParallelAIError) -> None:
    assert not isinstance(error, InputError)


def test_a_tasks_file_error_says_file_and_line() -> None:
    with_line = TasksFileError(Path("jobs/tasks.yaml"), "unknown key 'promt'", line=12)
    without_line = TasksFileError("tasks.yaml", "not found")

    assert str(with_line) == "jobs/tasks.yaml:12: unknown key 'promt'"
    assert (with_line.path, with_line.line) == (Path("jobs/tasks.yaml"), 12)
    assert str(without_line) == "tasks.yaml: not found"


def test_a_cycle_error_draws_the_cycle_back_to_its_start() -> None:
    error = DependencyCycleError(["a", "b", "c"])

    assert str(error) == "dependency cycle: a -> b -> c -> a"
    assert error.cycle == ("a", "b", "c")


def test_unknown_names_suggest_the_closest_known_one_only_when_close() -> None:
    close = UnknownStrategyError("pipline", ["parallel", "pipeline", "dag"])
    far = UnknownEngineError("zzz", ["echo", "command"])
    dependency = UnknownDependencyError("deploy", "biuld", ["build", "deploy"])

    assert (
        str(close)
        == "unknown strategy 'pipline' (did you mean 'pipeline'?); choose one of: parallel, pipeline, dag"
    )
    assert str(far) == "unknown engine 'zzz'; known engines: command, echo"
    assert "did you mean 'build'?" in str(dependency)
    assert dependency.task_id == "deploy"
    assert dependency.missing == "biuld"


def test_not_found_errors_carry_their_ids_and_say_what_to_do() -> None:
    run = RunNotFoundError("r42")
    task = TaskNotFoundError("r42", "t7")

    assert run.run_id == "r42"
    assert "parallelai runs" in str(run)
    assert (task.run_id, task.task_id) == ("r42", "t7")


def test_sole_exception_unwraps_nested_single_member_groups_only() -> None:
    inner = InputError("bad")
    nested = BaseExceptionGroup("outer", [BaseExceptionGroup("inner", [inner])])
    several = BaseExceptionGroup("many", [InputError("a"), InputError("b")])

    assert sole_exception(nested) is inner
    assert sole_exception(several) is several
    assert sole_exception(inner) is inner


def test_a_workspace_error_carries_the_git_command_and_what_git_said() -> None:
    error = WorkspaceError(
        "`git worktree add` failed in /repo", command=["git", "worktree", "add"], stderr="fatal: x"
    )

    assert str(error) == "`git worktree add` failed in /repo: fatal: x"
    assert (error.command, error.stderr) == (("git", "worktree", "add"), "fatal: x")
