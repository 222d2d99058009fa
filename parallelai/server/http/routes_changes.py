"""An isolated run's changes: each task's diffstat, the integration branch's patch, one task's patch.

Patches are served as `text/x-diff`, bytes as they are (a patch may hold binary files), so that
`curl … | git apply` works. A run without isolation has no changes to show: 409 `not_isolated`.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from parallelai.errors import InputError
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.changes import RunChanges, no_change, not_isolated, run_changes
from parallelai.server.http.endpoint import Endpoint, json_response
from parallelai.server.http.errors import ApiError
from parallelai.wire import RunChangesOut
from parallelai.workspaces.handover import integration_diff

PATCH_MEDIA_TYPE = "text/x-diff; charset=utf-8"


@dataclass(frozen=True, slots=True)
class PatchEndpoint(Endpoint):
    """An endpoint that answers with a patch (`media_type`) instead of JSON."""

    media_type: str = PATCH_MEDIA_TYPE


def change_endpoints(service: OrchestrationService) -> list[Endpoint]:
    async def _changes(run_id: str) -> RunChanges:
        changes = await run_changes(service, run_id)
        if changes is None:
            raise ApiError(409, "not_isolated", not_isolated(run_id))
        return changes

    async def list_changes(request: Request) -> Response:
        return json_response(RunChangesOut.of(await _changes(request.path_params["run_id"])))

    async def run_diff(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        changes = await _changes(run_id)
        try:
            patch = await integration_diff(changes.repo, run_id, changes.base)
        except InputError as error:  # the branch was deleted
            raise ApiError(409, "no_branch", str(error)) from None
        return Response(patch, media_type=PATCH_MEDIA_TYPE)

    async def task_diff(request: Request) -> Response:
        run_id, task_id = request.path_params["run_id"], request.path_params["task_id"]
        await service.task(run_id, task_id)  # 404 for a run or task the store does not hold
        if await service.store.isolated_run(run_id) is None:
            raise ApiError(409, "not_isolated", not_isolated(run_id))
        stored = await service.store.task_change(run_id, task_id)
        if stored is None:
            raise ApiError(404, "change_not_found", no_change(run_id, task_id))
        return Response(stored.change.patch, media_type=PATCH_MEDIA_TYPE)

    return [
        Endpoint(
            "GET",
            "/v1/runs/{run_id}/changes",
            list_changes,
            "An isolated run's branch, base and each task's captured change as a diffstat",
            response=RunChangesOut,
            errors=(404, 409),
        ),
        PatchEndpoint(
            "GET",
            "/v1/runs/{run_id}/diff",
            run_diff,
            "An isolated run's integration branch against its base, as one patch (`git apply` takes it)",
            errors=(404, 409),
        ),
        PatchEndpoint(
            "GET",
            "/v1/runs/{run_id}/tasks/{task_id}/diff",
            task_diff,
            "The patch one task of an isolated run made, as captured (merged or not)",
            errors=(404, 409),
        ),
    ]
