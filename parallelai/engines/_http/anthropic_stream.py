"""The Anthropic Messages API's streamed events (SSE `data:` documents) and error bodies as typed models.

Unknown event types and content blocks parse as `OtherEvent` / `OtherBlock`: the API adds kinds
(thinking, citations, server tools) over time, and a new one must never fail a task.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StreamUsage(_Model):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class StartedMessage(_Model):
    id: str = ""
    model: str | None = None
    usage: StreamUsage = Field(default_factory=StreamUsage)


class MessageStart(_Model):
    type: Literal["message_start"]
    message: StartedMessage


class TextStart(_Model):
    type: Literal["text"]
    text: str = ""


class ToolUseStart(_Model):
    type: Literal["tool_use"]
    id: str = ""
    name: str


class OtherBlock(_Model):
    type: str


def _tag(known: tuple[str, ...]) -> Any:
    def tag(value: Any) -> str:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return kind if kind in known else "other"

    return Discriminator(tag)


StartedBlock = Annotated[
    Annotated[TextStart, Tag("text")]
    | Annotated[ToolUseStart, Tag("tool_use")]
    | Annotated[OtherBlock, Tag("other")],
    _tag(("text", "tool_use")),
]


class ContentBlockStart(_Model):
    type: Literal["content_block_start"]
    index: int
    content_block: StartedBlock


class TextDeltaBody(_Model):
    type: Literal["text_delta"]
    text: str


class JsonDeltaBody(_Model):
    type: Literal["input_json_delta"]
    partial_json: str


class OtherDelta(_Model):
    type: str


BlockDelta = Annotated[
    Annotated[TextDeltaBody, Tag("text_delta")]
    | Annotated[JsonDeltaBody, Tag("input_json_delta")]
    | Annotated[OtherDelta, Tag("other")],
    _tag(("text_delta", "input_json_delta")),
]


class ContentBlockDelta(_Model):
    type: Literal["content_block_delta"]
    index: int
    delta: BlockDelta


class ContentBlockStop(_Model):
    type: Literal["content_block_stop"]
    index: int


class MessageDeltaBody(_Model):
    stop_reason: str | None = None


class MessageDelta(_Model):
    type: Literal["message_delta"]
    delta: MessageDeltaBody = Field(default_factory=MessageDeltaBody)
    usage: StreamUsage = Field(default_factory=StreamUsage)


class MessageStop(_Model):
    type: Literal["message_stop"]


class ErrorDetail(_Model):
    type: str = "api_error"
    message: str = "no detail"


class ErrorEvent(_Model):
    """An error inside a stream that had already started (e.g. overloaded mid-answer); also the body of an HTTP error."""

    type: Literal["error"]
    error: ErrorDetail = Field(default_factory=ErrorDetail)


class OtherEvent(_Model):
    type: str  # ping, and whatever the API adds


_EVENTS = ("message_start", "content_block_start", "content_block_delta", "content_block_stop",
           "message_delta", "message_stop", "error")  # fmt: skip

StreamEvent = Annotated[
    Annotated[MessageStart, Tag("message_start")]
    | Annotated[ContentBlockStart, Tag("content_block_start")]
    | Annotated[ContentBlockDelta, Tag("content_block_delta")]
    | Annotated[ContentBlockStop, Tag("content_block_stop")]
    | Annotated[MessageDelta, Tag("message_delta")]
    | Annotated[MessageStop, Tag("message_stop")]
    | Annotated[ErrorEvent, Tag("error")]
    | Annotated[OtherEvent, Tag("other")],
    _tag(_EVENTS),
]

_ADAPTER: TypeAdapter[StreamEvent] = TypeAdapter(StreamEvent)


def parse_event(data: str) -> StreamEvent | None:
    """The typed event of one SSE `data:` document, or None if it is not one we can read."""
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError:
        return None


def parse_error_body(raw: bytes) -> ErrorDetail | None:
    """The `error` of an HTTP error body, or None when the body is not Anthropic's error JSON."""
    try:
        return ErrorEvent.model_validate_json(raw).error
    except ValidationError:
        return None
