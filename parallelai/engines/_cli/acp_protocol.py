"""The Agent Client Protocol messages a client reads, as typed models (https://agentclientprotocol.com).

Why not agent-client-protocol (the ACP SDK): importing its schema takes 0.33 s (5,800 lines of
models) against 6 ms here, and it validates each update against a closed union, so an update newer
than the SDK is dropped, with an error logged that holds the agent's payload, past our redaction.

Only what the acp engine acts on is modelled; unknown fields are ignored and unknown session
updates parse as `OtherUpdate`, since agents add kinds of updates between protocol versions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

PROTOCOL_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ContentBlock(_Model):
    type: str = "text"
    text: str | None = None


class MessageChunk(_Model):
    session_update: Literal["agent_message_chunk"] = Field(alias="sessionUpdate")
    content: ContentBlock = Field(default_factory=ContentBlock)


class ToolCallStart(_Model):
    session_update: Literal["tool_call"] = Field(alias="sessionUpdate")
    tool_call_id: str = Field(default="", alias="toolCallId")
    title: str = ""
    kind: str | None = None
    status: str | None = None


class ToolCallProgress(_Model):
    session_update: Literal["tool_call_update"] = Field(alias="sessionUpdate")
    tool_call_id: str = Field(default="", alias="toolCallId")
    title: str | None = None
    status: str | None = None  # pending, in_progress, completed, failed


class PlanEntry(_Model):
    content: str = ""
    status: str = ""


class PlanUpdate(_Model):
    session_update: Literal["plan"] = Field(alias="sessionUpdate")
    entries: list[PlanEntry] = Field(default_factory=list)


class OtherUpdate(_Model):
    session_update: str = Field(default="", alias="sessionUpdate")


_KNOWN = ("agent_message_chunk", "tool_call", "tool_call_update", "plan")


def _update_tag(value: Any) -> str:
    kind = value.get("sessionUpdate") if isinstance(value, dict) else None
    return kind if kind in _KNOWN else "other"


SessionUpdate = Annotated[
    Annotated[MessageChunk, Tag("agent_message_chunk")]
    | Annotated[ToolCallStart, Tag("tool_call")]
    | Annotated[ToolCallProgress, Tag("tool_call_update")]
    | Annotated[PlanUpdate, Tag("plan")]
    | Annotated[OtherUpdate, Tag("other")],
    Discriminator(_update_tag),
]


class SessionNotification(_Model):
    session_id: str = Field(alias="sessionId")
    update: SessionUpdate


class AuthMethod(_Model):
    id: str
    name: str = ""


class InitializeResult(_Model):
    protocol_version: int = Field(alias="protocolVersion")
    auth_methods: list[AuthMethod] = Field(default_factory=list, alias="authMethods")


class NewSessionResult(_Model):
    session_id: str = Field(alias="sessionId")


class PromptResult(_Model):
    stop_reason: str = Field(
        alias="stopReason"
    )  # end_turn, max_tokens, max_turn_requests, refusal, cancelled


class PermissionOption(_Model):
    option_id: str = Field(alias="optionId")
    name: str = ""
    kind: str = ""  # allow_once, allow_always, reject_once, reject_always


class PermissionToolCall(_Model):
    tool_call_id: str = Field(default="", alias="toolCallId")
    title: str | None = None


class PermissionRequest(_Model):
    session_id: str = Field(alias="sessionId")
    tool_call: PermissionToolCall = Field(default_factory=PermissionToolCall, alias="toolCall")
    options: list[PermissionOption] = Field(default_factory=list)


class ReadTextFile(_Model):
    session_id: str = Field(alias="sessionId")
    path: str
    line: int | None = None  # 1-based
    limit: int | None = None


class WriteTextFile(_Model):
    session_id: str = Field(alias="sessionId")
    path: str
    content: str
