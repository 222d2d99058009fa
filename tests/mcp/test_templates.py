"""Templates through MCP: listing, describing, running one, and the template resource."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp_types import TextResourceContents

from parallelai.orchestration.service import OrchestrationService
from parallelai.server.mcp.server import build_mcp_server
from parallelai.templates.catalog import EmptyCatalog
from tests.mcp._support import DEADLINE_S, call_error, call_ok

pytestmark = pytest.mark.anyio


async def test_list_templates_offers_the_built_in_library(client: Client) -> None:
    templates = {
        template["name"]: template for template in (await call_ok(client, "list_templates"))["templates"]
    }
    assert {"code_review", "security_audit", "test_generation"} <= set(templates)
    assert templates["code_review"]["description"]


async def test_describe_template_lists_its_params_with_defaults_and_choices(client: Client) -> None:
    detail = await call_ok(client, "describe_template", {"name": "code_review"})
    params = {param["name"]: param for param in detail["params"]}
    assert params["path"]["default"] == "."
    assert params["checklist"]["type"] == "list"
    assert "one of: security" in params["checklist"]["description"]


async def test_start_run_with_a_template_plans_one_task_per_file(client: Client, tmp_path: Path) -> None:
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("def f():\n    return 1\n")
    with anyio.fail_after(DEADLINE_S):
        status = await call_ok(
            client,
            "start_run",
            {
                "template": "code_review",
                "params": {"files": ["*.py"], "checklist": ["correctness"]},
                "workdir": str(tmp_path),
                "wait": True,
            },
        )
        page = await call_ok(client, "get_results", {"run_id": status["run_id"]})
    assert status["state"] == "succeeded"
    assert status["name"] == "code_review"
    assert page["total"] == 2
    assert all("a.py" in task["prompt"] or "b.py" in task["prompt"] for task in page["tasks"])


async def test_the_template_resource_describes_the_template(client: Client) -> None:
    result = await client.read_resource("parallelai://templates/code_review")
    (content,) = result.contents
    assert isinstance(content, TextResourceContents)
    assert json.loads(content.text)["name"] == "code_review"


async def test_a_server_without_templates_says_so_when_one_is_asked_for(
    service: OrchestrationService,
) -> None:
    async with Client(build_mcp_server(service, templates=EmptyCatalog())) as client:
        assert (await call_ok(client, "list_templates"))["templates"] == []
        message = await call_error(client, "describe_template", {"name": "code_review"})
    assert "available templates: none are installed" in message
