"""Where a run's tasks start: the repository's HEAD when the run was planned, with the user's
uncommitted changes when they opt in — taken without touching their index, working tree or stash.

The uncommitted changes (tracked modifications, deletions and untracked files git does not ignore)
go into a commit object that is on no branch: a copy of the user's index (a copy, so its stat cache
spares re-hashing every file) is brought up to the working tree with `GIT_INDEX_FILE` pointing at
it, written as a tree and committed with HEAD as parent. The base is pinned by a ref outside
`refs/heads` (`refs/parallelai/runs/<run>`) so `git gc` keeps it while the run lives; the run's
workspaces drop that ref when they are removed.

A directory that is not in a git repository has no commit to start from: its tasks get scratch
copies (`scratch.py`) and the base is the directory as it is when each copy is made.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict

from parallelai.errors import WorkspaceError
from parallelai.workspaces._git import IDENTITY, git, succeeds

RECORD_NAME = "run.json"


class WorkspaceBase(BaseModel):
    """A run's starting point; stored next to its worktrees (`run.json`) so resume finds it."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    kind: Literal["git", "copy"]
    source: Path  # the run's workdir, resolved
    root: Path  # the repository's top level ("git"); the source itself ("copy")
    subdir: str = ""  # the workdir inside root, with forward slashes; "" when it is the root
    head: str | None = None  # HEAD when the run was planned ("git")
    commit: str | None = None  # where every worktree starts: head, or the snapshot over it ("git")
    includes_uncommitted: bool = False

    @property
    def pin(self) -> str:
        return pin_ref(self.run_id)

    def save(self, run_dir: Path) -> None:
        """Write the record atomically: a crash leaves the old one or the new one, never half."""
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = run_dir / f".{RECORD_NAME}.partial"
        partial.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        partial.replace(run_dir / RECORD_NAME)

    @classmethod
    def load(cls, run_dir: Path) -> WorkspaceBase | None:
        try:
            return cls.model_validate_json((run_dir / RECORD_NAME).read_bytes())
        except (OSError, ValueError):
            return None


def pin_ref(run_id: str) -> str:
    return f"refs/parallelai/runs/{run_id}"


async def plan_base(workdir: Path, run_id: str, *, include_uncommitted: bool = False) -> WorkspaceBase:
    """The base of run `run_id`, planned in `workdir`; pinned in the repository when there is one."""
    source = Path(await anyio.Path(workdir).resolve())
    if not await succeeds(source, "rev-parse", "--is-inside-work-tree"):
        await git(source, "--version")  # no git at all is a WorkspaceError that says so
        return WorkspaceBase(run_id=run_id, kind="copy", source=source, root=source)
    root = Path(await anyio.Path(await git(source, "rev-parse", "--show-toplevel")).resolve())
    try:
        head = await git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except WorkspaceError as unborn:
        raise WorkspaceError(
            f"{root} has no commit yet, so tasks have nothing to start from; commit once, then run again"
        ) from unborn
    commit = await _snapshot(root, head, run_id) if include_uncommitted else head
    await git(root, "update-ref", pin_ref(run_id), commit)
    return WorkspaceBase(
        run_id=run_id,
        kind="git",
        source=source,
        root=root,
        subdir="" if source == root else PurePosixPath(source.relative_to(root)).as_posix(),
        head=head,
        commit=commit,
        includes_uncommitted=include_uncommitted,
    )


async def _snapshot(root: Path, head: str, run_id: str) -> str:
    """HEAD plus the working tree's changes as a commit on no branch; HEAD itself when there are none."""
    user_index = root / await git(root, "rev-parse", "--git-path", "index")
    with tempfile.TemporaryDirectory(prefix="parallelai-index-") as scratch:
        index = Path(scratch) / "index"
        if user_index.exists():
            await anyio.to_thread.run_sync(shutil.copyfile, user_index, index)
        env = {"GIT_INDEX_FILE": str(index)}
        if not index.exists():
            await git(root, "read-tree", head, env=env)
        await git(root, "add", "--all", ":/", env=env)
        tree = await git(root, "write-tree", env=env)
    if tree == await git(root, "rev-parse", f"{head}^{{tree}}"):
        return head
    message = f"parallelai: uncommitted changes for run {run_id}"
    return await git(root, "commit-tree", "--no-gpg-sign", tree, "-p", head, "-m", message, env=IDENTITY)
