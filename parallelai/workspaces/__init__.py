"""Workspaces: where tasks that change code do it, and what they changed.

A run that edits code must not let its agents write into the user's checkout: each task gets a
workspace of its own, made from the run's base, and what it changed there is captured as a patch
once it succeeds. The pieces, one concept each:

- `base.py`: the run's base — HEAD when it was planned, plus, if the user opts in, their
  uncommitted changes as a commit on no branch (their index, working tree and stash untouched);
- `worktrees.py`: `TaskWorkspaces`, one detached git worktree per task under the state dir,
  reused on resume and removed after, and `prune_stale`, the cleanup after a crash;
- `scratch.py`: a scratch copy per task when the run's directory is not in a git repository;
- `changes.py`: `TaskChange`, a task's patch (binary-safe) and diffstat against the base;
- `scope.py`: the changed paths a task's declared scope does not cover;
- `merge_queue.py`: successful tasks' changes applied, in completion order, onto the run's
  integration branch `parallelai/<run>`, one commit per task; a conflict comes back as data;
- `handover.py`: that branch shown as a patch, or merged into the user's current branch.

The lifecycle, for whoever drives it: `TaskWorkspaces.plan(workdir, run_id)` once per run (or
`TaskWorkspaces.open(run_id)` on resume); per attempt, `create(task)` gives the directory to run
the agent in; after it succeeds, `capture(task)` and `outside_scope(change.paths, scope)`; finally
`MergeQueue.merge(task, change.patch, …)`; `remove(task)` / `remove_all()`, and
`prune_stale(unfinished_runs)` at start-up. A run with `isolation` on drives them from
`orchestration/isolation.py`.
"""

from parallelai.workspaces._git import has_commit
from parallelai.workspaces.base import WorkspaceBase, plan_base
from parallelai.workspaces.changes import FileStat, TaskChange, capture_change, writes_undone
from parallelai.workspaces.merge_queue import Conflict, Merged, MergeQueue, MergeResult
from parallelai.workspaces.scope import describe_violation, outside_scope
from parallelai.workspaces.worktrees import TaskWorkspaces, prune_stale, worktrees_root

__all__ = [
    "Conflict",
    "FileStat",
    "MergeQueue",
    "MergeResult",
    "Merged",
    "TaskChange",
    "TaskWorkspaces",
    "WorkspaceBase",
    "capture_change",
    "describe_violation",
    "has_commit",
    "outside_scope",
    "plan_base",
    "prune_stale",
    "worktrees_root",
    "writes_undone",
]
