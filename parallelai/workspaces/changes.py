"""A task's change: what its workspace holds that its base does not, as a patch and a diffstat.

Everything in the workspace counts — edits, new files, deletions, and commits the agent made
itself — because the diff is taken against the base commit, not the workspace's HEAD. Files git
ignores (build output, caches) do not. The patch is bytes, binary files included (`--binary`), and
`git apply` accepts it on the base. Renames are a deletion plus an addition (`--no-renames`), so
every path a task touched is named, for scope checks and merges alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from pydantic import BaseModel, ConfigDict

from parallelai.wording import plural
from parallelai.workspaces._git import git, git_bytes

# The user's config must not change what a patch looks like: prefixes `git apply` expects, paths
# from the top, no colours, no external diff tools or text conversion.
_DIFF = (
    "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false",
    "diff", "--cached", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
)  # fmt: skip


class FileStat(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str  # from the repository's top, with forward slashes
    insertions: int = 0
    deletions: int = 0
    binary: bool = False


class TaskChange(BaseModel):
    """One task's change against its base; `patch` is base64 in JSON, so any bytes survive."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    base: str
    patch: bytes
    files: tuple[FileStat, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.files

    @property
    def paths(self) -> list[str]:
        return [stat.path for stat in self.files]

    @property
    def insertions(self) -> int:
        return sum(stat.insertions for stat in self.files)

    @property
    def deletions(self) -> int:
        return sum(stat.deletions for stat in self.files)

    @property
    def text(self) -> str:
        """The patch for reading; `patch` itself is what to apply."""
        return self.patch.decode("utf-8", "replace")

    def summary(self) -> str:
        """`3 files changed, 10 insertions(+), 2 deletions(-)`, as git says it."""
        return (
            f"{plural(len(self.files), 'file')} changed, "
            f"{plural(self.insertions, 'insertion')}(+), {plural(self.deletions, 'deletion')}(-)"
        )


async def capture_change(worktree: Path, base: str) -> TaskChange:
    """Stage everything in `worktree` (its own index, never the user's) and diff it against `base`."""
    await git(worktree, "add", "--all", ":/")
    patch = await git_bytes(worktree, *_DIFF, "--binary", base)
    numstat = await git_bytes(worktree, *_DIFF, "--numstat", "-z", base)
    return TaskChange(base=base, patch=patch, files=tuple(_parse_numstat(numstat)))


@asynccontextmanager
async def writes_undone(worktree: Path) -> AsyncIterator[None]:
    """What is written in `worktree` inside the block is undone after it — files changed or deleted
    are put back, files created are removed (those git ignores are left, as a capture leaves them) —
    so a check run there (a task's gate: its `__pycache__`, a coverage file, a formatter's rewrite)
    cannot add to the change it checks. What was there before is staged in the worktree's own index,
    which `capture_change` stages again anyway."""
    await git(worktree, "add", "--all", ":/")
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):  # a cut-off gate's writes are undone too
            await git(worktree, "checkout", "--", ":/")
            await git(worktree, "clean", "-f", "-d", "-q", "--", ":/")


def _parse_numstat(output: bytes) -> list[FileStat]:
    # With -z and no renames each record is "ADDED\tDELETED\tPATH\0"; binary files count "-".
    stats = []
    for record in output.split(b"\0"):
        if not record:
            continue
        added, deleted, path = record.split(b"\t", 2)
        binary = added == b"-"
        stats.append(
            FileStat(
                path=path.decode("utf-8", "replace"),
                insertions=0 if binary else int(added),
                deletions=0 if binary else int(deleted),
                binary=binary,
            )
        )
    return stats
