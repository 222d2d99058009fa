"""Gates in runs with isolation, and isolation's defaults: the run's gates check the integration
branch, a task's gates its worktree (a failure goes back to its agent); the editing verbs isolate
by default in git; `--apply` hands the result over. Real repositories, the `command` engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.api import ParallelOrchestrator
from parallelai.cli.main import EXIT_FAILED, EXIT_INPUT, EXIT_OK, main
from parallelai.models import Gate, RunState, TaskState
from parallelai.workspaces import worktrees_root
from tests.workspaces._repo import UserView, committed_repo, git, registered_worktrees
from tests.workspaces.test_isolated_runs import (
    QUICK,
    THREE_FILES,
    TWO_EDITS,
    diff,
    edit,
    run,
    states,
    stored_attempts,
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return committed_repo(tmp_path / "repo", THREE_FILES)


def gates_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    gates: list[dict[str, Any]] = body["gates"]
    return gates


# -- the run's gates: on the integration branch ---------------------------------------------------


def test_the_run_s_gate_checks_the_merged_changes_not_the_untouched_checkout(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = UserView.of(repo)
    both_there = "grep -q 'A EDITED' a.txt && grep -q 'B REWRITTEN' b.txt"

    code, body = run(repo, TWO_EDITS, capsys, "--gate", both_there)

    assert code == EXIT_OK, body
    assert [gate["state"] for gate in gates_of(body)] == ["passed"]
    assert UserView.of(repo) == before  # the gate ran elsewhere; the checkout still has neither
    assert registered_worktrees(repo) == [repo]  # its checkout is gone with the tasks' worktrees


def test_a_failing_gate_on_the_merged_changes_fails_the_run_with_its_output(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = "echo 'checking a.txt'; grep -c 'line 1' a.txt; grep -q 'a.txt line 1' a.txt"

    code, body = run(repo, TWO_EDITS, capsys, "--gate", gate)

    assert code == EXIT_FAILED
    assert body["state"] == "failed"
    assert all(state == "succeeded" for state, _ in states(body).values())
    (result,) = gates_of(body)
    assert result["state"] == "failed"
    assert result["exit_code"] == 1
    # Printed in the checkout of the branch, where the edit took "a.txt line 1" away.
    assert result["output"] == "checking a.txt\n0"
    assert registered_worktrees(repo) == [repo]


# -- a task's gates: in its worktree, back to its agent --------------------------------------------

# First try: a bad line; asked again (the worktree keeps the first try), it mends it.
MENDS_ON_SECOND_TRY = "if grep -q BAD a.txt; then sed -i 's/BAD/GOOD/' a.txt; else echo BAD >> a.txt; fi"
NO_BAD_LINE = "! grep -n BAD a.txt"


def test_a_change_that_fails_its_task_gate_goes_back_to_the_agent_and_the_mended_one_is_merged(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = [edit("mend", MENDS_ON_SECOND_TRY, ["a.txt"]), edit("edit-b", "printf 'B\\n' > b.txt", ["b.txt"])]

    code, body = run(repo, tasks, capsys, "--task-gate", NO_BAD_LINE)

    assert code == EXIT_OK, body
    assert {task["id"]: task["attempts"] for task in body["tasks"]} == {"mend": 2, "edit-b": 1}
    shown = diff(capsys, body["id"])
    assert "+GOOD\n" in shown
    assert "BAD" not in shown
    first, second = anyio.run(stored_attempts, body["id"], "mend")
    assert first.state is TaskState.FAILED
    assert second.state is TaskState.SUCCEEDED
    assert first.error is not None
    assert f"its gate `{NO_BAD_LINE}` failed (exit code 1)" in first.error.message
    assert "3:BAD" in first.error.message  # the gate's own output, as the agent was shown it


def test_a_task_whose_change_still_fails_its_gate_fails_with_the_verdict_and_is_not_merged(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own_gate = {"command": 'echo "files: $PARALLELAI_TASK_FILES"; exit 3', "name": "strict"}
    tasks = [{**edit("stubborn", "echo BAD >> a.txt", ["a.txt"]), "gates": [own_gate]}, edit("edit-b", QUICK)]

    code, body = run(repo, tasks, capsys)

    assert code == EXIT_FAILED
    state, reason = states(body)["stubborn"]
    assert state == "failed"
    assert reason is not None
    assert "its gate `strict` failed (exit code 3)" in reason
    assert "files: a.txt" in reason  # the task's files reach its gate
    assert {task["id"]: task["attempts"] for task in body["tasks"]}["stubborn"] == 3  # two more tries
    assert "BAD" not in diff(capsys, body["id"])
    assert registered_worktrees(repo) == [repo]


def test_what_a_task_gate_writes_is_not_part_of_the_change_it_checks(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A gate that leaves files behind, as `python -m py_compile` leaves __pycache__ (this repository
    # ignores nothing), rewrites the agent's file and deletes another: all of it is undone.
    messy_gate = "mkdir -p cache && echo x > cache/made.pyc && echo GATE >> a.txt && rm shared.txt"
    scoped = {**edit("edit-a", "echo AGENT >> a.txt", ["a.txt"]), "scope": ["a.txt"]}

    code, body = run(repo, [scoped], capsys, "--task-gate", messy_gate)

    assert code == EXIT_OK, body
    assert states(body)["edit-a"] == ("succeeded", None)
    shown = diff(capsys, body["id"])
    assert "+AGENT\n" in shown
    assert "GATE" not in shown
    assert "cache/made.pyc" not in shown
    assert "shared.txt" not in shown


def test_task_gates_without_isolation_are_refused_before_anything_runs(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = UserView.of(repo)
    body = {"engine": "command", "isolation": False, "task_gates": ["true"], "tasks": [edit("a", QUICK)]}
    path = repo.parent / "tasks.json"
    path.write_text(json.dumps(body))

    assert main(["run", "--tasks-file", str(path)]) == EXIT_INPUT

    assert "task_gates run in each task's own worktree, so they need isolation" in capsys.readouterr().err
    assert UserView.of(repo) == before


# -- defaults and hand-over -------------------------------------------------------------------------


def _plan(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["refactor", "--pattern", "old_api", "--to", "new_api", *argv, "--engine", "echo",
                 "--dry-run", "--json"]) == EXIT_OK  # fmt: skip
    plan: dict[str, Any] = json.loads(capsys.readouterr().out)
    return plan


def test_an_editing_verb_isolates_by_default_in_git_and_edits_in_place_elsewhere(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    (repo / "app.py").write_text("old_api()\n")
    assert _plan(capsys)["isolation"] is True
    assert _plan(capsys, "--no-isolate")["isolation"] is False
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "app.py").write_text("old_api()\n")
    monkeypatch.chdir(plain)
    assert _plan(capsys)["isolation"] is False


def test_apply_at_the_end_merges_a_successful_run_into_the_current_branch(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = run(repo, TWO_EDITS, capsys, "--apply")

    assert code == EXIT_OK, body
    assert (repo / "a.txt").read_text().startswith("A EDITED\n")
    assert (repo / "b.txt").read_text() == "B REWRITTEN\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert not (worktrees_root() / body["id"]).exists()


def test_apply_at_the_end_leaves_the_checkout_alone_when_the_run_failed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / "tasks.json"  # the run's workdir is the tasks file's folder
    path.write_text(
        json.dumps({"engine": "command", "isolation": True, "tasks": [*TWO_EDITS, edit("x", "exit 1")]})
    )
    before = UserView.of(repo)

    code = main(["run", "--tasks-file", str(path), "--json", "--apply"])

    assert code == EXIT_FAILED
    assert UserView.of(repo) == before
    said = capsys.readouterr()
    assert f"not applied: {json.loads(said.out)['id']} failed" in said.err


def test_a_task_retried_after_the_run_ended_starts_on_what_the_run_merged(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It needs edit-a's change: at the base it fails; retried once the run ended, it starts on the
    # integration branch, which holds that change.
    needs_a = edit("needs-a", "grep -q 'A EDITED' a.txt && echo seen > seen.txt")
    code, body = run(repo, [edit("edit-a", QUICK, ["a.txt"]), needs_a], capsys, "--parallel", "1")
    assert code == EXIT_FAILED

    assert main(["retry", body["id"], "--task", "needs-a", "--json"]) == EXIT_OK

    assert states(json.loads(capsys.readouterr().out))["needs-a"] == ("succeeded", None)
    shown = diff(capsys, body["id"])
    assert "+seen\n" in shown
    assert shown.count("+A EDITED") == 1
    assert registered_worktrees(repo) == [repo]


def test_the_python_api_takes_task_gates_and_run_gates(repo: Path) -> None:
    orchestrator = ParallelOrchestrator(
        engine="command",
        engine_settings={"command": {"shell": "printf 'FROM PYTHON\\n' > b.txt"}},
        workdir=repo,
        isolation=True,
        task_gates=["grep -q PYTHON b.txt"],
        gates=[Gate(command="exit 4", name="final")],
    )

    results = orchestrator.execute(["rewrite b.txt"])

    assert results.counts[TaskState.SUCCEEDED] == 1  # its task gate passed
    assert results.run.state is RunState.FAILED  # the run's did not
    assert not results.ok
    assert [(gate.name, gate.exit_code) for gate in results.run.gates] == [("final", 4)]


def test_a_task_s_scope_lets_it_write_where_it_does_not_read_and_nowhere_else(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writes_test = {
        **edit("gen", "mkdir -p tests && echo ok > tests/test_a.txt", ["a.txt"]),
        "scope": ["tests/**"],
    }
    edits_source = {**edit("sneaky", "echo changed >> a.txt", ["a.txt"]), "scope": ["tests/**"]}

    code, body = run(repo, [writes_test, edits_source], capsys)

    assert code == EXIT_FAILED
    assert states(body)["gen"] == ("succeeded", None)
    state, reason = states(body)["sneaky"]
    assert state == "failed"
    assert reason is not None
    assert "outside its scope (tests/**): a.txt" in reason
    assert "+ok\n" in diff(capsys, body["id"])


def test_test_gen_s_tasks_may_write_under_the_tests_directory_and_not_their_source(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "pkg").mkdir()
    (repo / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "pkg")
    monkeypatch.chdir(repo)

    assert main(["test-gen", "--path", "pkg", "--engine", "echo", "--dry-run", "--json"]) == EXIT_OK

    plan = json.loads(capsys.readouterr().out)
    assert plan["isolation"] is True
    writers = [task for task in plan["tasks"] if task["group"] == "generate"]
    assert [task["scope"] for task in writers] == [["tests/**"]]
