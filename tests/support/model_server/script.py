"""The neutral script a test hands the model server: what the model "says" on each request.

A turn is dialect-neutral; each dialect renders it into its own wire format (Anthropic SSE,
OpenAI SSE, Gemini JSON, Ollama NDJSON...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Reply:
    """A plain text answer that ends the model's turn."""

    text: str
    input_tokens: int = 12
    output_tokens: int = 7


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks the client to run one tool; the client answers in its next request."""

    name: str
    arguments: dict[str, Any]
    call_id: str = "call_1"
    input_tokens: int = 12
    output_tokens: int = 7


@dataclass(frozen=True, slots=True)
class Failure:
    """An HTTP error in the dialect's error shape; `error_type` overrides the one the status implies."""

    status: int
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class Slow:
    """`turn`, with `chunk_delay_s` between streamed chunks (or before a non-streamed body)."""

    turn: Turn
    chunk_delay_s: float


@dataclass(frozen=True, slots=True)
class Hang:
    """Never answer: the request stays open until the client gives up or the server stops."""


Turn = Reply | ToolCall | Failure | Slow | Hang


@dataclass(frozen=True, slots=True)
class FromRequest:
    """A turn made when its request arrives, from the request's body as text: for an answer that
    depends on what the client sent (a path it told the model about, say). If `make` raises, the
    request is answered with a 500 that says why."""

    make: Callable[[str], Turn]


Scripted = Turn | FromRequest
"""What a test may queue: a turn, or one made from its request."""
