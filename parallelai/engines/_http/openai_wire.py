"""The OpenAI wire format as the openai engine reads it: Chat Completions chunks and Responses API events.

Only the fields the engine reads are declared; unknown fields are ignored, so additions to the API
(or extras from compatible servers) never break parsing.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    message: str = ""
    type: str | None = None
    code: str | int | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ChatToolCall(BaseModel):
    index: int = 0


class ChatDelta(BaseModel):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ChatToolCall] | None = None


class ChatChoice(BaseModel):
    delta: ChatDelta = Field(default_factory=ChatDelta)
    finish_reason: str | None = None


class ChatUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatChunk(BaseModel):
    choices: list[ChatChoice] = Field(default_factory=list)
    usage: ChatUsage | None = None
    error: ErrorDetail | None = None  # some compatible servers report failures inside the stream


class ResponsesUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class IncompleteDetails(BaseModel):
    reason: str | None = None


class ResponseBody(BaseModel):
    status: str | None = None
    usage: ResponsesUsage | None = None
    error: ErrorDetail | None = None
    incomplete_details: IncompleteDetails | None = None


class ResponsesEvent(BaseModel):
    """One Responses API stream event; its `type` says which of the optional fields it carries."""

    type: str
    delta: str | None = None  # response.output_text.delta
    response: ResponseBody | None = None  # response.created / completed / failed / incomplete
    message: str | None = None  # error
    code: str | None = None  # error


FINISHED_EVENTS = ("response.completed", "response.failed", "response.incomplete")
