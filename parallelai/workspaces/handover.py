"""Hand-over: an isolated run's integration branch shown as a patch, or merged into the user's branch.

These are the only steps of isolation that touch the user's checkout, and only when they ask
(`parallelai apply`): the merge is an ordinary `git merge` in their repository, with their own git
configuration and identity, so it is theirs to inspect, amend or undo like any other merge.
"""

from __future__ import annotations

from pathlib import Path

from parallelai.errors import InputError, WorkspaceError
from parallelai.workspaces._git import git, git_bytes, succeeds
from parallelai.workspaces.merge_queue import BRANCH_PREFIX

# As `MergeQueue.diff`: the user's diff config must not change the patch `git apply` is given.
_DIFF = (
    "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false",
    "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--binary", "--full-index",
)  # fmt: skip


def integration_branch(run_id: str) -> str:
    return BRANCH_PREFIX + run_id


async def integration_diff(repo: Path, run_id: str, base: str) -> bytes:
    """The run's integration branch against its base: every merged task's change, as one patch."""
    return await git_bytes(repo, *_DIFF, base, await _branch_head(repo, run_id))


async def merge_into_checkout(repo: Path, run_id: str, *, force: bool = False) -> str:
    """Merge the run's integration branch into the branch checked out in `repo`; git's report.

    A checkout with uncommitted changes to tracked files is refused unless `force` (git itself
    still refuses to overwrite a change the merge would touch). Untracked files do not count:
    a merge never overwrites one without refusing.
    """
    head = await _branch_head(repo, run_id)
    dirty = await git(repo, "status", "--porcelain", "--untracked-files=no")
    if dirty and not force:
        raise InputError(
            f"{repo} has uncommitted changes; commit or stash them first, or pass --force "
            f"(or write a patch instead: parallelai apply {run_id} --patch FILE)"
        )
    try:
        return await git(
            repo, "merge", "--no-edit", "-m", f"Merge {integration_branch(run_id)} (parallelai run)", head
        )
    except WorkspaceError as error:
        raise WorkspaceError(
            f"the merge of {integration_branch(run_id)} into {repo} stopped; resolve it and commit, "
            "or undo it with `git merge --abort`",
            stderr=error.stderr,
        ) from error


async def _branch_head(repo: Path, run_id: str) -> str:
    ref = f"refs/heads/{integration_branch(run_id)}"
    if not await succeeds(repo, "rev-parse", "--verify", "--quiet", ref):
        raise InputError(
            f"{repo} has no branch {integration_branch(run_id)}: it was deleted, or the run merged nothing yet"
        )
    return await git(repo, "rev-parse", "--verify", ref)
