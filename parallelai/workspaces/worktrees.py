"""One run's task workspaces: a detached git worktree per task at the run's base, under the state dir.

Layout: `state_dir()/worktrees/<run>/run.json` (the run's `WorkspaceBase`) and one directory per
task, `…/<run>/<task>`. Outside git a task gets a scratch copy (`scratch.py`) at the same place.

Crash safety, and why each step is where it is:
- the record is written before any worktree, so whatever a crash leaves can be found and removed;
- `git worktree add` keeps a worktree locked ("initializing") until its checkout is complete, so a
  worktree that is registered and unlocked is whole and `create` reuses it on resume; anything
  else at that path is thrown away and made again;
- removal deletes directories first and then lets `git worktree prune` drop what git kept about
  them (unlocking the half-made ones, which prune would otherwise keep), so an interrupted removal
  is finished by the next one; `prune_stale` removes the workspaces of every run that no longer
  needs them, after a crash included.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import anyio

from parallelai.errors import WorkspaceError
from parallelai.models import TASK_ID_PATTERN
from parallelai.paths import ensure_private_dir, state_dir
from parallelai.workspaces._git import git, succeeds
from parallelai.workspaces.base import WorkspaceBase, plan_base
from parallelai.workspaces.changes import TaskChange, capture_change
from parallelai.workspaces.scratch import BASE_REF, discard_directory, is_scratch_copy, make_scratch_copy

# The checkout of the integration branch the run's gates run in, beside the tasks' worktrees. Not
# a task id (those start with a letter or a digit), so no task's worktree can be at its place.
INTEGRATION_CHECKOUT = "_integration"


def worktrees_root() -> Path:
    return state_dir() / "worktrees"


class TaskWorkspaces:
    """The workspaces of one run: `create` one per task, `capture` its change, `remove` them."""

    def __init__(self, base: WorkspaceBase, *, root: Path | None = None) -> None:
        self.base = base
        self.run_dir = (root or worktrees_root()) / base.run_id
        # One `git worktree add` or `prune` at a time: git registers a worktree in steps, and a
        # concurrent add (reading every worktree's files) or prune (deleting the ones with no
        # directory yet) fails on, or destroys, one half registered. Another process working on
        # the same repository at that moment can still meet it; that attempt's create then fails.
        self._git_admin = anyio.Lock()

    @classmethod
    async def plan(
        cls, workdir: Path, run_id: str, *, include_uncommitted: bool = False, root: Path | None = None
    ) -> TaskWorkspaces:
        """Fix the run's base now (HEAD, or HEAD plus the uncommitted changes) and record it."""
        base = await plan_base(workdir, run_id, include_uncommitted=include_uncommitted)
        workspaces = cls(base, root=root)
        ensure_private_dir(workspaces.run_dir.parent)
        await anyio.to_thread.run_sync(base.save, workspaces.run_dir)
        return workspaces

    @classmethod
    def open(cls, run_id: str, *, root: Path | None = None) -> TaskWorkspaces | None:
        """The workspaces `plan` recorded for `run_id` (on resume), or None if there are none."""
        base = WorkspaceBase.load((root or worktrees_root()) / run_id)
        return None if base is None else cls(base, root=root)

    def path(self, task_id: str) -> Path:
        """The task's worktree (or scratch copy) — its top, which is not always where it works."""
        if not TASK_ID_PATTERN.match(task_id):
            raise ValueError(f"{task_id!r} is not a task id")
        return self.run_dir / task_id

    def workdir(self, task_id: str) -> Path:
        """Where the task's agent runs: the run's workdir, inside the task's worktree."""
        return self.path(task_id) / self.base.subdir

    async def create(self, task_id: str, *, at: str | None = None) -> Path:
        """The task's workspace at the base (or at commit `at`, in git), reused if a previous attempt
        left a whole one; its workdir. A worktree made at `at` remembers it (`started_at`), so its
        change is captured against it, after a restart too."""
        path = self.path(task_id)
        if self.base.kind == "copy":
            if not await is_scratch_copy(path):
                await anyio.to_thread.run_sync(discard_directory, path)
                await make_scratch_copy(self.base.source, path, avoid=self.run_dir.parent)
        elif at is not None or not await self._is_whole_worktree(path):
            start = at or self.started_at(task_id)
            await self.remove(task_id)
            if start != self.base.commit:
                # Written before the worktree: one made at `start` must never be taken for the base's.
                self._start_record(task_id).write_text(start + "\n")
            await self._add_worktree(path, start)
        workdir = self.workdir(task_id)
        # The workdir may be an untracked directory the base does not hold; the agent still needs it.
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    def started_at(self, task_id: str) -> str:
        """The commit the task's worktree was made at: the base, or the one `create` was given."""
        record = self._start_record(task_id)
        if record.is_file():
            return record.read_text().strip()
        assert self.base.commit is not None  # a "git" base always has a commit
        return self.base.commit

    def _start_record(self, task_id: str) -> Path:
        return self.run_dir / f"{self.path(task_id).name}.start"  # beside the worktree, not in it

    async def check_out(self, commit: str) -> Path:
        """A fresh worktree of `commit` (the integration branch's head) for the run's own checks, at
        `INTEGRATION_CHECKOUT`; its workdir. Made again each time: the branch moves between uses."""
        assert self.base.kind == "git", "only a git base has an integration branch"
        path = self.run_dir / INTEGRATION_CHECKOUT
        await self.discard_checkout()
        await self._add_worktree(path, commit)
        workdir = path / self.base.subdir
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    async def discard_checkout(self) -> None:
        path = self.run_dir / INTEGRATION_CHECKOUT
        await _delete(path)
        await self._forget_missing(path)

    async def _add_worktree(self, path: Path, commit: str) -> None:
        async with self._git_admin:
            await git(self.base.root, "worktree", "add", "--quiet", "--detach", str(path), commit)

    async def capture(self, task_id: str) -> TaskChange:
        """Everything the task changed in its workspace, against the commit it was made at."""
        path = self.path(task_id)
        if self.base.kind == "git":
            base = self.started_at(task_id)
        else:
            base = await git(path, "rev-parse", BASE_REF)
        assert base is not None
        return await capture_change(path, base)

    async def remove(self, task_id: str) -> None:
        path = self.path(task_id)
        await _delete(path)
        self._start_record(task_id).unlink(missing_ok=True)
        if self.base.kind == "git":
            await self._forget_missing(path)

    async def remove_all(self) -> None:
        """Remove every task's workspace, the base's pin and the record: the run is done with them."""
        if self.run_dir.is_dir():
            for entry in self.run_dir.iterdir():
                if entry.is_dir():
                    await _delete(entry)
        if self.base.kind == "git" and self.base.root.is_dir():
            await self._forget_missing(self.run_dir)
            await git(self.base.root, "update-ref", "-d", self.base.pin)
        await _delete(self.run_dir)

    async def _is_whole_worktree(self, path: Path) -> bool:
        if not (path / ".git").is_file():
            return False
        async with self._git_admin:  # listing reads every worktree's files, half-registered ones too
            entry = (await self._registered()).get(await _resolved(path))
        return entry is not None and not any(line.startswith("locked") for line in entry)

    async def _registered(self) -> dict[Path, list[str]]:
        """The repository's worktrees: path → the other lines of its `--porcelain` entry."""
        listing = await git(self.base.root, "worktree", "list", "--porcelain")
        worktrees: dict[Path, list[str]] = {}
        for block in listing.split("\n\n"):
            first, *rest = block.splitlines() or [""]
            if first.startswith("worktree "):
                worktrees[await _resolved(Path(first.removeprefix("worktree ")))] = rest
        return worktrees

    async def _forget_missing(self, under: Path) -> None:
        """Drop what git keeps about deleted worktrees at or under `under`, half-made (locked) ones too."""
        under = await _resolved(under)
        async with self._git_admin:
            await git(self.base.root, "worktree", "prune")
            leftovers = [
                path
                for path in await self._registered()
                if path.is_relative_to(under) and not await anyio.Path(path).exists()
            ]
            for path in leftovers:
                await succeeds(self.base.root, "worktree", "unlock", str(path))
            if leftovers:
                await git(self.base.root, "worktree", "prune")


async def prune_stale(unfinished: Collection[str], *, root: Path | None = None) -> list[str]:
    """Remove the workspaces of every run not in `unfinished` (ids of runs that may still run or be
    resumed); the ids removed. Call it with every unfinished run of the store, at start-up and
    after runs end: it is what cleans up after a crash."""
    root = root or worktrees_root()
    if not root.is_dir():
        return []
    removed = []
    for run_dir in sorted(root.iterdir()):
        if not run_dir.is_dir() or run_dir.name in unfinished:
            continue
        base = WorkspaceBase.load(run_dir)
        if base is not None:
            await TaskWorkspaces(base, root=root).remove_all()
        else:
            await _delete(run_dir)  # no record, so `plan` never got as far as making a worktree
        removed.append(run_dir.name)
    return removed


async def _delete(path: Path) -> None:
    await anyio.to_thread.run_sync(discard_directory, path)
    if await anyio.Path(path).exists():
        raise WorkspaceError(f"could not remove {path}; remove it by hand (a file in it may be read-only)")


async def _resolved(path: Path) -> Path:
    return Path(await anyio.Path(path).resolve())
