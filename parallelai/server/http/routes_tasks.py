"""A run's tasks: the table, one task with its attempts, result and log, and cancelling one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from parallelai.events import Event
from parallelai.orchestration.service import OrchestrationService
from parallelai.server.http.endpoint import Endpoint, json_response
from parallelai.wire import CancelTaskResult, TaskDetail, TaskOut

LOG_LIMIT = 1000  # the newest events of a task kept in its log; the SSE stream has them all


def task_endpoints(service: OrchestrationService) -> list[Endpoint]:
    async def list_tasks(request: Request) -> Response:
        records = await service.tasks(request.path_params["run_id"])
        return json_response([TaskOut.of(record) for record in records])

    async def get_task(request: Request) -> Response:
        run_id, task_id = request.path_params["run_id"], request.path_params["task_id"]
        record = await service.task(run_id, task_id)
        log = await _task_log(service, run_id, task_id)
        return json_response(TaskDetail(**dict(record), log=log))

    async def cancel_task(request: Request) -> Response:
        run_id, task_id = request.path_params["run_id"], request.path_params["task_id"]
        await service.task(run_id, task_id)  # 404 for a task the run does not have, active or not
        cancelled = await service.cancel_task(run_id, task_id)
        return json_response(CancelTaskResult(run_id=run_id, task_id=task_id, cancelled=cancelled))

    return [
        Endpoint(
            "GET",
            "/v1/runs/{run_id}/tasks",
            list_tasks,
            "A run's tasks",
            response=list[TaskOut],
            errors=(404,),
        ),
        Endpoint(
            "GET",
            "/v1/runs/{run_id}/tasks/{task_id}",
            get_task,
            "One task with its attempts, result and log",
            response=TaskDetail,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            "/v1/runs/{run_id}/tasks/{task_id}/cancel",
            cancel_task,
            "Cancel one task of a running run",
            response=CancelTaskResult,
            errors=(404,),
        ),
    ]


async def _task_log(service: OrchestrationService, run_id: str, task_id: str) -> list[Event]:
    """The task's stored events (state changes, output, activity, usage, retries)."""
    await service.store.flush()
    log: list[Event] = []
    after = 0
    while True:
        page = await service.store.events_after(after, run_id)
        if not page:
            break
        after = page[-1].seq
        log.extend(event for event in page if getattr(event, "task_id", None) == task_id)
    return log[-LOG_LIMIT:]
