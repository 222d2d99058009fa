"""Scratch copies: a task's workspace when the run's directory is not in a git repository.

The directory is copied (symlinks kept as links, so none is followed out of it), without version
control metadata and the usual heavy, rebuildable directories (`SKIPPED`), and the copy becomes a
repository of its own whose first commit, under `BASE_REF`, is the base. So a task's change is
captured exactly as in a worktree, and the patch applies to the original directory with
`git apply` (which needs no repository).

Limits: copying costs time and space in proportion to the directory, so this is for small
directories; files matched by a `.gitignore` in the directory are copied but are not part of the
base, so changes to them are not captured; the base is the directory when each copy is made, not
when the run was planned.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio

from parallelai.workspaces._git import IDENTITY, git, succeeds

BASE_REF = "refs/parallelai/base"
SKIPPED = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".pytest_cache"}
)


async def make_scratch_copy(source: Path, path: Path, *, avoid: Path) -> None:
    """Copy `source` to `path` as a repository whose `BASE_REF` is the copy; never into `avoid`.

    The copy is made beside `path` and renamed into place last, so a `path` that exists is whole:
    a crash mid-copy leaves only the partial copy, which the next attempt throws away.
    """
    partial = path.with_name(path.name + ".partial")
    await anyio.to_thread.run_sync(discard_directory, partial)
    await anyio.to_thread.run_sync(_copy, source, partial, avoid)
    await git(partial, "init", "--quiet")
    await git(partial, "add", "--all")
    tree = await git(partial, "write-tree")
    message = f"parallelai: scratch copy of {source}"
    commit = await git(partial, "commit-tree", "--no-gpg-sign", tree, "-m", message, env=IDENTITY)
    await git(partial, "update-ref", BASE_REF, commit)
    await git(partial, "update-ref", "HEAD", commit)  # so `git status` in the copy starts clean
    partial.rename(path)


async def is_scratch_copy(path: Path) -> bool:
    # `.git` is checked first: without it git would walk up and answer for an enclosing repository.
    return (path / ".git").is_dir() and await succeeds(path, "rev-parse", "--verify", "--quiet", BASE_REF)


def discard_directory(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _copy(source: Path, destination: Path, avoid: Path) -> None:
    def ignored(directory: str, names: list[str]) -> set[str]:
        return {name for name in names if name in SKIPPED or Path(directory, name) == avoid}

    shutil.copytree(source, destination, symlinks=True, ignore=ignored)
