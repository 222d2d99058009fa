"""A run's findings: what its review or audit tasks reported, aggregated, with suggested patches."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.findings import counts_by_severity
from parallelai.reports.results import findings_in, patches_in, reports_findings
from parallelai.server.http.endpoint import Endpoint, json_response
from parallelai.wire import RunFindings


def findings_endpoints(service: OrchestrationService) -> list[Endpoint]:
    async def get_findings(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        records = await service.tasks(run_id)
        spec = await service.spec(run_id)
        findings = findings_in(records)
        return json_response(
            RunFindings(
                run_id=run_id,
                workdir=spec.workdir or "",
                reviewed=reports_findings(records),
                findings=findings,
                counts=counts_by_severity(findings),
                patches=patches_in(records),
            )
        )

    return [
        Endpoint(
            "GET",
            "/v1/runs/{run_id}/findings",
            get_findings,
            "A run's findings (deduplicated, by severity) and suggested patches",
            response=RunFindings,
            errors=(404,),
        )
    ]
