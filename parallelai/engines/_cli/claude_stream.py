"""Claude Code's `--output-format stream-json` lines as typed messages.

One JSON object per line, told apart by `type` (and `subtype` for system lines). Models ignore
fields they do not know, and a line of an unknown type parses as `OtherLine`: the CLI adds kinds
of lines between releases, and a new one must never fail a task.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError


class _Line(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextBlock(_Line):
    type: Literal["text"]
    text: str


class ToolUseBlock(_Line):
    type: Literal["tool_use"]
    id: str = ""
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResultPart(_Line):
    type: str = "text"
    text: str | None = None


class ToolResultBlock(_Line):
    type: Literal["tool_result"]
    tool_use_id: str = ""
    content: str | list[ToolResultPart] | None = None
    is_error: bool = False

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return " ".join(part.text for part in self.content or [] if part.text)


class OtherBlock(_Line):
    """Thinking, images, server tools...: shown to nobody, kept out of the answer."""

    type: str


def _block_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("text", "tool_use", "tool_result") else "other"


ContentBlock = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(_block_tag),
]


class Message(_Line):
    content: list[ContentBlock] | str = Field(default_factory=list)


class SystemLine(_Line):
    """`init` (session, model, tools), `api_retry` (the CLI is waiting to retry), and others."""

    type: Literal["system"]
    subtype: str = ""
    session_id: str | None = None
    model: str | None = None
    # api_retry
    attempt: int | None = None
    max_retries: int | None = None
    retry_delay_ms: float | None = None
    error_status: int | None = None
    error: str | None = None


class AssistantLine(_Line):
    type: Literal["assistant"]
    message: Message
    session_id: str | None = None
    error: str | None = None  # set on the synthetic message the CLI writes for an API error


class UserLine(_Line):
    """Tool results going back to the model."""

    type: Literal["user"]
    message: Message


class StreamDelta(_Line):
    type: str
    text: str | None = None


class StreamEventBody(_Line):
    type: str
    delta: StreamDelta | None = None


class StreamEventLine(_Line):
    """A raw API stream event, written with `--include-partial-messages`."""

    type: Literal["stream_event"]
    event: StreamEventBody


class RateLimitInfo(_Line):
    status: str = ""  # "allowed", "allowed_warning", "rejected"
    resets_at: float | None = Field(default=None, alias="resetsAt")  # unix seconds
    rate_limit_type: str | None = Field(default=None, alias="rateLimitType")


class RateLimitLine(_Line):
    type: Literal["rate_limit_event"]
    rate_limit_info: RateLimitInfo = Field(default_factory=RateLimitInfo)


class ResultUsage(_Line):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class PermissionDenial(_Line):
    tool_name: str = ""


class ResultLine(_Line):
    """The last line of a run. Without it the run failed, whatever the exit code says."""

    type: Literal["result"]
    subtype: str = ""
    is_error: bool = False
    api_error_status: int | None = None
    result: str | None = None
    errors: list[str] = Field(default_factory=list)
    session_id: str | None = None
    total_cost_usd: float = 0.0
    usage: ResultUsage = Field(default_factory=ResultUsage)
    num_turns: int = 0
    permission_denials: list[PermissionDenial] = Field(default_factory=list)
    structured_output: Any = None


class OtherLine(_Line):
    type: str


def _line_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if kind in _KNOWN_LINES else "other"


_KNOWN_LINES = ("system", "assistant", "user", "stream_event", "rate_limit_event", "result")

StreamLine = Annotated[
    Annotated[SystemLine, Tag("system")]
    | Annotated[AssistantLine, Tag("assistant")]
    | Annotated[UserLine, Tag("user")]
    | Annotated[StreamEventLine, Tag("stream_event")]
    | Annotated[RateLimitLine, Tag("rate_limit_event")]
    | Annotated[ResultLine, Tag("result")]
    | Annotated[OtherLine, Tag("other")],
    Discriminator(_line_tag),
]

_ADAPTER: TypeAdapter[StreamLine] = TypeAdapter(StreamLine)


def parse_line(line: str) -> StreamLine | None:
    """The typed line, or None for a blank line, a non-JSON line or a line of a known type we cannot read."""
    line = line.strip()
    if not line.startswith("{"):
        return None  # the CLI may print plain warnings on stdout; they are not part of the stream
    try:
        return _ADAPTER.validate_json(line)
    except ValidationError:
        return None
