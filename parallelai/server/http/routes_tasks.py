"""A run's tasks: the table, one task with its attempts, result and log, and cancelling one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from parallelai.orchestration.service import OrchestrationService
from parallelai.server.http.endpoint import Endpoint, json_response, read_query
from parallelai.wire import TASKS_CURSOR_HEADER, CancelTaskResult, TaskDetail, TaskOut, TasksQuery

LOG_LIMIT = 1000  # the newest events of a task kept in its log; the SSE stream has them all


def task_endpoints(service: OrchestrationService) -> list[Endpoint]:
    async def list_tasks(request: Request) -> Response:
        query = read_query(request, TasksQuery)
        page = await service.task_page(
            request.path_params["run_id"], query.changed_after, query.limit, query.offset
        )
        response = json_response([TaskOut.of(record) for record in page.records])
        response.headers[TASKS_CURSOR_HEADER] = str(page.cursor)
        return response

    async def get_task(request: Request) -> Response:
        run_id, task_id = request.path_params["run_id"], request.path_params["task_id"]
        record = await service.task(run_id, task_id)  # flushed: its log is as new as the record
        log = await service.store.task_events(run_id, task_id, LOG_LIMIT)
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
            "A run's tasks in plan order: all, a page, or only those changed after a cursor",
            query=TasksQuery,
            response=list[TaskOut],
            errors=(404,),
            headers=(
                (
                    TASKS_CURSOR_HEADER,
                    "the run's change counter when the tasks were read: pass it as `changed_after` to "
                    "get only the tasks that changed since (of a read in pages, keep the smallest)",
                ),
            ),
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
