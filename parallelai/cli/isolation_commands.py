"""`parallelai diff RUN [TASK]` and `parallelai apply RUN`: an isolated run's changes, handed over.

A run with isolation never writes into your checkout; its tasks' changes wait on the branch
`parallelai/<run>` (docs/isolation.md). `diff` prints them — or the patch one task made, as
stored, merged or not — and `apply` merges the branch into your current branch, or writes the
patch to a file with `--patch`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

from parallelai.errors import InputError, WorkspaceError
from parallelai.models import RunSpec, RunState
from parallelai.orchestration.service import OrchestrationService
from parallelai.orchestration.store import IsolatedRun
from parallelai.workspaces.handover import integration_branch, integration_diff, merge_into_checkout

EXIT_OK = 0


def add_isolation_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    diff = commands.add_parser(
        "diff", help="print the changes of a run with isolation (or of one of its tasks) as a patch"
    )
    diff.add_argument("run", metavar="RUN")
    diff.add_argument(
        "task", nargs="?", metavar="TASK", help="the patch this task made, as captured (merged or not)"
    )
    diff.set_defaults(command=_diff)

    apply = commands.add_parser("apply", help="merge a run's branch parallelai/RUN into your current branch")
    apply.add_argument("run", metavar="RUN")
    apply.add_argument("--patch", metavar="FILE", help="write the run's changes to FILE instead of merging")
    apply.add_argument(
        "--force", action="store_true", help="merge although your checkout has uncommitted changes"
    )
    apply.set_defaults(command=_apply)


async def _diff(args: argparse.Namespace) -> int:
    async with OrchestrationService.open(_store(args)) as service:
        isolated = await _isolated(service, args.run)
        if args.task is None:
            patch = await integration_diff(isolated.repo, args.run, isolated.base)
        else:
            await service.task(args.run, args.task)  # TaskNotFoundError for a task the run has not
            stored = await service.store.task_change(args.run, args.task)
            if stored is None:
                raise InputError(
                    f"task {args.task!r} of run {args.run!r} has no captured change: it has not "
                    "succeeded (a task's change is captured once its agent succeeds)"
                )
            patch = stored.change.patch
    sys.stdout.flush()
    sys.stdout.buffer.write(patch)  # bytes as they are: a patch may hold binary files
    sys.stdout.buffer.flush()
    return EXIT_OK


async def _apply(args: argparse.Namespace) -> int:
    async with OrchestrationService.open(_store(args)) as service:
        isolated = await _isolated(service, args.run)
        if args.patch:
            patch = await integration_diff(isolated.repo, args.run, isolated.base)
            await anyio.Path(args.patch).write_bytes(patch)
            print(
                f"wrote the changes of {integration_branch(args.run)} to {args.patch}; `git apply {args.patch}`"
            )
            return EXIT_OK
        report = await merge_into_checkout(isolated.repo, args.run, force=args.force)
    print(report or f"merged {integration_branch(args.run)} into {isolated.repo}")
    return EXIT_OK


async def _isolated(service: OrchestrationService, run_id: str) -> IsolatedRun:
    await service.summary(run_id)  # RunNotFoundError for a run the store does not hold
    isolated = await service.store.isolated_run(run_id)
    if isolated is None:
        raise InputError(
            f"run {run_id!r} did not run with isolation, so its tasks changed your checkout directly "
            "and there is nothing to hand over (`--isolate` turns it on)"
        )
    return isolated


async def apply_at_end(spec: RunSpec, run_id: str, state: RunState) -> bool:
    """`--apply`: a run's changes merged into the current branch once it succeeded, what happened
    printed; False if the merge was refused or stopped (the run's exit code says so)."""
    if not spec.isolation:
        print(
            f"--apply: {run_id} ran without isolation, so its tasks changed the workdir directly",
            file=sys.stderr,
        )
        return True
    if state is not RunState.SUCCEEDED:
        print(
            f"not applied: {run_id} {state}; `parallelai diff {run_id}` shows what was merged, "
            f"`parallelai apply {run_id}` takes it",
            file=sys.stderr,
        )
        return True
    try:
        report = await merge_into_checkout(Path(spec.workdir or "."), run_id)
    except (InputError, WorkspaceError) as error:
        print(f"not applied: {error}", file=sys.stderr)
        return False
    print(report or f"applied: merged {integration_branch(run_id)} into your current branch", file=sys.stderr)
    return True


def _store(args: argparse.Namespace) -> Path | None:
    return Path(args.store) if args.store else None
