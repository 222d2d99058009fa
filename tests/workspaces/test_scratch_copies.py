"""Outside git, a task works in a scratch copy: the same API, a patch that applies to the directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallelai.workspaces import TaskWorkspaces, prune_stale
from tests.workspaces._repo import BINARY, apply_patch

pytestmark = pytest.mark.anyio

RUN = "r20261205-101500-abcd"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A directory that is not in any repository, with the heavy directories a copy must skip."""
    root = tmp_path / "folder"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "guide.md").write_text("# guide\n")
    (root / "data.bin").write_bytes(BINARY)
    for heavy in ("node_modules/pkg", ".venv/lib", ".git/objects"):
        (root / heavy).mkdir(parents=True)
        (root / heavy / "file").write_text("not copied\n")
    return root


async def test_a_scratch_copy_holds_the_directory_without_its_heavy_directories(folder: Path) -> None:
    workspaces = await TaskWorkspaces.plan(folder, RUN)

    workdir = await workspaces.create("t1")

    assert workspaces.base.kind == "copy"
    assert (workdir / "docs" / "guide.md").read_text() == "# guide\n"
    assert (workdir / "data.bin").read_bytes() == BINARY
    assert not (workdir / "node_modules").exists()
    assert not (workdir / ".venv").exists()
    assert not (workdir / ".git" / "objects" / "file").exists()


async def test_a_change_in_a_scratch_copy_applies_to_the_original_directory(folder: Path) -> None:
    workspaces = await TaskWorkspaces.plan(folder, RUN)
    workdir = await workspaces.create("t1")
    (workdir / "docs" / "guide.md").write_text("# guide\n\nMore.\n")
    (workdir / "data.bin").write_bytes(BINARY[::-1])

    change = await workspaces.capture("t1")
    apply_patch(change.patch, folder)

    assert change.paths == ["data.bin", "docs/guide.md"]
    assert (folder / "docs" / "guide.md").read_text() == "# guide\n\nMore.\n"
    assert (folder / "data.bin").read_bytes() == BINARY[::-1]


async def test_resume_reuses_a_scratch_copy_and_replaces_a_half_made_one(folder: Path) -> None:
    workspaces = await TaskWorkspaces.plan(folder, RUN)
    workdir = await workspaces.create("t1")
    (workdir / "docs" / "guide.md").write_text("work in progress\n")
    half_made = workspaces.path("t2")
    half_made.mkdir()  # a copy cut off before it became a repository
    (half_made / "stray.txt").write_text("partial\n")

    resumed = TaskWorkspaces.open(RUN)
    assert resumed is not None

    assert (await resumed.create("t1") / "docs" / "guide.md").read_text() == "work in progress\n"
    remade = await resumed.create("t2")
    assert not (remade / "stray.txt").exists()
    assert (remade / "docs" / "guide.md").read_text() == "# guide\n"


async def test_scratch_copies_are_removed_and_pruned_like_worktrees(folder: Path) -> None:
    workspaces = await TaskWorkspaces.plan(folder, RUN)
    await workspaces.create("t1")
    await workspaces.create("t2")

    await workspaces.remove("t1")
    assert not workspaces.path("t1").exists()
    assert await prune_stale(set()) == [RUN]
    assert not workspaces.run_dir.exists()
