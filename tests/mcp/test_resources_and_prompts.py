"""Resources (a run's report, a template) and the prompts for the common parallel jobs."""

from __future__ import annotations

import json

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import TextContent, TextResourceContents

from tests.mcp._support import DEADLINE_S, call_ok

pytestmark = pytest.mark.anyio


async def test_a_run_resource_holds_the_status_and_every_tasks_answer(client: Client) -> None:
    with anyio.fail_after(DEADLINE_S):
        run_id = (await call_ok(client, "start_run", {"tasks": ["one", "two"], "wait": True}))["run_id"]
        result = await client.read_resource(f"parallelai://runs/{run_id}")
    (content,) = result.contents
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == "application/json"
    report = json.loads(content.text)
    assert report["run"]["state"] == "succeeded"
    assert [task["text"] for task in report["tasks"]] == ["echo: one", "echo: two"]


async def test_the_resource_templates_are_listed(client: Client) -> None:
    listed = {
        template.uri_template for template in (await client.list_resource_templates()).resource_templates
    }
    assert listed == {"parallelai://runs/{run_id}", "parallelai://templates/{name}"}


@pytest.mark.parametrize("uri", ["parallelai://runs/r-nope", "parallelai://templates/review"])
async def test_an_unknown_run_or_template_resource_is_not_found(client: Client, uri: str) -> None:
    with pytest.raises(MCPError, match=r"r-nope|review"):
        await client.read_resource(uri)


@pytest.mark.parametrize("name", ["parallel_review", "parallel_tests", "parallel_security_audit"])
async def test_each_job_prompt_tells_the_model_to_fan_out_with_start_run(client: Client, name: str) -> None:
    prompt = await client.get_prompt(name, {"files": "src/*.py"})
    (message,) = prompt.messages
    assert isinstance(message.content, TextContent)
    text = message.content.text
    assert "src/*.py" in text
    assert "`start_run`" in text
    assert "`get_results`" in text


async def test_the_job_prompts_are_listed_with_their_arguments(client: Client) -> None:
    prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
    assert set(prompts) == {"parallel_review", "parallel_tests", "parallel_security_audit"}
    for prompt in prompts.values():
        required = [argument.name for argument in prompt.arguments or [] if argument.required]
        assert required == ["files"]
