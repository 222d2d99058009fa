"""The tools that say what can run here: the templates and the engines."""

# No `from __future__ import annotations`: the SDK reads these signatures at registration time,
# and the Annotated Field descriptions must be real objects, not strings, when it does.

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp._errors import caller_mistakes
from parallelai.server.mcp.schemas import EngineList, TemplateList
from parallelai.server.mcp.tools._common import READ_ONLY, tool
from parallelai.templates.catalog import TemplateCatalog, TemplateDetail


def register_catalog_tools(
    server: MCPServer, service: OrchestrationService, catalog: TemplateCatalog
) -> None:
    @tool(server, READ_ONLY)
    async def list_templates() -> TemplateList:
        """List the ready-made run templates (e.g. code review, test generation), by name.

        Start one with start_run(template=NAME, params={...}); describe_template says which params.
        """
        return TemplateList(templates=catalog.templates())

    @tool(server, READ_ONLY)
    async def describe_template(
        name: Annotated[str, Field(description="A template name from list_templates.")],
    ) -> TemplateDetail:
        """Describe one template: what it does and the params start_run needs for it."""
        async with caller_mistakes(service):
            return catalog.describe(name)

    @tool(server, READ_ONLY)
    async def list_engines() -> EngineList:
        """List the engines (AI assistants and APIs) sub-agents can run on, and whether each works here.

        Pass an available one as start_run's `engine`; `detail` says how to fix one that is not.
        """
        return EngineList(engines=await service.engine_statuses())
