"""`--daemon` / `--monitor web|terminal`: a run planned here, executed by the daemon.

`parallelai run` and every template verb take these flags. The command line plans and validates
the run exactly as in embedded mode (so bad input is still exit code 2 with nothing started, not
even a daemon), then hands the planned run to the daemon, starting one if none runs. The run then
outlives this process, and every other surface sees it. The terminal shows the same progress as
an embedded run, or the chosen monitor: the web dashboard on the run's page (its address is
printed too, for machines without a browser), or the full-screen terminal view.
"""

from __future__ import annotations

import sys
import webbrowser
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

from rich.console import Console

from parallelai.cli.isolation_commands import apply_at_end
from parallelai.cli.progress import ProgressView
from parallelai.cli.summary import print_summary
from parallelai.cli.watch_command import Watch
from parallelai.client.daemon_client import DaemonClient
from parallelai.engines.registry import default_registry
from parallelai.events import RunFinished
from parallelai.models import RunSpec, RunState, RunSummary, TaskRecord
from parallelai.orchestration.spec_check import plan_spec
from parallelai.reports.simulated import spec_is_simulated
from parallelai.wire import CreateRun, RunOut

Monitor = Literal["web", "terminal"]
EXIT_OK, EXIT_FAILED = 0, 1


@dataclass(frozen=True, slots=True)
class DaemonOutcome:
    summary: RunSummary
    records: list[TaskRecord]  # every task, when asked for


async def execute_in_daemon(
    spec: RunSpec, *, monitor: Monitor | None, quiet: bool, records: bool
) -> DaemonOutcome | None:
    """Submit `spec` to the daemon and follow it to its end; None when the user left the terminal
    view while the run goes on."""
    # Checked here first, so bad input starts nothing, not even a daemon; this also pins the
    # workdir to this directory, where the tasks' files are (the daemon works in its own).
    spec = plan_spec(spec, default_registry())
    async with await DaemonClient.connect(start=True) as client:
        run_id = (await client.create_run(CreateRun(planned=spec))).id
        if monitor == "terminal":
            await Watch(client, Console()).run(run_id)  # until the user quits it
        else:
            if monitor == "web":
                await _open_dashboard(client, run_id)
            await _follow(client, run_id, len(spec.tasks), quiet)
        summary = _summary(await client.run(run_id))
        if monitor == "terminal" and summary.finished_at is None:
            print(f"run {run_id} goes on in the daemon; `parallelai watch {run_id}` shows it again")
            return None
        tasks: list[TaskRecord] = (
            [await client.task(run_id, task.id) for task in await client.tasks(run_id)] if records else []
        )
    return DaemonOutcome(summary, tasks)


async def run_in_daemon(spec: RunSpec, *, monitor: Monitor | None, as_json: bool, apply: bool = False) -> int:
    """`parallelai run --daemon`: the run in the daemon, then its summary; the exit code."""
    outcome = await execute_in_daemon(spec, monitor=monitor, quiet=as_json, records=as_json)
    if outcome is None:
        return EXIT_OK
    summary = outcome.summary
    print_summary(summary, as_json, outcome.records, simulated=spec_is_simulated(spec))
    if apply and not await apply_at_end(spec, summary.id, summary.state):
        return EXIT_FAILED
    return EXIT_OK if summary.state is RunState.SUCCEEDED else EXIT_FAILED


async def _open_dashboard(client: DaemonClient, run_id: str) -> None:
    link = await client.dashboard_link()
    url = f"{link.url}#/runs/{run_id}"  # the fragment survives the login redirect
    # Printed as well: on a machine without a browser (ssh, a container) it is the only way in.
    print(f"dashboard: {url} (a one-time link)", file=sys.stderr)
    webbrowser.open(url)


async def _follow(client: DaemonClient, run_id: str, total: int, quiet: bool) -> None:
    with ProgressView(run_id, total, live=False if quiet else None) as view:

        def lost() -> None:
            view.note(
                f"parallelai: lost the daemon at {client.info.url}; waiting for it to come back "
                f"(`parallelai serve --detach` starts it again, and it resumes run {run_id})"
            )

        async with aclosing(client.events(run_id, on_lost=lost)) as events:
            async for event in events:
                view.update(event)
                if isinstance(event, RunFinished):
                    return


def _summary(run: RunOut) -> RunSummary:
    return RunSummary.model_validate(run.model_dump(include=set(RunSummary.model_fields)))
