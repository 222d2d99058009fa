"""`parallelai run --daemon` / `--monitor web|terminal`: a run planned here, executed by the daemon.

The command line plans and validates the run exactly as in embedded mode (so bad input is still
exit code 2 with nothing started), then hands the planned run to the daemon, starting one if
none runs. The run then outlives this process, and every other surface sees it. The terminal
shows the same progress as an embedded run, or the chosen monitor: the web dashboard on the
run's page, or the full-screen terminal view.
"""

from __future__ import annotations

import webbrowser
from contextlib import aclosing
from typing import Literal

from rich.console import Console

from parallelai.cli.progress import ProgressView
from parallelai.cli.summary import print_summary
from parallelai.cli.watch_command import Watch
from parallelai.client.daemon_client import DaemonClient
from parallelai.engines.registry import default_registry
from parallelai.events import RunFinished
from parallelai.models import RunSpec, RunState, RunSummary, TaskRecord
from parallelai.orchestration.spec_check import plan_spec
from parallelai.wire import CreateRun, RunOut

Monitor = Literal["web", "terminal"]
EXIT_OK, EXIT_FAILED = 0, 1


async def run_in_daemon(spec: RunSpec, *, monitor: Monitor | None, as_json: bool) -> int:
    """Submit `spec` to the daemon, follow it to the end, print the summary; the exit code."""
    # Checked here first, so bad input starts nothing, not even a daemon; this also pins the
    # workdir to this directory, where the tasks' files are (the daemon works in its own).
    spec = plan_spec(spec, default_registry())
    async with await DaemonClient.connect(start=True) as client:
        run_id = (await client.create_run(CreateRun(planned=spec))).id
        if monitor == "terminal":
            await Watch(client, Console()).run(run_id)  # until the user quits it
        else:
            if monitor == "web":
                link = await client.dashboard_link()
                webbrowser.open(f"{link.url}#/runs/{run_id}")  # the fragment survives the login redirect
            await _follow(client, run_id, len(spec.tasks), as_json)
        summary = _summary(await client.run(run_id))
        records: list[TaskRecord] = (
            [await client.task(run_id, task.id) for task in await client.tasks(run_id)] if as_json else []
        )
    if monitor == "terminal" and summary.finished_at is None:
        print(f"run {run_id} goes on in the daemon; `parallelai watch {run_id}` shows it again")
        return EXIT_OK
    print_summary(summary, as_json, records)
    return EXIT_OK if summary.state is RunState.SUCCEEDED else EXIT_FAILED


async def _follow(client: DaemonClient, run_id: str, total: int, as_json: bool) -> None:
    with ProgressView(run_id, total, live=False if as_json else None) as view:
        async with aclosing(client.events(run_id)) as events:
            async for event in events:
                view.update(event)
                if isinstance(event, RunFinished):
                    return


def _summary(run: RunOut) -> RunSummary:
    return RunSummary.model_validate(run.model_dump(include=set(RunSummary.model_fields)))
