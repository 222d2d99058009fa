"""Runs with isolation, end to end through the command line: real repositories, the `command`
engine (a real child process) editing files in each task's worktree, the store on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from parallelai.api import ParallelOrchestrator
from parallelai.cli.main import EXIT_FAILED, EXIT_INPUT, EXIT_OK, main
from parallelai.models import Attempt, RunSpec, RunState, Task, TaskOptions, TaskState
from parallelai.orchestration import isolation
from parallelai.orchestration.service import OrchestrationService
from parallelai.workspaces import Conflict, TaskWorkspaces, worktrees_root
from parallelai.workspaces.handover import integration_diff
from tests.orchestration._support import wait_for_state
from tests.workspaces._repo import UserView, apply_patch, committed_repo, git, registered_worktrees

THREE_FILES = {name: f"{name} line 1\n{name} line 2\n" for name in ("a.txt", "b.txt", "shared.txt")}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with three committed files, and an untracked file of the user's."""
    root = committed_repo(tmp_path / "repo", THREE_FILES)
    (root / "notes.md").write_text("the user's own notes, untracked\n")
    return root


def edit(task_id: str, shell: str, files: list[str] | None = None) -> dict[str, Any]:
    """A task whose agent is `shell`, run in the task's directory."""
    task: dict[str, Any] = {"id": task_id, "prompt": task_id, "options": {"engine_options": {"shell": shell}}}
    if files:
        task["files"] = files
    return task


def run(
    repo: Path,
    tasks: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    *flags: str,
    isolation: bool | None = True,
) -> tuple[int, dict[str, Any]]:
    """Run `tasks` from a tasks file in the repository's folder (so it is the run's workdir); the
    file is gone again afterwards, so the user's checkout can be compared with what it was."""
    body: dict[str, Any] = {"engine": "command", "parallel": 4, "tasks": tasks}
    if isolation is not None:
        body["isolation"] = isolation
    path = repo / "tasks.json"
    path.write_text(json.dumps(body))
    try:
        code = main(["run", "--tasks-file", str(path), "--json", *flags])
    finally:
        path.unlink()
    return code, json.loads(capsys.readouterr().out)


def diff(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["diff", *args]) == EXIT_OK
    return capsys.readouterr().out


def states(body: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {task["id"]: (task["state"], task["reason"]) for task in body["tasks"]}


QUICK = "sed -i 's/a.txt line 1/A EDITED/' a.txt"
TWO_EDITS = [
    edit("edit-a", QUICK, ["a.txt"]),
    edit("edit-b", "printf 'B REWRITTEN\\n' > b.txt", ["b.txt"]),
]


def test_an_isolated_run_leaves_the_checkout_untouched_and_its_diff_shows_every_task_s_edit(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = UserView.of(repo)

    code, body = run(repo, TWO_EDITS, capsys)

    assert code == EXIT_OK, body
    assert UserView.of(repo) == before
    shown = diff(capsys, body["id"])
    assert "-a.txt line 1\n+A EDITED\n" in shown
    assert "+B REWRITTEN\n" in shown
    assert "shared.txt" not in shown


def test_no_worktree_is_left_once_the_run_has_ended(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, body = run(repo, TWO_EDITS, capsys)

    assert code == EXIT_OK, body
    assert registered_worktrees(repo) == [repo]
    assert not (worktrees_root() / body["id"]).exists()
    assert git(repo, "for-each-ref", "refs/parallelai") == ""  # the base's pin is gone with them


def test_the_isolate_flag_turns_isolation_on_for_a_tasks_file_that_does_not(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = UserView.of(repo)

    code, body = run(repo, TWO_EDITS, capsys, "--isolate", isolation=None)

    assert code == EXIT_OK, body
    assert UserView.of(repo) == before
    assert "+B REWRITTEN" in diff(capsys, body["id"])


def test_diff_of_one_task_prints_the_patch_it_made(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, body = run(repo, TWO_EDITS, capsys)
    assert code == EXIT_OK, body

    shown = diff(capsys, body["id"], "edit-b")

    assert "+B REWRITTEN\n" in shown
    assert "a.txt" not in shown


def test_apply_merges_the_run_s_branch_into_the_current_branch(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = run(repo, TWO_EDITS, capsys)
    assert code == EXIT_OK, body

    assert main(["apply", body["id"]]) == EXIT_OK

    assert (repo / "a.txt").read_text() == "A EDITED\na.txt line 2\n"
    assert (repo / "b.txt").read_text() == "B REWRITTEN\n"
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""  # committed, not just written
    assert (repo / "notes.md").read_text() == "the user's own notes, untracked\n"


def test_apply_refuses_a_checkout_with_uncommitted_changes_unless_forced(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = run(repo, TWO_EDITS, capsys)
    assert code == EXIT_OK, body
    (repo / "shared.txt").write_text("the user's work in progress\n")

    assert main(["apply", body["id"]]) == EXIT_INPUT
    assert "uncommitted changes" in capsys.readouterr().err
    assert (repo / "a.txt").read_text() == "a.txt line 1\na.txt line 2\n"

    assert main(["apply", body["id"], "--force"]) == EXIT_OK
    assert (repo / "a.txt").read_text() == "A EDITED\na.txt line 2\n"
    assert (repo / "shared.txt").read_text() == "the user's work in progress\n"


def test_apply_with_patch_writes_the_changes_to_a_file_that_git_apply_takes(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = run(repo, TWO_EDITS, capsys)
    assert code == EXIT_OK, body
    patch = tmp_path / "run.patch"

    assert main(["apply", body["id"], "--patch", str(patch)]) == EXIT_OK

    assert (repo / "a.txt").read_text() == "a.txt line 1\na.txt line 2\n"  # nothing merged
    apply_patch(patch.read_bytes(), repo)
    assert (repo / "b.txt").read_text() == "B REWRITTEN\n"


def test_a_task_that_edits_outside_its_files_fails_naming_the_path_and_is_not_merged(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = [
        edit("edit-a", QUICK, ["a.txt"]),
        edit("stray", "printf 'mine\\n' > b.txt && printf 'x\\n' > a.txt", ["a.txt"]),
    ]

    code, body = run(repo, tasks, capsys)

    assert code == EXIT_FAILED
    state, reason = states(body)["stray"]
    assert state == "failed"
    assert reason is not None
    assert "outside its scope (a.txt): b.txt" in reason
    assert states(body)["edit-a"][0] == "succeeded"
    shown = diff(capsys, body["id"])
    assert "+A EDITED" in shown
    assert "mine" not in shown
    assert "+mine" in diff(capsys, body["id"], "stray")  # its change is kept with it, for a look


def attempts(body: dict[str, Any]) -> dict[str, int]:
    return {task["id"]: task["attempts"] for task in body["tasks"]}


async def stored_attempts(run_id: str, task_id: str) -> list[Attempt]:
    async with OrchestrationService.open() as service:
        records = await service.tasks(run_id)
    return next(record.attempts for record in records if record.task.id == task_id)


def test_of_two_tasks_editing_the_same_line_the_one_that_conflicts_runs_again_on_top_of_the_other(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each appends its mark to line 1 as it finds it: run again on top of the other's edit, it
    # extends the already changed line, and that applies.
    tasks = [
        edit("first", "sed -i 's/^shared.txt line 1.*/&;first/' shared.txt"),
        edit("second", "sed -i 's/^shared.txt line 1.*/&;second/' shared.txt"),
    ]

    code, body = run(repo, tasks, capsys)

    assert code == EXIT_OK, body
    assert states(body) == {"first": ("succeeded", None), "second": ("succeeded", None)}
    ran = attempts(body)
    assert sorted(ran.values()) == [1, 2]  # whichever merged second conflicted once and ran again
    again = next(task_id for task_id, count in ran.items() if count == 2)
    once = "first" if again == "second" else "second"
    shown = diff(capsys, body["id"])
    assert f"+shared.txt line 1;{once};{again}\n" in shown
    # Its stored patch is against the head it ran on: the other's line, extended.
    assert f"-shared.txt line 1;{once}\n+shared.txt line 1;{once};{again}\n" in diff(
        capsys, body["id"], again
    )
    kept = anyio.run(stored_attempts, body["id"], again)
    assert [attempt.state for attempt in kept] == [TaskState.FAILED, TaskState.SUCCEEDED]
    assert kept[0].error is not None
    assert "conflicts with changes merged before it in shared.txt" in kept[0].error.message
    assert registered_worktrees(repo) == [repo]


def test_a_task_that_still_conflicts_after_its_re_runs_fails_naming_the_file_and_keeps_its_patch(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(isolation, "CONFLICT_RERUNS", 1)
    marks = tmp_path / "marks"
    marks.mkdir()
    tip = "git for-each-ref --format='%(objectname)' refs/heads/parallelai/"
    # The stubborn task writes the same line 1 every time, then waits until another task has moved
    # the integration branch past where its worktree started: its change always conflicts.
    stubborn = (
        f"if [ -e {marks}/run1 ]; then touch {marks}/run2; else touch {marks}/run1; fi; "
        "printf 'STUBBORN\\nshared.txt line 2\\n' > shared.txt; "
        f'for i in $(seq 300); do [ "$({tip})" != "$(git rev-parse HEAD)" ] && exit 0; sleep 0.1; done; exit 1'
    )
    # Each mover extends line 1 as it finds it; the second waits for the stubborn task's re-run.
    move = "sed -i 's/^shared.txt line 1.*/&;{}/' shared.txt"
    wait = f"for i in $(seq 300); do [ -e {marks}/run2 ] && break; sleep 0.1; done; "
    tasks = [
        edit("stubborn", stubborn),
        edit("mover-1", move.format("m1")),
        edit("mover-2", wait + move.format("m2")),
    ]

    code, body = run(repo, tasks, capsys)

    assert code == EXIT_FAILED
    state, reason = states(body)["stubborn"]
    assert state == "failed"
    assert reason is not None
    assert "conflicts" in reason
    assert "shared.txt" in reason
    assert "after 1 re-run" in reason
    assert attempts(body)["stubborn"] == 2
    assert states(body)["mover-1"] == ("succeeded", None)
    assert states(body)["mover-2"] == ("succeeded", None)
    shown = diff(capsys, body["id"])
    assert "+shared.txt line 1;m1;m2\n" in shown
    assert "STUBBORN" not in shown
    assert "+STUBBORN\n" in diff(capsys, body["id"], "stubborn")  # its change is kept with it
    assert registered_worktrees(repo) == [repo]


def test_a_re_run_s_prompt_names_the_conflicting_files_and_shows_the_hunks() -> None:
    conflict = Conflict("t", ("shared.txt",), "@@ -1 +1 @@\n-old\n+mine\n", "", "abc")

    prompt = isolation.conflict_prompt("Do the thing", conflict)

    assert prompt.startswith("Do the thing\n\n")
    assert "shared.txt" in prompt
    assert "+mine" in prompt
    assert "on top" in prompt


def test_a_run_without_isolation_still_edits_the_checkout_and_has_nothing_to_diff(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = run(repo, TWO_EDITS, capsys, isolation=None)

    assert code == EXIT_OK, body
    assert (repo / "b.txt").read_text() == "B REWRITTEN\n"
    assert main(["diff", body["id"]]) == EXIT_INPUT
    assert "did not run with isolation" in capsys.readouterr().err


def test_isolation_outside_a_git_repository_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "b.txt").write_text("untouched\n")
    (folder / "tasks.json").write_text(
        json.dumps({"engine": "command", "isolation": True, "tasks": TWO_EDITS[1:]})
    )

    assert main(["run", "--tasks-file", str(folder / "tasks.json")]) == EXIT_INPUT

    assert "isolation needs a git repository" in capsys.readouterr().err
    assert (folder / "b.txt").read_text() == "untouched\n"
    assert main(["runs", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == []


def test_worktrees_a_crash_left_behind_for_an_ended_run_are_removed_when_a_service_starts(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = run(repo, TWO_EDITS, capsys)
    assert code == EXIT_OK, body

    async def leave_and_reopen() -> None:
        # As a crash between the run's end and its cleanup would have left them.
        workspaces = await TaskWorkspaces.plan(repo, body["id"])
        await workspaces.create("edit-a")
        assert len(registered_worktrees(repo)) == 2
        async with OrchestrationService.open():
            pass

    anyio.run(leave_and_reopen)

    assert registered_worktrees(repo) == [repo]
    assert not (worktrees_root() / body["id"]).exists()


def test_a_retried_task_of_an_ended_run_runs_in_a_worktree_again_and_leaves_none(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = [
        edit("edit-a", QUICK, ["a.txt"]),
        edit("stray", "printf 'mine\\n' > b.txt", ["a.txt"]),
    ]
    code, body = run(repo, tasks, capsys)
    assert code == EXIT_FAILED
    before = UserView.of(repo)

    assert main(["retry", body["id"], "--task", "stray", "--json"]) == EXIT_FAILED

    again = json.loads(capsys.readouterr().out)
    state, reason = states(again)["stray"]
    assert state == "failed"
    assert reason is not None
    assert "outside its scope (a.txt): b.txt" in reason
    assert UserView.of(repo) == before
    assert registered_worktrees(repo) == [repo]
    assert "+A EDITED" in diff(capsys, body["id"])  # the branch kept what was merged before


def test_the_python_api_runs_with_isolation_when_asked(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orchestrator = ParallelOrchestrator(
        engine="command",
        engine_settings={"command": {"shell": "printf 'FROM PYTHON\\n' > b.txt"}},
        workdir=repo,
        isolation=True,
    )

    results = orchestrator.execute(["rewrite b.txt"])

    assert results.counts[TaskState.SUCCEEDED] == 1
    assert (repo / "b.txt").read_text() == "b.txt line 1\nb.txt line 2\n"
    assert "+FROM PYTHON\n" in diff(capsys, results.run_id)


@pytest.mark.anyio
async def test_an_interrupted_run_keeps_its_worktrees_and_resume_finishes_in_them(
    repo: Path, tmp_path: Path
) -> None:
    store = tmp_path / "db.sqlite"
    go_on = tmp_path / "go-on"  # until it exists, the slow task's agent blocks
    slow = (
        "printf 'first attempt\\n' >> b.txt; "
        f"if [ -e {go_on} ]; then printf 'SLOW\\n' >> b.txt; else exec tail -f /dev/null; fi"
    )
    spec = RunSpec(
        default_engine="command",
        workdir=str(repo),
        isolation=True,
        tasks=[
            Task(id="quick", prompt="quick", options=TaskOptions(engine_options={"shell": QUICK})),
            Task(id="slow", prompt="slow", options=TaskOptions(engine_options={"shell": slow})),
        ],
    )
    before = UserView.of(repo)
    with anyio.fail_after(60):
        async with OrchestrationService.open(store) as service:
            run_id = await service.submit(spec)
            await wait_for_state(service, run_id, "quick", TaskState.SUCCEEDED)
            await wait_for_state(service, run_id, "slow", TaskState.RUNNING)
        # The service closed mid-run: the run is to be resumed, so its worktrees stay.
        assert (worktrees_root() / run_id / "slow" / "b.txt").read_text().endswith("first attempt\n")

        go_on.touch()
        async with OrchestrationService.open(store) as service:
            await service.resume(run_id)
            summary = await service.wait(run_id)

    assert summary.state is RunState.SUCCEEDED
    assert UserView.of(repo) == before
    assert registered_worktrees(repo) == [repo]
    async with OrchestrationService.open(store) as service:
        isolated = await service.store.isolated_run(run_id)
    assert isolated is not None
    patch = (await integration_diff(isolated.repo, run_id, isolated.base)).decode()
    # The second attempt ran in the worktree the first left: both of their lines are in its change.
    assert "+first attempt\n+first attempt\n+SLOW\n" in patch
    assert patch.count("+A EDITED") == 1


def test_a_tasks_file_s_isolation_must_be_true_or_false(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "tasks.json").write_text(
        json.dumps({"engine": "command", "isolation": "yes", "tasks": TWO_EDITS})
    )

    assert main(["run", "--tasks-file", str(repo / "tasks.json")]) == EXIT_INPUT

    assert "isolation: must be true or false" in capsys.readouterr().err
    assert (repo / "b.txt").read_text() == "b.txt line 1\nb.txt line 2\n"
