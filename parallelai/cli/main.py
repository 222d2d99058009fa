"""The `parallelai` command line: run, runs, show, resume, retry, cancel, engines (diff and apply
are in isolation_commands.py).

Exit codes: 0 every task succeeded, 1 some did not, 2 bad input (nothing was started),
130 / 143 / 129 stopped by SIGINT (Ctrl-C) / SIGTERM / SIGHUP: the agents were stopped and the
run left `interrupted`, to be resumed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

import anyio
import yaml

from parallelai._version import __version__
from parallelai.cli.daemon_commands import add_daemon_commands
from parallelai.cli.isolation_commands import add_isolation_commands, apply_at_end
from parallelai.cli.lsp_command import add_lsp_command
from parallelai.cli.mcp_command import add_mcp_command
from parallelai.cli.progress import ProgressView
from parallelai.cli.rate_gates_view import rate_gate_lines
from parallelai.cli.run_flags import (
    add_run_flags,
    positive_float,
    positive_int,
)
from parallelai.cli.stopping import Stopped, until_stopped
from parallelai.cli.summary import print_summary
from parallelai.cli.template_commands import add_template_commands
from parallelai.cli.watch_command import add_watch_command
from parallelai.errors import InputError, ParallelAIError, RunBusyError, RunNotFoundError
from parallelai.events import RunFinished
from parallelai.models import STRATEGY_NAMES, RunState, RunSummary, TaskState
from parallelai.orchestration.service import OrchestrationService
from parallelai.planning import plan_request
from parallelai.reports.simulated import simulated_task_ids
from parallelai.run_request import build_request
from parallelai.wording import plural

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return anyio.run(until_stopped, args.command, args)
    except Stopped as stopped:
        name = signal.Signals(stopped.signum).name
        print(f"parallelai: stopped by {name}; {_resume_hint(args)}", file=sys.stderr)
        return 128 + stopped.signum
    except InputError as error:
        print(f"parallelai: error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except RunNotFoundError as error:
        print(f"parallelai: error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except ParallelAIError as error:
        print(f"parallelai: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"parallelai: interrupted; {_resume_hint(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`parallelai show RUN | head`): stop quietly, as `git log | head` does.
        # Python would otherwise report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _resume_hint(args: argparse.Namespace) -> str:
    run_id = getattr(args, "started_run", None)
    if getattr(args, "daemon", False) or getattr(args, "monitor", None):
        return f"the run goes on in the daemon; `parallelai watch{f' {run_id}' if run_id else ''}` follows it"
    return f"`parallelai resume {run_id or 'RUN'}` continues where it stopped"


# -- commands ------------------------------------------------------------------------------


async def _run(args: argparse.Namespace) -> int:
    if args.tasks_file and args.prompts:
        raise InputError("give prompts as arguments or --tasks-file, not both")
    if not args.tasks_file and not args.prompts:
        raise InputError("nothing to run: give prompts as arguments or --tasks-file FILE")
    spec = plan_request(
        build_request(
            prompts=args.prompts or None,
            tasks_file=args.tasks_file,
            name=args.name,
            engine=args.engine,
            parallel=args.parallel,
            strategy=args.strategy,
            timeout=args.timeout,
            retries=args.retries,
            max_cost_usd=args.max_cost_usd,
            max_tokens=args.max_tokens,
            fail_fast=True if args.fail_fast else None,
            use_cache=False if args.no_cache else None,
            engine_options=dict(args.engine_option or []),
            gates=args.gate or None,
            isolation=args.isolate,
            backend=args.backend,
            task_gates=args.task_gate or None,
            fallbacks=args.fallback or None,
            deadline_s=args.deadline,
        )
    )
    if args.daemon or args.monitor:
        from parallelai.cli.daemon_run import run_in_daemon  # the HTTP client only when it is used

        return await run_in_daemon(spec, monitor=args.monitor, as_json=args.json, apply=args.apply)
    async with OrchestrationService.open(_store(args)) as service:
        after = service.bus.last_seq
        run_id = args.started_run = await service.submit(spec)
        return await _follow(service, run_id, after, len(spec.tasks), args)


async def _resume(args: argparse.Namespace) -> int:
    async with OrchestrationService.open(_store(args)) as service:
        summary = await service.summary(args.run)
        args.started_run = args.run
        if summary.state.is_final:
            print(
                f"{args.run} already {summary.state}; nothing to resume"
                + (
                    ""
                    if summary.state is RunState.SUCCEEDED
                    else f" (`parallelai retry {args.run}` re-runs what did not succeed)"
                ),
                file=sys.stderr,
            )
            return await _print_outcome(service, summary, args)
        after = service.bus.last_seq
        try:
            await service.resume(args.run)
        except RunBusyError as busy:
            # Someone else executes it: follow it to its end instead of starting it twice.
            print(f"{args.run} is being executed by {busy.executed_by}; following it", file=sys.stderr)
        return await _follow(service, args.run, after, summary.total, args)


async def _retry(args: argparse.Namespace) -> int:
    async with OrchestrationService.open(_store(args)) as service:
        summary = await service.summary(args.run)
        after = service.bus.last_seq
        args.started_run = args.run
        again = await service.retry(args.run, args.task or [])
        if not again:
            print(f"{args.run}: nothing to retry (no failed, cancelled or skipped task)", file=sys.stderr)
            return await _print_outcome(service, summary, args)
        print(f"{args.run}: retrying {plural(again, 'task')}", file=sys.stderr)
        return await _follow(service, args.run, after, summary.total, args)


async def _follow(
    service: OrchestrationService, run_id: str, after: int, total: int, args: argparse.Namespace
) -> int:
    view = ProgressView(run_id, total, live=False if args.json else None)
    with view:
        async with aclosing(service.events(after, run_id)) as events:
            async for event in events:
                view.update(event)
                if isinstance(event, RunFinished):
                    break
    return await _print_outcome(service, await service.wait(run_id), args)


async def _print_outcome(service: OrchestrationService, summary: RunSummary, args: argparse.Namespace) -> int:
    """Print how the run stands (with every task, as JSON, under --json); its exit code."""
    records = await service.tasks(summary.id)
    simulated = bool(simulated_task_ids(records, (await service.spec(summary.id)).default_engine))
    print_summary(summary, args.json, records if args.json else [], simulated=simulated)
    if getattr(args, "apply", False) and not await apply_at_end(
        await service.spec(summary.id), summary.id, summary.state
    ):
        return EXIT_FAILED
    return EXIT_OK if summary.state is RunState.SUCCEEDED else EXIT_FAILED


async def _runs(args: argparse.Namespace) -> int:
    async with OrchestrationService.open(_store(args)) as service:
        runs = await service.list_runs(RunState(args.state) if args.state else None, args.limit)
    if args.json:
        print(json.dumps([run.model_dump(mode="json") for run in runs], indent=2))
        return EXIT_OK
    if not runs:
        print("no runs yet; start one with `parallelai run PROMPT…`")
    for run in runs:
        done = run.counts[TaskState.SUCCEEDED]
        print(
            f"{run.id}  {run.state:<11} {done}/{run.total} succeeded  ${run.usage.cost_usd:.4f}  {run.name or ''}"
        )
    return EXIT_OK


async def _show(args: argparse.Namespace) -> int:
    async with OrchestrationService.open(_store(args)) as service:
        summary = await service.summary(args.run)
        records = await service.tasks(args.run)
        simulated = bool(simulated_task_ids(records, (await service.spec(args.run)).default_engine))
    if args.json:
        print_summary(summary, True, records, simulated=simulated)
        return EXIT_OK
    print_summary(summary, False, [], simulated=simulated)
    for record in records:
        result = record.result
        text = (
            result.error.message if result and result.error else result.text if result else record.reason
        ) or ""
        first_line = text.strip().splitlines()[0][:80] if text.strip() else ""
        print(f"  {record.task.id:<14} {record.state:<10} attempts={len(record.attempts)}  {first_line}")
    return EXIT_OK


async def _cancel(args: argparse.Namespace) -> int:
    async with OrchestrationService.open(_store(args)) as service:
        summary = await service.cancel(args.run)
    still = f" (asked {summary.executed_by} to stop it)" if summary.executed_by else ""
    print(f"{args.run}: {summary.state}{still}")
    return EXIT_OK


async def _engines(args: argparse.Namespace) -> int:
    if args.action == "check":
        # A check is not work of the user's: it runs on a store of its own, removed after, so no
        # "check NAME" run is left in `parallelai runs`.
        with tempfile.TemporaryDirectory(prefix="parallelai-check-", ignore_cleanup_errors=True) as scratch:
            async with OrchestrationService.open(Path(scratch) / "check.db") as service:
                return await _check_engine(service, args)
    async with OrchestrationService.open(_store(args)) as service:
        statuses = await service.engine_statuses()
        aliases = service.registry.aliases()
    if args.json:
        print(json.dumps([status.model_dump() for status in statuses], indent=2))
        return EXIT_OK
    for status in statuses:
        mark = "ok " if status.available else "n/a"
        print(f"{mark} {status.name:<14} {status.version or '-':<12} {status.detail}")
    other_words = ", ".join(f"{alias} = {name}" for alias, name in sorted(aliases.items()))
    print(f"\nother names: {other_words}; `_` for `-` in any name (claude_code = claude-code)")
    for line in await rate_gate_lines():
        print(line)
    return EXIT_OK


async def _check_engine(service: OrchestrationService, args: argparse.Namespace) -> int:
    if not args.name:
        raise InputError("usage: parallelai engines check NAME")
    request = build_request(
        prompts=["Reply with the single word: ok"],
        name=f"check {args.name}",
        engine=args.name,
        timeout=args.timeout or 120,
        retries=0,
        use_cache=False,
        engine_options=dict(args.engine_option or []),
    )
    summary = await service.run(plan_request(request))
    record = (await service.tasks(summary.id))[0]
    result = record.result
    if summary.state is RunState.SUCCEEDED and result is not None:
        print(
            f"{args.name}: ok — answered {result.text.strip()[:60]!r} in {result.duration_s:.1f}s, "
            f"{result.usage.total_tokens} tokens, ${result.usage.cost_usd:.4f}"
        )
        return EXIT_OK
    problem = result.error.message if result and result.error else record.reason
    print(f"{args.name}: failed — {problem}", file=sys.stderr)
    return EXIT_FAILED


# -- output --------------------------------------------------------------------------------


# -- arguments -----------------------------------------------------------------------------


def _store(args: argparse.Namespace) -> Path | None:
    return Path(args.store) if args.store else None


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _parser() -> argparse.ArgumentParser:
    # Bad arguments exit with code 2 and a one-line error: argparse's convention matches ours.
    parser = argparse.ArgumentParser(
        prog="parallelai", description="Fan work out over many AI sub-agents, durably."
    )
    parser.add_argument(
        "--store", help="SQLite store file (default: $PARALLELAI_STORE or the user state dir)"
    )
    parser.add_argument("--version", action="version", version=f"parallelai {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run prompts or a tasks file")
    run.add_argument("prompts", nargs="*", metavar="PROMPT")
    run.add_argument("-f", "--tasks-file", metavar="FILE", help="a tasks.yaml (see docs/tasks-file.md)")
    run.add_argument(
        "-e",
        "--engine",
        help="default engine, `name[:model]` (default: the config's, else the first assistant ready here; "
        "`echo` for a dry run with canned answers)",
    )
    run.add_argument("-p", "--parallel", type=positive_int, help="tasks at once (default: 8)")
    run.add_argument("--strategy", choices=STRATEGY_NAMES)
    add_run_flags(run)
    run.add_argument("--max-tokens", type=positive_int, help="stop starting tasks past this many tokens")
    run.add_argument("--fail-fast", action="store_true", help="stop everything at the first failed task")
    run.add_argument(
        "-E",
        "--engine-option",
        type=_key_value,
        action="append",
        metavar="KEY=VALUE",
        help="a setting of the default engine, e.g. -E latency=0.5",
    )
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.set_defaults(command=_run)

    runs = commands.add_parser("runs", help="list runs")
    runs.add_argument("--state", choices=[state.value for state in RunState])
    runs.add_argument("--limit", type=positive_int, default=20)
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(command=_runs)

    show = commands.add_parser("show", help="show a run and its tasks")
    show.add_argument("run", metavar="RUN")
    show.add_argument("--json", action="store_true")
    show.set_defaults(command=_show)

    resume = commands.add_parser(
        "resume", help="continue an interrupted run: finished tasks are kept, the rest re-queued"
    )
    resume.add_argument("run", metavar="RUN")
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(command=_resume)

    retry = commands.add_parser(
        "retry", help="run a run's failed, cancelled and skipped tasks again (and what depends on them)"
    )
    retry.add_argument("run", metavar="RUN")
    retry.add_argument(
        "--task", action="append", metavar="ID", help="retry only this task (repeatable); default: all"
    )
    retry.add_argument("--json", action="store_true")
    retry.set_defaults(command=_retry)

    cancel = commands.add_parser("cancel", help="cancel a run")
    cancel.add_argument("run", metavar="RUN")
    cancel.set_defaults(command=_cancel)

    engines = commands.add_parser(
        "engines",
        help="list engines and whether they can run here; `check NAME` sends one tiny prompt (no run is kept)",
    )
    engines.add_argument("action", nargs="?", choices=["list", "check"], default="list")
    engines.add_argument("name", nargs="?", metavar="NAME")
    engines.add_argument("--timeout", type=positive_float)
    engines.add_argument("-E", "--engine-option", type=_key_value, action="append", metavar="KEY=VALUE")
    engines.add_argument("--json", action="store_true")
    engines.set_defaults(command=_engines)
    add_mcp_command(commands)
    add_lsp_command(commands)
    add_daemon_commands(commands)
    add_watch_command(commands)
    add_template_commands(commands)
    add_isolation_commands(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
