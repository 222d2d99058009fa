"""A run with isolation: each attempt's engine in its task's worktree, and a succeeded task's change
captured, held to its scope, stored and merged onto the run's integration branch.

The lifecycle, and who drives it (docs/isolation.md has the user's side):
- `RunIsolation.prepare` (the service, before a new run is stored) fixes the run's base; on
  resume or retry `reopen` finds it again, or plans a fresh one if the run had ended and its
  worktrees were removed (the integration branch keeps its first base, which the store holds);
- `running()` (around the run's execution) holds the merge queue open; the run's own gates run in
  `integration_checkout()`, a checkout of the integration branch made for them;
- `attempt` (the attempt's I/O, per attempt) makes or reuses the task's worktree, runs the engine
  there and, when the engine succeeded, runs the task's gates there (`task_gates.py`: a failing
  one goes back to the agent, in the same worktree), then settles the change: a change outside
  the task's `files` fails the task, with a reason, as data; one that conflicts with what was merged before is run
  again (a new attempt) in a worktree made afresh at the integration head, the conflict in its
  prompt, and captured against that head; still conflicting after `CONFLICT_RERUNS`, it fails;
- `end` (the service, once the run stopped) removes the worktrees if the run has ended; an
  interrupted run keeps them for `resume`. `prune_ended` is the same cleanup after a crash.

Why the merge happens inside the attempt: its result decides the task's state (a conflict re-runs
or fails it), and it must be decided before the task's dependents start from its output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from parallelai.errors import InputError, WorkspaceError
from parallelai.models import ErrorKind, Gate, RunSpec, RunState, Task, TaskError, TaskResult
from parallelai.orchestration.store import Store
from parallelai.orchestration.task_gates import GATE_RERUNS, first_failure, gate_prompt, verdict
from parallelai.workspaces import Conflict, MergeQueue, TaskWorkspaces, describe_violation, outside_scope
from parallelai.workspaces.answer_edits import edit_from_answer
from parallelai.workspaces.worktrees import prune_stale, worktrees_root

log = logging.getLogger("parallelai.isolation")

# How many times a task whose change conflicts is run again on top of the integration branch
# before it fails: each re-run costs a whole agent run, and a change that still conflicts after
# two is more likely fighting another task over the same lines than racing it.
CONFLICT_RERUNS = 2
_HUNKS_SHOWN = 4000  # characters of the conflicting hunks put in a re-run's prompt


class RunIsolation:
    def __init__(
        self,
        run_id: str,
        workspaces: TaskWorkspaces,
        base: str,
        store: Store,
        task_gates: Sequence[Gate] = (),
    ) -> None:
        self.run_id = run_id
        self.workspaces = workspaces
        self.base = base  # where the integration branch started: the run's first base
        self._store = store
        self._task_gates = list(task_gates)  # every task's, before its own
        self._queue: MergeQueue | None = None
        self._merged: set[str] = set()  # on the branch already when the run (re)started
        self._on_branch = False  # tasks' worktrees are made at the integration head, not the base

    @classmethod
    async def prepare(cls, run_id: str, spec: RunSpec, store: Store) -> RunIsolation:
        """Plan a new run's base (raises InputError outside git, WorkspaceError for a repository
        without a commit); `record` it once the run is stored."""
        workspaces = await _planned(run_id, spec)
        assert workspaces.base.commit is not None
        isolation = cls(run_id, workspaces, workspaces.base.commit, store, spec.task_gates)
        try:
            await isolation._check_branch()
        except BaseException:
            # No run will own them: nothing else would ever remove the record and the base's pin.
            with anyio.CancelScope(shield=True):
                await workspaces.remove_all()
            raise
        return isolation

    def record(self) -> None:
        self._store.record_isolation(self.run_id, self.workspaces.base.root, self.base)

    @classmethod
    async def reopen(cls, run_id: str, spec: RunSpec, store: Store) -> RunIsolation:
        """The isolation of a run that executes again (resume, retry)."""
        kept = TaskWorkspaces.open(run_id)
        workspaces = kept or await _planned(run_id, spec)
        stored = await store.isolated_run(run_id)
        base = stored.base if stored is not None else workspaces.base.commit
        assert base is not None
        isolation = cls(run_id, workspaces, base, store, spec.task_gates)
        # The run had ended (a retry): its worktrees are gone, and its tasks start again on what it
        # merged already, not on the user's HEAD, which may be far from it (or hold it, applied).
        isolation._on_branch = kept is None and stored is not None
        await isolation._check_branch()
        if stored is None:
            isolation.record()
        return isolation

    async def _check_branch(self) -> None:
        """Make the integration branch now (or check the one there descends from the base), so that
        a branch in the way is the caller's error rather than the run's."""
        async with MergeQueue.open(self.workspaces.base.root, self.run_id, self.base):
            pass

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RunIsolation]:
        """The merge queue open for the run's execution."""
        async with MergeQueue.open(self.workspaces.base.root, self.run_id, self.base) as queue:
            self._merged = {merged.task_id for merged in await queue.merged()}
            self._queue = queue
            try:
                yield self
            finally:
                self._queue = None

    async def attempt(
        self,
        task: Task,
        engine: str,
        prompt: str,
        call: Callable[[Path, str], Awaitable[TaskResult]],
        rerun: Callable[[TaskResult, str], None] | None = None,
        *,
        answer_is_edit: bool = False,
    ) -> TaskResult:
        """`call` (the engine, given the directory to work in and the prompt) run in the task's
        worktree, and a success settled: its result, or the same result failed with why its change
        was refused. A change that fails one of the task's gates goes back to the agent, the gate's
        output in its prompt, up to `GATE_RERUNS` times; one that conflicts with what was merged
        before is run again on top of the integration head, the conflict in its prompt, up to
        `CONFLICT_RERUNS` times. `rerun` is told of each (the failed result of the attempt before
        it, and what happens next), to close that attempt and open the next. With `answer_is_edit`
        (an engine without tools) each answer is made into the worktree's edit first."""
        try:
            workdir = await self._worktree(task.id)
        except WorkspaceError as error:
            return _refused(TaskResult(), ErrorKind.INTERNAL, f"no worktree for it: {error}")
        gates = [*self._task_gates, *task.gates]
        result = await call(workdir, prompt)
        conflict_reruns = gate_reruns = 0
        while result.error is None:
            if answer_is_edit:
                failed = await edit_from_answer(
                    self.workspaces.path(task.id), result.text, task.files, self.workspaces.base.subdir
                )
                if failed is not None:
                    return _refused(result, ErrorKind.EXECUTION, failed)
            failed_gate = await first_failure(gates, task, workdir) if gates else None
            if failed_gate is not None:
                refused = _refused(result, ErrorKind.EXECUTION, verdict(failed_gate))
                if gate_reruns == GATE_RERUNS or rerun is None:
                    return refused
                gate_reruns += 1
                rerun(refused, "asking its agent to fix its change")
                result = await call(workdir, gate_prompt(prompt, failed_gate))
                continue
            try:
                problem = await self._settle(task, engine, prompt)
            except WorkspaceError as error:
                problem = f"its change could not be captured or merged: {error}"
            if problem is None:
                return result
            if not isinstance(problem, Conflict):
                return _refused(result, ErrorKind.EXECUTION, problem)
            refused = _refused(result, ErrorKind.EXECUTION, self._conflicted(task, problem, conflict_reruns))
            if conflict_reruns == CONFLICT_RERUNS or rerun is None:
                return refused
            conflict_reruns += 1
            rerun(refused, "running it again on top of the integration branch")
            try:
                workdir = await self._restart(task.id)
            except WorkspaceError as error:
                return _refused(TaskResult(), ErrorKind.INTERNAL, f"no worktree for its re-run: {error}")
            result = await call(workdir, conflict_prompt(prompt, problem))
        return result

    async def _worktree(self, task_id: str) -> Path:
        """The task's worktree: the one a previous attempt left, else a new one at the base (at the
        integration head, for a retry after the run ended)."""
        if self._on_branch and not self.workspaces.path(task_id).exists():
            return await self._restart(task_id)
        return await self.workspaces.create(task_id)

    async def _restart(self, task_id: str) -> Path:
        """The task's worktree made again at the integration branch's current head."""
        assert self._queue is not None, "attempt() outside running()"
        return await self.workspaces.create(task_id, at=self._queue.head)

    def _conflicted(self, task: Task, conflict: Conflict, reruns: int) -> str:
        after = f" (after {reruns} re-run{'s' if reruns != 1 else ''} on top of them)" if reruns else ""
        return (
            f"its change conflicts with changes merged before it in {', '.join(conflict.paths)}{after}; "
            f"nothing of it was merged (its patch: parallelai diff {self.run_id} {task.id})"
        )

    async def _settle(self, task: Task, engine: str, prompt: str) -> str | Conflict | None:
        """Capture, check, store and merge the task's change; why it was refused (a `Conflict` for
        a merge that did not apply), or None."""
        assert self._queue is not None, "attempt() outside running()"
        change = await self.workspaces.capture(task.id)
        scope = task.change_scope
        if scope:
            outside = outside_scope(change.paths, scope, prefix=self.workspaces.base.subdir)
            if outside:
                self._store.record_change(self.run_id, task.id, change, "outside_scope", None)
                return describe_violation(outside, scope)
        if task.id in self._merged:
            # Merged before the run stopped, though its success was not recorded: not twice.
            self._store.record_change(self.run_id, task.id, change, "merged", None)
            return None
        merged = await self._queue.merge(task.id, change.patch, engine=engine, prompt=prompt)
        if isinstance(merged, Conflict):
            self._store.record_change(self.run_id, task.id, change, "conflict", None)
            return merged
        self._store.record_change(self.run_id, task.id, change, "merged", merged.commit)
        return None

    @asynccontextmanager
    async def integration_checkout(self) -> AsyncIterator[Path]:
        """A checkout of the integration branch's head, for the run's gates: the workdir there.
        Removed after, also when the gates are cut off."""
        assert self._queue is not None, "integration_checkout() outside running()"
        workdir = await self.workspaces.check_out(self._queue.head)
        try:
            yield workdir
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.workspaces.discard_checkout()
                except WorkspaceError as error:  # `end` (remove_all) takes it with the rest
                    log.warning("could not remove the gates' checkout of run %s: %s", self.run_id, error)

    async def end(self, state: RunState) -> None:
        """The run stopped in `state`: once it has ended its worktrees go (resume would reuse them)."""
        if not state.is_final:
            return
        try:
            await self.workspaces.remove_all()
        except WorkspaceError as error:  # the next service start tries again (`prune_ended`)
            log.warning("could not remove the worktrees of run %s: %s", self.run_id, error)


def conflict_prompt(prompt: str, conflict: Conflict) -> str:
    """The task's prompt for a re-run after `conflict`: the files and the hunks that conflicted."""
    hunks = conflict.hunks
    if len(hunks) > _HUNKS_SHOWN:
        hunks = hunks[:_HUNKS_SHOWN] + "\n[… cut]\n"
    return (
        f"{prompt.rstrip()}\n\n"
        "Note: you did this task before, but other tasks changed the same lines in the meantime, so "
        f"your change could not be merged. The files that conflicted: {', '.join(conflict.paths)}. "
        "This directory now holds what the other tasks already changed; your change must apply on "
        "top of it: do the task again here, keeping their changes. The part of your earlier change "
        f"that conflicted (a diff against the files as they were then):\n\n{hunks.rstrip()}\n"
    )


def _refused(result: TaskResult, kind: ErrorKind, message: str) -> TaskResult:
    return result.model_copy(update={"error": TaskError(kind=kind, message=message)})


async def prune_ended(store: Store) -> list[str]:
    """Remove the worktrees of runs this store knows to have ended (left by a crash); the run ids.
    Runs the store does not know are left alone: they may be another store's."""
    root = worktrees_root()
    if not root.is_dir():
        return []
    keep = set()
    for run_dir in root.iterdir():
        state = await store.run_state(run_dir.name)
        if state is None or not state.is_final:
            keep.add(run_dir.name)
    return await prune_stale(keep)


async def _planned(run_id: str, spec: RunSpec) -> TaskWorkspaces:
    workdir = Path(spec.workdir or os.getcwd())
    workspaces = await TaskWorkspaces.plan(workdir, run_id)
    if workspaces.base.kind != "git":
        await workspaces.remove_all()
        raise InputError(
            f"isolation needs a git repository and {workdir} is in none; "
            "run `git init` and commit once, or run without isolation"
        )
    return workspaces
