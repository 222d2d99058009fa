"""Runs: create, list, get (counts, cost, timing), cancel, resume and retry."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from parallelai.orchestration.service import OrchestrationService
from parallelai.planning import plan_request
from parallelai.server.http.endpoint import Endpoint, json_response, read_body, read_query
from parallelai.server.workdir_roots import WorkdirRoots
from parallelai.templates.catalog import TemplateCatalog
from parallelai.wire import CreateRun, ListRunsQuery, RetryRun, RunCreated, RunOut, RunRetried


def run_endpoints(
    service: OrchestrationService, catalog: TemplateCatalog, roots: WorkdirRoots | None = None
) -> list[Endpoint]:
    """`roots` defaults to those the daemon's environment allows (docs/config.md)."""
    allowed = roots or WorkdirRoots.from_env()

    async def run_out(run_id: str) -> RunOut:
        return RunOut.of(await service.summary(run_id))

    async def create_run(request: Request) -> Response:
        body = await read_body(request, CreateRun)
        wanted = body.request()
        allowed.check_request(wanted)  # before planning reads config files and tasks files there
        spec = plan_request(wanted, catalog)
        allowed.check_spec(spec, wanted)
        run_id = await service.submit(spec)
        return json_response(RunCreated(id=run_id, run=await run_out(run_id)), 201)

    async def list_runs(request: Request) -> Response:
        query = read_query(request, ListRunsQuery)
        # No wait for the writer's queue: under load it was most of the request's time (bench j).
        runs = await service.list_runs(query.state, query.limit, offset=query.offset, settled=False)
        return json_response([RunOut.of(run) for run in runs])

    async def get_run(request: Request) -> Response:
        return json_response(await run_out(request.path_params["run_id"]))

    async def cancel_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        summary = await service.cancel(run_id)
        return json_response(RunOut.of(summary))

    async def resume_run(request: Request) -> Response:
        run_id = await service.resume(request.path_params["run_id"])
        return json_response(await run_out(run_id))

    async def retry_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        # No body means every failed, cancelled and skipped task.
        empty = request.headers.get("content-length", "") == "0" or not request.headers.get("content-type")
        body = RetryRun() if empty else await read_body(request, RetryRun)
        retried = await service.retry(run_id, body.tasks)
        return json_response(RunRetried(retried=retried, run=await run_out(run_id)))

    return [
        Endpoint(
            "POST",
            "/v1/runs",
            create_run,
            "Create and start a run",
            body=CreateRun,
            response=RunCreated,
            status=201,
            errors=(422,),
        ),
        Endpoint(
            "GET",
            "/v1/runs",
            list_runs,
            "List runs, newest first",
            query=ListRunsQuery,
            response=list[RunOut],
        ),
        Endpoint(
            "GET",
            "/v1/runs/{run_id}",
            get_run,
            "A run with counts, cost and timing",
            response=RunOut,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            "/v1/runs/{run_id}/cancel",
            cancel_run,
            "Cancel a run; waits until its tasks have stopped",
            response=RunOut,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            "/v1/runs/{run_id}/resume",
            resume_run,
            "Continue an interrupted run: finished tasks are kept, the rest re-queued (a finished run "
            "is left as it is)",
            response=RunOut,
            errors=(404, 409),
        ),
        Endpoint(
            "POST",
            "/v1/runs/{run_id}/retry",
            retry_run,
            "Run failed, cancelled and skipped tasks again, with their dependents; successes are kept",
            body=RetryRun,
            response=RunRetried,
            errors=(404, 409, 422),
        ),
    ]
