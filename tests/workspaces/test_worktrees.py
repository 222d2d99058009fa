"""Task worktrees on a real repository: they start at the run's base, leave the user's checkout as
it was, are reused on resume, and leave nothing behind once removed or pruned."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from parallelai.errors import WorkspaceError
from parallelai.paths import state_dir
from parallelai.workspaces import TaskWorkspaces, prune_stale
from tests.workspaces._repo import UserView, git, make_repo, registered_worktrees

pytestmark = pytest.mark.anyio

RUN = "r20261205-101500-abcd"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project")


async def test_a_task_worktree_starts_at_head_without_the_users_uncommitted_changes(repo: Path) -> None:
    before = UserView.of(repo)

    workspaces = await TaskWorkspaces.plan(repo, RUN)
    workdir = await workspaces.create("t1")

    assert workdir == state_dir() / "worktrees" / RUN / "t1"
    assert git(workdir, "rev-parse", "HEAD") == before.head == workspaces.base.commit
    assert (workdir / "app.py").read_text() == "def main():\n    return 1\n"
    assert (workdir / "README.md").read_text() == "# demo\n"
    assert (workdir / "old.txt").exists()
    assert not (workdir / "notes.txt").exists()
    assert git(workdir, "status", "--porcelain") == ""
    assert UserView.of(repo) == before


async def test_opting_in_brings_the_uncommitted_changes_and_still_leaves_the_users_checkout_untouched(
    repo: Path,
) -> None:
    before = UserView.of(repo)

    workspaces = await TaskWorkspaces.plan(repo, RUN, include_uncommitted=True)
    workdir = await workspaces.create("t1")

    base = workspaces.base.commit
    assert base is not None
    assert base != before.head
    assert git(repo, "rev-parse", f"{base}^") == before.head
    assert git(repo, "branch", "--all", "--contains", base) == ""  # on no branch
    assert (workdir / "app.py").read_text() == "def main():\n    return 2  # wip\n"
    assert (workdir / "README.md").read_text() == "# demo, staged\n"
    assert (workdir / "notes.txt").read_text() == "untracked notes\n"
    assert not (workdir / "old.txt").exists()
    assert not (workdir / "build").exists()  # ignored files are not the user's changes
    assert UserView.of(repo) == before


async def test_opting_in_on_a_clean_checkout_starts_at_head_itself(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    git(repo, "stash", "--include-untracked", "--quiet")
    head = git(repo, "rev-parse", "HEAD")

    workspaces = await TaskWorkspaces.plan(repo, RUN, include_uncommitted=True)

    assert workspaces.base.commit == head


async def test_the_base_is_kept_from_git_gc_until_the_run_removes_its_workspaces(repo: Path) -> None:
    workspaces = await TaskWorkspaces.plan(repo, RUN, include_uncommitted=True)
    pin = f"refs/parallelai/runs/{RUN}"

    assert git(repo, "rev-parse", pin) == workspaces.base.commit
    await workspaces.remove_all()
    assert git(repo, "for-each-ref", "refs/parallelai") == ""


async def test_a_run_planned_in_a_subdirectory_runs_its_tasks_in_that_subdirectory_of_the_worktree(
    repo: Path,
) -> None:
    workspaces = await TaskWorkspaces.plan(repo / "pkg", RUN)

    workdir = await workspaces.create("t1")

    assert workdir == workspaces.path("t1") / "pkg"
    assert (workdir / "util.py").read_text() == "VALUE = 1\n"


async def test_resume_reuses_the_existing_worktree_with_the_tasks_work_in_it(repo: Path) -> None:
    first = await TaskWorkspaces.plan(repo, RUN)
    workdir = await first.create("t1")
    (workdir / "app.py").write_text("half done\n")

    resumed = TaskWorkspaces.open(RUN)
    assert resumed is not None
    again = await resumed.create("t1")

    assert again == workdir
    assert (again / "app.py").read_text() == "half done\n"
    assert len(registered_worktrees(repo)) == 2  # the user's and this one, not a second copy


async def test_a_worktree_whose_creation_was_cut_off_is_made_again(repo: Path) -> None:
    workspaces = await TaskWorkspaces.plan(repo, RUN)
    path = workspaces.path("t1")
    # What a crash inside `git worktree add` leaves: registered, still locked, files missing.
    git(repo, "worktree", "add", "--lock", "--detach", str(path), "HEAD")
    (path / "app.py").unlink()

    workdir = await workspaces.create("t1")

    assert (workdir / "app.py").read_text() == "def main():\n    return 1\n"
    listing = git(repo, "worktree", "list", "--porcelain")
    assert "locked" not in listing
    assert len(registered_worktrees(repo)) == 2


async def test_removing_a_task_leaves_no_worktree_and_no_directory(repo: Path) -> None:
    workspaces = await TaskWorkspaces.plan(repo, RUN)
    kept = await workspaces.create("kept")
    gone = await workspaces.create("gone")
    (gone / "scratch.txt").write_text("untracked work\n")

    await workspaces.remove("gone")

    assert not gone.exists()
    assert registered_worktrees(repo) == [repo, kept]


async def test_removing_all_leaves_no_worktree_no_directory_and_no_ref(repo: Path) -> None:
    before = UserView.of(repo)
    workspaces = await TaskWorkspaces.plan(repo, RUN, include_uncommitted=True)
    for task in ("a", "b", "c"):
        await workspaces.create(task)

    await workspaces.remove_all()

    assert not workspaces.run_dir.exists()
    assert registered_worktrees(repo) == [repo]
    assert git(repo, "for-each-ref", "refs/parallelai") == ""
    assert UserView.of(repo) == before


async def test_pruning_after_a_crash_removes_the_workspaces_of_finished_runs_and_keeps_unfinished_ones(
    repo: Path,
) -> None:
    finished = await TaskWorkspaces.plan(repo, "r-finished")
    unfinished = await TaskWorkspaces.plan(repo, "r-unfinished")
    for task in ("a", "b"):
        await finished.create(task)
    kept = await unfinished.create("a")
    # A half-made worktree of the finished run, as a crash inside `git worktree add` leaves one.
    git(repo, "worktree", "add", "--lock", "--detach", str(finished.path("c")), "HEAD")
    # And a run directory without a record: the crash came before `plan` wrote one.
    (state_dir() / "worktrees" / "r-unrecorded").mkdir()

    removed = await prune_stale({"r-unfinished"})

    assert removed == ["r-finished", "r-unrecorded"]
    assert sorted(path.name for path in (state_dir() / "worktrees").iterdir()) == ["r-unfinished"]
    assert registered_worktrees(repo) == [repo, kept]
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/parallelai") == (
        "refs/parallelai/runs/r-unfinished"
    )


async def test_pruning_with_no_workspaces_at_all_does_nothing() -> None:
    assert await prune_stale(set()) == []


async def test_a_repository_without_a_commit_is_refused_with_what_to_do(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "--quiet")

    with pytest.raises(WorkspaceError, match="commit once"):
        await TaskWorkspaces.plan(empty, RUN)


async def test_a_task_id_cannot_reach_outside_the_runs_directory(repo: Path) -> None:
    workspaces = await TaskWorkspaces.plan(repo, RUN)

    with pytest.raises(ValueError, match="not a task id"):
        workspaces.path("../escape")


async def test_tasks_create_and_remove_their_worktrees_concurrently(repo: Path) -> None:
    workspaces = await TaskWorkspaces.plan(repo, RUN)
    tasks = [f"t{number}" for number in range(12)]

    async with anyio.create_task_group() as group:
        for task in tasks:
            group.start_soon(workspaces.create, task)
    created = registered_worktrees(repo)
    async with anyio.create_task_group() as group:  # a resume: every one reused while others go
        for task in tasks:
            group.start_soon(workspaces.create if task < "t6" else workspaces.remove, task)
    async with anyio.create_task_group() as group:
        for task in tasks:
            group.start_soon(workspaces.remove, task)

    assert sorted(created[1:]) == sorted(workspaces.path(task) for task in tasks)
    assert registered_worktrees(repo) == [repo]
    assert [entry.name for entry in workspaces.run_dir.iterdir()] == ["run.json"]


async def test_a_worktree_made_at_another_commit_is_captured_against_it_after_a_restart_too(
    repo: Path,
) -> None:
    workspaces = await TaskWorkspaces.plan(repo, RUN)
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")  # older than the base
    workdir = await workspaces.create("t1", at=first)
    (workdir / "app.py").write_text("def main():\n    return 9\n")

    reopened = TaskWorkspaces.open(RUN)  # as a resumed run finds them
    assert reopened is not None
    assert await reopened.create("t1") == workdir  # reused, with its work in it
    change = await reopened.capture("t1")

    assert change.base == first
    assert change.paths == ["app.py"]  # against `first`: not the files added after it
    await reopened.remove("t1")
    assert reopened.started_at("t1") == workspaces.base.commit  # forgotten with the worktree
