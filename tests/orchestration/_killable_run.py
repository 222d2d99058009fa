"""A child process for the SIGKILL test: starts a run of echo tasks and reports each success.

Usage: python _killable_run.py STORE TASKS LATENCY MAX_PARALLEL

Prints `run <id>` once the run is durable, then `running <task>` and `succeeded <task>` as each
is stored (an attempt's record is written before its task turns running, so a task printed as
running has an attempt in the store), and keeps going until the run ends or (as the test intends)
the process is killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from parallelai.events import TaskStateChanged
from parallelai.models import RunLimits, RunSpec, Task, TaskOptions, TaskState
from parallelai.orchestration.service import OrchestrationService


async def main(store: Path, count: int, latency: float, max_parallel: int) -> None:
    tasks = [
        Task(id=f"t{i:02d}", prompt=f"do t{i:02d}", options=TaskOptions(engine_options={"latency": latency}))
        for i in range(count)
    ]
    async with OrchestrationService.open(store) as service:
        run_id = await service.submit(RunSpec(tasks=tasks, limits=RunLimits(max_parallel=max_parallel)))
        print("run", run_id, flush=True)
        async for event in service.events(run_id=run_id):
            if isinstance(event, TaskStateChanged) and event.state in (
                TaskState.RUNNING,
                TaskState.SUCCEEDED,
            ):
                print(event.state.value, event.task_id, flush=True)
            if event.type == "run.finished":
                break


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
