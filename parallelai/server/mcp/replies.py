"""How every tool answers: its pydantic model as `structuredContent`, plus a readable text block.

Given a tool that returns a model, the SDK publishes the model's JSON schema as `outputSchema` and
sends the model's JSON twice, as structured content and as the text block. Given the return annotation
`Annotated[CallToolResult, Model]` it publishes the same schema, validates the `structured_content`
of the `CallToolResult` the tool returns against it, and sends the content blocks as they are. So
`replying` shows the SDK a tool's own signature with that return annotation, and answers with the
model's JSON as structured content and `readable(model)` as text.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from parallelai.server.mcp.readable import readable

P = ParamSpec("P")
M = TypeVar("M", bound=BaseModel)


def tool_result(model: BaseModel) -> CallToolResult:
    """The model as structured content (as the SDK itself would dump it) and as readable text."""
    return CallToolResult(
        content=[TextContent(type="text", text=readable(model))],
        structured_content=model.model_dump(mode="json", by_alias=True),
    )


def replying(tool: Callable[P, Awaitable[M]]) -> Callable[P, Awaitable[CallToolResult]]:
    """`tool`, answering with `tool_result` of the model it returns."""
    signature = inspect.signature(tool, eval_str=True)

    @functools.wraps(tool)
    async def reply(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        return tool_result(await tool(*args, **kwargs))

    # The SDK reads `__signature__` (inspect.signature stops there): the tool's own parameters, and
    # the return annotation that makes it publish and check the model's schema.
    reply.__signature__ = signature.replace(  # type: ignore[attr-defined]
        return_annotation=Annotated[CallToolResult, signature.return_annotation]
    )
    return reply
