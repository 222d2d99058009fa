"""MCP resources: a run (status plus every task's outcome and change) and a template, as JSON documents."""

from __future__ import annotations

import json

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from parallelai.errors import RunNotFoundError
from parallelai.orchestration.service import OrchestrationService
from parallelai.reports.changes import run_changes
from parallelai.server.mcp.results import changes_total, task_outcome
from parallelai.server.mcp.schemas import RunStatus
from parallelai.templates.catalog import TemplateCatalog, UnknownTemplateError

RESULT_CHARS_IN_REPORT = 4000


def register_resources(server: MCPServer, service: OrchestrationService, catalog: TemplateCatalog) -> None:
    @server.resource(
        "parallelai://runs/{run_id}",
        name="run",
        description="A run of sub-agents: its status and each task's answer or error (and change, if isolated).",
        mime_type="application/json",
    )
    async def run_report(run_id: str) -> str:
        try:
            summary = await service.summary(run_id)
            records = await service.tasks(run_id)
        except RunNotFoundError as error:
            raise ResourceNotFoundError(str(error)) from None
        changes = await run_changes(service, run_id, [record.task.id for record in records])
        by_task = changes.by_task if changes else {}
        report = {
            "run": RunStatus.of(summary).model_dump(mode="json"),
            "tasks": [
                task_outcome(record, RESULT_CHARS_IN_REPORT, by_task.get(record.task.id)).model_dump(
                    mode="json"
                )
                for record in records
            ],
        }
        if changes is not None:
            report["changes"] = changes_total(changes).model_dump(mode="json")
        return json.dumps(report, indent=2)

    @server.resource(
        "parallelai://templates/{name}",
        name="template",
        description="A run template: what it does and the params it takes.",
        mime_type="application/json",
    )
    async def template_document(name: str) -> str:
        try:
            return catalog.describe(name).model_dump_json(indent=2)
        except UnknownTemplateError as error:
            raise ResourceNotFoundError(str(error)) from None
