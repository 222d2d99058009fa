"""Cursor Agent's `--output-format stream-json` lines as typed messages.

As documented at https://cursor.com/docs/cli/reference/output-format: `system` (init), `user`,
`assistant` (one line per complete message), `tool_call` (subtype `started` / `completed`, the
call keyed by its kind, e.g. `writeToolCall`, `readToolCall`, or `function` for other tools) and a
final `result`. Unknown lines and fields are tolerated: the CLI is closed source and changes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError


class _Line(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Line):
    type: str = "text"
    text: str = ""


class Message(_Line):
    content: list[TextPart] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(part.text for part in self.content if part.type == "text")


class SystemLine(_Line):
    type: Literal["system"]
    subtype: str = ""
    session_id: str | None = None
    model: str | None = None


class AssistantLine(_Line):
    type: Literal["assistant"]
    message: Message = Field(default_factory=Message)


class ToolCallLine(_Line):
    type: Literal["tool_call"]
    subtype: str = ""  # "started" or "completed"
    call_id: str = ""
    tool_call: dict[str, Any] = Field(default_factory=dict)  # {"writeToolCall": {"args": ..., "result": ...}}

    def describe(self) -> str:
        """`writeToolCall path=...`: the kind of call and its first argument, for people to read."""
        for kind, call in self.tool_call.items():
            detail = ToolCallBody.model_validate(call) if isinstance(call, dict) else ToolCallBody()
            if kind == "function" and detail.name:
                return f"{detail.name} {detail.arguments or ''}".strip()
            first = next(iter(detail.args.items()), None)
            return f"{kind} {first[0]}={first[1]!s:.200}" if first else kind
        return "tool call"

    def failed(self) -> bool:
        for call in self.tool_call.values():
            if isinstance(call, dict):
                result = ToolCallBody.model_validate(call).result
                if isinstance(result, dict) and "error" in result:
                    return True
        return False


class ToolCallBody(_Line):
    args: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    name: str | None = None  # `function` calls
    arguments: str | None = None


class ResultUsage(_Line):
    input_tokens: int = Field(default=0, validation_alias="inputTokens")
    output_tokens: int = Field(default=0, validation_alias="outputTokens")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ResultLine(_Line):
    type: Literal["result"]
    subtype: str = ""
    is_error: bool = False
    result: str | None = None
    session_id: str | None = None
    duration_ms: float | None = None
    usage: ResultUsage | None = None  # not documented; read when a release includes it


class OtherLine(_Line):
    type: str


_KNOWN = ("system", "assistant", "tool_call", "result")


def _tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if kind in _KNOWN else "other"


CursorLine = Annotated[
    Annotated[SystemLine, Tag("system")]
    | Annotated[AssistantLine, Tag("assistant")]
    | Annotated[ToolCallLine, Tag("tool_call")]
    | Annotated[ResultLine, Tag("result")]
    | Annotated[OtherLine, Tag("other")],
    Discriminator(_tag),
]

_ADAPTER: TypeAdapter[CursorLine] = TypeAdapter(CursorLine)


def parse_line(line: str) -> CursorLine | None:
    """The typed line, or None for a line that is not a JSON event we can read."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        return _ADAPTER.validate_json(line)
    except ValidationError:
        return None
