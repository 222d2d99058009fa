"""A task's change, captured from its worktree: a patch `git apply` accepts on the base, binary files
and deletions included, with the diffstat git would give."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.workspaces import TaskChange, TaskWorkspaces, outside_scope
from tests.workspaces._repo import BINARY, UserView, apply_patch, git, make_repo

pytestmark = pytest.mark.anyio

RUN = "r20261205-101500-abcd"


@pytest.fixture
async def workspaces(tmp_path: Path) -> TaskWorkspaces:
    return await TaskWorkspaces.plan(make_repo(tmp_path / "project"), RUN, include_uncommitted=True)


def checkout_of(base: str, repo: Path, where: Path) -> Path:
    """A fresh checkout of `base`, where a captured patch is tried the way the merge will use it."""
    git(repo, "worktree", "add", "--quiet", "--detach", str(where), base)
    return where


async def test_a_change_is_captured_as_a_patch_that_applies_on_the_base(
    workspaces: TaskWorkspaces, tmp_path: Path
) -> None:
    workdir = await workspaces.create("t1")
    (workdir / "app.py").write_text("def main():\n    return 42\n")
    (workdir / "pkg" / "new.py").write_text("NEW = True\n")
    (workdir / "README.md").unlink()
    user = UserView.of(workspaces.base.root)

    change = await workspaces.capture("t1")

    assert change.paths == ["README.md", "app.py", "pkg/new.py"]
    assert change.base == workspaces.base.commit
    assert workspaces.base.commit is not None
    checkout = checkout_of(workspaces.base.commit, workspaces.base.root, tmp_path / "check")
    apply_patch(change.patch, checkout, "--check")
    apply_patch(change.patch, checkout)
    assert (checkout / "app.py").read_text() == "def main():\n    return 42\n"
    assert (checkout / "pkg" / "new.py").read_text() == "NEW = True\n"
    assert not (checkout / "README.md").exists()
    assert UserView.of(workspaces.base.root) == user  # capturing stages in the worktree's own index


async def test_binary_files_survive_the_patch_byte_for_byte(
    workspaces: TaskWorkspaces, tmp_path: Path
) -> None:
    workdir = await workspaces.create("t1")
    changed = BINARY[::-1] + b"\x00\xff"
    (workdir / "logo.bin").write_bytes(changed)
    (workdir / "icon.bin").write_bytes(BINARY[:100])

    change = await workspaces.capture("t1")

    assert [(stat.path, stat.binary) for stat in change.files] == [("icon.bin", True), ("logo.bin", True)]
    assert workspaces.base.commit is not None
    checkout = checkout_of(workspaces.base.commit, workspaces.base.root, tmp_path / "check")
    apply_patch(change.patch, checkout)
    assert (checkout / "logo.bin").read_bytes() == changed
    assert (checkout / "icon.bin").read_bytes() == BINARY[:100]


async def test_commits_the_agent_made_in_its_worktree_are_part_of_its_change(
    workspaces: TaskWorkspaces,
) -> None:
    workdir = await workspaces.create("t1")
    (workdir / "app.py").write_text("committed by the agent\n")
    git(workdir, "commit", "--quiet", "--all", "-m", "agent's own commit")
    (workdir / "later.txt").write_text("after the commit\n")

    change = await workspaces.capture("t1")

    assert change.paths == ["app.py", "later.txt"]


async def test_a_task_that_changed_nothing_has_an_empty_change(workspaces: TaskWorkspaces) -> None:
    workdir = await workspaces.create("t1")
    (workdir / "build").mkdir()
    (workdir / "build" / "artefact.o").write_text("ignored output is not a change\n")

    change = await workspaces.capture("t1")

    assert change.empty
    assert change.files == ()
    assert change.patch == b""
    assert change.summary() == "0 files changed, 0 insertions(+), 0 deletions(-)"


async def test_the_diffstat_counts_files_insertions_and_deletions(workspaces: TaskWorkspaces) -> None:
    workdir = await workspaces.create("t1")
    (workdir / "app.py").write_text(
        "def main():\n    return 3\n\n\nprint(main())\n"
    )  # 1 line changed, 3 added
    (workdir / "pkg" / "util.py").unlink()

    change = await workspaces.capture("t1")

    assert [(stat.path, stat.insertions, stat.deletions) for stat in change.files] == [
        ("app.py", 4, 1),
        ("pkg/util.py", 0, 1),
    ]
    assert (change.insertions, change.deletions) == (4, 2)
    assert change.summary() == "2 files changed, 4 insertions(+), 2 deletions(-)"


async def test_a_change_survives_json_with_bytes_that_are_not_utf8(workspaces: TaskWorkspaces) -> None:
    workdir = await workspaces.create("t1")
    (workdir / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))

    change = await workspaces.capture("t1")
    restored = TaskChange.model_validate_json(change.model_dump_json())

    assert b"caf\xe9" in change.patch
    assert restored == change


async def test_a_change_outside_the_declared_scope_is_named(workspaces: TaskWorkspaces) -> None:
    workdir = await workspaces.create("t1")
    (workdir / "pkg" / "util.py").write_text("VALUE = 2\n")  # its file
    (workdir / "app.py").write_text("also touched\n")  # not its file

    change = await workspaces.capture("t1")

    assert outside_scope(change.paths, ["pkg/util.py"]) == ["app.py"]
